import Foundation
import Testing
import TestSupport

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let labelled = repoRoot.appendingPathComponent("Tests/EndToEndTests/Fixtures/labelled")

/// Copies the labelled corpus into a fresh bucket (so log-file paths are unique to this run).
func labelledBucket() throws -> String {
    let bucket = tempDir("labelled") + "/labelled-bucket"
    try FileManager.default.createDirectory(atPath: bucket, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: labelled.appendingPathComponent("AWSLogs").path, toPath: bucket + "/AWSLogs")
    return bucket
}

/// A rules directory holding the labelled corpus's known networks (it overrides the shipped example).
func labelledLists() throws -> String {
    let dir = tempDir("lists")
    try FileManager.default.copyItem(atPath: labelled.appendingPathComponent("known-networks.list").path, toPath: dir + "/known-networks.list")
    return dir
}

func jsonLines(_ path: String) -> [[String: Any]] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map {
        try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
    }
}

func journal(_ match: String, after cursor: String? = nil) -> [[String: Any]] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/journalctl")
    p.arguments = ["-o", "json", "--no-pager", "--all", match] + (cursor.map { ["--after-cursor", $0] } ?? [])
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try? p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
}

/// The journal's current end, for reading only what came after it: a match on `_PID` alone also
/// finds an earlier process that had the same PID (PIDs wrap at 32,768 here).
func journalCursor() throws -> String {
    let out = try sh(["journalctl", "-n", "0", "--show-cursor", "--no-pager"])
    let line = try #require(out.split(separator: "\n").last { $0.hasPrefix("-- cursor: ") }, "journalctl gave no cursor: \(out)")
    return String(line.dropFirst("-- cursor: ".count))
}

/// Whether a child can be started with journald hidden from it: root, /usr/bin/unshare, and a
/// private mount namespace with a tmpfs over /run/systemd/journal allowed here.
let canHideJournald: Bool = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
    && (try? runCommand(["unshare", "--mount", "sh", "-c", "mount -t tmpfs none /run/systemd/journal"]))?.0 == 0

let families = [
    "root-usage": "root_usage", "unknown-source-ip": "unknown_ip", "terminate-instances-burst": "terminate_burst",
    "trail-tampering": "trail_tampering", "console-login-without-mfa": "console_no_mfa",
]

