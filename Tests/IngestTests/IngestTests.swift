import AlertModel
import CloudTrail
import Foundation
import Gzip
import Ingest
import InMemoryLogging
import LogStore
import Logging
import Simulator
import Alerts
import Rules
import Posix
import Testing
import TestSupport

@Suite struct IngestTests {
    @Test func generatedBucketOfThreeAccountsAndTwoRegionsExactlyOnce() throws {
        let bucket = tempDir("bucket") + "/demo-bucket"
        var o = Simulator.Options(out: bucket)
        o.accounts = 3
        o.regions = ["us-east-1", "eu-west-1"]
        o.hours = 2
        o.ratePerMinute = 30
        o.duplicateFraction = 0.02
        let manifest = try Simulator(o).write(windows: 0..<24)
        #expect(manifest.duplicates > 0 && manifest.late > 0, "the bucket must exercise duplicates and late events")
        let truth = try Truth(bucket: bucket)
        #expect(truth.records == manifest.records)

        let state = tempDir("state")
        let (ingestor, _) = try makeIngestor(bucket: bucket, state: state)
        let stats = try ingestor.runOnce()
        #expect(stats.filesIngested == manifest.files)
        #expect(stats.errorCount == 0)
        #expect(stats.eventsStored == truth.events.count)
        #expect(stats.duplicates == truth.records - truth.events.count)

        let stored = try storedEvents(state: state)
        #expect(stored.count == truth.events.count)
        var seen = Set<String>()
        for e in stored {
            let id = eventID(e.message)
            let key = "\(e.account)/\(id)"
            #expect(seen.insert(key).inserted, "stored twice: \(key)")
            let expected = try #require(truth.events[key], "unknown event \(key)")
            #expect(e.stream == "\(expected.account)_CloudTrail_\(expected.region)")
            // The message is the record's original bytes, as they stand in the delivered file.
            #expect(truth.contents[id]!.range(of: Data(e.message)) != nil)
        }
        #expect(seen.count == truth.events.count)
        let groups = try LogStore(stateDirectory: state, readOnly: true).groups().map(\.name)
        #expect(groups.count == 3 && groups.allSatisfy { $0.hasPrefix("aws-cloudtrail-logs-") })

        // A second run (a restart) takes nothing again.
        let (again, _) = try makeIngestor(bucket: bucket, state: state)
        let s2 = try again.runOnce()
        #expect(s2.filesIngested == 0 && s2.eventsStored == 0)
    }

    @Test func realInvictusDeliveryFilesIngestCompletely() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/invictus-ir-aws-dataset")
        let names = try FileManager.default.contentsOfDirectory(atPath: fixtures.path).filter { $0.hasSuffix(".json.gz") }
        #expect(names.count == 55)
        let bucket = tempDir("bucket") + "/invictus-bucket"
        let dir = bucket + "/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for n in names { try FileManager.default.copyItem(atPath: fixtures.path + "/" + n, toPath: dir + "/" + n) }
        let truth = try Truth(bucket: bucket)
        #expect(truth.records == 2900)
        let state = tempDir("state")
        let (ingestor, _) = try makeIngestor(bucket: bucket, state: state)
        let stats = try ingestor.runOnce()
        #expect(stats.filesIngested == 55)
        #expect(stats.errorCount == 0)
        #expect(stats.recordsRead == 2900)
        #expect(stats.eventsStored == truth.events.count)
        let stored = try storedEvents(state: state)
        #expect(Set(stored.map { eventID($0.message) }).count == truth.events.count)
        for e in stored { #expect(truth.contents[eventID(e.message)]!.range(of: Data(e.message)) != nil) }
    }

