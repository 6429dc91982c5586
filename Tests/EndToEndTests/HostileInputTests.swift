import Foundation
import Testing
import TestSupport

/// Rule files and patterns built to crash a parser: the real binary answers each with a
/// file:line:column (or column) error and a non-zero exit, and a running daemon keeps its rules.
@Suite(.serialized) struct HostileInputTests {
    /// Each hostile rule file with the start of the error it must produce (`FILE` stands for its path).
    static let hostile: [(name: String, text: String, error: String)] = [
        ("index", "rule a\n  pattern { $.resources[99999999999999999999].ARN = x }\nend\n", "FILE:2:25: error: filter pattern: array index too large"),
        ("parens", "rule a\n  when " + String(repeating: "(", count: 10_000) + "eventName = \"x\"" + String(repeating: ")", count: 10_000) + "\nend\n",
         "FILE:2:108: error: the condition nests deeper than 100 levels"),
        ("nots", "rule a\n  when " + String(repeating: "not ", count: 100_000) + "eventName = \"x\"\nend\n",
         "FILE:2:408: error: the condition nests deeper than 100 levels"),
        ("unclosed", "rule a\n  pattern { " + String(repeating: "(", count: 100_000) + "\nend\n", "FILE:2:1035: error: filter pattern: the pattern is 100002 characters long"),
        ("window", "rule a\n  when eventName = \"x\"\n  threshold count >= 5 within 99999999999999999999d\nend\n",
         "FILE:3:31: error: '99999999999999999999d' is longer than the longest duration"),
        ("overflow", "rule a\n  when eventName = \"x\"\n  first-seen sourceIPAddress by userIdentity.arn over 999999999999999d\nend\n",
         "FILE:3:55: error: '999999999999999d' is longer than the longest duration"),
    ]

    /// Writes each hostile file into its own directory (and returns the directories by name).
    func hostileDirs() throws -> [String: String] {
        var dirs: [String: String] = [:]
        for h in Self.hostile {
            let dir = tempDir("hostile-\(h.name)")
            try h.text.write(toFile: dir + "/x.rules", atomically: true, encoding: .utf8)
            dirs[h.name] = dir
        }
        return dirs
    }

    @Test func rulesCheckOnHostileFilesIsAClearError() throws {
        let dirs = try hostileDirs()
        for h in Self.hostile {
            let file = dirs[h.name]! + "/x.rules"
            let r = try trailwatch(["rules", "check", file])
            #expect(r.status == 1, "\(h.name): exit \(r.status), \(r.err.prefix(500))")
            #expect(r.err.hasPrefix(h.error.replacingOccurrences(of: "FILE", with: file)), "\(h.name): \(r.err.prefix(500))")
            #expect(r.err.hasSuffix("1 errors, 0 warnings\n"), "\(h.name): \(r.err.suffix(300))")
        }
    }

    @Test func logsFilterWithAHostilePatternIsAClearError() throws {
        let bucket = tempDir("bucket") + "/b"
        try write(logDir(bucket) + "/" + logName("20240301T1000Z", "HOSTILEPATTERN01"), gz([rec(guid(1), "2024-03-01T10:00:00Z")]))
        let state = tempDir("state")
        #expect(try trailwatch(["run", "--once", "--logs", bucket, "--state", state]).status == 0)
        let group = ["--state", state, "--group", "aws-cloudtrail-logs-123456789012"]
        let good = try trailwatch(["logs", "filter"] + group + ["--pattern", "{ $.eventName = DescribeInstances }"])
        #expect(good.status == 0 && good.out.contains(guid(1)), "the group exists and a sane pattern finds the event: \(good.err)")
        for (pattern, error) in [
            ("{ $.resources[99999999999999999999].ARN = x }", "invalid filter pattern: column 15: array index too large"),
            ("{ " + String(repeating: "(", count: 100_000), "invalid filter pattern: column 1025: the pattern is 100002 characters long"),
            ("{ " + String(repeating: "(", count: 500) + "$.a = 1" + String(repeating: ")", count: 500) + " }",
             "invalid filter pattern: column 103: parentheses nest deeper than 100 levels"),
            ("{ $.eventName = %a{99999999999999999999}% }", "invalid filter pattern: column 19: repetition count above 1000"),
        ] {
            let r = try trailwatch(["logs", "filter"] + group + ["--pattern", pattern])
            #expect(r.status == 64, "a usage error (a signal would show as its number): \(error): exit \(r.status)")
            #expect(r.err.contains(error), "\(r.err.prefix(500))")
            #expect(r.out.isEmpty)
        }
    }

