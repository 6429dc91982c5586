import CloudTrail

/// A compiled CloudWatch Logs filter pattern (the syntax of metric filters and FilterLogEvents),
/// evaluated on a log event's raw bytes.
///
/// Parsing happens once; matching reads only the JSON fields the pattern names, each at most once
/// per event. The rule engine reuses this type so CIS patterns paste in unchanged.
public struct FilterPattern: Sendable {
    /// A parse error with the 0-based character offset where it was found.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var offset: Int
        public var description: String { "column \(offset + 1): \(message)" }
    }

    enum Kind: Sendable {
        case all
        case terms(required: [Term], optional: [Term], excluded: [Term])
        case json(Node, selectors: [[RawJSON.PathStep]])
    }

    /// Bounds that keep hostile patterns from exhausting the stack or overflowing numbers.
    public enum Limits {
        /// CloudWatch's own limit on a filter pattern's length, in characters.
        public static let length = 1024
        /// How deep parentheses may nest in a JSON pattern.
        public static let nesting = 100
        /// The largest array index a selector may name (`$.resources[999999999]`).
        public static let arrayIndex = 999_999_999
        /// The largest repetition count in a `%regex%` (`a{1000}`).
        public static let repetition = 1000
        /// The most steps a `%regex%` may have with its repetitions spelled out (`a{1000}` alone is all of it).
        public static let regexSize = 1000
    }

    let kind: Kind
    /// The pattern's text as given.
    public let source: String

    /// Parses `text`; an empty pattern or `" "` matches everything.
    public init(_ text: String) throws(ParseError) {
        source = text
        let trimmed = text.trimmedWhitespace
        if trimmed.isEmpty || trimmed == "\" \"" || trimmed == "\"\"" {
            kind = .all
            return
        }
        let scalars = Array(text.unicodeScalars)
        guard scalars.count <= Limits.length else {
            throw ParseError(message: "the pattern is \(scalars.count) characters long; CloudWatch allows \(Limits.length)", offset: Limits.length)
        }
        var parser = Parser(scalars)
        if trimmed.hasPrefix("{") {
            kind = try parser.parseJSONPattern()
        } else if trimmed.hasPrefix("[") {
            throw ParseError(message: "space-delimited patterns ([ … ]) are not supported; CloudTrail events are JSON, use { … }", offset: 0)
        } else {
            kind = try parser.parseTerms()
        }
    }

    /// True when the pattern selects the event whose message is `message`.
    public func matches(_ message: UnsafeRawBufferPointer) -> Bool {
        switch kind {
        case .all:
            return true
        case .terms(let required, let optional, let excluded):
            for t in required where !t.matches(message) { return false }
            for t in excluded where t.matches(message) { return false }
            if !optional.isEmpty && !optional.contains(where: { $0.matches(message) }) { return false }
            return true
        case .json(let node, let selectors):
            let json = RawJSON(message)
            guard case .object? = json.root else { return false }
            // Each selector is looked up at most once per event.
            var memo = Memo(count: selectors.count)
            return node.evaluate(json) { s in
                if !memo.done[s] {
                    memo.values[s] = json.lookup(selectors[s])
                    memo.done[s] = true
                }
                return memo.values[s]
            }
        }
    }

    public func matches(_ message: [UInt8]) -> Bool { message.withUnsafeBytes { matches($0) } }
    public func matches(_ message: String) -> Bool { matches(Array(message.utf8)) }

    /// The selectors the pattern reads, in the order its conditions refer to them.
    public var selectors: [[RawJSON.PathStep]] {
        guard case .json(_, let s) = kind else { return [] }
        return s
    }

    /// Evaluates a JSON pattern with selector values supplied by the caller (who may share lookups
    /// between many patterns). `value(i)` is the value of `selectors[i]`, nil when absent.
    public func matches(_ json: RawJSON, values value: (Int) -> RawJSON.Value?) -> Bool {
        switch kind {
        case .json(let node, _): return node.evaluate(json, value)
        default: return matches(json.bytes)
        }
    }

    /// When the pattern can only match events whose `selector` has one of a few string values
    /// (`$.eventName = A || $.eventName = B`, possibly inside `&&`), those values.
    public func requiredValues(of selector: [RawJSON.PathStep]) -> Set<String>? {
        guard case .json(let node, let selectors) = kind, let s = selectors.firstIndex(of: selector) else { return nil }
        return node.requiredValues(selector: s)
    }

    /// Whether the pattern can only match events in which `selector` is present: every condition
    /// but `NOT EXISTS` is false on a missing selector (used to skip a rule's pattern at once).
    public func requiresPresence(of selector: [RawJSON.PathStep]) -> Bool {
        guard case .json(let node, let selectors) = kind, let s = selectors.firstIndex(of: selector) else { return false }
        return node.requiresPresence(selector: s)
    }

    /// The selectors (`$.a.b`) the pattern reads, as dotted paths; for lint warnings about unknown fields.
    public var selectorPaths: [String] {
        guard case .json(_, let selectors) = kind else { return [] }
        return selectors.map { steps in
            "$" + steps.map { s -> String in
                switch s {
                case .key(let k): return "." + String(decoding: k, as: UTF8.self)
                case .index(let n): return "[\(n)]"
                }
            }.joined()
        }
    }
}

