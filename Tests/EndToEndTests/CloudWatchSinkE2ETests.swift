import Foundation
import Testing
import TestSupport

/// A small HTTP proxy of the test's own in front of moto: `throttle` answers some PutLogEvents
/// with 400 ThrottlingException and some with 503 (without passing them on); `slow` passes each
/// PutLogEvents on and holds the answer back 0.3 s (a kill then lands between the PUT and the
/// checkpoint); `pass` only relays. It writes its counters (per stream too) to a JSON file.
let proxyScript = #"""
import http.server, http.client, json, socket, sys, threading, time
upstream, port, mode, stats_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
stats = {"puts": 0, "throttled": 0, "unavailable": 0, "relayed_puts": 0, "streams": {}}
def save():
    with open(stats_path + ".tmp", "w") as f: json.dump(stats, f)
    import os; os.replace(stats_path + ".tmp", stats_path)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self): self.relay("POST")
    def do_GET(self): self.relay("GET")
    def do_PUT(self): self.relay("PUT")
    def do_DELETE(self): self.relay("DELETE")
    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline(); return out
                out += self.rfile.read(size); self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""
    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
    def relay(self, method):
        body = self.body()
        is_put = self.headers.get("X-Amz-Target", "").endswith(".PutLogEvents")
        if is_put:
            with lock:
                stats["puts"] += 1; k = stats["puts"]; verdict = None
                if mode == "throttle":
                    if k % 3 == 1: verdict = 400; stats["throttled"] += 1
                    elif k % 5 == 0: verdict = 503; stats["unavailable"] += 1
                save()
            if verdict == 400: return self.reply(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
            if verdict == 503: return self.reply(503, {"__type": "ServiceUnavailableException", "message": "Service unavailable"})
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "transfer-encoding", "content-length")}
        headers["Content-Length"] = str(len(body))
        c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=120)
        c.request(method, self.path, body=body, headers=headers)
        r = c.getresponse(); data = r.read()
        if is_put and r.status == 200:
            with lock:
                stats["relayed_puts"] += 1
                s = json.loads(body).get("logStreamName", "?")
                stats["streams"][s] = stats["streams"].get(s, 0) + 1
                save()
            if mode == "slow": time.sleep(0.3)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"): self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
