import Foundation
import Testing
import TestSupport

/// The S3/SQS source with the real binary against moto (S3 and SQS on one endpoint): a simulated
/// organization uploaded to a bucket whose notifications go to a queue, taken exactly once.
/// The first account of the last simulated organization.
nonisolated(unsafe) var firstAccount = ""

@Suite(.serialized) struct S3SourceE2ETests {
    static let bucket = "trail-org"
    static let prefix = "org"

    /// A moto server with the bucket, the queue and the bucket's notification to the queue; returns the queue URL.
    static func setUp(_ moto: MotoServer) throws -> String {
        let out = try moto.boto3(
            """
            s3 = boto3.client("s3"); sqs = boto3.client("sqs")
            s3.create_bucket(Bucket="\(bucket)")
            url = sqs.create_queue(QueueName="trail-queue", Attributes={"VisibilityTimeout": "10"})["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            s3.put_bucket_notification_configuration(Bucket="\(bucket)", NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
            print(url)
            """)
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes a simulated organization (plus one account's TerminateInstances burst) to a local bucket.
    static func simulate(accounts: Int, hours: Double, start: String, seed: Int = 1, burst: Bool = true) throws -> String {
        let dir = tempDir("sim") + "/" + bucket
        let r = try trailwatch([
            "simulate", "--out", dir, "--accounts", "\(accounts)", "--hours", "\(hours)", "--start", start, "--no-digests", "--seed", "\(seed)",
        ])
        try #require(r.status == 0, "simulate: \(r.err)")
        // The burst: 12 TerminateInstances by one principal within 3 minutes, in the first account.
        let listed = try #require(r.out.components(separatedBy: "for accounts ").last)
        let account = String(listed.prefix(12))
        try #require(account.count == 12 && account.allSatisfy(\.isNumber), "simulate said: \(r.out)")
        firstAccount = account
        guard burst else { return dir }
        let day = start.prefix(10).replacingOccurrences(of: "-", with: "/")
        let stamp = start.prefix(10).replacingOccurrences(of: "-", with: "") + "T2350Z"
        let records = (0..<12).map { n in
            #"{"eventVersion":"1.08","eventTime":"\#(start.prefix(10))T23:4\#(n / 6):\#(10 + n * 3)Z","eventID":"burst-\#(n)-0000-4000-8000-000000000000","eventSource":"ec2.amazonaws.com","eventName":"TerminateInstances","awsRegion":"us-east-1","recipientAccountId":"\#(account)","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::\#(account):assumed-role/ops/mallory","accountId":"\#(account)"}}"#
        }
        let path = "\(dir)/AWSLogs/\(account)/CloudTrail/us-east-1/\(day)/\(account)_CloudTrail_us-east-1_\(stamp)_BURSTBURSTBURST1.json.gz"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try write(path, gz(records))
        return dir
    }

    /// Uploads every file under `local` to the bucket under the prefix; returns how many log files.
    static func upload(_ moto: MotoServer, _ local: String) throws -> Int {
        let out = try moto.boto3(
            """
            import os
            s3 = boto3.client("s3"); n = 0
            for root, _, files in os.walk("\(local)"):
                for f in sorted(files):
                    path = os.path.join(root, f)
                    key = "\(prefix)/" + os.path.relpath(path, "\(local)")
                    s3.upload_file(path, "\(bucket)", key)
                    n += "/CloudTrail/" in key and f.endswith(".json.gz")
            print(n)
            """)
        return Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Distinct eventIDs per account and stream in the local bucket (gunzip and JSON in Python).
    static func truth(_ moto: MotoServer, _ local: String) throws -> [String: Int] {
        let out = try moto.boto3(
            """
            import os, gzip
            seen = {}
            for root, _, files in os.walk("\(local)"):
                for f in files:
                    if "/CloudTrail/" not in root or not f.endswith(".json.gz"): continue
                    acct = f.split("_")[0]; region = f.split("_")[2]
                    for r in json.load(gzip.open(os.path.join(root, f)))["Records"]:
                        seen.setdefault(acct + "/" + acct + "_CloudTrail_" + region, set()).add(r["eventID"])
            print(json.dumps({k: len(v) for k, v in seen.items()}))
            """)
        return try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Int]
    }

    /// Messages still in the queue (visible or in flight).
    static func queued(_ moto: MotoServer, _ queue: String) throws -> Int {
        let out = try moto.boto3(
            """
            a = boto3.client("sqs").get_queue_attributes(QueueUrl="\(queue)", AttributeNames=["All"])["Attributes"]
            print(int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]))
            """)
        return Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Events stored per account and stream, and how many of them carry an eventID seen twice,
    /// as `trailwatch logs filter` reads them back.
    static func stored(_ state: String) throws -> (counts: [String: Int], repeated: Int) {
        var counts: [String: Int] = [:]
        var repeated = 0
        let groups = try trailwatch(["logs", "groups", "--state", state]).out.split(separator: "\n")
        for g in groups {
            let name = (try JSONSerialization.jsonObject(with: Data(g.utf8)) as! [String: Any])["logGroupName"] as! String
            let account = String(name.split(separator: "-").last!)
            var ids = Set<String>()
            for line in try trailwatch(["logs", "filter", "--state", state, "--group", name], timeout: 300).out.split(separator: "\n") {
                let e = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                let m = try JSONSerialization.jsonObject(with: Data((e["message"] as! String).utf8)) as! [String: Any]
                if !ids.insert(m["eventID"] as! String).inserted { repeated += 1 }
                counts[account + "/" + (e["logStreamName"] as! String), default: 0] += 1
            }
        }
        return (counts, repeated)
    }

    static func ledgerDone(_ state: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: state + "/groups")) ?? []).filter { $0.hasSuffix(".sqlite") }
            .reduce(0) { $0 + doneCount(state, account: String($1.dropLast(7))) }
    }

