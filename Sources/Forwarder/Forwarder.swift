import AWSClient
import LogBatching
import LogStore
import Logging
import Posix
import Synchronization

/// Ships every stream's stored events to CloudWatch Logs (`store = cloudwatch`): the local store
/// is the spool, and a checkpoint per stream says how far it was sent.
///
/// Per stream, from its checkpoint: the group (from the group template) and stream are created
/// if missing (and the group's retention set when configured), records are read block by block,
/// cut into batches within every PutLogEvents limit (``LogBatching``), and each batch is written
/// down as in flight, sent (throttling, 5xx and network errors retried with backoff and jitter,
/// counted), then the checkpoint advances and the in-flight row is cleared in one transaction. An
/// in-flight batch found at start is reconciled with FilterLogEvents: only its events CloudWatch
/// does not hold are sent. CloudWatch unreachable: nothing is lost (the blocks stay, retention
/// keeps them), the loop backs off, logs once, and resumes. docs/cloudwatch.md argues it.
package actor Forwarder {
    package struct Settings: Sendable {
        package var stateDirectory: String
        package var groupTemplate = "aws-cloudtrail-logs-{account}"
        /// Set on every group the forwarder creates or first writes to (nil: leave as is).
        package var retentionDays: Int?
        /// Seconds between passes when nothing was pending.
        package var pollInterval = 1.0
        /// How long after an in-flight batch was written its reconcile waits, so that what
        /// CloudWatch took shows in FilterLogEvents (ms).
        package var settleMs: Int64 = 10_000
        /// Longest pause between passes while CloudWatch is unreachable (s).
        package var maxBackoff = 30.0

        package init(stateDirectory: String, groupTemplate: String = "aws-cloudtrail-logs-{account}", retentionDays: Int? = nil) {
            self.stateDirectory = stateDirectory
            self.groupTemplate = groupTemplate
            self.retentionDays = retentionDays
        }
    }

    let settings: Settings
    let client: any CloudWatchLogsAPI
    let retry: RetryPolicy
    let logger: Logger
    package nonisolated let stats = ForwardStatsBox()
    private nonisolated let stopFlag = Mutex(false)
    private var store: LogStore?
    private var ensuredGroups: Set<String> = []
    private var ensuredStreams: Set<String> = []
    /// Streams whose last pass failed with an error CloudWatch will give again (logged once per place).
    private var failing: [String: ForwardPosition] = [:]
    private var down = false
    /// Per account, its newest block id when a pass left nothing of it pending.
    private var settled: [String: Int64] = [:]

    package init(settings: Settings, client: any CloudWatchLogsAPI, retry: RetryPolicy, logger: Logger) {
        self.settings = settings
        self.client = client
        self.retry = retry
        self.logger = logger
    }

    /// Asks ``run()`` to return after the call in hand (a batch cut short stays in flight and is
    /// reconciled at the next start).
    package nonisolated func requestStop() { stopFlag.withLock { $0 = true } }
    nonisolated var stopRequested: Bool { stopFlag.withLock { $0 } }

    /// Forwards until ``requestStop()``: a pass over every stream, then a pause when nothing was
    /// pending; while CloudWatch is unreachable, pauses growing to `maxBackoff` (logged once an outage).
    package func run() async {
        var backoff = 1.0
        while !stopRequested {
            do {
                let sent = try await pass()
                if down {
                    down = false
                    logger.notice("CloudWatch Logs answers again: forwarding resumed")
                }
                backoff = 1
                if sent == 0 { await pause(settings.pollInterval) }
            } catch {
                let retryable = (error as? AWSError)?.isRetryable ?? false
                if !down && retryable {
                    down = true
                    stats.update { $0.outages += 1 }
                    logger.error(
                        "CloudWatch Logs unreachable (\(error)): events stay in the local store and are sent when it answers; retrying with backoff",
                        metadata: ["reason": "cloudwatch_unreachable"])
                } else if !retryable {
                    logger.error("forwarding failed: \(error)", metadata: ["reason": "forward_failed"])
                }
                await pause(Double.random(in: backoff / 2...backoff))
                backoff = min(backoff * 2, settings.maxBackoff)
            }
        }
    }

    /// Forwards everything stored now (`run --once`); false when some of it could not be sent
    /// (CloudWatch unreachable past the retries, or refusing a batch): it stays for the next run.
    package func drain() async -> Bool {
        do {
            _ = try await pass()
        } catch {
            logger.error(
                "CloudWatch Logs unreachable (\(error)): \(stats.snapshot.pendingBlocks) blocks stay in the local store and are sent by the next run",
                metadata: ["reason": "cloudwatch_unreachable"])
            return false
        }
        return stats.snapshot.pendingBlocks == 0
    }

    private func pause(_ seconds: Double) async {
        let until = Posix.monotonicSeconds() + seconds
        while !stopRequested && Posix.monotonicSeconds() < until {
            try? await Task.sleep(for: .milliseconds(min(100, max(1, Int((until - Posix.monotonicSeconds()) * 1000)))))
        }
    }

    private func openStore() throws -> LogStore {
        if let store { return store }
        let s = try LogStore(stateDirectory: settings.stateDirectory, groupTemplate: settings.groupTemplate)
        store = s
        return s
    }

    /// One pass over every account and stream; returns the events sent. Throws when CloudWatch is
    /// unreachable past the retries; anything particular to one stream is logged and left for the next pass.
    package func pass() async throws -> Int {
        let store = try openStore()
        var sent = 0
        var pending = 0
        for account in store.accounts() {
            let s = try store.account(account)
            // An account left with nothing pending whose newest block is unchanged needs nothing
            // (one cheap query instead of a few per stream: 500 accounts are checked every second).
            let newest = try s.newestBlockID()
            if settled[account] == newest { continue }
            var accountPending = 0
            for cp in try s.forwardCheckpoints() {
                if stopRequested { break }
                let key = "\(s.groupName)/\(cp.stream)"
                do {
                    sent += try await forward(s, cp)
                    failing[key] = nil
                } catch let e as AWSError where e.isRetryable {
                    throw e
                } catch {
                    if failing[key] != cp.position {
                        failing[key] = cp.position
                        logger.error(
                            "forwarding \(key) failed: \(error); its events stay in the local store, retried on the next pass",
                            metadata: ["reason": "forward_failed"])
                    }
                }
            }
            for cp in try s.forwardCheckpoints() {
                accountPending += try s.unforwardedBlocks(streamID: cp.streamID, after: cp.position)
            }
            pending += accountPending
            settled[account] = accountPending == 0 && !stopRequested ? newest : nil
        }
        stats.update { $0.pendingBlocks = pending }
        return sent
    }

    /// Sends `cp`'s stream from its checkpoint to its end; returns the events sent.
    private func forward(_ s: AccountStore, _ cp: ForwardCheckpoint) async throws -> Int {
        let group = s.groupName
        var position = cp.position
        var sent = 0
        if let f = cp.inFlight {
            sent += try await reconcile(s, cp, f)
            position = f.to
        }
        guard try s.unforwardedBlocks(streamID: cp.streamID, after: position) > 0 else { return sent }
        try await ensure(group: group, stream: cp.stream)
        var reader = EventReader(store: s, streamID: cp.streamID, from: position)
        var run = PendingRun()
        var exhausted = false
        while !stopRequested {
            // Read until the run holds more than one batch (the first batch is then settled) or the stream ends.
            while !exhausted && run.fitsOneBatch {
                guard let (event, end) = try reader.next() else {
                    exhausted = true
                    break
                }
                run.append(event, end)
            }
            if run.events.isEmpty {
                // Blocks that held nothing to send (only duplicates) are passed over.
                if let tail = reader.tail, tail > position {
                    try s.finishForward(streamID: cp.streamID, to: tail, sent: 0)
                }
                break
            }
            let count = LogBatching.batchEnd(run.events, from: 0)
            let to = run.ends[count - 1]
            try await send(s, cp, Array(run.events[0..<count]), from: position, to: to)
            position = to
            sent += count
            run.removeFirst(count)
        }
        return sent
    }

    /// Writes the batch down as in flight, sends it, then advances the checkpoint.
    private func send(_ s: AccountStore, _ cp: ForwardCheckpoint, _ batch: [PreparedEvent], from: ForwardPosition, to: ForwardPosition)
        async throws
    {
        let sorted = LogBatching.sortedForPut(batch)
        guard let first = sorted.first, let last = sorted.last else { return }
        let inFlight = InFlightBatch(
            from: from, to: to, startMs: first.timestampMs, endMs: last.timestampMs, count: sorted.count,
            digest: LogBatching.digest(sorted), firstID: String(LogBatching.identity(of: first.message).prefix(200)),
            lastID: String(LogBatching.identity(of: last.message).prefix(200)), began: Posix.nowMillis())
        try s.beginForward(streamID: cp.streamID, inFlight)
        try await put(group: s.groupName, stream: cp.stream, sorted)
        try s.finishForward(streamID: cp.streamID, to: to, sent: sorted.count)
    }

    /// Reads an in-flight batch back, asks CloudWatch which of its events it holds (FilterLogEvents
    /// over its span, by eventID), sends the others and advances; returns the events sent.
    private func reconcile(_ s: AccountStore, _ cp: ForwardCheckpoint, _ f: InFlightBatch) async throws -> Int {
        let group = s.groupName
        let wait = f.began + settings.settleMs - Posix.nowMillis()
        if wait > 0 { await pause(Double(wait) / 1000) }
        var reader = EventReader(store: s, streamID: cp.streamID, from: f.from, until: f.to)
        var events: [PreparedEvent] = []
        while let (event, _) = try reader.next() { events.append(event) }
        let sorted = LogBatching.sortedForPut(events)
        if LogBatching.digest(sorted) != f.digest {
            logger.warning(
                "\(group)/\(cp.stream): the in-flight batch read back differs from the one sent (\(sorted.count) events, \(f.count) sent); reconciling what the store holds",
                metadata: ["reason": "inflight_changed"])
        }
        var present = Set<String>()
        do {
            present = try await retrying { [client, group, stream = cp.stream, start = f.startMs, end = f.endMs] in
                try await Self.identities(client, group: group, stream: stream, startMs: start, endMs: end)
            }
        } catch let e as AWSError where e.code == .notFound {
            // No group or stream yet: none of the batch arrived.
        }
        let missing = sorted.filter { !present.contains(LogBatching.identity(of: $0.message)) }
        if !missing.isEmpty {
            try await ensure(group: group, stream: cp.stream)
            try await put(group: group, stream: cp.stream, missing)
        }
        try s.finishForward(streamID: cp.streamID, to: f.to, sent: sorted.count)
        stats.update {
            $0.reconciledBatches += 1
            $0.alreadyThere += sorted.count - missing.count
        }
        logger.notice(
            "\(group)/\(cp.stream): in-flight batch of \(sorted.count) events (\(f.firstID) … \(f.lastID)) reconciled: \(sorted.count - missing.count) already in CloudWatch, \(missing.count) sent now")
        return missing.count
    }

    /// Creates the group (and sets its retention) and the stream, once per process each.
    private func ensure(group: String, stream: String) async throws {
        if !ensuredGroups.contains(group) {
            try await retrying { [client] in try await client.createLogGroup(group) }
            if let days = settings.retentionDays {
                try await retrying { [client] in try await client.putRetentionPolicy(group: group, days: days) }
            }
            ensuredGroups.insert(group)
        }
        let key = group + "\n" + stream
        if !ensuredStreams.contains(key) {
            try await retrying { [client] in try await client.createLogStream(group: group, stream: stream) }
            ensuredStreams.insert(key)
        }
    }

    /// The identities (``LogBatching/identity(of:)``) of the events CloudWatch holds in `stream`
    /// from `startMs` to `endMs` (FilterLogEvents, every page).
    static func identities(_ client: any CloudWatchLogsAPI, group: String, stream: String, startMs: Int64, endMs: Int64)
        async throws -> Set<String>
    {
        var present = Set<String>()
        var token: String? = nil
        repeat {
            let page = try await client.filterMessages(group: group, stream: stream, startMs: startMs, endMs: endMs + 1, nextToken: token)
            for m in page.messages { present.insert(LogBatching.identity(of: m)) }
            token = page.nextToken
        } while token != nil
        return present
    }

    /// PutLogEvents with retries; a group or stream deleted under us is created again once.
    ///
    /// A throttled call was not taken and is simply sent again. After a network error or a 5xx
    /// the call may have been taken all the same (the answer lost): the next attempt first waits
    /// `settleMs`, asks FilterLogEvents which of the batch's events CloudWatch holds, and sends
    /// only the others, so a retry never stores an event twice.
    private func put(group: String, stream: String, _ events: [PreparedEvent]) async throws {
        let input = events.map { LogEventIn(timestampMs: $0.timestampMs, message: $0.message) }
        let span = (events.map(\.timestampMs).min() ?? 0, events.map(\.timestampMs).max() ?? 0)
        let uncertainSince = UncertainCall()
        let settle = settings.settleMs
        let call = { @Sendable [client] () async throws -> (sent: Int, refused: Int) in
            var batch = input
            if let failedAt = uncertainSince.value {
                let wait = failedAt + settle - Posix.nowMillis()
                if wait > 0 { try await Task.sleep(for: .milliseconds(wait)) }
                let present = try await Self.identities(client, group: group, stream: stream, startMs: span.0, endMs: span.1)
                batch = input.filter { !present.contains(LogBatching.identity(of: $0.message)) }
                if batch.isEmpty { return (0, 0) }
            }
            let rejected: (tooNewStart: Int?, tooOldEnd: Int?, expiredEnd: Int?)?
            do {
                rejected = try await client.putLogEvents(group: group, stream: stream, events: batch)
            } catch let e as AWSError where e.code == .network || e.code == .server {
                uncertainSince.set(Posix.nowMillis())
                throw e
            }
            var refused = 0
            if let r = rejected {
                if let n = r.tooNewStart { refused += max(0, batch.count - n) }
                refused += max(r.tooOldEnd ?? 0, r.expiredEnd ?? 0)
            }
            return (batch.count - refused, refused)
        }
        let result: (sent: Int, refused: Int)
        do {
            result = try await retrying(call)
        } catch let e as AWSError where e.code == .notFound {
            ensuredGroups.remove(group)
            ensuredStreams.remove(group + "\n" + stream)
            try await ensure(group: group, stream: stream)
            result = try await retrying(call)
        }
        stats.update {
            $0.batches += 1
            $0.forwardedEvents += result.sent
            $0.rejected += result.refused
            $0.references += events.lazy.filter(\.isReference).count
            $0.replacedUTF8 += events.lazy.filter(\.replacedInvalidUTF8).count
        }
    }

    /// `op` under the retry policy, counting each retryable failure (and throttling apart).
    private func retrying<T: Sendable>(_ op: @escaping @Sendable () async throws -> T) async throws -> T {
        let stats = self.stats
        return try await retry.run {
            do {
                return try await op()
            } catch let e as AWSError {
                if e.isRetryable {
                    stats.update {
                        $0.retries += 1
                        if e.code == .throttled { $0.throttles += 1 }
                    }
                }
                throw e
            }
        }
    }
}

