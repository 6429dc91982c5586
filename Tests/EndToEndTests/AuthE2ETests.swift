import Foundation
import Testing
import TestSupport

/// A value handed between threads in a test as it is (JSON from `JSONSerialization`).
struct Unchecked<T>: @unchecked Sendable {
    let value: T
}

/// Runs blocking work (child processes, journalctl) on a thread of its own: an async test that waited
/// on the cooperative pool would hold one of its few threads (two here), which a server running in
/// another test's process needs.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in Thread { c.resume(with: Result { try body() }) }.start() }
}

/// Polls `condition` (awaiting between tries, never blocking a thread) until true or `timeout` seconds pass.
func eventuallyAsync(timeout: Double = 30, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(200))
    }
    return try await condition()
}

/// `trailwatch serve` with SigV4 and the access file, driven by the real AWS CLI, boto3 and
/// botocore-signed raw requests (`Interop/auth_client.py`).
@Suite(.serialized) struct AuthE2ETests {
    static let authClient = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Interop/auth_client.py").path
    /// The same length as a real group's name, for no account in the store.
    static let missingGroup = "aws-cloudtrail-logs-000000000000"

    /// A key made by `trailwatch access add`.
    struct Key: Sendable {
        var id: String
        var secret: String
    }

    /// A served store of two accounts, an access file with `alice` (the first account, no
    /// retention) and `ops` (all accounts, retention), and the `serve` process logging to journald.
    final class Served: @unchecked Sendable {
        let state: String
        let accessFile: String
        let groups: [String]
        let alice: Key
        let ops: Key
        let serve: Child
        var url = ""

        init() throws {
            let dir = tempDir("auth")
            state = dir + "/state"
            let sim = try trailwatch([
                "simulate", "--out", dir + "/bucket", "--hours", "1", "--accounts", "2", "--regions", "us-east-1", "--rate", "5", "--no-digests",
            ])
            precondition(sim.status == 0, sim.err)
            let run = try trailwatch(["run", "--once", "--logs", dir + "/bucket", "--state", state])
            precondition(run.status == 0, run.err)
            groups = try fixtureGroups(state)
            accessFile = dir + "/access"
            func add(_ args: [String]) throws -> Key {
                let r = try trailwatch(["access", "add"] + args + ["--file", dir + "/access"])
                precondition(r.status == 0, r.err)
                let k = object(r.out)["AccessKey"] as! [String: String]
                return Key(id: k["AccessKeyId"]!, secret: k["SecretAccessKey"]!)
            }
            alice = try add(["alice", "--accounts", String(groups[0].split(separator: "-").last!)])
            ops = try add(["ops", "--accounts", "all", "--retention"])
            serve = try Child(["serve", "--state", state, "--listen", "127.0.0.1:0", "--log-to", "journal", "--access-file", accessFile])
        }

        /// This server's journald entries.
        func entries() async throws -> [[String: Any]] {
            let pid = serve.process.processIdentifier
            return try await offPool { Unchecked(value: journal("_PID=\(pid)")) }.value
        }

        /// Waits for the address the server logs at start.
        func waitUntilServing() async throws -> Bool {
            try await eventuallyAsync(timeout: 60) {
                for e in try await entries() {
                    guard let m = e["MESSAGE"] as? String, let r = m.range(of: "http://127.0.0.1:") else { continue }
                    url = "http://127.0.0.1:" + m[r.upperBound...].prefix { $0.isNumber }
                    return true
                }
                return false
            }
        }

        deinit {
            serve.signal(SIGTERM)
            serve.wait(timeout: 10)
        }
    }

    /// `aws logs ARGS` as the holder of `key`.
    func aws(_ s: Served, _ key: Key, _ args: [String]) async throws -> (status: Int32, out: String, err: String) {
        let env = [
            "AWS_ACCESS_KEY_ID=\(key.id)", "AWS_SECRET_ACCESS_KEY=\(key.secret)", "AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard",
        ]
        let url = s.url
        return try await offPool {
            let c = try Child(env + ["aws", "logs"] + args + ["--endpoint-url", url, "--output", "json"], executable: "/usr/bin/env")
            let status = c.wait(timeout: 120) ?? -1
            return (status, c.stdout, c.stderr)
        }
    }

