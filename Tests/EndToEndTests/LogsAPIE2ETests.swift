import Foundation
import LogsAPI
import Synchronization
import Testing
import TestSupport

// MARK: Test-only authentication

/// TEST ONLY: an authenticator that takes every request, headers and signature unread, as one
/// fixed caller granted every account and retention changes. It exists only in this test target;
/// `trailwatch serve` has no way to use it (it refuses every request until SigV4 is configured).
let testOnlyAcceptAnyRequest: Authenticate = { _ in
    .success(Caller(name: "test-only-caller", accounts: .all, mayChangeRetention: true))
}

/// TEST ONLY: like ``testOnlyAcceptAnyRequest`` with narrower grants.
func testOnlyFixedCaller(accounts: Set<String>, mayChangeRetention: Bool) -> Authenticate {
    { _ in .success(Caller(name: "test-only-restricted", accounts: .only(accounts), mayChangeRetention: mayChangeRetention)) }
}

// MARK: Helpers

/// A `LogsServer` running in this test process on a free loopback port.
final class InProcessAPI: Sendable {
    let url: String
    let task: Task<Void, any Error>

    init(state: String, authenticate: @escaping Authenticate, settings: ServerSettings? = nil) async throws {
        var s = settings ?? ServerSettings()
        s.port = 0
        let server = LogsServer(
            settings: s, service: LogsService(store: StoreAccess(stateDirectory: state)), authenticate: authenticate,
            metrics: APIMetrics(), logger: .init(label: "test"))
        let (ports, cont) = AsyncStream<Int>.makeStream()
        task = Task { try await server.run(handleSignals: false) { cont.yield($0) } }
        var port = 0
        for await p in ports {
            port = p
            break
        }
        url = "http://127.0.0.1:\(port)"
    }

    deinit { task.cancel() }
}

/// A store filled by the real daemon (`run --once`) from a simulated bucket: 2 accounts, one region,
/// 3 hours at 60 events a minute, so each stream holds more than 10,000 events (made once).
let apiStore: String = {
    let dir = tempDir("api")
    let sim = try! trailwatch([
        "simulate", "--out", dir + "/bucket", "--hours", "3", "--accounts", "2", "--regions", "us-east-1", "--rate", "60",
        "--no-digests",
    ])
    precondition(sim.status == 0, sim.err)
    let run = try! trailwatch(
        [
            "run", "--once", "--logs", dir + "/bucket", "--state", dir + "/state", "--rules", repoRoot.path + "/rules",
            "--alerts", "jsonl:" + dir + "/alerts.jsonl",
        ], timeout: 300)
    precondition(run.status == 0, run.err)
    return dir + "/state"
}()

/// The alerts the fixture's daemon run sent (JSON lines).
var apiStoreAlerts: [[String: Any]] { jsonLines(URL(fileURLWithPath: apiStore).deletingLastPathComponent().path + "/alerts.jsonl") }

let interop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Interop/logs_client.py").path

/// The environment the AWS CLI and boto3 get: dummy credentials, no config files of the machine.
let awsEnv = [
    "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard",
]

