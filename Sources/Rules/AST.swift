import CloudTrail

/// A field path such as `userIdentity.sessionContext.attributes.mfaAuthenticated` or `resources[*].ARN`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public enum Step: Sendable, Hashable {
        case key(String)
        case index(Int)
        case any
    }
    public var steps: [Step]
    public var text: String
    public var description: String { text }

    /// A path from filter-pattern steps.
    public init(steps raw: [RawJSON.PathStep]) {
        steps = raw.map { s in
            switch s {
            case .key(let k): return .key(String(decoding: k, as: UTF8.self))
            case .index(let n): return .index(n)
            }
        }
        let joined = steps.map { s -> String in
            switch s {
            case .key(let k): return "." + k
            case .index(let n): return "[\(n)]"
            case .any: return "[*]"
            }
        }.joined()
        text = joined.hasPrefix(".") ? String(joined.dropFirst()) : joined
    }

    /// Parses `a.b[0].c` / `a[*].b`; nil when malformed.
    public init?(_ text: String) {
        self.text = text
        var steps: [Step] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.first == "[" {
                guard let close = rest.firstIndex(of: "]") else { return nil }
                let inner = rest[rest.index(after: rest.startIndex)..<close]
                if inner == "*" {
                    steps.append(.any)
                } else if let n = Int(inner), n >= 0 {
                    steps.append(.index(n))
                } else {
                    return nil
                }
                rest = rest[rest.index(after: close)...]
                if rest.first == "." { rest = rest.dropFirst() }
                continue
            }
            let end = rest.firstIndex { $0 == "." || $0 == "[" } ?? rest.endIndex
            let key = rest[..<end]
            guard !key.isEmpty else { return nil }
            steps.append(.key(String(key)))
            rest = rest[end...]
            if rest.first == "." { rest = rest.dropFirst() }
        }
        guard !steps.isEmpty else { return nil }
        self.steps = steps
    }
}

/// A literal in a condition.
public enum Literal: Sendable, Hashable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
}

/// The comparison a condition makes.
public enum Predicate: Sendable {
    case equals(Literal)
    case equalsIgnoringCase(String)
    case less(Double), greater(Double), lessOrEqual(Double), greaterOrEqual(Double)
    case like(String)  // * and ? wildcards
    case matches(String)  // a regular expression
    case exists
    case isNull
    case inList(String)  // a named list, or an inline one registered under a generated name
    case inNetworks(String)
}

/// A boolean expression over one event.
public indirect enum Expression: Sendable {
    case compare(FieldPath, Predicate, SourcePosition)
    /// `path not in networks L`: true only for an IP literal outside every network (never for a host name).
    case outsideNetworks(FieldPath, String, SourcePosition)
    case named(String, SourcePosition)
    case pattern(String, SourcePosition)
    case and([Expression])
    case or([Expression])
    case not(Expression)
    case always
}

public enum Severity: String, Sendable, CaseIterable {
    case critical, high, medium, low, info

    /// journald PRIORITY: critical 2 … info 6.
    public var priority: Int {
        switch self {
        case .critical: return 2
        case .high: return 3
        case .medium: return 4
        case .low: return 5
        case .info: return 6
        }
    }
}

/// `threshold count >= N within W by f, g` or `threshold distinct FIELD >= N within W by …`.
public struct Threshold: Sendable {
    public var distinct: FieldPath?
    public var count: Int
    public var windowMs: Int64
    public var groupBy: [FieldPath]
}

/// `first-seen FIELD by KEY… over D`.
public struct FirstSeen: Sendable {
    public var field: FieldPath
    public var key: [FieldPath]
    public var periodMs: Int64
}

/// `suppress by f, g for P`.
public struct Suppression: Sendable {
    public var key: [FieldPath]
    public var periodMs: Int64
}

/// An inline test: events (in order) and the number of alerts expected.
public struct RuleTest: Sendable {
    /// Marks an event given as `event file PATH` (resolved relative to the rule file).
    public static let filePrefix = "@file:"

    public var name: String
    public var events: [String]
    public var expectedAlerts: Int
    public var position: SourcePosition
}

/// One rule as written.
public struct Rule: Sendable {
    public var name: String
    public var position: SourcePosition
    public var severity: Severity = .medium
    public var description = ""
    public var runbook = ""
    public var message: String? = nil
    /// Where the message template starts (for lint warnings about its placeholders).
    public var messagePosition: SourcePosition? = nil
    public var when: Expression = .always
    public var unless: [Expression] = []
    public var threshold: Threshold? = nil
    public var firstSeen: FirstSeen? = nil
    public var suppression: Suppression? = nil
    public var messageID: String? = nil
    public var tests: [RuleTest] = []
}

