import CloudTrail
import FilterPattern

/// The fields every alert carries, read from the triggering record.
public struct AlertContext: Sendable, Equatable, Codable {
    /// The account whose log group stores the event: the account folder the file was delivered
    /// under (in an organization trail or a cross-account call, `recipientAccountId` and
    /// `userIdentity.accountId` can name another account).
    public var account: String
    /// `userIdentity.accountId` (the caller's account), empty when the record has none.
    public var principalAccount: String = ""
    public var region: String
    public var principal: String
    public var sourceIP: String
    public var eventName: String
}

/// One rule matching one record (before thresholds, first-seen and suppression).
public struct RuleHit: Sendable {
    public var rule: Int
    public var record: Int
    public var eventTime: Int64
    public var eventID: String
    public var context: AlertContext
    /// Threshold group, first-seen key or empty; values joined with U+001F.
    public var group: String
    /// The distinct-count or first-seen value.
    public var value: String?
    public var suppressionKey: String?
    public var message: String
    public var raw: String
}

/// Scratch space for evaluating records one after another on one thread: the per-record memo of
/// path lookups (shared by every rule and pattern) and the record's top-level member index.
///
/// An evaluator is confined to one thread, so its storage opts out of dynamic exclusivity checks.
public final class Evaluator {
    @exclusivity(unchecked) var values: [RawJSON.Value?] = []
    /// `stamp[p] == generation` when `values[p]` is this record's (no per-record clearing).
    @exclusivity(unchecked) var stamp: [UInt32] = []
    @exclusivity(unchecked) var generation: UInt32 = 0
    @exclusivity(unchecked) var matched: [Int] = []
    /// Records kept per threshold rule in this file (see ``startFile()``).
    @exclusivity(unchecked) var kept: [Int: Int] = [:]

    /// Call before each file: threshold rules keep only a few raw records per file.
    public func startFile() { kept.removeAll(keepingCapacity: true) }

    func bumpKept(_ rule: Int) -> Int {
        let n = (kept[rule] ?? 0) + 1
        kept[rule] = n
        return n
    }
    @exclusivity(unchecked) var many: [Int: [RawJSON.Value]] = [:]
    @exclusivity(unchecked) var top: [(key: Range<Int>, value: RawJSON.Value)] = []
    @exclusivity(unchecked) var topBuilt = false
    /// The splitter's member index for the record, when given (used in place of `top`); valid
    /// only during one `hits` call.
    @exclusivity(unchecked) var members = UnsafeBufferPointer<TopMember>(start: nil, count: 0)
    @exclusivity(unchecked) var json = RawJSON(UnsafeRawBufferPointer(start: nil, count: 0))
    /// Where the record's top-level keys the rule set reads (``RuleSet/topKeys``) are, found in
    /// one pass over its members on the first lookup (`slotsFilled`): per slot, the member's index
    /// (in `members`, else in `top`), valid when its stamp is `generation` (no per-record
    /// clearing). Plain memory: written for most members of every record, it must not pay an
    /// array's uniqueness check each time.
    @exclusivity(unchecked) var slots = UnsafeMutableBufferPointer<(stamp: UInt32, member: Int32)>(start: nil, count: 0)
    @exclusivity(unchecked) var slotsFilled = false
    /// The rule set of the record being evaluated (set by ``reset(_:_:)``).
    @exclusivity(unchecked) var ruleSet: RuleSet? = nil

    public init() {}

    deinit { slots.deallocate() }

    func reset(_ set: RuleSet, _ bytes: UnsafeRawBufferPointer) {
        json = RawJSON(bytes)
        if ruleSet !== set {
            ruleSet = set
            slots.deallocate()
            slots = .allocate(capacity: set.topKeys.count)
            slots.initialize(repeating: (0, 0))
        }
        slotsFilled = false
        if values.count != set.paths.count {
            values = Array(repeating: nil, count: set.paths.count)
            stamp = Array(repeating: 0, count: set.paths.count)
        }
        generation &+= 1
        if generation == 0 {
            for i in stamp.indices { stamp[i] = 0 }
            for i in slots.indices { slots[i].stamp = 0 }
            generation = 1
        }
        if !many.isEmpty { many.removeAll(keepingCapacity: true) }
        top.removeAll(keepingCapacity: true)
        members = UnsafeBufferPointer(start: nil, count: 0)
        topBuilt = false
    }

