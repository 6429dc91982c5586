import FoundationEssentials

/// A JSON value of a request body, as decoded (numbers keep whether they were integral).
package enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Decodes any JSON value.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    /// The kind of value, as Coral's serialization errors name it.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "BOOLEAN_VALUE"
        case .integer, .number: return "NUMBER_VALUE"
        case .string: return "STRING_VALUE"
        case .array: return "START_ARRAY"
        case .object: return "START_OBJECT"
        }
    }
}

/// The members of one request body, read with the input shape's types and limits. Every member
/// must be read by the action (`finish` refuses the rest), so a misspelt member is an error, not a
/// silently wider query.
package struct RequestFields {
    private var members: [String: JSONValue]
    private var read: Set<String> = []

    /// Parses a body: empty or a JSON object (`{}` for no parameters); anything else is a
    /// SerializationException naming the reason.
    package init(body: [UInt8]) throws(APIError) {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            members = [:]
            return
        }
        if let depth = Self.nesting(body, limit: Self.maxDepth) {
            throw APIError(.serialization, "The request body nests arrays and objects deeper than \(depth) levels")
        }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(body)) } catch {
            throw APIError(.serialization, "The request body is not valid JSON")
        }
        guard case .object(let m) = value else {
            throw APIError(.serialization, "The request body must be a JSON object, not \(value.kind)")
        }
        members = m
    }

    /// No input shape nests deeper than a few levels; a body that does is refused before it is decoded.
    static let maxDepth = 32

    /// `limit` when `body` opens more than `limit` arrays or objects inside one another (brackets
    /// inside strings do not count), else nil.
    static func nesting(_ body: [UInt8], limit: Int) -> Int? {
        var depth = 0
        var inString = false
        var escaped = false
        for b in body {
            if inString {
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit { return limit }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return nil
    }

    private mutating func take(_ name: String) -> JSONValue? {
        read.insert(name)
        guard let v = members[name], v != .null else { return nil }
        return v
    }

    private static func typeError(_ v: JSONValue, _ name: String, _ want: String) -> APIError {
        APIError(.serialization, "\(v.kind) can not be converted to \(want) (member '\(name)')")
    }

    /// A string member, with CloudWatch's length limits.
    package mutating func string(_ name: String, min: Int = 0, max: Int) throws(APIError) -> String? {
        guard let v = take(name) else { return nil }
        guard case .string(let s) = v else { throw Self.typeError(v, name, "a String") }
        let n = s.unicodeScalars.count
        if n < min { throw APIError.validation(s, at: name, "Member must have length greater than or equal to \(min)") }
        if n > max {
            throw APIError.validation(
                String(s.prefix(64)) + (n > 64 ? "…" : ""), at: name, "Member must have length less than or equal to \(max)")
        }
        return s
    }

    /// A required string member.
    package mutating func requiredString(_ name: String, min: Int = 1, max: Int) throws(APIError) -> String {
        guard let s = try string(name, min: min, max: max) else {
            throw APIError.validation("null", at: name, "Member must not be null")
        }
        return s
    }

    /// An integer member (JSON numbers with a fraction are refused), within `range` when given.
    package mutating func integer(_ name: String, in range: ClosedRange<Int64>? = nil) throws(APIError) -> Int64? {
        guard let v = take(name) else { return nil }
        let i: Int64
        switch v {
        case .integer(let n): i = n
        case .number(let d) where d.rounded() == d && abs(d) < 9.2e18: i = Int64(d)
        default: throw Self.typeError(v, name, "an Integer")
        }
        if let range, i < range.lowerBound {
            throw APIError.validation(String(i), at: name, "Member must have value greater than or equal to \(range.lowerBound)")
        }
        if let range, i > range.upperBound {
            throw APIError.validation(String(i), at: name, "Member must have value less than or equal to \(range.upperBound)")
        }
        return i
    }

    /// A boolean member.
    package mutating func bool(_ name: String) throws(APIError) -> Bool? {
        guard let v = take(name) else { return nil }
        guard case .bool(let b) = v else { throw Self.typeError(v, name, "a Boolean") }
        return b
    }

    /// A list of strings, with limits on the count and on each string's length.
    package mutating func strings(_ name: String, count: ClosedRange<Int>, max: Int) throws(APIError) -> [String]? {
        guard let v = take(name) else { return nil }
        guard case .array(let items) = v else { throw Self.typeError(v, name, "a List") }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw Self.typeError(item, name, "a String") }
            if s.isEmpty || s.unicodeScalars.count > max {
                throw APIError.validation(s, at: name, "Member must have length between 1 and \(max)")
            }
            out.append(s)
        }
        if !count.contains(out.count) {
            throw APIError.validation(
                "[\(out.count) items]", at: name,
                "Member must have length between \(count.lowerBound) and \(count.upperBound)")
        }
        return out
    }

    /// Refuses members the action did not read: a SerializationException naming the first of them.
    package func finish() throws(APIError) {
        let unknown = members.keys.filter { !read.contains($0) }.sorted()
        if let first = unknown.first {
            throw APIError(.serialization, "Unrecognized field \"\(first)\" in the request (not part of the input shape)")
        }
    }
}
