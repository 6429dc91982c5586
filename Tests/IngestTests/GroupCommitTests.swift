import Alerts
import Foundation
import Ingest
import LogStore
import Posix
import Testing
import TestSupport

@Suite struct GroupCommitTests {
    /// A bucket where files wait for the committer: a large file first (its commit takes long), then
    /// small files of the same account (decoded meanwhile), and two of another account between them.
    static func bucket() throws -> String {
        let bucket = tempDir("bucket")
        try writeLog(bucket: bucket, stamp: "20240301T1000Z", unique: "LARGEFILE0000001", records: (0..<60_000).map {
            rec(guid(1_000_000 + $0), "2024-03-01T10:0\($0 % 10):00Z", name: "Big\($0 % 13)")
        })
        for f in 0..<6 {
            try writeLog(bucket: bucket, stamp: "20240301T101\(f)Z", unique: String(format: "SMALL%011d", f), records: (0..<200).map {
                rec(guid(f * 1000 + $0), "2024-03-01T10:1\(f):\(String(format: "%02d", $0 % 60))Z", name: $0 % 50 == 0 ? "TerminateInstances" : "DescribeInstances")
            })
            if f % 3 == 1 {
                try writeLog(bucket: bucket, account: "210987654321", stamp: "20240301T101\(f)Z", unique: String(format: "OTHER%011d", f), records: (0..<100).map {
                    rec(guid(50_000 + f * 1000 + $0), "2024-03-01T10:1\(f):00Z", name: "TerminateInstances", account: "210987654321")
                })
            }
        }
        return bucket
    }

    /// One run over `bucket` with a rule alerting on each TerminateInstances and a JSON-lines sink: its stats, stored events and alert lines.
    static func run(_ bucket: String, groupCommitFiles: Int) throws -> (IngestStats, [String], [String]) {
        let state = tempDir("state"), rules = tempDir("rules")
        try AlertDeliveryTests.rule.write(toFile: rules + "/t.rules", atomically: true, encoding: .utf8)
        let (ingestor, _) = try makeIngestor(bucket: bucket, state: state) {
            $0.rulePaths = [rules]
            $0.groupCommitFiles = groupCommitFiles
        }
        #expect(ingestor.reloadRules().loaded)
        let file = tempDir("alerts") + "/alerts.jsonl"
        ingestor.sinks = [try JSONLinesAlertSink(path: file)]
        let stats = try ingestor.runOnce()
        let events = try storedEvents(state: state).map { "\($0.account) \($0.stream) " + String(decoding: $0.message, as: UTF8.self) }
        let alerts = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        return (stats, events.sorted(), alerts)
    }

    /// Files of one account found waiting commit in one transaction, and store and alert exactly as
    /// one transaction per file does: the same events, ledger and alerts (each account's in order).
    @Test func filesWaitingForTheCommitterCommitTogetherAndStoreAndAlertAsOneByOne() throws {
        let bucket = try Self.bucket()
        let truth = try Truth(bucket: bucket)
        let (grouped, groupedEvents, groupedAlerts) = try Self.run(bucket, groupCommitFiles: 8)
        let (single, singleEvents, singleAlerts) = try Self.run(bucket, groupCommitFiles: 1)
        #expect(grouped.filesGroupCommitted >= 2, "files waited behind the large one and were committed together")
        #expect(single.filesGroupCommitted == 0)
        #expect(grouped.filesIngested == 9 && single.filesIngested == 9)
        #expect(grouped.eventsStored == truth.records && grouped.errorCount == 0)
        #expect(groupedEvents == singleEvents)
        #expect(groupedEvents.count == truth.records)
        #expect(groupedAlerts.count == 6 * 4 + 2 * 100, "every TerminateInstances alerts once")
        func ids(_ lines: [String], _ account: String) -> [String] {
            lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
                .filter { $0["account"] as? String == account }.map { $0["alert_id"] as! String }
        }
        for account in ["123456789012", "210987654321"] {
            #expect(ids(groupedAlerts, account) == ids(singleAlerts, account), "the same alerts in the same order for \(account)")
        }
    }

