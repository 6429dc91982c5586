import AlertModel
import CloudTrail

/// Applies thresholds, first-seen and suppression to hits, in event time.
public struct RuleEngine: Sendable {
    public let ruleSet: RuleSet
    /// How late events may arrive (event time behind the newest seen) and still count.
    public var latenessMs: Int64

    public init(ruleSet: RuleSet, latenessMs: Int64 = 20 * 60_000) {
        self.ruleSet = ruleSet
        self.latenessMs = latenessMs
    }

    /// Turns one file's hits into alerts (already deduplicated by id), updating `store`.
    public func process(_ hits: [RuleHit], logFile: String, store backing: some RuleStateStore) throws -> [Alert] {
        try process(hits, logFile: logFile, store: backing) { _ in true }
    }

    /// ``process(_:logFile:store:)`` over the hits `include` takes (no filtered copy of the hits).
    public func process(
        _ hits: [RuleHit], logFile: String, store backing: some RuleStateStore, including include: (RuleHit) -> Bool
    ) throws -> [Alert] {
        // Suppression periods are read and written once per key and file, not once per hit (an
        // alert storm suppresses thousands of hits per file under a few keys).
        let store = SuppressionCache(backing)
        var out: [Alert] = []
        // Thresholds: all hits of a group at once, so a file is one state update per group.
        var grouped: [String: [Int]] = [:]
        var order: [String] = []
        for (i, h) in hits.enumerated() where include(h) {
            let rule = ruleSet.rules[h.rule].rule
            if rule.threshold != nil {
                let k = "\(h.rule)\u{1E}\(h.group)"
                if grouped[k] == nil { order.append(k) }
                grouped[k, default: []].append(i)
            } else if let f = rule.firstSeen {
                guard let value = h.value else { continue }
                let (last, keyKnown) = try store.lastSeen(rule: rule.name, key: h.group, value: value)
                try store.setLastSeen(rule: rule.name, key: h.group, value: value, time: max(last ?? h.eventTime, h.eventTime))
                let isNew = last.map { h.eventTime - $0 > f.periodMs } ?? true
                if isNew && keyKnown { try emitSingle(h, logFile: logFile, store: store, into: &out) }
            } else {
                try emitSingle(h, logFile: logFile, store: store, into: &out)
            }
        }
        for k in order {
            try threshold(grouped[k]!.map { hits[$0] }, logFile: logFile, store: store, into: &out)
        }
        try store.writeBack()
        return out
    }

    /// The alert of one hit alone (count 1, its record), through suppression.
    private func emitSingle<B>(_ h: RuleHit, logFile: String, store: SuppressionCache<B>, into out: inout [Alert]) throws {
        try emit(
            hit: h, time: Self.alertTime(h.eventTime, else: h.eventTime), eventIDs: CollectionOfOne(h.eventID),
            recordIndexes: [h.record], store: store, into: &out
        ) { alert(h, ids: [h.eventID], count: 1, logFile: logFile, records: [h.raw]) }
    }

    /// The time suppression compares for an alert whose `eventTime` shows `ms`: the whole second
    /// the alert's `eventTime` names (what parsing it back gives), or `fallback` when that text
    /// does not parse back (a year outside 0000-9999).
    package static func alertTime(_ ms: Int64, else fallback: Int64) -> Int64 {
        guard ms >= Self.firstISOYear, ms < Self.pastLastISOYear else { return fallback }
        return ms >= 0 ? ms / 1000 * 1000 : (ms - 999) / 1000 * 1000
    }
    static let firstISOYear = Timestamp.daysFromCivil(0, 1, 1) * 86_400_000
    static let pastLastISOYear = Timestamp.daysFromCivil(10000, 1, 1) * 86_400_000

    func threshold<B>(_ hits: [RuleHit], logFile: String, store: SuppressionCache<B>, into out: inout [Alert]) throws {
        let r = ruleSet.rules[hits[0].rule].rule
        guard let t = r.threshold else { return }
        var state = try store.window(rule: r.name, key: hits[0].group) ?? WindowState()
        var known = Set(state.events.map(\.id))
        var raws: [String: (RuleHit)] = [:]
        for h in hits where known.insert(h.eventID).inserted {
            state.events.append(.init(t: h.eventTime, id: h.eventID, v: h.value))
            raws[h.eventID] = h
        }
        state.events.sort { ($0.t, $0.id) < ($1.t, $1.id) }
        // Forget what can no longer join a window.
        let newest = state.events.last?.t ?? 0
        let horizon = newest - t.windowMs - latenessMs
        state.events.removeAll { $0.t < horizon }
        let live = Set(state.events.map(\.id))
        state.alerted = state.alerted.map { $0.filter(live.contains) }.filter { !$0.isEmpty }
        for cluster in Self.bursts(state.events, threshold: t) {
            let ids = cluster.map { state.events[$0].id }
            if let k = state.alerted.firstIndex(where: { !Set($0).isDisjoint(with: ids) }) {
                state.alerted[k] = Array(Set(state.alerted[k]).union(ids)).sorted()
                continue
            }
            state.alerted.append(ids.sorted())
            guard let sample = cluster.lazy.compactMap({ raws[state.events[$0].id] }).first ?? hits.first else { continue }
            let first = state.events[cluster[0]]
            let chosen = cluster.lazy.compactMap { raws[state.events[$0].id] }.filter { !$0.raw.isEmpty }.prefix(3)
            try emit(
                hit: sample, time: Self.alertTime(first.t, else: sample.eventTime), eventIDs: ids, recordIndexes: chosen.map(\.record),
                store: store, into: &out
            ) {
                var a = alert(sample, ids: ids, count: ids.count, logFile: logFile, records: chosen.map(\.raw))
                a.eventTime = Timestamp.formatISO8601(first.t)
                a.message = Template.render(
                    r.message ?? "{rule}: {count} events of {event_name} by {principal} within \(t.windowMs / 60_000) min",
                    context: sample.context, rule: r.name, count: ids.count
                ) { _ in nil }
                return a
            }
        }
        try store.setWindow(rule: r.name, key: hits[0].group, state.events.isEmpty ? nil : state)
    }

