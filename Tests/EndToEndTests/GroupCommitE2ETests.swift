import Foundation
import GRDB
import Testing
import TestSupport

/// A root call (the shipped rules alert on it: CIS CloudWatch.1 and root usage).
private func rootCall(_ id: String, _ time: String) -> String {
    #"{"eventVersion":"1.10","eventTime":"\#(time)","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","eventID":"\#(id)","eventType":"AwsApiCall","recipientAccountId":"123456789012","userIdentity":{"type":"Root","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012"}}"#
}

/// The entries of an in-hand note, four lines each: (deaths, account, path, ledger key).
private func noteEntries(_ path: String) -> [[String]] {
    let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    var out: [[String]] = []
    var at = 0
    while lines.count - at >= 4, Int(lines[at]) != nil {
        out.append(Array(lines[at..<(at + 4)]))
        at += 4
    }
    return out
}

/// Ledger keys marked done in the account's store.
private func doneKeys(_ state: String) -> Set<String> {
    guard let db = try? DatabaseQueue(path: state + "/groups/123456789012.sqlite", configuration: readOnly()) else { return [] }
    return Set((try? db.read { try String.fetchAll($0, sql: "SELECT path FROM ledger WHERE status = 'done'") }) ?? [])
}

@Suite(.serialized) struct GroupCommitE2ETests {
    /// Files of one account that wait for the committer commit in one transaction. A kill -9 while
    /// such a group is in hand leaves each of its files wholly committed or not at all (all of the
    /// group or none), the store holds exactly the events of the files the ledger has done, and the
    /// restart takes the group's files again, alone, and alerts exactly once what a clean run alerts.
    @Test func killDashNineDuringAGroupCommitLeavesEachFileAllOrNothingAndTheRestartAlertsOnce() throws {
        let bucket = tempDir("bucket") + "/b"
        var idsByFile: [String: Set<String>] = [:]
        // A large file first: while the committer stores it, the decoder gets ahead and the files
        // behind it wait for the committer, to be committed together.
        let big = (0..<120_000).map { rec(guid(1_000_000 + $0), "2024-03-01T10:0\($0 % 10):00Z", name: "Big\($0 % 13)") }
        let bigName = logName("20240301T1005Z", "LARGEFILE0000001")
        try write(logDir(bucket) + "/" + bigName, gz(big))
        idsByFile[bigName] = Set((0..<120_000).map { guid(1_000_000 + $0) })
        for f in 0..<6 {
            var recs = (0..<12_000).map { rec(guid(f * 100_000 + $0), "2024-03-01T10:1\(f):\(String(format: "%02d", $0 % 60))Z") }
            for r in 0..<3 { recs[r * 1000] = rootCall(guid(f * 100_000 + r * 1000), "2024-03-01T10:1\(f):\(String(format: "%02d", r))Z") }
            let name = logName("20240301T101\(f)Z", String(format: "GROUPED%09d", f))
            try write(logDir(bucket) + "/" + name, gz(recs))
            idsByFile[name] = Set((0..<12_000).map { guid(f * 100_000 + $0) })
        }
        let all = idsByFile.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let rules = repoRoot.appendingPathComponent("rules").path

        // A clean run: the alerts the corpus gives.
        let cleanAlerts = tempDir("alerts") + "/a.jsonl"
        let clean = try trailwatch(["run", "--once", "--logs", bucket, "--state", tempDir("state"), "--rules", rules, "--alerts", "jsonl:" + cleanAlerts])
        #expect(clean.status == 0, "\(clean.err)")
        let expected = jsonLines(cleanAlerts).map { $0["alert_id"] as! String }
        try #require(expected.count >= 18, "each root call alerts: \(expected.count) alerts")

        // The same corpus, killed while the committer holds a group.
        let state = tempDir("state")
        let alerts = tempDir("alerts") + "/a.jsonl"
        let args = ["run", "--once", "--logs", bucket, "--state", state, "--rules", rules, "--alerts", "jsonl:" + alerts, "--log-to", "stderr"]
        let note = state + "/in-hand/committer"
        let first = try Child(args)
        defer { if first.process.isRunning { first.signal(SIGKILL) } }
        let grouped = eventually(timeout: 120, interval: 0.001) { noteEntries(note).count >= 2 || !first.process.isRunning }
        first.signal(SIGKILL)
        #expect(first.wait(timeout: 10) != nil, "the first run ended on SIGKILL")
        // The note outlives the process: it names the group that was in hand at the kill.
        let group = Set(noteEntries(note).map { $0[3] })
        try #require(grouped && group.count >= 2, "killed with a group of files in hand: \(group)")
        #expect(group.allSatisfy { $0.contains("GROUPED") }, "the group is the small files that waited: \(group)")
        let done = doneKeys(state)
        let doneOfGroup = group.intersection(done)
        #expect(doneOfGroup.isEmpty || doneOfGroup == group, "all of the group or none is committed: \(doneOfGroup.count) of \(group.count)")
        #expect(done.count < idsByFile.count, "the kill came before the run was over")
        // Each file is wholly in the store or not at all: the stored events are exactly the done files'.
        let doneIDs = idsByFile.filter { name, _ in done.contains { $0.hasSuffix(name) } }.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let storedAtKill = try storedIDs(state: state)
        #expect(storedAtKill.count == doneIDs.count && Set(storedAtKill) == doneIDs, "stored: \(storedAtKill.count), done files hold \(doneIDs.count)")

        // The restart takes the group's files again, first and alone, and finishes the corpus.
        let sentBefore = jsonLines(alerts).map { $0["alert_id"] as! String }
        let second = try trailwatch(["run", "--once"] + args.dropFirst())
        #expect(second.status == 0, "\(second.err)")
        let suspects = second.err.split(separator: "\n").filter { $0.contains("retried first, on its own") }
        #expect(
            group.allSatisfy { key in suspects.contains { $0.contains((key as NSString).lastPathComponent) } },
            "each file of the group is retried first, alone: \(suspects)")
        let ids = try storedIDs(state: state)
        #expect(ids.count == all.count && Set(ids) == all, "every event once: \(ids.count) of \(all.count)")
        let sent = jsonLines(alerts).map { $0["alert_id"] as! String }
        #expect(Array(sent.prefix(sentBefore.count)) == sentBefore, "the restart appended to what was sent before the kill")
        #expect(sent.count == Set(sent).count, "no alert sent twice")
        #expect(Set(sent) == Set(expected), "the alerts of a clean run: \(sent.count) of \(expected.count)")
    }
}
