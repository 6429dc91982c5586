import AlertModel
import CloudTrail
import LogStore
import Logging
import Posix
import Rules

/// Runs the continuous digest checks: digests with news, then overdue ones, at most once a second
/// in the loop; their alerts are recorded in the outbox and delivered like any other.
///
/// The ``IntegrityMonitor`` it drives learns of digests and log files from the watcher and the
/// pipeline as they see them. Confined to the thread that runs the ``Ingestor``.
final class IntegrityScheduler {
    let monitor: IntegrityMonitor
    let store: LogStore
    let outbox: Outbox
    let logger: Logger
    private var lastRun = 0.0

    init(monitor: IntegrityMonitor, store: LogStore, outbox: Outbox, logger: Logger) {
        self.monitor = monitor
        self.store = store
        self.outbox = outbox
        self.logger = logger
    }

    /// Runs the checks if a second has passed since the last run.
    func runIfDue(now: Double, ledger: [String: LedgerEntry]) {
        guard now - lastRun >= 1 else { return }
        lastRun = now
        run(ledger: ledger)
    }

    /// Checks digests with news and overdue ones; alerts go through the outbox. `ledger` lists the
    /// log files taken, for the digests' log-hash checks.
    func run(ledger: [String: LedgerEntry]) {
        // The log files by account and region, built only if a digest group is due for a check.
        var byGroup: [String: [String]]? = nil
        let logs = { (account: String, region: String) -> [String] in
            if byGroup == nil {
                var groups: [String: [String]] = [:]
                for (key, entry) in ledger where entry.status == .done || entry.status == .failed {
                    guard let slash = key.firstIndex(of: "/") else { continue }
                    let rel = String(key[key.index(after: slash)...])
                    if case .log(let k) = ObjectKeyParser.classify(rel) { groups["\(k.account)|\(k.region)", default: []].append(rel) }
                }
                byGroup = groups
            }
            return byGroup?["\(account)|\(region)"] ?? []
        }
        let found = monitor.check(store: store, logs: logs) + monitor.overdue(now: Posix.nowMillis(), store: store)
        var touched: [String: AccountStore] = [:]
        for (s, a) in found {
            do {
                if try s.withRuleState(now: Posix.nowMillis(), { try $0.record(a) }) {
                    logger.warning("\(a.message)", metadata: ["rule": "\(a.rule)"])
                }
            } catch {
                logger.error("integrity alert not recorded: \(error)")
            }
            touched[s.account] = s
        }
        for s in touched.values { outbox.deliverPending(s) }
    }
}
