import AlertModel
import CloudTrail
import FoundationEssentials

/// Events of one threshold group inside the window horizon, and the bursts already alerted.
public struct WindowState: Sendable, Codable, Equatable {
    public struct Event: Sendable, Codable, Equatable {
        public var t: Int64
        public var id: String
        public var v: String?
    }
    public var events: [Event] = []
    /// Event ids of each burst already alerted (a later window sharing any of them is the same burst).
    public var alerted: [[String]] = []
    public init() {}
}

/// An open suppression period for one rule and key.
public struct SuppressionState: Sendable, Equatable {
    public var until: Int64
    /// Alerts suppressed since the last summary; equal to `eventIDs.count` for one-event alerts.
    public var suppressed: Int
    /// Their events' ids: a summary lists every one (see ``maxEventIDs``).
    public var eventIDs: [String]
    /// The period's first alert as the store keeps alerts (``Alert/compact``; the JSON payload in
    /// states written before), without its records (a summary carries none): decoded only when a
    /// summary is written (a busy period is read and written once per file; decoding the alert
    /// each time cost more than the alerts it saved).
    var firstPayload: [UInt8]

    /// The period's first alert.
    public var first: Alert? { Alert.stored(firstPayload) }

    public init(until: Int64, suppressed: Int, eventIDs: [String], first: Alert) {
        self.until = until
        self.suppressed = suppressed
        self.eventIDs = eventIDs
        var bare = first
        bare.records = []
        self.firstPayload = bare.compact
    }

    /// A summary carries at most this many event ids: when a period collects them, a summary goes
    /// out at once and the period goes on, so no suppressed event is ever left out and a busy
    /// key's state stays bounded.
    public static let maxEventIDs = 1000

    /// A compact binary form for the store.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [2]
        Varint.put(&out, Varint.zigzag(until))
        Varint.put(&out, UInt64(max(0, suppressed)))
        Varint.put(&out, UInt64(eventIDs.count))
        for id in eventIDs {
            Varint.put(&out, UInt64(id.utf8.count))
            out += id.utf8
        }
        Varint.put(&out, UInt64(firstPayload.count))
        return out + firstPayload
    }

    /// Reads what ``encoded()`` wrote, or the JSON form of earlier versions; nil if damaged.
    public init?(encoded b: [UInt8]) {
        if b.first == UInt8(ascii: "{") {
            struct Legacy: Decodable {
                var until: Int64
                var suppressed: Int
                var eventIDs: [String]
                var first: Alert
            }
            guard let l = try? JSONDecoder().decode(Legacy.self, from: Data(b)) else { return nil }
            self.init(until: l.until, suppressed: l.suppressed, eventIDs: l.eventIDs, first: l.first)
            return
        }
        self.init(binary: b)
    }

    private init?(binary b: [UInt8]) {
        guard b.first == 2 else { return nil }
        var i = 1
        func varint() -> UInt64? { b.withUnsafeBytes { Varint.get($0, &i) } }
        func bytes(_ n: UInt64) -> ArraySlice<UInt8>? {
            guard n <= UInt64(b.count - i) else { return nil }
            defer { i += Int(n) }
            return b[i..<(i + Int(n))]
        }
        guard let u = varint(), let s = varint(), let n = varint(), n <= UInt64(b.count) else { return nil }
        var ids: [String] = []
        for _ in 0..<n {
            guard let len = varint(), let id = bytes(len) else { return nil }
            ids.append(String(decoding: id, as: UTF8.self))
        }
        guard let len = varint(), let payload = bytes(len) else { return nil }
        self.init(until: Varint.unzigzag(u), suppressed: Int(s), eventIDs: ids, firstPayload: Array(payload))
    }

    init(until: Int64, suppressed: Int, eventIDs: [String], firstPayload: [UInt8]) {
        self.until = until
        self.suppressed = suppressed
        self.eventIDs = eventIDs
        self.firstPayload = firstPayload
    }
}

/// Where rule state lives: in memory for `rules test`, in the account's database (committed with
/// the file's ledger row) in the daemon. Errors from the backing store propagate.
public protocol RuleStateStore: AnyObject {
    func window(rule: String, key: String) throws -> WindowState?
    func setWindow(rule: String, key: String, _ state: WindowState?) throws
    /// The last time `value` was seen for `key`; `keyKnown` tells whether the key has any history.
    func lastSeen(rule: String, key: String, value: String) throws -> (time: Int64?, keyKnown: Bool)
    func setLastSeen(rule: String, key: String, value: String, time: Int64) throws
    func suppression(rule: String, key: String) throws -> SuppressionState?
    func setSuppression(rule: String, key: String, _ state: SuppressionState?) throws
    /// Open suppression periods ending at or before `endingBy` (all when nil), ordered by rule and key.
    func openSuppressions(endingBy: Int64?) throws -> [(rule: String, key: String, state: SuppressionState)]
    /// Records an alert; false when an alert with this id was recorded before (never emit twice).
    func record(_ alert: Alert) throws -> Bool
    /// ``record(_:)`` for an alert whose records are the records at `recordIndexes` of the file
    /// being processed (file order, one per record), so a store keeping the file finds them there.
    func record(_ alert: Alert, recordIndexes: [Int]) throws -> Bool
    /// Forgets windows whose newest event is older than `windowsBefore`, and first-seen values
    /// older than `firstSeenBefore`: what keeps state bounded.
    func expire(windowsBefore: Int64, firstSeenBefore: Int64?) throws
}