    @Test func outOfOrderLateAndDuplicatedFiles() throws {
        let bucket = tempDir("bucket") + "/b"
        // The 10:20 file first, then 10:05 (lands late), which repeats two events and carries a late one.
        try writeLog(bucket: bucket, stamp: "20240301T1020Z", unique: "BBBBBBBBBBBBBBBB", records: (0..<5).map { rec(guid($0), "2024-03-01T10:1\($0):00Z") })
        let state = tempDir("state")
        let (first, _) = try makeIngestor(bucket: bucket, state: state)
        #expect(try first.runOnce().eventsStored == 5)
        try writeLog(
            bucket: bucket, stamp: "20240301T1005Z", unique: "AAAAAAAAAAAAAAAA",
            records: [rec(guid(1), "2024-03-01T10:11:00Z"), rec(guid(3), "2024-03-01T10:13:00Z"), rec(guid(9), "2024-03-01T09:40:00Z"), rec(guid(9), "2024-03-01T09:40:00Z")])
        let (second, _) = try makeIngestor(bucket: bucket, state: state)
        let s = try second.runOnce()
        #expect(s.filesIngested == 1)
        #expect(s.eventsStored == 1)
        #expect(s.duplicates == 3)
        let stored = try storedEvents(state: state)
        #expect(stored.map { eventID($0.message) }.sorted() == [0, 1, 2, 3, 4, 9].map(guid).sorted())
        #expect(eventID(stored.first!.message) == guid(9), "ordered by event time, the late event first")
    }

