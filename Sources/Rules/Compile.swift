import CloudTrail
import FilterPattern

/// A rule file's text with the path it came from.
public struct RuleSourceFile: Sendable {
    public var path: String
    public var text: String
    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// Compiled rules, ready to evaluate events; immutable, so a reload swaps in a new one.
public final class RuleSet: Sendable {
    public let rules: [CompiledRule]
    let paths: [FieldPath]
    let pathIndex: [FieldPath: Int]
    let lists: [String: Set<String>]
    let networks: [String: [Network]]
    /// Rules that can only match given event names, and the rules that must always be evaluated.
    let byEventName: [String: [Int]]
    let eventNameIndex: [([UInt8], [Int])]
    /// Open-addressed hash table over `eventNameIndex` (entry + 1; 0 is empty), a power of two at
    /// least four times as long, so that a record's event name is found in one probe or two.
    let eventNameTable: [Int32]
    let unindexed: [Int]
    let eventNamePath: Int
    /// Per rule not indexed by event name: a path every match has, and (when not nil) the values
    /// it must have one of, found in its `when` (see ``RuleGuard``); checked first, one memoized
    /// lookup, so that rules such as root use or access-denied patterns cost almost nothing on the
    /// records they cannot match.
    let guards: [RuleGuard?]
    /// Per rule, kept apart so evaluation touches no rule struct (no reference counting).
    let whenNodes: [Node]
    let unlessNodes: [[Node]]
    /// Per path: its key/index steps (when it has no `[*]`) as ranges into one arena (no reference
    /// counting while evaluating), and whether it has `[*]`.
    let stepRanges: [Range<Int>]
    let steps: [FlatStep]
    let keyArena: [UInt8]
    let hasAny: [Bool]
    /// The top-level keys evaluation reads (the first key of each path, and the keys every alert
    /// reads), one slot each, so that an ``Evaluator`` finds all of a record's in one pass over its
    /// members instead of one scan per key. `topKeyTable`, indexed by a key's length and last byte
    /// (``keyBucket(_:_:)``), holds the first slot of that bucket + 1 (0: none), `topKeyNext` the
    /// next slot in the same bucket (-1: none): most of a record's keys are rejected by one load.
    /// `pathTopSlot` is each path's slot (-1 when it starts with an index). The keys are ranges of
    /// one arena: looking one up touches no reference count.
    let topKeys: [Range<Int>]
    let topKeyArena: [UInt8]
    let topKeyTable: [Int32]
    let topKeyNext: [Int32]
    let pathTopSlot: [Int]
    /// The top-level keys every alert's context reads.
    static let contextKeys = ["eventTime", "eventID", "userIdentity", "awsRegion", "sourceIPAddress", "eventName"]