    /// One pass over the record's top level, done once per record.
    func buildTop() {
        topBuilt = true
        guard case .object(let r)? = json.root else { return }
        json.forEachMember(of: r) { k, esc, v in
            if !esc { top.append((k, v)) }
            return true
        }
    }

    /// Finds every top-level key the rule set reads in one pass over the record's members (the
    /// first member with each key, as a scan for it would).
    func fillSlots(_ set: RuleSet) {
        slotsFilled = true
        let b = json.bytes
        let g = generation
        let slots = self.slots
        if !members.isEmpty {
            for (i, m) in members.enumerated() where !m.escapedKey {
                let s = set.topSlot(b, m.key)
                if s >= 0 && slots[s].stamp != g { slots[s] = (g, Int32(truncatingIfNeeded: i)) }
            }
            return
        }
        if !topBuilt { buildTop() }
        for (i, (k, _)) in top.enumerated() {
            let s = set.topSlot(b, k)
            if s >= 0 && slots[s].stamp != g { slots[s] = (g, Int32(truncatingIfNeeded: i)) }
        }
    }

    /// The value of the top-level key in `slot` (``RuleSet/topKeys``).
    @inline(__always) func topValue(slot: Int, _ set: RuleSet) -> RawJSON.Value? {
        if !slotsFilled { fillSlots(set) }
        let e = slots[slot]
        guard e.stamp == generation else { return nil }
        return members.isEmpty ? top[Int(e.member)].value : json.value(of: members[Int(e.member)])
    }

    func topValue(_ key: UnsafeBufferPointer<UInt8>) -> RawJSON.Value? {
        if let set = ruleSet {
            let slot = set.topSlot(UnsafeRawBufferPointer(key), 0..<key.count)
            if slot >= 0 { return topValue(slot: slot, set) }
        }
        if !topBuilt { buildTop() }
        let b = json.bytes
        let last = key[key.count - 1]
        // Most keys share a prefix ("event…"): the length and last byte reject them at once.
        func same(_ r: Range<Int>) -> Bool {
            r.count == key.count && b[r.upperBound - 1] == last && UnsafeRawBufferPointer(rebasing: b[r]).elementsEqual(key)
        }
        if !members.isEmpty {
            for m in members where !m.escapedKey && same(m.key) { return json.value(of: m) }
            return nil
        }
        for (k, v) in top where same(k) { return v }
        return nil
    }

    func topValue(_ key: StaticString) -> RawJSON.Value? { key.withUTF8Buffer { topValue($0) } }

    /// The single value of a path without `[*]`.
    func value(_ set: RuleSet, _ p: Int) -> RawJSON.Value? {
        if stamp[p] == generation { return values[p] }
        stamp[p] = generation
        let range = set.stepRanges[p]
        var current: RawJSON.Value? = nil
        set.keyArena.withUnsafeBufferPointer { arena in
            set.steps.withUnsafeBufferPointer { steps in
                for n in range {
                    let step = steps[n]
                    if step.index < 0 {
                        let k = UnsafeBufferPointer(rebasing: arena[step.keyStart..<(step.keyStart + step.keyCount)])
                        if n != range.lowerBound {
                            current = current.flatMap { json.lookupKey($0, k) }
                        } else if set.pathTopSlot[p] >= 0 {
                            current = topValue(slot: set.pathTopSlot[p], set)
                        } else {
                            current = topValue(k)
                        }
                    } else {
                        if n == range.lowerBound { current = json.root }
                        if case .array(let r)? = current { current = json.element(of: r, at: step.index) } else { current = nil }
                    }
                    if current == nil { break }
                }
            }
        }
        values[p] = current
        return current
    }

    /// All values of a path (several with `[*]`).
    func all(_ set: RuleSet, _ p: Int) -> [RawJSON.Value] {
        if !set.hasAny[p] { return value(set, p).map { [$0] } ?? [] }
        if let v = many[p] { return v }
        let v = View.lookup(json, set.paths[p].steps)  // paths with [*]: rare, the general walk
        many[p] = v
        return v
    }