    @Test func badInputIsNamedCountedAndSkippedWhileEverythingElseIsStored() throws {
        let bucket = tempDir("bucket") + "/b"
        let good1 = try writeLog(bucket: bucket, stamp: "20240301T1000Z", unique: "GOOD000000000001", records: [rec(guid(1), "2024-03-01T09:58:00Z")])
        var bad: [String: String] = [:]  // path -> expected counter
        bad[try writeLog(bucket: bucket, stamp: "20240301T1005Z", unique: "CORRUPT000000001", records: [], raw: badCRC())] = "corrupt_gzip"
        bad[try writeLog(bucket: bucket, stamp: "20240301T1005Z", unique: "NOTGZIP000000001", records: [], raw: Array("plain text, not gzip".utf8))] = "corrupt_gzip"
        bad[try writeLog(bucket: bucket, stamp: "20240301T1010Z", unique: "NOTJSON000000001", records: [], raw: Deflater.gzip(Array("hello world".utf8)))] = "not_json"
        bad[try writeLog(bucket: bucket, stamp: "20240301T1015Z", unique: "NORECORDS0000001", records: [], raw: Deflater.gzip(Array(#"{"Events":[{"eventID":"x"}]}"#.utf8)))] = "no_records"
        bad[try writeLog(bucket: bucket, stamp: "20240301T1020Z", unique: "JSONCUT000000001", records: [], raw: Deflater.gzip(Array(#"{"Records":[{"eventID":"x"},{"ev"#.utf8)))] = "malformed_json"
        let full = Deflater.gzip(Array(("{\"Records\":[" + rec(guid(50), "2024-03-01T10:20:00Z") + "]}").utf8))
        bad[try writeLog(bucket: bucket, stamp: "20240301T1025Z", unique: "TRUNCATED0000001", records: [], raw: Array(full.prefix(full.count / 2)))] = "truncated"
        bad[try writeLog(bucket: bucket, stamp: "20240301T1030Z", unique: "EMPTY00000000001", records: [], raw: [])] = "empty_file"
        // Records missing fields are kept and counted.
        let missing = try writeLog(
            bucket: bucket, stamp: "20240301T1035Z", unique: "MISSING000000001",
            records: [#"{"eventName":"NoIdNoTime"}"#, #"{"eventID":"\#(guid(60))","eventName":"NoTime"}"#, rec(guid(61), "2024-03-01T10:31:00Z")])
        // Names that do not match, a folder object, a symlink out of the tree.
        let day = bucket + "/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01"
        try Data().write(to: URL(fileURLWithPath: bucket + "/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03_$folder$"))
        bad[bucket + "/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03_$folder$"] = "unrecognised_name"
        try Data("x".utf8).write(to: URL(fileURLWithPath: day + "/notes.json.gz"))
        bad[day + "/notes.json.gz"] = "unrecognised_name"
        let outside = tempDir("outside") + "/123456789012_CloudTrail_us-east-1_20240301T1040Z_OUTSIDE000000001.json.gz"
        try Data(Deflater.gzip(Array(("{\"Records\":[" + rec(guid(70), "2024-03-01T10:40:00Z") + "]}").utf8))).write(to: URL(fileURLWithPath: outside))
        let link = day + "/123456789012_CloudTrail_us-east-1_20240301T1040Z_OUTSIDE000000001.json.gz"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: outside)
        bad[link] = "symlink_outside_root"
        // A symlink inside the tree is followed.
        let inside = try writeLog(bucket: bucket, stamp: "20240301T1045Z", unique: "TARGET0000000001", records: [rec(guid(80), "2024-03-01T10:44:00Z")])
        try FileManager.default.createDirectory(atPath: bucket + "/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/02", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: bucket + "/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/02/123456789012_CloudTrail_us-east-1_20240302T0000Z_LINKED0000000001.json.gz",
            withDestinationPath: inside)
        let good2 = try writeLog(bucket: bucket, stamp: "20240301T1050Z", unique: "GOOD000000000002", records: [rec(guid(2), "2024-03-01T10:49:00Z")])

        let state = tempDir("state")
        let (ingestor, logs) = try makeIngestor(bucket: bucket, state: state)
        let stats = try ingestor.runOnce()
        // Each bad file: exactly one log line naming it, with its reason.
        for (path, code) in bad {
            let lines = logs.entries.filter { "\($0.message)".contains(path) }
            #expect(lines.count == 1, "\(path): \(lines.map { "\($0.message)" })")
            if let l = lines.first, code != "truncated" && code != "empty_file" {
                #expect(l.metadata["reason"]?.description == code, "\(path): \(l)")
                #expect(l.level == .error)
            }
        }
        #expect(stats.errors[.corruptGzip] == 2)
        #expect(stats.errors[.notJSON] == 1)
        #expect(stats.errors[.noRecords] == 1)
        #expect(stats.errors[.malformedJSON] == 1)
        #expect(stats.errors[.badName] == 2)
        #expect(stats.errors[.symlinkOutside] == 1)
        #expect(stats.incomplete == 2, "truncated and empty files are incomplete in a one-shot run, retried next run")
        #expect(stats.recordsMissingFields == 2)
        #expect(logs.entries.filter { "\($0.message)".contains(missing) }.count == 1)
        // Everything else is stored.
        let ids = Set(try storedEvents(state: state).compactMap { m -> String? in
            (try? JSONSerialization.jsonObject(with: Data(m.message)) as? [String: Any])?["eventID"] as? String
        })
        #expect(ids == Set([guid(1), guid(2), guid(60), guid(61), guid(80)]))
        #expect(try storedEvents(state: state).count == 6, "the record without eventID is kept too")
        #expect(stats.filesIngested == 5)
        _ = (good1, good2)

        // A second run reports nothing again for files already failed (ledgered), and nothing is doubled.
        let (again, logs2) = try makeIngestor(bucket: bucket, state: state)
        let s2 = try again.runOnce()
        #expect(s2.errors[.corruptGzip] == nil && s2.errors[.notJSON] == nil)
        #expect(s2.eventsStored == 0)
        #expect(logs2.entries.filter { $0.level == .error && "\($0.message)".contains("CORRUPT") }.isEmpty)
    }

    @Test func truncatedFileInTheDaemonIsRetriedThenFailedAfterTheTimeout() throws {
        let bucket = tempDir("bucket") + "/b"
        let full = gz([rec(guid(1), "2024-03-01T10:20:00Z")])
        let path = try writeLog(bucket: bucket, stamp: "20240301T1025Z", unique: "TRUNCATED0000001", records: [], raw: Array(full.prefix(10)))
        let state = tempDir("state")
        let (ingestor, logs) = try makeIngestor(bucket: bucket, state: state) { $0.incompleteTimeout = 1.5 }
        let done = DispatchSemaphore(value: 0)
        let box = UncheckedBox(ingestor)
        Thread.detachNewThread {
            try? box.value.runForever(onReady: {}, heartbeat: {})
            done.signal()
        }
        _ = eventually(timeout: 15) { ingestor.stats.snapshot.errors[.truncated] != nil }
        ingestor.requestStop()
        done.wait()
        #expect(ingestor.stats.snapshot.errors[.truncated] == 1)
        #expect(logs.entries.filter { $0.level == .error && "\($0.message)".contains(path) }.count == 1)
        let ledger = try LogStore(stateDirectory: state).account("123456789012").ledger()
        #expect(ledger.values.first?.status == .failed)
    }
}

/// A valid gzip member whose CRC trailer is wrong.
func badCRC() -> [UInt8] {
    var gz = Deflater.gzip(Array(("{\"Records\":[" + rec(guid(99), "2024-03-01T10:00:00Z") + "]}").utf8))
    gz[gz.count - 8] ^= 0xFF
    return gz
}

final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}

@Suite struct OrderedResultsTests {
    @Test func resultsComeInOrderAndAStopEndsAfterWhatWasClaimed() {
        let r = OrderedResults<Int>(count: 5, window: 2)
        #expect(r.claim() == 0)
        #expect(r.claim() == 1)
        r.stop()
        #expect(r.claim() == nil, "no new work after a stop")
        r.put(1, 10)
        r.put(0, 0)
        #expect(r.take() == 0)
        #expect(r.take() == 10)
        #expect(r.take() == nil, "everything claimed was handed out")
    }

    /// What the decoders look at to take the committer's rule matching: a result ready for the taker.
    @Test func theTakerIsBehindOnlyWhileTheNextResultWaits() {
        let r = OrderedResults<Int>(count: 3, window: 3)
        #expect(r.claim() == 0 && r.claim() == 1)
        #expect(!r.takerBehind, "nothing ready yet")
        r.put(1, 10)
        #expect(!r.takerBehind, "a later result is ready, but the taker waits for index 0")
        r.put(0, 0)
        #expect(r.takerBehind)
        #expect(r.take() == 0)
        #expect(r.takerBehind, "index 1 waits")
        #expect(r.take() == 10)
        #expect(!r.takerBehind)
    }

    @Test func theWindowBoundsWhatIsInFlight() {
        let r = OrderedResults<Int>(count: 3, window: 1)
        #expect(r.claim() == 0)
        let second = DispatchSemaphore(value: 0)
        let box = UncheckedBox(r)
        Thread.detachNewThread {
            _ = box.value.claim()  // waits until index 0 has been taken
            second.signal()
        }
        #expect(second.wait(timeout: .now() + 0.3) == .timedOut)
        r.put(0, 0)
        #expect(r.take() == 0)
        #expect(second.wait(timeout: .now() + 5) == .success)
    }
}

/// A sink that refuses alerts while `down` is set, as journald does when it is stopped.
final class SwitchableSink: AlertSink, @unchecked Sendable {
    let name = "switchable"
    private let lock = NSLock()
    private var _down = true
    private var _received: [String] = []
    /// What it took, read under the lock (the ingest thread appends while tests poll).
    var received: [String] { lock.withLock { _received } }
    var down: Bool {
        get { lock.withLock { _down } }
        set { lock.withLock { _down = newValue } }
    }
    func send(_ alert: Alert) throws {
        try lock.withLock {
            if _down { throw AlertSinkError(description: "connection refused") }
            _received.append(alert.alertID)
        }
    }
}

/// A sink that answers for what it took (as journald and a JSON-lines file do), and can run a
/// closure before each batch (to copy the state directory: what a kill -9 at that point leaves).
final class VouchingSink: AlertSink, @unchecked Sendable {
    let name = "vouching"
    private let lock = NSLock()
    private var _received: [String]
    private var batches = 0
    var beforeBatch: (Int) -> Void = { _ in }
    init(received: [String] = []) { _received = received }
    var received: [String] { lock.withLock { _received } }
    var answersDelivered: Bool { true }
    func delivered(_ alertID: String) -> Bool { lock.withLock { _received.contains(alertID) } }
    func send(_ alert: Alert) throws { lock.withLock { _received.append(alert.alertID) } }
    func send(batch: [Alert]) -> (taken: Int, error: (any Error)?) {
        batches += 1
        beforeBatch(batches)
        lock.withLock { _received += batch.map(\.alertID) }
        return (batch.count, nil)
    }
}

@Suite struct AlertDeliveryTests {
    static let rule = """
        rule terminate-seen
            severity high
            when eventName = "TerminateInstances"
            message "{event_name} by {principal}"
        end
        """

    @Test func aSinkThatIsDownHoldsBackOnlyItselfAndGetsEveryAlertOnceWhenBack() throws {
        let bucket = tempDir("bucket"), state = tempDir("state"), rules = tempDir("rules")
        try Self.rule.write(toFile: rules + "/t.rules", atomically: true, encoding: .utf8)
        // More alerts than one outbox page (500), so the working sink must get those beyond it too.
        let n = 1_203
        try writeLog(bucket: bucket, stamp: "20240301T1000Z", records: (1...n).map {
            rec(guid($0), "2024-03-01T10:\(String(format: "%02d", $0 % 60)):00Z", name: "TerminateInstances")
        })
        let file = tempDir("alerts") + "/alerts.jsonl"
        let flaky = SwitchableSink()

        // First run: the switchable sink is down; the file sink gets every alert at once.
        let (first, logs) = try makeIngestor(bucket: bucket, state: state) { $0.rulePaths = [rules] }
        #expect(first.reloadRules().loaded)
        first.sinks = [flaky, try JSONLinesAlertSink(path: file)]
        let stats = try first.runOnce()
        #expect(stats.alertsPending == n)
        #expect(stats.alerts == 0)
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == n)
        #expect(flaky.received.isEmpty)
        // The failure is logged once, naming the sink, not once per alert.
        let refused = logs.entries.filter { $0.message.description.contains("to switchable") }
        #expect(refused.count == 1)
        #expect(stats.summary(seconds: 1).contains("\(n) alerts wait in the outbox"))

        // Second run, sink back: it gets them all, in order, the file gets no repeat, the outbox is empty.
        flaky.down = false
        let (second, _) = try makeIngestor(bucket: bucket, state: state) { $0.rulePaths = [rules] }
        #expect(second.reloadRules().loaded)
        second.sinks = [flaky, try JSONLinesAlertSink(path: file)]
        let again = try second.runOnce()
        #expect(again.alertsPending == 0)
        #expect(flaky.received.count == n)
        #expect(Set(flaky.received).count == n)
        let fileOrder = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["alert_id"] as! String
        }
        #expect(fileOrder == flaky.received, "the same alerts in the same (outbox) order")
        let store = try LogStore(stateDirectory: state, readOnly: true)
        #expect(try store.account("123456789012").pendingAlerts().isEmpty)
        // Delivered alerts keep their id (never recorded twice) but not their payload.
        let left = try commandOutput(["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            print(*db.execute("SELECT count(*), coalesce(sum(length(payload)), 0) FROM alerts").fetchone())
            """, state + "/groups/123456789012.sqlite"])
        #expect(String(decoding: left, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "\(n) 0")
    }

    /// What a kill -9 between sends and their record leaves: the file has alerts the outbox does not
    /// know it has. Built here by deleting the outbox's delivery records for the last alerts (another
    /// sink is down, so they stay pending with their payload).
    func crashState(lost: Int, keepInFile: Int) throws -> (bucket: String, state: String, rules: String, file: String, ids: [String]) {
        let bucket = tempDir("bucket"), state = tempDir("state"), rules = tempDir("rules")
        try Self.rule.write(toFile: rules + "/t.rules", atomically: true, encoding: .utf8)
        try writeLog(bucket: bucket, stamp: "20240301T1000Z", records: (1...5).map { rec(guid($0), "2024-03-01T10:0\($0):00Z", name: "TerminateInstances") })
        let file = tempDir("alerts") + "/alerts.jsonl"
        let (first, _) = try makeIngestor(bucket: bucket, state: state) { $0.rulePaths = [rules] }
        #expect(first.reloadRules().loaded)
        first.sinks = [try JSONLinesAlertSink(path: file), SwitchableSink()]
        #expect(try first.runOnce().alertsPending == 5)
        _ = try commandOutput(["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("DELETE FROM alert_deliveries WHERE id IN (SELECT id FROM alerts ORDER BY seq DESC LIMIT ?)", (int(sys.argv[2]),))
            db.commit()
            """, state + "/groups/123456789012.sqlite", String(lost)])
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5)
        try String(lines.prefix(keepInFile).joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let ids = lines.map { (try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["alert_id"] as! String }
        return (bucket, state, rules, file, ids)
    }

    func restart(_ c: (bucket: String, state: String, rules: String, file: String, ids: [String])) throws -> (SwitchableSink, [String]) {
        let other = SwitchableSink()
        other.down = false
        let (second, _) = try makeIngestor(bucket: c.bucket, state: c.state) { $0.rulePaths = [c.rules] }
        #expect(second.reloadRules().loaded)
        second.sinks = [try JSONLinesAlertSink(path: c.file), other]
        #expect(try second.runOnce().alertsPending == 0)
        let inFile = try String(contentsOfFile: c.file, encoding: .utf8).split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["alert_id"] as! String
        }
        return (other, inFile)
    }

    @Test func aCrashAfterTheSinkTookAlertsIsResolvedByAskingIt() throws {
        // Three alerts reached the file but their record was lost: found there, not sent again.
        let c = try crashState(lost: 3, keepInFile: 5)
        let (other, inFile) = try restart(c)
        #expect(inFile == c.ids, "no alert written twice, order kept")
        #expect(other.received == c.ids)
    }

    @Test func aCrashBeforeTheSinkTookThemSendsTheRestOnce() throws {
        // Three unrecorded, of which only the first reached the file: the other two are sent, once.
        let c = try crashState(lost: 3, keepInFile: 3)
        let (other, inFile) = try restart(c)
        #expect(inFile == c.ids, "the file ends with every alert once, in order")
        #expect(other.received == c.ids)
    }

    /// With sinks that answer for what they took, a file's receipts ride with the account's next
    /// file transaction (or the end of the batch). A kill -9 in between leaves alerts that were
    /// sent but look pending: the restart asks the sink, which has them, and sends each alert once.
    @Test func receiptsRideWithTheNextFileAndACrashBeforeThemRepeatsNothing() throws {
        let bucket = tempDir("bucket"), state = tempDir("state"), rules = tempDir("rules")
        try Self.rule.write(toFile: rules + "/t.rules", atomically: true, encoding: .utf8)
        let (a, b) = ("111111111111", "222222222222")
        // In delivery order: A's first file, B's file, A's second file; three alerts each.
        for (n, (account, stamp)) in [(a, "20240301T1000Z"), (b, "20240301T1005Z"), (a, "20240301T1010Z")].enumerated() {
            try writeLog(bucket: bucket, account: account, stamp: stamp, records: (0..<3).map {
                rec(guid(n * 10 + $0), "2024-03-01T10:0\(n * 3 + $0):00Z", name: "TerminateInstances", account: account)
            })
        }
        let sink = VouchingSink()
        var snapshots: [Int: (state: String, received: [String])] = [:]
        /// A copy of a state directory as a kill -9 leaves it (no transaction is open at a send).
        func clone(_ dir: String) -> String {
            let copy = tempDir("crash")
            for f in (try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? [] where !f.hasSuffix("-shm") {
                var isDir: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: dir + "/" + f, isDirectory: &isDir)
                if isDir.boolValue {
                    try? FileManager.default.createDirectory(atPath: copy + "/" + f, withIntermediateDirectories: true)
                } else {
                    try? FileManager.default.copyItem(atPath: dir + "/" + f, toPath: copy + "/" + f)
                }
            }
            return copy
        }
        // The state as a kill -9 before the k-th file's alerts go out leaves it.
        sink.beforeBatch = { k in snapshots[k] = (clone(state), sink.received) }
        // One transaction per file: with group commit, A's two files may be taken together with B's
        // and commit before it (GroupCommitTests), which changes the order of the sends this follows.
        let oneByOne: (inout IngestConfig) -> Void = {
            $0.rulePaths = [rules]
            $0.groupCommitFiles = 1
        }
        let (first, _) = try makeIngestor(bucket: bucket, state: state, configure: oneByOne)
        #expect(first.reloadRules().loaded)
        first.sinks = [sink]
        #expect(try first.runOnce().alertsPending == 0)
        let all = sink.received
        #expect(all.count == 9 && Set(all).count == 9)
        func pending(_ state: String, _ account: String) throws -> [String] {
            try LogStore(stateDirectory: state, readOnly: true).account(account).pendingAlerts().map(\.id)
        }
        // Before B's alerts go out, A's first three are sent but their receipts wait for A's next file.
        let beforeB = try #require(snapshots[2])
        #expect(beforeB.received == Array(all.prefix(3)))
        #expect(try pending(beforeB.state, a) == Array(all.prefix(3)), "A's receipts are not written yet")
        // Before A's second file's alerts go out, that file's transaction has written A's first receipts.
        let beforeA2 = try #require(snapshots[3])
        #expect(try pending(beforeA2.state, a) == Array(all.suffix(3)), "only A's second file's alerts are pending")
        #expect(try pending(beforeA2.state, b) == Array(all[3..<6]), "B's receipts wait for the end of the batch")
        // Restarts from each crash: every alert reaches the sink exactly once, in order.
        // Restarts from each crash, the sink holding what it took by then, and from a crash after the
        // last alerts went out but before their receipts (or B's) were written: every alert reaches
        // the sink exactly once, in order.
        for (what, snap, received) in [
            ("before B's alerts", beforeB, beforeB.received), ("before A's second alerts", beforeA2, beforeA2.received),
            ("after the last alerts", beforeA2, all),
        ] {
            let restarted = VouchingSink(received: received)
            let crashed = clone(snap.state)
            let (again, _) = try makeIngestor(bucket: bucket, state: crashed, configure: oneByOne)
            #expect(again.reloadRules().loaded)
            again.sinks = [restarted]
            #expect(try again.runOnce().alertsPending == 0)
            #expect(restarted.received == all, "crash \(what): \(restarted.received.count) sent in all")
            #expect(try pending(crashed, a).isEmpty && pending(crashed, b).isEmpty)
        }
    }

    @Test func theDaemonRetriesASinkThatComesBackWithoutNewFiles() throws {
        let bucket = tempDir("bucket"), state = tempDir("state"), rules = tempDir("rules")
        try Self.rule.write(toFile: rules + "/t.rules", atomically: true, encoding: .utf8)
        try writeLog(bucket: bucket, stamp: "20240301T1000Z", records: [rec(guid(1), "2024-03-01T10:01:00Z", name: "TerminateInstances")])
        let flaky = SwitchableSink()
        let (ingestor, _) = try makeIngestor(bucket: bucket, state: state) { $0.rulePaths = [rules] }
        #expect(ingestor.reloadRules().loaded)
        ingestor.sinks = [flaky]
        ingestor.alertRetryInterval = 0.2
        let ready = DispatchSemaphore(value: 0)
        let box = UncheckedBox(ingestor)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? box.value.runForever(onReady: { ready.signal() }, heartbeat: {})
            done.signal()
        }
        #expect(ready.wait(timeout: .now() + 30) == .success)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(flaky.received.isEmpty)
        flaky.down = false
        #expect(eventually(timeout: 5) { flaky.received.count == 1 }, "the loop retried the outbox without a new file")
        ingestor.requestStop()
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(flaky.received.count == 1)
    }
}

@Suite struct PosixTests {
    @Test func readFileWholeOrItsTail() throws {
        let path = tempDir("posix") + "/f"
        let bytes = (0..<100_000).map { UInt8($0 % 251) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try Posix.readFile(path) == bytes)
        #expect(try Posix.readFile(path, last: 10) == Array(bytes.suffix(10)))
        #expect(try Posix.readFile(path, last: 70_000) == Array(bytes.suffix(70_000)))
        #expect(try Posix.readFile(path, last: 1 << 30) == bytes, "more than the file: all of it")
        #expect(try Posix.readFile(path, last: 0).isEmpty)
        #expect(throws: PosixError.self) { try Posix.readFile(path + ".missing") }
    }

    /// `readBytes` gives exactly the bytes read: all of a file, its first bytes up to a limit,
    /// and no more than the file holds when the limit is larger (no stale or zero bytes).
    @Test func readBytesUpToALimit() throws {
        let path = tempDir("posix") + "/g"
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        for limit in [0, 1, 10, 65_536, 299_999, 300_000, 300_001, 1 << 20] {
            let fd = try Posix.openFile(path, O_RDONLY | O_CLOEXEC)
            defer { Posix.closeFile(fd) }
            #expect(try Posix.readBytes(fd, upTo: limit, path: path) == Array(bytes.prefix(limit)), "limit \(limit)")
        }
    }
}

@Suite struct WatchTests {
    /// A folder that vanishes between listing and watching is not reported as the watch limit (it once was).
    @Test func aVanishedFolderIsNotCalledTheWatchLimit() throws {
        let bucket = tempDir("bucket") + "/b"
        try FileManager.default.createDirectory(atPath: bucket, withIntermediateDirectories: true)
        let (ingestor, logs) = try makeIngestor(bucket: bucket, state: tempDir("state"))
        let watcher = try Inotify()
        ingestor.watch(watcher, root: bucket, relative: "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01")
        #expect(!watcher.isWatching(bucket + "/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01"))
        let lines = logs.entries.map(\.message.description)
        #expect(lines.count == 1)
        #expect(lines.allSatisfy { $0.contains("vanished") && !$0.contains("max_user_watches") }, "\(lines)")
        // The folder is there: watched, nothing said.
        try FileManager.default.createDirectory(atPath: bucket + "/AWSLogs", withIntermediateDirectories: true)
        ingestor.watch(watcher, root: bucket, relative: "AWSLogs")
        #expect(watcher.isWatching(bucket + "/AWSLogs") && logs.entries.count == 1)
    }
}