    init(rules: [CompiledRule], paths: [FieldPath], lists: [String: Set<String>], networks: [String: [Network]], eventNamePath: Int) {
        self.rules = rules
        self.paths = paths
        var index: [FieldPath: Int] = [:]
        for (i, p) in paths.enumerated() { index[p] = i }
        pathIndex = index
        self.lists = lists
        self.networks = networks
        self.eventNamePath = eventNamePath
        var by: [String: [Int]] = [:]
        var always: [Int] = []
        for (i, r) in rules.enumerated() {
            if let names = r.eventNames {
                for n in names { by[n, default: []].append(i) }
            } else {
                always.append(i)
            }
        }
        byEventName = by
        let names = by.map { (Array($0.key.utf8), $0.value) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
        eventNameIndex = names
        var table = [Int32](repeating: 0, count: names.isEmpty ? 0 : max(16, 1 << (Int.bitWidth - (names.count * 4 - 1).leadingZeroBitCount)))
        for (e, (k, _)) in names.enumerated() {
            var slot = k.withUnsafeBytes(Self.nameHash) & (table.count - 1)
            while table[slot] != 0 { slot = (slot + 1) & (table.count - 1) }
            table[slot] = Int32(e + 1)
        }
        eventNameTable = table
        unindexed = always
        whenNodes = rules.map(\.when)
        let hasAny = paths.map { $0.steps.contains(.any) }
        self.hasAny = hasAny
        guards = rules.map { r in r.eventNames == nil ? RuleGuard(r.when, hasAny: hasAny) : nil }
        unlessNodes = rules.map(\.unless)
        var arena: [UInt8] = []
        var flat: [FlatStep] = []
        var ranges: [Range<Int>] = []
        for p in paths {
            let start = flat.count
            for s in p.steps {
                switch s {
                case .key(let k):
                    let u = Array(k.utf8)
                    flat.append(FlatStep(keyStart: arena.count, keyCount: u.count, index: -1))
                    arena += u
                case .index(let n): flat.append(FlatStep(keyStart: 0, keyCount: 0, index: n))
                case .any: break
                }
            }
            ranges.append(start..<flat.count)
        }
        keyArena = arena
        steps = flat
        stepRanges = ranges
        var keys = Self.contextKeys.map { Array($0.utf8) }
        var slotOf: [[UInt8]: Int] = [:]
        for (i, k) in keys.enumerated() { slotOf[k] = i }
        pathTopSlot = paths.map { p in
            guard case .key(let k)? = p.steps.first else { return -1 }
            let u = Array(k.utf8)
            if let s = slotOf[u] { return s }
            slotOf[u] = keys.count
            keys.append(u)
            return keys.count - 1
        }
        topKeys = keys.reduce(into: []) { r, k in r.append((r.last?.upperBound ?? 0)..<((r.last?.upperBound ?? 0) + k.count)) }
        topKeyArena = keys.flatMap { $0 }
        var keyTable = [Int32](repeating: 0, count: 1 << 12)
        var next = [Int32](repeating: -1, count: keys.count)
        for (slot, k) in keys.enumerated().reversed() {
            let bucket = k.withUnsafeBytes { Self.keyBucket($0, 0..<k.count) }
            next[slot] = keyTable[bucket] - 1
            keyTable[bucket] = Int32(slot + 1)
        }
        topKeyTable = keyTable
        topKeyNext = next
    }

    /// The bucket of the key at `r` in `bytes`: its length (mod 32) and last byte (mod 128).
    @inline(__always) static func keyBucket(_ bytes: UnsafeRawBufferPointer, _ r: Range<Int>) -> Int {
        guard !r.isEmpty else { return 0 }
        return (r.count & 31) << 7 | Int(bytes[r.upperBound - 1] & 127)
    }

    /// Whether the `n` bytes at `a` and `b` are the same: eight at a time, the last word (or,
    /// under eight, two halves) overlapping the one before, so that no byte is compared alone
    /// but in keys of under four bytes. Keys are mostly 7 to 19 bytes.
    @inline(__always) static func sameBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
        func w64(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 { p.loadUnaligned(fromByteOffset: i, as: UInt64.self) }
        func w32(_ p: UnsafeRawPointer, _ i: Int) -> UInt32 { p.loadUnaligned(fromByteOffset: i, as: UInt32.self) }
        if n >= 8 {
            var i = 0
            while i + 8 < n {
                if w64(a, i) != w64(b, i) { return false }
                i += 8
            }
            return w64(a, n - 8) == w64(b, n - 8)
        }
        if n >= 4 { return w32(a, 0) == w32(b, 0) && w32(a, n - 4) == w32(b, n - 4) }
        for i in 0..<n where a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        return true
    }

    /// The slot of the top-level key at `r` in `bytes`, or -1 when evaluation never reads it.
    @inline(__always) func topSlot(_ bytes: UnsafeRawBufferPointer, _ r: Range<Int>) -> Int {
        var slot = Int(topKeyTable[Self.keyBucket(bytes, r)]) - 1
        while slot >= 0 {
            let k = topKeys[slot]
            if k.count == r.count,
                topKeyArena.withUnsafeBytes({ Self.sameBytes($0.baseAddress! + k.lowerBound, bytes.baseAddress! + r.lowerBound, k.count) }) {
                return slot
            }
            slot = Int(topKeyNext[slot])
        }
        return -1
    }

    /// FNV-1a of `bytes`: the event-name table's hash (names are short; no seed needed, the rule
    /// author chooses the keys).
    @inline(__always) static func nameHash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Compiles rule files and list files; errors leave the result nil, warnings come along.
    public static func compile(ruleFiles: [RuleSourceFile], listFiles: [RuleSourceFile]) -> (RuleSet?, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        var contents = RuleFileContents()
        var lists: [String: ListDefinition] = [:]
        for f in listFiles {
            let name = String(f.path.split(separator: "/").last!.dropLast(5))
            lists[name] = RuleParser.parseList(f.text, file: f.path, name: name)  // later directories override
        }
        var firstDefinition: [String: SourcePosition] = [:]
        for f in ruleFiles {
            let (c, d) = RuleParser.parse(f.text, file: f.path)
            diagnostics += d
            for r in c.rules {
                if let prior = firstDefinition[r.name] {
                    diagnostics.append(Diagnostic(.error, r.position, "rule '\(r.name)' is defined twice", hint: "first defined at \(prior)"))
                    continue
                }
                firstDefinition[r.name] = r.position
                contents.rules.append(r)
            }
            contents.conditions.merge(c.conditions) { $1 }
            lists.merge(c.lists) { $1 }
        }
        var compiler = Compiler(conditions: contents.conditions, listDefinitions: lists)
        let eventName = compiler.intern(FieldPath("eventName")!)
        var compiled: [CompiledRule] = []
        for r in contents.rules {
            if let c = compiler.compile(r) { compiled.append(c) }
        }
        diagnostics += compiler.diagnostics
        diagnostics += Lint.unknownFields(contents.rules)
        let errors = diagnostics.contains { $0.severity == .error }
        let set = RuleSet(
            rules: compiled, paths: compiler.paths, lists: compiler.lists, networks: compiler.networks, eventNamePath: eventName)
        return (errors ? nil : set, diagnostics)
    }
}

/// What a record must have for a rule to match it, read off the rule's compiled `when`: a
/// path that must be present (every comparison is false on a missing field) and, when the rule
/// requires it, the values that path must take (`x = "v"`, `x in (…)`, a pattern's `$.x = v`).
/// Only paths without `[*]`, whose single value is the one evaluation reads.
struct RuleGuard: Sendable {
    let path: Int
    /// Nil: presence only.
    let values: ByteList?

