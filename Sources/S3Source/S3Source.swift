import AWSClient
import AWSFormats
import CloudTrail
import Glibc
import Ingest
import LogStore
import Logging
import Posix
import S3Notifications
import Synchronization

/// Settings of a bucket source (`logs = s3://…`), from the config file and flags.
package struct S3SourceConfig: Sendable {
    package var location: S3Location
    /// The SQS queue S3 notifies (nil: only the start-up and periodic reconcile find files).
    package var queueURL: String?
    package var shard = Shard.all
    /// Days back (from today, UTC) the start-up and periodic reconcile list: 1 is yesterday and today.
    package var backfillDays = 1
    /// Seconds between reconciles (ListObjectsV2 of this shard's recent day folders).
    package var reconcileInterval: Double = 900
    /// The visibility timeout asked for each message; extended every half of it while its files are in hand.
    package var visibilityTimeout = 300
    /// Seconds a ReceiveMessage long poll waits.
    package var waitSeconds = 10
    /// Largest object downloaded (bytes); larger is refused and counted.
    package var maxObjectBytes: Int64 = 1 << 30
    /// The state directory: downloads go to `<state>/s3/<bucket>/<key>`.
    package var stateDirectory: String
    package var groupTemplate = "aws-cloudtrail-logs-{account}"
    /// At most this many files downloaded and not yet settled (bounds the local disk).
    package var maxInHand = 64

    package init(location: S3Location, stateDirectory: String) {
        self.location = location
        self.stateDirectory = stateDirectory
    }

    /// The local folder the watcher takes as the bucket's root.
    package var cacheRoot: String { stateDirectory + "/s3/" + location.bucket }
}

/// What the source did, for logs and tests.
package struct S3SourceStats: Sendable, Equatable {
    package var received = 0
    package var deleted = 0
    /// Messages left for another host (all their files in another shard).
    package var released = 0
    package var malformed = 0
    /// Messages naming nothing to take (test events, removals, other keys).
    package var ignored = 0
    package var downloaded = 0
    package var bytesDownloaded: Int64 = 0
    /// Objects found already in the ledger (same key and ETag): no download.
    package var alreadyTaken = 0
    package var tooLarge = 0
    package var downloadErrors = 0
    package var reconcileRuns = 0
    /// Objects a reconcile downloaded (missed by notifications).
    package var reconcileFetched = 0
    package var visibilityExtensions = 0
    package var settled = 0

    package var summary: String {
        "s3: \(received) messages (\(deleted) deleted, \(released) left to other shards, \(ignored) ignored, \(malformed) malformed), \(downloaded) objects downloaded (\(bytesDownloaded) bytes, \(reconcileFetched) by reconcile), \(alreadyTaken) already taken, \(tooLarge) too large, \(downloadErrors) download errors, \(visibilityExtensions) visibility extensions"
    }
}

