import Foundation
import Testing
import TestSupport

let versionsFixture = repoRoot.appendingPathComponent("Tests/EndToEndTests/Fixtures/versions")

@Suite(.serialized) struct RecordVersionsTests {
    /// Every shipped rule over records of each eventVersion family (1.0 … 1.11), delivered as a
    /// plain trail and an organization trail: each expected alert once, nothing else, and every
    /// alert carrying the account of the log group that stores its event.
    @Test func shippedRulesAlertOnEveryRecordVersionWithTheLogGroupsAccount() throws {
        let bucket = tempDir("versions") + "/versions-bucket"
        try FileManager.default.createDirectory(atPath: bucket, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: versionsFixture.appendingPathComponent("AWSLogs").path, toPath: bucket + "/AWSLogs")
        let state = tempDir("state")
        let alertsFile = tempDir("alerts") + "/a.jsonl"
        let r = try trailwatch(["run", "--once", "--logs", bucket, "--state", state, "--rules", repoRoot.appendingPathComponent("rules").path,
                                "--alerts", "jsonl:" + alertsFile, "--log-to", "stderr"])
        #expect(r.status == 0, "\(r.err)")
        // Precondition: every record is stored, in the group of the folder it was delivered under.
        let groups = try trailwatch(["logs", "groups", "--state", state, "--output", "text"]).out
        #expect(groups.contains("aws-cloudtrail-logs-111122223333\t52 events"), "\(groups)")
        #expect(groups.contains("aws-cloudtrail-logs-444455556666\t2 events"), "\(groups)")

        let alerts = jsonLines(alertsFile)
        let expected = jsonLines(versionsFixture.appendingPathComponent("expected-alerts.jsonl").path)
        #expect(expected.count == 81)
        for e in expected {
            let m = alerts.filter { $0["rule"] as? String == e["rule"] as? String && $0["event_time"] as? String == e["event_time"] as? String }
            #expect(m.count == 1, "\(e["rule"]!) at \(e["event_time"]!): \(m.count) alerts")
            guard let a = m.first else { continue }
            #expect(a["account"] as? String == e["account"] as? String, "\(e["rule"]!) at \(e["event_time"]!): account \(a["account"]!)")
            #expect(a["principal_account"] as? String ?? "" == e["principal_account"] as? String, "\(e["rule"]!) at \(e["event_time"]!)")
            #expect((a["message"] as? String)?.contains("account \(e["account"] as! String)") ?? true, "\(a["message"]!)")
        }
        #expect(alerts.count == expected.count, "no other alert: \(alerts.map { "\($0["rule"]!) \($0["event_time"]!)" })")
        // Records of version 1.0 have no eventID: each gets its own derived id, so none hides another.
        let derived = alerts.filter { $0["event_time"] as? String == "2013-11-20T09:00:00Z" || $0["event_time"] as? String == "2013-11-20T10:00:00Z" }
            .map { ($0["event_ids"] as! [String])[0] }
        #expect(derived.count == 6 && derived.allSatisfy { $0.hasPrefix("no-eventID-") } && Set(derived).count == 2, "\(derived)")
        // The cross-account call and the record naming another recipient stay with the member account.
        let crossAccount = try #require(alerts.first { $0["rule"] as? String == "unknown-source-ip" && $0["event_time"] as? String == "2025-03-14T11:00:00Z" })
        #expect(crossAccount["account"] as? String == "444455556666" && crossAccount["principal_account"] as? String == "777788889999")
        let otherRecipient = try #require(alerts.first { $0["rule"] as? String == "trail-tampering" && $0["event_time"] as? String == "2025-03-14T11:05:00Z" })
        #expect(otherRecipient["account"] as? String == "444455556666", "recipientAccountId 999900001111 is not the log group's account")
        #expect((otherRecipient["records"] as? [[String: Any]])?.first?["recipientAccountId"] as? String == "999900001111", "the record itself is unchanged")
    }

