/// Builds one JSON object in a byte buffer: keys in the order added, strings escaped as JSON requires.
/// Alerts, query output and digests are written with it (JSONEncoder boxes every value, and
/// escaping records held as strings through it dominated an alert storm's cost).
public struct JSONObjectWriter: Sendable {
    /// The object so far, without its closing brace.
    private var buffer: [UInt8] = [0x7B]
    public init(capacity: Int = 256) { buffer.reserveCapacity(capacity) }

    private mutating func key(_ key: String) {
        if buffer.count > 1 { buffer.append(0x2C) }
        Self.appendQuoted(key.utf8, to: &buffer)
        buffer.append(0x3A)
    }

    public mutating func add(_ key: String, _ value: String) {
        self.key(key)
        Self.appendQuoted(value.utf8, to: &buffer)
    }

    public mutating func add(_ key: String, _ value: Int64) {
        self.key(key)
        buffer += String(value).utf8
    }

    public mutating func add(_ key: String, _ values: [String]) {
        self.key(key)
        buffer.append(0x5B)
        for (i, v) in values.enumerated() {
            if i > 0 { buffer.append(0x2C) }
            Self.appendQuoted(v.utf8, to: &buffer)
        }
        buffer.append(0x5D)
    }

    /// Adds a string-to-string object.
    public mutating func add(_ key: String, _ object: [String: String]) {
        self.key(key)
        var inner = JSONObjectWriter(capacity: 64)
        for (k, v) in object.sorted(by: { $0.key < $1.key }) { inner.add(k, v) }
        buffer += inner.bytes
    }

    /// Adds already-encoded JSON (e.g. an original record).
    public mutating func addRaw(_ key: String, _ json: String) {
        self.key(key)
        buffer += json.utf8
    }

    /// Adds already-encoded JSON bytes.
    public mutating func addRaw(_ key: String, bytes json: some Collection<UInt8>) {
        self.key(key)
        buffer += json
    }

    /// Adds records as an array of ``oneLine(_:)`` forms: each valid record as JSON, anything else as a string.
    public mutating func addRecords(_ key: String, _ records: [String]) {
        self.key(key)
        buffer.append(0x5B)
        for (i, r) in records.enumerated() {
            if i > 0 { buffer.append(0x2C) }
            Self.appendOneLine(r, to: &buffer)
        }
        buffer.append(0x5D)
    }

    /// The finished object.
    public var bytes: [UInt8] { buffer + [0x7D] }
    /// Appends the finished object to `out` (without making ``bytes`` first).
    public func appendObject(to out: inout [UInt8]) {
        out += buffer
        out.append(0x7D)
    }
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public static func quote(_ s: String) -> String { quote(Array(s.utf8)) }

