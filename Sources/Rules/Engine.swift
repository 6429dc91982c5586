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
        // Suppression periods are read and written once per key and file, not once per hit (an
        // alert storm suppresses thousands of hits per file under a few keys).
        let store = SuppressionCache(backing)
        var out: [Alert] = []
        // Thresholds: all hits of a group at once, so a file is one state update per group.
        var grouped: [String: [RuleHit]] = [:]
        var order: [String] = []
        for h in hits {
            let rule = ruleSet.rules[h.rule].rule
            if rule.threshold != nil {
                let k = "\(h.rule)\u{1E}\(h.group)"
                if grouped[k] == nil { order.append(k) }
                grouped[k, default: []].append(h)
            } else if let f = rule.firstSeen {
                guard let value = h.value else { continue }
                let (last, keyKnown) = try store.lastSeen(rule: rule.name, key: h.group, value: value)
                try store.setLastSeen(rule: rule.name, key: h.group, value: value, time: max(last ?? h.eventTime, h.eventTime))
                let isNew = last.map { h.eventTime - $0 > f.periodMs } ?? true
                if isNew && keyKnown {
                    try emit(alert(h, ids: [h.eventID], count: 1, logFile: logFile, records: [h.raw]), hit: h, store: store, into: &out)
                }
            } else {
                try emit(alert(h, ids: [h.eventID], count: 1, logFile: logFile, records: [h.raw]), hit: h, store: store, into: &out)
            }
        }
        for k in order {
            let hs = grouped[k]!
            try threshold(hs, logFile: logFile, store: store, into: &out)
        }
        try store.writeBack()
        return out
    }

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
            let records = cluster.compactMap { raws[state.events[$0].id]?.raw }.filter { !$0.isEmpty }.prefix(3)
            var a = alert(sample, ids: ids, count: ids.count, logFile: logFile, records: Array(records))
            a.eventTime = Timestamp.formatISO8601(first.t)
            a.message = Template.render(r.message ?? "{rule}: {count} events of {event_name} by {principal} within \(t.windowMs / 60_000) min", context: sample.context, rule: r.name, count: ids.count) { _ in nil }
            try emit(a, hit: sample, store: store, into: &out)
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
            alertID: MessageID.derive(r.name + "\u{1F}" + h.context.account + "\u{1F}" + ids.sorted().joined(separator: ",")),
            records: records,
            extra: h.context.principalAccount.isEmpty ? [:] : ["PRINCIPAL_ACCOUNT": h.context.principalAccount])
    }

    /// Applies suppression and records the alert (skipping ids recorded before).
    func emit<B>(_ a: Alert, hit: RuleHit, store: SuppressionCache<B>, into out: inout [Alert]) throws {
        let rule = ruleSet.rules[hit.rule].rule
        if let s = rule.suppression, let key = hit.suppressionKey {
            let t = Timestamp.parseISO8601(a.eventTime) ?? hit.eventTime
            // In place: a busy period's id list is not copied for every suppressed hit.
            let (suppressed, summary) = try store.modify(rule: rule.name, key: key) { open -> (Bool, Alert?) in
                guard open != nil else { return (false, nil) }
                guard t < open!.until else { return (false, Self.summary(open!, rule: rule.name, key: key)) }
                open!.suppressed += a.count
                open!.eventIDs += a.eventIDs
                guard open!.eventIDs.count >= SuppressionState.maxEventIDs else { return (true, nil) }
                // A full summary goes out now; the period goes on.
                let full = Self.summary(open!, rule: rule.name, key: key)
                open!.suppressed = 0
                open!.eventIDs.removeAll(keepingCapacity: true)
                return (true, full)
            }
            if let summary, try store.record(summary) { out.append(summary) }
            if suppressed { return }
            guard try store.record(a) else { return }
            out.append(a)
            try store.setSuppression(rule: rule.name, key: key, SuppressionState(until: t + s.periodMs, suppressed: 0, eventIDs: [], first: a))
            return
        }
        if try store.record(a) { out.append(a) }
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

/// Holds the suppression periods one ``RuleEngine/process`` call touches and writes each back
/// once; everything else goes straight to the backing store.
final class SuppressionCache<Backing: RuleStateStore>: RuleStateStore {
    let backing: Backing
    var cached: [String: (rule: String, key: String, state: SuppressionState?, dirty: Bool)] = [:]

    init(_ backing: Backing) { self.backing = backing }

    func writeBack() throws {
        for (k, c) in cached where c.dirty {
            try backing.setSuppression(rule: c.rule, key: c.key, c.state)
            cached[k]?.dirty = false
        }
    }

    func suppression(rule: String, key: String) throws -> SuppressionState? {
        let k = rule + "\u{1E}" + key
        if let c = cached[k] { return c.state }
        let s = try backing.suppression(rule: rule, key: key)
        cached[k] = (rule, key, s, false)
        return s
    }
    func setSuppression(rule: String, key: String, _ state: SuppressionState?) throws {
        cached[rule + "\u{1E}" + key] = (rule, key, state, true)
    }
    /// Runs `body` on the period in place (read once from the backing store), marking it written.
    func modify<R>(rule: String, key: String, _ body: (inout SuppressionState?) throws -> R) throws -> R {
        let k = rule + "\u{1E}" + key
        if cached[k] == nil { cached[k] = (rule, key, try backing.suppression(rule: rule, key: key), false) }
        cached[k]!.dirty = true
        return try body(&cached[k]!.state)
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
    func expire(windowsBefore: Int64, firstSeenBefore: Int64?) throws {
        try backing.expire(windowsBefore: windowsBefore, firstSeenBefore: firstSeenBefore)
    }
}
