import Foundation
import SigV4
import Testing
import TestSupport

/// A CloudWatch Logs call as `aws logs filter-log-events` sends it, signed by trailwatch's signer.
private let key = "TWAKQ2XGZ7N4M5P6R3ST"
private let secret = "k9Vq2mZ7xW4pL8rT1sN6bC3dF5gH0jK2lM4nP6qR"
private let signedAt: Int64 = 1_796_282_400  // 2026-12-03T07:20:00Z
private func lookup(_ id: String) -> String? { id == key ? secret : nil }
private let verifier = SigV4Verifier()

private func logsRequest(body: String = #"{"logGroupName":"aws-cloudtrail-logs-111122223333","limit":5}"#) -> SigV4Request {
    SigV4Request(
        method: "POST", path: "/",
        headers: [
            .init("Host", "127.0.0.1:8440"), .init("Content-Type", "application/x-amz-json-1.1"),
            .init("X-Amz-Target", "Logs_20140328.FilterLogEvents"), .init("User-Agent", "aws-cli/2"),
        ],
        body: Array(body.utf8))
}

private func signed(_ r: SigV4Request = logsRequest(), at t: Int64 = signedAt, secret s: String = secret, service: String = "logs") -> SigV4Request {
    SigV4Signer(credentials: .init(accessKeyId: key, secretAccessKey: s), region: "eu-west-1", service: service).sign(r, at: t).request
}

private func failure(_ r: SigV4Request, now: Int64 = signedAt) -> SigV4Failure? {
    do {
        _ = try verifier.verify(r, now: now, secret: lookup)
        return nil
    } catch { return error }
}

private let mismatch =
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

@Suite("SigV4 verifier")
struct SigV4VerifierTests {
    @Test func acceptsItsOwnSignatureWithinFiveMinutes() throws {
        let r = signed()
        for now in [signedAt - 300, signedAt, signedAt + 300] {
            #expect(try verifier.verify(r, now: now, secret: lookup).accessKeyId == key)
        }
    }