class S(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
save()
S(("127.0.0.1", port), H).serve_forever()
"""#

/// Reads back every stream of every group with boto3 (GetLogEvents from the head, every page):
/// one line per event, `group<TAB>stream<TAB>eventID<TAB>reference bytes or 0`.
let readBackScript = #"""
import boto3, json
logs = boto3.client("logs")
for g in logs.get_paginator("describe_log_groups").paginate():
    for group in g["logGroups"]:
        name = group["logGroupName"]
        for sp in logs.get_paginator("describe_log_streams").paginate(logGroupName=name):
            for st in sp["logStreams"]:
                token = None
                while True:
                    kw = dict(logGroupName=name, logStreamName=st["logStreamName"], startFromHead=True)
                    if token: kw["nextToken"] = token
                    page = logs.get_log_events(**kw)
                    for e in page["events"]:
                        m = json.loads(e["message"])
                        ref = m.get("trailwatchTruncated", {}).get("bytes", 0)
                        print(f'{name}\t{st["logStreamName"]}\t{m.get("eventID", "<none>")}\t{ref}')
                    if page["nextForwardToken"] == token or not page["events"]: break
                    token = page["nextForwardToken"]
"""#

final class Proxy: @unchecked Sendable {
    let port: Int
    let upstream: Int
    let statsPath: String
    let script: String
    var process: Process?

    init(upstream: Int, port: Int? = nil) throws {
        self.upstream = upstream
        self.port = try port ?? freePort()
        let dir = tempDir("proxy")
        statsPath = dir + "/stats.json"
        script = dir + "/proxy.py"
        try Data(proxyScript.utf8).write(to: URL(fileURLWithPath: script))
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func start(_ mode: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, String(upstream), String(port), mode, statsPath]
        try p.run()
        process = p
        #expect(eventually(timeout: 20) { canConnect(port: port) }, "the proxy listens")
    }

    func stop() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    var stats: [String: Any] {
        guard let d = FileManager.default.contents(atPath: statsPath) else { return [:] }
        return (try? JSONSerialization.jsonObject(with: d) as? [String: Any]) ?? [:]
    }
    func stat(_ k: String) -> Int { stats[k] as? Int ?? 0 }
}

/// (group, stream, eventID) → how many times, from the local store (`trailwatch logs filter`, every group).
func localEvents(state: String) throws -> [String: Int] {
    var out: [String: Int] = [:]
    let groups = try trailwatch(["logs", "groups", "--state", state]).out.split(separator: "\n")
    for g in groups {
        let group = (try JSONSerialization.jsonObject(with: Data(g.utf8)) as! [String: Any])["logGroupName"] as! String
        let lines = try trailwatch(["logs", "filter", "--state", state, "--group", group], timeout: 300).out.split(separator: "\n")
        for line in lines {
            let e = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let message = e["message"] as! String
            let record = (try? JSONSerialization.jsonObject(with: Data(message.utf8))) as? [String: Any]
            out["\(group)\t\(e["logStreamName"] as! String)\t\(record?["eventID"] as? String ?? "<none>")", default: 0] += 1
        }
    }
    return out
}

/// The same from CloudWatch (moto) through boto3, and the reference events' sizes.
func cloudEvents(_ moto: MotoServer) throws -> (events: [String: Int], references: [Int]) {
    var out: [String: Int] = [:]
    var refs: [Int] = []
    for line in try moto.boto3(readBackScript).split(separator: "\n") {
        let f = line.split(separator: "\t", omittingEmptySubsequences: false)
        guard f.count == 4 else { continue }
        out["\(f[0])\t\(f[1])\t\(f[2])", default: 0] += 1
        if let n = Int(f[3]), n > 0 { refs.append(n) }
    }
    return (out, refs)
}

/// trailwatch's environment: moto's credentials and region; the endpoint (the proxy) comes from
/// the flag or config; moto shows what it took at once, so no wait before a reconcile.
func sinkEnvironment(_ moto: MotoServer) -> [String: String] {
    var env = ProcessInfo.processInfo.environment
    for (k, v) in moto.environment where k != "AWS_ENDPOINT_URL" { env[k] = v }
    env["TRAILWATCH_FORWARD_SETTLE_MS"] = "0"
    return env
}

/// A bucket: `trailwatch simulate` (accounts × regions, recent) plus one stream of our own holding
/// a file whose events span three days and a file with a 300 KB record.
func sinkBucket(accounts: Int, regions: String, hours: Double, rate: Double) throws -> String {
    let bucket = tempDir("bucket") + "/b"
    let start = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-hours * 3600 - 3600))
    let sim = try trailwatch([
        "simulate", "--out", bucket, "--accounts", String(accounts), "--regions", regions, "--hours", String(hours), "--rate",
        String(rate), "--no-digests", "--start", start,
    ])
    #expect(sim.status == 0, "\(sim.err)")
    let dir = bucket + "/AWSLogs/999988887777/CloudTrail/ap-south-1/2026/01/01"
    let now = Date().timeIntervalSince1970
    func iso(_ t: Double) -> String { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: t)) }
    let span = (0..<60).map { rec("span-\($0)", iso(now - 3 * 86_400 + Double($0) * 3600), account: "999988887777") }
    try write(dir + "/999988887777_CloudTrail_ap-south-1_20260101T0000Z_SPANSTHREEDAYS01.json.gz", gz(span))
    let big = #"{"eventVersion":"1.10","eventTime":"\#(iso(now - 60))","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"ap-south-1","eventID":"big-record","recipientAccountId":"999988887777","requestParameters":{"policy":"\#(String(repeating: "p", count: 300_000))"}}"#
    try write(dir + "/999988887777_CloudTrail_ap-south-1_20260101T0005Z_BIGRECORD0000001.json.gz", gz([big, rec("small-1", iso(now - 30), account: "999988887777")]))
    return bucket
}

@Suite(.serialized) struct CloudWatchSinkE2ETests {
    /// A store that is neither local nor cloudwatch is refused before anything is created.
    @Test func anUnknownStoreIsRefused() throws {
        let bucket = tempDir("bucket")
        let state = tempDir("state") + "/s"
        let r = try trailwatch(["run", "--once", "--logs", bucket, "--state", state, "--store", "s3"])
        #expect(r.status != 0)
        #expect(r.err.contains("--store must be local or cloudwatch"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: state))
        let conf = tempDir("conf") + "/c.conf"
        try Data("store = elsewhere\n".utf8).write(to: URL(fileURLWithPath: conf))
        let c = try trailwatch(["run", "--once", "--config", conf, "--logs", bucket, "--state", state])
        #expect(c.status != 0 && c.err.contains("store must be local or cloudwatch"), "\(c.err)")
    }

    /// Through a proxy that throttles and fails some PutLogEvents: every event the local store
    /// holds arrives once in its group and stream; the 300 KB record as a reference event; the
    /// three-day file in several batches; the throttles counted.
    @Test func everyEventArrivesOnceThroughThrottling() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let proxy = try Proxy(upstream: moto.port)
        try proxy.start("throttle")
        defer { proxy.stop() }
        let bucket = try sinkBucket(accounts: 3, regions: "us-east-1,eu-west-1", hours: 1, rate: 20)
        let state = tempDir("state")
        let run = try Child(
            ["run", "--once", "--logs", bucket, "--state", state, "--store", "cloudwatch", "--aws-endpoint-url", proxy.url,
             "--retention-days", "30", "--log-to", "stderr"],
            environment: sinkEnvironment(moto))
        let status = run.wait(timeout: 300)
        #expect(status == 0, "\(run.stderr)")
        let local = try localEvents(state: state)
        let (cloud, refs) = try cloudEvents(moto)
        #expect(local.count > 3 * 2 * 60 * 20 / 2, "precondition: the simulated events are stored")
        #expect(local.values.allSatisfy { $0 == 1 })
        #expect(cloud == local, "CloudWatch holds exactly what the store holds, once each")
        #expect(refs.count == 1 && (refs.first ?? 0) > 300_000, "the 300 KB record arrived as one reference event")
        #expect(proxy.stat("throttled") > 0 && proxy.stat("unavailable") > 0, "precondition: the proxy throttled and failed calls")
        let spanBatches = (proxy.stats["streams"] as? [String: Int])?["999988887777_CloudTrail_ap-south-1"] ?? 0
        #expect(spanBatches >= 3, "the file spanning 59 h went out in at least three calls of ≤ 24 h")
        // The summary counts them.
        #expect(run.stdout.contains("\(proxy.stat("throttled")) throttled"), "\(run.stdout)")
        #expect(run.stdout.contains("1 reference events"), "\(run.stdout)")
        let groups = try moto.boto3(
            #"import boto3; print("\n".join(f'{g["logGroupName"]} {g.get("retentionInDays")}' for g in boto3.client("logs").describe_log_groups()["logGroups"]))"#)
        #expect(groups.contains("aws-cloudtrail-logs-999988887777 30"))
    }

    /// kill -9 while the daemon forwards (between a PUT and its checkpoint, mostly), then a restart: exactly once.
    @Test func killDuringForwardingThenRestartIsExactlyOnce() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let proxy = try Proxy(upstream: moto.port)
        try proxy.start("slow")
        defer { proxy.stop() }
        let bucket = try sinkBucket(accounts: 2, regions: "us-east-1,eu-west-1", hours: 3, rate: 60)
        let state = tempDir("state")
        let args = ["run", "--logs", bucket, "--state", state, "--store", "cloudwatch", "--aws-endpoint-url", proxy.url, "--log-to", "stderr"]
        let daemon = try Child(args, environment: sinkEnvironment(moto))
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        #expect(eventually(timeout: 120) { proxy.stat("relayed_puts") >= 5 }, "precondition: forwarding started")
        daemon.signal(SIGKILL)
        daemon.wait(timeout: 10)
        let local = try localEvents(state: state)
        let landed = try cloudEvents(moto).events
        let landedCount = landed.values.reduce(0, +)
        #expect(landedCount > 0 && landedCount < local.count, "precondition: killed mid-forwarding (\(landedCount) of \(local.count))")
        let restart = try Child(
            ["run", "--once", "--logs", bucket, "--state", state, "--store", "cloudwatch", "--aws-endpoint-url", proxy.url, "--log-to", "stderr"],
            environment: sinkEnvironment(moto))
        #expect(restart.wait(timeout: 300) == 0, "\(restart.stderr)")
        let cloud = try cloudEvents(moto).events
        #expect(cloud == local, "exactly once after the restart")
        #expect(cloud.values.allSatisfy { $0 == 1 })
        // The kill came while a call CloudWatch had taken waited for its answer (the proxy holds it
        // 0.3 s after moto stored it): the restart found that batch in flight and sent none of it again.
        #expect(restart.stdout.contains("in-flight batches reconciled"), "\(restart.stdout)")
        #expect(restart.stderr.contains("reconciled: ") && !restart.stderr.contains("reconciled: 0 already"), "\(restart.stderr)")
    }

    /// CloudWatch unreachable (nothing listens) while files are taken; then it answers: nothing lost, nothing twice.
    @Test func anOutageLosesNothing() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let proxy = try Proxy(upstream: moto.port)  // not started: connections are refused
        let bucket = try sinkBucket(accounts: 2, regions: "us-east-1", hours: 1, rate: 10)
        let state = tempDir("state")
        // The settings from the config file this time.
        let config = tempDir("conf") + "/trailwatch.conf"
        try Data("logs = \(bucket)\nstate = \(state)\nstore = cloudwatch\naws-endpoint-url = \(proxy.url)\naws-region = us-east-1\n".utf8)
            .write(to: URL(fileURLWithPath: config))
        let daemon = try Child(["run", "--config", config, "--log-to", "stderr"], environment: sinkEnvironment(moto))
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        #expect(eventually(timeout: 120) { daemon.stderr.contains("CloudWatch Logs unreachable") }, "precondition: the outage was seen")
        let local = try localEvents(state: state)
        #expect(local.count > 0)
        try proxy.start("pass")
        defer { proxy.stop() }
        #expect(eventually(timeout: 180, interval: 2) { ((try? cloudEvents(moto).events.values.reduce(0, +)) ?? 0) >= local.count })
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeout: 60) == 0)
        #expect(try cloudEvents(moto).events == local)
        #expect(daemon.stderr.components(separatedBy: "CloudWatch Logs unreachable").count == 2, "logged once per outage")
        #expect(daemon.stderr.contains("forwarding resumed"))
    }
}
