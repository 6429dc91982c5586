import AWSClient
import CloudTrail
import Foundation
import Forwarder
import Gzip
import LogBatching
import LogStore
import Logging
import Synchronization
import Testing
import TestSupport

/// CloudWatch Logs in memory, with failures on demand: what the forwarder's calls did, checked against every limit.
final class FakeLogs: CloudWatchLogsAPI {
    struct State {
        var groups: Set<String> = []
        var streams: Set<String> = []
        var retention: [String: Int] = [:]
        var events: [String: [LogEventIn]] = [:]
        var puts: [[LogEventIn]] = []
        /// What the next PutLogEvents calls do: nil = take; an error code = fail (after storing when `stored`).
        var script: [(code: AWSError.Code, stored: Bool)?] = []
        /// Every call fails with this (CloudWatch down) while set.
        var down: AWSError.Code? = nil
        var violations: [String] = []
    }
    let state = Mutex(State())

    func fail(_ code: AWSError.Code) -> AWSError { makeError(code) }

    func createLogGroup(_ group: String) async throws {
        if let d = state.withLock({ $0.down }) { throw fail(d) }
        state.withLock { _ = $0.groups.insert(group) }
    }
    func createLogStream(group: String, stream: String) async throws {
        if let d = state.withLock({ $0.down }) { throw fail(d) }
        try state.withLock {
            guard $0.groups.contains(group) else { throw fail(.notFound) }
            $0.streams.insert(group + "/" + stream)
        }
    }
    func putRetentionPolicy(group: String, days: Int) async throws {
        state.withLock { $0.retention[group] = days }
    }
    func putLogEvents(group: String, stream: String, events: [LogEventIn]) async throws -> (
        tooNewStart: Int?, tooOldEnd: Int?, expiredEnd: Int?
    )? {
        try state.withLock { s in
            if let d = s.down { throw fail(d) }
            let step = s.script.isEmpty ? nil : s.script.removeFirst()
            if let step, !step.stored { throw fail(step.code) }
            guard s.streams.contains(group + "/" + stream) else { throw fail(.notFound) }
            // Every limit, as CloudWatch checks it.
            if events.isEmpty || events.count > 10_000 { s.violations.append("count \(events.count)") }
            let bytes = events.reduce(0) { $0 + $1.message.utf8.count + 26 }
            if bytes > 1_048_576 { s.violations.append("bytes \(bytes)") }
            if events.contains(where: { $0.message.utf8.count + 26 > 262_144 }) { s.violations.append("event size") }
            if zip(events, events.dropFirst()).contains(where: { $0.timestampMs > $1.timestampMs }) { s.violations.append("order") }
            if let lo = events.first?.timestampMs, let hi = events.last?.timestampMs, hi - lo > 86_400_000 {
                s.violations.append("span \(hi - lo)")
            }
            s.puts.append(events)
            s.events[group + "/" + stream, default: []] += events
            if let step { throw fail(step.code) }  // taken, but the answer is lost
            return nil
        }
    }
    func filterMessages(group: String, stream: String, startMs: Int64, endMs: Int64, nextToken: String?) async throws -> (
        messages: [String], nextToken: String?
    ) {
        try state.withLock { s in
            if let d = s.down { throw fail(d) }
            guard s.streams.contains(group + "/" + stream) else { throw fail(.notFound) }
            let all = (s.events[group + "/" + stream] ?? []).filter { $0.timestampMs >= startMs && $0.timestampMs <= endMs }
            // Pages of 3, so pagination is exercised.
            let from = Int(nextToken ?? "0") ?? 0
            let page = all.dropFirst(from).prefix(3).map(\.message)
            return (Array(page), from + 3 < all.count ? String(from + 3) : nil)
        }
    }

    /// Each identity (eventID) held, with how often, per stream.
    var held: [String: [String: Int]] {
        state.withLock { s in
            s.events.mapValues { events in
                var n: [String: Int] = [:]
                for e in events { n[LogBatching.identity(of: e.message), default: 0] += 1 }
                return n
            }
        }
    }
}

let account = "111122223333"
let t0: Int64 = 1_709_251_200_000