    /// The guard of `when`: required values of the first path that has them, else the first
    /// path that must be present, else nil (the rule is evaluated on every record).
    init?(_ when: Node, hasAny: [Bool]) {
        var candidates: [Int] = []
        Self.paths(when, into: &candidates)
        candidates = candidates.filter { !hasAny[$0] }
        for p in candidates {
            if let v = Self.requiredValues(when, p) {
                (path, values) = (p, ByteList(v))
                return
            }
        }
        guard let p = candidates.first(where: { Self.requiresPresence(when, $0) }) else { return nil }
        (path, values) = (p, nil)
    }

    /// Every path the node reads, in order, once each.
    static func paths(_ n: Node, into out: inout [Int]) {
        func add(_ p: Int) { if !out.contains(p) { out.append(p) } }
        switch n {
        case .compare(let p, _, _), .outside(let p, _, _), .inList(let p, _, _), .inNetworks(let p, _, _), .regex(let p, _, _): add(p)
        case .pattern(_, let map): map.forEach(add)
        case .and(let parts), .or(let parts): for part in parts { paths(part, into: &out) }
        case .not(let inner): paths(inner, into: &out)
        case .always: break
        }
    }

    /// The values path `p` must take for `n` to hold, or nil when `n` does not pin them. A
    /// pattern reads path `p` through its selector at the same place in `map`.
    static func requiredValues(_ n: Node, _ p: Int) -> Set<String>? {
        switch n {
        case .compare(let q, .equals(.string(let s)), false) where q == p: return [s]
        case .inList(let q, let list, false) where q == p: return list.values
        case .pattern(let fp, let map):
            guard let k = map.firstIndex(of: p) else { return nil }
            return fp.requiredValues(of: fp.selectors[k])
        case .and(let parts):
            for part in parts { if let v = requiredValues(part, p) { return v } }
            return nil
        case .or(let parts):
            var all = Set<String>()
            for part in parts {
                guard let v = requiredValues(part, p) else { return nil }
                all.formUnion(v)
            }
            return all
        default: return nil
        }
    }