extension RuleStateStore {
    public func record(_ alert: Alert, recordIndexes: [Int]) throws -> Bool { try record(alert) }
}

/// Rule state in memory: for `rules test`, unit tests and benchmarks.
public final class MemoryRuleState: RuleStateStore, @unchecked Sendable {
    public var windows: [String: WindowState] = [:]
    public var seen: [String: Int64] = [:]
    public var keys: Set<String> = []
    public var suppressions: [String: (String, String, SuppressionState)] = [:]
    public var alertIDs: Set<String> = []

    public init() {}

    public func window(rule: String, key: String) -> WindowState? { windows[rule + "\u{1E}" + key] }
    public func setWindow(rule: String, key: String, _ state: WindowState?) { windows[rule + "\u{1E}" + key] = state }
    public func lastSeen(rule: String, key: String, value: String) -> (time: Int64?, keyKnown: Bool) {
        (seen[rule + "\u{1E}" + key + "\u{1E}" + value], keys.contains(rule + "\u{1E}" + key))
    }
    public func setLastSeen(rule: String, key: String, value: String, time: Int64) {
        seen[rule + "\u{1E}" + key + "\u{1E}" + value] = time
        keys.insert(rule + "\u{1E}" + key)
    }
    public func suppression(rule: String, key: String) -> SuppressionState? { suppressions[rule + "\u{1E}" + key]?.2 }
    public func setSuppression(rule: String, key: String, _ state: SuppressionState?) {
        suppressions[rule + "\u{1E}" + key] = state.map { (rule, key, $0) }
    }
    public func openSuppressions(endingBy: Int64?) -> [(rule: String, key: String, state: SuppressionState)] {
        suppressions.values.filter { s in endingBy.map { s.2.until <= $0 } ?? true }
            .sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map { ($0.0, $0.1, $0.2) }
    }
    public func record(_ alert: Alert) -> Bool { alertIDs.insert(alert.alertID).inserted }
    public func expire(windowsBefore: Int64, firstSeenBefore: Int64?) {
        windows = windows.filter { ($0.value.events.last?.t ?? 0) >= windowsBefore }
        if let f = firstSeenBefore { seen = seen.filter { $0.value >= f } }
    }
}

extension WindowState {
    /// A compact binary form for the store (JSON cost 20 µs a key).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [1]
        func varint(_ v: UInt64) { Varint.put(&out, v) }
        func string(_ s: String?) {
            guard let s else {
                varint(0)
                return
            }
            let u = Array(s.utf8)
            varint(UInt64(u.count) + 1)
            out += u
        }
        varint(UInt64(events.count))
        var previous: Int64 = 0
        for e in events {
            let d = e.t - previous
            varint(Varint.zigzag(d))
            previous = e.t
            string(e.id)
            string(e.v)
        }
        varint(UInt64(alerted.count))
        for group in alerted {
            varint(UInt64(group.count))
            for id in group { string(id) }
        }
        return out
    }

    /// Reads what ``encoded()`` wrote; nil if damaged.
    public init?(encoded b: [UInt8]) {
        var i = 0
        func varint() -> UInt64? { b.withUnsafeBytes { Varint.get($0, &i) } }
        func string() -> String?? {
            guard let n = varint() else { return nil }
            if n == 0 { return .some(nil) }
            let len = Int(n - 1)
            guard i + len <= b.count else { return nil }
            defer { i += len }
            return .some(String(decoding: b[i..<(i + len)], as: UTF8.self))
        }
        guard b.first == 1 else { return nil }
        i = 1
        self.init()
        guard let n = varint() else { return nil }
        var t: Int64 = 0
        for _ in 0..<n {
            guard let d = varint(), let id = string(), let v = string() else { return nil }
            t += Varint.unzigzag(d)
            events.append(Event(t: t, id: id ?? "", v: v))
        }
        guard let groups = varint() else { return nil }
        for _ in 0..<groups {
            guard let k = varint() else { return nil }
            var g: [String] = []
            for _ in 0..<k {
                guard let id = string() else { return nil }
                g.append(id ?? "")
            }
            alerted.append(g)
        }
    }
}