// MARK: - Terms

struct Term: Sendable {
    enum Kind: Sendable {
        case literal([UInt8])
        case regex(RegexMatcher)
    }
    let kind: Kind

    func matches(_ m: UnsafeRawBufferPointer) -> Bool {
        switch kind {
        case .literal(let needle): return ByteSearch.contains(m, needle)
        case .regex(let r): return r.search(String(decoding: m, as: UTF8.self))
        }
    }
}

enum ByteSearch {
    static func contains(_ hay: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard hay.count >= needle.count else { return false }
        let first = needle[0]
        let last = hay.count - needle.count
        var i = 0
        outer: while i <= last {
            if hay[i] == first {
                for k in 1..<needle.count where hay[i + k] != needle[k] {
                    i += 1
                    continue outer
                }
                return true
            }
            i += 1
        }
        return false
    }
}

// MARK: - JSON expressions

struct Memo {
    var values: [RawJSON.Value?]
    var done: [Bool]
    init(count: Int) {
        values = [RawJSON.Value?](repeating: nil, count: count)
        done = [Bool](repeating: false, count: count)
    }
}

indirect enum Node: Sendable {
    case and([Node])
    case or([Node])
    case condition(selector: Int, Condition)

    func evaluate(_ json: RawJSON, _ value: (Int) -> RawJSON.Value?) -> Bool {
        switch self {
        case .and(let nodes):
            for n in nodes where !n.evaluate(json, value) { return false }
            return true
        case .or(let nodes):
            for n in nodes where n.evaluate(json, value) { return true }
            return false
        case .condition(let s, let c):
            return c.test(value(s), json)
        }
    }

    func requiresPresence(selector: Int) -> Bool {
        switch self {
        case .condition(_, .notExists): return false
        case .condition(let s, _): return s == selector
        case .and(let nodes): return nodes.contains { $0.requiresPresence(selector: selector) }
        case .or(let nodes): return !nodes.isEmpty && nodes.allSatisfy { $0.requiresPresence(selector: selector) }
        }
    }

    func requiredValues(selector: Int) -> Set<String>? {
        switch self {
        case .condition(let s, .compareString(.eq, let glob)) where s == selector && !glob.hasWildcard:
            return [String(decoding: glob.parts[0], as: UTF8.self)]
        case .condition: return nil
        case .and(let nodes):
            for n in nodes { if let v = n.requiredValues(selector: selector) { return v } }
            return nil
        case .or(let nodes):
            var all = Set<String>()
            for n in nodes {
                guard let v = n.requiredValues(selector: selector) else { return nil }
                all.formUnion(v)
            }
            return all
        }
    }
}