    /// Whether `n` is false whenever path `p` is missing.
    static func requiresPresence(_ n: Node, _ p: Int) -> Bool {
        switch n {
        case .compare(let q, _, _), .outside(let q, _, _), .inList(let q, _, _), .inNetworks(let q, _, _), .regex(let q, _, _): return q == p
        case .pattern(let fp, let map):
            guard let k = map.firstIndex(of: p) else { return false }
            return fp.requiresPresence(of: fp.selectors[k])
        case .and(let parts): return parts.contains { requiresPresence($0, p) }
        case .or(let parts): return !parts.isEmpty && parts.allSatisfy { requiresPresence($0, p) }
        case .not, .always: return false
        }
    }
}

/// A rule ready to evaluate.
public struct CompiledRule: Sendable {
    public let rule: Rule
    let when: Node
    let unless: [Node]
    /// When set, the rule can only match these event names (from its `when`).
    let eventNames: Set<String>?
    /// The message template, split once (rendered for every alert).
    let message: CompiledTemplate
    public var name: String { rule.name }

    /// The journald MESSAGE_ID: the one the rule pins with `id`, else derived from its name (stable).
    public let messageID: String

    init(rule: Rule, when: Node, unless: [Node], eventNames: Set<String>?) {
        self.rule = rule
        self.when = when
        self.unless = unless
        self.eventNames = eventNames
        message = CompiledTemplate(rule.message ?? Template.defaultMessage)
        messageID = rule.messageID ?? MessageID.derive("trailwatch.rule." + rule.name)
    }
}

/// Evaluation tree over interned paths.
indirect enum Node: Sendable {
    case compare(Int, Predicate, anyElement: Bool)
    case outside(Int, [Network], anyElement: Bool)
    case inList(Int, ByteList, anyElement: Bool)
    case inNetworks(Int, [Network], anyElement: Bool)
    case regex(Int, Regex<AnyRegexOutput>.Box, anyElement: Bool)
    /// A CloudWatch filter pattern; its selectors map to the rule set's paths (shared lookups).
    case pattern(FilterPattern, [Int])
    case and([Node])
    case or([Node])
    case not(Node)
    case always
}

extension Regex<AnyRegexOutput> {
    /// Regexes are immutable once built; the box makes that explicit to the concurrency checker.
    final class Box: @unchecked Sendable {
        let regex: Regex<AnyRegexOutput>
        init(_ r: Regex<AnyRegexOutput>) { regex = r }
    }
}

struct Compiler {
    let conditions: [String: (Expression, SourcePosition)]
    let listDefinitions: [String: ListDefinition]
    var paths: [FieldPath] = []
    var index: [FieldPath: Int] = [:]
    var lists: [String: Set<String>] = [:]
    var networks: [String: [Network]] = [:]
    var diagnostics: [Diagnostic] = []
    /// Named conditions being expanded, outermost first, with where each was named.
    var expanding: [(name: String, at: SourcePosition)] = []
    /// `and`/`or`/`not` levels and named conditions open around the node being compiled.
    var depth = 0
    /// Set once a rule went too deep, so it gets one error rather than one per branch.
    var tooDeep = false
    /// The rule being compiled (where a problem without a better place is reported).
    var rulePosition = SourcePosition(file: "", line: 0, column: 0)
    /// How deep a compiled condition may nest, named conditions included. One expression alone
    /// stays below it (the parser allows ``RuleParser/Limits/nesting`` levels of `(` and `not`,
    /// at most two `and`/`or` levels each); chains of named conditions are what reach it.
    static let maxDepth = 4 * RuleParser.Limits.nesting

    init(conditions: [String: (Expression, SourcePosition)], listDefinitions: [String: ListDefinition]) {
        self.conditions = conditions
        self.listDefinitions = listDefinitions
    }

