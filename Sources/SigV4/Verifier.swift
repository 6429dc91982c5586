import Crypto
import Synchronization

/// Why a request's signature was refused: a code for programs and logs, and the error type and
/// message AWS gives for the same fault, so `aws` and boto3 show what they show against AWS.
package struct SigV4Failure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The fault.
    package enum Code: String, Sendable, CaseIterable {
        /// No `Authorization` header and no `X-Amz-*` query parameters.
        case missingAuthentication = "missing-authentication"
        /// The signature's parts are missing, malformed, or over the limits.
        case incompleteSignature = "incomplete-signature"
        /// The access key id is unknown (or a session token was sent: trailwatch issues none).
        case unrecognizedClient = "unrecognized-client"
        /// The signature does not match the request (wrong secret, changed body or signed header).
        case signatureMismatch = "signature-mismatch"
        /// `x-amz-content-sha256` does not match the body, or declares it unsigned.
        case contentHashMismatch = "content-hash-mismatch"
        /// The credential scope names another service, terminator or day.
        case wrongScope = "wrong-scope"
        /// Signed too long ago (more than the allowed skew, or past `X-Amz-Expires`).
        case signatureExpired = "signature-expired"
        /// Signed too far in the future.
        case signatureNotYetCurrent = "signature-not-yet-current"

        /// The error type AWS's JSON protocols put in `__type`.
        package var awsType: String {
            switch self {
            case .missingAuthentication: return "MissingAuthenticationTokenException"
            case .incompleteSignature: return "IncompleteSignatureException"
            case .unrecognizedClient: return "UnrecognizedClientException"
            case .signatureMismatch, .contentHashMismatch, .wrongScope, .signatureExpired, .signatureNotYetCurrent:
                return "InvalidSignatureException"
            }
        }
    }

    /// The fault.
    package var code: Code
    /// AWS's message for the fault.
    package var message: String
    /// The access key id the request claimed, when it got as far as naming one (for the log).
    package var accessKeyId: String?

    /// A failure with its message.
    package init(_ code: Code, _ message: String, accessKeyId: String? = nil) {
        self.code = code
        self.message = message
        self.accessKeyId = accessKeyId
    }

    /// The error type AWS's JSON protocols put in `__type`.
    package var awsType: String { code.awsType }
    /// The HTTP status AWS's JSON protocol services answer these with.
    package var httpStatus: Int { 400 }
    /// `Type: message`, as the CLI shows it.
    package var description: String { "\(awsType): \(message)" }

    static let mismatchMessage =
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
}

/// Who a verified request came from.
package struct SigV4Verified: Sendable, Equatable {
    /// The access key id that signed it.
    package var accessKeyId: String
    /// The region the client named in its credential scope.
    package var region: String
    /// When it was signed (epoch seconds).
    package var signedAt: Int64
    /// Signed in the query string rather than the `Authorization` header.
    package var presigned: Bool

    /// A verified caller.
    package init(accessKeyId: String, region: String, signedAt: Int64, presigned: Bool) {
        self.accessKeyId = accessKeyId
        self.region = region
        self.signedAt = signedAt
        self.presigned = presigned
    }
}

/// Bounds on what the verifier reads of a request, so a hostile one costs little and is refused
/// with a clear message.
package struct SigV4Limits: Sendable, Equatable {
    /// Bytes of the `Authorization` header.
    package var authorizationLength = 4096
    /// Names in `SignedHeaders`.
    package var signedHeaders = 32
    /// Bytes of all signed headers' values together.
    package var signedHeaderBytes = 16384
    /// Bytes of the path.
    package var pathLength = 4096
    /// Bytes of the query string.
    package var queryLength = 16384

    /// The defaults.
    package init() {}
}