    @Test func aHostileRuleFileOnReloadKeepsTheRunningRules() throws {
        let daemon = try ReloadingDaemon()
        let (bucket, rules, alerts, d) = (daemon.bucket, daemon.rules, daemon.alerts, daemon.child)
        defer { if d.process.isRunning { d.signal(SIGKILL) } }
        // Each hostile file in turn replaces the rules; each reload fails and names the place.
        for (n, h) in Self.hostile.enumerated() {
            try h.text.write(toFile: rules + "/local.rules", atomically: true, encoding: .utf8)
            d.signal(SIGHUP)
            let expected = h.error.replacingOccurrences(of: "FILE", with: rules + "/local.rules")
            #expect(eventually { d.stderr.components(separatedBy: "reload failed").count - 1 == n + 1 }, "\(h.name): \(d.stderr.suffix(2000))")
            #expect(d.stderr.contains(expected), "\(h.name): \(d.stderr.suffix(2000))")
            #expect(d.process.isRunning, "\(h.name): the daemon survives the reload")
        }
        try write(logDir(bucket) + "/" + logName("20240301T1005Z", "AFTERHOSTILE0001"), gz([rec(guid(1), "2024-03-01T10:01:00Z", name: "StopLogging")]))
        #expect(eventually { jsonLines(alerts).count == 1 }, "the old rule still runs")
        #expect(d.process.isRunning)
        d.signal(SIGTERM)
        #expect(d.wait(timeout: 20) == 0)
        // A start with a hostile file fails at once with the error, not a signal.
        try Self.hostile[0].text.write(toFile: rules + "/local.rules", atomically: true, encoding: .utf8)
        let start = try trailwatch(["run", "--once", "--logs", bucket, "--state", tempDir("state"), "--rules", rules, "--log-to", "stderr"])
        #expect(start.status == 2, "cannot start (a signal would show as its number): exit \(start.status)")
        #expect(start.err.contains(Self.hostile[0].error.replacingOccurrences(of: "FILE", with: rules + "/local.rules")), "\(start.err.suffix(1000))")
    }

    /// Numbers in the config file or on the command line that would overflow when turned into
    /// milliseconds or bytes (`1e300`, `inf`, `nan`, negative) are an error naming the setting (and
    /// the config's line), exit 64, and create no state: never a trap.
    @Test func hostileNumbersInTheConfigAndFlagsAreClearErrors() throws {
        let bucket = tempDir("bucket") + "/b"
        try write(logDir(bucket) + "/" + logName("20240301T1000Z", "HOSTILENUMBER001"), gz([rec(guid(1), "2024-03-01T10:00:00Z")]))
        let dir = tempDir("numbers")
        for (line, setting) in [
            ("retention-days = 1e300", "retention-days"), ("allowed-lateness = 1e300", "allowed-lateness"),
            ("incomplete-timeout = inf", "incomplete-timeout"), ("digest-slack = nan", "digest-slack"),
            ("rescan-interval = -1", "rescan-interval"), ("watch-days = 1e20", "watch-days"),
            ("max-inflated-size = 1e300", "max-inflated-size"), ("max-record-size = 0", "max-record-size"),
            ("retention-days = 7.5", "retention-days"),
        ] {
            let config = dir + "/trailwatch.conf", state = dir + "/state-\(setting)"
            try "logs = \(bucket)\nstate = \(state)\n\(line)\n".write(toFile: config, atomically: true, encoding: .utf8)
            let r = try trailwatch(["run", "--once", "--config", config])
            #expect(r.status == 64, "\(line): a usage error, not a signal: exit \(r.status), \(r.err.prefix(300))")
            #expect(r.err.contains("\(config):3: \(setting) must be"), "\(line): \(r.err.prefix(300))")
            #expect(!FileManager.default.fileExists(atPath: state), "\(line): a refused start creates no state")
        }
        for (flag, value) in [
            ("--lateness", "1e300"), ("--digest-slack", "inf"), ("--incomplete-timeout", "nan"), ("--max-inflated-size", "1e300"),
            ("--max-record-size", "-5"), ("--rescan-interval", "0"), ("--decode-threads", "100000"),
        ] {
            let state = dir + "/state-flag"
            let r = try trailwatch(["run", "--once", "--logs", bucket, "--state", state, flag + "=" + value])
            #expect(r.status == 64, "\(flag) \(value): exit \(r.status), \(r.err.prefix(300))")
            #expect(r.err.contains("\(flag)") && r.err.contains("must be"), "\(flag) \(value): \(r.err.prefix(300))")
            #expect(!FileManager.default.fileExists(atPath: state), "\(flag) \(value): a refused start creates no state")
        }
        // The bounds leave every sensible setting alone.
        let ok = try trailwatch(["run", "--once", "--logs", bucket, "--state", dir + "/state-ok", "--lateness", "1e3", "--max-record-size", "0.5"])
        #expect(ok.status == 0, "\(ok.err.prefix(300))")
    }
}