    mutating func intern(_ p: FieldPath) -> Int {
        if let i = index[p] { return i }
        paths.append(p)
        index[p] = paths.count - 1
        return paths.count - 1
    }

    mutating func compile(_ r: Rule) -> CompiledRule? {
        let before = diagnostics.count
        tooDeep = false
        rulePosition = r.position
        let when = node(r.when)
        let unless = r.unless.map { node($0) }
        for p in (r.threshold?.groupBy ?? []) + (r.threshold?.distinct.map { [$0] } ?? []) + (r.firstSeen.map { [$0.field] + $0.key } ?? [])
            + (r.suppression?.key ?? [])
        {
            _ = intern(p)
        }
        if r.threshold != nil && r.firstSeen != nil {
            diagnostics.append(Diagnostic(.error, r.position, "rule '\(r.name)' has both threshold and first-seen", hint: "split it into two rules"))
        }
        guard diagnostics.count == before || !diagnostics[before...].contains(where: { $0.severity == .error }) else { return nil }
        return CompiledRule(rule: r, when: when, unless: unless, eventNames: Self.requiredEventNames(r.when, conditions: conditions, lists: listDefinitions))
    }

    /// Event names the expression requires, when it requires some (used to index rules).
    static func requiredEventNames(_ e: Expression, conditions: [String: (Expression, SourcePosition)], lists: [String: ListDefinition]) -> Set<String>? {
        switch e {
        case .compare(let p, .equals(.string(let s)), _) where p.text == "eventName": return [s]
        case .compare(let p, .inList(let name), _) where p.text == "eventName":
            return lists[name].map { Set($0.values.map(\.value)) }
        case .and(let parts):
            for part in parts {
                if let names = requiredEventNames(part, conditions: conditions, lists: lists) { return names }
            }
            return nil
        case .or(let parts):
            var all = Set<String>()
            for part in parts {
                guard let names = requiredEventNames(part, conditions: conditions, lists: lists) else { return nil }
                all.formUnion(names)
            }
            return all
        case .named(let n, _):
            return conditions[n].flatMap { requiredEventNames($0.0, conditions: conditions, lists: lists) }
        case .pattern(let text, _):
            return (try? FilterPattern(text))?.requiredValues(of: [.key("eventName")])
        default:
            return nil
        }
    }

    mutating func list(_ name: String, at: SourcePosition) -> Set<String>? {
        if let l = lists[name] { return l }
        guard let def = listDefinitions[name] else {
            diagnostics.append(Diagnostic(.error, at, "unknown list '\(name)'", hint: "define it in \(name).list beside the rules, or inline: list \(name) = a, b"))
            return nil
        }
        let set = Set(def.values.map(\.value))
        lists[name] = set
        return set
    }

    mutating func networkList(_ name: String, at: SourcePosition) -> [Network]? {
        if let n = networks[name] { return n }
        guard let def = listDefinitions[name] else {
            diagnostics.append(Diagnostic(.error, at, "unknown network list '\(name)'", hint: "define it in \(name).list beside the rules: one CIDR a line"))
            return nil
        }
        var out: [Network] = []
        for (v, p) in def.values {
            guard let n = Network(v) else {
                diagnostics.append(Diagnostic(.error, p, "'\(v)' is not an IPv4 or IPv6 network", hint: "write CIDRs such as 203.0.113.0/24 or 2001:db8::/32"))
                continue
            }
            out.append(n)
        }
        networks[name] = out
        return out
    }