    /// `auth_client.py SCENARIO` as the holder of `key`: its JSON answer.
    func client(_ s: Served, _ key: Key, _ scenario: String, _ extra: [String] = []) async throws -> [String: Any] {
        let args = ["python3", Self.authClient, s.url, key.id, key.secret, scenario] + extra
        let data = try await offPool { try commandOutput(args) }
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(String(decoding: data, as: UTF8.self))")
    }

    func type(_ answer: [String: Any]) -> String? { (answer["body"] as? [String: Any])?["__type"] as? String }
    func message(_ answer: [String: Any]) -> String { (answer["body"] as? [String: Any])?["message"] as? String ?? "" }

    @Test func grantsSignaturesAndRevocation() async throws {
        guard journaldRunning() else { return }
        let s = try await offPool { try Served() }
        try #require(s.groups.count == 2)
        try #require(try await s.waitUntilServing(), "serve logs where it listens: \(s.serve.stderr)")
        let (mine, theirs) = (s.groups[0], s.groups[1])

        // alice sees her account's group and only it, through the CLI and boto3.
        let listed = try await aws(s, s.alice, ["describe-log-groups"])
        #expect(listed.status == 0, "\(listed.err)")
        #expect((object(listed.out)["logGroups"] as? [[String: Any]])?.compactMap { $0["logGroupName"] as? String } == [mine])
        #expect(try await client(s, s.alice, "groups")["groups"] as? [String] == [mine])
        #expect(try await client(s, s.ops, "groups")["groups"] as? [String] == s.groups)
        let streams = try await aws(s, s.alice, ["describe-log-streams", "--log-group-name", mine])
        #expect(streams.status == 0, "alice reads her own group: \(streams.err)")
        let state = s.state
        let theirStream = try #require(try await offPool { Unchecked(value: try fixtureStreams(state, theirs)) }.value.first?["logStreamName"] as? String)

        // Every action on the other account's group answers exactly as on a group that does not exist.
        for (action, args) in [
            ("describe-log-streams", [String]()), ("get-log-events", ["--log-stream-name", theirStream]), ("filter-log-events", ["--limit", "1"]),
            ("put-retention-policy", ["--retention-in-days", "30"]), ("delete-retention-policy", []),
        ] {
            let denied = try await aws(s, s.alice, [action, "--log-group-name", theirs] + args)
            let missing = try await aws(s, s.alice, [action, "--log-group-name", Self.missingGroup] + args)
            #expect(denied.status == 254 || denied.status == 255, "\(action): \(denied.err)")
            #expect(denied.err.contains("ResourceNotFoundException"), "\(action): \(denied.err)")
            #expect(denied.err == missing.err && denied.status == missing.status, "\(action): a denied group answers as a missing one")
        }
        // Retention without the grant is refused on her own group; ops has it, on any group.
        let put = try await aws(s, s.alice, ["put-retention-policy", "--log-group-name", mine, "--retention-in-days", "30"])
        #expect(put.err.contains("AccessDeniedException"), "\(put.err)")
        let opsPut = try await aws(s, s.ops, ["put-retention-policy", "--log-group-name", theirs, "--retention-in-days", "30"])
        #expect(opsPut.status == 0, "\(opsPut.err)")
        let described = object(try await aws(s, s.ops, ["describe-log-groups", "--log-group-name-prefix", theirs]).out)
        #expect((described["logGroups"] as? [[String: Any]])?.first?["retentionInDays"] as? Int == 30)
        #expect(try await aws(s, s.ops, ["delete-retention-policy", "--log-group-name", theirs]).status == 0)

        // Refusals, each with AWS's __type.
        let signed = try await client(s, s.alice, "signed")
        #expect(signed["status"] as? Int == 200, "the precondition: a well-signed raw request is served: \(signed)")
        let unsigned = try await client(s, s.alice, "unsigned")
        #expect(type(unsigned) == "MissingAuthenticationTokenException" && message(unsigned) == "Missing Authentication Token")
        let tampered = try await client(s, s.alice, "tampered-body", [theirs])
        #expect(type(tampered) == "InvalidSignatureException", "\(tampered)")
        let wrong = try await client(s, Key(id: s.alice.id, secret: String(s.alice.secret.reversed())), "signed")
        #expect(type(wrong) == "InvalidSignatureException", "\(wrong)")
        #expect(message(wrong).hasPrefix("The request signature we calculated does not match the signature you provided."))
        let old = try await client(s, s.alice, "old-date")
        #expect(type(old) == "InvalidSignatureException", "\(old)")
        #expect(message(old).hasPrefix("Signature expired: ") && message(old).hasSuffix(" - 5 min.)"), "\(message(old))")
        let replayed = try await client(s, s.alice, "replayed")
        #expect((replayed["original"] as? [String: Any])?["status"] as? Int == 200)
        #expect(type(replayed["replay"] as? [String: Any] ?? [:]) == "InvalidSignatureException", "\(replayed)")
        let unknown = try await client(s, Key(id: "TWAKNOBODYNOBODY2345", secret: s.alice.secret), "signed")
        #expect(type(unknown) == "UnrecognizedClientException" && message(unknown) == "The security token included in the request is invalid.")
        let cliUnknown = try await aws(s, Key(id: "TWAKNOBODYNOBODY2345", secret: "x"), ["describe-log-groups"])
        #expect(cliUnknown.err.contains("UnrecognizedClientException"), "\(cliUnknown.err)")

        // The refusals are in the journal with the principal and the reason as fields.
        var refused: [[String: Any]] = []
        #expect(try await eventuallyAsync(timeout: 10) {
            refused = try await s.entries().filter { $0["TRAILWATCH_REASON"] != nil }
            return refused.contains { $0["TRAILWATCH_REASON"] as? String == "signature-expired" }
        })
        func logged(_ principal: String, _ reason: String) -> Bool {
            refused.contains { $0["TRAILWATCH_PRINCIPAL"] as? String == principal && $0["TRAILWATCH_REASON"] as? String == reason }
        }
        #expect(logged("alice", "signature-mismatch"))
        #expect(logged("alice", "signature-expired"))
        #expect(logged("-", "missing-authentication"))
        #expect(logged("-", "unrecognized-client"))
        #expect(refused.contains { $0["TRAILWATCH_ACCESS_KEY_ID"] as? String == s.alice.id && $0["TRAILWATCH_ERROR_TYPE"] as? String == "InvalidSignatureException" })

        // A revoked key works until the reload, and not after it; the others keep working.
        let file = s.accessFile
        let revoke = try await offPool { try trailwatch(["access", "revoke", "alice", "--file", file]) }
        #expect(revoke.status == 0, "\(revoke.err)")
        #expect(try await client(s, s.alice, "signed")["status"] as? Int == 200, "the key in force until SIGHUP")
        s.serve.signal(SIGHUP)
        #expect(try await eventuallyAsync(timeout: 30) { try await s.entries().contains { ($0["MESSAGE"] as? String)?.hasPrefix("access file reloaded (SIGHUP): 1 principals") == true } })
        let revoked = try await client(s, s.alice, "signed")
        #expect(type(revoked) == "UnrecognizedClientException", "\(revoked)")
        #expect(try await aws(s, s.alice, ["describe-log-groups"]).err.contains("UnrecognizedClientException"))
        #expect(try await client(s, s.ops, "signed")["status"] as? Int == 200)

        // A broken file on reload is logged and the one in force stays.
        try "[broken\n".write(toFile: s.accessFile, atomically: true, encoding: .utf8)
        chmod(s.accessFile, 0o600)
        s.serve.signal(SIGHUP)
        #expect(try await eventuallyAsync(timeout: 30) {
            try await s.entries().contains { ($0["MESSAGE"] as? String)?.contains("access file not reloaded, the one in force stays: \(s.accessFile):1:") == true }
        })
        #expect(try await client(s, s.ops, "signed")["status"] as? Int == 200)
        #expect(s.serve.process.isRunning)
    }

    @Test func serveRefusesToStartOnAnUnsafeAccessFile() throws {
        let dir = tempDir("auth-unsafe")
        let file = dir + "/access"
        #expect(try trailwatch(["access", "add", "alice", "--accounts", "all", "--file", file]).status == 0)
        chmod(file, 0o644)
        let r = try trailwatch(["serve", "--state", dir, "--listen", "127.0.0.1:0", "--log-to", "stderr", "--access-file", file], timeout: 30)
        #expect(r.status != 0)
        #expect(r.err.contains("\(file): has mode 0644"), "\(r.err)")
    }
}
