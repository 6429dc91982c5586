import AlertModel
import Alerts
import LogStore
import Logging

/// Delivers recorded alerts from the accounts' outboxes to the sinks, and keeps each sink's health.
///
/// Alerts are recorded in the outbox with the file (or digest check) that produced them, then sent;
/// each sink's receipt is recorded, so a crash between the two sends nothing twice that a sink can
/// vouch for (``deliverAll(recovering:)`` at start). A sink that fails holds back only itself.
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

    /// Alerts a file just recorded: straight from memory when nothing older waits in any outbox
    /// (they are then next in outbox order), else through the outbox.
    func deliverFresh(_ alerts: [Alert], _ s: AccountStore) {
        guard !undelivered else {
            deliverPending(s)
            return
        }
        var down = failingSinks.intersection(sinks.map(\.name))
        var none: Set<String> = []
        do {
            let batch = alerts.map { PendingAlert(seq: 0, id: $0.alertID, deliveredTo: [], alert: $0) }
            if try deliver(batch, s, down: &down, stillAsking: &none) > 0 { undelivered = true }
        } catch {
            undelivered = true
            logger.error("alert outbox: \(error)", metadata: ["account": "\(s.account)"])
        }
    }

    /// Sends a batch (in outbox order) to each sink that lacks each alert, then records the outcome
    /// in one transaction. Returns how many alerts some sink still lacks.
    private func deliver(_ batch: [PendingAlert], _ s: AccountStore, down: inout Set<String>, stillAsking: inout Set<String>) throws -> Int {
        var outcomes: [(id: String, sinks: [String], complete: Bool)] = []
        var left = 0
        for p in batch {
            var took: [String] = []
            if let a = p.alert {
                for sink in sinks where !p.deliveredTo.contains(sink.name) && !down.contains(sink.name) {
                    if stillAsking.contains(sink.name) {
                        if sink.delivered(a.alertID) {
                            took.append(sink.name)
                            continue
                        }
                        stillAsking.remove(sink.name)
                    }
                    do {
                        try sink.send(a)
                        took.append(sink.name)
                        sinkRecovered(sink.name)
                    } catch {
                        down.insert(sink.name)
                        stats.update { $0.alertErrors += 1 }
                        sinkFailed(sink.name, alert: a, error: error)
                    }
                }
            }
            let complete = sinks.allSatisfy { p.deliveredTo.contains($0.name) || took.contains($0.name) }
            if complete || !took.isEmpty { outcomes.append((p.id, took, complete)) }
            if complete { stats.update { $0.alerts += 1 } } else { left += 1 }
        }
        try s.recordDeliveries(outcomes)
        return left
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
        var left = 0
        for a in store.accounts() {
            if let s = try? store.account(a) { left += deliverPending(s, recovering: recovering, probe: true) }
        }
        undelivered = left > 0
        return left
    }

}
