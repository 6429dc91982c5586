import AlertModel
import Alerts
import LogStore
import Logging
import Posix

/// Delivers recorded alerts from the accounts' outboxes to the sinks, and keeps each sink's health.
///
/// Alerts are recorded in the outbox with the file (or digest check) that produced them, then sent;
/// each sink's receipt is recorded, so a crash between the two sends nothing twice that a sink can
/// vouch for (``deliverAll(recovering:)`` at start). A sink that fails holds back only itself.
/// When every sink can vouch for what it took (``AlertSink/answersDelivered``), the receipts of
/// fresh alerts are not written in a transaction of their own but kept (``unrecordedReceipts(_:)``)
/// for the next file of the account to commit with its own (``receiptsRecorded(_:)``), or written
/// before the outbox is read and at the end of each batch of files (``recordReceipts()``): the
/// window in which a crash leaves receipts unrecorded is then a few files instead of one, and the
/// sinks answer for it as before.
/// Made when a run starts and confined to the thread that runs the ``Ingestor``.
final class Outbox {
    let store: LogStore
    let logger: Logger
    let stats: StatsBox
    /// Where alerts go.
    var sinks: [any AlertSink] = []
    /// Seconds between delivery retries while an alert waits for a sink.
    var retryInterval: Double = 5
    /// Sinks whose last delivery failed (logged once when they go down and once when they are back).
    private var failingSinks: Set<String> = []
    /// Some alert waits for a sink: the loop retries delivery every ``retryInterval`` seconds.
    private(set) var undelivered = false
    /// Receipts of delivered alerts not yet written, per account: each element one delivery pass
    /// (a batch in outbox order, as ``WriteTransaction/recordDeliveries(_:)`` takes them).
    private var unrecorded: [String: (store: AccountStore, passes: [[AlertDelivery]], count: Int)] = [:]
    /// Receipts kept per account at most; more are written at once (recovery asks the sinks about
    /// each unrecorded alert, and reads a JSON-lines file's last 64 MB to answer).
    static let maxUnrecorded = 4096

    init(store: LogStore, logger: Logger, stats: StatsBox) {
        self.store = store
        self.logger = logger
        self.stats = stats
    }

    /// Sends alerts waiting in an account's outbox to every sink that has not taken them yet.
    /// A sink that fails holds back only itself (in order: it gets no later alert in this pass); the
    /// others go on. A sink known to be down is tried again only by `probe` passes (start, and the
    /// loop's retry every ``retryInterval`` seconds), not after every file.
    /// `recovering`: a crash may have come between sends and their record. A sink gets alerts in
    /// outbox order, so it is asked about its unrecorded alerts in order until the first it lacks.
    /// Returns the number of alerts still pending.
    @discardableResult
    func deliverPending(_ s: AccountStore, recovering: Bool = false, probe: Bool = false) -> Int {
        var left = 0
        do {
            // The outbox must know every receipt before it is read, or it would send again.
            try recordReceipts(s.account)
            var down = probe ? [] : failingSinks.intersection(sinks.map(\.name))
            var stillAsking: Set<String> = recovering ? Set(sinks.map(\.name)) : []
            var after: Int64 = 0
            // Page through the whole outbox: alerts beyond a page still reach the sinks that work.
            while sinks.isEmpty || down.count < sinks.count {
                let page = try s.pendingAlerts(after: after, decodeFor: Set(sinks.map(\.name)).subtracting(down))
                guard let last = page.last else { break }
                after = last.seq
                left += try deliver(page, s, down: &down, stillAsking: &stillAsking)
            }
            if down.count == sinks.count, !sinks.isEmpty { left = max(left, try s.pendingAlertCount()) }
        } catch {
            logger.error("alert outbox: \(error)", metadata: ["account": "\(s.account)"])
        }
        if left > 0 { undelivered = true }
        return left
    }

    /// Alerts a file just recorded (with their outbox places): straight from memory when nothing
    /// older waits in any outbox (they are then next in outbox order), else through the outbox.
    func deliverFresh(_ alerts: [PendingAlert], _ s: AccountStore) {
        guard !alerts.isEmpty else { return }
        guard !undelivered, !alerts.contains(where: { $0.seq == 0 }) else {
            deliverPending(s)
            return
        }
        var down = failingSinks.intersection(sinks.map(\.name))
        var none: Set<String> = []
        do {
            if try deliver(alerts, s, down: &down, stillAsking: &none, keepReceipts: true) > 0 { undelivered = true }
        } catch {
            undelivered = true
            logger.error("alert outbox: \(error)", metadata: ["account": "\(s.account)"])
        }
    }

