import Foundation
import SigV4
import Testing

/// One case of the AWS SigV4 test suite (Fixtures/aws4_testsuite): the raw request and what
/// signing it must give.
struct SuiteCase: CustomStringConvertible, Sendable {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/aws4_testsuite")
    static let credentials = SigV4Credentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    /// 2015-08-30T12:36:00Z, the suite's signing time.
    static let time: Int64 = 1_440_938_160

    var name: String
    var request: SigV4Request
    var canonicalRequest: String
    var stringToSign: String
    var authorization: String
    var description: String { name }

    /// Every case: each folder holding a `.req`, named by its path under the suite.
    static let all: [SuiteCase] = {
        let fm = FileManager.default
        var out: [SuiteCase] = []
        let enumerator = fm.enumerator(atPath: root.path)!
        while let rel = enumerator.nextObject() as? String {
            guard rel.hasSuffix(".req") else { continue }
            let dir = (rel as NSString).deletingLastPathComponent
            out.append(try! SuiteCase(dir))
        }
        return out.sorted { $0.name < $1.name }
    }()

    init(_ dir: String) throws {
        name = dir
        let base = Self.root.appendingPathComponent(dir).appendingPathComponent((dir as NSString).lastPathComponent).path
        func read(_ ext: String) throws -> String {
            try String(contentsOfFile: base + "." + ext, encoding: .utf8).replacingOccurrences(of: "\r", with: "")
        }
        request = Self.parse(try read("req"))
        canonicalRequest = try read("creq")
        stringToSign = try read("sts")
        authorization = try read("authz")
    }

    /// A raw HTTP/1.1 request as the suite writes it: the request line (its path may hold spaces and
    /// raw UTF-8), headers with folded continuation lines, a blank line, the body.
    static func parse(_ raw: String) -> SigV4Request {
        var lines = raw.components(separatedBy: "\n")
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix { $0 != " " })
        let afterMethod = requestLine.dropFirst(method.count + 1)
        let target = afterMethod.range(of: " HTTP/").map { String(afterMethod[..<$0.lowerBound]) } ?? String(afterMethod)
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var headers: [SigV4Request.Header] = []
        var body = ""
        while !lines.isEmpty {
            let line = lines.removeFirst()
            if line.isEmpty {
                body = lines.joined(separator: "\n")
                break
            }
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
                continue
            }
            let colon = line.firstIndex(of: ":")!
            headers.append(.init(String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
        return SigV4Request(
            method: method, path: String(path[0]), query: path.count > 1 ? String(path[1]) : "", headers: headers, body: Array(body.utf8))
    }

    /// The suite's credentials, with the session token when the case's canonical request signs one.
    var caseCredentials: SigV4Credentials {
        var c = Self.credentials
        if let line = canonicalRequest.split(separator: "\n").first(where: { $0.hasPrefix("x-amz-security-token:") }) {
            c.sessionToken = String(line.dropFirst("x-amz-security-token:".count))
        }
        return c
    }
}

@Suite("AWS SigV4 test suite")
struct SigV4VectorTests {
    @Test func theSuiteIsThere() {
        // Every case the suite ships (botocore's copy holds 34); a missing folder would silently test less.
        #expect(SuiteCase.all.count == 34)
        #expect(SuiteCase.all.contains { $0.name == "get-vanilla" })
        #expect(SuiteCase.all.contains { $0.name == "normalize-path/get-space" })
    }

    @Test(arguments: SuiteCase.all)
    func signs(_ c: SuiteCase) {
        let signer = SigV4Signer(credentials: c.caseCredentials, region: "us-east-1", service: "service")
        let signed = signer.sign(c.request, at: SuiteCase.time)
        #expect(signed.canonicalRequest == c.canonicalRequest)
        #expect(signed.stringToSign == c.stringToSign)
        #expect(signed.authorization == c.authorization)
        #expect(signed.request.value(of: "authorization") == c.authorization)
    }

    @Test(arguments: SuiteCase.all)
    func verifies(_ c: SuiteCase) throws {
        // The request as the suite's .sreq sends it: the .req with the expected Authorization header.
        var request = c.request
        request.headers.append(.init("Authorization", c.authorization))
        if let token = c.caseCredentials.sessionToken { request.setHeader("X-Amz-Security-Token", token) }
        let verifier = SigV4Verifier(service: "service")
        let lookup: (String) -> String? = { $0 == "AKIDEXAMPLE" ? SuiteCase.credentials.secretAccessKey : nil }
        if c.caseCredentials.sessionToken != nil {
            // trailwatch issues no session tokens: a request carrying one is refused as AWS refuses an unknown token.
            #expect(throws: SigV4Failure(.unrecognizedClient, "The security token included in the request is invalid.", accessKeyId: "AKIDEXAMPLE")) {
                try verifier.verify(request, now: SuiteCase.time, secret: lookup)
            }
            return
        }
        let verified = try verifier.verify(request, now: SuiteCase.time, secret: lookup)
        #expect(verified == SigV4Verified(accessKeyId: "AKIDEXAMPLE", region: "us-east-1", signedAt: SuiteCase.time, presigned: false))
        // The same signature on a request one byte different in its body is refused.
        request.payload = .bytes(Array("tampered".utf8))
        #expect(throws: SigV4Failure(.signatureMismatch, Self.mismatch, accessKeyId: "AKIDEXAMPLE")) {
            try verifier.verify(request, now: SuiteCase.time, secret: lookup)
        }
    }

    @Test(arguments: SuiteCase.all.filter { $0.caseCredentials.sessionToken == nil })
    func presignsAndVerifies(_ c: SuiteCase) throws {
        let signer = SigV4Signer(credentials: SuiteCase.credentials, region: "us-east-1", service: "service")
        let signed = signer.presign(c.request, at: SuiteCase.time, expires: 300)
        #expect(signed.request.query.contains("X-Amz-Signature=" + signed.signature))
        #expect(signed.request.value(of: "authorization") == nil)
        let verifier = SigV4Verifier(service: "service")
        let lookup: (String) -> String? = { $0 == "AKIDEXAMPLE" ? SuiteCase.credentials.secretAccessKey : nil }
        let verified = try verifier.verify(signed.request, now: SuiteCase.time + 299, secret: lookup)
        #expect(verified.presigned)
        #expect(throws: SigV4Failure.self) { try verifier.verify(signed.request, now: SuiteCase.time + 301, secret: lookup) }
    }

    static let mismatch =
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
}
