import Alerts
import Foundation
import Gzip
import Ingest
import Testing
import TestSupport

/// An alert storm through the whole pipeline with the shipped rules and their example networks
/// list: the JSON lines must be byte for byte what the store and engine wrote before the alert
/// path was made cheaper (the golden figures below are `trailwatch run --once` of the build
/// before it over the same bucket, its path replaced by `BUCKET`).
@Suite struct AlertStormTests {
    /// The shipped rules folder (rules and known-networks.list).
    static let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../rules").standardized.path

    /// Two regions of one account (so its files commit in one order), 14 five-minute files each:
    /// unknown addresses by four principals (one principal and address busy enough for a full
    /// 1,000-id summary), known addresses that do not alert, IAM policy changes, a burst of
    /// TerminateInstances, StopLogging, sub-second event times (suppression compares whole
    /// seconds), a name that is not ASCII, pretty-printed records and re-delivered records.
    static func bucket() throws -> String {
        let bucket = tempDir("storm")
        let users = ["alice", "bob", "chlo\u{E9}", "dmitri"]
        var copied: [String] = []
        for (r, region) in ["us-east-1", "eu-west-1"].enumerated() {
            for w in 0..<14 {
                var records: [String] = []
                for i in 0..<300 {
                    let second = w * 300 + i
                    let ms = i % 7 == 0 ? String(format: ".%03d", (i * 37 + r * 500) % 1000) : ""
                    let time = String(format: "2024-03-01T%02d:%02d:%02d%@Z", 10 + second / 3600, second / 60 % 60, second % 60, ms)
                    let user = i % 3 == 0 ? "alice" : users[i % 4]
                    let ip = i % 3 == 0 ? "203.0.113.200" : i % 5 == 0 ? "198.51.100.\(i % 9)" : "203.0.113.\(i % 23)"
                    let (source, name) =
                        i % 50 == 7 ? ("iam", "PutRolePolicy")
                        : (w == 4 && i % 10 == 1) ? ("ec2", "TerminateInstances")
                        : i % 97 == 11 ? ("cloudtrail", "StopLogging") : i % 2 == 0 ? ("s3", "ListBuckets") : ("ec2", "DescribeInstances")
                    var record =
                        #"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA\#(user.uppercased())","arn":"arn:aws:iam::123456789012:user/\#(user)","accountId":"123456789012"},"eventTime":"\#(time)","eventSource":"\#(source).amazonaws.com","eventName":"\#(name)","awsRegion":"\#(region)","sourceIPAddress":"\#(ip)","userAgent":"aws-cli/2 \"quoted\" agent","requestParameters":{"note":"a b\\c"},"eventID":"\#(String(format: "%08x-0000-4000-8000-%012x", r, w * 1000 + i))","eventType":"AwsApiCall","recipientAccountId":"123456789012"}"#
                    if i % 11 == 0 { record = record.replacingOccurrences(of: #"",""#, with: "\",\n  \"").replacingOccurrences(of: "{\"", with: "{ \"") }
                    records.append(record)
                    if r == 0 && w == 3 && i < 40 { copied.append(record) }
                }
                if r == 1 && w == 3 { records += copied }
                try writeLog(
                    bucket: bucket, region: region, stamp: String(format: "20240301T%02d%02dZ", 10 + w * 5 / 60, w * 5 % 60),
                    unique: String(format: "STORM%011d", r * 100 + w), records: records)
            }
        }
        return bucket
    }

    @Test func aStormAlertsByteForByteAsBefore() throws {
        let bucket = try Self.bucket()
        let state = tempDir("state")
        let (ingestor, _) = try makeIngestor(bucket: bucket, state: state) { $0.rulePaths = [Self.rules] }
        #expect(ingestor.reloadRules().loaded)
        let file = tempDir("alerts") + "/alerts.jsonl"
        ingestor.sinks = [try JSONLinesAlertSink(path: file)]
        let stats = try ingestor.runOnce()
        #expect(stats.filesIngested == 28 && stats.errorCount == 0 && stats.duplicates == 40)
        let text = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: bucket, with: "BUCKET")
        let lines = text.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        // What the storm holds: every kind of alert the path writes.
        let summaries = lines.filter { $0?["summary_of"] != nil }
        #expect(summaries.contains { ($0?["event_ids"] as? [String])?.count == 1000 }, "a full summary")
        #expect(summaries.count > 10 && lines.count > 2 * summaries.count)
        #expect(lines.contains { $0?["rule"] as? String == "terminate-instances-burst" })
        #expect(lines.contains { ($0?["principal"] as? String)?.hasSuffix("chlo\u{E9}") == true })
        #expect(lines.contains { ($0?["records"] as? [Any])?.isEmpty == false })
        #expect(lines.allSatisfy { $0 != nil }, "every line is a JSON object")
        // The golden figures: `trailwatch run --once --rules rules --alerts jsonl:FILE` of the build
        // before the alert path was made cheaper, over this bucket.
        #expect(lines.count == 709)
        #expect(Checksum.crc32(Array(text.utf8)) == 1_729_072_008)
    }

    /// The same storm delivered later from the outbox (each alert decoded from its row, its records
    /// read back from their places in the blocks) writes the same lines as delivered fresh.
    @Test func aStormDeliveredFromTheOutboxWritesTheSameLines() throws {
        let bucket = try Self.bucket()
        let state = tempDir("state")
        let fresh = tempDir("alerts") + "/fresh.jsonl", stored = tempDir("alerts") + "/stored.jsonl"
        let (first, _) = try makeIngestor(bucket: bucket, state: state) { $0.rulePaths = [Self.rules] }
        #expect(first.reloadRules().loaded)
        first.sinks = [SwitchableSink(), try JSONLinesAlertSink(path: fresh)]
        #expect(try first.runOnce().alertsPending == 709, "every alert waits in the outbox for the sink that is down")
        let (second, _) = try makeIngestor(bucket: bucket, state: state) { $0.rulePaths = [Self.rules] }
        #expect(second.reloadRules().loaded)
        second.sinks = [try JSONLinesAlertSink(path: stored)]
        #expect(try second.runOnce().alertsPending == 0)
        let freshLines = try String(contentsOfFile: fresh, encoding: .utf8)
        #expect(freshLines.split(separator: "\n").count == 709)
        #expect(try String(contentsOfFile: stored, encoding: .utf8) == freshLines)
    }
}

