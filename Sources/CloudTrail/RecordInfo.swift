/// The few fields of a CloudTrail record that ingest needs, read from its original bytes.
public struct RecordInfo: Sendable, Equatable {
    /// `eventTime` in epoch milliseconds, or nil when absent or unparseable.
    public var eventTime: Int64?
    /// The dedup key of `eventID`, or nil when absent.
    public var eventKey: EventKey?

    public init(eventTime: Int64? = nil, eventKey: EventKey? = nil) {
        self.eventTime = eventTime
        self.eventKey = eventKey
    }

    static let keys: [[UInt8]] = [Array("eventTime".utf8), Array("eventID".utf8)]

    /// Builds the info from the field positions the splitter noted while splitting (no second pass).
    public static func from(_ bytes: UnsafeRawBufferPointer, fields: RecordSplitter.RecordFields) -> RecordInfo {
        if fields.escaped, let full = read(bytes) { return full }
        var info = RecordInfo()
        if let r = fields.eventTime { info.eventTime = Timestamp.parseISO8601(UnsafeRawBufferPointer(rebasing: bytes[r])) }
        if let r = fields.eventID { info.eventKey = EventKey(UnsafeRawBufferPointer(rebasing: bytes[r])) }
        return info
    }

    /// Reads `eventTime` and `eventID`; returns nil when the bytes are not a well-formed JSON object.
    public static func read(_ bytes: UnsafeRawBufferPointer) -> RecordInfo? {
        let json = RawJSON(bytes)
        guard let values = json.topLevel(keys) else { return nil }
        var info = RecordInfo()
        if case .string(let r, let esc)? = values[0] {
            info.eventTime = esc ? Timestamp.parseISO8601(json.decodeString(r)) : Timestamp.parseISO8601(json.slice(r))
        }
        if case .string(let r, let esc)? = values[1] {
            info.eventKey = esc ? EventKey(Array(json.decodeString(r).utf8)) : EventKey(json.slice(r))
        }
        return info
    }
}

/// A 128-bit key for an `eventID`, used to store each event once per account.
///
/// A canonical GUID (what CloudTrail writes) packs into the 128 bits exactly, so equal keys mean
/// equal ids; any other id is hashed to 128 bits (FNV-1a and a second mixed hash).
public struct EventKey: Sendable, Hashable {
    public var high: Int64
    public var low: Int64

    public init(high: Int64, low: Int64) {
        self.high = high
        self.low = low
    }

    /// 64 bits of the key for the store's dedup index (the high and low halves mixed).
    public var key64: Int64 {
        var z = UInt64(bitPattern: high) ^ (UInt64(bitPattern: low) &* 0x9E37_79B9_7F4A_7C15)
        z = (z ^ (z >> 31)) &* 0xBF58_476D_1CE4_E5B9
        return Int64(bitPattern: z ^ (z >> 29))
    }

    public init(_ bytes: some Collection<UInt8>) {
        if let packed = Self.packGUID(bytes) {
            self = packed
            return
        }
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325
        var h2: UInt64 = 0x9E37_79B9_7F4A_7C15
        for b in bytes {
            h1 = (h1 ^ UInt64(b)) &* 0x100_0000_01b3
            h2 = (h2 &+ UInt64(b)) &* 0xff51_afd7_ed55_8ccd
            h2 ^= h2 >> 29
        }
        h2 ^= UInt64(bytes.count)
        self.init(high: Int64(bitPattern: h1), low: Int64(bitPattern: h2 &* 0xc4ce_b9fe_1a85_ec53))
    }

    /// Packs `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case) into 128 bits.
    static func packGUID(_ bytes: some Collection<UInt8>) -> EventKey? {
        guard bytes.count == 36 else { return nil }
        // The splitter hands over raw buffers (which offer no contiguous storage to generic code).
        if let raw = bytes as? UnsafeRawBufferPointer { return packGUID36(raw.assumingMemoryBound(to: UInt8.self)) }
        if let packed = bytes.withContiguousStorageIfAvailable({ packGUID36($0) }) { return packed }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        var n = 0
        var pos = 0
        for b in bytes {
            if pos == 8 || pos == 13 || pos == 18 || pos == 23 {
                guard b == 0x2D else { return nil }
                pos += 1
                continue
            }
            guard let digit = Base16.digit(b) else { return nil }
            let d = UInt64(digit)
            if n < 16 { hi = hi << 4 | d } else { lo = lo << 4 | d }
            n += 1
            pos += 1
        }
        return EventKey(high: Int64(bitPattern: hi), low: Int64(bitPattern: lo))
    }

    /// ``packGUID(_:)`` on 36 contiguous bytes: the dashes checked at their four places, the 32 hex
    /// digits read without a branch per digit (one id per record, on the decoding thread's hot path).
    @inline(__always)
    static func packGUID36(_ p: UnsafeBufferPointer<UInt8>) -> EventKey? {
        guard p[8] == 0x2D, p[13] == 0x2D, p[18] == 0x2D, p[23] == 0x2D else { return nil }
        var bad: UInt8 = 0
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 4 | nibble(p[i], &bad) }
        for i in 9..<13 { hi = hi << 4 | nibble(p[i], &bad) }
        for i in 14..<18 { hi = hi << 4 | nibble(p[i], &bad) }
        for i in 19..<23 { lo = lo << 4 | nibble(p[i], &bad) }
        for i in 24..<36 { lo = lo << 4 | nibble(p[i], &bad) }
        guard bad == 0 else { return nil }
        return EventKey(high: Int64(bitPattern: hi), low: Int64(bitPattern: lo))
    }

    /// The value of hex digit `b` (`0`-`9` -> 0...9, `a`-`f`/`A`-`F` -> 10...15); any other byte sets `bad`.
    @inline(__always)
    static func nibble(_ b: UInt8, _ bad: inout UInt8) -> UInt64 {
        let isDigit: UInt8 = (b &- 0x30) < 10 ? 1 : 0
        let isLetter: UInt8 = ((b | 0x20) &- 0x61) < 6 ? 1 : 0
        bad |= (isDigit | isLetter) ^ 1
        return UInt64((b & 0x0F) &+ 9 &* (b >> 6))
    }
}
