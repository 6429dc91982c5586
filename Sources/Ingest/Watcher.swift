import CloudTrail
import Glibc
import LogStore
import Logging
import Posix

/// Finds the files to take: scans the roots, follows inotify, keeps half-written files pending,
/// and decides for each file found whether it is a job (``candidate(_:)``).
///
/// It also keeps what is known of every file (the ledger in memory, the files in flight, the
/// failures reported once), which the ``Pipeline`` updates as files are committed or fail.
/// Confined to the thread that runs the ``Ingestor``.
final class Watcher {
    let config: IngestConfig
    let logger: Logger
    let stats: StatsBox
    let store: LogStore
    let integrity: IntegrityMonitor?
    /// Canonical root paths, in config order.
    let canonicalRoots: [String]

    /// The ledger in memory: the last outcome for each file (ledger key → entry).
    var known: [String: LedgerEntry] = [:]
    /// Files handed to the pipeline and not yet handled.
    var inFlight: Set<String> = []
    /// Incomplete files (truncated or empty) waiting for a change or their timeout.
    var pending: [String: (job: Job, size: Int64, mtime: Int64, since: Double)] = [:]
    /// Files set aside or refused, said once.
    private var reported: Set<String> = []
    private var inotify: Inotify? = nil
    private var watchRefused = false
    private var lastScan: Double? = nil
    private var lastPendingCheck = 0.0

    init(config: IngestConfig, logger: Logger, stats: StatsBox, store: LogStore, integrity: IntegrityMonitor?) {
        self.config = config
        self.logger = logger
        self.stats = stats
        self.store = store
        self.integrity = integrity
        canonicalRoots = config.roots.map { Scanner.realPath($0.path) ?? $0.path }
    }

    // MARK: Candidates

    private func rootIndex(_ found: FoundFile) -> Int { config.roots.firstIndex { $0.path == found.root } ?? 0 }

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
        return Job(found: found, readPath: readPath, ledgerKey: ledgerKey, key: key, previous: previous, etag: config.fetched?.etag(ledgerKey))
    }

    /// Logs and counts a failure once per file (not on every sighting).
    func reportOnce(_ ledgerKey: String, _ path: String, _ failure: IngestFailure) {
        guard reported.insert(ledgerKey).inserted else { return }
        stats.update { $0.errors[failure.code, default: 0] += 1 }
        logger.error("\(path): \(failure.reason)", metadata: ["file": "\(path)", "reason": "\(failure.code.rawValue)"])
    }

    // MARK: Scans and inotify

    /// Watches a folder unless it is a day folder older than `watchDays`; says why if the kernel
    /// refuses (the watch limit warns once; a folder that vanished is only noted).
    func watch(_ watcher: Inotify, root: String, relative rel: String) {
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

    /// Scans every root and returns jobs, adding inotify watches once ``startWatching()`` ran
    /// (watch first, then list).
    func scan() -> [Job] {
        var jobs: [Job] = []
        for root in config.roots {
            let found = Scanner.walk(root: root.path) { rel in
                if let inotify { watch(inotify, root: root.path, relative: rel) }
            }
            jobs += found.compactMap(candidate)
        }
        return Self.deliveryOrder(jobs)
    }

    /// Opens inotify: later scans watch the folders they list, and ``poll(timeoutMs:)`` follows them.
    func startWatching() throws {
        inotify = try Inotify()
    }

    /// Waits up to `timeoutMs` for inotify events and returns the jobs they bring, with those of a
    /// rescan (queue overflow, or every `rescanInterval`) and the pending files now due, in delivery order.
    func poll(timeoutMs: Int32) -> [Job] {
        guard let watcher = inotify else { return [] }
        if lastScan == nil {
            // The first poll starts the clocks: the start-up scan has just run.
            let start = Posix.monotonicSeconds()
            lastScan = start
            lastPendingCheck = start
        }
        let events = watcher.read(timeoutMs: timeoutMs)
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
        if rescan || now - (lastScan ?? now) >= config.rescanInterval {
            if rescan { logger.warning("inotify queue overflowed: rescanning") }
            jobs += scan().filter { !seen.contains($0.found.relative) }
            lastScan = now
        }
        if now - lastPendingCheck >= 1 {
            lastPendingCheck = now
            jobs += duePendingJobs(now: now)
        }
        return Self.deliveryOrder(jobs)
    }

    /// Pending files that changed since their last attempt, or whose wait has run out.
    private func duePendingJobs(now: Double) -> [Job] {
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

    /// Files in the order CloudTrail delivered them (the time in their names, then the path), so a
    /// backfill sees events as a live tail would and event-time windows expire correctly.
    static func deliveryOrder(_ jobs: [Job]) -> [Job] {
        jobs.sorted { ($0.key.deliveryTime, $0.ledgerKey) < ($1.key.deliveryTime, $1.ledgerKey) }
    }
}