    /// A group whose transaction fails is committed again file by file: the file that fails alone
    /// (its rule state is damaged) is reported and left unledgered, the others of its group are stored.
    @Test func aGroupThatFailsIsCommittedFileByFileAndOnlyTheFailingFileIsLeftOut() throws {
        let bucket = tempDir("bucket"), state = tempDir("state"), rules = tempDir("rules")
        try """
            rule burst
                severity high
                when eventName = "TerminateInstances"
                threshold count >= 10 within 5m by userIdentity.arn
                message "{count} calls by {principal}"
            end
            """.write(toFile: rules + "/t.rules", atomically: true, encoding: .utf8)
        func terminate(_ n: Int, _ time: String, _ who: String) -> String {
            #"{"eventTime":"\#(time)","eventID":"\#(guid(n))","eventSource":"ec2.amazonaws.com","eventName":"TerminateInstances","userIdentity":{"arn":"arn:aws:sts::123456789012:assumed-role/ops/\#(who)"}}"#
        }
        try writeLog(bucket: bucket, stamp: "20240301T1000Z", unique: "LARGEFILE0000001", records: (0..<60_000).map {
            rec(guid(1_000_000 + $0), "2024-03-01T10:0\($0 % 10):00Z", name: "Big\($0 % 13)")
        })
        var expected = 60_000
        for f in 0..<4 {
            try writeLog(bucket: bucket, stamp: "20240301T101\(f)Z", unique: String(format: "SMALL%011d", f), records: (0..<20).map {
                terminate(f * 100 + $0, "2024-03-01T10:1\(f):\(String(format: "%02d", $0))Z", f == 2 ? "poison" : "ops\(f)")
            })
            if f != 2 { expected += 20 }
        }
        // Rule state that does not decode, for the principal of the third small file only.
        let newest = Int64(1_709_287_920_000)  // 2024-03-01T10:12:00Z: not expired by the files before
        try LogStore(stateDirectory: state).account("123456789012").write(now: 0) { tx in
            try tx.setWindowState(rule: "burst", key: "arn:aws:sts::123456789012:assumed-role/ops/poison", newest: newest, [0xFF, 0xFF, 0xFF])
        }
        let (ingestor, logs) = try makeIngestor(bucket: bucket, state: state) { $0.rulePaths = [rules] }
        #expect(ingestor.reloadRules().loaded)
        let file = tempDir("alerts") + "/alerts.jsonl"
        ingestor.sinks = [try JSONLinesAlertSink(path: file)]
        let stats = try ingestor.runOnce()
        #expect(logs.entries.contains { $0.metadata["reason"]?.description == "group_commit_failed" }, "the small files waited and were tried together")
        #expect(stats.filesIngested == 4, "the large file and the three good small files")
        #expect(stats.errors[.storeError] == 1, "the file whose rule state is damaged")
        #expect(logs.entries.contains { "\($0.message)".contains("SMALL00000000002") && "\($0.message)".contains("damaged window state") })
        let stored = try storedEvents(state: state).map { eventID($0.message) }
        #expect(stored.count == expected && Set(stored).count == expected)
        #expect(!stored.contains(guid(200)), "nothing of the failing file")
        let store = try LogStore(stateDirectory: state, readOnly: true)
        let ledger = try store.account("123456789012").ledger()
        #expect(ledger.values.filter { $0.status == .done }.count == 4)
        #expect(!ledger.keys.contains { $0.contains("SMALL00000000002") }, "not ledgered: retried by the next run")
        let alerts = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(alerts.count == 3, "each good file's burst alerts once")
    }

    /// The taker of a batch gets what is ready in order, never past a gap, at most `max`.
    @Test func takeReadyHandsOutTheResultsReadyInOrderUpToAGap() {
        let r = OrderedResults<Int>(count: 6, window: 6)
        for _ in 0..<5 { _ = r.claim() }
        r.put(0, 0)
        r.put(1, 10)
        r.put(2, 20)
        r.put(4, 40)
        #expect(r.take() == 0)
        #expect(r.takeReady(max: 1) == [10], "at most max")
        #expect(r.takeReady(max: 8) == [20], "not past index 3, which is not ready")
        #expect(r.takeReady(max: 8).isEmpty)
        r.put(3, 30)
        #expect(r.takeReady(max: 8) == [30, 40])
    }

    /// The committer notes every file of a group it commits: a death then names them all, each
    /// retried alone on the next start.
    @Test func aNoteHoldingAGroupNamesEveryFileAtADeath() throws {
        let dir = tempDir("in-hand")
        let hand = try InHand(directory: dir)
        let slot = hand.slot("committer")
        let entries = (0..<3).map {
            InHand.Entry(ledgerKey: "b/AWSLogs/1/CloudTrail/r/2024/03/01/f\($0).json.gz", account: "123456789012", path: "/m/f\($0).json.gz", deaths: 0)
        }
        try slot.hold(entries)
        slot.release()
        #expect(hand.leftovers().isEmpty, "released: no entry")
        let again = hand.slot("committer")
        try again.hold(entries)
        try again.hold(Array(entries.prefix(2)))
        #expect(hand.leftovers() == Array(entries.prefix(2)), "the note in force, not what an earlier, longer one held")
    }
}