    /// Index sets of merged triggered windows over events sorted by time.
    static func bursts(_ e: [WindowState.Event], threshold t: Threshold) -> [[Int]] {
        var windows: [ClosedRange<Int>] = []
        if let _ = t.distinct {
            for i in e.indices {
                var seen = Set<String>()
                var j = i
                while j < e.count, e[j].t - e[i].t <= t.windowMs {
                    seen.insert(e[j].v ?? "")
                    if seen.count >= t.count {
                        windows.append(i...j)
                        break
                    }
                    j += 1
                }
            }
        } else if e.count >= t.count {
            for i in 0...(e.count - t.count) where e[i + t.count - 1].t - e[i].t <= t.windowMs {
                windows.append(i...(i + t.count - 1))
            }
        }
        var merged: [ClosedRange<Int>] = []
        for w in windows {
            if let last = merged.last, w.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, w.upperBound)
            } else {
                merged.append(w)
            }
        }
        return merged.map { Array($0) }
    }

    func alert(_ h: RuleHit, ids: [String], count: Int, logFile: String, records: [String]) -> Alert {
        let r = ruleSet.rules[h.rule]
        return Alert(
            rule: r.name, severity: r.rule.severity.rawValue, priority: r.rule.severity.priority, messageID: r.messageID,
            message: h.message, account: h.context.account, region: h.context.region, principal: h.context.principal,
            sourceIP: h.context.sourceIP, eventName: h.context.eventName, eventIDs: ids,
            eventTime: Timestamp.formatISO8601(h.eventTime), count: count, logFile: logFile,
            alertID: MessageID.derive(r.name + "\u{1F}" + h.context.account + "\u{1F}" + (ids.count == 1 ? ids[0] : ids.sorted().joined(separator: ","))),
            records: records,
            extra: h.context.principalAccount.isEmpty ? [:] : ["PRINCIPAL_ACCOUNT": h.context.principalAccount])
    }

    /// Applies suppression and records the alert `make` builds (skipping ids recorded before).
    /// `time` is what suppression compares (see ``alertTime(_:else:)``), `eventIDs` the alert's
    /// events: a hit the open period swallows builds no alert at all. `recordIndexes`: the
    /// records' places in the file (file order), one per record of the alert.
    func emit<B>(
        hit: RuleHit, time t: Int64, eventIDs: some Collection<String>, recordIndexes: [Int], store: SuppressionCache<B>,
        into out: inout [Alert], make: () -> Alert
    ) throws {
        let rule = ruleSet.rules[hit.rule].rule
        if let s = rule.suppression, let key = hit.suppressionKey {
            // In place: a busy period's id list is not copied for every suppressed hit.
            let (suppressed, summary) = try store.modify(rule: rule.name, key: key) { open -> (Bool, Alert?) in
                guard open != nil else { return (false, nil) }
                guard t < open!.until else { return (false, Self.summary(open!, rule: rule.name, key: key)) }
                open!.suppressed += eventIDs.count
                open!.eventIDs.append(contentsOf: eventIDs)
                guard open!.eventIDs.count >= SuppressionState.maxEventIDs else { return (true, nil) }
                // A full summary goes out now; the period goes on.
                let full = Self.summary(open!, rule: rule.name, key: key)
                open!.suppressed = 0
                open!.eventIDs.removeAll(keepingCapacity: true)
                return (true, full)
            }
            if let summary, try store.record(summary, recordIndexes: []) { out.append(summary) }
            if suppressed { return }
            let a = make()
            guard try store.record(a, recordIndexes: recordIndexes) else { return }
            out.append(a)
            try store.setSuppression(rule: rule.name, key: key, SuppressionState(until: t + s.periodMs, suppressed: 0, eventIDs: [], first: a))
            return
        }
        let a = make()
        if try store.record(a, recordIndexes: recordIndexes) { out.append(a) }
    }

    /// Expires state that no event (at most `latenessMs` behind `watermark`) can still reach.
    public func expire(store: some RuleStateStore, watermark: Int64) throws {
        let longestWindow = ruleSet.rules.compactMap { $0.rule.threshold?.windowMs }.max() ?? 0
        let longestFirstSeen = ruleSet.rules.compactMap { $0.rule.firstSeen?.periodMs }.max()
        try store.expire(
            windowsBefore: watermark - longestWindow - latenessMs,
            firstSeenBefore: longestFirstSeen.map { watermark - $0 - latenessMs })
    }

    /// Summaries of suppression periods that ended before `eventTime` minus the lateness (all of them when nil).
    public func flush(store: some RuleStateStore, before eventTime: Int64?) throws -> [Alert] {
        var out: [Alert] = []
        for (rule, key, state) in try store.openSuppressions(endingBy: eventTime.map { $0 - latenessMs }) {
            try store.setSuppression(rule: rule, key: key, nil)
            if let s = Self.summary(state, rule: rule, key: key), try store.record(s) { out.append(s) }
        }
        return out
    }

    static func summary(_ s: SuppressionState, rule: String, key: String) -> Alert? {
        guard s.suppressed > 0, let first = s.first else { return nil }
        var a = first
        a.count = s.suppressed
        a.eventIDs = s.eventIDs
        a.records = []
        a.message = "\(rule): \(s.suppressed) more \(s.suppressed == 1 ? "alert" : "alerts") for \(key.replacingAll("\u{1F}", with: ", ")) were suppressed until \(Timestamp.formatISO8601(s.until)) (first: \(first.message))"
        // Several summaries of one period (each full one, then the rest) differ by their first event.
        a.alertID = MessageID.derive("summary\u{1F}" + first.alertID + "\u{1F}\(s.until)\u{1F}" + (s.eventIDs.first ?? ""))
        a.extra["SUMMARY_OF"] = first.alertID
        return a
    }
}

