import Alerts
import Integrity
import LogStore
import Logging
import Posix
import Rules
import Synchronization

/// Takes every delivered log file under the roots exactly once into the store, and runs the loop
/// that ties the parts together: the ``Watcher`` finds files, the ``Pipeline`` decodes and commits
/// them (``Committer``), the ``Outbox`` delivers alerts, the ``IntegrityScheduler`` checks digests.
///
/// The ledger (one row per file, committed with the file's events) is the only memory of what was
/// done: no high-water mark, so files may land in any order, late, twice or in pieces.
///
/// The parts are made when a run starts and live on the thread that runs it; what other threads
/// touch (settings made before the run, stats, the stop request, the rules in force) is locked.
package final class Ingestor: Sendable {
    package let config: IngestConfig
    package let stats = StatsBox()
    let logger: Logger
    let store: LogStore
    let inHand: InHand
    /// The digest signers' keys, when given: enables the continuous digest checks.
    let keys: PublicKeyRing?
    private let stop = StopFlag()
    private let rules = Mutex<RuleSet?>(nil)
    private let settings = Mutex(Settings())
    private let ledgerCount = Mutex(0)

    /// What is set before a run and taken by it when it starts.
    private struct Settings {
        var sinks: [any AlertSink] = []
        var alertRetryInterval: Double = 5
        var stateCheckInterval: Double = 5
        var onProgress: (@Sendable (IngestStats) -> Void)? = nil
        var onSettled: (@Sendable ([SettledFile]) -> Void)? = nil
    }

    /// Called on the loop thread after each batch of files with those now in the ledger (done or
    /// failed): the S3 source deletes a message once every file it names is settled.
    package var onSettled: (@Sendable ([SettledFile]) -> Void)? {
        get { settings.withLock { $0.onSettled } }
        set { settings.withLock { $0.onSettled = newValue } }
    }

    /// Where alerts go (journald by default).
    package var sinks: [any AlertSink] {
        get { settings.withLock { $0.sinks } }
        set { settings.withLock { $0.sinks = newValue } }
    }

    /// Seconds between delivery retries while an alert waits for a sink.
    package var alertRetryInterval: Double {
        get { settings.withLock { $0.alertRetryInterval } }
        set { settings.withLock { $0.alertRetryInterval = newValue } }
    }

    /// Seconds between checks that the state directory and its databases are still the files opened.
    package var stateCheckInterval: Double {
        get { settings.withLock { $0.stateCheckInterval } }
        set { settings.withLock { $0.stateCheckInterval = newValue } }
    }

    /// Called after each file with the stats (for progress and sd_notify).
    package var onProgress: (@Sendable (IngestStats) -> Void)? {
        get { settings.withLock { $0.onProgress } }
        set { settings.withLock { $0.onProgress = newValue } }
    }

    package var stopRequested: Bool { stop.isSet }
    /// Asks the loop to stop after the file in hand.
    package func requestStop() { stop.set() }

    /// The rules in force.
    package var ruleSet: RuleSet? { rules.withLock { $0 } }

    /// Loads the configured rules; on errors the rules in force stay and the diagnostics are returned.
    @discardableResult
    package func reloadRules() -> (loaded: Bool, diagnostics: [Diagnostic]) {
        guard !config.rulePaths.isEmpty else {
            logger.warning("no rules loaded (\(config.rulesOrigin)): events are stored, nothing alerts")
            return (true, [])
        }
        let (set, diagnostics) = RuleLoader.load(config.rulePaths)
        for d in diagnostics where d.severity == .warning {
            logger.warning("\(d.description)", metadata: ["file": "\(d.position.file)"])
        }
        guard let set else {
            for d in diagnostics where d.severity == .error {
                logger.error("rules not loaded: \(d.description)", metadata: ["file": "\(d.position.file)", "line": "\(d.position.line)"])
            }
            return (false, diagnostics)
        }
        rules.withLock { $0 = set }
        let from = "from \(config.rulePaths.joined(separator: ", ")) (\(config.rulesOrigin))"
        if set.rules.isEmpty {
            logger.warning("loaded 0 rules \(from): no .rules file there; events are stored, nothing alerts")
        } else {
            logger.info("loaded \(set.rules.count) rules \(from)")
        }
        return (true, diagnostics)
    }

    package init(config: IngestConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        if let days = config.retentionDays, !Retention.allowedDays.contains(days) {
            throw StoreError(
                .invalidParameter,
                "retention \(days) days is not one of CloudWatch's values (\(Retention.allowedDays.map(String.init).joined(separator: ", ")))")
        }
        for root in config.roots {
            guard Posix.isDirectory(root.path) else {
                throw IngestFailure(.unreadable, "\(root.path): not a readable directory")
            }
        }
        if let path = config.keysPath {
            do { keys = try PublicKeyRing(json: try Posix.readFile(path)) } catch {
                throw IngestFailure(.unreadable, "\(path): \(error)")
            }
        } else {
            keys = nil
        }
        // Last: a start that fails on its settings leaves no state directory behind.
        store = try LogStore(
            stateDirectory: config.stateDirectory, groupTemplate: config.groupTemplate, retentionDays: config.retentionDays)
        inHand = try InHand(directory: config.stateDirectory + "/in-hand")
    }

    /// Files in the ledger, as of the start-up scan (for the daemon's ready line).
    package var ledgerSize: Int { ledgerCount.withLock { $0 } }

    /// Watches a folder as a run's watcher does (see ``Watcher/watch(_:root:relative:)``).
    package func watch(_ inotify: Inotify, root: String, relative rel: String) {
        Watcher(config: config, logger: logger, stats: stats, store: store, integrity: nil).watch(inotify, root: root, relative: rel)
    }

    // MARK: The loop

    /// The parts of one run, made when it starts; confined to the thread that runs it.
    private struct Parts {
        let watcher: Watcher
        let pipeline: Pipeline
        let outbox: Outbox
        /// What the digest checks know, and what runs them, when keys were given.
        let integrity: IntegrityMonitor?
        let integrityChecks: IntegrityScheduler?
    }

    /// Makes the parts of a run and loads every account's ledger into its watcher.
    private func start() throws -> Parts {
        let set = settings.withLock { $0 }
        let outbox = Outbox(store: store, logger: logger, stats: stats)
        outbox.sinks = set.sinks
        outbox.retryInterval = set.alertRetryInterval
        let integrity = keys.map { IntegrityMonitor(keys: $0, slackMs: config.digestSlackMs, logger: logger) }
        let watcher = Watcher(config: config, logger: logger, stats: stats, store: store, integrity: integrity)
        let pipeline = Pipeline(
            config: config, logger: logger, stats: stats, store: store, watcher: watcher, outbox: outbox, integrity: integrity,
            inHand: inHand, stop: stop)
        pipeline.onProgress = set.onProgress
        let checks = integrity.map { IntegrityScheduler(monitor: $0, store: store, outbox: outbox, logger: logger) }
        for account in store.accounts() {
            let s = try store.account(account)
            watcher.known.merge(try s.ledger()) { $1 }
        }
        pipeline.recoverInHand()
        return Parts(watcher: watcher, pipeline: pipeline, outbox: outbox, integrity: integrity, integrityChecks: checks)
    }

    /// Ends open suppression periods (summaries) for every account, then delivers.
    private func flushRules(_ outbox: Outbox) {
        guard let set = ruleSet else { return }
        let engine = RuleEngine(ruleSet: set, latenessMs: config.latenessMs)
        for a in store.accounts() {
            guard let s = try? store.account(a) else { continue }
            do {
                let summaries = try s.write(now: Posix.nowMillis()) { tx in
                    let state = TransactionRuleState(tx)
                    return state.recorded(try engine.flush(store: state, before: nil))
                }
                // Delivered from memory (read back from the outbox only if older alerts wait).
                outbox.deliverFresh(summaries, s)
            } catch {
                logger.error("rule flush failed: \(error)", metadata: ["account": "\(a)"])
                outbox.deliverPending(s)
            }
        }
    }

    /// Processes what is there now and returns (backfill, `--once`).
    package func runOnce() throws -> IngestStats {
        let p = try start()
        p.outbox.deliverAll()
        p.pipeline.process(p.watcher.scan(), rules: ruleSet, final: true)
        if let stopped = p.pipeline.stopped { throw stopped }
        p.integrityChecks?.run(ledger: p.watcher.known)
        flushRules(p.outbox)
        applyRetention()
        let left = p.outbox.deliverAll(recovering: false)
        stats.update { $0.alertsPending = left }
        return stats.snapshot
    }

    /// Runs until ``requestStop()``: start-up scan, then inotify events, pending retries and periodic rescans.
    /// `onReady` is called once the start-up scan is processed; `heartbeat` on every loop turn.
    package func runForever(onReady: () -> Void, heartbeat: () -> Void) throws {
        let p = try start()
        let stateCheckInterval = self.stateCheckInterval
        p.outbox.deliverAll()
        try p.watcher.startWatching()
        p.integrity?.tolerateMirrorLag = true
        let onSettled = settings.withLock { $0.onSettled }
        func process(_ jobs: [Job]) {
            p.pipeline.process(jobs, rules: ruleSet, final: false)
            guard let onSettled, !jobs.isEmpty else { return }
            let settled = jobs.compactMap { j in
                p.watcher.known[j.ledgerKey].map { SettledFile(ledgerKey: j.ledgerKey, done: $0.status == .done) }
            }
            if !settled.isEmpty { onSettled(settled) }
        }
        process(p.watcher.scan())
        p.integrityChecks?.run(ledger: p.watcher.known)
        ledgerCount.withLock { $0 = p.watcher.known.count }
        onReady()
        var lastAlertRetry = Posix.monotonicSeconds()
        var lastStateCheck = lastAlertRetry
        var lastRetention = 0.0
        while !stopRequested {
            heartbeat()
            if Posix.monotonicSeconds() - lastStateCheck >= stateCheckInterval {
                lastStateCheck = Posix.monotonicSeconds()
                if let lost = store.lostState() {
                    // Writing on would go into unlinked files: everything from now on would be lost
                    // and its alerts sent again after a restart. Stop; systemd restarts on a clean state.
                    let message = "state directory \(config.stateDirectory) deleted or replaced while running: \(lost); stopping (nothing more can be stored safely); the restart takes what was not stored"
                    logger.critical("\(message)", metadata: ["file": "\(config.stateDirectory)", "reason": "state_lost"])
                    throw StoreError(.stateLost, message)
                }
            }
            let jobs = p.watcher.poll(timeoutMs: 250)
            let now = Posix.monotonicSeconds()
            if p.outbox.undelivered && now - lastAlertRetry >= p.outbox.retryInterval {
                lastAlertRetry = now
                p.outbox.deliverAll(recovering: false)
            }
            process(jobs)
            p.integrityChecks?.runIfDue(now: now, ledger: p.watcher.known)
            // Every group's own retention row (the config's value, or one set through the API by
            // `trailwatch serve`) is read at each pass, so an API change takes effect within the hour.
            if Posix.monotonicSeconds() - lastRetention >= 3600 {
                lastRetention = Posix.monotonicSeconds()
                applyRetention()
            }
        }
    }

    /// Removes every account's events past the retention.
    private func applyRetention() {
        for account in store.accounts() {
            do {
                let removed = try store.account(account).applyRetention(now: Posix.nowMillis(), keepUnforwarded: config.keepUnforwarded)
                if removed > 0 { logger.info("retention removed \(removed) events", metadata: ["account": "\(account)"]) }
            } catch {
                logger.error("retention failed: \(error)", metadata: ["account": "\(account)"])
            }
        }
    }
}