/// Verifies AWS Signature Version 4 on incoming requests, header or query-string form, the way AWS
/// does: scope, clock skew, key, body hash, then the signature (compared in constant time).
package struct SigV4Verifier: Sendable {
    /// The service the credential scope must name.
    package var service: String
    /// How far the signing time may be from now, in seconds (AWS: 5 minutes).
    package var maxSkew: Int64
    /// How the path is canonicalised.
    package var pathRule: SigV4PathRule
    /// What the verifier reads at most.
    package var limits: SigV4Limits
    /// Accept `x-amz-content-sha256: UNSIGNED-PAYLOAD` (S3 does; CloudWatch Logs signs bodies).
    package var allowsUnsignedPayload: Bool
    /// Signing keys derived so far (shared by the verifier's copies).
    private let signingKeys = SigningKeys()

    /// A verifier for `service` (CloudWatch Logs is `logs`).
    package init(
        service: String = "logs", maxSkew: Int64 = 300, pathRule: SigV4PathRule = .standard, limits: SigV4Limits = SigV4Limits(),
        allowsUnsignedPayload: Bool = false
    ) {
        self.service = service
        self.maxSkew = maxSkew
        self.pathRule = pathRule
        self.limits = limits
        self.allowsUnsignedPayload = allowsUnsignedPayload
    }

    /// The longest presigned validity AWS accepts: 7 days.
    package static let maxExpires = 604_800

    /// The parts a signature names, from either form.
    private struct Claim {
        var accessKeyId: String
        var date: String
        var region: String
        var service: String
        var terminator: String
        var signedHeaders: [String]
        var signature: String
        var timestamp: String
        var signedAt: Int64
        var expires: Int?
    }

    /// Checks `request`'s signature at `now` (epoch seconds), finding secrets with `secret` (access
    /// key id → secret, nil when unknown); returns who signed it.
    package func verify(_ request: SigV4Request, now: Int64, secret: (String) -> String?) throws(SigV4Failure) -> SigV4Verified {
        guard request.path.utf8.count <= limits.pathLength else {
            throw SigV4Failure(.incompleteSignature, "The request path is longer than \(limits.pathLength) bytes.")
        }
        guard request.query.utf8.count <= limits.queryLength else {
            throw SigV4Failure(.incompleteSignature, "The query string is longer than \(limits.queryLength) bytes.")
        }
        let authorizations = request.values(of: "authorization")
        let params = queryParameters(request.query)
        let presigned = params["X-Amz-Algorithm"] != nil || params["X-Amz-Signature"] != nil || params["X-Amz-Credential"] != nil
        if authorizations.isEmpty && !presigned { throw SigV4Failure(.missingAuthentication, "Missing Authentication Token") }
        if !authorizations.isEmpty && presigned {
            throw SigV4Failure(
                .incompleteSignature,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
        }
        let claim = try presigned ? parseQuery(params, request) : parseHeader(authorizations, request)
        let key = claim.accessKeyId

        try checkSignedHeaders(claim, request, presigned: presigned)
        guard claim.terminator == SigV4Canonical.terminator else {
            throw SigV4Failure(.wrongScope, "Credential should be scoped with a valid terminator: 'aws4_request', not '\(claim.terminator)'. ", accessKeyId: key)
        }
        guard claim.service == service else {
            throw SigV4Failure(.wrongScope, "Credential should be scoped to correct service: '\(service)'. ", accessKeyId: key)
        }
        guard !claim.region.isEmpty else {
            throw SigV4Failure(.wrongScope, "Credential should be scoped to a valid region. ", accessKeyId: key)
        }
        guard claim.date == String(claim.timestamp.prefix(8)) else {
            throw SigV4Failure(
                .wrongScope,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(claim.date)' != '\(claim.timestamp.prefix(8))', from '\(claim.timestamp)'.",
                accessKeyId: key)
        }
        try checkTime(claim, now: now)
        if !request.values(of: "x-amz-security-token").isEmpty || params["X-Amz-Security-Token"] != nil {
            throw SigV4Failure(.unrecognizedClient, "The security token included in the request is invalid.", accessKeyId: key)
        }
        guard let secretKey = secret(key) else {
            throw SigV4Failure(.unrecognizedClient, "The security token included in the request is invalid.", accessKeyId: key)
        }
        let payloadHash = try checkPayload(request, accessKeyId: key)

        let canonical = SigV4Canonical.canonicalRequest(
            request, signedHeaders: claim.signedHeaders, rule: pathRule, excludingQuery: presigned ? ["X-Amz-Signature"] : [],
            payloadHash: payloadHash)
        let scope = SigV4Canonical.scope(date: claim.date, region: claim.region, service: claim.service)
        let sts = SigV4Canonical.stringToSign(timestamp: claim.timestamp, scope: scope, canonicalRequest: canonical)
        let signingKey = signingKeys.key(secret: secretKey, date: claim.date, region: claim.region, service: claim.service)
        let expected = SigV4Canonical.signature(sts, key: signingKey)
        guard SigV4Canonical.constantTimeEqual(expected, claim.signature) else {
            throw SigV4Failure(.signatureMismatch, SigV4Failure.mismatchMessage, accessKeyId: key)
        }
        return SigV4Verified(accessKeyId: key, region: claim.region, signedAt: claim.signedAt, presigned: presigned)
    }

    /// The query's parameters by decoded name, first value; only the `X-Amz-*` ones matter here.
    private func queryParameters(_ query: String) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let eq = part.firstIndex(of: "=") ?? part.endIndex
            let name = String(decoding: SigV4Canonical.percentDecode(part[..<eq]), as: UTF8.self)
            guard name.hasPrefix("X-Amz-") else { continue }
            let value = eq == part.endIndex ? "" : String(decoding: SigV4Canonical.percentDecode(part[part.index(after: eq)...]), as: UTF8.self)
            out[name, default: []].append(value)
        }
        return out
    }

    private func parseHeader(_ values: [String], _ request: SigV4Request) throws(SigV4Failure) -> Claim {
        guard values.count == 1 else { throw SigV4Failure(.incompleteSignature, "The request has more than one Authorization header.") }
        let header = values[0]
        guard header.utf8.count <= limits.authorizationLength else {
            throw SigV4Failure(.incompleteSignature, "The Authorization header is longer than \(limits.authorizationLength) bytes.")
        }
        var fields: [String: String] = [:]
        let prefix = SigV4Canonical.algorithm + " "
        if header.hasPrefix(prefix) {
            for raw in header.dropFirst(prefix.count).split(separator: ",") {
                let part = raw.trimmingSpaces
                if part.isEmpty { continue }
                guard let eq = part.firstIndex(of: "=") else {
                    throw SigV4Failure(
                        .incompleteSignature, "'\(part)' not a valid key=value pair (missing equal-sign) in Authorization header: '\(header)'.")
                }
                let name = String(part[..<eq])
                guard fields[name] == nil else {
                    throw SigV4Failure(.incompleteSignature, "'\(name)' appears more than once in Authorization header: '\(header)'.")
                }
                fields[name] = String(part[part.index(after: eq)...])
            }
        }
        let date = request.value(of: "x-amz-date") ?? request.value(of: "date")
        var missing: [String] = []
        for name in ["Credential", "Signature", "SignedHeaders"] where fields[name] == nil {
            missing.append("Authorization header requires '\(name)' parameter.")
        }
        if date == nil { missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.") }
        guard missing.isEmpty, let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"],
            let date
        else {
            throw SigV4Failure(.incompleteSignature, missing.joined(separator: " ") + " Authorization=\(header)")
        }
        let signedAt: Int64
        let timestamp: String
        if let amz = request.value(of: "x-amz-date") {
            guard let t = AmzDate.parse(amz) else {
                throw SigV4Failure(.incompleteSignature, "X-Amz-Date must be in ISO-8601 basic format (20150830T123600Z); got '\(amz)'.")
            }
            (signedAt, timestamp) = (t, amz)
        } else {
            guard let t = AmzDate.parseHTTPDate(date) else {
                throw SigV4Failure(.incompleteSignature, "Date must be an HTTP date (Sun, 30 Aug 2015 12:36:00 GMT); got '\(date)'.")
            }
            (signedAt, timestamp) = (t, AmzDate.format(t))
        }
        return try claim(credential: credential, signedHeaders: signed, signature: signature, timestamp: timestamp, signedAt: signedAt, expires: nil)
    }

    private func parseQuery(_ params: [String: [String]], _ request: SigV4Request) throws(SigV4Failure) -> Claim {
        var one: [String: String] = [:]
        for name in ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"] {
            guard let values = params[name] else {
                throw SigV4Failure(.incompleteSignature, "AWS query-string parameters must include '\(name)'. Re-examine the query-string parameters.")
            }
            guard values.count == 1 else { throw SigV4Failure(.incompleteSignature, "The query-string parameter '\(name)' appears more than once.") }
            one[name] = values[0]
        }
        guard one["X-Amz-Algorithm"] == SigV4Canonical.algorithm else {
            throw SigV4Failure(.incompleteSignature, "X-Amz-Algorithm only supports \"\(SigV4Canonical.algorithm)\".")
        }
        let timestamp = one["X-Amz-Date"]!
        guard let signedAt = AmzDate.parse(timestamp) else {
            throw SigV4Failure(.incompleteSignature, "X-Amz-Date must be in ISO-8601 basic format (20150830T123600Z); got '\(timestamp)'.")
        }
        guard let expires = Int(one["X-Amz-Expires"]!), expires >= 1, expires <= Self.maxExpires else {
            throw SigV4Failure(.incompleteSignature, "X-Amz-Expires must be a number of seconds from 1 to \(Self.maxExpires); got '\(one["X-Amz-Expires"]!)'.")
        }
        return try claim(
            credential: one["X-Amz-Credential"]!, signedHeaders: one["X-Amz-SignedHeaders"]!, signature: one["X-Amz-Signature"]!,
            timestamp: timestamp, signedAt: signedAt, expires: expires)
    }

    private func claim(
        credential: String, signedHeaders: String, signature: String, timestamp: String, signedAt: Int64, expires: Int?
    ) throws(SigV4Failure) -> Claim {
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false)
        guard scope.count == 5, !scope[0].isEmpty else {
            throw SigV4Failure(
                .incompleteSignature,
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '\(credential)'.")
        }
        let names = signedHeaders.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        guard names.count <= limits.signedHeaders else {
            throw SigV4Failure(.incompleteSignature, "SignedHeaders names more than \(limits.signedHeaders) headers.", accessKeyId: String(scope[0]))
        }
        return Claim(
            accessKeyId: String(scope[0]), date: String(scope[1]), region: String(scope[2]), service: String(scope[3]), terminator: String(scope[4]),
            signedHeaders: names, signature: signature, timestamp: timestamp, signedAt: signedAt, expires: expires)
    }

    /// Names lowercase header tokens, once each, `host` among them, not `authorization`; values within bounds.
    private func checkSignedHeaders(_ claim: Claim, _ request: SigV4Request, presigned: Bool) throws(SigV4Failure) {
        let key = claim.accessKeyId
        var seen: Set<String> = []
        for name in claim.signedHeaders {
            let valid = !name.isEmpty && name.utf8.allSatisfy { b in
                (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) || "!#$%&'*+-.^_`|~".utf8.contains(b)
            }
            guard valid, seen.insert(name).inserted else {
                throw SigV4Failure(.incompleteSignature, "SignedHeaders must list lowercase header names once each, separated by ';'; got '\(claim.signedHeaders.joined(separator: ";"))'.", accessKeyId: key)
            }
        }
        guard seen.contains("host") else {
            throw SigV4Failure(.incompleteSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", accessKeyId: key)
        }
        guard !seen.contains("authorization") else {
            throw SigV4Failure(.incompleteSignature, "'Authorization' cannot be a 'SignedHeader'.", accessKeyId: key)
        }
        var bytes = 0
        for h in request.headers where seen.contains(h.name.lowercased()) { bytes += h.value.utf8.count }
        guard bytes <= limits.signedHeaderBytes else {
            throw SigV4Failure(.incompleteSignature, "The signed headers' values are longer than \(limits.signedHeaderBytes) bytes together.", accessKeyId: key)
        }
    }

    private func checkTime(_ claim: Claim, now: Int64) throws(SigV4Failure) {
        let key = claim.accessKeyId
        let window = claim.expires.map(Int64.init) ?? maxSkew
        let unit = claim.expires == nil && maxSkew % 60 == 0 ? "\(maxSkew / 60) min." : "\(window) sec."
        if claim.signedAt < now - window {
            throw SigV4Failure(
                .signatureExpired,
                "Signature expired: \(claim.timestamp) is now earlier than \(AmzDate.format(now - window)) (\(AmzDate.format(now)) - \(unit))", accessKeyId: key)
        }
        if claim.signedAt > now + maxSkew {
            let unit = maxSkew % 60 == 0 ? "\(maxSkew / 60) min." : "\(maxSkew) sec."
            throw SigV4Failure(
                .signatureNotYetCurrent,
                "Signature not yet current: \(claim.timestamp) is still later than \(AmzDate.format(now + maxSkew)) (\(AmzDate.format(now)) + \(unit))",
                accessKeyId: key)
        }
    }

    /// The payload hash to sign with, after checking a declared `x-amz-content-sha256` against the body.
    private func checkPayload(_ request: SigV4Request, accessKeyId: String) throws(SigV4Failure) -> String {
        let declared = request.values(of: "x-amz-content-sha256")
        guard declared.count <= 1 else {
            throw SigV4Failure(.contentHashMismatch, "The request has more than one 'x-amz-content-sha256' header.", accessKeyId: accessKeyId)
        }
        let actual: String
        switch request.payload {
        case .bytes(let b): actual = b.isEmpty ? SigV4Canonical.emptyHash : SigV4Canonical.sha256Hex(b)
        case .hash(let h): actual = h.lowercased()
        }
        guard let value = declared.first else { return actual }
        if value == "UNSIGNED-PAYLOAD" {
            guard allowsUnsignedPayload else {
                throw SigV4Failure(.contentHashMismatch, "An unsigned payload is not accepted: sign the body.", accessKeyId: accessKeyId)
            }
            return value
        }
        guard SigV4Canonical.constantTimeEqual(value.lowercased(), actual) else {
            throw SigV4Failure(
                .contentHashMismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.", accessKeyId: accessKeyId)
        }
        return value
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}

/// Signing keys already derived, by secret and scope (date, region, service): a client's key
/// changes once a day, and deriving it is four HMACs a request. Keyed by the secret itself, so a
/// key id given a new secret never meets the old key. At most 1,024 kept (then all dropped).
final class SigningKeys: Sendable {
    private let keys = Mutex<[String: SymmetricKey]>([:])

    /// The key for this secret and scope, derived once.
    func key(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        let id = [secret, date, region, service].joined(separator: "\u{0}")
        if let k = keys.withLock({ $0[id] }) { return k }
        let k = SigV4Canonical.signingKey(secret: secret, date: date, region: region, service: service)
        keys.withLock { keys in
            if keys.count >= 1024 { keys.removeAll() }
            keys[id] = k
        }
        return k
    }
}