    /// A JSON string literal for `bytes` (UTF-8), escaping quotes, backslashes and control characters.
    public static func quote(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        appendQuoted(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A record as one line of JSON, whatever its bytes: a valid record loses only the white space
    /// outside its strings (parsed, it is the same value); anything else becomes a JSON string of
    /// its text, so it can neither break the line nor pass for JSON. Bytes that are not UTF-8
    /// become U+FFFD either way (docs/store.md, "Bytes that are not UTF-8").
    public static func oneLine(_ record: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        if let s = record as? String.UTF8View {
            appendOneLine(String(s), to: &out)
        } else {
            var text = String(decoding: record, as: UTF8.self)
            text.withUTF8 { appendOneLine($0, to: &out) }
        }
        return out
    }

    /// Appends ``oneLine(_:)`` of a record held as a `String` (already UTF-8: no decoding pass).
    public static func appendOneLine(_ record: String, to out: inout [UInt8]) {
        var text = record
        text.withUTF8 { appendOneLine($0, to: &out) }
    }

    /// Appends the one-line form of valid UTF-8 `text`: runs of bytes between the white space
    /// outside strings are copied whole.
    private static func appendOneLine(_ text: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + text.count + 2)
        guard isValidJSON(UnsafeRawBufferPointer(text)) else {
            appendQuoted(text, to: &out)
            return
        }
        // Valid JSON: a string runs to the first quote not escaped, and a backslash escapes the
        // byte after it. Strings are skipped in a tight loop; white space between them is dropped.
        var run = 0
        var i = 0
        let n = text.count
        let raw = UnsafeRawBufferPointer(text)
        while i < n {
            let b = text[i]
            i += 1
            if b == 0x22 {
                // A string's body, eight bytes at a time to its next quote or backslash.
                while i < n {
                    i = RecordSplitter.skipPlain(raw, from: i, to: n)
                    while i < n && text[i] != 0x22 && text[i] != 0x5C { i += 1 }
                    guard i < n else { break }
                    if text[i] == 0x5C {
                        i += 2
                    } else {
                        i += 1
                        break
                    }
                }
            } else if RecordSplitter.isSpace(b) {
                if i - 1 > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: text[run..<(i - 1)])) }
                run = i
            }
        }
        if text.count > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: text[run..<text.count])) }
    }

    /// Whether `text` is one JSON value (what ``JSONCheck/check(_:)`` accepts): a record, an
    /// object, by the splitter's one-pass strict scan (about a fifth of the checker's cost, and
    /// every alert carries records); anything else, or an object it turns down (it gives up past
    /// 64 levels), by the checker.
    package static func isValidJSON(_ text: UnsafeRawBufferPointer) -> Bool {
        if let first = text.first, first == 0x7B {
            var fields = RecordSplitter.RecordFields()
            fields.members.reserveCapacity(32)
            let end = RecordSplitter.strictRecord(text, from: 0, to: text.count, fields: &fields)
            if end > 0 && text[end...].allSatisfy(RecordSplitter.isSpace) { return true }
        }
        return JSONCheck.check(text).isValid
    }

    /// Whether any of the eight bytes of `w` is below 0x20, `"` or `\` (no false negatives: a
    /// byte at or above 0x80 never counts, and a word that counts is looked at byte by byte).
    @inline(__always)
    static func needsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        func zeroByte(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & high }
        let control = (w &- ones &* 0x20) & ~w & high
        return control | zeroByte(w ^ (ones &* 0x22)) | zeroByte(w ^ (ones &* 0x5C)) != 0
    }

    /// Appends the UTF-8 text of `bytes` as a JSON string literal: what `quote(bytes)` gives, so
    /// bytes that are not UTF-8 become U+FFFD, without making a `String` when every byte is ASCII
    /// (CloudTrail's records, in practice): one pass to see that, one to escape.
    public static func appendText(_ bytes: [UInt8], to out: inout [UInt8]) {
        let ascii = bytes.withUnsafeBufferPointer { p in
            var any: UInt8 = 0
            for b in p { any |= b }
            return any < 0x80
        }
        if ascii {
            appendQuoted(bytes, to: &out)
        } else {
            appendQuoted(String(decoding: bytes, as: UTF8.self).utf8, to: &out)
        }
    }

    /// Appends `bytes` as a JSON string literal: runs that need no escape are copied whole.
    public static func appendQuoted(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        out.append(0x22)
        let contiguous: Void? = bytes.withContiguousStorageIfAvailable { appendEscaped($0, to: &out) }
        if contiguous == nil { Array(bytes).withUnsafeBufferPointer { appendEscaped($0, to: &out) } }
        out.append(0x22)
    }

    private static func appendEscaped(_ p: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var run = 0
        var i = 0
        while i < p.count {
            // Eight bytes at a time while none of them needs an escape (a control byte, `"` or `\`).
            if i + 8 <= p.count {
                let w = UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: UInt64.self)
                if !Self.needsEscape(w) {
                    i += 8
                    continue
                }
            }
            let b = p[i]
            i += 1
            guard b == 0x22 || b == 0x5C || b < 0x20 else { continue }
            if i - 1 > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: p[run..<(i - 1)])) }
            run = i
            out.append(0x5C)
            switch b {
            case 0x22, 0x5C: out.append(b)
            case 0x0A: out.append(0x6E)
            case 0x0D: out.append(0x72)
            case 0x09: out.append(0x74)
            default:
                let hex: StaticString = "0123456789abcdef"
                hex.withUTF8Buffer { h in out += [0x75, 0x30, 0x30, h[Int(b >> 4)], h[Int(b & 15)]] }
            }
        }
        if p.count > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: p[run..<p.count])) }
    }
}