/// A suppression period's rule and key (outside the generic cache, so its dictionary's type is
/// not looked up at run time on every hit).
struct SuppressionCacheKey: Hashable {
    var rule: String
    var key: String
}

/// Holds the suppression periods one ``RuleEngine/process`` call touches and writes each back
/// once; everything else goes straight to the backing store.
final class SuppressionCache<Backing: RuleStateStore>: RuleStateStore {
    let backing: Backing
    typealias Key = SuppressionCacheKey
    var cached: [Key: (state: SuppressionState?, dirty: Bool)] = [:]

    init(_ backing: Backing) { self.backing = backing }

    func writeBack() throws {
        var i = cached.startIndex
        while i != cached.endIndex {
            if cached.values[i].dirty {
                let k = cached.keys[i]
                try backing.setSuppression(rule: k.rule, key: k.key, cached.values[i].state)
                cached.values[i].dirty = false
            }
            cached.formIndex(after: &i)
        }
    }

    func suppression(rule: String, key: String) throws -> SuppressionState? {
        let k = Key(rule: rule, key: key)
        if let c = cached[k] { return c.state }
        let s = try backing.suppression(rule: rule, key: key)
        cached[k] = (s, false)
        return s
    }
    func setSuppression(rule: String, key: String, _ state: SuppressionState?) throws {
        cached[Key(rule: rule, key: key)] = (state, true)
    }
    /// Runs `body` on the period in place (read once from the backing store), marking it written.
    func modify<R>(rule: String, key: String, _ body: (inout SuppressionState?) throws -> R) throws -> R {
        let k = Key(rule: rule, key: key)
        let i: Dictionary<Key, (state: SuppressionState?, dirty: Bool)>.Index
        if let found = cached.index(forKey: k) {
            i = found
        } else {
            cached[k] = (try backing.suppression(rule: rule, key: key), false)
            i = cached.index(forKey: k)!
        }
        cached.values[i].dirty = true
        return try body(&cached.values[i].state)
    }
    func openSuppressions(endingBy: Int64?) throws -> [(rule: String, key: String, state: SuppressionState)] {
        try writeBack()
        return try backing.openSuppressions(endingBy: endingBy)
    }
    func window(rule: String, key: String) throws -> WindowState? { try backing.window(rule: rule, key: key) }
    func setWindow(rule: String, key: String, _ state: WindowState?) throws { try backing.setWindow(rule: rule, key: key, state) }
    func lastSeen(rule: String, key: String, value: String) throws -> (time: Int64?, keyKnown: Bool) {
        try backing.lastSeen(rule: rule, key: key, value: value)
    }
    func setLastSeen(rule: String, key: String, value: String, time: Int64) throws {
        try backing.setLastSeen(rule: rule, key: key, value: value, time: time)
    }
    func record(_ alert: Alert) throws -> Bool { try backing.record(alert) }
    func record(_ alert: Alert, recordIndexes: [Int]) throws -> Bool { try backing.record(alert, recordIndexes: recordIndexes) }
    func expire(windowsBefore: Int64, firstSeenBefore: Int64?) throws {
        try backing.expire(windowsBefore: windowsBefore, firstSeenBefore: firstSeenBefore)
    }
}
