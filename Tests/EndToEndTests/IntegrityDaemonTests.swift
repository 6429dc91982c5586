import Foundation
import Gzip
import Testing
import TestSupport

@Suite(.serialized) struct IntegrityDaemonTests {
    @Test func theDaemonVerifiesDigestsAndAlertsOnChangesAtOnce() throws {
        let bucket = try copyBucket()
        let state = tempDir("state")
        let alerts = tempDir("alerts") + "/a.jsonl"
        let d = try Child(["run", "--logs", bucket, "--state", state, "--keys", bucket + "/public-keys.json", "--alerts", "jsonl:" + alerts,
                           "--alerts", "journal", "--log-to", "stderr", "--digest-slack", "0.05"])
        defer { if d.process.isRunning { d.signal(SIGKILL) } }
        #expect(eventually { d.stderr.contains("ready") })
        // Every digest verified, shown by `status`.
        #expect(eventually(timeout: 20) { (try? trailwatch(["status", "--state", state]).out.contains("\t3\t0\t0")) ?? false })
        let status = try trailwatch(["status", "--state", state]).out
        #expect(status.contains("us-east-1") && status.contains("2024-03-01T03:00:00Z"), "\(status)")
        #expect(jsonLines(alerts).isEmpty, "a valid bucket raises nothing")

        // A listed log file changed in place: alerted as soon as the write closes.
        let logs = files(bucket, containing: "_CloudTrail_")
        let target = logs[5]
        var raw = try Inflater.inflateAll([UInt8](try Data(contentsOf: URL(fileURLWithPath: bucket + "/" + target))))
        raw[raw.count / 3] ^= 0x01
        try Data(Deflater.gzip(raw)).write(to: URL(fileURLWithPath: bucket + "/" + target))
        #expect(eventually(timeout: 20) { jsonLines(alerts).contains { $0["rule"] as? String == "integrity-log-file-modified" } })
        let a = try #require(jsonLines(alerts).first { $0["rule"] as? String == "integrity-log-file-modified" })
        #expect((a["log_file"] as? String) == "s3://trail-bucket/\(target)")
        #expect((a["digest"] as? String)?.hasPrefix("s3://trail-bucket/AWSLogs/") == true && (a["digest"] as? String)?.contains("CloudTrail-Digest_") == true)
        #expect(a["severity"] as? String == "critical")

        // A log file landing late in a covered hour, listed by no digest.
        let extra = (target as NSString).deletingLastPathComponent + "/" + ((target as NSString).lastPathComponent.dropLast(24) + "LATELATELATELATE.json.gz")
        try FileManager.default.copyItem(atPath: bucket + "/" + logs[6], toPath: bucket + "/" + extra)
        #expect(eventually(timeout: 20) { jsonLines(alerts).contains { $0["rule"] as? String == "integrity-log-file-not-listed" } })
        #expect(jsonLines(alerts).count == 2, "nothing else: \(jsonLines(alerts).map { $0["message"]! })")

        // A verified log file deleted from the mirror.
        try FileManager.default.removeItem(atPath: bucket + "/" + logs[8])
        #expect(eventually(timeout: 20) { jsonLines(alerts).contains { $0["rule"] as? String == "integrity-log-file-missing" } })
        #expect(jsonLines(alerts).count == 3)

        // The same alert in journald, with its own MESSAGE_ID and the digest field.
        guard journaldRunning() else { return }
        var entries: [[String: Any]] = []
        _ = eventually(timeout: 10) {
            entries = journal("TRAILWATCH_LOG_FILE=s3://trail-bucket/\(target)").filter { $0["TRAILWATCH_RULE"] as? String == "integrity-log-file-modified" }
            return !entries.isEmpty
        }
        let e = try #require(entries.last)
        #expect(e["PRIORITY"] as? String == "2")
        #expect((e["MESSAGE_ID"] as? String)?.count == 32)
        #expect(e["MESSAGE_ID"] as? String != nil && e["TRAILWATCH_ALERT_ID"] as? String == a["alert_id"] as? String)
        #expect(e["TRAILWATCH_DIGEST"] as? String == a["digest"] as? String)
        d.signal(SIGTERM)
        #expect(d.wait(timeout: 20) == 0)
    }

    @Test func overdueDigestsAlertOnce() throws {
        // A trail whose newest digest ended three hours ago.
        let dir = tempDir("overdue") + "/late-bucket"
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let start = (now - 5 * 3_600_000) / 3_600_000 * 3_600_000
        #expect(try trailwatch(["simulate", "--out", dir, "--hours", "2", "--accounts", "1", "--regions", "us-east-1", "--rate", "5",
                                "--start", String(start)]).status == 0)
        let alerts = tempDir("alerts") + "/a.jsonl"
        let args = ["run", "--once", "--logs", dir, "--state", tempDir("state"), "--keys", dir + "/public-keys.json", "--alerts", "jsonl:" + alerts,
                    "--digest-slack", "10"]
        #expect(try trailwatch(args).status == 0)
        let overdue = jsonLines(alerts).filter { $0["rule"] as? String == "integrity-digest-overdue" }
        #expect(overdue.count == 1, "\(jsonLines(alerts))")
        #expect((overdue.first?["message"] as? String)?.contains("none since") == true)
    }

    /// `aws s3 sync` copies keys in order, and CloudTrail-Digest/ sorts before CloudTrail/: a digest
    /// can land before the logs it lists. Within the slack that is not an alert.
    @Test func aDigestBeforeItsLogsIsNotAnAlarm() throws {
        let bucket = try copyBucket()
        let logs = files(bucket, containing: "_CloudTrail_")
        let held = tempDir("held")
        for l in logs.prefix(4) { try FileManager.default.moveItem(atPath: bucket + "/" + l, toPath: held + "/" + (l as NSString).lastPathComponent) }
        let state = tempDir("state")
        let alerts = tempDir("alerts") + "/a.jsonl"
        let d = try Child(["run", "--logs", bucket, "--state", state, "--keys", bucket + "/public-keys.json", "--alerts", "jsonl:" + alerts,
                           "--log-to", "stderr", "--digest-slack", "0.5"])
        defer { if d.process.isRunning { d.signal(SIGKILL) } }
        #expect(eventually { d.stderr.contains("ready") })
        Thread.sleep(forTimeInterval: 2)
        // The mirror catches up.
        for l in logs.prefix(4) { try FileManager.default.moveItem(atPath: held + "/" + (l as NSString).lastPathComponent, toPath: bucket + "/" + l) }
        #expect(eventually(timeout: 30) { (try? trailwatch(["status", "--state", state]).out.contains("\t3\t0\t0")) ?? false })
        Thread.sleep(forTimeInterval: 1)
        #expect(jsonLines(alerts).isEmpty, "\(jsonLines(alerts).map { $0["message"]! })")
        d.signal(SIGTERM)
        #expect(d.wait(timeout: 20) == 0)
    }
}
