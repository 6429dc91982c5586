import AlertModel
import Alerts
import Foundation
import Rules
import TestSupport
import Testing

/// The JSON-lines sink on a real file: one line per alert whatever its records hold, and crash
/// recovery reading lines, not substrings.
@Suite struct AlertLineTests {
    static func alert(_ id: String, records: [String]) -> Alert {
        Alert(
            rule: "trail-tampering", severity: "high", priority: 3, messageID: "0123456789abcdef0123456789abcdef",
            message: "StopLogging by alice", account: "218007301253", region: "us-east-1", principal: "alice",
            sourceIP: "198.51.100.7", eventName: "StopLogging", eventIDs: ["e1"], eventTime: "2023-07-10T12:05:00Z", count: 1,
            logFile: "AWSLogs/x.json.gz", alertID: id, records: records)
    }

    static func file() -> String { tempPath("alertline", suffix: ".jsonl") }

    /// A pretty-printed record, and records crafted to smuggle an alert line into the file, each give
    /// exactly one line; the records read back as what was delivered.
    @Test func everyAlertIsOneLineWhateverItsRecordsHold() throws {
        let path = Self.file()
        let sink = try JSONLinesAlertSink(path: path)
        let pretty = "{\n  \"eventID\" : \"e1\",\n  \"eventName\" : \"StopLogging\",\n  \"requestParameters\" : {\n    \"name\" : \"t\"\n  }\n}"
        let forgedValid = "{\"eventID\":\"e2\",\"eventName\":\"StopLogging\",\"x\":\n{\"rule\":\"forged\",\"alert_id\":\"forged-1\"}\n}"
        let forgedInvalid = "{\"eventID\":\"e3\",\"eventName\":\"StopLogging\",\"x\":\"a\n{\"rule\":\"forged\",\"alert_id\":\"forged-2\"}\nb\"}"
        let sent = [Self.alert("A1", records: [pretty]), Self.alert("A2", records: [forgedValid]), Self.alert("A3", records: [forgedInvalid, pretty])]
        for a in sent { try sink.send(a) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines.last == "", "three lines, each ended by a newline: \(text)")
        let parsed = try lines.dropLast().map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(parsed.map { $0["alert_id"] as? String } == ["A1", "A2", "A3"])
        #expect(!parsed.contains { $0["rule"] as? String == "forged" })
        func original(_ s: String) throws -> NSDictionary { try #require(JSONSerialization.jsonObject(with: Data(s.utf8)) as? NSDictionary) }
        #expect((parsed[0]["records"] as? [NSDictionary]) == [try original(pretty)])
        #expect((parsed[1]["records"] as? [NSDictionary]) == [try original(forgedValid)])
        let third = try #require(parsed[2]["records"] as? [Any])
        #expect(third.first as? String == forgedInvalid, "a record that is not JSON comes back as a string of its text")
        #expect(third.last as? NSDictionary == (try original(pretty)))
        // Recovery knows exactly the three alerts, not the ids inside the records.
        let fresh = try JSONLinesAlertSink(path: path)
        #expect(fresh.delivered("A1") && fresh.delivered("A2") && fresh.delivered("A3"))
        #expect(!fresh.delivered("forged-1") && !fresh.delivered("forged-2"))
    }

    /// Recovery takes only a line's top-level `alert_id`: not one quoted inside a record (which the
    /// substring search took), nor a line torn by a crash.
    @Test func recoveryParsesLines() throws {
        let path = Self.file()
        let sink = try JSONLinesAlertSink(path: path)
        try sink.send(Self.alert("REAL", records: [#"{"eventID":"e1","requestParameters":{"alert_id":"ghost"},"note":"\"alert_id\":\"ghost2\""}"#]))
        let fd = open(path, O_WRONLY | O_APPEND)
        #expect(fd >= 0)
        _ = Array(#"{"rule":"x","alert_id":"TORN","records":[{"eventID""#.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains(#""alert_id":"ghost""#), "the decoy is in the file")
        let fresh = try JSONLinesAlertSink(path: path)
        #expect(fresh.delivered("REAL"))
        #expect(!fresh.delivered("ghost") && !fresh.delivered("ghost2") && !fresh.delivered("TORN"))
    }

    /// A batch goes out as the same lines, in order, as alerts sent one by one, over more than one
    /// write (more than a MiB of lines); a sink that refuses the write takes none of it and says why.
    @Test func aBatchIsTheSameLinesAndARefusedWriteTakesNothing() throws {
        let record = #"{"eventID":"e1","eventName":"StopLogging","pad":""# + String(repeating: "x", count: 4000) + #""}"#
        let batch = (0..<600).map { Self.alert("B\($0)", records: [record]) }
        let path = Self.file()
        let sink = try JSONLinesAlertSink(path: path)
        let (taken, error) = sink.send(batch: batch)
        #expect(taken == 600 && error == nil)
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written.count > 2 << 20, "precondition: more than one MiB of lines, so more than one write")
        #expect(written == batch.flatMap(JSONLinesAlertSink.line), "byte for byte the lines sent one by one")
        #expect(sink.delivered("B0") && sink.delivered("B599") && !sink.delivered("B600"))
        let full = try JSONLinesAlertSink(path: "/dev/full")
        let refused = full.send(batch: Array(batch.prefix(3)))
        #expect(refused.taken == 0)
        let why = refused.error.map { "\($0)" } ?? ""
        #expect(why.hasPrefix("write /dev/full: ") && why.contains(String(cString: strerror(ENOSPC))), "\(why)")
        #expect(throws: (any Error).self) { try full.send(batch[0]) }
    }
}
