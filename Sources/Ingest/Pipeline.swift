import AlertModel
import CloudTrail
import LogStore
import Logging
import Posix
import Rules

/// Takes jobs through decoding and commit: decodes on `decoders` threads while the calling thread
/// commits in order (``Committer``, one transaction per file, or per group of one account's files
/// found waiting together), then records each outcome: the
/// ledger in memory, pending files, failures (ledgered, or reported once), rewrites, alerts to the
/// outbox. Notes each file in hand (``InHand``) so that a death can be traced to it.
/// Confined to the thread that runs the ``Ingestor`` (its decoder threads share only the jobs,
/// the rules, the in-hand slots and the ``StopFlag``).
final class Pipeline {
    let config: IngestConfig
    let logger: Logger
    let stats: StatsBox
    let store: LogStore
    let watcher: Watcher
    let outbox: Outbox
    let integrity: IntegrityMonitor?
    let inHand: InHand
    let stop: StopFlag
    /// Files in hand when a previous process died (ledger key → deaths): retried first, alone.
    var suspects: [String: Int] = [:]
    /// Why a one-shot run stopped early (a full or read-only state directory), if it did.
    var stopped: StoreError? = nil
    /// Called after each file with the stats (for progress and sd_notify).
    var onProgress: (@Sendable (IngestStats) -> Void)? = nil

    init(
        config: IngestConfig, logger: Logger, stats: StatsBox, store: LogStore, watcher: Watcher, outbox: Outbox,
        integrity: IntegrityMonitor?, inHand: InHand, stop: StopFlag
    ) {
        self.config = config
        self.logger = logger
        self.stats = stats
        self.store = store
        self.watcher = watcher
        self.outbox = outbox
        self.integrity = integrity
        self.inHand = inHand
        self.stop = stop
    }

    /// Decodes jobs on worker threads while this thread commits them in order: one transaction per
    /// file, or per group of one account's files that were already waiting (group commit).
    /// `final`: incomplete files are reported instead of kept pending (used by `--once`).
    func process(_ jobs: [Job], rules ruleSet: RuleSet?, final: Bool) {
        guard !jobs.isEmpty else { return }
        if jobs.count > 1, jobs.contains(where: { suspects[$0.ledgerKey] != nil }) {
            // Files in hand at a death go first, one at a time: a second death names the culprit.
            let (alone, rest) = (jobs.filter { suspects[$0.ledgerKey] != nil }, jobs.filter { suspects[$0.ledgerKey] == nil })
            for j in alone where !stop.isSet { process([j], rules: ruleSet, final: final) }
            process(rest, rules: ruleSet, final: final)
            return
        }
        let notes = jobs.map { InHand.Entry(ledgerKey: $0.ledgerKey, account: $0.key.account, path: $0.readPath, deaths: suspects[$0.ledgerKey] ?? 0) }
        for j in jobs { watcher.inFlight.insert(j.ledgerKey) }
        stats.update { $0.queued += jobs.count }
        // Decoded files wait for the committer in a window (at least 4), each holding its delivered
        // bytes and records; its inflated bytes only when the committer is to match its rules, which
        // it is not while files wait.
        let results = OrderedResults<(Job, Result<MatchedFile, IngestFailure>)>(count: jobs.count, window: max(4, config.groupCommitFiles))
        let stop = self.stop
        let limits = config.limits
        for t in 0..<min(config.decoders, jobs.count) {
            let slot = inHand.slot("decoder-\(t)")
            startThread {
                // Check for a stop before claiming: a claimed index is always delivered, or the
                // committer would wait for it forever.
                while !stop.isSet, let k = results.claim() {
                    let job = jobs[k]
                    if let failure = Self.takeInHand(slot, notes[k]) {
                        results.put(k, (job, .failure(failure)))
                        continue
                    }
                    var decoded = FileDecoder.decode(path: job.readPath, ledgerKey: job.ledgerKey, key: job.key, rules: ruleSet, limits: limits)
                    // The committer has a decoded file waiting: it is the slower side, so take the
                    // rule matching it would do (both cores busy, neither waiting on the other).
                    if case .success(var file) = decoded, results.takerBehind {
                        file.matchDeferredRules()
                        decoded = .success(file)
                    }
                    slot.release()
                    results.put(k, (job, decoded))
                }
                slot.clear()
                if stop.isSet { results.stop() }
            }
        }
        var handled = 0
        let committing = inHand.slot("committer")
        while let first = results.take() {
            // Decoded files already waiting behind it are taken too: those of one account commit
            // in one transaction. Only files that wait: a lone file is committed at once.
            let batch = [first] + results.takeReady(max: config.groupCommitFiles - 1)
            for (job, _) in batch { watcher.inFlight.remove(job.ledgerKey) }
            commitBatch(batch, notes: notes[handled..<(handled + batch.count)], committing, final: final)
            handled += batch.count
        }
        committing.clear()
        // Receipts a file's transaction did not take are written now: the batch is over.
        try? outbox.recordReceipts()
        // Jobs not reached because of a stop stay unledgered: the next start takes them.
        for job in jobs.dropFirst(handled) { watcher.inFlight.remove(job.ledgerKey) }
        stats.update { $0.queued -= jobs.count - handled }
    }