/// A delivered file of `events` (eventID, time ms), committed to the store as the ingest does.
func commit(_ store: LogStore, _ events: [(id: String, time: Int64, pad: Int)], region: String = "us-east-1", name: String) throws {
    var json = Array(#"{"Records":["#.utf8)
    var records: [DecodedFile.Record] = []
    for (n, e) in events.enumerated() {
        if n > 0 { json.append(0x2C) }
        let rec = Array(
            #"{"eventTime":"\#(Timestamp.formatISO8601(e.time))","eventID":"\#(e.id)","eventName":"E","awsRegion":"\#(region)","recipientAccountId":"\#(account)","p":"\#(String(repeating: "x", count: e.pad))"}"#
                .utf8)
        records.append(
            DecodedFile.Record(
                entry: BlockEntry(timestamp: e.time, offset: json.count, length: rec.count), eventKey: EventKey(Array(e.id.utf8))))
        json += rec
    }
    json += Array("]}".utf8)
    let key = LogFileKey(
        prefix: "", organizationID: nil, account: account, region: region, deliveryTime: events.first?.time ?? 0,
        unique: "AAAAAAAAAAAAAAAA", fileName: name)
    let file = DecodedFile(
        ledgerKey: "bucket/" + name, key: key, size: 1, mtime: 1, compressed: Deflater.gzip(json), uncompressedSize: json.count,
        records: records)
    _ = try store.account(account).commit(file, ingestionTime: 1)
}

func forwarder(_ dir: String, _ fake: FakeLogs) -> Forwarder {
    var settings = Forwarder.Settings(stateDirectory: dir, retentionDays: 30)
    settings.settleMs = 0
    return Forwarder(settings: settings, client: fake, retry: fastRetry(), logger: Logger(label: "test"))
}

@Suite struct ForwarderTests {
    /// Two streams, a duplicate, a 300 KB record, a file spanning three days, a full batch and more:
    /// every event arrives once, in calls within every limit; nothing is sent twice by a second pass.
    @Test func forwardsEveryEventOnceWithinEveryLimit() async throws {
        let dir = tempDir()
        let store = try LogStore(stateDirectory: dir)
        try commit(store, (0..<12_000).map { (id: "a\($0)", time: t0 + Int64($0) * 10, pad: 0) }, name: "many")
        try commit(store, [(id: "a5", time: t0 + 50, pad: 0), (id: "big", time: t0 + 7, pad: 300_000)], name: "dup-and-big")
        try commit(store, (0..<30).map { (id: "span\($0)", time: t0 + Int64($0) * 3 * 3_600_000, pad: 0) }, name: "span")
        try commit(store, [(id: "w1", time: t0, pad: 0)], region: "eu-west-1", name: "west")
        let fake = FakeLogs()
        let f = forwarder(dir, fake)
        let sent = try await f.pass()
        #expect(sent == 12_000 + 1 + 30 + 1)
        let held = fake.held
        let east = try #require(held["aws-cloudtrail-logs-\(account)/\(account)_CloudTrail_us-east-1"])
        #expect(east.count == 12_031)
        #expect(east.values.allSatisfy { $0 == 1 })
        #expect(held["aws-cloudtrail-logs-\(account)/\(account)_CloudTrail_eu-west-1"] == ["id:w1": 1])
        #expect(fake.state.withLock { $0.violations } == [])
        #expect(fake.state.withLock { $0.puts.count } >= 4, "12,000 events need two calls, 90 h of span four more")
        #expect(fake.state.withLock { $0.retention["aws-cloudtrail-logs-\(account)"] } == 30)
        let s = f.stats.snapshot
        #expect(s.references == 1 && s.forwardedEvents == 12_032 && s.pendingBlocks == 0)
        // The reference event stands for the 300 KB record.
        let big = fake.state.withLock { $0.events.values.flatMap { $0 } }.first { $0.message.contains(#""eventID":"big""#) }
        #expect(big?.message.contains("trailwatchTruncated") == true)
        #expect(try await f.pass() == 0)
        try commit(store, [(id: "late", time: t0, pad: 0)], name: "later")
        #expect(try await f.pass() == 1)
        #expect(fake.held["aws-cloudtrail-logs-\(account)/\(account)_CloudTrail_us-east-1"]?.count == 12_032)
    }

    /// A death after CloudWatch took a batch but before the checkpoint advanced: the restart finds
    /// the batch in flight, asks CloudWatch, and sends only what it lacks.
    @Test func aBatchInFlightAtADeathIsReconciledNotSentTwice() async throws {
        let dir = tempDir()
        let store = try LogStore(stateDirectory: dir)
        try commit(store, (0..<10).map { (id: "e\($0)", time: t0 + Int64($0), pad: 0) }, name: "f1")
        let fake = FakeLogs()
        // Taken, then the process "dies": the call fails in a way the forwarder does not retry.
        fake.state.withLock { $0.script = [(code: .client, stored: true)] }
        _ = try await forwarder(dir, fake).pass()
        let cp = try #require(try store.account(account).forwardCheckpoints().first)
        #expect(cp.inFlight?.count == 10, "precondition: the batch is still in flight")
        #expect(fake.held.values.first?.count == 10, "precondition: CloudWatch holds it")
        try commit(store, [(id: "after", time: t0 + 100, pad: 0)], name: "f2")
        let restarted = forwarder(dir, fake)
        _ = try await restarted.pass()
        let held = try #require(fake.held.values.first)
        #expect(held.count == 11 && held.values.allSatisfy { $0 == 1 })
        #expect(restarted.stats.snapshot.alreadyThere == 10 && restarted.stats.snapshot.reconciledBatches == 1)
        #expect(try store.account(account).forwardCheckpoints().first?.inFlight == nil)
    }

    /// In flight but never taken (the death came before the call): the reconcile sends it all.
    @Test func aBatchInFlightThatNeverArrivedIsSent() async throws {
        let dir = tempDir()
        let store = try LogStore(stateDirectory: dir)
        try commit(store, (0..<5).map { (id: "e\($0)", time: t0 + Int64($0), pad: 0) }, name: "f1")
        let fake = FakeLogs()
        fake.state.withLock { $0.script = [(code: .client, stored: false)] }
        _ = try await forwarder(dir, fake).pass()
        #expect(try store.account(account).forwardCheckpoints().first?.inFlight != nil)
        #expect(fake.held.isEmpty)
        let restarted = forwarder(dir, fake)
        _ = try await restarted.pass()
        #expect(fake.held.values.first?.count == 5)
        #expect(restarted.stats.snapshot.alreadyThere == 0)
    }

    /// Throttling is retried and counted; a 5xx or network error whose call CloudWatch took anyway
    /// (the answer lost) is not sent again blindly.
    @Test func throttlingAndLostAnswersAreRetriedWithoutDuplicates() async throws {
        let dir = tempDir()
        let store = try LogStore(stateDirectory: dir)
        try commit(store, (0..<20).map { (id: "e\($0)", time: t0 + Int64($0), pad: 0) }, name: "f1")
        let fake = FakeLogs()
        fake.state.withLock {
            $0.script = [(code: .throttled, stored: false), (code: .server, stored: false), (code: .network, stored: true)]
        }
        let f = forwarder(dir, fake)
        #expect(try await f.pass() == 20)
        let held = try #require(fake.held.values.first)
        #expect(held.count == 20 && held.values.allSatisfy { $0 == 1 })
        let s = f.stats.snapshot
        #expect(s.throttles == 1 && s.retries == 3)
        #expect(fake.state.withLock { $0.script.isEmpty }, "precondition: every failure happened")
    }

    /// CloudWatch down: the pass fails, the blocks stay (retention keeps them), and once it answers all arrive once.
    @Test func anOutageLosesNothing() async throws {
        let dir = tempDir()
        let store = try LogStore(stateDirectory: dir, retentionDays: 1)
        try commit(store, (0..<5).map { (id: "old\($0)", time: t0 + Int64($0), pad: 0) }, name: "f1")
        let fake = FakeLogs()
        fake.state.withLock { $0.down = .network }
        let f = forwarder(dir, fake)
        await #expect(throws: AWSError.self) { try await f.pass() }
        // Years past the retention, the unsent block stays.
        #expect(try store.account(account).applyRetention(now: t0 + 1000 * 86_400_000, keepUnforwarded: true) == 0)
        try commit(store, [(id: "new", time: t0 + 10, pad: 0)], name: "f2")
        fake.state.withLock { $0.down = nil }
        #expect(try await f.pass() == 6)
        #expect(fake.held.values.first?.count == 6)
        #expect(f.stats.snapshot.pendingBlocks == 0)
    }
}

func makeError(_ code: AWSError.Code) -> AWSError { AWSError(code, "fake \(code)") }
/// The default policy without its pauses.
func fastRetry() -> RetryPolicy { RetryPolicy(sleep: { _ in }) }
