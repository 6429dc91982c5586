import Foundation
import Testing
import TestSupport

/// The first commands an operator types, against the built binary: each says what it did, and a
/// mistake is named with the subcommand's usage before anything is created.
@Suite struct FirstHourTests {
    /// The binary outside the source checkout (as the other tests run it): no checkout rules/ above it.
    static let outsideCheckout = trailwatchBinary

    /// Runs `binary ARGS` in `cwd` to completion; by default the binary in the source checkout.
    func run(_ args: [String], binary: String = builtBinary, cwd: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let dir = tempDir("io")
        for f in ["out", "err"] { _ = FileManager.default.createFile(atPath: dir + "/" + f, contents: nil) }
        p.standardOutput = FileHandle(forWritingAtPath: dir + "/out")
        p.standardError = FileHandle(forWritingAtPath: dir + "/err")
        try p.run()
        p.waitUntilExit()
        let read = { (f: String) in (try? String(contentsOfFile: dir + "/" + f, encoding: .utf8)) ?? "" }
        return (p.terminationStatus, read("out"), read("err"))
    }

    /// A bucket with one log file: two DescribeInstances calls and one ConsoleLogin.
    func smallBucket() throws -> String {
        let bucket = tempDir("bucket") + "/b"
        try write(
            logDir(bucket) + "/" + logName("20240301T1005Z", "FIRSTHOUR0000001"),
            gz([rec(guid(1), "2024-03-01T10:00:00Z"), rec(guid(2), "2024-03-01T10:00:01Z", name: "ConsoleLogin"), rec(guid(3), "2024-03-01T10:00:02Z")]))
        return bucket
    }

    func requireNothingInstalled() throws {
        for dir in ["/usr/share/trailwatch/rules", "/etc/trailwatch/rules.d"] {
            try #require(!FileManager.default.fileExists(atPath: dir), "\(dir) exists: this case needs a machine without the package installed")
        }
    }

    @Test func runSaysHowManyRulesFromWhereAndWarnsWhenNone() throws {
        let bucket = try smallBucket()
        let rules = tempDir("rules")
        try "rule console\n  when eventName = \"ConsoleLogin\"\n  message \"sign-in\"\nend\n".write(toFile: rules + "/a.rules", atomically: true, encoding: .utf8)
        let named = try run(["run", "--once", "--logs", bucket, "--state", tempDir("state"), "--rules", rules, "--alerts", "stdout", "--log-to", "stderr"])
        #expect(named.status == 0)
        #expect(named.err.contains("loaded 1 rules from \(rules) (as named)"), "\(named.err)")

        // No --rules, in a source checkout, nothing installed: the checkout's rules/, said so.
        try requireNothingInstalled()
        let checkout = try run(["run", "--once", "--logs", bucket, "--state", tempDir("state"), "--alerts", "stdout", "--log-to", "stderr"], cwd: tempDir("cwd"))
        #expect(checkout.status == 0)
        #expect(checkout.err.contains("loaded 19 rules from \(repoRoot.path)/rules (the source checkout's rules"), "\(checkout.err)")

        // No --rules anywhere to be found: a warning that names where it looked, and the run goes on.
        let none = try run(["run", "--once", "--logs", bucket, "--state", tempDir("state"), "--alerts", "stdout", "--log-to", "stderr"], binary: Self.outsideCheckout)
        #expect(none.status == 0)
        #expect(none.err.contains("warning") && none.err.contains("no rules loaded") && none.err.contains("/usr/share/trailwatch/rules"), "\(none.err)")
        #expect(none.err.contains("3 events stored"), "the events are still stored (the summary goes to stderr beside --alerts stdout): \(none.err)")

        // A folder without .rules files: a warning too.
        let empty = try run(["run", "--once", "--logs", bucket, "--state", tempDir("state"), "--rules", tempDir("norules"), "--log-to", "stderr"])
        #expect(empty.status == 0 && empty.err.contains("loaded 0 rules from"), "\(empty.err)")
    }

    @Test func rulesCommandsFindTheRulesRunFindsOrFailWithAHint() throws {
        try requireNothingInstalled()
        for sub in ["check", "test", "catalog"] {
            let found = try run(["rules", sub], cwd: tempDir("cwd"))
            #expect(found.status == 0, "rules \(sub): \(found.err)")
        }
        #expect(try run(["rules", "check"], cwd: tempDir("cwd")).out.contains("19 rules OK"))
        for sub in ["check", "test", "catalog"] {
            let missing = try run(["rules", sub], binary: Self.outsideCheckout)
            #expect(missing.status != 0, "rules \(sub)")
            #expect(missing.out.isEmpty, "rules \(sub) wrote: \(missing.out)")
            #expect(missing.err.contains("no rules found") && missing.err.contains("install the package"), "\(missing.err)")
            #expect(missing.err.contains("Usage: trailwatch rules \(sub)"), "\(missing.err)")
        }
        // A folder without rules never gives an empty catalog.
        let empty = try run(["rules", "catalog", tempDir("norules")])
        #expect(empty.status != 0 && empty.out.isEmpty && empty.err.contains("no rules in"), "\(empty.err)")
        // The config file's rules entries, as `run --config` reads them.
        let rules = tempDir("rules")
        try "rule only\n  when eventName = \"X\"\nend\n".write(toFile: rules + "/o.rules", atomically: true, encoding: .utf8)
        let conf = tempDir("conf") + "/trailwatch.conf"
        try "rules = \(rules)\n".write(toFile: conf, atomically: true, encoding: .utf8)
        let configured = try run(["rules", "check", "--config", conf], binary: Self.outsideCheckout)
        #expect(configured.status == 0 && configured.out.contains("1 rules OK"), "\(configured.out)\(configured.err)")
    }

