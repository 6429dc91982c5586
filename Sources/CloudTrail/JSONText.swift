/// Writing JSON text without Foundation: string quoting and small objects built field by field.
public struct JSONObjectWriter: Sendable {
    private var parts: [String] = []
    public init() {}

    public mutating func add(_ key: String, _ value: String) { parts.append(Self.quote(key) + ":" + Self.quote(value)) }
    public mutating func add(_ key: String, _ value: Int64) { parts.append(Self.quote(key) + ":" + String(value)) }
    public mutating func add(_ key: String, _ values: [String]) {
        parts.append(Self.quote(key) + ":[" + values.map(Self.quote).joined(separator: ",") + "]")
    }
    /// Adds already-encoded JSON (e.g. an original record).
    public mutating func addRaw(_ key: String, _ json: String) { parts.append(Self.quote(key) + ":" + json) }

    public var text: String { "{" + parts.joined(separator: ",") + "}" }

    public static func quote(_ s: String) -> String { quote(Array(s.utf8)) }

    /// A JSON string literal for `bytes` (UTF-8), escaping quotes, backslashes and control characters.
    public static func quote(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = [0x22]
        out.reserveCapacity(bytes.count + 16)
        let hex = Array("0123456789abcdef".utf8)
        for b in bytes {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20: out += [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }
}