/// When a PutLogEvents call last failed in a way that leaves open whether CloudWatch took it.
final class UncertainCall: Sendable {
    private let since = Mutex<Int64?>(nil)
    var value: Int64? { since.withLock { $0 } }
    func set(_ ms: Int64) { since.withLock { $0 = ms } }
}

/// Events read but not yet sent, with what the next batch limits need.
struct PendingRun {
    var events: [PreparedEvent] = []
    var ends: [ForwardPosition] = []
    private var bytes = 0
    private var oldest = Int64.max
    private var newest = Int64.min

    /// Whether all of it would go in one call: while so, reading on may still add to the first batch.
    var fitsOneBatch: Bool {
        events.count <= PutLogEventsLimits.maxEvents && bytes <= PutLogEventsLimits.maxBatchBytes
            && (events.isEmpty || newest &- oldest <= PutLogEventsLimits.maxSpanMs)
    }

    mutating func append(_ e: PreparedEvent, _ end: ForwardPosition) {
        events.append(e)
        ends.append(end)
        bytes += e.size
        oldest = min(oldest, e.timestampMs)
        newest = max(newest, e.timestampMs)
    }

    mutating func removeFirst(_ n: Int) {
        events.removeFirst(n)
        ends.removeFirst(n)
        bytes = events.reduce(0) { $0 + $1.size }
        oldest = events.map(\.timestampMs).min() ?? .max
        newest = events.map(\.timestampMs).max() ?? .min
    }
}
