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
    /// Canonical root paths, in config order.
    let canonicalRoots: [String]

    // Touched only by the orchestrating thread.
    var known: [String: LedgerEntry] = [:]
    var inFlight: Set<String> = []
    var reported: Set<String> = []
    var pending: [String: (job: Job, size: Int64, mtime: Int64, since: Double)] = [:]
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
        canonicalRoots = config.roots.map { Scanner.realPath($0.path) ?? $0.path }
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
        integrityChecks = integrity.map { [store, outbox, logger] in IntegrityScheduler(monitor: $0, store: store, outbox: outbox, logger: logger) }
    }

    /// Loads every account's ledger into memory (start-up).
    package func loadLedger() throws {
        for account in store.accounts() {
            let s = try store.account(account)
            known.merge(try s.ledger()) { $1 }
        }
        recoverInHand()
    }

    package var ledgerSize: Int { known.count }

    // MARK: Candidates

    func rootIndex(_ found: FoundFile) -> Int { config.roots.firstIndex { $0.path == found.root } ?? 0 }

    /// Decides what to do with a found file: a job, or nothing (done already, set aside, refused).
    func candidate(_ found: FoundFile) -> Job? {
        let rootIdx = rootIndex(found)
        let bucket = config.roots[rootIdx].bucket
        let ledgerKey = bucket + "/" + found.relative
        if inFlight.contains(ledgerKey) || pending[ledgerKey] != nil { return nil }
        var previous: LedgerEntry? = nil
        if let k = known[ledgerKey], k.status == .done {
            // Taken already. Unchanged on disk: nothing to do. Rewritten in place (same name, new
            // size or mtime): the digest checks look again, and the file is read again so that its
            // new events are stored (the commit compares, dedup keeps the rest, the log says so).
            guard case .log(let key) = ObjectKeyParser.classify(found.relative),
                let now = Posix.status(found.absolute), now.size != k.size || now.mtime != k.mtime
            else { return nil }
            integrity?.logChanged(root: found.root, relative: found.relative, account: key.account, region: key.region, store: store)
            previous = k
        }
        let kind = ObjectKeyParser.classify(found.relative)
        let key: LogFileKey
        switch kind {
        case .log(let k): key = k
        case .digest(let k):
            integrity?.note(root: found.root, bucket: bucket, relative: found.relative, key: k)
            if reported.insert(ledgerKey).inserted {
                stats.update { $0.setAside += 1 }
            }
            return nil
        case .digestSidecar(let digestPath):
            integrity?.noteSidecar(root: found.root, digestPath: digestPath)
            if reported.insert(ledgerKey).inserted {
                stats.update { $0.setAside += 1 }
            }
            return nil
        case .insight:
            if reported.insert(ledgerKey).inserted {
                stats.update { $0.setAside += 1 }
                logger.debug("set aside (not a log file)", metadata: ["file": "\(found.absolute)"])
            }
            return nil
        case .temporary:
            return nil
        case .other(let reason):
            // Only report names below AWSLogs/: other files in a bucket are none of our business.
            if found.relative.contains("AWSLogs/") || found.relative.hasSuffix(".json.gz") {
                reportOnce(ledgerKey, found.absolute, IngestFailure(.badName, "not a CloudTrail log file name: \(reason)"))
            }
            return nil
        }
        var readPath = found.absolute
        if found.isSymlink {
            guard let target = Scanner.realPath(found.absolute) else {
                reportOnce(ledgerKey, found.absolute, IngestFailure(.unreadable, "symbolic link to a missing file"))
                return nil
            }
            guard Scanner.isInside(target, root: canonicalRoots[rootIdx]) else {
                reportOnce(
                    ledgerKey, found.absolute,
                    IngestFailure(.symlinkOutside, "symbolic link leads out of the bucket root (to \(target)); refused"))
                return nil
            }
            readPath = target
        }
        if let k = known[ledgerKey], k.status == .failed {
            // Retry a failed file only once it has changed.
            if let now = Posix.status(readPath), now.size == k.size, now.mtime == k.mtime { return nil }
        }
        return Job(found: found, readPath: readPath, ledgerKey: ledgerKey, key: key, previous: previous)
    }

    func reportOnce(_ ledgerKey: String, _ path: String, _ failure: IngestFailure) {
        guard reported.insert(ledgerKey).inserted else { return }
        stats.update { $0.errors[failure.code, default: 0] += 1 }
        logger.error("\(path): \(failure.reason)", metadata: ["file": "\(path)", "reason": "\(failure.code.rawValue)"])
    }

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
        for j in jobs { inFlight.insert(j.ledgerKey) }
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
            inFlight.remove(job.ledgerKey)
            stats.update { $0.queued -= 1 }
            handle(job, result, final: final)
            committing.clear()
            suspects.removeValue(forKey: job.ledgerKey)
            onProgress?(stats.snapshot)
        }
        // Jobs not reached because of a stop stay unledgered: the next start takes them.
        for job in jobs.dropFirst(handled) { inFlight.remove(job.ledgerKey) }
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
                known[job.ledgerKey] = LedgerEntry(path: job.ledgerKey, status: .done, size: file.size, mtime: file.mtime)
                pending.removeValue(forKey: job.ledgerKey)
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
                    $0.pending = pending.count
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
                if let p = pending[job.ledgerKey], p.size == size, p.mtime == mtime {
                    if now - p.since >= config.incompleteTimeout {
                        pending.removeValue(forKey: job.ledgerKey)
                        fail(job, IngestFailure(failure.code, failure.reason + " and unchanged for \(Int(config.incompleteTimeout)) s"), ledger: true)
                    }
                } else {
                    pending[job.ledgerKey] = (job, size, mtime, now)
                    logger.debug("incomplete, will retry", metadata: ["file": "\(job.found.absolute)", "reason": "\(failure.reason)"])
                }
                stats.update { $0.pending = pending.count }
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
            known[job.ledgerKey] = LedgerEntry(path: job.ledgerKey, status: .done, size: size, mtime: mtime)
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
            reportOnce(job.ledgerKey, job.found.absolute, failure)
        }
    }

    /// Ledgers a file as failed (skipped until it changes), with one log line and a counter.
    func ledgerFailure(_ ledgerKey: String, account: String, path: String, readPath: String, _ failure: IngestFailure) {
        let (size, mtime) = Posix.status(readPath) ?? (-1, -1)
        known[ledgerKey] = LedgerEntry(path: ledgerKey, status: .failed, size: size, mtime: mtime, reason: failure.reason)
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

    var watchRefused = false

    /// Watches a folder unless it is a day folder older than `watchDays`; says why if the kernel
    /// refuses (the watch limit warns once; a folder that vanished is only noted).
    package func watch(_ watcher: Inotify, root: String, relative rel: String) {
        let parts = rel.split(separator: "/")
        if let watchDays = config.watchDays, parts.count >= 3, let d = Int(parts[parts.count - 1]), let m = Int(parts[parts.count - 2]), let y = Int(parts[parts.count - 3]),
            parts[parts.count - 3].count == 4, (1...12).contains(m), (1...31).contains(d)
        {
            let day = Timestamp.daysFromCivil(Int64(y), Int64(m), Int64(d)) * 86_400_000
            if Posix.nowMillis() - day > Int64(watchDays + 1) * 86_400_000 { return }
        }
        let folder = rel.isEmpty ? root : root + "/" + rel
        guard let refused = watcher.watch(folder) else { return }
        switch refused.errno {
        case ENOENT, ENOTDIR:
            // Gone between listing and watching (a mirror tool renaming or removing it): nothing to watch.
            logger.info(
                "folder vanished before it could be watched (\(Posix.describe(refused.errno))): \(folder)",
                metadata: ["file": "\(folder)", "reason": "folder_vanished"])
        case ENOSPC where !watchRefused:
            watchRefused = true
            logger.warning(
                "inotify watch limit reached (\(folder)): raise fs.inotify.max_user_watches, or set watch-days; until then new files in unwatched folders are found by the rescan every \(Int(config.rescanInterval)) s",
                metadata: ["file": "\(folder)", "reason": "inotify_limit"])
        case ENOSPC:
            break
        default:
            logger.warning(
                "cannot watch \(folder): \(Posix.describe(refused.errno)); new files there are found by the rescan every \(Int(config.rescanInterval)) s",
                metadata: ["file": "\(folder)", "reason": "inotify_refused"])
        }
    }

    /// Scans every root and returns jobs, optionally adding inotify watches (watch first, then list).
    func scan(watcher: Inotify?) -> [Job] {
        var jobs: [Job] = []
        for root in config.roots {
            let found = Scanner.walk(root: root.path) { rel in
                if let watcher { watch(watcher, root: root.path, relative: rel) }
            }
            jobs += found.compactMap(candidate)
        }
        return Self.deliveryOrder(jobs)
    }

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

    /// Files in the order CloudTrail delivered them (the time in their names, then the path), so a
    /// backfill sees events as a live tail would and event-time windows expire correctly.
    static func deliveryOrder(_ jobs: [Job]) -> [Job] {
        jobs.sorted { ($0.key.deliveryTime, $0.ledgerKey) < ($1.key.deliveryTime, $1.ledgerKey) }
    }

    /// Processes what is there now and returns (backfill, `--once`).
    package func runOnce() throws -> IngestStats {
        try loadLedger()
        outbox.deliverAll()
        process(scan(watcher: nil), final: true)
        if let stopped { throw stopped }
        integrityChecks?.run(ledger: known)
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
        let watcher = try Inotify()
        integrity?.tolerateMirrorLag = true
        process(scan(watcher: watcher), final: false)
        integrityChecks?.run(ledger: known)
        onReady()
        var lastScan = Posix.monotonicSeconds()
        var lastPendingCheck = lastScan
        var lastAlertRetry = lastScan
        var lastStateCheck = lastScan
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
            let events = watcher.read(timeoutMs: 250)
            var jobs: [Job] = []
            var seen = Set<String>()
            var rescan = false
            for e in events {
                if e.overflowed {
                    rescan = true
                    continue
                }
                guard let dir = e.directory, !e.name.isEmpty else { continue }
                let path = dir + "/" + e.name
                guard let root = config.roots.first(where: { Scanner.isInside(path, root: $0.path) }) else { continue }
                let rel = String(path.dropFirst(root.path.count + 1))
                if e.isDirectory {
                    // A new folder: watch it, then list it (files may have landed before the watch existed).
                    for f in Scanner.walk(root: root.path, sub: rel, onDirectory: { watch(watcher, root: root.path, relative: $0) })
                    where seen.insert(f.relative).inserted {
                        if let j = candidate(f) { jobs.append(j) }
                    }
                    continue
                }
                if Inotify.isGone(e.mask) {
                    // A taken log file vanished: if a digest vouched for it, check that digest again.
                    let ledgerKey = root.bucket + "/" + rel
                    if let monitor = integrity, known[ledgerKey]?.status == .done, case .log(let k) = ObjectKeyParser.classify(rel) {
                        monitor.logChanged(root: root.path, relative: rel, account: k.account, region: k.region, store: store)
                    }
                    continue
                }
                // IN_CREATE alone means the writer is still busy; wait for close or rename.
                if e.mask & UInt32(IN_CREATE) != 0 && e.mask & UInt32(IN_CLOSE_WRITE) == 0 {
                    guard Posix.isSymbolicLink(path) else { continue }
                }
                let ledgerKey = root.bucket + "/" + rel
                pending.removeValue(forKey: ledgerKey)
                guard seen.insert(rel).inserted else { continue }
                let isLink = Posix.isSymbolicLink(path)
                if let j = candidate(FoundFile(root: root.path, relative: rel, isSymlink: isLink)) { jobs.append(j) }
            }
            let now = Posix.monotonicSeconds()
            if rescan || now - lastScan >= config.rescanInterval {
                if rescan { logger.warning("inotify queue overflowed: rescanning") }
                jobs += scan(watcher: watcher).filter { !seen.contains($0.found.relative) }
                lastScan = now
            }
            if now - lastPendingCheck >= 1 {
                lastPendingCheck = now
                jobs += duePendingJobs(now: now)
            }
            if outbox.undelivered && now - lastAlertRetry >= outbox.retryInterval {
                lastAlertRetry = now
                outbox.deliverAll(recovering: false)
            }
            process(Self.deliveryOrder(jobs), final: false)
            integrityChecks?.runIfDue(now: now, ledger: known)
            applyRetentionIfDue(force: false)
        }
    }

    /// Pending files that changed since their last attempt, or whose wait has run out.
    func duePendingJobs(now: Double) -> [Job] {
        var out: [Job] = []
        for (key, p) in pending {
            guard let (size, mtime) = Posix.status(p.job.readPath) else {
                pending.removeValue(forKey: key)  // removed or renamed away: its new name arrives by itself
                continue
            }
            if size != p.size || mtime != p.mtime || now - p.since >= config.incompleteTimeout {
                out.append(p.job)
            }
        }
        return out
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
