import CloudTrail
import Crypto

/// How a service canonicalises the path: every AWS service but S3 removes dot segments and
/// repeated slashes and URI-encodes the path as sent once more (so `%20` is signed as `%2520`);
/// S3 signs the path as sent.
package struct SigV4PathRule: Sendable, Equatable {
    /// Remove `.`/`..` segments and repeated slashes.
    package var normalizes: Bool
    /// URI-encode the path as sent (its `%` become `%25`).
    package var encodes: Bool

    /// Every service but S3 (CloudWatch Logs included).
    package static let standard = SigV4PathRule(normalizes: true, encodes: true)
    /// S3: the path as sent.
    package static let s3 = SigV4PathRule(normalizes: false, encodes: false)
}

/// The pieces of SigV4's canonical request and string to sign, shared by the signer and the
/// verifier so both compute exactly the same bytes.
package enum SigV4Canonical {
    /// The algorithm name in `Authorization`, `X-Amz-Algorithm` and the string to sign.
    package static let algorithm = "AWS4-HMAC-SHA256"
    /// The credential scope's last element.
    package static let terminator = "aws4_request"
    /// The SHA-256 of no bytes, in hex.
    package static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// True for RFC 3986's unreserved characters, the only ones SigV4 leaves unencoded.
    @inline(__always) static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// Percent-encodes every byte but the unreserved ones (and `/` when `keepSlash`), upper-case hex.
    package static func uriEncode(_ bytes: some Sequence<UInt8>, keepSlash: Bool = false) -> String {
        var out: [UInt8] = []
        for b in bytes {
            if isUnreserved(b) || (keepSlash && b == UInt8(ascii: "/")) {
                out.append(b)
            } else {
                out += [UInt8(ascii: "%"), hexDigits[Int(b >> 4)], hexDigits[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` sequences; a `%` not followed by two hex digits stays as it is. `+` is a plus.
    package static func percentDecode(_ text: Substring) -> [UInt8] {
        Base16.percentDecode(text, plusIsSpace: false) ?? []
    }

    /// RFC 3986's "remove dot segments", also collapsing repeated slashes, as AWS services do;
    /// an empty path is `/`.
    package static func normalizePath(_ path: String) -> String {
        if path.isEmpty { return "/" }
        var out: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                if !out.isEmpty { out.removeLast() }
                continue
            }
            out.append(segment)
        }
        let first = path.hasPrefix("/") ? "/" : ""
        let last = path.hasSuffix("/") && !out.isEmpty ? "/" : ""
        return first + out.joined(separator: "/") + last
    }

    /// The canonical URI of a path as sent.
    package static func canonicalURI(_ path: String, rule: SigV4PathRule) -> String {
        var p = path.isEmpty ? "/" : path
        if rule.normalizes { p = normalizePath(p) }
        if rule.encodes { p = uriEncode(p.utf8, keepSlash: true) }
        return p
    }

    /// The canonical query string of a raw query: each name and value decoded then URI-encoded,
    /// sorted by name then value; parameters named in `excluding` (exact, decoded) are left out.
    package static func canonicalQuery(_ query: String, excluding: Set<String> = []) -> String {
        var pairs: [(String, String)] = []
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring
            let value: Substring
            if let eq = part.firstIndex(of: "=") {
                name = part[..<eq]
                value = part[part.index(after: eq)...]
            } else {
                name = part
                value = ""
            }
            let decodedName = percentDecode(name)
            if !excluding.isEmpty, excluding.contains(String(decoding: decodedName, as: UTF8.self)) { continue }
            pairs.append((uriEncode(decodedName), uriEncode(percentDecode(value))))
        }
        // Encoded names and values are ASCII: comparing their UTF-8 bytes is the byte order SigV4 asks for.
        pairs.sort { a, b in
            if a.0 != b.0 { return a.0.utf8.lexicographicallyPrecedes(b.0.utf8) }
            return a.1.utf8.lexicographicallyPrecedes(b.1.utf8)
        }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// A header value with leading and trailing whitespace removed and every run of whitespace
    /// inside (folded lines included) made one space.
    package static func trimAll(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    /// The canonical headers block (each `name:value` line ends with a newline) for the lowercase
    /// `signedHeaders`, values of repeated headers joined by commas in the order received.
    package static func canonicalHeaders(_ request: SigV4Request, signedHeaders: [String]) -> String {
        var out = ""
        for name in signedHeaders {
            let values = request.headers.filter { $0.name.lowercased() == name }.map { trimAll($0.value) }
            out += name + ":" + values.joined(separator: ",") + "\n"
        }
        return out
    }

    /// The hex SHA-256 of `bytes`.
    package static func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
        hex(SHA256.hash(data: Array(bytes)))
    }

    /// What the canonical request puts last: `x-amz-content-sha256` when present, else the hash of the body.
    package static func payloadHash(_ request: SigV4Request) -> String {
        if let declared = request.value(of: "x-amz-content-sha256") { return declared }
        switch request.payload {
        case .bytes(let b): return b.isEmpty ? emptyHash : sha256Hex(b)
        case .hash(let h): return h
        }
    }

    /// The canonical request: method, URI, query, headers, signed header names and payload hash.
    package static func canonicalRequest(
        _ request: SigV4Request, signedHeaders: [String], rule: SigV4PathRule, excludingQuery: Set<String> = [], payloadHash: String
    ) -> String {
        [
            request.method.uppercased(),
            canonicalURI(request.path, rule: rule),
            canonicalQuery(request.query, excluding: excludingQuery),
            canonicalHeaders(request, signedHeaders: signedHeaders),
            signedHeaders.joined(separator: ";"),
            payloadHash,
        ].joined(separator: "\n")
    }

    /// The credential scope: `date/region/service/aws4_request`.
    package static func scope(date: String, region: String, service: String) -> String {
        "\(date)/\(region)/\(service)/\(terminator)"
    }

    /// The string to sign: algorithm, timestamp, scope and the canonical request's hash.
    package static func stringToSign(timestamp: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, timestamp, scope, sha256Hex(canonicalRequest.utf8)].joined(separator: "\n")
    }

    /// The signing key: HMAC chain of the secret over date, region, service and terminator.
    package static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + secret).utf8))
        for part in [date, region, service, terminator] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// The signature of `stringToSign` under `key`, in lowercase hex.
    package static func signature(_ stringToSign: String, key: SymmetricKey) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    private static let lowerHex = Array("0123456789abcdef".utf8)

    /// Lowercase hex of any bytes.
    package static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for b in bytes { out += [lowerHex[Int(b >> 4)], lowerHex[Int(b & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compares two strings in time that depends only on their lengths, not on where they differ.
    package static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