/// Runs `aws logs ARGS --endpoint-url URL`; status, standard output, standard error.
func awsLogs(_ url: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = awsEnv + ["aws", "logs"] + args + ["--endpoint-url", url, "--output", "json"]
    let dir = tempDir("aws")
    _ = FileManager.default.createFile(atPath: dir + "/out", contents: nil)
    _ = FileManager.default.createFile(atPath: dir + "/err", contents: nil)
    p.standardOutput = FileHandle(forWritingAtPath: dir + "/out")
    p.standardError = FileHandle(forWritingAtPath: dir + "/err")
    try p.run()
    p.waitUntilExit()
    return (
        p.terminationStatus, (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "",
        (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? ""
    )
}

/// Runs the Python client (`Interop/logs_client.py`) and decodes its JSON answer.
func pyClient(_ args: [String]) throws -> Any {
    let data = try commandOutput(awsEnv + ["python3", interop] + args)
    return try JSONSerialization.jsonObject(with: data)
}

/// The address a `trailwatch serve` child logs once it listens (`--listen 127.0.0.1:0`), or nil
/// when it logs none within 30 s.
func servedURL(_ serve: Child, scheme: String) -> String? {
    var url: String? = nil
    _ = eventually(timeout: 30) {
        guard let r = serve.stderr.range(of: scheme + "://127.0.0.1:") else { return false }
        let port = serve.stderr[r.upperBound...].prefix { $0.isNumber }
        if !port.isEmpty { url = "\(scheme)://127.0.0.1:\(port)" }
        return url != nil
    }
    return url
}

/// Parses a JSON object from text.
func object(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
}

/// The groups and streams of the fixture store, from `trailwatch logs`.
func fixtureGroups(_ state: String) throws -> [String] {
    let r = try trailwatch(["logs", "groups", "--state", state])
    return r.out.split(separator: "\n").compactMap { object(String($0))["logGroupName"] as? String }
}

func fixtureStreams(_ state: String, _ group: String) throws -> [[String: Any]] {
    let r = try trailwatch(["logs", "streams", "--state", state, "--group", group])
    return r.out.split(separator: "\n").map { object(String($0)) }
}

@Suite(.serialized) struct LogsAPIE2ETests {
    @Test func awsCLIDescribesAndFiltersExactlyAsTrailwatchLogsDoes() async throws {
        let state = apiStore
        let groups = try fixtureGroups(state)
        try #require(groups.count == 2, "the fixture has two accounts")
        let server = try await InProcessAPI(state: state, authenticate: testOnlyAcceptAnyRequest)

        // describe-log-groups one group per page: the CLI follows nextToken and gets both, in order.
        let d = try awsLogs(server.url, ["describe-log-groups", "--page-size", "1"])
        #expect(d.status == 0, "\(d.err)")
        let listed = (object(d.out)["logGroups"] as? [[String: Any]] ?? []).compactMap { $0["logGroupName"] as? String }
        #expect(listed == groups)
        let one = try awsLogs(server.url, ["describe-log-groups", "--log-group-name-prefix", groups[1]])
        #expect((object(one.out)["logGroups"] as? [[String: Any]])?.count == 1)

        let streams = try fixtureStreams(state, groups[0])
        let s = try awsLogs(server.url, ["describe-log-streams", "--log-group-name", groups[0]])
        let got = object(s.out)["logStreams"] as? [[String: Any]] ?? []
        #expect(got.map { $0["logStreamName"] as? String } == streams.map { $0["logStreamName"] as? String })
        #expect(got.first?["lastEventTimestamp"] as? Int64 == streams.first?["lastEventTimestamp"] as? Int64)

        // filter-log-events over the whole group (more than 10,000 events, so several pages), with a
        // pattern, and with a range: the same events, field for field, as `trailwatch logs filter`.
        try #require(streams.count == 1, "one region: one stream per group")
        let first = try #require(streams.first?["firstEventTimestamp"] as? Int64)
        let cases: [([String], [String])] = [
            ([], []),
            (["--filter-pattern", "{ $.eventName = Describe* }"], ["--pattern", "{ $.eventName = Describe* }"]),
            (
                ["--start-time", String(first + 1_800_000), "--end-time", String(first + 3_600_000), "--filter-pattern=-Describe"],
                ["--start", String(first + 1_800_000), "--end", String(first + 3_600_000), "--pattern", "-Describe"]
            ),
        ]
        for (awsArgs, cliArgs) in cases {
            let a = try awsLogs(server.url, ["filter-log-events", "--log-group-name", groups[0]] + awsArgs)
            #expect(a.status == 0, "\(a.err)")
            let apiEvents = object(a.out)["events"] as? [[String: Any]] ?? []
            let c = try trailwatch(["logs", "filter", "--state", state, "--group", groups[0]] + cliArgs, timeout: 300)
            let cliEvents = c.out.split(separator: "\n").map { object(String($0)) }
            #expect(!apiEvents.isEmpty, "\(awsArgs) must match events for the comparison to mean anything")
            #expect(apiEvents.count == cliEvents.count, "\(awsArgs)")
            #expect(
                NSArray(array: apiEvents).isEqual(to: cliEvents), "\(awsArgs): the API's events differ from trailwatch logs filter")
            if awsArgs.isEmpty { #expect(apiEvents.count > 10_000, "the whole group must need several pages") }
        }
    }

    @Test func boto3PagesGetLogEventsBothWaysAndFilterOverMoreThan10000Events() async throws {
        let state = apiStore
        let group = try #require(try fixtureGroups(state).first)
        let stream = try #require(try fixtureStreams(state, group).first?["logStreamName"] as? String)
        let server = try await InProcessAPI(state: state, authenticate: testOnlyAcceptAnyRequest)
        let cli = try trailwatch(["logs", "get", "--state", state, "--group", group, "--stream", stream], timeout: 300)
        let expected = cli.out.split(separator: "\n").map { line -> [Any] in
            let o = object(String(line))
            return [o["timestamp"] as Any, o["ingestionTime"] as Any, o["message"] as Any]
        }
        try #require(expected.count > 10_000, "the stream must hold more than one page of 10,000 events")

        for limit in ["3000", "0"] {
            // 3,000 a page; then no limit: pages of about 1 MB, as CloudWatch gives them.
            let r = try #require(try pyClient(["get", server.url, group, stream, limit]) as? [String: Any])
            let forward = r["forward"] as? [[Any]] ?? []
            let backward = r["backward"] as? [[Any]] ?? []
            #expect(NSArray(array: forward).isEqual(to: expected), "limit \(limit): forward pages from the head give every event in order")
            #expect(NSArray(array: backward).isEqual(to: expected), "limit \(limit): backward pages from the end give every event in order")
            #expect((r["forwardPages"] as? Int ?? 0) >= 4 && (r["backwardPages"] as? Int ?? 0) >= 4)
            #expect(r["forwardEndEmpty"] as? Bool == true, "the end of the stream returns the token it was sent, with no events")
            let token = try #require(r["forwardToken"] as? String)
            #expect(token.hasPrefix("f/") && token.hasSuffix("/s"))
            if limit == "0" { #expect((r["largestPage"] as? Int ?? 0) < 1_300_000, "a page without a limit holds about 1 MB") }
        }

        let f = try #require(try pyClient(["filter", server.url, group]) as? [String: Any])
        #expect((f["events"] as? [Any])?.count == expected.count)
        #expect((f["pages"] as? Int ?? 0) >= 2)
    }

    @Test func grantsHideOtherAccountsExactlyAsMissingGroups() async throws {
        let state = apiStore
        let groups = try fixtureGroups(state)
        try #require(groups.count == 2)
        let mine = try #require(groups[0].split(separator: "-").last.map(String.init))
        let server = try await InProcessAPI(
            state: state, authenticate: testOnlyFixedCaller(accounts: [mine], mayChangeRetention: false))
        let d = try awsLogs(server.url, ["describe-log-groups"])
        #expect((object(d.out)["logGroups"] as? [[String: Any]])?.compactMap { $0["logGroupName"] as? String } == [groups[0]])
        let denied = try awsLogs(server.url, ["filter-log-events", "--log-group-name", groups[1], "--limit", "1"])
        let missing = try awsLogs(server.url, ["filter-log-events", "--log-group-name", "aws-cloudtrail-logs-000000000000", "--limit", "1"])
        #expect(denied.status == 255 && denied.err.contains("ResourceNotFoundException"), "\(denied.err)")
        #expect(denied.err == missing.err, "a denied group answers exactly as a missing one")
        let streams = try awsLogs(server.url, ["describe-log-streams", "--log-group-name", groups[1]])
        #expect(streams.err.contains("ResourceNotFoundException"))
        let put = try awsLogs(server.url, ["put-retention-policy", "--log-group-name", groups[0], "--retention-in-days", "7"])
        #expect(put.status == 255 && put.err.contains("AccessDeniedException"), "\(put.err)")
    }

    @Test func retentionSetThroughTheAPIIsAppliedByTheDaemon() async throws {
        let dir = tempDir("api-retention")
        #expect(
            try trailwatch([
                "simulate", "--out", dir + "/bucket", "--hours", "1", "--accounts", "1", "--regions", "us-east-1", "--rate", "5",
                "--no-digests",
            ]).status == 0)
        let state = dir + "/state"
        #expect(try trailwatch(["run", "--once", "--logs", dir + "/bucket", "--state", state]).status == 0)
        let group = try #require(try fixtureGroups(state).first)
        let before = try trailwatch(["logs", "filter", "--state", state, "--group", group]).out.split(separator: "\n").count
        try #require(before > 0, "the store must hold events (from 2024) for retention to remove")
        let server = try await InProcessAPI(state: state, authenticate: testOnlyAcceptAnyRequest)

        let bad = try awsLogs(server.url, ["put-retention-policy", "--log-group-name", group, "--retention-in-days", "2"])
        #expect(bad.status == 255 && bad.err.contains("InvalidParameterException"), "\(bad.err)")
        let put = try awsLogs(server.url, ["put-retention-policy", "--log-group-name", group, "--retention-in-days", "1"])
        #expect(put.status == 0, "\(put.err)")
        let shown = try awsLogs(server.url, ["describe-log-groups"])
        #expect((object(shown.out)["logGroups"] as? [[String: Any]])?.first?["retentionInDays"] as? Int == 1)

        // The daemon's next pass applies the API's retention, over the config's (which it used to impose).
        let run = try trailwatch(["run", "--once", "--logs", dir + "/bucket", "--state", state, "--retention-days", "3653"])
        #expect(run.status == 0, "\(run.err)")
        let after = try trailwatch(["logs", "filter", "--state", state, "--group", group]).out.split(separator: "\n").count
        #expect(after == 0, "events older than a day are gone")
        let kept = try awsLogs(server.url, ["describe-log-groups"])
        #expect((object(kept.out)["logGroups"] as? [[String: Any]])?.first?["retentionInDays"] as? Int == 1)

        let del = try awsLogs(server.url, ["delete-retention-policy", "--log-group-name", group])
        #expect(del.status == 0, "\(del.err)")
        let none = try awsLogs(server.url, ["describe-log-groups"])
        let g = (object(none.out)["logGroups"] as? [[String: Any]])?.first
        #expect(g != nil && g?["retentionInDays"] == nil)
    }

    @Test func malformedRequestsGet400sAndTheServerAnswersTheNext() async throws {
        let state = apiStore
        let group = try #require(try fixtureGroups(state).first)
        let stream = try #require(try fixtureStreams(state, group).first?["logStreamName"] as? String)
        var settings = ServerSettings()
        settings.bodyTimeout = .seconds(1)
        settings.idleTimeout = .seconds(2)
        let server = try await InProcessAPI(state: state, authenticate: testOnlyAcceptAnyRequest, settings: settings)
        func raw(_ scenario: String) throws -> [String: Any] {
            try #require(try pyClient(["raw", server.url, scenario]) as? [String: Any])
        }
        func healthy() throws {
            let ok = try raw("DescribeLogGroups {}")
            #expect(ok["status"] as? Int == 200 && ok["type"] is NSNull, "the next request is answered: \(ok)")
        }
        // Get real tokens to tamper with.
        let page = try raw("FilterLogEvents {\"logGroupName\": \"\(group)\", \"limit\": 2}")
        let token = try #require((page["body"] as? [String: Any])?["nextToken"] as? String)
        var tampered = Array(token)
        tampered[10] = tampered[10] == "1" ? "2" : "1"
        let get = try raw("GetLogEvents {\"logGroupName\": \"\(group)\", \"logStreamName\": \"\(stream)\", \"limit\": 2}")
        let forward = try #require((get["body"] as? [String: Any])?["nextForwardToken"] as? String)

        let cases: [(String, Int, String)] = [
            ("DescribeLogGroups {\"limit\": ", 400, "SerializationException"),
            ("DescribeLogGroups [1, 2]", 400, "SerializationException"),
            ("DescribeLogGroups {\"limit\": \"ten\"}", 400, "SerializationException"),
            ("DescribeLogGroups {\"limit\": 2.5}", 400, "SerializationException"),
            ("DescribeLogGroups {\"limit\": 0}", 400, "InvalidParameterException"),
            ("DescribeLogGroups {\"limit\": 51}", 400, "InvalidParameterException"),
            ("DescribeLogGroups {\"logGroupNamePrefx\": \"aws\"}", 400, "SerializationException"),
            ("GetLogEvents {\"logGroupName\": \"\(group)\", \"logStreamName\": \"\(stream)\", \"limit\": 10001}", 400, "InvalidParameterException"),
            ("GetLogEvents {\"logGroupName\": \"\(group)\"}", 400, "InvalidParameterException"),
            ("GetLogEvents {\"logGroupName\": \"\(group)\", \"logStreamName\": \"nope\"}", 400, "ResourceNotFoundException"),
            ("GetLogEvents {\"logGroupName\": \"\(group)\", \"logStreamName\": \"\(stream)x\", \"nextToken\": \"\(forward)\"}", 400, "InvalidParameterException"),
            ("GetLogEvents {\"logGroupName\": \"\(group)\", \"logStreamName\": \"\(stream)\", \"nextToken\": \"f/123/s\"}", 400, "InvalidParameterException"),
            ("FilterLogEvents {\"logGroupName\": \"\(group)\", \"nextToken\": \"\(String(tampered))\"}", 400, "InvalidParameterException"),
            ("FilterLogEvents {\"logGroupName\": \"\(group)\", \"filterPattern\": \"{ $.a = \"}", 400, "InvalidParameterException"),
            ("FilterLogEvents {\"logGroupName\": \"\(group)\", \"logStreamNames\": [\"\(stream)\"], \"logStreamNamePrefix\": \"1\"}", 400, "InvalidParameterException"),
            ("FilterLogEvents {\"logGroupName\": \"aws-cloudtrail-logs-000000000000\"}", 400, "ResourceNotFoundException"),
            ("PutLogEvents {}", 400, "UnknownOperationException"),
            ("- {}", 400, "UnknownOperationException"),
            ("huge", 413, "RequestEntityTooLargeException"),
        ]
        for (scenario, status, type) in cases {
            let r = try raw(scenario)
            #expect(r["status"] as? Int == status && r["type"] as? String == type, "\(scenario.prefix(120)): \(r)")
            try healthy()
        }
        // A client that sends half its body and then nothing: 408 once the body timeout passes.
        let slow = try raw("slow")
        #expect(slow["status"] as? Int == 408 && slow["type"] as? String == "RequestTimeoutException", "\(slow)")
        #expect((slow["seconds"] as? Double ?? 99) < 5)
        try healthy()
        // The same token back at the end of a stream, and tokens that advance (the CLI's paginator checks).
        let fromEnd = try raw(
            "GetLogEvents {\"logGroupName\": \"\(group)\", \"logStreamName\": \"\(stream)\", \"startFromHead\": false, \"limit\": 5}")
        let end = try #require((fromEnd["body"] as? [String: Any])?["nextForwardToken"] as? String)
        let again = try raw(
            "GetLogEvents {\"logGroupName\": \"\(group)\", \"logStreamName\": \"\(stream)\", \"startFromHead\": true, \"nextToken\": \"\(end)\"}")
        #expect((again["body"] as? [String: Any])?["nextForwardToken"] as? String == end)
        #expect(((again["body"] as? [String: Any])?["events"] as? [Any])?.isEmpty == true)
    }

    @Test func serveProcessRefusesUnsignedRequestsAndExposesMetrics() async throws {
        let state = apiStore
        // An access file that does not exist: no principals, every API request refused.
        let serve = try Child([
            "serve", "--state", state, "--listen", "127.0.0.1:0", "--log-to", "stderr", "--access-file", tempDir("no-access") + "/access",
        ])
        defer {
            serve.signal(SIGTERM)
            serve.wait(timeout: 10)
        }
        let url = try #require(servedURL(serve, scheme: "http"), "serve logs where it listens: \(serve.stderr)")
        for _ in 0..<3 {
            // Unsigned (the CLI signs unless told not to; a signed request with a key the access file
            // does not hold is UnrecognizedClientException, AuthE2ETests).
            let r = try awsLogs(url, ["describe-log-groups", "--no-sign-request"])
            #expect(r.status == 255 && r.err.contains("MissingAuthenticationTokenException"), "\(r.err)")
        }
        let g = try #require(try fixtureGroups(state).first)
        let r = try awsLogs(url, ["filter-log-events", "--log-group-name", g, "--no-sign-request"])
        #expect(r.err.contains("MissingAuthenticationTokenException"), "no query runs without authentication: \(r.err)")

        let m = try #require(try pyClient(["metrics", url]) as? [String: Any])
        let samples = m["samples"] as? [[String: Any]] ?? []
        func value(_ name: String, _ labels: [String: String]) -> Double? {
            samples.first { $0["name"] as? String == name && ($0["labels"] as? [String: String]) == labels }?["value"] as? Double
        }
        #expect(
            value("trailwatch_api_requests_total", ["action": "DescribeLogGroups", "outcome": "MissingAuthenticationTokenException"]) == 3)
        #expect(
            value("trailwatch_api_requests_total", ["action": "FilterLogEvents", "outcome": "MissingAuthenticationTokenException"]) == 1)
        #expect(value("trailwatch_api_request_duration_seconds_count", ["action": "DescribeLogGroups"]) == 3)
        #expect(samples.contains { $0["name"] as? String == "trailwatch_api_request_duration_seconds_bucket" })
        // The daemon's figures: what `trailwatch logs streams` and the ledger say.
        for group in try fixtureGroups(state) {
            let account = String(group.split(separator: "-").last!)
            let stream = try #require(try fixtureStreams(state, group).first)
            let events = try trailwatch(["logs", "filter", "--state", state, "--group", group, "--pattern", "{ $.eventID = * }"])
            let n = events.out.split(separator: "\n").count
            #expect(n > 0)
            #expect(value("trailwatch_stream_events", ["account": account, "region": "us-east-1"]) == Double(n))
            #expect(value("trailwatch_stream_stored_bytes", ["account": account, "region": "us-east-1"]) == stream["storedBytes"] as? Double)
            #expect((value("trailwatch_files_done", ["account": account]) ?? 0) > 0)
            #expect(value("trailwatch_alerts_waiting", ["account": account]) == 0)
        }
        #expect(value("trailwatch_store_up", [:]) == 1)
        // Alerts by rule: what the daemon sent, rule by rule.
        let sent = apiStoreAlerts
        #expect(!sent.isEmpty, "the fixture's rules must alert for the per-rule figures to mean anything")
        var expected: [String: Double] = [:]
        for a in sent { expected["\(a["account"] ?? "")/\(a["rule"] ?? "")", default: 0] += 1 }
        var exposed: [String: Double] = [:]
        for s in samples where s["name"] as? String == "trailwatch_rule_alerts_recorded" {
            let l = s["labels"] as? [String: String] ?? [:]
            exposed["\(l["account"] ?? "")/\(l["rule"] ?? "")"] = s["value"] as? Double
        }
        #expect(exposed == expected)
    }

    @Test func serveSpeaksTLSWithCertificateAndKeyFiles() async throws {
        let dir = tempDir("api-tls")
        let (status, out) = try runCommand([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
        ])
        try #require(status == 0, "openssl: \(out)")
        let serve = try Child([
            "serve", "--state", apiStore, "--listen", "127.0.0.1:0", "--log-to", "stderr", "--tls-certificate", dir + "/cert.pem",
            "--tls-key", dir + "/key.pem", "--access-file", dir + "/access",
        ])
        defer {
            serve.signal(SIGTERM)
            serve.wait(timeout: 10)
        }
        let url = try #require(servedURL(serve, scheme: "https"), "serve logs an https address: \(serve.stderr)")
        let r = try awsLogs(url, ["describe-log-groups", "--no-verify-ssl", "--no-sign-request"])
        #expect(r.status == 255 && r.err.contains("MissingAuthenticationTokenException"), "over TLS: \(r.err)")
        let m = try #require(try pyClient(["metrics", url]) as? [String: Any])
        #expect(!(m["samples"] as? [Any] ?? []).isEmpty)
        // Plain HTTP on the TLS port gets no API answer.
        let plain = try awsLogs(url.replacingOccurrences(of: "https:", with: "http:"), ["describe-log-groups"])
        #expect(plain.status != 0 && !plain.err.contains("MissingAuthenticationTokenException"))
        // Half of the TLS settings is an error naming what is missing.
        let half = try trailwatch(["serve", "--state", apiStore, "--tls-certificate", dir + "/cert.pem"])
        #expect(half.status != 0 && half.err.contains("--tls-key"), "\(half.err)")
    }

    /// Requests are served while every thread of Swift's cooperative pool is blocked (as tests
    /// waiting for child processes block them): the server's tasks have an executor of their own.
    @Test func requestsAreAnsweredWhileTheCooperativePoolIsBlocked() async throws {
        let server = try await InProcessAPI(state: apiStore, authenticate: testOnlyAcceptAnyRequest)
        final class Flag: Sendable {
            let value = Mutex(false)
        }
        let done = Flag()
        let threads = ProcessInfo.processInfo.activeProcessorCount + 2
        let answer: [String: Any]? = await withTaskGroup(of: Void.self) { group in
            for _ in 0..<threads {
                group.addTask { while !done.value.withLock({ $0 }) { usleep(10_000) } }
            }
            return await withCheckedContinuation { c in
                Thread {
                    let r = try? pyClient(["raw", server.url, "DescribeLogGroups {}"]) as? [String: Any]
                    done.value.withLock { $0 = true }
                    c.resume(returning: r)
                }.start()
            }
        }
        #expect(answer?["status"] as? Int == 200, "\(String(describing: answer))")
    }

    /// The API against `trailwatch logs` over the same store, in the same run (bench/api.sh runs it):
    /// boto3 paging a whole stream with GetLogEvents (no limit: ~1 MB pages) and a whole group with
    /// FilterLogEvents, against the CLI's `logs get` and `logs filter` printing the same events.
    /// Prints the ratios; asserts only that both sides returned the same number of events.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TRAILWATCH_BENCH"] != nil))
    func benchmarkAgainstTheCLI() async throws {
        let state = apiStore
        let group = try #require(try fixtureGroups(state).first)
        let stream = try #require(try fixtureStreams(state, group).first?["logStreamName"] as? String)
        let server = try await InProcessAPI(state: state, authenticate: testOnlyAcceptAnyRequest)
        func time<T>(_ body: () throws -> T) rethrows -> (Double, T) {
            let t = Date()
            let r = try body()
            return (Date().timeIntervalSince(t), r)
        }
        for _ in 0..<3 {
            let (cliGet, g) = try time { try trailwatch(["logs", "get", "--state", state, "--group", group, "--stream", stream], timeout: 300) }
            let (apiGet, a) = try time { try pyClient(["get", server.url, group, stream, "0"]) as? [String: Any] }
            let (cliFilter, f) = try time { try trailwatch(["logs", "filter", "--state", state, "--group", group], timeout: 300) }
            let (apiFilter, b) = try time { try pyClient(["filter", server.url, group]) as? [String: Any] }
            let n = g.out.split(separator: "\n").count
            #expect((a?["forward"] as? [Any])?.count == n && (b?["events"] as? [Any])?.count == f.out.split(separator: "\n").count)
            print(String(
                format: "api bench: %d events; get: CLI %.2f s, API (boto3, both directions) %.2f s, ratio %.2f per direction; filter: CLI %.2f s, API %.2f s, ratio %.2f",
                n, cliGet, apiGet, apiGet / 2 / cliGet, cliFilter, apiFilter, apiFilter / cliFilter))
        }
    }
}
