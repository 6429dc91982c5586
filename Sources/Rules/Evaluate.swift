import CloudTrail
import FilterPattern

/// The fields every alert carries, read from the triggering record.
public struct AlertContext: Sendable, Equatable, Codable {
    public var account: String
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

/// Per-record memo of path lookups, shared by all rules.
struct View {
    let json: RawJSON
    var memo: [[RawJSON.Value]?]

    mutating func values(_ set: RuleSet, _ p: Int) -> [RawJSON.Value] {
        if let v = memo[p] { return v }
        let v = View.lookup(json, set.paths[p].steps)
        memo[p] = v
        return v
    }

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

    func text(_ v: RawJSON.Value) -> String? {
        switch v {
        case .string(let r, let esc): return esc ? json.decodeString(r) : String(decoding: json.slice(r), as: UTF8.self)
        case .number(let r): return String(decoding: json.slice(r), as: UTF8.self)
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    mutating func firstText(_ set: RuleSet, _ p: Int) -> String? { values(set, p).first.flatMap(text) }
}

extension RawJSON {
    /// The member `key` of the object `v`.
    func lookupKey(_ v: Value, _ key: [UInt8]) -> Value? {
        guard case .object(let r) = v else { return nil }
        var found: Value? = nil
        forEachMember(of: r) { k, esc, value in
            if keyEquals(k, escaped: esc, key) {
                found = value
                return false
            }
            return true
        }
        return found
    }
}

extension RuleSet {
    /// Rules (indexes) whose conditions hold for the record, before any state.
    func matchingRules(_ view: inout View) -> [Int] {
        var out: [Int] = []
        func consider(_ i: Int) {
            let r = rules[i]
            guard evaluate(r.when, &view) else { return }
            for u in r.unless where evaluate(u, &view) { return }
            out.append(i)
        }
        if !byEventName.isEmpty, let name = view.firstText(self, eventNamePath), let candidates = byEventName[name] {
            for i in candidates { consider(i) }
        }
        for i in unindexed { consider(i) }
        return out
    }

    func evaluate(_ n: Node, _ view: inout View) -> Bool {
        switch n {
        case .always: return true
        case .and(let parts):
            for p in parts where !evaluate(p, &view) { return false }
            return true
        case .or(let parts):
            for p in parts where evaluate(p, &view) { return true }
            return false
        case .not(let inner): return !evaluate(inner, &view)
        case .pattern(let fp): return fp.matches(view.json.bytes)
        case .compare(let p, let predicate, _):
            let vs = view.values(self, p)
            if case .exists = predicate { return !vs.isEmpty }
            for v in vs where test(predicate, v, view) { return true }
            return false
        case .inList(let p, let set, _):
            for v in view.values(self, p) { if let t = view.text(v), set.contains(t) { return true } }
            return false
        case .inNetworks(let p, let nets, _):
            for v in view.values(self, p) {
                if let a = address(v, view), nets.contains(where: { $0.contains(a) }) { return true }
            }
            return false
        case .outside(let p, let nets, _):
            for v in view.values(self, p) {
                if let a = address(v, view), !nets.contains(where: { $0.contains(a) }) { return true }
            }
            return false
        case .regex(let p, let box, _):
            for v in view.values(self, p) {
                if let t = view.text(v), (try? box.regex.firstMatch(in: t)) != nil { return true }
            }
            return false
        }
    }

    func address(_ v: RawJSON.Value, _ view: View) -> [UInt8]? {
        guard case .string(let r, false) = v else { return nil }
        return IPAddress.parse(Array(view.json.slice(r)))
    }

    func test(_ p: Predicate, _ v: RawJSON.Value, _ view: View) -> Bool {
        switch p {
        case .equals(.string(let s)):
            guard case .string(let r, let esc) = v else { return false }
            if !esc { return view.json.slice(r).elementsEqual(s.utf8) }
            return view.json.decodeString(r) == s
        case .equals(.number(let d)): return view.json.number(v) == d
        case .equals(.bool(let b)): return v == .bool(b)
        case .equals(.null), .isNull: return v == .null
        case .equalsIgnoringCase(let s):
            guard case .string = v, let t = view.text(v) else { return false }
            return t.lowercased() == s.lowercased()
        case .less(let d): return number(v, view).map { $0 < d } ?? false
        case .greater(let d): return number(v, view).map { $0 > d } ?? false
        case .lessOrEqual(let d): return number(v, view).map { $0 <= d } ?? false
        case .greaterOrEqual(let d): return number(v, view).map { $0 >= d } ?? false
        case .like(let glob):
            guard case .string = v, let t = view.text(v) else { return false }
            return Wildcard.matches(Array(glob.utf8), Array(t.utf8))
        case .exists: return true
        case .matches, .inList, .inNetworks: return false  // compiled into their own nodes
        }
    }

    func number(_ v: RawJSON.Value, _ view: View) -> Double? {
        switch v {
        case .number: return view.json.number(v)
        case .string: return view.text(v).flatMap(Double.init)
        default: return nil
        }
    }

    /// Every hit of every rule on one record (`bytes` is the record as delivered).
    public func hits(record bytes: UnsafeRawBufferPointer, index: Int, account: String, region: String) -> [RuleHit] {
        var view = View(json: RawJSON(bytes), memo: Array(repeating: nil, count: paths.count))
        let matched = matchingRules(&view)
        guard !matched.isEmpty else { return [] }
        let info = RecordInfo.read(bytes)
        let eventTime = info?.eventTime ?? 0
        let eventID = view.json.string(view.json.lookup([.key("eventID")])) ?? ""
        let ctx = AlertContext(
            account: view.json.string(view.json.lookup([.key("recipientAccountId")])) ?? account,
            region: view.json.string(view.json.lookup([.key("awsRegion")])) ?? region,
            principal: view.json.string(view.json.lookup([.key("userIdentity"), .key("arn")]))
                ?? view.json.string(view.json.lookup([.key("userIdentity"), .key("principalId")])) ?? "",
            sourceIP: view.json.string(view.json.lookup([.key("sourceIPAddress")])) ?? "",
            eventName: view.json.string(view.json.lookup([.key("eventName")])) ?? "")
        let raw = String(decoding: bytes, as: UTF8.self)
        return matched.map { i in
            let r = rules[i].rule
            func key(_ paths: [FieldPath]) -> String {
                paths.map { p in pathIndex[p].flatMap { view.firstText(self, $0) } ?? "" }.joined(separator: "\u{1F}")
            }
            var group = ""
            var value: String? = nil
            if let t = r.threshold {
                group = key(t.groupBy)
                if let d = t.distinct { value = pathIndex[d].flatMap { view.firstText(self, $0) } ?? "" }
            } else if let f = r.firstSeen {
                group = key(f.key)
                value = pathIndex[f.field].flatMap { view.firstText(self, $0) }
            }
            let message = Template.render(r.message ?? Template.defaultMessage, context: ctx, rule: r.name) { path in
                FieldPath(path).flatMap { fp in View.lookup(view.json, fp.steps).first.flatMap(view.text) }
            }
            return RuleHit(
                rule: i, record: index, eventTime: eventTime, eventID: eventID, context: ctx, group: group, value: value,
                suppressionKey: r.suppression.map { key($0.key) }, message: message, raw: raw)
        }
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

    public static func render(_ t: String, context: AlertContext, rule: String, count: Int = 1, field: (String) -> String?) -> String {
        var out = ""
        var rest = Substring(t)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            switch name {
            case "account": out += context.account
            case "region": out += context.region
            case "principal": out += context.principal.isEmpty ? "an unknown principal" : context.principal
            case "source_ip": out += context.sourceIP
            case "event_name": out += context.eventName
            case "rule": out += rule
            case "count": out += String(count)
            default: out += field(name) ?? "-"
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