    /// Handles files taken together, in order but for grouping: each account's decoded files
    /// commit in one transaction (at the place of its first), failures are recorded one by one.
    /// The committer's in-hand note names every file of a group while it commits.
    private func commitBatch(
        _ batch: [(Job, Result<MatchedFile, IngestFailure>)], notes: ArraySlice<InHand.Entry>, _ slot: InHand.Slot, final: Bool
    ) {
        var groups: [String: [Int]] = [:]
        for (k, (job, result)) in batch.enumerated() {
            if case .success = result { groups[job.key.account, default: []].append(k) }
        }
        for (k, (job, result)) in batch.enumerated() {
            let group: [Int]
            if case .success = result {
                guard let g = groups.removeValue(forKey: job.key.account) else { continue }  // committed with its group
                group = g
                _ = Self.takeInHand(slot, g.map { notes[notes.startIndex + $0] })
                let files = g.compactMap { i -> (Job, MatchedFile)? in
                    guard case .success(let file) = batch[i].1 else { return nil }
                    return (batch[i].0, file)
                }
                if files.count == 1 {
                    handle(job, result, final: final)
                } else {
                    commitGroup(files, final: final)
                }
                slot.release()
            } else {
                group = [k]
                handle(job, result, final: final)
            }
            for i in group {
                stats.update { $0.queued -= 1 }
                suspects.removeValue(forKey: batch[i].0.ledgerKey)
                onProgress?(stats.snapshot)
            }
        }
    }

    /// Commits decoded files of one account in one transaction and records each outcome; if the
    /// transaction fails, each file is committed on its own, so that one file's failure (or a
    /// full disk) is handled as it is for a file alone and fails none of the others.
    private func commitGroup(_ group: [(Job, MatchedFile)], final: Bool) {
        let files = group.map { job, file in
            var f = file
            f.matchDeferredRules()
            f.file.etag = job.etag
            return f
        }
        do {
            let s = try store.account(group[0].0.key.account)
            let receipts = outbox.unrecordedReceipts(s.account)
            let outcomes = try Committer(latenessMs: config.latenessMs).commit(
                zip(group, files).map { Committer.Item(file: $1, logFile: $0.0.found.absolute) }, to: s, now: Posix.nowMillis(),
                receipts: receipts)
            outbox.receiptsRecorded(s.account, passes: receipts.count)
            stats.update { $0.filesGroupCommitted += group.count }
            for (k, (r, produced)) in outcomes.enumerated() { committed(group[k].0, files[k], r, produced, s) }
        } catch {
            if let fatal = StoreError.storeWide(error, stateDirectory: config.stateDirectory) {
                if final {
                    // As for a file alone: a one-shot run stops at the first full-disk (or read-only)
                    // error, with one message; the files stay unledgered for the next run.
                    stopped = fatal
                    stop.set()
                    return
                }
            } else {
                logger.notice(
                    "\(group.count) files of account \(group[0].0.key.account) could not be committed together (\(error)); committing each alone",
                    metadata: ["account": "\(group[0].0.key.account)", "reason": "group_commit_failed"])
            }
            for (k, (job, _)) in group.enumerated() { handle(job, .success(files[k]), final: final) }
        }
    }

