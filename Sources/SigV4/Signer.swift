/// An access key: its id, its secret, and a session token for temporary credentials.
package struct SigV4Credentials: Sendable, Equatable {
    /// The key id, sent in the credential scope.
    package var accessKeyId: String
    /// The secret, never sent.
    package var secretAccessKey: String
    /// A temporary credential's token, sent as `X-Amz-Security-Token`.
    package var sessionToken: String?

    /// Credentials from their parts.
    package init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// A signed request with every intermediate value, so tests can compare each with a reference.
package struct SigV4Signed: Sendable, Equatable {
    /// The request as it is to be sent: `X-Amz-Date` (and the token) set, and either an
    /// `Authorization` header or, presigned, the `X-Amz-*` query parameters.
    package var request: SigV4Request
    /// The canonical request that was hashed.
    package var canonicalRequest: String
    /// The string the signing key signed.
    package var stringToSign: String
    /// Lowercase hex.
    package var signature: String
    /// The `Authorization` header's value (also computed for a presigned request, which does not send it).
    package var authorization: String
}

/// Signs requests with AWS Signature Version 4, in the `Authorization` header or as a presigned
/// query string: the same canonicalisation the verifier uses, for trailwatch's own calls to AWS.
package struct SigV4Signer: Sendable {
    /// Headers never signed: hop-by-hop headers a proxy may change, and the ones botocore leaves
    /// out too (`user-agent`, `x-amzn-trace-id`), so a signature survives them.
    package static let unsignedHeaders: Set<String> = [
        "authorization", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
    ]

    /// Whose key signs.
    package var credentials: SigV4Credentials
    /// The region of the credential scope.
    package var region: String
    /// The service of the credential scope (`logs`).
    package var service: String
    /// How the path is canonicalised.
    package var pathRule: SigV4PathRule
    /// Sends `x-amz-content-sha256` with the body's hash (S3 wants it; others accept it).
    package var sendsContentHash: Bool

    /// A signer for `service` in `region`.
    package init(
        credentials: SigV4Credentials, region: String, service: String, pathRule: SigV4PathRule = .standard, sendsContentHash: Bool = false
    ) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.pathRule = pathRule
        self.sendsContentHash = sendsContentHash
    }

    /// Signs `request` at `time` (epoch seconds) with an `Authorization` header. It must carry a
    /// `Host` header; every header present is signed but `unsignedHeaders`. A previous
    /// `Authorization`, `X-Amz-Date` and token are replaced.
    package func sign(_ request: SigV4Request, at time: Int64) -> SigV4Signed {
        var r = request
        let timestamp = AmzDate.format(time)
        r.removeHeader("authorization")
        r.setHeader("X-Amz-Date", timestamp)
        if let token = credentials.sessionToken { r.setHeader("X-Amz-Security-Token", token) }
        if sendsContentHash { r.setHeader("X-Amz-Content-SHA256", SigV4Canonical.payloadHash(request.removingContentHash)) }
        let signed = signedHeaderNames(r)
        var out = compute(r, signedHeaders: signed, timestamp: timestamp, excludingQuery: [])
        out.request.headers.append(.init("Authorization", out.authorization))
        return out
    }

    /// Presigns `request` at `time` for `expires` seconds: the `X-Amz-*` parameters are appended to
    /// its query (after the request's own) and `X-Amz-Signature` last, as botocore does.
    package func presign(_ request: SigV4Request, at time: Int64, expires: Int) -> SigV4Signed {
        var r = request
        r.removeHeader("authorization")
        r.removeHeader("x-amz-date")
        let timestamp = AmzDate.format(time)
        let signed = signedHeaderNames(r)
        var params = [
            ("X-Amz-Algorithm", SigV4Canonical.algorithm),
            ("X-Amz-Credential", credentials.accessKeyId + "/" + SigV4Canonical.scope(date: String(timestamp.prefix(8)), region: region, service: service)),
            ("X-Amz-Date", timestamp),
            ("X-Amz-Expires", String(expires)),
            ("X-Amz-SignedHeaders", signed.joined(separator: ";")),
        ]
        if let token = credentials.sessionToken { params.append(("X-Amz-Security-Token", token)) }
        let added = params.map { SigV4Canonical.uriEncode($0.0.utf8) + "=" + SigV4Canonical.uriEncode($0.1.utf8) }.joined(separator: "&")
        r.query = r.query.isEmpty ? added : r.query + "&" + added
        var out = compute(r, signedHeaders: signed, timestamp: timestamp, excludingQuery: ["X-Amz-Signature"])
        out.request.query += "&X-Amz-Signature=" + out.signature
        return out
    }

    /// The lowercase names of the headers to sign, sorted, without duplicates.
    func signedHeaderNames(_ r: SigV4Request) -> [String] {
        Array(Set(r.headers.map { $0.name.lowercased() }).subtracting(Self.unsignedHeaders)).sorted {
            $0.utf8.lexicographicallyPrecedes($1.utf8)
        }
    }

    private func compute(_ r: SigV4Request, signedHeaders: [String], timestamp: String, excludingQuery: Set<String>) -> SigV4Signed {
        let date = String(timestamp.prefix(8))
        let canonical = SigV4Canonical.canonicalRequest(
            r, signedHeaders: signedHeaders, rule: pathRule, excludingQuery: excludingQuery, payloadHash: SigV4Canonical.payloadHash(r))
        let scope = SigV4Canonical.scope(date: date, region: region, service: service)
        let sts = SigV4Canonical.stringToSign(timestamp: timestamp, scope: scope, canonicalRequest: canonical)
        let key = SigV4Canonical.signingKey(secret: credentials.secretAccessKey, date: date, region: region, service: service)
        let signature = SigV4Canonical.signature(sts, key: key)
        let authorization =
            "\(SigV4Canonical.algorithm) Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"
        return SigV4Signed(request: r, canonicalRequest: canonical, stringToSign: sts, signature: signature, authorization: authorization)
    }
}

extension SigV4Request {
    /// The request without `x-amz-content-sha256`, so its payload hash is the body's own.
    var removingContentHash: SigV4Request {
        var r = self
        r.removeHeader("x-amz-content-sha256")
        return r
    }
}