/// Takes a bucket's CloudTrail files into a local cache root that the existing watcher and
/// pipeline ingest: S3 event notifications from SQS (direct, SNS or EventBridge) name the objects,
/// ListObjectsV2 of this shard's recent day folders finds what a notification missed.
///
/// Exactly once rests on the ledger: an object whose key and ETag are in it is not downloaded, and
/// a message is deleted only when every file it names is in the ledger (done or failed); until then
/// its visibility is extended. The loop thread reports settled files (``settled(_:)``); the local
/// copy is then removed, so the cache holds only files in hand.
package actor S3Source {
    package let config: S3SourceConfig
    let s3: S3Client
    let sqs: SQSClient?
    let fetched: FetchedObjects
    let logger: Logger
    let retry = RetryPolicy()
    private let statsBox = Mutex(S3SourceStats())
    /// Settled files reported by the loop thread, taken by the maintenance loop.
    private let inbox = Mutex<[SettledFile]>([])
    /// Read-only view of the ledger (the writer is the ingest loop's store).
    private var ledger: LogStore? = nil

    /// A message in hand: deleted when `keys` is empty, its visibility extended until then.
    private struct Held {
        var receipt: String
        var keys: Set<String>
        var extendedAt: Double
    }
    private var messages: [String: Held] = [:]
    /// Files downloaded (or downloading) and not settled: ledger key → account, the messages waiting for it.
    private struct Waiting {
        var account: String
        var localPath: String
        var messages: Set<String>
        var since: Double
    }
    private var waiting: [String: Waiting] = [:]

    package init(config: S3SourceConfig, s3: S3Client, sqs: SQSClient?, fetched: FetchedObjects, logger: Logger) throws {
        self.config = config
        self.s3 = s3
        self.sqs = sqs
        self.fetched = fetched
        self.logger = logger
        try Posix.makeDirectories(config.cacheRoot)
        Self.removeTemporaries(config.cacheRoot)
    }

    /// Removes the temporary names of downloads a killed process left (`.name.trailwatch-XXXX`).
    static func removeTemporaries(_ dir: String) {
        for e in Posix.entries(dir) ?? [] {
            let path = dir + "/" + e.name
            if e.type == UInt8(DT_DIR) {
                removeTemporaries(path)
            } else if e.name.hasPrefix("."), e.name.contains(".trailwatch-") {
                try? Posix.removeFile(path)
            }
        }
    }

    package nonisolated var stats: S3SourceStats { statsBox.withLock { $0 } }
    private func count(_ body: (inout S3SourceStats) -> Void) { statsBox.withLock { body(&$0) } }

    /// Called on the ingest loop's thread with files now in the ledger.
    package nonisolated func settled(_ files: [SettledFile]) {
        inbox.withLock { $0 += files }
    }

    // MARK: The loops

    /// Runs until cancelled: a reconcile at once and every `reconcileInterval`, the SQS receive
    /// loop, and the upkeep of messages in hand (settle, delete, extend) every half second.
    package func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.reconcileLoop() }
            if sqs != nil { group.addTask { try await self.receiveLoop() } }
            group.addTask { try await self.upkeepLoop() }
            try await group.next()
            group.cancelAll()
        }
    }

    private func reconcileLoop() async throws {
        while !Task.isCancelled {
            await reconcile()
            try await Task.sleep(for: .seconds(config.reconcileInterval))
        }
    }

    private func upkeepLoop() async throws {
        var lastLedgerCheck = 0.0
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(250))
            let files = inbox.withLock { box in
                defer { box = [] }
                return box
            }
            for f in files { await settle(f.ledgerKey) }
            let now = Posix.monotonicSeconds()
            if now - lastLedgerCheck >= 5 {
                // A file the watcher skipped (taken meanwhile by a duplicate message) is never
                // reported: the ledger says it is settled.
                lastLedgerCheck = now
                for (key, w) in waiting where now - w.since >= 5 {
                    if (try? ledgerEntry(account: w.account, key)) != nil { await settle(key) }
                }
            }
            await extendDue(now: Posix.monotonicSeconds())
        }
    }

    private func receiveLoop() async throws {
        guard let sqs, let queue = config.queueURL else { return }
        while !Task.isCancelled {
            if waiting.count >= config.maxInHand {
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            let batch: [SQSMessage]
            do {
                batch = try await retry.run {
                    try await sqs.receiveMessages(
                        queueURL: queue, max: 10, waitSeconds: self.config.waitSeconds, visibilityTimeout: self.config.visibilityTimeout)
                }
            } catch {
                if Task.isCancelled { return }
                logger.error("SQS ReceiveMessage failed: \(error); retrying in 5 s", metadata: ["queue": "\(queue)", "reason": "sqs_receive"])
                try await Task.sleep(for: .seconds(5))
                continue
            }
            // The batch's messages in parallel (downloads overlap); the actor keeps the bookkeeping serial.
            await withTaskGroup(of: Void.self) { group in
                for m in batch { group.addTask { await self.handle(m) } }
            }
        }
    }

    // MARK: Messages

    /// Takes one message: parse, keep this shard's log files under the prefix, fetch those not in
    /// the ledger, and delete, release or hold it.
    func handle(_ m: SQSMessage) async {
        count { $0.received += 1 }
        let refs: [S3ObjectRef]
        do {
            switch try S3Notifications.parse(m.body) {
            case .ignore(let reason):
                logger.debug("SQS message \(m.messageId) names nothing to take (\(reason)): deleted")
                count { $0.ignored += 1 }
                await delete(m.messageId, m.receiptHandle)
                return
            case .objects(let r, _):
                refs = r
            }
        } catch {
            // A poison message is deleted after this line: left in the queue it would come back
            // forever. What it might have named, the reconcile finds (docs/s3.md).
            logger.error(
                "SQS message \(m.messageId) is not an S3 notification (\(error)); deleted (received \(m.receiveCount) times)",
                metadata: ["reason": "\(error.code.rawValue)", "message_id": "\(m.messageId)"])
            count { $0.malformed += 1 }
            await delete(m.messageId, m.receiptHandle)
            return
        }
        var mine: [(S3ObjectRef, String)] = []
        var foreign = 0
        for r in refs {
            guard r.bucket == config.location.bucket, config.location.contains(key: r.key) else {
                logger.debug("SQS message \(m.messageId): s3://\(r.bucket)/\(r.key) is outside \(config.location): skipped")
                continue
            }
            guard case .log(let k) = ObjectKeyParser.classify(r.key) else { continue }
            if config.shard.owns(account: k.account) { mine.append((r, k.account)) } else { foreign += 1 }
        }
        if mine.isEmpty && foreign > 0 {
            // Another host's account: make the message visible again at once for it.
            count { $0.released += 1 }
            guard let sqs, let queue = config.queueURL else { return }
            do {
                try await retry.run { try await sqs.changeVisibility(queueURL: queue, receiptHandle: m.receiptHandle, seconds: 0) }
            } catch {
                logger.warning("could not release SQS message \(m.messageId) to other shards: \(error)")
            }
            return
        }
        if mine.isEmpty {
            count { $0.ignored += 1 }
            await delete(m.messageId, m.receiptHandle)
            return
        }
        // "" holds the message until every key is taken: a file settled while the next one of the
        // same message downloads must not delete it.
        messages[m.messageId] = Held(receipt: m.receiptHandle, keys: [""], extendedAt: Posix.monotonicSeconds())
        for (r, account) in mine {
            let key = ledgerKey(r.key)
            // Noted before the download: its settle may come before `take` returns.
            messages[m.messageId]?.keys.insert(key)
            switch await take(r, account: account, message: m.messageId) {
            case .waiting: break
            case .settled: messages[m.messageId]?.keys.remove(key)
            case .failed:
                // Left to expire: the message comes back after its visibility timeout and is tried again.
                for k in messages.removeValue(forKey: m.messageId)?.keys ?? [] { waiting[k]?.messages.remove(m.messageId) }
                return
            }
        }
        messages[m.messageId]?.keys.remove("")
        await deleteIfSettled(m.messageId)
    }

    private func delete(_ id: String, _ receipt: String) async {
        guard let sqs, let queue = config.queueURL else { return }
        do {
            try await retry.run { try await sqs.deleteMessage(queueURL: queue, receiptHandle: receipt) }
            count { $0.deleted += 1 }
        } catch {
            // Comes back after its visibility timeout; the ledger then settles it at once.
            logger.warning("could not delete SQS message \(id): \(error); it comes back and is settled from the ledger")
        }
    }

    private func deleteIfSettled(_ id: String) async {
        guard let held = messages[id], held.keys.isEmpty else { return }
        messages.removeValue(forKey: id)
        await delete(id, held.receipt)
    }

    /// Extends the visibility of messages whose files are still in hand, every half timeout.
    private func extendDue(now: Double) async {
        guard let sqs, let queue = config.queueURL else { return }
        let half = Double(config.visibilityTimeout) / 2
        for (id, held) in messages where now - held.extendedAt >= half {
            messages[id]?.extendedAt = now
            do {
                try await retry.run {
                    try await sqs.changeVisibility(queueURL: queue, receiptHandle: held.receipt, seconds: self.config.visibilityTimeout)
                }
                count { $0.visibilityExtensions += 1 }
            } catch {
                logger.warning("could not extend SQS message \(id)'s visibility: \(error)")
            }
        }
    }

    /// A file is in the ledger: forget it, remove the local copy, delete the messages now complete.
    /// A file not waited for (left in the cache by a process that was killed) loses its copy too.
    private func settle(_ key: String) async {
        fetched.forget(key)
        guard let w = waiting.removeValue(forKey: key) else {
            if key.hasPrefix(config.location.bucket + "/") { removeLocalCopy(config.cacheRoot + "/" + key.dropFirst(config.location.bucket.count + 1)) }
            return
        }
        count { $0.settled += 1 }
        removeLocalCopy(w.localPath)
        for id in w.messages {
            messages[id]?.keys.remove(key)
            await deleteIfSettled(id)
        }
    }

    // MARK: Objects

    enum Taken { case waiting, settled, failed }

    private func ledgerKey(_ key: String) -> String { config.location.bucket + "/" + key }

    /// Downloads one object into the cache root unless the ledger has it (same key and ETag) or it
    /// is already on its way; `message` waits for it.
    func take(_ r: S3ObjectRef, account: String, message: String?, lastModifiedMs: Int64? = nil) async -> Taken {
        let key = ledgerKey(r.key)
        if waiting[key] != nil {
            if let message { waiting[key]?.messages.insert(message) }
            return .waiting
        }
        if let e = try? ledgerEntry(account: account, key), e.etag == nil || r.etag == nil || e.etag == r.etag {
            count { $0.alreadyTaken += 1 }
            return .settled
        }
        if let size = r.size, size > config.maxObjectBytes {
            refuseTooLarge(r, size)
            return .settled
        }
        let path = config.cacheRoot + "/" + r.key
        waiting[key] = Waiting(account: account, localPath: path, messages: message.map { [$0] } ?? [], since: Posix.monotonicSeconds())
        do {
            let object = try await download(r, to: path)
            count {
                $0.downloaded += 1
                $0.bytesDownloaded += object.size
            }
            return .waiting
        } catch let e as AWSError where e.code == .tooLarge {
            waiting.removeValue(forKey: key)
            refuseTooLarge(r, nil)
            return .settled
        } catch {
            waiting.removeValue(forKey: key)
            fetched.forget(key)
            count { $0.downloadErrors += 1 }
            logger.error(
                "s3://\(r.bucket)/\(r.key): download failed: \(error); tried again when the message comes back or at the next reconcile",
                metadata: ["file": "s3://\(r.bucket)/\(r.key)", "reason": "s3_download"])
            return .failed
        }
    }

    private func refuseTooLarge(_ r: S3ObjectRef, _ size: Int64?) {
        count { $0.tooLarge += 1 }
        let what = size.map { "\($0) bytes" } ?? "larger than that"
        logger.error(
            "s3://\(r.bucket)/\(r.key): \(what), over the \(config.maxObjectBytes)-byte limit (max-inflated-size); not downloaded",
            metadata: ["file": "s3://\(r.bucket)/\(r.key)", "reason": "too_large"])
    }

    /// GetObject into a hidden temporary name beside the final one (the watcher ignores it), mtime
    /// set to LastModified, ETag noted for the ledger, then renamed into place.
    private func download(_ r: S3ObjectRef, to path: String) async throws -> S3Object {
        let slash = path.lastIndex(of: "/")!
        let dir = String(path[..<slash])
        let temp = dir + "/." + path[path.index(after: slash)...] + ".trailwatch-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        try Posix.makeDirectories(dir)
        let bucket = r.bucket
        let key = r.key
        let max = config.maxObjectBytes
        do {
            let object = try await retry.run { [s3] () async throws -> S3Object in
                try await s3.getObject(bucket: bucket, key: key, to: temp, maxBytes: max)
            }
            try Posix.setTimes(temp, millis: object.lastModifiedMs)
            fetched.note(ledgerKey(key), etag: S3Notifications.normalizeETag(object.etag))
            try Posix.moveFile(temp, to: path)
            return object
        } catch {
            try? Posix.removeFile(temp)
            throw error
        }
    }

    /// Removes a settled file's local copy. Its folder stays: removing emptied folders raced with
    /// the next download into them and churned the watcher's inotify watches.
    private func removeLocalCopy(_ path: String) {
        do { try Posix.removeFile(path) } catch where error.errno != ENOENT {
            logger.warning("could not remove the local copy \(path): \(error)")
        } catch {}
    }

    // MARK: Ledger

    private func ledgerEntry(account: String, _ key: String) throws -> LedgerEntry? {
        guard let store = try openLedger(), store.accounts().contains(account) else { return nil }
        return try store.account(account).ledgerEntry(key)
    }

    private func openLedger() throws -> LogStore? {
        if let ledger { return ledger }
        guard Posix.isDirectory(config.stateDirectory + "/groups") else { return nil }
        ledger = try LogStore(stateDirectory: config.stateDirectory, groupTemplate: config.groupTemplate, readOnly: true)
        return ledger
    }

    // MARK: Reconcile

    /// Lists `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/` for this shard's accounts
    /// and, in each region, the day folders of the last `backfillDays` days after the last key the
    /// ledger holds there; downloads what the ledger lacks.
    func reconcile() async {
        count { $0.reconcileRuns += 1 }
        let started = Posix.monotonicSeconds()
        var fetchedBefore = stats.reconcileFetched
        do {
            var accountPrefixes: [String] = []
            for p in try await commonPrefixes(config.location.awsLogs) {
                let name = String(p.dropFirst(config.location.awsLogs.count).dropLast())
                if name.hasPrefix("o-") {
                    accountPrefixes += try await commonPrefixes(p)
                } else {
                    accountPrefixes.append(p)
                }
            }
            let today = Posix.nowMillis() / 86_400_000
            let days = (0...max(0, config.backfillDays)).map { today - Int64($0) }
            for ap in accountPrefixes {
                let account = String(ap.dropLast().split(separator: "/").last ?? "")
                guard account.count == 12, account.allSatisfy(\.isNumber), config.shard.owns(account: account) else { continue }
                for rp in try await commonPrefixes(ap + "CloudTrail/") {
                    for day in days.reversed() {
                        if Task.isCancelled { return }
                        let (y, m, d) = Timestamp.civilFromDays(day)
                        let dayPrefix = rp + padded(y, 4) + "/" + padded(m, 2) + "/" + padded(d, 2) + "/"
                        try await reconcileDay(dayPrefix, account: account)
                    }
                }
            }
        } catch {
            if Task.isCancelled { return }
            logger.error("reconcile of \(config.location) failed: \(error); tried again in \(Int(config.reconcileInterval)) s",
                         metadata: ["reason": "s3_reconcile"])
        }
        fetchedBefore = stats.reconcileFetched - fetchedBefore
        logger.info("reconcile of \(config.location) (shard \(config.shard)): \(fetchedBefore) objects missed by notifications fetched in \(Int(Posix.monotonicSeconds() - started)) s; \(stats.summary)")
    }

    private func reconcileDay(_ dayPrefix: String, account: String) async throws {
        var startAfter: String? = nil
        if let store = try? openLedger(), store.accounts().contains(account),
            let last = try? store.account(account).lastLedgerKey(withPrefix: ledgerKey(dayPrefix))
        {
            startAfter = String(last.dropFirst(config.location.bucket.count + 1))
        }
        let after = startAfter
        var token: String? = nil
        repeat {
            let page = try await retry.run { [s3, config, token] in
                try await s3.listObjectsV2(bucket: config.location.bucket, prefix: dayPrefix, startAfter: after, continuationToken: token)
            }
            for o in page.objects {
                guard case .log(let k) = ObjectKeyParser.classify(o.key), k.account == account else { continue }
                while waiting.count >= config.maxInHand {
                    try await Task.sleep(for: .milliseconds(200))
                }
                let ref = S3ObjectRef(bucket: config.location.bucket, key: o.key, size: o.size, etag: S3Notifications.normalizeETag(o.etag))
                let before = stats.downloaded
                _ = await take(ref, account: account, message: nil)
                if stats.downloaded > before { count { $0.reconcileFetched += 1 } }
            }
            token = page.nextContinuationToken
        } while token != nil
    }

    private func commonPrefixes(_ prefix: String) async throws -> [String] {
        var out: [String] = []
        var token: String? = nil
        repeat {
            let page = try await retry.run { [s3, config, token] in
                try await s3.listObjectsV2(bucket: config.location.bucket, prefix: prefix, delimiter: "/", continuationToken: token)
            }
            out += page.commonPrefixes
            token = page.nextContinuationToken
        } while token != nil
        return out
    }
}

/// `n` in decimal, zero-padded to `width` digits (date folders).
func padded(_ n: Int64, _ width: Int) -> String {
    let digits = String(n)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
