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
    /// digits read eight at a time (one id per record, on the decoding thread's hot path).
    @inline(__always)
    static func packGUID36(_ p: UnsafeBufferPointer<UInt8>) -> EventKey? {
        guard p[8] == 0x2D, p[13] == 0x2D, p[18] == 0x2D, p[23] == 0x2D else { return nil }
        let raw = UnsafeRawPointer(p.baseAddress!)
        func word(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        func half(_ at: Int) -> UInt64 { UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        var bad: UInt64 = 0
        let hi = hex8(word(0), &bad) << 32 | hex8(half(9) | half(14) << 32, &bad)
        let lo = hex8(half(19) | half(24) << 32, &bad) << 32 | hex8(word(28), &bad)
        guard bad == 0 else { return nil }
        return EventKey(high: Int64(bitPattern: hi), low: Int64(bitPattern: lo))
    }

    /// The 32-bit value of eight hex digits (either case), the first in the lowest byte of `x`;
    /// sets bits of `bad` when any byte is not a hex digit. Each byte is tested and converted at
    /// once: no byte's arithmetic carries into the next.
    @inline(__always)
    static func hex8(_ x: UInt64, _ bad: inout UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high = ones &* 0x80
        // Below 0x80 each, so that adding up to 0x50 to a byte carries out of none.
        let ascii = x & high
        let y = x & ~high
        let digit = (y &+ ones &* (0x80 - 0x30)) & ~(y &+ ones &* (0x80 - 0x3A))
        let lower = y | ones &* 0x20
        let letter = (lower &+ ones &* (0x80 - 0x61)) & ~(lower &+ ones &* (0x80 - 0x67))
        bad |= ascii | ((digit | letter) & high ^ high)
        // Digits are their low nibble; letters (bit 6 set) their low nibble + 9.
        let v = (x & (ones &* 0x0F)) &+ ((x >> 6) & ones) &* 9
        // Nibble pairs, then byte pairs, then halves, the first digit highest.
        let pairs = (v & 0x000F_000F_000F_000F) << 4 | (v >> 8) & 0x000F_000F_000F_000F
        let quads = (pairs & 0x0000_00FF_0000_00FF) << 8 | (pairs >> 16) & 0x0000_00FF_0000_00FF
        return (quads & 0xFFFF) << 16 | (quads >> 32) & 0xFFFF
    }
}
