import AWSClient
import AWSFormats
import Foundation
import SigV4
import Testing
import TestSupport

/// What reaches the wire is what was signed: a server of the test's own records the raw request and
/// the SigV4 verifier (checked against botocore in SigV4Tests) accepts it. moto does not check signatures.
@Suite struct WireTests {
    struct Captured: Decodable {
        var method: String
        var path: String
        var headers: [[String]]
        var body: String
    }

    static let script = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/capture_server.py"),
        encoding: .utf8)

    func verify(_ c: Captured, service: String, rule: SigV4PathRule) throws -> SigV4Verified {
        let parts = c.path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var body: [UInt8] = []
        var hex = Array(c.body.utf8)[...]
        while hex.count >= 2 {
            body.append(UInt8(String(decoding: hex.prefix(2), as: UTF8.self), radix: 16)!)
            hex = hex.dropFirst(2)
        }
        let request = SigV4Request(
            method: c.method, path: String(parts[0]), query: parts.count > 1 ? String(parts[1]) : "",
            headers: c.headers.map { .init($0[0], $0[1]) }, body: body)
        return try SigV4Verifier(service: service, pathRule: rule).verify(request, now: Int64(Date().timeIntervalSince1970)) {
            $0 == "AKIDWIRE" ? "wire-secret" : nil
        }
    }

    @Test func getObjectCountsAChunkedBodyAgainstMaxBytes() async throws {
        let log = tempDir("wire") + "/requests.jsonl"
        let server = try PythonServer(name: "capture", script: Self.script, arguments: [log])
        defer { server.stop() }
        let env = ["AWS_ACCESS_KEY_ID": "AKIDWIRE", "AWS_SECRET_ACCESS_KEY": "wire-secret", "AWS_ENDPOINT_URL": "http://127.0.0.1:\(server.port)"]
        let http = AWSHTTP()
        let settings = AWSSettings.resolve(region: nil, endpointURL: nil, profile: nil, environment: env)
        let s3 = S3Client(http: http, settings: settings, credentials: AWSCredentialChain(settings: settings, environment: env, http: http))
        let target = tempDir("wire") + "/obj"
        var refused: AWSError?
        do { _ = try await s3.getObject(bucket: "b", key: "chunked", to: target, maxBytes: 100) } catch let e as AWSError { refused = e }
        let partialLeft = FileManager.default.fileExists(atPath: target)
        let whole = try? await s3.getObject(bucket: "b", key: "chunked", to: target, maxBytes: 120)
        try await http.shutdown()
        #expect(refused?.code == .tooLarge)
        #expect(!partialLeft)
        #expect(whole?.size == 120 && whole?.etag == "c")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data(repeating: UInt8(ascii: "z"), count: 120))
        // Both requests arrived without a Content-Length in the answer: the refusal came from counting.
        #expect(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count == 2)
    }

    @Test func s3PathsAndJSONCallsAreSentAsSigned() async throws {
        let log = tempDir("wire") + "/requests.jsonl"
        let server = try PythonServer(name: "capture", script: Self.script, arguments: [log])
        defer { server.stop() }
        let env = [
            "AWS_ACCESS_KEY_ID": "AKIDWIRE", "AWS_SECRET_ACCESS_KEY": "wire-secret",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:\(server.port)", "AWS_REGION": "eu-west-1", "HOME": "/nonexistent",
        ]
        let http = AWSHTTP()
        let settings = AWSSettings.resolve(region: nil, endpointURL: nil, profile: nil, environment: env)
        let chain = AWSCredentialChain(settings: settings, environment: env, http: http)
        let target = tempDir("wire") + "/obj"
        do {
            let got = try await S3Client(http: http, settings: settings, credentials: chain).getObject(
                bucket: "trail-bkt", key: "AWSLogs/a b+c=é~/x.json.gz", to: target, maxBytes: 100)
            #expect(got.etag == "5d41402abc4b2a76b9719d911017c592" && got.size == 5 && got.lastModifiedMs == 1_796_290_976_000)
            try await LogsClient(http: http, settings: settings, credentials: chain).createLogGroup("g/é")
            _ = try await S3Client(http: http, settings: settings, credentials: chain).listObjectsV2(
                bucket: "trail-bkt", prefix: "AWSLogs/ü +", startAfter: "AWSLogs/ü +/k=1")
        } catch is AWSError {
            // The list answer is not XML: expected; the request was still sent and recorded.
        }
        try await http.shutdown()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let captured = try lines.map { try JSONDecoder().decode(Captured.self, from: Data($0.utf8)) }
        #expect(captured.count == 3)
        guard captured.count == 3 else { return }
        // S3: each segment encoded as RFC 3986 wants (`~` kept), `/` kept, and the signature holds over that path.
        #expect(captured[0].path == "/trail-bkt/AWSLogs/a%20b%2Bc%3D%C3%A9~/x.json.gz")
        let s3 = try verify(captured[0], service: "s3", rule: .s3)
        #expect(s3.accessKeyId == "AKIDWIRE" && s3.region == "eu-west-1")
        #expect(captured[0].headers.contains { $0[0].lowercased() == "x-amz-content-sha256" })
        // Logs: JSON 1.1 to `/`, the body signed.
        #expect(captured[1].method == "POST" && captured[1].path == "/")
        #expect(captured[1].headers.contains { $0[0].lowercased() == "x-amz-target" && $0[1] == "Logs_20140328.CreateLogGroup" })
        #expect(try verify(captured[1], service: "logs", rule: .standard).accessKeyId == "AKIDWIRE")
        // The query's values encoded once, and the signature holds over them.
        #expect(captured[2].path.hasPrefix("/trail-bkt?"))
        #expect(captured[2].path.contains("prefix=AWSLogs%2F%C3%BC%20%2B") && captured[2].path.contains("start-after=AWSLogs%2F%C3%BC%20%2B%2Fk%3D1"))
        _ = try verify(captured[2], service: "s3", rule: .s3)
    }
}
