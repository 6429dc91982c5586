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
/// `@unchecked Sendable`: the parts are confined to the thread that runs ``runOnce()`` or
/// ``runForever(onReady:heartbeat:)`` (set ``sinks``, ``alertRetryInterval`` and ``onProgress``
/// before it starts); other threads use only ``stats``, ``requestStop()``, ``reloadRules()`` and
/// ``ruleSet``, which are protected by their own locks.
package final class Ingestor: @unchecked Sendable {
    package let config: IngestConfig
    package let stats = StatsBox()
    let logger: Logger
    let store: LogStore
    /// Finds the files to take and keeps what is known of each.
    let watcher: Watcher
    /// Decodes and commits the files found.
    let pipeline: Pipeline
    /// Alert delivery and sink health.
    let outbox: Outbox
    /// What the continuous digest checks know, when keys were given.
    let integrity: IntegrityMonitor?
    /// Runs the digest checks, when keys were given.
    let integrityChecks: IntegrityScheduler?
    private let stop = StopFlag()
    private let rules = Mutex<RuleSet?>(nil)
    private var lastRetention: Double = 0

    /// Seconds between checks that the state directory and its databases are still the files opened.
    package var stateCheckInterval: Double = 5

    /// Where alerts go (journald by default).
    package var sinks: [any AlertSink] {
        get { outbox.sinks }
        set { outbox.sinks = newValue }
    }

    /// Seconds between delivery retries while an alert waits for a sink.
    package var alertRetryInterval: Double {
        get { outbox.retryInterval }
        set { outbox.retryInterval = newValue }
    }

    /// Called after each file with the stats (for progress and sd_notify).
    package var onProgress: (@Sendable (IngestStats) -> Void)? {
        get { pipeline.onProgress }
        set { pipeline.onProgress = newValue }
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
            let ring: PublicKeyRing
            do { ring = try PublicKeyRing(json: try Posix.readFile(path)) } catch {
                throw IngestFailure(.unreadable, "\(path): \(error)")
            }
            integrity = IntegrityMonitor(keys: ring, slackMs: config.digestSlackMs, logger: logger)
        } else {
            integrity = nil
        }
        // Last: a start that fails on its settings leaves no state directory behind.
        store = try LogStore(
            stateDirectory: config.stateDirectory, groupTemplate: config.groupTemplate, retentionDays: config.retentionDays)
        let inHand = try InHand(directory: config.stateDirectory + "/in-hand")
        outbox = Outbox(store: store, logger: logger, stats: stats)
        watcher = Watcher(config: config, logger: logger, stats: stats, store: store, integrity: integrity)
        pipeline = Pipeline(
            config: config, logger: logger, stats: stats, store: store, watcher: watcher, outbox: outbox, integrity: integrity,
            inHand: inHand, stop: stop)
        integrityChecks = integrity.map { [store, outbox] in IntegrityScheduler(monitor: $0, store: store, outbox: outbox, logger: logger) }
    }

    /// Loads every account's ledger into memory (start-up).
    package func loadLedger() throws {
        for account in store.accounts() {
            let s = try store.account(account)
            watcher.known.merge(try s.ledger()) { $1 }
        }
        pipeline.recoverInHand()
    }

    package var ledgerSize: Int { watcher.known.count }

    /// Watches a folder (see ``Watcher/watch(_:root:relative:)``).
    package func watch(_ inotify: Inotify, root: String, relative rel: String) { watcher.watch(inotify, root: root, relative: rel) }

    // MARK: The loop

    /// Ends open suppression periods (summaries) for every account, then delivers.
    func flushRules() {
        guard let set = ruleSet else { return }
        let engine = RuleEngine(ruleSet: set, latenessMs: config.latenessMs)
        for a in store.accounts() {
            guard let s = try? store.account(a) else { continue }
            do {
                _ = try s.withRuleState(now: Posix.nowMillis()) { try engine.flush(store: $0, before: nil) }
            } catch {
                logger.error("rule flush failed: \(error)", metadata: ["account": "\(a)"])
            }
            outbox.deliverPending(s)
        }
    }

    /// Processes what is there now and returns (backfill, `--once`).
    package func runOnce() throws -> IngestStats {
        try loadLedger()
        outbox.deliverAll()
        pipeline.process(watcher.scan(), rules: ruleSet, final: true)
        if let stopped = pipeline.stopped { throw stopped }
        integrityChecks?.run(ledger: watcher.known)
        flushRules()
        applyRetentionIfDue(force: true)
        let left = outbox.deliverAll(recovering: false)
        stats.update { $0.alertsPending = left }
        return stats.snapshot
    }

    /// Runs until ``requestStop()``: start-up scan, then inotify events, pending retries and periodic rescans.
    /// `onReady` is called once the start-up scan is processed; `heartbeat` on every loop turn.
    package func runForever(onReady: () -> Void, heartbeat: () -> Void) throws {
        try loadLedger()
        outbox.deliverAll()
        try watcher.startWatching()
        integrity?.tolerateMirrorLag = true
        pipeline.process(watcher.scan(), rules: ruleSet, final: false)
        integrityChecks?.run(ledger: watcher.known)
        onReady()
        var lastAlertRetry = Posix.monotonicSeconds()
        var lastStateCheck = lastAlertRetry
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
            let jobs = watcher.poll(timeoutMs: 250)
            let now = Posix.monotonicSeconds()
            if outbox.undelivered && now - lastAlertRetry >= outbox.retryInterval {
                lastAlertRetry = now
                outbox.deliverAll(recovering: false)
            }
            pipeline.process(jobs, rules: ruleSet, final: false)
            integrityChecks?.runIfDue(now: now, ledger: watcher.known)
            applyRetentionIfDue(force: false)
        }
    }

    /// Removes events past the retention, once an hour (`force`: now).
    func applyRetentionIfDue(force: Bool) {
        let now = Posix.monotonicSeconds()
        guard config.retentionDays != nil, force || now - lastRetention >= 3600 else { return }
        lastRetention = now
        for account in store.accounts() {
            do {
                let removed = try store.account(account).applyRetention(now: Posix.nowMillis())
                if removed > 0 { logger.info("retention removed \(removed) events", metadata: ["account": "\(account)"]) }
            } catch {
                logger.error("retention failed: \(error)", metadata: ["account": "\(account)"])
            }
        }
    }
}