    static func run(_ moto: MotoServer, _ queue: String, state: String, alerts: String, extra: [String] = []) throws -> Child {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in moto.environment { env[k] = v }
        return try Child(
            [
                "run", "--logs", "s3://\(bucket)/\(prefix)", "--sqs-queue", queue, "--state", state, "--log-to", "stderr",
                "--rules", repoRoot.appendingPathComponent("rules").path, "--alerts", "jsonl:" + alerts, "--sqs-visibility-timeout", "10",
                "--reconcile-interval", "3600",
            ] + extra, environment: env)
    }

    static func bursts(_ alerts: String) -> [[String: Any]] {
        jsonLines(alerts).filter { ($0["rule"] as? String) == "terminate-instances-burst" }
    }

    /// Settings are checked before anything starts: each mistake is named, and no state is created.
    @Test func badSettingsAreRefusedWithTheirReason() throws {
        let state = tempDir("state") + "/never"
        let cases: [([String], String)] = [
            (["--logs", "s3://trail-org", "--shard", "3/2"], "--shard: shard '3/2': K must be from 1 to N"),
            (["--logs", "s3://Bad_Bucket"], "is not an S3 bucket name"),
            (["--logs", "s3://trail-org", "--once"], "--once is not supported for a bucket"),
            (["--logs", "s3://a-bucket", "--logs", "s3://b-bucket"], "one s3:// location at most"),
            (["--logs", tempDir("mirror"), "--sqs-queue", "http://q"], "--sqs-queue needs --logs s3://"),
            (["--logs", "s3://trail-org", "--sqs-visibility-timeout", "1"], "sqs-visibility-timeout must be a number from 2"),
        ]
        for (args, reason) in cases {
            let r = try trailwatch(["run", "--state", state] + args)
            #expect(r.status != 0 && r.err.contains(reason), "\(args): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: state))
    }

    @Test func notificationsTakeEveryEventOnceDuplicatesChangeNothingAndTheQueueEmpties() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let queue = try Self.setUp(moto)
        let local = try Self.simulate(accounts: 3, hours: 1, start: "2024-03-01T23:00:00Z")
        let files = try Self.upload(moto, local)
        let truth = try Self.truth(moto, local)
        try #require(files > 20)
        // moto delivered the bucket's notifications (one per object, plus s3:TestEvent).
        #expect(try Self.queued(moto, queue) >= files)
        let state = tempDir("state"), alerts = tempDir("alerts") + "/alerts.jsonl"
        let daemon = try Self.run(moto, queue, state: state, alerts: alerts)
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        #expect(eventually(timeout: 120) { Self.ledgerDone(state) == files && (try? Self.queued(moto, queue)) == 0 }, "\(daemon.stderr.suffix(3000))")
        // The local copies are gone once committed.
        #expect(eventually(timeout: 10) { (try? FileManager.default.subpathsOfDirectory(atPath: state + "/s3/" + Self.bucket))?.allSatisfy { !$0.hasSuffix(".json.gz") } ?? false })

        // A duplicated notification (the exact S3 event for a key already taken): deleted, nothing downloaded.
        let someKey = try moto.boto3(#"print(boto3.client("s3").list_objects_v2(Bucket="\#(Self.bucket)", Prefix="\#(Self.prefix)/AWSLogs/")["Contents"][0]["Key"])"#)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try moto.boto3(
            """
            import urllib.parse
            o = boto3.client("s3").head_object(Bucket="\(Self.bucket)", Key="\(someKey)")
            body = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2024-03-02T00:00:00.000Z",
              "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "\(Self.bucket)"},
              "object": {"key": urllib.parse.quote_plus("\(someKey)", safe="/"), "size": o["ContentLength"], "eTag": o["ETag"].strip('"')}}}]}
            boto3.client("sqs").send_message(QueueUrl="\(queue)", MessageBody=json.dumps(body))
            boto3.client("sqs").send_message(QueueUrl="\(queue)", MessageBody="this is no notification")
            """)
        #expect(eventually(timeout: 30) { (try? Self.queued(moto, queue)) == 0 })
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeout: 30) == 0)
        let log = daemon.stderr
        #expect(log.contains("1 already taken"), "\(log.suffix(2000))")
        #expect(log.contains("1 malformed") && log.contains("is not an S3 notification (not_json"), "\(log.suffix(2000))")
        let (counts, repeated) = try Self.stored(state)
        #expect(repeated == 0)
        #expect(counts == truth)
        #expect(Self.ledgerDone(state) == files)
        #expect(Self.bursts(alerts).count == 1, "\(jsonLines(alerts).count) alerts")
    }

    /// Without a queue: the start-up reconcile lists this shard's recent day folders and takes
    /// every file; a file uploaded later is found by the next periodic reconcile (after StartAfter).
    @Test func reconcileAloneFindsTheRecentDaysAndLaterFiles() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        _ = try moto.boto3(#"boto3.client("s3").create_bucket(Bucket="\#(Self.bucket)")"#)
        // Today's folders (UTC), an hour of history ending now; and an old day the backfill leaves alone.
        let now = Date().timeIntervalSince1970
        let iso = ISO8601DateFormatter()
        let start = iso.string(from: Date(timeIntervalSince1970: (now - 3600) - (now - 3600).truncatingRemainder(dividingBy: 300)))
        let old = try Self.simulate(accounts: 2, hours: 0.5, start: "2024-03-01T00:00:00Z", seed: 2, burst: false)
        let recent = try Self.simulate(accounts: 2, hours: 1, start: start, burst: false)
        let account = firstAccount
        let recentFiles = try Self.upload(moto, recent)
        let oldFiles = try Self.upload(moto, old)
        try #require(recentFiles > 10 && oldFiles > 5)
        let truth = try Self.truth(moto, recent)
        let state = tempDir("state")
        var env = ProcessInfo.processInfo.environment
        for (k, v) in moto.environment { env[k] = v }
        let daemon = try Child(
            ["run", "--logs", "s3://\(Self.bucket)/\(Self.prefix)", "--state", state, "--log-to", "stderr", "--reconcile-interval", "2"],
            environment: env)
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        #expect(eventually(timeout: 120) { Self.ledgerDone(state) == recentFiles }, "\(daemon.stderr.suffix(3000))")
        // One more file in today's folder of the first account, named after every file there: the
        // next reconcile lists the folder after the last key taken and finds it.
        let later = tempDir("later") + "/" + Self.bucket
        let day = String(iso.string(from: Date(timeIntervalSince1970: now)).prefix(10))
        let stamp = day.replacingOccurrences(of: "-", with: "") + "T2359Z"
        let path = "\(later)/AWSLogs/\(account)/CloudTrail/us-east-1/\(day.replacingOccurrences(of: "-", with: "/"))/\(account)_CloudTrail_us-east-1_\(stamp)_LATERLATERLATER1.json.gz"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try write(path, gz((0..<3).map { rec("later-\($0)-0000-4000-8000-000000000000", "\(day)T00:00:0\($0)Z", account: account) }))
        let laterFiles = try Self.upload(moto, later)
        #expect(laterFiles == 1)
        #expect(eventually(timeout: 60) { Self.ledgerDone(state) == recentFiles + 1 }, "\(daemon.stderr.suffix(3000))")
        Thread.sleep(forTimeInterval: 3)
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeout: 30) == 0)
        #expect(Self.ledgerDone(state) == recentFiles + laterFiles, "the old day stays outside s3-backfill-days")
        let (counts, repeated) = try Self.stored(state)
        #expect(repeated == 0)
        #expect(counts == truth.merging(try Self.truth(moto, later)) { $0 + $1 })
        #expect(daemon.stderr.contains("0 download errors"))
    }

    @Test func killedMidRunThenRestartedStillTakesEveryEventOnce() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let queue = try Self.setUp(moto)
        let local = try Self.simulate(accounts: 4, hours: 2, start: "2024-03-01T22:00:00Z")
        let files = try Self.upload(moto, local)
        let truth = try Self.truth(moto, local)
        let state = tempDir("state"), alerts = tempDir("alerts") + "/alerts.jsonl"
        let first = try Self.run(moto, queue, state: state, alerts: alerts)
        defer { if first.process.isRunning { first.signal(SIGKILL) } }
        #expect(eventually(timeout: 120, interval: 0.02) { Self.ledgerDone(state) >= 5 })
        first.signal(SIGKILL)
        #expect(first.wait(timeout: 10) != nil)
        let atKill = Self.ledgerDone(state)
        // The kill landed mid-run: some files taken, not all, and messages still in the queue.
        #expect(atKill >= 5 && atKill < files, "\(atKill) of \(files) at the kill")
        #expect(try Self.queued(moto, queue) > 0)
        let second = try Self.run(moto, queue, state: state, alerts: alerts)
        defer { if second.process.isRunning { second.signal(SIGKILL) } }
        #expect(eventually(timeout: 180) { Self.ledgerDone(state) == files && (try? Self.queued(moto, queue)) == 0 }, "\(second.stderr.suffix(3000))")
        second.signal(SIGTERM)
        #expect(second.wait(timeout: 30) == 0)
        let (counts, repeated) = try Self.stored(state)
        #expect(repeated == 0)
        #expect(counts == truth)
        #expect(Self.bursts(alerts).count == 1)
    }

    @Test func twoShardsShareOneQueueEachAccountOnOneHostOnceOverall() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let queue = try Self.setUp(moto)
        let local = try Self.simulate(accounts: 6, hours: 1, start: "2024-03-01T23:00:00Z")
        let files = try Self.upload(moto, local)
        let truth = try Self.truth(moto, local)
        let states = [tempDir("state1"), tempDir("state2")], alerts = [tempDir("a1") + "/a.jsonl", tempDir("a2") + "/a.jsonl"]
        let hosts = try (0..<2).map { try Self.run(moto, queue, state: states[$0], alerts: alerts[$0], extra: ["--shard", "\($0 + 1)/2"]) }
        defer { for h in hosts where h.process.isRunning { h.signal(SIGKILL) } }
        #expect(eventually(timeout: 180) { states.map(Self.ledgerDone).reduce(0, +) == files && (try? Self.queued(moto, queue)) == 0 },
                "\(hosts[0].stderr.suffix(1500))\n\(hosts[1].stderr.suffix(1500))")
        for h in hosts {
            h.signal(SIGTERM)
            #expect(h.wait(timeout: 30) == 0)
        }
        let stored = try states.map(Self.stored)
        #expect(stored.allSatisfy { $0.repeated == 0 })
        let accounts = stored.map { Set($0.counts.keys.map { String($0.prefix(12)) }) }
        #expect(!accounts[0].isEmpty && !accounts[1].isEmpty, "both shards took accounts: \(accounts)")
        #expect(accounts[0].isDisjoint(with: accounts[1]), "an account on both hosts: \(accounts)")
        #expect(stored[0].counts.merging(stored[1].counts) { $0 + $1 } == truth)
        #expect(alerts.map { Self.bursts($0).count }.reduce(0, +) == 1, "the burst alerted once overall")
        // Messages of the other shard's accounts were released (the exit summary's count is not 0).
        let released = hosts.map { h -> Int in
            let tail = h.stderr.components(separatedBy: " left to other shards").dropLast().last ?? ""
            return Int(tail.split(separator: " ").last ?? "") ?? 0
        }
        #expect(released.reduce(0, +) > 0, "\(released)")
    }

    /// A file held longer than the visibility timeout (a truncated object: "not yet", pending until
    /// incomplete-timeout) keeps its message invisible: extended every half timeout, received once,
    /// and deleted once the file is ledgered (here as failed).
    @Test func aMessageInHandIsExtendedNotRedelivered() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let queue = try Self.setUp(moto)
        let account = "111122223333"
        let local = tempDir("trunc") + "/" + Self.bucket
        let path = "\(local)/AWSLogs/\(account)/CloudTrail/us-east-1/2024/03/01/\(account)_CloudTrail_us-east-1_20240301T2350Z_TRUNCATEDTRUNC01.json.gz"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let whole = gz((0..<200).map { rec("t-\($0)-0000-4000-8000-000000000000", "2024-03-01T23:4\($0 % 10):00Z", account: account) })
        try write(path, Array(whole.prefix(whole.count / 2)))
        #expect(try Self.upload(moto, local) == 1)
        let state = tempDir("state"), alerts = tempDir("alerts") + "/alerts.jsonl"
        // Visibility 2 s, the file pending for 8 s: without extensions the message would come back ~3 times.
        let daemon = try Self.run(moto, queue, state: state, alerts: alerts, extra: ["--sqs-visibility-timeout", "2", "--incomplete-timeout", "8"])
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        // The precondition: the file is in hand (downloaded, not ledgered) while the timeout passes.
        #expect(eventually(timeout: 30) { (try? FileManager.default.subpathsOfDirectory(atPath: state + "/s3/" + Self.bucket))?.contains { $0.hasSuffix("TRUNCATEDTRUNC01.json.gz") } ?? false })
        Thread.sleep(forTimeInterval: 4)
        let stillQueued = try Self.queued(moto, queue)
        #expect(Self.ledgerDone(state) == 0 && stillQueued == 1, "still in hand after twice the visibility timeout")
        #expect(eventually(timeout: 60) { (try? Self.queued(moto, queue)) == 0 }, "\(daemon.stderr.suffix(2000))")
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeout: 30) == 0)
        let summary = try #require(daemon.stderr.components(separatedBy: "s3: ").last)
        func figure(_ after: String) -> Int? {
            guard let r = summary.range(of: after) else { return nil }
            return Int(summary[..<r.lowerBound].split(separator: " ").last?.trimmingCharacters(in: .punctuationCharacters) ?? "")
        }
        let received = try #require(Int(summary.split(separator: " ").first ?? "")), ignored = try #require(figure(" ignored"))
        #expect(received - ignored == 1, "the file's message was received once: \(summary)")
        #expect((figure(" visibility extensions") ?? 0) >= 3, "\(summary)")
        #expect(daemon.stderr.contains("TRUNCATEDTRUNC01"), "the failed file is named in the log")
    }

}