    /// Commits a decoded file and records the outcome, or records why it failed (pending when it
    /// may be half-written, ledgered, or reported once).
    private func handle(_ job: Job, _ result: Result<MatchedFile, IngestFailure>, final: Bool) {
        switch result {
        case .success(var file):
            file.matchDeferredRules()
            file.file.etag = job.etag
            do {
                let s = try store.account(job.key.account)
                let receipts = outbox.unrecordedReceipts(s.account)
                let (r, produced) = try Committer(latenessMs: config.latenessMs).commit(
                    file, to: s, logFile: job.found.absolute, now: Posix.nowMillis(), receipts: receipts)
                outbox.receiptsRecorded(s.account, passes: receipts.count)
                committed(job, file, r, produced, s)
            } catch {
                if final, let fatal = StoreError.storeWide(error, stateDirectory: config.stateDirectory) {
                    // A one-shot run stops at the first full-disk (or read-only) error: every
                    // further file would fail the same way. The file stays unledgered for the next run.
                    stopped = fatal
                    stop.set()
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

    /// Records a committed file's outcome: alerts to the sinks, the ledger in memory, rewrites,
    /// counters and warnings.
    private func committed(_ job: Job, _ file: MatchedFile, _ r: CommitResult, _ produced: [PendingAlert], _ s: AccountStore) {
        if !produced.isEmpty { outbox.deliverFresh(produced, s) }
        watcher.known[job.ledgerKey] = LedgerEntry(path: job.ledgerKey, status: .done, size: file.size, mtime: file.mtime, etag: job.etag)
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
    }

    /// Logs and counts a file rewritten in place after it was ingested: never silent, digests or not.
    private func reportRewrite(_ job: Job, _ file: DecodedFile, _ rw: Rewrite) {
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

    /// A file that cannot be taken: ledgered as failed (`ledger`) or reported once; a rewritten
    /// file keeps what was stored from it.
    private func fail(_ job: Job, _ failure: IngestFailure, ledger: Bool) {
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
            ledgerFailure(job.ledgerKey, account: job.key.account, path: job.found.absolute, readPath: job.readPath, failure, etag: job.etag)
        } else {
            watcher.reportOnce(job.ledgerKey, job.found.absolute, failure)
        }
    }

    /// Ledgers a file as failed (skipped until it changes), with one log line and a counter.
    func ledgerFailure(_ ledgerKey: String, account: String, path: String, readPath: String, _ failure: IngestFailure, etag: String? = nil) {
        let (size, mtime) = Posix.status(readPath) ?? (-1, -1)
        watcher.known[ledgerKey] = LedgerEntry(path: ledgerKey, status: .failed, size: size, mtime: mtime, reason: failure.reason, etag: etag)
        do {
            try store.account(account).recordFailure(
                ledgerKey: ledgerKey, size: size, mtime: mtime, reason: "\(failure.code.rawValue): \(failure.reason)", etag: etag)
        } catch {
            logger.error("could not record failure in the ledger: \(error)", metadata: ["file": "\(path)"])
        }
        stats.update { $0.errors[failure.code, default: 0] += 1 }
        logger.error("\(path): \(failure.reason)", metadata: ["file": "\(path)", "reason": "\(failure.code.rawValue)"])
    }
}
