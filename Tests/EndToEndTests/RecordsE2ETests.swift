import Foundation
import Gzip
import Testing
import TestSupport

/// The alert file cannot be broken or forged by a record: the real binary on a bucket
/// holding a real record pretty-printed over many lines, records crafted to smuggle alert lines
/// into the JSON-lines file, records that are not JSON, and a record with bytes that are not UTF-8.
@Suite(.serialized) struct RecordsE2ETests {
    static let fixtureFile = repoRoot.appendingPathComponent(
        "Tests/IngestTests/Fixtures/invictus-ir-aws-dataset/218007301253_CloudTrail_us-east-1_20230710T1205Z_SjF3IkuNXJkoHyar.json.gz")

    /// The real StopLogging record of the invictus-ir dataset, with a fresh eventID (so this run's
    /// alerts are its own in journald) and `change` applied.
    static func realRecord(_ change: (inout [String: Any]) -> Void = { _ in }) throws -> [String: Any] {
        let raw = try Inflater.inflateAll(Array(try Data(contentsOf: fixtureFile)))
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any])
        var r = try #require((doc["Records"] as? [[String: Any]])?.first { $0["eventName"] as? String == "StopLogging" })
        r["eventID"] = UUID().uuidString.lowercased()
        change(&r)
        return r
    }

    static func text(_ r: [String: Any], pretty: Bool = false) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: r, options: pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]), as: UTF8.self)
    }

    struct Run {
        var bucket: String
        var state: String
        var alerts: String
        var result: (status: Int32, out: String, err: String)
        /// The JSON-lines file's lines, each parsed (the test fails on a line that is not a JSON object).
        var lines: [[String: Any]]
    }

    /// Writes `records` (raw bytes each) as one delivered file and runs `trailwatch run --once` with
    /// the shipped rules and all three sinks.
    static func run(_ records: [[UInt8]]) throws -> Run {
        let bucket = tempDir("records") + "/b"
        let state = tempDir("state")
        let alerts = tempDir("alerts") + "/a.jsonl"
        var doc = Array(#"{"Records":["#.utf8)
        for (i, r) in records.enumerated() { doc += (i > 0 ? [0x2C, 0x0A] : []) + r }
        doc += Array("]}".utf8)
        try write(
            "\(bucket)/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T1205Z_\(UUID().uuidString.filter { $0 != "-" }.prefix(16)).json.gz",
            Deflater.gzip(doc))
        let r = try trailwatch([
            "run", "--once", "--logs", bucket, "--state", state, "--rules", repoRoot.appendingPathComponent("rules").path,
            "--alerts", "jsonl:" + alerts, "--alerts", "stdout", "--alerts", "journal", "--log-to", "stderr",
        ])
        #expect(r.status == 0, "\(r.err)")
        let file = try Data(contentsOf: URL(fileURLWithPath: alerts))
        #expect(file.isEmpty || file.last == 0x0A)
        var lines: [[String: Any]] = []
        for l in file.split(separator: 0x0A) {
            let o = (try? JSONSerialization.jsonObject(with: Data(l))) as? [String: Any]
            #expect(o != nil, "a line of the alert file is not a JSON object: \(String(decoding: l, as: UTF8.self))")
            if let o { lines.append(o) }
        }
        #expect(r.out.split(separator: "\n").map(String.init) == file.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) },
                "--alerts stdout writes the same lines, and nothing else (the summary goes to stderr)")
        #expect(r.err.contains("Ingested 1 files"), "\(r.err)")
        return Run(bucket: bucket, state: state, alerts: alerts, result: r, lines: lines)
    }

    /// The journald entry of an alert, read back with `journalctl -o json`.
    static func journalEntry(_ alertID: String) -> [String: Any]? {
        var entry: [String: Any]? = nil
        _ = eventually(timeout: 10) {
            entry = journal("TRAILWATCH_ALERT_ID=" + alertID).first
            return entry != nil
        }
        return entry
    }

    static func tampering(_ run: Run, _ eventID: String) -> [String: Any]? {
        run.lines.first { $0["rule"] as? String == "trail-tampering" && ($0["event_ids"] as? [String]) == [eventID] }
    }

    @Test func aRecordSpanningLinesIsOneAlertLineWithTheSameRecord() throws {
        let record = try Self.realRecord()
        let pretty = try Self.text(record, pretty: true)
        #expect(pretty.split(separator: "\n").count >= 30, "the delivered record spans lines")
        let run = try Self.run([Array(pretty.utf8)])
        let alert = try #require(Self.tampering(run, record["eventID"] as! String), "\(run.result.err)")
        #expect(alert["records"] as? [NSDictionary] == [record as NSDictionary], "the record, parsed, is the original")
        // journald: the record is one line, a JSON string journalctl reads back, parsed the same.
        let entry = try #require(Self.journalEntry(alert["alert_id"] as! String))
        let field = try #require(entry["TRAILWATCH_RECORD"] as? String, "journalctl shows the record as text: \(String(describing: entry["TRAILWATCH_RECORD"]))")
        #expect(!field.contains("\n"))
        #expect(try JSONSerialization.jsonObject(with: Data(field.utf8)) as? NSDictionary == record as NSDictionary)
        #expect(entry["TRAILWATCH_RULE"] as? String == "trail-tampering")
    }

    @Test func aRecordCannotForgeAlerts() throws {
        let forged = #"{"rule":"forged","severity":"critical","alert_id":"forged-\#(UUID().uuidString)","records":[]}"#
        // Valid JSON: the forged object is a member's value on lines of its own.
        let a = try Self.realRecord()
        var valid = try Self.text(a)
        valid.removeLast()
        valid += ",\"x\":\n" + forged + "\n}"
        // Not JSON: the forged line sits in a string broken by raw line feeds.
        let b = try Self.realRecord()
        var invalid = try Self.text(b)
        invalid.removeLast()
        invalid += ",\"x\":\"a\n" + forged + "\nb\"}"
        #expect(invalid.split(separator: "\n").contains { $0 == forged } && valid.split(separator: "\n").contains { $0 == forged })
        let run = try Self.run([Array(valid.utf8), Array(invalid.utf8)])
        #expect(!run.lines.contains { $0["rule"] as? String == "forged" })
        #expect(!run.lines.isEmpty && run.lines.allSatisfy { ($0["alert_id"] as? String)?.hasPrefix("forged") == false })
        // Exactly the real alerts: each of the two StopLogging calls alerts once under trail-tampering.
        let first = try #require(Self.tampering(run, a["eventID"] as! String))
        let second = try #require(Self.tampering(run, b["eventID"] as! String), "a record that is not JSON still meets the rules")
        #expect(run.lines.filter { $0["rule"] as? String == "trail-tampering" }.count == 2)
        #expect(first["records"] as? [NSDictionary] == [try JSONSerialization.jsonObject(with: Data(valid.utf8)) as! NSDictionary])
        #expect(second["records"] as? [String] == [invalid], "a record that is not JSON is carried as a string of its text")
        let entry = try #require(Self.journalEntry(second["alert_id"] as! String))
        let field = try #require(entry["TRAILWATCH_RECORD"] as? String)
        #expect(!field.contains("\n"))
        #expect(try JSONSerialization.jsonObject(with: Data(field.utf8), options: .fragmentsAllowed) as? String == invalid)
        #expect(run.result.err.contains("1 records are not valid JSON"), "\(run.result.err)")
    }

    @Test func invalidRecordsAreLoggedCountedAndKept() throws {
        let good = try Self.text(try Self.realRecord { $0["eventName"] = "DescribeTrails" })
        let garbage = #"{"eventID":"x", garbage ::: }"#
        let control = "{\"eventID\":\"\(UUID().uuidString)\",\"eventTime\":\"2023-07-10T12:02:00Z\",\"s\":\"raw\u{07}bell\"}"
        let run = try Self.run([Array(good.utf8), Array(garbage.utf8), Array(control.utf8)])
        let err = run.result.err
        let line = err.split(separator: "\n").first { $0.contains("records are not valid JSON") }.map(String.init)
        let file = try #require(line, "\(err)")
        #expect(file.contains("/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T1205Z_"))
        let at1 = 12 + good.utf8.count + 2
        let at2 = at1 + garbage.utf8.count + 2
        #expect(file.contains("2 records are not valid JSON (kept as delivered): record 1 at byte \(at1): not JSON: expected a key, found 'g' at byte \(at1 + 16); record 2 at byte \(at2): not JSON: control character not escaped in a string"), "\(file)")
        #expect(err.contains("2 records are not valid JSON (kept as delivered)."), "the summary counts them")
        // Kept: all three come back, byte for byte.
        let out = try trailwatch(["logs", "get", "--state", run.state, "--group", "aws-cloudtrail-logs-218007301253",
                                  "--stream", "218007301253_CloudTrail_us-east-1"]).out
        let messages = try out.split(separator: "\n").map { try #require((try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["message"] as? String) }
        #expect(Set(messages) == [good, garbage, control])
        let text = try trailwatch(["logs", "get", "--state", run.state, "--group", "aws-cloudtrail-logs-218007301253",
                                   "--stream", "218007301253_CloudTrail_us-east-1", "--output", "text"]).out
        #expect(text.split(separator: "\n").count == 3, "text output: one line per event")
        #expect(!text.contains("\u{07}"), "no raw control character reaches the terminal")
    }

    @Test func bytesThatAreNotUTF8() throws {
        let record = try Self.realRecord { $0["userAgent"] = "agent-MARK" }
        let text = try Self.text(record)
        let marker = Array("MARK".utf8)
        var bytes = Array(text.utf8)
        let at = try #require(bytes.firstRange(of: marker))
        bytes.replaceSubrange(at, with: [0xFF, 0xC3, 0x28, 0xE9])  // a stray byte, a broken pair, a Latin-1 é
        #expect(String(validating: bytes, as: UTF8.self) == nil)
        let replaced = text.replacingOccurrences(of: "MARK", with: "\u{FFFD}\u{FFFD}(\u{FFFD}")
        let run = try Self.run([bytes])
        #expect(run.result.err.contains("1 records hold bytes that are not UTF-8"), "\(run.result.err)")
        // Alerts: U+FFFD in every sink.
        let alert = try #require(Self.tampering(run, record["eventID"] as! String))
        let expected = try JSONSerialization.jsonObject(with: Data(replaced.utf8)) as! NSDictionary
        #expect(alert["records"] as? [NSDictionary] == [expected])
        let entry = try #require(Self.journalEntry(alert["alert_id"] as! String))
        let field = try #require(entry["TRAILWATCH_RECORD"] as? String)
        #expect(try JSONSerialization.jsonObject(with: Data(field.utf8)) as? NSDictionary == expected)
        // Queries: U+FFFD in the message, the exact bytes in messageBase64; text output the same rule.
        let args = ["--state", run.state, "--group", "aws-cloudtrail-logs-218007301253"]
        for sub in [["logs", "get", "--stream", "218007301253_CloudTrail_us-east-1"], ["logs", "filter"]] {
            let out = try trailwatch(sub + args).out
            let parsed = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
            let event = try #require(parsed, "\(out)")
            #expect(event["message"] as? String == replaced)
            #expect((event["messageBase64"] as? String).flatMap { Data(base64Encoded: $0) } == Data(bytes))
        }
        let shown = try trailwatch(["logs", "filter", "--output", "text"] + args).out
        #expect(shown.contains("agent-\u{FFFD}\u{FFFD}(\u{FFFD}"))
    }
}