    @Test func aLogsFolderWithoutAWSLogsIsAWarningNamingWhatWasExpected() throws {
        let empty = tempDir("emptybucket")
        let r = try run(["run", "--once", "--logs", empty, "--state", tempDir("state"), "--rules", tempDir("norules"), "--log-to", "stderr"])
        #expect(r.status == 0)
        #expect(r.err.contains("\(empty): no AWSLogs/ folder below it; expected a mirrored CloudTrail bucket"), "\(r.err)")
        // One level too deep is as wrong; a prefix folder above AWSLogs/ is right.
        let bucket = try smallBucket()
        let deep = try run(["run", "--once", "--logs", bucket + "/AWSLogs/123456789012", "--state", tempDir("state"), "--rules", tempDir("norules"), "--log-to", "stderr"])
        #expect(deep.err.contains("no AWSLogs/ folder below it"), "\(deep.err)")
        let prefixed = tempDir("prefixed") + "/bucket"
        try FileManager.default.createDirectory(atPath: prefixed + "/team/a", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: bucket + "/AWSLogs", toPath: prefixed + "/team/a/AWSLogs")
        let ok = try run(["run", "--once", "--logs", prefixed, "--state", tempDir("state"), "--rules", tempDir("norules"), "--log-to", "stderr"])
        #expect(ok.status == 0 && !ok.err.contains("AWSLogs"), "\(ok.err)")
    }

    @Test func anExclusionPatternStartingWithADashIsAccepted() throws {
        let state = tempDir("state")
        #expect(try run(["run", "--once", "--logs", try smallBucket(), "--state", state, "--rules", tempDir("norules")]).status == 0)
        let r = try run(["logs", "filter", "--state", state, "--group", "aws-cloudtrail-logs-123456789012", "--pattern", "-DescribeInstances"])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("ConsoleLogin"), "\(r.out)")
    }

    @Test func errorsFoundAfterParsingShowTheSubcommandsUsage() throws {
        let noLogs = try run(["run", "--once", "--state", tempDir()])
        #expect(noLogs.status == 64)
        #expect(noLogs.err.hasPrefix("Error: name at least one --logs DIR"), "\(noLogs.err)")
        #expect(noLogs.err.contains("\nUsage: trailwatch run "), "\(noLogs.err)")
        #expect(noLogs.err.contains("See 'trailwatch run --help' for more information."), "\(noLogs.err)")
        let missing = try run(["run", "--once", "--logs", "/nonexistent/bucket", "--state", tempDir()])
        #expect(missing.status == 64 && missing.err.contains("--logs /nonexistent/bucket: No such file or directory"), "\(missing.err)")
        #expect(missing.err.contains("Usage: trailwatch run"))
    }

    @Test func aFailedStartCreatesNothing() throws {
        let bucket = try smallBucket()
        let broken = tempDir("broken")
        try "rule x\n  when eventName = \nend\n".write(toFile: broken + "/b.rules", atomically: true, encoding: .utf8)
        let cases: [(String, [String], String)] = [
            ("an unknown alert sink", ["--alerts", "bogus"], "unknown alert sink 'bogus'"),
            ("a missing key file", ["--keys", "/nonexistent/keys.json"], "/nonexistent/keys.json"),
            ("broken rules", ["--rules", broken], "\(broken)/b.rules:"),
        ]
        for (what, args, says) in cases {
            let state = tempDir("state") + "/not-yet"
            let r = try run(["run", "--once", "--logs", bucket, "--state", state, "--log-to", "stderr"] + args)
            #expect(r.status == 2, "\(what)")
            #expect(r.err.contains(says), "\(what): \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: state), "\(what): the state directory was created")
        }
    }

    @Test func simulateRefusesSettingsThatWriteNothing() throws {
        for (args, says) in [
            (["--accounts", "0"], "--accounts must be at least 1"), (["--hours", "0"], "--hours must be more than 0"),
            (["--rate", "0"], "--rate must be more than 0"), (["--regions", "us-east-1,"], "is not a region name"),
        ] {
            let out = tempDir("sim") + "/bucket"
            let r = try run(["simulate", "--out", out] + args)
            #expect(r.status == 64, "\(args)")
            #expect(r.err.contains(says) && r.err.contains("Usage: trailwatch simulate"), "\(args): \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(args): wrote \(out)")
        }
    }

    @Test func runHelpShowsTheDefaults() throws {
        let h = try run(["run", "--help"])
        #expect(h.status == 0)
        // The help wraps lines: compare with whitespace folded.
        let text = h.out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for expected in [
            "declared failed (default: 600)", "full rescans of the mirror (default: 300)", "in a threshold window (default: 20)",
            "before it is overdue (default: 30)", "(default: never expire)", "(repeatable; default: journal)", "(default: info)",
            "else /usr/share/trailwatch/rules and /etc/trailwatch/rules.d when installed, else the source checkout's rules/",
        ] {
            #expect(text.contains(expected), "\(expected)")
        }
    }
}