    /// Sends a batch (in outbox order) to each sink that lacks each alert, each sink its alerts in
    /// one ``AlertSink/send(batch:)``, then records the outcome in one transaction (`keepReceipts`,
    /// when every sink can vouch for what it took: kept for a later transaction). A sink that fails
    /// gets none of the batch's later alerts. Returns how many alerts some sink still lacks.
    private func deliver(
        _ batch: [PendingAlert], _ s: AccountStore, down: inout Set<String>, stillAsking: inout Set<String>, keepReceipts: Bool = false
    ) throws -> Int {
        var took = [[String]](repeating: [], count: batch.count)
        for sink in sinks where !down.contains(sink.name) {
            var sending: [Int] = []
            for (k, p) in batch.enumerated() where p.alert != nil && !p.deliveredTo.contains(sink.name) {
                if sending.isEmpty, stillAsking.contains(sink.name) {
                    // Recovering: the sink may have alerts whose receipt a crash lost, in order.
                    if sink.delivered(p.id) {
                        took[k].append(sink.name)
                        continue
                    }
                    stillAsking.remove(sink.name)
                }
                sending.append(k)
            }
            guard !sending.isEmpty else { continue }
            let (taken, error) = sink.send(batch: sending.map { batch[$0].alert! })
            for k in sending.prefix(taken) { took[k].append(sink.name) }
            if let error {
                down.insert(sink.name)
                stats.update { $0.alertErrors += 1 }
                sinkFailed(sink.name, alert: batch[sending[min(taken, sending.count - 1)]].alert!, error: error)
            } else {
                sinkRecovered(sink.name)
            }
        }
        var outcomes: [AlertDelivery] = []
        var left = 0
        var complete = 0
        for (k, p) in batch.enumerated() {
            let done = sinks.allSatisfy { p.deliveredTo.contains($0.name) || took[k].contains($0.name) }
            if done || !took[k].isEmpty {
                outcomes.append(AlertDelivery(seq: p.seq, id: p.id, sinks: took[k], complete: done, hadReceipts: !p.deliveredTo.isEmpty))
            }
            if done { complete += 1 } else { left += 1 }
        }
        if complete > 0 { stats.update { $0.alerts += complete } }
        guard !outcomes.isEmpty else { return left }
        if keepReceipts, !sinks.isEmpty, sinks.allSatisfy(\.answersDelivered) {
            var kept = unrecorded[s.account] ?? (s, [], 0)
            kept.passes.append(outcomes)
            kept.count += outcomes.count
            unrecorded[s.account] = kept
            if kept.count > Self.maxUnrecorded { try recordReceipts(s.account) }
        } else {
            try s.recordDeliveries(outcomes)
        }
        return left
    }

    /// The receipts kept for `account`, for its next file's transaction to record
    /// (``WriteTransaction/recordDeliveries(_:)`` on each); ``receiptsRecorded(_:)`` once it committed.
    func unrecordedReceipts(_ account: String) -> [[AlertDelivery]] { unrecorded[account]?.passes ?? [] }

    /// The first `passes` of ``unrecordedReceipts(_:)`` were committed.
    func receiptsRecorded(_ account: String, passes: Int) {
        guard passes > 0, var kept = unrecorded[account] else { return }
        kept.count -= kept.passes.prefix(passes).reduce(0) { $0 + $1.count }
        kept.passes.removeFirst(min(passes, kept.passes.count))
        unrecorded[account] = kept.passes.isEmpty ? nil : kept
    }

    /// Writes the receipts kept for `account` (every account when nil) in one transaction each.
    /// What cannot be written stays kept (and is retried); the error is logged and, for one
    /// account, thrown, since its outbox must not be read without them.
    func recordReceipts(_ account: String? = nil) throws {
        for (a, kept) in unrecorded where account == nil || a == account {
            do {
                try kept.store.write(now: Posix.nowMillis()) { tx in
                    for pass in kept.passes { try tx.recordDeliveries(pass) }
                }
                unrecorded[a] = nil
            } catch {
                logger.error("alert outbox: could not record deliveries: \(error)", metadata: ["account": "\(a)"])
                if account != nil { throw error }
            }
        }
    }

    /// Logs a sink going down once (not once per alert), and keeps the outbox retried until it is back.
    private func sinkFailed(_ name: String, alert: Alert, error: any Error) {
        undelivered = true
        guard failingSinks.insert(name).inserted else { return }
        logger.error(
            "could not deliver alert \(alert.alertID) (\(alert.rule)) to \(name): \(error); alerts for \(name) stay in the outbox and are retried every \(Int(retryInterval)) s",
            metadata: ["rule": "\(alert.rule)", "sink": "\(name)"])
    }

    private func sinkRecovered(_ name: String) {
        guard failingSinks.remove(name) != nil else { return }
        logger.notice("alert sink \(name) takes alerts again: delivering what waited", metadata: ["sink": "\(name)"])
    }

    /// Delivers every account's pending alerts (at start: what a crash left behind).
    /// Returns the number of alerts still pending.
    @discardableResult
    func deliverAll(recovering: Bool = true) -> Int {
        try? recordReceipts()
        var left = 0
        for a in store.accounts() {
            if let s = try? store.account(a) { left += deliverPending(s, recovering: recovering, probe: true) }
        }
        undelivered = left > 0
        return left
    }

}