@Suite(.serialized) struct RulesE2ETests {
    @Test func labelledIncidentsAlertExactlyOnceAndNearMissesDoNot() throws {
        let bucket = try labelledBucket()
        let alerts = tempDir("alerts") + "/alerts.jsonl"
        let r = try trailwatch(["run", "--once", "--logs", bucket, "--state", tempDir("state"), "--rules", repoRoot.appendingPathComponent("rules").path,
                                "--rules", try labelledLists(), "--alerts", "jsonl:" + alerts, "--alerts", "journal"])
        #expect(r.status == 0, "\(r.err)")
        let got = jsonLines(alerts).filter { families[$0["rule"] as! String] != nil }
        let truth = jsonLines(labelled.appendingPathComponent("ground-truth.jsonl").path)
        #expect(truth.count == 50)
        // unknown-source-ip alerts once per principal and address per hour; the later calls come in a summary.
        let isUnknownIP = { (a: [String: Any]) in a["rule"] as? String == "unknown-source-ip" }
        #expect(got.filter { !isUnknownIP($0) }.count == truth.filter { $0["kind"] as? String != "unknown_ip" }.count, "one alert per incident")
        let unknownAlerts = got.filter(isUnknownIP)
        let summaries = unknownAlerts.filter { $0["summary_of"] != nil }
        let unknownTruth = truth.filter { $0["kind"] as? String == "unknown_ip" }
        #expect(!summaries.isEmpty && unknownAlerts.count < unknownTruth.count, "the corpus has repeated calls to suppress: \(unknownAlerts.count) alerts")
        for s in summaries {
            let first = unknownAlerts.filter { $0["alert_id"] as? String == s["summary_of"] as? String }
            #expect(first.count == 1 && first.first?["principal"] as? String == s["principal"] as? String, "a summary follows its first alert")
            #expect(s["count"] as? Int == (s["event_ids"] as? [String])?.count, "a summary lists every suppressed call")
        }
        // Nothing lost, nothing extra: every labelled call is in exactly one alert or summary, and no other call is.
        let listed = unknownAlerts.flatMap { $0["event_ids"] as! [String] }
        #expect(listed.count == Set(listed).count)
        #expect(Set(listed) == Set(unknownTruth.flatMap { $0["eventIDs"] as! [String] }))
        // Stateless kinds: exactly the same events. Bursts: the same principals, one alert each, events from the burst.
        for t in truth {
            let kind = t["kind"] as! String
            let ids = Set(t["eventIDs"] as! [String])
            let matches = got.filter { families[$0["rule"] as! String] == kind && $0["account"] as? String == t["account"] as? String
                && $0["principal"] as? String == (t["principal"] as? String ?? "") }
            if kind == "unknown_ip" {
                #expect(matches.filter { !Set($0["event_ids"] as! [String]).isDisjoint(with: ids) }.count == 1, "\(kind) \(ids)")
            } else if kind == "terminate_burst" {
                let m = matches.filter { !Set($0["event_ids"] as! [String]).isDisjoint(with: ids) }
                #expect(m.count == 1, "burst of \(t["principal"]!)")
                if let a = m.first { #expect(Set(a["event_ids"] as! [String]).isSubset(of: ids) && (a["count"] as! Int) >= 10) }
            } else {
                #expect(matches.filter { Set($0["event_ids"] as! [String]) == ids }.count == 1, "\(kind) \(ids)")
            }
        }
        // Near misses: none of their events is in an alert of the kind they tempt (unless the truth has it too).
        let truthIDs = Set(truth.flatMap { $0["eventIDs"] as! [String] })
        for n in jsonLines(labelled.appendingPathComponent("near-misses.jsonl").path) {
            let kind = n["tempts"] as! String
            let ids = Set(n["eventIDs"] as! [String]).subtracting(truthIDs)
            let hit = got.filter { families[$0["rule"] as! String] == kind && !Set($0["event_ids"] as! [String]).isDisjoint(with: ids) }
            #expect(hit.isEmpty, "near miss alerted: \(n["case"]!)")
        }
        // Every alert reached journald once, with every field.
        guard journaldRunning() else { return }
        let sample = try #require(got.first { $0["rule"] as? String == "trail-tampering" })
        var entries: [[String: Any]] = []
        _ = eventually(timeout: 10) {
            entries = journal("TRAILWATCH_LOG_FILE=\(sample["log_file"] as! String)")
            return entries.contains { $0["TRAILWATCH_ALERT_ID"] as? String == sample["alert_id"] as? String }
        }
        let e = try #require(entries.first { $0["TRAILWATCH_ALERT_ID"] as? String == sample["alert_id"] as? String })
        #expect(entries.filter { $0["TRAILWATCH_ALERT_ID"] as? String == sample["alert_id"] as? String }.count == 1)
        #expect(e["MESSAGE"] as? String == sample["message"] as? String)
        #expect(e["PRIORITY"] as? String == "2", "trail-tampering is critical")
        #expect(e["SYSLOG_IDENTIFIER"] as? String == "trailwatch")
        #expect((e["MESSAGE_ID"] as? String)?.count == 32)
        for (field, key) in [("RULE", "rule"), ("SEVERITY", "severity"), ("ACCOUNT", "account"), ("REGION", "region"), ("PRINCIPAL", "principal"),
                             ("SOURCE_IP", "source_ip"), ("EVENT_NAME", "event_name"), ("EVENT_TIME", "event_time"), ("LOG_FILE", "log_file"),
                             ("ALERT_ID", "alert_id")] {
            #expect(e["TRAILWATCH_" + field] as? String == sample[key] as? String, "\(field)")
        }
        #expect(e["TRAILWATCH_COUNT"] as? String == "1")
        #expect(e["TRAILWATCH_EVENT_IDS"] as? String == (sample["event_ids"] as! [String]).joined(separator: ","))
        let record = try #require(e["TRAILWATCH_RECORD"] as? String)
        #expect(record.contains((sample["event_ids"] as! [String])[0]))
        // A second run over the same state alerts nothing.
        let again = try trailwatch(["run", "--once", "--logs", bucket, "--state", tempDir("state2"), "--rules", repoRoot.appendingPathComponent("rules").path,
                                    "--rules", try labelledLists(), "--alerts", "jsonl:" + alerts + ".2"])
        #expect(again.status == 0)
        #expect(jsonLines(alerts + ".2").count == jsonLines(alerts).count, "a fresh state alerts the same set again, deterministically")
        #expect(Set(jsonLines(alerts + ".2").map { $0["alert_id"] as! String }) == Set(jsonLines(alerts).map { $0["alert_id"] as! String }))
    }

    @Test func aLateFileCompletesABurstOnceAcrossARestart() throws {
        let bucket = tempDir("bucket") + "/b"
        let state = tempDir("state")
        let alerts = tempDir("alerts") + "/a.jsonl"
        func term(_ n: Int, _ time: String) -> String {
            #"{"eventTime":"\#(time)","eventID":"\#(guid(n))","eventSource":"ec2.amazonaws.com","eventName":"TerminateInstances","eventType":"AwsApiCall","sourceIPAddress":"10.1.2.3","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/ops/mass"}}"#
        }
        try write(logDir(bucket) + "/" + logName("20240301T1010Z", "BURSTPART0000001"), gz((0..<6).map { term($0, "2024-03-01T10:0\(2 + $0 / 2):\($0 % 2 == 0 ? "00" : "30")Z") }))
        let args = ["run", "--once", "--logs", bucket, "--state", state, "--rules", repoRoot.appendingPathComponent("rules").path, "--alerts", "jsonl:" + alerts]
        #expect(try trailwatch(args).status == 0)
        #expect(jsonLines(alerts).filter { $0["rule"] as? String == "terminate-instances-burst" }.isEmpty, "6 calls: the window is open")
        // The earlier calls land late, in a file delivered after a restart.
        try write(logDir(bucket) + "/" + logName("20240301T1025Z", "BURSTLATE0000001"), gz((6..<10).map { term($0, "2024-03-01T10:0\(($0 - 6) / 2):\($0 % 2 == 0 ? "00" : "30")Z") }))
        #expect(try trailwatch(args).status == 0)
        let bursts = jsonLines(alerts).filter { $0["rule"] as? String == "terminate-instances-burst" }
        #expect(bursts.count == 1)
        #expect(bursts.first?["count"] as? Int == 10)
        #expect(bursts.first?["event_time"] as? String == "2024-03-01T10:00:00Z")
        #expect((bursts.first?["log_file"] as? String)?.contains("BURSTLATE") == true)
        // Nothing more on a third run.
        #expect(try trailwatch(args).status == 0)
        #expect(jsonLines(alerts).filter { $0["rule"] as? String == "terminate-instances-burst" }.count == 1)
    }

    @Test func aCrashNeverRepeatsAnAlert() throws {
        let bucket = try labelledBucket()
        let state = tempDir("state")
        let alerts = tempDir("alerts") + "/a.jsonl"
        let args = ["run", "--logs", bucket, "--state", state, "--rules", repoRoot.appendingPathComponent("rules").path, "--rules", try labelledLists(),
                    "--alerts", "jsonl:" + alerts, "--log-to", "stderr"]
        let first = try Child(args)
        defer { if first.process.isRunning { first.signal(SIGKILL) } }
        // Polled often: the whole corpus takes ~0.3 s, and the kill must land inside it.
        let alerted = eventually(timeout: 20, interval: 0.005) { !((try? Data(contentsOf: URL(fileURLWithPath: alerts)))?.isEmpty ?? true) }
        first.signal(SIGKILL)
        #expect(first.wait(timeout: 10) != nil, "the first run ended on SIGKILL")
        // The crash landed mid-run: some alerts were already in the file, and some files (so some
        // alerts) were still to do. (The daemon never reaches all 131 alerts by itself: a summary
        // of suppressed calls comes at the end of a --once run.)
        let before = jsonLines(alerts).map { $0["alert_id"] as! String }
        #expect(alerted && !before.isEmpty, "an alert was sent before the crash")
        #expect(before.count < 131, "some alerts were still to come (\(before.count) of 131 sent)")
        let corpus = files(bucket, containing: "_CloudTrail_").count
        let done = try FileManager.default.contentsOfDirectory(atPath: bucket + "/AWSLogs").map { doneCount(state, account: $0) }.reduce(0, +)
        #expect(corpus > 0 && done < corpus, "the crash came before the run was over: \(done) of \(corpus) files done")
        #expect(try trailwatch(["run", "--once"] + args.dropFirst()).status == 0)
        let ids = jsonLines(alerts).map { $0["alert_id"] as! String }
        #expect(ids.count == Set(ids).count, "no alert emitted twice")
        #expect(ids.count == 131, "all alerts of a clean run: \(ids.count)")
        #expect(Array(ids.prefix(before.count)) == before, "the restart appended to what was sent before the crash")
    }

    @Test func aSinkThatRefusesAlertsHoldsBackOnlyItself() throws {
        let bucket = try labelledBucket()
        let state = tempDir("state")
        let alerts = tempDir("alerts") + "/a.jsonl"
        let base = ["run", "--once", "--logs", bucket, "--state", state, "--rules", repoRoot.appendingPathComponent("rules").path,
                    "--rules", try labelledLists(), "--log-to", "stderr"]
        // /dev/full takes the open and refuses every write (ENOSPC): a real sink that is down.
        let r = try trailwatch(base + ["--alerts", "jsonl:/dev/full", "--alerts", "jsonl:" + alerts])
        #expect(r.status == 0, "the run itself worked: exit 0, as a backfill does")
        #expect(r.out.contains("131 alerts wait in the outbox"), "\(r.out)")
        #expect(r.err.contains("jsonl:/dev/full"), "the log names the refusing sink")
        #expect(r.err.components(separatedBy: "could not deliver alert").count - 1 == 1, "logged once, not per alert")
        #expect(jsonLines(alerts).count == 131, "the working sink got every alert")
        let status = try trailwatch(["status", "--state", state])
        #expect(status.out.contains("131 alerts wait in the outbox"), "\(status.out)")
        // Without the broken sink the outbox empties, and nothing is sent twice.
        #expect(try trailwatch(base + ["--alerts", "jsonl:" + alerts]).status == 0)
        #expect(jsonLines(alerts).count == 131)
        #expect(try !trailwatch(["status", "--state", state]).out.contains("wait in the outbox"))
    }

    // journald "gone" for this process only: a private mount namespace with an empty
    // /run/systemd/journal (CI met a socket file with no journald behind it; libsystemd drops
    // entries silently when the socket is missing).
    @Test(.enabled(if: canHideJournald, "hiding journald takes root, /usr/bin/unshare and a private mount namespace allowed here"))
    func withJournaldGoneAlertsReachTheFileAndFollowToJournaldLater() throws {
        guard journaldRunning() else { return }
        // Fresh event ids, so these alert ids were never sent to this journal before.
        let bucket = tempDir("bucket") + "/b"
        let records = (0..<5).map { i in
            #"{"eventVersion":"1.10","eventTime":"2024-03-01T10:0\#(i):00Z","eventID":"\#(UUID().uuidString.lowercased())","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventType":"AwsConsoleSignIn","sourceIPAddress":"203.0.113.\#(i)","userIdentity":{"type":"Root","arn":"arn:aws:iam::123456789012:root","principalId":"123456789012"},"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}}"#
        }
        try write(logDir(bucket) + "/" + logName("20240301T1010Z", "JOURNALGONE00001"), gz(records))
        let state = tempDir("state")
        let alerts = tempDir("alerts") + "/a.jsonl"
        let args = ["run", "--once", "--logs", bucket, "--state", state, "--rules", repoRoot.appendingPathComponent("rules").path,
                    "--alerts", "journal", "--alerts", "jsonl:" + alerts, "--log-to", "journal"]
        let c = try Child(["--mount", "sh", "-c", "mount -t tmpfs none /run/systemd/journal && exec \"$0\" \"$@\"", trailwatchBinary] + args,
                          executable: "/usr/bin/unshare")
        #expect(c.wait(timeout: 120) == 0, "\(c.stderr)")
        let ids = jsonLines(alerts).map { $0["alert_id"] as! String }
        #expect(ids.count >= 5, "the file sink got every alert while journald was gone (\(ids.count))")
        #expect(c.stdout.contains("\(ids.count) alerts wait in the outbox"), "\(c.stdout)")
        // Its own log lines fell back to stderr, and say once which sink refused.
        #expect(c.stderr.components(separatedBy: "could not deliver alert").count - 1 == 1, "\(c.stderr)")
        #expect(c.stderr.contains("to journal"))
        #expect(ids.allSatisfy { journal("TRAILWATCH_ALERT_ID=\($0)").isEmpty }, "nothing reached journald")
        // journald back (the same run outside the namespace): every alert reaches it once, none twice to the file.
        #expect(try trailwatch(args).status == 0)
        #expect(jsonLines(alerts).count == ids.count)
        var counts: [Int] = []
        _ = eventually(timeout: 15) {
            counts = ids.map { journal("TRAILWATCH_ALERT_ID=\($0)").count }
            return counts.allSatisfy { $0 == 1 }
        }
        #expect(counts.allSatisfy { $0 == 1 }, "each alert in journald exactly once: \(counts)")
        #expect(try !trailwatch(["status", "--state", state]).out.contains("wait in the outbox"))
    }

    @Test func aBrokenRuleFileOnReloadKeepsTheRunningRules() throws {
        let daemon = try ReloadingDaemon()
        let (bucket, rules, alerts, good, d) = (daemon.bucket, daemon.rules, daemon.alerts, daemon.good, daemon.child)
        defer { if d.process.isRunning { d.signal(SIGKILL) } }
        try "rule stop\n  severity critical\n  when eventName = StopLogging\nend\n".write(toFile: rules + "/local.rules", atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        #expect(eventually { d.stderr.contains("rules not loaded") })
        #expect(d.stderr.contains("\(rules)/local.rules:3:20: error:"), "\(d.stderr)")
        try write(logDir(bucket) + "/" + logName("20240301T1005Z", "AFTERBROKEN00001"), gz([rec(guid(1), "2024-03-01T10:01:00Z", name: "StopLogging")]))
        #expect(eventually { jsonLines(alerts).count == 1 }, "the old rule still runs")
        // Fixed: the new rule takes over.
        try (good + "rule start\n  when eventName = \"StartLogging\"\nend\n").write(toFile: rules + "/local.rules", atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        #expect(eventually { d.stderr.contains("loaded 2 rules") })
        try write(logDir(bucket) + "/" + logName("20240301T1010Z", "AFTERFIXED000001"), gz([rec(guid(2), "2024-03-01T10:06:00Z", name: "StartLogging")]))
        #expect(eventually { jsonLines(alerts).count == 2 })
        d.signal(SIGTERM)
        #expect(d.wait(timeout: 20) == 0)
    }

    @Test func rulesCheckTestAndCatalogCommands() throws {
        let shipped = repoRoot.appendingPathComponent("rules").path
        let check = try trailwatch(["rules", "check", shipped])
        #expect(check.status == 0 && check.out.contains("19 rules OK"), "\(check.out)\(check.err)")
        let test = try trailwatch(["rules", "test", shipped])
        #expect(test.status == 0 && test.out.contains(" 0 failed"), "\(test.out)")
        let dir = tempDir("broken")
        try "rule x\n  when eventName = \"a\" and\nend\nrule x\nend\n".write(toFile: dir + "/b.rules", atomically: true, encoding: .utf8)
        let bad = try trailwatch(["rules", "check", dir])
        #expect(bad.status == 1)
        #expect(bad.err.contains("\(dir)/b.rules:2:27: error:") && bad.err.contains("defined twice"), "\(bad.err)")
        let failing = tempDir("failing")
        try "rule x\n  when eventName = \"a\"\n  test \"wrong\"\n    event {\"eventName\":\"a\",\"eventTime\":\"2024-03-01T10:00:00Z\",\"eventID\":\"1\"}\n    expect none\nend\n"
            .write(toFile: failing + "/f.rules", atomically: true, encoding: .utf8)
        let t = try trailwatch(["rules", "test", failing])
        #expect(t.status == 1 && t.out.contains("FAIL  x: wrong") && t.out.contains("expected 0 alerts, got 1"), "\(t.out)")
        let catalog = try trailwatch(["rules", "catalog", shipped])
        #expect(catalog.status == 0)
        let ids = catalog.out.split(separator: "\n").filter { $0.hasPrefix("-- ") }.map { String($0.dropFirst(3)) }
        #expect(ids.count == 19 + 12 && Set(ids).count == ids.count, "19 rules and 12 integrity alerts, each its own MESSAGE_ID")
    }

    /// `rules bench` times a rule author's rules on their own files: the set, then each rule alone
    /// with its own hits, counted on the records that are there; a file it cannot read is named
    /// and skipped, not fatal.
    @Test func rulesBenchTimesEachRuleOnTheAuthorsFiles() throws {
        let bucket = tempDir("bench-bucket")
        var stops = 0
        for f in 0..<4 {
            let records = (0..<50).map { i -> String in
                let n = f * 50 + i
                let name = n % 7 == 0 ? "StopLogging" : "DescribeInstances"
                if name == "StopLogging" { stops += 1 }
                return rec(guid(n), "2024-03-01T10:0\(f):00Z", name: name)
            }
            try write(logDir(bucket) + "/" + logName("20240301T100\(f)Z", "BENCH0000000000\(f)"), gz(records))
        }
        try write(logDir(bucket) + "/" + logName("20240301T1009Z", "BROKEN0000000001"), Array("not gzip".utf8))
        let rules = tempDir("bench-rules")
        try "rule stops\n  when eventName = \"StopLogging\"\nend\nrule never\n  when eventName = \"NoSuchCall\"\nend\n"
            .write(toFile: rules + "/b.rules", atomically: true, encoding: .utf8)
        #expect(stops > 0)
        let r = try trailwatch(["rules", "bench", "--rules", rules, "--passes", "1", bucket])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("2 rules, 200 records from 4 files"), "\(r.out)")
        #expect(r.out.contains("all rules: ") && r.out.contains(" events/s") && r.out.contains("\(stops) hits"), "\(r.out)")
        let rows = r.out.split(separator: "\n").map { $0.split(separator: " ") }
        #expect(rows.contains { $0.first == "stops" && $0.last == "\(stops)" }, "\(r.out)")
        #expect(rows.contains { $0.first == "never" && $0.last == "0" }, "\(r.out)")
        #expect(r.err.contains("BROKEN0000000001.json.gz: skipped:"), "\(r.err)")
        let capped = try trailwatch(["rules", "bench", "--rules", rules, "--passes", "1", "--no-each", "--max-records", "60", bucket])
        #expect(capped.status == 0 && capped.out.contains("2 rules, 60 records from 2 files") && !capped.out.contains("never"), "\(capped.out)")
        #expect(capped.err.contains("kept the first 60 records"), "\(capped.err)")
        let empty = try trailwatch(["rules", "bench", "--rules", rules, tempDir("bench-empty")])
        #expect(empty.status != 0 && empty.err.contains("no records in"), "\(empty.err)")
    }

    /// The catalog installs, and journalctl knows a rule's MESSAGE_ID.
    @Test(.enabled(if: getuid() == 0, "installing a journald catalog writes /usr/lib/systemd/catalog: root"))
    func theCatalogInstallsAndJournalctlKnowsEachRule() throws {
        let catalog = try trailwatch(["rules", "catalog", repoRoot.appendingPathComponent("rules").path])
        #expect(catalog.status == 0)
        let ids = catalog.out.split(separator: "\n").filter { $0.hasPrefix("-- ") }.map { String($0.dropFirst(3)) }
        let first = try #require(ids.first, "the catalog has entries: \(catalog.out)")
        let path = "/usr/lib/systemd/catalog/trailwatch-test.catalog"
        try FileManager.default.createDirectory(atPath: "/usr/lib/systemd/catalog", withIntermediateDirectories: true)
        try catalog.out.write(toFile: path, atomically: true, encoding: .utf8)
        defer {
            try? FileManager.default.removeItem(atPath: path)
            _ = try? sh(["journalctl", "--update-catalog"])
        }
        _ = try sh(["journalctl", "--update-catalog"])
        let listed = try sh(["journalctl", "--list-catalog", first])
        #expect(listed.contains("trailwatch"), "\(listed)")
    }
}

@discardableResult
func sh(_ args: [String]) throws -> String { try runCommand(args).1 }

/// A running daemon over an empty bucket with one rule file (`stop`: critical on StopLogging) in its
/// own folder and alerts to a JSON-lines file, ready: what the reload tests change under it.
struct ReloadingDaemon {
    let bucket: String, rules: String, alerts: String, good: String
    let child: Child

    init() throws {
        bucket = tempDir("bucket") + "/b"
        try FileManager.default.createDirectory(atPath: bucket, withIntermediateDirectories: true)
        rules = tempDir("rules")
        good = "rule stop\n  severity critical\n  when eventName = \"StopLogging\"\nend\n"
        try good.write(toFile: rules + "/local.rules", atomically: true, encoding: .utf8)
        alerts = tempDir("alerts") + "/a.jsonl"
        child = try Child(["run", "--logs", bucket, "--state", tempDir("state"), "--rules", rules, "--alerts", "jsonl:" + alerts, "--log-to", "stderr"])
        #expect(eventually { child.stderr.contains("ready") })
    }
}