enum Comparison: String, Sendable { case eq = "=", ne = "!=", lt = "<", gt = ">", le = "<=", ge = ">=" }

enum Condition: Sendable {
    case compareString(Comparison, Glob)
    case compareNumber(Comparison, Double, text: [UInt8])
    case regex(Comparison, RegexMatcher)
    case isNull, isTrue, isFalse, notExists

    func test(_ v: RawJSON.Value?, _ json: RawJSON) -> Bool {
        switch self {
        case .notExists: return v == nil
        case .isNull: return v == .null
        case .isTrue: return v == .bool(true)
        case .isFalse: return v == .bool(false)
        case .compareString(let op, let glob):
            // A selector that is missing or points to an object or array never matches.
            guard let eq = Self.withScalarText(v, json, { glob.matches($0) }) else { return false }
            return op == .eq ? eq : !eq
        case .compareNumber(let op, let value, let literal):
            guard let v else { return false }
            let number: Double?
            switch v {
            case .number: number = json.number(v)
            case .string(let r, _): number = Double(String(decoding: json.slice(r), as: UTF8.self))
            default: return false
            }
            guard let n = number else {
                // Not numeric: `=`/`!=` fall back to comparing the text.
                guard op == .eq || op == .ne, let eq = Self.withScalarText(v, json, { $0.elementsEqual(literal) }) else { return false }
                return eq == (op == .eq)
            }
            switch op {
            case .eq: return n == value
            case .ne: return n != value
            case .lt: return n < value
            case .gt: return n > value
            case .le: return n <= value
            case .ge: return n >= value
            }
        case .regex(let op, let r):
            guard let m = Self.withScalarText(v, json, { r.search(String(decoding: $0, as: UTF8.self)) }) else { return false }
            return op == .eq ? m : !m
        }
    }

    /// `body` applied to the text of a scalar value (a string's decoded text, a number's digits,
    /// `true`, `false`, `null`), or nil for a missing value, an object or an array. Unescaped
    /// strings and numbers are read in place: no copy per event.
    static func withScalarText<R>(_ v: RawJSON.Value?, _ json: RawJSON, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        switch v {
        case .string(let r, false)?, .number(let r)?: return body(json.slice(r))
        case .string(let r, true)?: return Array(json.decodeString(r).utf8).withUnsafeBytes(body)
        case .bool(let b)?: return Array((b ? "true" : "false").utf8).withUnsafeBytes(body)
        case .null?: return Array("null".utf8).withUnsafeBytes(body)
        default: return nil
        }
    }
}

/// A string with `*` wildcards, matched against the whole value.
struct Glob: Sendable {
    let parts: [[UInt8]]
    let hasWildcard: Bool

    init(_ text: [UInt8]) {
        parts = text.split(separator: 0x2A, omittingEmptySubsequences: false).map(Array.init)
        hasWildcard = parts.count > 1
    }

    func matches(_ s: [UInt8]) -> Bool { s.withUnsafeBytes(matches) }

    /// Whether the whole of `s` matches (the text in place, e.g. a slice of the event).
    func matches(_ s: UnsafeRawBufferPointer) -> Bool {
        guard hasWildcard else { return s.elementsEqual(parts[0]) }
        let first = parts[0]
        let last = parts[parts.count - 1]
        guard s.count >= first.count + last.count, s.starts(with: first), s.suffix(last.count).elementsEqual(last) else {
            return false
        }
        var i = first.count
        let end = s.count - last.count
        for p in parts[1..<(parts.count - 1)] where !p.isEmpty {
            guard let at = Self.find(p, in: s, from: i, to: end) else { return false }
            i = at + p.count
        }
        return true
    }

    static func find(_ p: [UInt8], in s: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard to - from >= p.count else { return nil }
        var i = from
        while i + p.count <= to {
            if s[i] == p[0] && s[i..<(i + p.count)].elementsEqual(p) { return i }
            i += 1
        }
        return nil
    }
}