    /// `networks suggest` over a store the binary built: the networks of the first N days with their
    /// counts, no service names, nothing after the window; pasted as known-networks.list, only the
    /// later address still alerts.
    @Test func networksSuggestLearnsTheFirstDaysNetworks() throws {
        let bucket = tempDir("nets") + "/nets-bucket"
        var n = 0
        func call(_ ip: String, _ time: String, account: String = "123456789012") -> String {
            n += 1
            return #"{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","principalId":"AIDAUSER\#(n % 3)","arn":"arn:aws:iam::\#(account):user/u\#(n % 3)","accountId":"\#(account)"},"eventTime":"\#(time)","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"\#(ip)","eventID":"\#(guid(n))","eventType":"AwsApiCall","recipientAccountId":"\#(account)"}"#
        }
        // Day 1 and day 5 (inside a 7-day window), two accounts; day 9 is outside it.
        var day1 = (0..<30).map { call("203.0.113.5", "2024-03-01T10:\(String(format: "%02d", $0)):00Z") }
        day1 += (0..<10).map { call("203.0.113.77", "2024-03-01T11:\(String(format: "%02d", $0)):00Z") }
        day1 += (0..<7).map { call(["ec2.amazonaws.com", "AWS Internal", "cloudformation.amazonaws.com"][$0 % 3], "2024-03-01T12:0\($0):00Z") }
        let day5 = (0..<3).map { call("2001:db8:beef::\($0 + 1)", "2024-03-05T08:0\($0):00Z") }
            + (0..<2).map { call("2001:db8:beef:7::2", "2024-03-05T09:0\($0):00Z") }
        let other = (0..<5).map { call("198.18.4.9", "2024-03-02T10:0\($0):00Z", account: "210987654321") }
        let day9 = (0..<4).map { call("192.0.2.44", "2024-03-09T10:0\($0):00Z") }
        try write(logDir(bucket, day: "01") + "/" + logName("20240301T1210Z", "NETSDAY000000001"), gz(day1))
        try write(logDir(bucket, day: "05") + "/" + logName("20240305T0910Z", "NETSDAY000000005"), gz(day5))
        try write(logDir(bucket, day: "09") + "/" + logName("20240309T1010Z", "NETSDAY000000009"), gz(day9))
        try write("\(bucket)/AWSLogs/210987654321/CloudTrail/us-east-1/2024/03/02/210987654321_CloudTrail_us-east-1_20240302T1010Z_NETSOTHER0000001.json.gz", gz(other))
        let state = tempDir("state")
        let empty = try trailwatch(["networks", "suggest", "--state", state])
        #expect(empty.status != 0 && empty.err.contains("\(state) holds no trailwatch store"), "a clear error before anything is stored: \(empty.err)")
        #expect(try trailwatch(["networks", "suggest", "--help"]).out.contains("known-networks.list"))
        #expect(try trailwatch(["run", "--once", "--logs", bucket, "--state", state]).status == 0)

        let r = try trailwatch(["networks", "suggest", "--state", state, "--days", "7"])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").filter { !$0.hasPrefix("#") }
        let parsed = lines.map { l -> (String, String) in
            let parts = l.split(separator: "#", maxSplits: 1)
            return (parts[0].trimmingCharacters(in: .whitespaces), parts.count > 1 ? String(parts[1]) : "")
        }
        #expect(parsed.map(\.0) == ["203.0.113.0/24", "198.18.4.0/24", "2001:db8:beef::/48"], "busiest first: \(r.out)")
        #expect(parsed.first?.1.contains("40 calls, 2 addresses, 2024-03-01T10:00:00Z .. 2024-03-01T11:09:00Z") == true, "\(r.out)")
        #expect(parsed.dropFirst().first?.1.contains("5 calls, 1 address") == true, "\(r.out)")
        #expect(parsed.last?.1.contains("5 calls, 4 addresses") == true, "\(r.out)")
        #expect(r.out.contains("# trailwatch networks suggest: 57 events of 2 log groups, 2024-03-01T10:00:00Z .. 2024-03-08T10:00:00Z"), "\(r.out)")
        #expect(r.out.contains("7 from service names"), "\(r.out)")
        #expect(!r.out.contains("192.0.2."), "day 9 is outside the window")
        let small = try trailwatch(["networks", "suggest", "--state", state, "--days", "7", "--min-count", "6"])
        #expect(small.out.split(separator: "\n").filter { !$0.hasPrefix("#") }.count == 1, "\(small.out)")

        // Pasted as the known networks: only the day-9 address alerts (once per principal, every call listed).
        let lists = tempDir("lists")
        try r.out.write(toFile: lists + "/known-networks.list", atomically: true, encoding: .utf8)
        #expect(try trailwatch(["rules", "check", repoRoot.appendingPathComponent("rules").path, lists]).status == 0)
        let alerts = tempDir("alerts") + "/a.jsonl"
        #expect(try trailwatch(["run", "--once", "--logs", bucket, "--state", tempDir("state2"), "--rules", repoRoot.appendingPathComponent("rules").path,
                                "--rules", lists, "--alerts", "jsonl:" + alerts]).status == 0)
        let unknown = jsonLines(alerts).filter { $0["rule"] as? String == "unknown-source-ip" }
        #expect(unknown.allSatisfy { $0["source_ip"] as? String == "192.0.2.44" }, "\(unknown.map { $0["source_ip"]! })")
        #expect(Set(unknown.flatMap { $0["event_ids"] as! [String] }).count == 4, "all four calls listed")
    }
}
