import Foundation
import Testing
import TestSupport

@Suite struct ServiceTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func ownLogsGoToJournaldWithStructuredFields() throws {
        guard journaldRunning() else { return }
        let bucket = tempDir("bucket") + "/b"
        let bad = logDir(bucket) + "/" + logName("20240301T1000Z", "JOURNAL000000001")
        try write(bad, Array("definitely not gzip".utf8))
        let state = tempDir("state")
        let r = try trailwatch(["run", "--once", "--logs", bucket, "--state", state, "--log-to", "journal"])
        #expect(r.status == 0)
        var entries: [[String: Any]] = []
        _ = eventually(timeout: 10) {
            entries = journal("TRAILWATCH_FILE=\(bad)")
            return !entries.isEmpty
        }
        #expect(entries.count == 1)
        let e = try #require(entries.first)
        #expect(e["SYSLOG_IDENTIFIER"] as? String == "trailwatch")
        #expect(e["PRIORITY"] as? String == "3")
        #expect(e["TRAILWATCH_REASON"] as? String == "corrupt_gzip")
        #expect((e["MESSAGE"] as? String ?? "").contains(bad))
        #expect(e["CODE_FILE"] != nil && e["CODE_LINE"] != nil)
    }

    @Test(arguments: ["trailwatch.service", "trailwatch-serve.service"])
    func unitFileVerifiesAndIsHardened(_ name: String) throws {
        let unit = try String(contentsOf: Self.repo.appendingPathComponent("systemd/\(name)"), encoding: .utf8)
        #expect(unit.contains("Type=notify"))
        if name == "trailwatch.service" { #expect(unit.contains("WatchdogSec=")) }
        if name == "trailwatch-serve.service" {
            // The API server runs as the daemon's user on the daemon's state, loopback only by default.
            #expect(unit.contains("User=trailwatch") && unit.contains("StateDirectory=trailwatch"))
            #expect(unit.contains("IPAddressAllow=localhost") && unit.contains("IPAddressDeny=any"))
            #expect(unit.contains("ExecStart=/usr/bin/trailwatch serve --config /etc/trailwatch/trailwatch.conf"))
        }
        let dir = tempDir("unit")
        let path = dir + "/" + name
        try unit.replacingOccurrences(of: "/usr/bin/trailwatch", with: trailwatchBinary).write(toFile: path, atomically: true, encoding: .utf8)
        func run(_ args: [String]) throws -> (Int32, String, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
            p.arguments = args
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, o, e)
        }
        let (vs, _, verr) = try run(["verify", "--man=no", path])
        #expect(vs == 0)
        #expect(verr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "verify warns: \(verr)")
        let (_, sout, _) = try run(["security", "--offline=true", path])
        let line = try #require(sout.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = Double(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces).split(separator: " ")[0]) ?? 10
        #expect(score <= 2.0, "\(line)")
    }

    @Test func cliVersionHelpAndErrors() throws {
        let v = try trailwatch(["--version"])
        #expect(v.status == 0 && v.out.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        for sub in [["run"], ["logs"], ["logs", "groups"], ["logs", "streams"], ["logs", "get"], ["logs", "filter"], ["simulate"]] {
            let h = try trailwatch(sub + ["--help"])
            #expect(h.status == 0 && h.out.contains("USAGE"), "\(sub)")
        }
        let noLogs = try trailwatch(["run", "--once", "--state", tempDir()])
        #expect(noLogs.status != 0 && noLogs.err.contains("--logs"))
        let missing = try trailwatch(["run", "--once", "--logs", "/nonexistent/bucket", "--state", tempDir()])
        #expect(missing.status != 0)
    }

    @Test func queryCommandsSpeakCloudWatch() throws {
        let bucket = tempDir("bucket") + "/b"
        let t = ["2024-03-01T10:00:00Z", "2024-03-01T10:00:01Z", "2024-03-01T10:00:02Z", "2024-03-01T10:00:03Z"]
        try write(logDir(bucket) + "/" + logName("20240301T1005Z", "QUERY00000000001"),
                  gz(t.enumerated().map { rec(guid($0.offset), $0.element, name: $0.offset % 2 == 0 ? "ConsoleLogin" : "GetObject") }))
        let state = tempDir("state")
        #expect(try trailwatch(["run", "--once", "--logs", bucket, "--state", state]).status == 0)
        let g = "aws-cloudtrail-logs-123456789012"
        let groups = try trailwatch(["logs", "groups", "--state", state])
        #expect(groups.out.contains(#""logGroupName":"\#(g)""#))
        let streams = try trailwatch(["logs", "streams", "--state", state, "--group", g])
        #expect(streams.out.contains(#""logStreamName":"123456789012_CloudTrail_us-east-1""#))
        // filter: end inclusive; epoch ms and ISO both accepted.
        let f = try trailwatch(["logs", "filter", "--state", state, "--group", g, "--start", "1709287201000", "--end", "2024-03-01T10:00:03Z", "--pattern", "{ $.eventName = ConsoleLogin }"])
        let lines = f.out.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.count == 1)
        #expect(lines.first?["timestamp"] as? Int == 1_709_287_202_000)
        for key in ["timestamp", "ingestionTime", "logStreamName", "eventId", "message"] { #expect(lines.first?[key] != nil, "\(key)") }
        #expect((lines.first?["message"] as? String) == rec(guid(2), t[2], name: "ConsoleLogin"))
        // get: end exclusive.
        let get = try trailwatch(["logs", "get", "--state", state, "--group", g, "--stream", "123456789012_CloudTrail_us-east-1", "--start", t[1], "--end", t[3]])
        #expect(get.out.split(separator: "\n").count == 2)
        // One page with a token.
        let page = try trailwatch(["logs", "filter", "--state", state, "--group", g, "--limit", "3"])
        #expect(page.out.split(separator: "\n").count == 3 && page.err.contains("nextToken: "))
        let bad = try trailwatch(["logs", "filter", "--state", state, "--group", g, "--pattern", "{ $.eventName = }"])
        #expect(bad.status != 0 && bad.err.contains("column"))
        let nogroup = try trailwatch(["logs", "streams", "--state", state, "--group", "nope"])
        #expect(nogroup.status != 0 && nogroup.err.contains("does not exist"))
    }
}
