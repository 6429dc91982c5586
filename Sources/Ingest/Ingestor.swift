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
    /// Files in hand when a previous process died (ledger key → deaths): retried first, alone.
    var suspects: [String: Int] = [:]
    let inHand: InHand
    /// Alert delivery and sink health.
    let outbox: Outbox
    /// Seconds between delivery retries while an alert waits for a sink.
    package var alertRetryInterval: Double {
        get { outbox.retryInterval }
        set { outbox.retryInterval = newValue }
    }

    /// Why a one-shot run stopped early (a full or read-only state directory), if it did.
    var stopped: StoreError? = nil
    /// Seconds between checks that the state directory and its databases are still the files opened.
    package var stateCheckInterval: Double = 5

    private let stopFlag = Mutex(false)
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
    package var stopRequested: Bool { stopFlag.withLock { $0 } }
    /// Asks the loop to stop after the file in hand.
    package func requestStop() { stopFlag.withLock { $0 = true } }

    /// What the continuous digest checks know, when keys were given.
    let integrity: IntegrityMonitor?
    /// Runs the digest checks, when keys were given.
    let integrityChecks: IntegrityScheduler?

    /// Called after each file with the stats (for progress and sd_notify).
    package var onProgress: (@Sendable (IngestStats) -> Void)? = nil

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
        inHand = try InHand(directory: config.stateDirectory + "/in-hand")
        outbox = Outbox(store: store, logger: logger, stats: stats)
        watcher = Watcher(config: config, logger: logger, stats: stats, store: store, integrity: integrity)
        integrityChecks = integrity.map { [store, outbox, logger] in IntegrityScheduler(monitor: $0, store: store, outbox: outbox, logger: logger) }
    }

    /// Loads every account's ledger into memory (start-up).
    package func loadLedger() throws {
        for account in store.accounts() {
            let s = try store.account(account)
            watcher.known.merge(try s.ledger()) { $1 }
        }
        recoverInHand()
    }

    package var ledgerSize: Int { watcher.known.count }

    /// Watches a folder (see ``Watcher/watch(_:root:relative:)``).
    package func watch(_ inotify: Inotify, root: String, relative rel: String) { watcher.watch(inotify, root: root, relative: rel) }

    // MARK: Processing

    /// Decodes jobs on worker threads while this thread commits them in order, one transaction per file.
    /// `final`: incomplete files are reported instead of kept pending (used by `--once`).
    func process(_ jobs: [Job], final: Bool) {
        guard !jobs.isEmpty else { return }
        if jobs.count > 1, jobs.contains(where: { suspects[$0.ledgerKey] != nil }) {
            // Files in hand at a death go first, one at a time: a second death names the culprit.
            let (alone, rest) = (jobs.filter { suspects[$0.ledgerKey] != nil }, jobs.filter { suspects[$0.ledgerKey] == nil })
            for j in alone where !stopRequested { process([j], final: final) }
            process(rest, final: final)
            return
        }
        let notes = jobs.map { InHand.Entry(ledgerKey: $0.ledgerKey, account: $0.key.account, path: $0.readPath, deaths: suspects[$0.ledgerKey] ?? 0) }
        for j in jobs { watcher.inFlight.insert(j.ledgerKey) }
        stats.update { $0.queued += jobs.count }
        let results = OrderedResults<(Job, Result<MatchedFile, IngestFailure>)>(count: jobs.count, window: 4)
        let stop: @Sendable () -> Bool = { [self] in stopRequested }
        let ruleSet = self.ruleSet
        for t in 0..<min(config.decoders, jobs.count) {
            let slot = inHand.slot("decoder-\(t)")
            startThread {
                // Check for a stop before claiming: a claimed index is always delivered, or the
                // committer would wait for it forever.
                while !stop(), let k = results.claim() {
                    let job = jobs[k]
                    if let failure = self.takeInHand(slot, notes[k]) {
                        results.put(k, (job, .failure(failure)))
                        continue
                    }
                    let decoded = FileDecoder.decode(path: job.readPath, ledgerKey: job.ledgerKey, key: job.key, rules: ruleSet, limits: self.config.limits)
                    slot.clear()
                    results.put(k, (job, decoded))
                }
                if stop() { results.stop() }
            }
        }
        var handled = 0
        let committing = inHand.slot("committer")
        while let (job, result) = results.take() {
            if case .success = result { _ = takeInHand(committing, notes[handled]) }
            handled += 1
            watcher.inFlight.remove(job.ledgerKey)
            stats.update { $0.queued -= 1 }
            handle(job, result, final: final)
            committing.clear()
            suspects.removeValue(forKey: job.ledgerKey)
            onProgress?(stats.snapshot)
        }
        // Jobs not reached because of a stop stay unledgered: the next start takes them.
        for job in jobs.dropFirst(handled) { watcher.inFlight.remove(job.ledgerKey) }
        stats.update { $0.queued -= jobs.count - handled }
    }

    func handle(_ job: Job, _ result: Result<MatchedFile, IngestFailure>, final: Bool) {
        switch result {
        case .success(var file):
            file.matchDeferredRules()
            do {
                let s = try store.account(job.key.account)
                let committer = Committer(engine: file.ruleSet.map { RuleEngine(ruleSet: $0, latenessMs: config.latenessMs) })
                let (r, produced) = try committer.commit(file, to: s, logFile: job.found.absolute, now: Posix.nowMillis())
                if !produced.isEmpty { outbox.deliverFresh(produced, s) }
                watcher.known[job.ledgerKey] = LedgerEntry(path: job.ledgerKey, status: .done, size: file.size, mtime: file.mtime)
                watcher.pending.removeValue(forKey: job.ledgerKey)
                if r.sameContent {
                    logger.info(
                        "\(job.found.absolute): changed on disk after it was ingested (size or mtime) but its bytes are the same: nothing new",
                        metadata: ["file": "\(job.found.absolute)", "reason": "touched_after_ingest"])
                    return
                }
                if let rw = r.rewrite { reportRewrite(job, file.file, rw) }
                integrity?.logAdded(root: job.found.root, key: job.key, store: store)
                stats.update {
                    $0.filesIngested += 1
                    $0.recordsRead += file.records.count
                    $0.eventsStored += r.stored
                    $0.duplicates += r.duplicates
                    $0.bytesCompressed += file.compressed.count
                    $0.recordsMissingFields += file.missingFields
                    $0.oversizedEvents += file.oversized
                    $0.skippedElements += file.skippedElements
                    $0.invalidRecords += file.invalidRecords
                    $0.nonUTF8Records += file.nonUTF8Records
                    $0.pending = watcher.pending.count
                }
                if file.missingFields > 0 || file.skippedElements > 0 {
                    logger.warning(
                        "\(job.found.absolute): \(file.missingFields) records lack eventID or eventTime (kept), \(file.skippedElements) Records elements are not objects (skipped)",
                        metadata: ["file": "\(job.found.absolute)", "reason": "record_missing_fields"])
                }
                if !file.recordProblems.isEmpty { logRecordProblems(file.file, path: job.found.absolute) }
                if file.oversized > 0 {
                    logger.notice(
                        "\(job.found.absolute): \(file.oversized) records exceed CloudWatch's 256 KB event size (kept)",
                        metadata: ["file": "\(job.found.absolute)", "reason": "oversized_event"])
                }
            } catch {
                if final, let fatal = StoreError.storeWide(error, stateDirectory: config.stateDirectory) {
                    // A one-shot run stops at the first full-disk (or read-only) error: every
                    // further file would fail the same way. The file stays unledgered for the next run.
                    stopped = fatal
                    requestStop()
                    return
                }
                fail(job, IngestFailure(.storeError, "could not store: \(error)"), ledger: false)
            }
        case .failure(let failure):
            if failure.mayBeIncomplete {
                let (size, mtime) = Posix.status(job.readPath) ?? (-1, -1)
                if final {
                    stats.update { $0.incomplete += 1 }
                    logger.warning(
                        "\(job.found.absolute): \(failure.reason); not ledgered, retried on the next run",
                        metadata: ["file": "\(job.found.absolute)", "reason": "\(failure.code.rawValue)"])
                    return
                }
                let now = Posix.monotonicSeconds()
                if let p = watcher.pending[job.ledgerKey], p.size == size, p.mtime == mtime {
                    if now - p.since >= config.incompleteTimeout {
                        watcher.pending.removeValue(forKey: job.ledgerKey)
                        fail(job, IngestFailure(failure.code, failure.reason + " and unchanged for \(Int(config.incompleteTimeout)) s"), ledger: true)
                    }
                } else {
                    watcher.pending[job.ledgerKey] = (job, size, mtime, now)
                    logger.debug("incomplete, will retry", metadata: ["file": "\(job.found.absolute)", "reason": "\(failure.reason)"])
                }
                stats.update { $0.pending = watcher.pending.count }
                return
            }
            let ledger = failure.code != .unreadable && failure.code != .storeError
            fail(job, failure, ledger: ledger)
        }
    }

    /// Logs and counts a file rewritten in place after it was ingested: never silent, digests or not.
    func reportRewrite(_ job: Job, _ file: DecodedFile, _ rw: Rewrite) {
        stats.update {
            $0.rewritten += 1
            $0.rewrittenEventsStored += rw.added
        }
        var what = "\(rw.added) new events stored, \(rw.unchanged) records as before"
        if rw.changed > 0 { what += ", \(rw.changed) records changed (the version first stored is kept)" }
        if let removed = rw.removed, removed > 0 { what += ", \(removed) records gone from it (still stored)" }
        if rw.removed == nil { what += " (the first content has expired and cannot be compared)" }
        logger.warning(
            "\(job.found.absolute): rewritten in place after it was ingested (\(rw.previousSize) bytes, now \(file.size); rewrite \(rw.count)): \(what)",
            metadata: [
                "file": "\(job.found.absolute)", "reason": "rewritten_after_ingest", "added": "\(rw.added)", "changed": "\(rw.changed)",
            ])
    }

    func fail(_ job: Job, _ failure: IngestFailure, ledger: Bool) {
        if let previous = job.previous, failure.code != .storeError, failure.code != .unreadable {
            // A file taken before, rewritten with content that cannot be read: what was stored stays;
            // say so once, count it, and look again only when it changes again.
            let (size, mtime) = Posix.status(job.readPath) ?? (-1, -1)
            watcher.known[job.ledgerKey] = LedgerEntry(path: job.ledgerKey, status: .done, size: size, mtime: mtime)
            do {
                try store.account(job.key.account).recordUnreadableRewrite(
                    ledgerKey: job.ledgerKey, size: size, mtime: mtime, reason: "\(failure.code.rawValue): \(failure.reason)")
            } catch {
                logger.error("could not record the rewrite in the ledger: \(error)", metadata: ["file": "\(job.found.absolute)"])
            }
            stats.update {
                $0.errors[failure.code, default: 0] += 1
                $0.rewritten += 1
            }
            logger.error(
                "\(job.found.absolute): rewritten in place after it was ingested (\(previous.size) bytes, now \(size)), and the new content cannot be taken: \(failure.reason); the events stored from it before stay",
                metadata: ["file": "\(job.found.absolute)", "reason": "\(failure.code.rawValue)"])
            return
        }
        if ledger {
            ledgerFailure(job.ledgerKey, account: job.key.account, path: job.found.absolute, readPath: job.readPath, failure)
        } else {
            watcher.reportOnce(job.ledgerKey, job.found.absolute, failure)
        }
    }

    /// Ledgers a file as failed (skipped until it changes), with one log line and a counter.
    func ledgerFailure(_ ledgerKey: String, account: String, path: String, readPath: String, _ failure: IngestFailure) {
        let (size, mtime) = Posix.status(readPath) ?? (-1, -1)
        watcher.known[ledgerKey] = LedgerEntry(path: ledgerKey, status: .failed, size: size, mtime: mtime, reason: failure.reason)
        do {
            try store.account(account).recordFailure(
                ledgerKey: ledgerKey, size: size, mtime: mtime, reason: "\(failure.code.rawValue): \(failure.reason)")
        } catch {
            logger.error("could not record failure in the ledger: \(error)", metadata: ["file": "\(path)"])
        }
        stats.update { $0.errors[failure.code, default: 0] += 1 }
        logger.error("\(path): \(failure.reason)", metadata: ["file": "\(path)", "reason": "\(failure.code.rawValue)"])
    }

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
        process(watcher.scan(), final: true)
        if let stopped { throw stopped }
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
        process(watcher.scan(), final: false)
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
            process(jobs, final: false)
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