    mutating func node(_ e: Expression) -> Node {
        guard depth < Self.maxDepth else {
            if !tooDeep {
                tooDeep = true
                let (name, at) = expanding.first ?? ("", rulePosition)
                diagnostics.append(
                    Diagnostic(.error, at, "condition '\(name)' nests deeper than \(Self.maxDepth) levels with the conditions it names",
                               hint: "name fewer conditions within one another"))
            }
            return .always
        }
        depth += 1
        defer { depth -= 1 }
        switch e {
        case .always: return .always
        case .and(let parts): return .and(parts.map { node($0) })
        case .or(let parts): return .or(parts.map { node($0) })
        case .not(let inner): return .not(node(inner))
        case .pattern(let text, let at):
            do {
                let fp = try FilterPattern(text)
                return .pattern(fp, fp.selectors.map { intern(FieldPath(steps: $0)) })
            } catch {
                diagnostics.append(
                    Diagnostic(.error, SourcePosition(file: at.file, line: at.line, column: at.column + error.offset), "filter pattern: \(error.message)"))
                return .always
            }
        case .named(let name, let at):
            guard let (expr, _) = conditions[name] else {
                diagnostics.append(Diagnostic(.error, at, "unknown condition '\(name)'", hint: "define it with: condition \(name) = …, or compare a field: \(name) = \"…\""))
                return .always
            }
            guard !expanding.contains(where: { $0.name == name }) else {
                diagnostics.append(Diagnostic(.error, at, "condition '\(name)' refers to itself"))
                return .always
            }
            expanding.append((name, at))
            defer { expanding.removeLast() }
            return node(expr)
        case .outsideNetworks(let path, let listName, let at):
            let any = path.steps.contains(.any)
            return .outside(intern(path), networkList(listName, at: at) ?? [], anyElement: any)
        case .compare(let path, let predicate, let at):
            let p = intern(path)
            let any = path.steps.contains(.any)
            switch predicate {
            case .inList(let name): return .inList(p, ByteList(list(name, at: at) ?? []), anyElement: any)
            case .inNetworks(let name): return .inNetworks(p, networkList(name, at: at) ?? [], anyElement: any)
            case .matches(let source):
                // Swift's regex parser recurses per nested group or class and has no limit for classes.
                guard Self.regexNesting(source) <= RuleParser.Limits.nesting else {
                    diagnostics.append(
                        Diagnostic(.error, at, "regular expression nests groups or classes deeper than \(RuleParser.Limits.nesting) levels"))
                    return .always
                }
                do {
                    return .regex(p, .init(try Regex(source)), anyElement: any)
                } catch {
                    let shown = source.count > 80 ? source.prefix(80) + "…" : Substring(source)
                    diagnostics.append(Diagnostic(.error, at, "invalid regular expression \"\(shown)\": \(error)"))
                    return .always
                }
            default: return .compare(p, predicate, anyElement: any)
            }
        }
    }
}

extension Compiler {
    /// The deepest nesting of `(` and `[` in a regular expression's source (escapes skipped; a
    /// literal `[` inside a class counts too, which only errs on the safe side).
    static func regexNesting(_ source: String) -> Int {
        var depth = 0
        var deepest = 0
        var escaped = false
        for c in source.unicodeScalars {
            if escaped {
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "(" || c == "[" {
                depth += 1
                deepest = max(deepest, depth)
            } else if c == ")" || c == "]" {
                depth = max(depth - 1, 0)
            }
        }
        return deepest
    }
}

/// Lint: field paths whose first steps are not CloudTrail fields (warnings, not errors).
enum Lint {
    static let topLevel: Set<String> = [
        "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent",
        "errorCode", "errorMessage", "requestParameters", "responseElements", "additionalEventData", "requestID", "eventID",
        "readOnly", "resources", "eventType", "apiVersion", "recipientAccountId", "serviceEventDetails", "sharedEventID",
        "vpcEndpointId", "vpcEndpointAccountId", "managementEvent", "eventCategory", "addendum", "sessionCredentialFromConsole",
        "edgeDeviceDetails", "tlsDetails", "insightDetails", "eventContext",
    ]
    static let userIdentity: Set<String> = [
        "type", "principalId", "arn", "accountId", "accessKeyId", "userName", "sessionContext", "invokedBy", "invokedByDelegate",
        "onBehalfOf", "credentialId", "inScopeOf", "identityProvider",
    ]