    func text(_ v: RawJSON.Value) -> String? {
        switch v {
        case .string(let r, let esc): return esc ? json.decodeString(r) : String(decoding: json.slice(r), as: UTF8.self)
        case .number(let r): return String(decoding: json.slice(r), as: UTF8.self)
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    func firstText(_ set: RuleSet, _ p: Int) -> String? { all(set, p).first.flatMap(text) }

    /// The text of a top-level member, or of `inner` inside it, through the member index (a hit's
    /// context fields: looking them up from the record's start rescanned large records six times).
    func topText(_ key: StaticString, _ inner: StaticString? = nil) -> String? {
        var v = topValue(key)
        if let inner, let outer = v { v = inner.withUTF8Buffer { json.lookupKey(outer, $0) } }
        return v.flatMap(text)
    }
}

enum View {
    static func lookup(_ json: RawJSON, _ steps: [FieldPath.Step]) -> [RawJSON.Value] {
        guard let root = json.root else { return [] }
        var current: [RawJSON.Value] = [root]
        for step in steps {
            var next: [RawJSON.Value] = []
            for v in current {
                switch (step, v) {
                case (.key(let k), .object):
                    if let x = json.lookupKey(v, Array(k.utf8)) { next.append(x) }
                case (.index(let n), .array(let r)):
                    if let x = json.element(of: r, at: n) { next.append(x) }
                case (.any, .array(let r)):
                    json.forEachElement(of: r) { next.append($0) }
                default: break
                }
            }
            if next.isEmpty { return [] }
            current = next
        }
        return current
    }
}

extension RawJSON {
    /// The member `key` of the object `v`.
    func lookupKey(_ v: Value, _ key: UnsafeBufferPointer<UInt8>) -> Value? {
        guard case .object(let r) = v else { return nil }
        var found: Value? = nil
        forEachMember(of: r) { k, esc, value in
            if !esc && k.count == key.count && slice(k).elementsEqual(key) {
                found = value
                return false
            }
            if esc && keyEquals(k, escaped: true, Array(key)) {
                found = value
                return false
            }
            return true
        }
        return found
    }

    /// The member `key` of the object `v`.
    func lookupKey(_ v: Value, _ key: [UInt8]) -> Value? { key.withUnsafeBufferPointer { lookupKey(v, $0) } }
}

extension RuleSet {
    /// Rules (indexes) whose conditions hold for the record, before any state.
    /// Fills `ev.matched` (reused, so a record that matches nothing allocates nothing).
    func matchingRules(_ ev: Evaluator) {
        ev.matched.removeAll(keepingCapacity: true)
        if !byEventName.isEmpty, let v = ev.value(self, eventNamePath), case .string(let r, false) = v {
            let name = ev.json.slice(r)
            if let candidates = lookupCandidates(name) {
                for i in candidates where holds(i, ev) { ev.matched.append(i) }
            }
        }
        for i in unindexed where passesGuard(i, ev) && holds(i, ev) { ev.matched.append(i) }
    }

    /// False when the record lacks what rule `i` requires (``RuleGuard``): the rule cannot match.
    /// An escaped string, or a value that is not a string or number, is left to the rule itself.
    @inline(__always) func passesGuard(_ i: Int, _ ev: Evaluator) -> Bool {
        guard let g = guards[i] else { return true }
        guard let v = ev.value(self, g.path) else { return false }
        guard let list = g.values else { return true }
        switch v {
        case .string(let r, false), .number(let r): return list.contains(ev.json.slice(r))
        default: return true
        }
    }

    /// The rules that can match events named `name`: one probe of the open-addressed table, a
    /// second only on a collision (the scan of every name was 900 instructions per record).
    func lookupCandidates(_ name: UnsafeRawBufferPointer) -> [Int]? {
        guard !eventNameTable.isEmpty else { return nil }
        let mask = eventNameTable.count - 1
        var slot = Self.nameHash(name) & mask
        while true {
            let e = Int(eventNameTable[slot])
            if e == 0 { return nil }
            let (k, v) = eventNameIndex[e - 1]
            if k.count == name.count && k.withUnsafeBytes({ Self.sameBytes($0.baseAddress!, name.baseAddress!, k.count) }) { return v }
            slot = (slot + 1) & mask
        }
    }

    @inline(__always) func holds(_ i: Int, _ ev: Evaluator) -> Bool {
        guard evaluate(whenNodes[i], ev) else { return false }
        for u in unlessNodes[i] where evaluate(u, ev) { return false }
        return true
    }

    func evaluate(_ n: Node, _ ev: Evaluator) -> Bool {
        switch n {
        case .always: return true
        case .and(let parts):
            for p in parts where !evaluate(p, ev) { return false }
            return true
        case .or(let parts):
            for p in parts where evaluate(p, ev) { return true }
            return false
        case .not(let inner): return !evaluate(inner, ev)
        case .pattern(let fp, let map): return fp.matches(ev.json) { ev.value(self, map[$0]) }
        case .compare(let p, let predicate, let any):
            if !any {
                guard let v = ev.value(self, p) else { return false }
                if case .exists = predicate { return true }
                return test(predicate, v, ev)
            }
            let vs = ev.all(self, p)
            if case .exists = predicate { return !vs.isEmpty }
            for v in vs where test(predicate, v, ev) { return true }
            return false
        case .inList(let p, let list, let any):
            return anyValue(p, any, ev) { v in
                switch v {
                case .string(let r, false), .number(let r): return list.contains(ev.json.slice(r))
                default:
                    guard let t = ev.text(v) else { return false }
                    return Array(t.utf8).withUnsafeBytes { list.contains($0) }
                }
            }
        case .inNetworks(let p, let nets, let any):
            return anyValue(p, any, ev) { v in
                guard let a = address(v, ev) else { return false }
                return nets.contains { $0.contains(a) }
            }
        case .outside(let p, let nets, let any):
            return anyValue(p, any, ev) { v in
                guard let a = address(v, ev) else { return false }
                return !nets.contains { $0.contains(a) }
            }
        case .regex(let p, let box, _):
            return anyValue(p, hasAny[p], ev) { v in
                guard let t = ev.text(v) else { return false }
                return (try? box.regex.firstMatch(in: t)) != nil
            }
        }
    }

    /// Whether `test` holds for the path's value, or (`any`, a path with `[*]`) for one of its
    /// values. The single value is tested in place: no array per record.
    @inline(__always) func anyValue(_ p: Int, _ any: Bool, _ ev: Evaluator, _ test: (RawJSON.Value) -> Bool) -> Bool {
        if !any {
            guard let v = ev.value(self, p) else { return false }
            return test(v)
        }
        for v in ev.all(self, p) where test(v) { return true }
        return false
    }

    func address(_ v: RawJSON.Value, _ ev: Evaluator) -> IPBytes? {
        guard case .string(let r, false) = v else { return nil }
        return IPAddress.parse(ev.json.slice(r))
    }

    func test(_ p: Predicate, _ v: RawJSON.Value, _ ev: Evaluator) -> Bool {
        switch p {
        case .equals(.string(let s)):
            guard case .string(let r, let esc) = v else { return false }
            if !esc { return ev.json.slice(r).elementsEqual(s.utf8) }
            return ev.json.decodeString(r) == s
        case .equals(.number(let d)): return ev.json.number(v) == d
        case .equals(.bool(let b)): return v == .bool(b)
        case .equals(.null), .isNull: return v == .null
        case .equalsIgnoringCase(let s):
            guard case .string(let r, let esc) = v else { return false }
            if !esc {
                let bytes = ev.json.slice(r)
                let lower = s.utf8
                guard bytes.count == lower.count else { return false }
                return zip(bytes, lower).allSatisfy { Self.lower($0) == Self.lower($1) }
            }
            return ev.json.decodeString(r).lowercased() == s.lowercased()
        case .less(let d): return number(v, ev).map { $0 < d } ?? false
        case .greater(let d): return number(v, ev).map { $0 > d } ?? false
        case .lessOrEqual(let d): return number(v, ev).map { $0 <= d } ?? false
        case .greaterOrEqual(let d): return number(v, ev).map { $0 >= d } ?? false
        case .like(let glob):
            guard case .string = v, let t = ev.text(v) else { return false }
            return Wildcard.matches(Array(glob.utf8), Array(t.utf8))
        case .exists: return true
        case .matches, .inList, .inNetworks: return false  // compiled into their own nodes
        }
    }

    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b + 32 : b }

    /// The same rule set with one rule alone (same paths, lists and networks): for timing each
    /// rule's own cost on a rule author's files.
    package func only(_ rule: Int) -> RuleSet {
        RuleSet(rules: [rules[rule]], paths: paths, lists: lists, networks: networks, eventNamePath: eventNamePath)
    }

    func number(_ v: RawJSON.Value, _ ev: Evaluator) -> Double? {
        switch v {
        case .number: return ev.json.number(v)
        case .string: return ev.text(v).flatMap(Double.init)
        default: return nil
        }
    }

    /// Every hit of every rule on one record (`bytes` is the record as delivered). `account` is the
    /// account of the log group that stores it (the delivery folder's), what every alert carries.
    public func hits(record bytes: UnsafeRawBufferPointer, index: Int, account: String, region: String) -> [RuleHit] {
        hits(record: bytes, index: index, account: account, region: region, evaluator: Evaluator())
    }

    /// The same with scratch space reused across records (one `Evaluator` per thread), and the
    /// record's top-level members when the splitter noted them (no rescan of the record).
    public func hits(
        record bytes: UnsafeRawBufferPointer, index: Int, account: String, region: String, evaluator ev: Evaluator,
        members: [TopMember]? = nil
    ) -> [RuleHit] {
        ev.reset(self, bytes)
        if let members {
            return members.withUnsafeBufferPointer {
                hits(record: bytes, index: index, account: account, region: region, evaluator: ev, memberBuffer: $0)
            }
        }
        return hits(record: bytes, index: index, account: account, region: region, evaluator: ev, memberBuffer: nil)
    }

    /// The same with the members as a buffer (valid during the call).
    public func hits(
        record bytes: UnsafeRawBufferPointer, index: Int, account: String, region: String, evaluator ev: Evaluator,
        memberBuffer: UnsafeBufferPointer<TopMember>?
    ) -> [RuleHit] {
        ev.reset(self, bytes)
        if let memberBuffer {
            ev.members = memberBuffer
            ev.topBuilt = true
        }
        defer { ev.members = UnsafeBufferPointer(start: nil, count: 0) }
        matchingRules(ev)
        guard !ev.matched.isEmpty else { return [] }
        let matched = ev.matched
        let json = ev.json
        var eventTime: Int64 = 0
        if case .string(let r, let esc)? = ev.topValue("eventTime") {
            eventTime = (esc ? Timestamp.parseISO8601(json.decodeString(r)) : Timestamp.parseISO8601(json.slice(r))) ?? 0
        }
        // Records of eventVersion 1.0 have no eventID: a key derived from the bytes stands in, so
        // two of them never share an alert id (nor a threshold slot).
        let eventID = ev.topText("eventID") ?? Self.derivedEventID(bytes)
        let ctx = AlertContext(
            account: account,
            principalAccount: ev.topText("userIdentity", "accountId") ?? "",
            region: ev.topText("awsRegion") ?? region,
            principal: ev.topText("userIdentity", "arn") ?? ev.topText("userIdentity", "principalId") ?? "",
            sourceIP: ev.topText("sourceIPAddress") ?? "",
            eventName: ev.topText("eventName") ?? "")
        return matched.map { i in
            let r = rules[i].rule
            // Threshold hits are many and alert in groups: keep a few records and no message.
            let grouped = r.threshold != nil
            var raw = ""
            if !grouped || ev.bumpKept(i) <= 8 { raw = String(decoding: bytes, as: UTF8.self) }
            func key(_ paths: [FieldPath]) -> String {
                paths.map { p in pathIndex[p].flatMap { ev.firstText(self, $0) } ?? "" }.joined(separator: "\u{1F}")
            }
            var group = ""
            var value: String? = nil
            if let t = r.threshold {
                group = key(t.groupBy)
                if let d = t.distinct { value = pathIndex[d].flatMap { ev.firstText(self, $0) } ?? "" }
            } else if let f = r.firstSeen {
                group = key(f.key)
                value = pathIndex[f.field].flatMap { ev.firstText(self, $0) }
            }
            let message = grouped ? "" : rules[i].message.render(context: ctx, rule: r.name) { fp in
                pathIndex[fp].flatMap { ev.firstText(self, $0) } ?? View.lookup(json, fp.steps).first.flatMap(ev.text)
            }
            return RuleHit(
                rule: i, record: index, eventTime: eventTime, eventID: eventID, context: ctx, group: group, value: value,
                suppressionKey: r.suppression.map { key($0.key) }, message: message, raw: raw)
        }
    }
}

extension RuleSet {
    /// The stand-in id of a record without `eventID` (eventVersion 1.0): `no-eventID-` and 32 hex
    /// digits of the record's 128-bit content key (the key the store deduplicates it by).
    public static func derivedEventID(_ bytes: UnsafeRawBufferPointer) -> String {
        let k = EventKey(bytes)
        func hex(_ v: Int64) -> String {
            let s = String(UInt64(bitPattern: v), radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return "no-eventID-" + hex(k.high) + hex(k.low)
    }
}

/// `*` and `?` wildcards over bytes.
enum Wildcard {
    static func matches(_ p: [UInt8], _ s: [UInt8]) -> Bool {
        var pi = 0, si = 0, star = -1, mark = 0
        while si < s.count {
            if pi < p.count && (p[pi] == 0x3F || p[pi] == s[si]) {
                pi += 1
                si += 1
            } else if pi < p.count && p[pi] == 0x2A {
                star = pi
                mark = si
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                si = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == 0x2A { pi += 1 }
        return pi == p.count
    }
}

/// Message templates: `{field.path}` is replaced by the record's value; `{account}`, `{region}`,
/// `{principal}`, `{source_ip}`, `{event_name}`, `{rule}` and `{count}` are always there.
public enum Template {
    public static let defaultMessage = "{rule}: {event_name} by {principal} from {source_ip} in {account}/{region}"
    /// Placeholders that are always there (anything else in braces is a field path).
    public static let builtins = CompiledTemplate.builtins.map(\.name)

    public static func render(_ t: String, context: AlertContext, rule: String, count: Int = 1, field: (String) -> String?) -> String {
        CompiledTemplate(t).render(context: context, rule: rule, count: count) { field($0.text) }
    }
}

/// A message template split once into text and placeholders, so that rendering one per alert is
/// a few appends (parsing it for every hit was a tenth of an alert storm's rule time).
struct CompiledTemplate: Sendable {
    enum Part: Sendable {
        case text(String)
        case account, region, principal, sourceIP, eventName, rule, count
        case field(FieldPath)
        /// Between braces but not a field path: rendered as "-".
        case unknown(String)
    }
    let parts: [Part]

    /// The placeholders every alert has, in the order the docs list them.
    static let builtins: [(name: String, part: Part)] = [
        ("account", .account), ("region", .region), ("principal", .principal), ("source_ip", .sourceIP),
        ("event_name", .eventName), ("rule", .rule), ("count", .count),
    ]

    init(_ t: String) {
        var parts: [Part] = []
        var rest = Substring(t)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            if open > rest.startIndex { parts.append(.text(String(rest[..<open]))) }
            let name = String(rest[rest.index(after: open)..<close])
            if let builtin = Self.builtins.first(where: { $0.name == name }) {
                parts.append(builtin.part)
            } else {
                parts.append(FieldPath(name).map { .field($0) } ?? .unknown(name))
            }
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    func render(context: AlertContext, rule: String, count: Int = 1, field: (FieldPath) -> String?) -> String {
        var out = ""
        out.reserveCapacity(128)
        for part in parts {
            switch part {
            case .text(let s): out += s
            case .account: out += context.account
            case .region: out += context.region
            case .principal: out += context.principal.isEmpty ? "an unknown principal" : context.principal
            case .sourceIP: out += context.sourceIP
            case .eventName: out += context.eventName
            case .rule: out += rule
            case .count: out += String(count)
            case .field(let p): out += field(p) ?? "-"
            case .unknown: out += "-"
            }
        }
        return out
    }
}
