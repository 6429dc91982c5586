import AlertModel
import Alerts
import CloudTrail
import Integrity
import Glibc
import LogStore
import Logging
import Posix
import Rules
import Synchronization

/// Settings for ingest, from the config file and flags.
package struct IngestConfig: Sendable {
    /// A mirrored bucket: its root folder and its bucket name (the folder's name unless configured).
    package struct Root: Sendable, Equatable {
        package var path: String
        package var bucket: String
        package init(path: String, bucket: String? = nil) {
            self.path = path
            self.bucket = bucket ?? String(path.split(separator: "/").last ?? "bucket")
        }
    }
    package var roots: [Root]
    package var stateDirectory: String
    package var groupTemplate = "aws-cloudtrail-logs-{account}"
    /// A file that stays truncated or empty, unchanged, this long is declared failed.
    package var incompleteTimeout: Double = 600
    /// Full rescan period: catches what inotify cannot see (NFS, FUSE, files changed while stopped).
    package var rescanInterval: Double = 300
    /// Retention in days for every group (nil: never expire).
    package var retentionDays: Int? = nil
    /// Rule directories or files (`--rules`); empty: no rules.
    package var rulePaths: [String] = []
    /// Where `rulePaths` came from (named, the config file, installed, …), for the log line saying
    /// which rules are in force; with no paths, why none were found.
    package var rulesOrigin = "as named"
    /// How late (event time) an event may arrive and still count in a window.
    package var latenessMs: Int64 = 20 * 60_000
    /// Threads decoding files (inflate, split, rule matching); commits stay on one thread, in order.
    package var decoders = 1
    /// When set, day folders (YYYY/MM/DD) older than this many days are not watched (the rescan still
    /// covers them, changes included): for mirrors whose folders exceed the kernel's watch limit.
    package var watchDays: Int? = nil
    /// `aws cloudtrail list-public-keys` output: enables continuous digest checks.
    package var keysPath: String? = nil
    /// How long after its hour a digest may come before it is overdue.
    package var digestSlackMs: Int64 = 30 * 60_000
    /// Bounds on one file's inflated size, record size and record count (gzip bombs).
    package var limits = DecodeLimits()

    package init(roots: [Root], stateDirectory: String) {
        self.roots = roots
        self.stateDirectory = stateDirectory
    }
}

/// A file ready to decode.
struct Job: Sendable {
    var found: FoundFile
    var readPath: String
    var ledgerKey: String
    var key: LogFileKey
    /// The ledger row when the file was taken before and has changed on disk since (rewritten in place).
    var previous: LedgerEntry? = nil
}

/// Takes every delivered log file under the roots exactly once into the store.
///
/// The ledger (one row per file, committed with the file's events) is the only memory of what was
/// done: no high-water mark, so files may land in any order, late, twice or in pieces.
package final class Ingestor: @unchecked Sendable {
    package let config: IngestConfig
    package let stats = StatsBox()
    let logger: Logger
    let store: LogStore
    /// Finds the files to take and keeps what is known of each.
    let watcher: Watcher

    // Touched only by the orchestrating thread.
    var lastRetention: Double = 0
    /// Decodes and commits the files found.
    let pipeline: Pipeline
    /// Alert delivery and sink health.
    let outbox: Outbox
    /// Seconds between delivery retries while an alert waits for a sink.
    package var alertRetryInterval: Double {
        get { outbox.retryInterval }
        set { outbox.retryInterval = newValue }
    }

    /// Seconds between checks that the state directory and its databases are still the files opened.
    package var stateCheckInterval: Double = 5

    private let stop = StopFlag()
    private let rules = Mutex<RuleSet?>(nil)
    /// Where alerts go (journald by default).
    package var sinks: [any AlertSink] {
        get { outbox.sinks }
        set { outbox.sinks = newValue }
    }

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
    package var stopRequested: Bool { stop.isSet }
    /// Asks the loop to stop after the file in hand.
    package func requestStop() { stop.set() }

    /// What the continuous digest checks know, when keys were given.
    let integrity: IntegrityMonitor?
    /// Runs the digest checks, when keys were given.
    let integrityChecks: IntegrityScheduler?

    /// Called after each file with the stats (for progress and sd_notify).
    package var onProgress: (@Sendable (IngestStats) -> Void)? {
        get { pipeline.onProgress }
        set { pipeline.onProgress = newValue }
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
        integrityChecks = integrity.map { [store, outbox, logger] in IntegrityScheduler(monitor: $0, store: store, outbox: outbox, logger: logger) }
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

    // MARK: Runs

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