    static func unknownFields(_ rules: [Rule]) -> [Diagnostic] {
        var out: [Diagnostic] = []
        /// Why `p` is not a CloudTrail field path (message and hint), or nil when it is one.
        func unknown(_ p: FieldPath) -> (String, String?)? {
            guard case .key(let first)? = p.steps.first else { return nil }
            if !topLevel.contains(first) {
                return ("'\(p.text)': '\(first)' is not a CloudTrail record field", "check the spelling; field names are case-sensitive")
            } else if first == "userIdentity", p.steps.count > 1, case .key(let second) = p.steps[1], !userIdentity.contains(second) {
                return ("'\(p.text)': '\(second)' is not a userIdentity field", nil)
            }
            return nil
        }
        func check(_ p: FieldPath, _ at: SourcePosition) {
            if let (message, hint) = unknown(p) { out.append(Diagnostic(.warning, at, message, hint: hint)) }
        }
        func walk(_ e: Expression) {
            switch e {
            case .compare(let p, _, let at), .outsideNetworks(let p, _, let at): check(p, at)
            case .and(let parts), .or(let parts): parts.forEach(walk)
            case .not(let inner): walk(inner)
            default: break
            }
        }
        let builtins = Template.builtins.map { "{\($0)}" }.joined(separator: ", ")
        for r in rules {
            walk(r.when)
            r.unless.forEach(walk)
            // Message placeholders: a typo would print "-" in every alert, so say so now.
            for part in CompiledTemplate(r.message ?? "").parts {
                let name: String
                switch part {
                case .field(let p) where unknown(p) != nil: name = p.text
                case .unknown(let text): name = text
                default: continue
                }
                out.append(Diagnostic(.warning, r.messagePosition ?? r.position, "message placeholder '{\(name)}' is neither built in nor a CloudTrail field path",
                                      hint: "built in: \(builtins); or a field path such as {userIdentity.arn}"))
            }
            for p in (r.threshold?.groupBy ?? []) + (r.firstSeen.map { [$0.field] + $0.key } ?? []) + (r.suppression?.key ?? []) {
                check(p, r.position)
            }
        }
        return out
    }
}

/// Stable 128-bit ids as 32 lower-case hex digits, derived from a name.
public enum MessageID {
    public static func derive(_ name: String) -> String {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x6c62_272e_07bb_0142
        for byte in name.utf8 {
            a = (a ^ UInt64(byte)) &* 0x100_0000_01b3
            b = (b &+ UInt64(byte)) &* 0xff51_afd7_ed55_8ccd
            b ^= b >> 33
        }
        func mix(_ x: UInt64) -> UInt64 {
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let (x, y) = (mix(a ^ b), mix(b &+ a &* 3))
        // 32 lower-case hex digits, `x` then `y`, each zero-padded to 16.
        return String(unsafeUninitializedCapacity: 32) { out in
            for i in 0..<16 {
                out[i] = digit(x >> UInt64(60 - 4 * i))
                out[16 + i] = digit(y >> UInt64(60 - 4 * i))
            }
            return 32
        }
    }

    private static func digit(_ v: UInt64) -> UInt8 {
        let n = UInt8(truncatingIfNeeded: v & 15)
        return n < 10 ? 0x30 + n : 0x57 + n
    }
}

/// A list's values for membership tests on raw bytes: short lists compared in place, long ones hashed.
struct ByteList: Sendable {
    let small: [[UInt8]]
    let big: Set<String>?

    /// The values, as given.
    var values: Set<String> { big ?? Set(small.map { String(decoding: $0, as: UTF8.self) }) }

    init(_ values: Set<String>) {
        if values.count <= 12 {
            small = values.map { Array($0.utf8) }
            big = nil
        } else {
            small = []
            big = values
        }
    }

    func contains(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if let big { return big.contains(String(decoding: bytes, as: UTF8.self)) }
        for v in small where v.count == bytes.count {
            if v.isEmpty || v.withUnsafeBytes({ RuleSet.sameBytes($0.baseAddress!, bytes.baseAddress!, v.count) }) { return true }
        }
        return false
    }
}

/// A path step as plain numbers: a key (a range of the arena) or an array index.
struct FlatStep: Sendable {
    var keyStart: Int
    var keyCount: Int
    var index: Int
}