@Suite(.serialized) struct VerifyBucketTests {
    @Test func aCopyUnderAnotherNameIsCheckedAgainstTheBucketItsDigestsName() throws {
        let copy = tempDir("copy") + "/mirror-copy"
        try FileManager.default.copyItem(atPath: verifiedBucket, toPath: copy)
        let last = try lastDigestStamp(files(copy, containing: "CloudTrail-Digest_"))
        let logs = files(copy, containing: "_CloudTrail_").filter { stamp($0, after: logMarker) < last }
        let r = try verify(copy)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.hasPrefix("Bucket trail-bucket: named by its digests (the folder is called mirror-copy; --bucket NAME overrides)\n"), "\(r.out)")
        #expect(r.out.contains("3/3 digest files valid") && r.out.contains("\(logs.count)/\(logs.count) log files valid"), "\(r.out)")
        // --bucket still decides: the wrong name makes every digest look moved.
        let wrong = try trailwatch(["verify", "--logs", copy, "--keys", verifiedBucket + "/public-keys.json", "--bucket", "mirror-copy"])
        #expect(wrong.status == 1 && wrong.err.contains("moved from its original location"))
    }

    @Test func digestsNamingSeveralBucketsAskForTheBucketInOneLine() throws {
        let other = tempDir("other") + "/other-bucket"
        let sim = try trailwatch(["simulate", "--out", other, "--hours", "1", "--accounts", "1", "--regions", "eu-west-1", "--seed", "7", "--rate", "5"])
        try #require(sim.status == 0, "\(sim.err)")
        let mixed = try copyBucket()
        let renamed = (mixed as NSString).deletingLastPathComponent + "/mixed"
        try FileManager.default.moveItem(atPath: mixed, toPath: renamed)
        let otherAccount = try #require(try FileManager.default.contentsOfDirectory(atPath: other + "/AWSLogs").first)
        try FileManager.default.copyItem(atPath: other + "/AWSLogs/" + otherAccount, toPath: renamed + "/AWSLogs/" + otherAccount)
        let r = try verify(renamed)
        #expect(r.status == 64)
        let first = r.err.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first == "Error: the digests name the buckets other-bucket, trail-bucket, none of them the folder's name mixed: give --bucket NAME", "\(r.err)")
    }

    @Test func logFilesNewerThanTheLastDigestAreCounted() throws {
        let bucket = try copyBucket()
        let digests = files(bucket, containing: "CloudTrail-Digest_")
        let logs = files(bucket, containing: "_CloudTrail_")
        let last = try lastDigestStamp(digests)
        let already = logs.filter { stamp($0, after: logMarker) >= last }.count
        // Two more files land after the last digest.
        let template = try #require(logs.first)
        for (n, t) in ["0315Z", "0320Z"].enumerated() {
            let renamed = (template as NSString).lastPathComponent
                .replacingOccurrences(of: stamp(template, after: logMarker), with: "20240301T" + t.dropLast())
            let name = String(renamed.dropLast(".json.gz".count + 16)) + "LATE000000000\(n)AB.json.gz"
            let dir = bucket + "/" + (template as NSString).deletingLastPathComponent
            try FileManager.default.copyItem(atPath: bucket + "/" + template, toPath: dir + "/" + name)
        }
        // And one of an account that has no digest at all.
        let account = try #require(template.split(separator: "/").dropFirst().first.map(String.init))
        let lone = template.replacingOccurrences(of: account, with: "999999999999")
        try FileManager.default.createDirectory(atPath: bucket + "/" + (lone as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: bucket + "/" + template, toPath: bucket + "/" + lone)
        let r = try verify(bucket)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("\(already + 2) log files newer than the last digest of their account and region"), "\(r.out)")
        #expect(r.out.contains("1 log files in account-regions without any digest (999999999999/us-east-1)"), "\(r.out)")
    }
}

let logMarker = "_CloudTrail_us-east-1_"

/// The delivery stamp in a log or digest file's name, after `marker`: yyyyMMddTHHmm in both kinds.
func stamp(_ path: String, after marker: String) -> String {
    let rest = (path as NSString).lastPathComponent.components(separatedBy: marker)[1]
    return String(rest.prefix(13))
}

/// The newest digest's stamp: log files delivered from then on are covered by no digest yet.
func lastDigestStamp(_ digests: [String]) throws -> String {
    try #require(digests.map { stamp($0, after: "_CloudTrail-Digest_us-east-1_management-events_us-east-1_") }.max())
}