    /// Signing keys are kept by secret and scope: one verifier accepts a key's requests again and
    /// again, refuses them once the key id's secret changed, and accepts the new secret's, on
    /// another date too.
    @Test func keptSigningKeysFollowTheSecretInForce() throws {
        let v = SigV4Verifier()
        let newSecret = "n" + secret.dropFirst()
        for _ in 0..<3 { #expect(try v.verify(signed(), now: signedAt, secret: lookup).accessKeyId == key) }
        #expect(throws: SigV4Failure(.signatureMismatch, mismatch, accessKeyId: key)) {
            try v.verify(signed(), now: signedAt, secret: { $0 == key ? newSecret : nil })
        }
        #expect(try v.verify(signed(secret: newSecret), now: signedAt, secret: { $0 == key ? newSecret : nil }).accessKeyId == key)
        let nextDay = signedAt + 86_400
        #expect(try v.verify(signed(at: nextDay), now: nextDay, secret: lookup).accessKeyId == key)
        #expect(throws: SigV4Failure(.signatureMismatch, mismatch, accessKeyId: key)) {
            try v.verify(signed(at: nextDay), now: nextDay, secret: { $0 == key ? newSecret : nil })
        }
    }

    @Test func unsignedIsMissingAuthenticationToken() {
        let f = failure(logsRequest())
        #expect(f == SigV4Failure(.missingAuthentication, "Missing Authentication Token"))
        #expect(f?.awsType == "MissingAuthenticationTokenException")
    }

    @Test func malformedAuthorizationIsIncompleteSignature() {
        var r = signed()
        r.setHeader("Authorization", "AWS4-HMAC-SHA256 Credential=\(key)/20261203/eu-west-1/logs/aws4_request")
        let f = failure(r)
        #expect(f?.awsType == "IncompleteSignatureException")
        #expect(
            f?.message
                == "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=\(key)/20261203/eu-west-1/logs/aws4_request"
        )
        r.setHeader("Authorization", "AWS4-HMAC-SHA256 Credential \(key)/20261203/eu-west-1/logs/aws4_request, SignedHeaders=host, Signature=00")
        #expect(failure(r)?.message.hasPrefix("'Credential \(key)/20261203/eu-west-1/logs/aws4_request' not a valid key=value pair (missing equal-sign)") == true)
        r.setHeader("Authorization", "AWS \(key):c2lnbmF0dXJl")  // SigV2
        #expect(failure(r)?.code == .incompleteSignature)
        r.setHeader("Authorization", "AWS4-HMAC-SHA256 Credential=\(key)/20261203/eu-west-1/logs, SignedHeaders=host, Signature=00")
        #expect(failure(r)?.message.hasPrefix("Credential must have exactly 5 slash-delimited elements") == true)
    }

    @Test func unknownKeyIsUnrecognizedClient() {
        var r = logsRequest()
        r = SigV4Signer(credentials: .init(accessKeyId: "TWAKUNKNOWNUNKNOWN00", secretAccessKey: secret), region: "eu-west-1", service: "logs")
            .sign(r, at: signedAt).request
        let f = failure(r)
        #expect(f == SigV4Failure(.unrecognizedClient, "The security token included in the request is invalid.", accessKeyId: "TWAKUNKNOWNUNKNOWN00"))
        #expect(f?.awsType == "UnrecognizedClientException")
    }

    @Test func wrongSecretTamperedBodyAndChangedSignedHeaderAreInvalidSignature() {
        #expect(failure(signed(secret: "wrong" + secret.dropFirst(5))) == SigV4Failure(.signatureMismatch, mismatch, accessKeyId: key))
        var tampered = signed()
        tampered.payload = .bytes(Array(#"{"logGroupName":"aws-cloudtrail-logs-444455556666","limit":5}"#.utf8))
        #expect(failure(tampered) == SigV4Failure(.signatureMismatch, mismatch, accessKeyId: key))
        var changed = signed()
        changed.setHeader("X-Amz-Target", "Logs_20140328.PutRetentionPolicy")
        #expect(failure(changed) == SigV4Failure(.signatureMismatch, mismatch, accessKeyId: key))
        #expect(failure(changed)?.awsType == "InvalidSignatureException")
        // A header that is not signed may change (a proxy's User-Agent): the same signature holds.
        var unsignedChanged = signed()
        unsignedChanged.setHeader("User-Agent", "something else")
        #expect(failure(unsignedChanged) == nil)
    }

    @Test func sixMinutesOffIsExpiredOrNotYetCurrent() {
        // 07:14:00 signed, 07:20:00 now: AWS's words, to the second.
        let old = failure(signed(at: signedAt - 360))
        #expect(old?.code == .signatureExpired)
        #expect(old?.awsType == "InvalidSignatureException")
        #expect(old?.message == "Signature expired: 20261203T071400Z is now earlier than 20261203T071500Z (20261203T072000Z - 5 min.)")
        let future = failure(signed(at: signedAt + 360))
        #expect(future?.code == .signatureNotYetCurrent)
        #expect(future?.message == "Signature not yet current: 20261203T072600Z is still later than 20261203T072500Z (20261203T072000Z + 5 min.)")
    }

    @Test func scopeMustNameLogs() {
        let f = failure(signed(service: "s3"))
        #expect(f == SigV4Failure(.wrongScope, "Credential should be scoped to correct service: 'logs'. ", accessKeyId: key))
        #expect(f?.awsType == "InvalidSignatureException")
    }

    @Test func contentHashIsCheckedAgainstTheBody() {
        let signer = SigV4Signer(credentials: .init(accessKeyId: key, secretAccessKey: secret), region: "eu-west-1", service: "logs", sendsContentHash: true)
        var r = signer.sign(logsRequest(), at: signedAt).request
        #expect(r.value(of: "x-amz-content-sha256") != nil)
        #expect(failure(r) == nil)
        r.payload = .bytes(Array("{}".utf8))
        #expect(failure(r)?.code == .contentHashMismatch)
        #expect(failure(r)?.message == "The provided 'x-amz-content-sha256' header does not match what was computed.")
        var unsigned = logsRequest()
        unsigned.setHeader("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")
        #expect(failure(signed(unsigned))?.code == .contentHashMismatch)
    }

    @Test func hostMustBeSignedAndLimitsHold() {
        var noHost = logsRequest()
        noHost.removeHeader("host")
        var r = signed(noHost)
        r.headers.append(.init("Host", "127.0.0.1:8440"))
        #expect(failure(r)?.message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")

        var many = logsRequest()
        for i in 0..<40 { many.headers.append(.init("X-Extra-\(i)", "v")) }
        #expect(failure(signed(many))?.message == "SignedHeaders names more than 32 headers.")

        var long = signed()
        long.setHeader("Authorization", long.value(of: "authorization")! + String(repeating: " ", count: 5000))
        #expect(failure(long)?.message == "The Authorization header is longer than 4096 bytes.")

        var both = signed()
        both.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        #expect(failure(both)?.code == .incompleteSignature)
    }

    @Test func presignedQueryForm() throws {
        let signer = SigV4Signer(credentials: .init(accessKeyId: key, secretAccessKey: secret), region: "eu-west-1", service: "logs")
        let p = signer.presign(logsRequest(), at: signedAt, expires: 60).request
        #expect(try verifier.verify(p, now: signedAt + 60, secret: lookup).presigned)
        let late = failure(p, now: signedAt + 61)
        #expect(late?.code == .signatureExpired)
        #expect(late?.message == "Signature expired: 20261203T072000Z is now earlier than 20261203T072001Z (20261203T072101Z - 60 sec.)")
        var changed = p
        changed.query = changed.query.replacingOccurrences(of: "X-Amz-Expires=60", with: "X-Amz-Expires=600")
        #expect(failure(changed, now: signedAt + 61)?.code == .signatureMismatch)
        var missing = p
        missing.query = missing.query.replacingOccurrences(of: "X-Amz-Date=", with: "X-Amz-Datum=")
        #expect(failure(missing)?.message == "AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.")
    }

    @Test func dates() {
        #expect(AmzDate.format(1_440_938_160) == "20150830T123600Z")
        #expect(AmzDate.parse("20150830T123600Z") == 1_440_938_160)
        #expect(AmzDate.parseHTTPDate("Sun, 30 Aug 2015 12:36:00 GMT") == 1_440_938_160)
        for bad in ["2015-08-30T12:36:00Z", "20150830T123600", "20151330T123600Z", "20150830T126000Z", "2015083OT123600Z", ""] {
            #expect(AmzDate.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func constantTimeEqual() {
        #expect(SigV4Canonical.constantTimeEqual("abc", "abc"))
        #expect(!SigV4Canonical.constantTimeEqual("abc", "abd"))
        #expect(!SigV4Canonical.constantTimeEqual("abc", "abcd"))
    }
}

/// The interpreter the botocore helpers run under.
private let interop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Interop").path

@Suite("SigV4 and botocore")
struct SigV4BotocoreTests {
    @Test func botocoreSignedLogsCallIsAccepted() throws {
        let out = try commandOutput(["python3", interop + "/botocore_sign.py", key, secret, "http://127.0.0.1:8440"])
        let json = try #require(try JSONSerialization.jsonObject(with: out) as? [String: Any])
        let headers = (json["headers"] as! [[String]]).map { SigV4Request.Header($0[0], $0[1]) }
        let body = Data(base64Encoded: json["body"] as! String)!
        let request = SigV4Request(
            method: json["method"] as! String, path: json["path"] as! String, query: json["query"] as! String, headers: headers, body: Array(body))
        // The precondition: botocore signed it, for logs, with a body.
        let authorization = try #require(request.value(of: "authorization"))
        #expect(authorization.contains("/logs/aws4_request"))
        #expect(request.value(of: "x-amz-target") == "Logs_20140328.FilterLogEvents")
        #expect(!body.isEmpty)
        let now = AmzDate.parse(try #require(request.value(of: "x-amz-date")))!
        let verified = try verifier.verify(request, now: now, secret: lookup)
        #expect(verified.accessKeyId == key)
        #expect(verified.region == "eu-west-1")
        // And the verifier is not accepting anything: one byte of the body changed is refused.
        var tampered = request
        var b = Array(body)
        b[b.count - 2] = UInt8(ascii: "6")
        tampered.payload = .bytes(b)
        #expect(failure(tampered, now: now)?.code == .signatureMismatch)
    }

    @Test func botocoreReproducesTrailwatchsSignature() throws {
        for (path, query, body) in [
            ("/", "", #"{"logGroupNamePrefix":"aws-cloudtrail-logs-"}"#), ("/a%20b/./c//d", "b=2&a=1&c=%E1%88%B4", ""),
        ] {
            var r = logsRequest(body: body)
            r.path = path
            r.query = query
            let signer = SigV4Signer(credentials: .init(accessKeyId: key, secretAccessKey: secret), region: "eu-west-1", service: "logs")
            let s = signer.sign(r, at: signedAt)
            let spec: [String: Any] = [
                "method": "POST", "url": "http://127.0.0.1:8440" + path + (query.isEmpty ? "" : "?" + query),
                "headers": r.headers.map { [$0.name, $0.value] }, "body": Data(body.utf8).base64EncodedString(),
                "key": key, "secret": secret, "region": "eu-west-1", "service": "logs", "timestamp": AmzDate.format(signedAt),
            ]
            let input = tempDir("sigv4") + "/spec.json"
            try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: input))
            let out = try commandOutput(["sh", "-c", "python3 \"$0\" < \"$1\"", interop + "/botocore_verify.py", input])
            let theirs = try #require(try JSONSerialization.jsonObject(with: out) as? [String: String])
            #expect(theirs["canonicalRequest"] == s.canonicalRequest, "\(path)?\(query)")
            #expect(theirs["authorization"] == s.authorization, "\(path)?\(query)")
        }
    }
}
