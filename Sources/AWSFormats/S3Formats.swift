import CloudTrail

/// An object as S3 describes it: one entry of a ListObjectsV2 result, or what GetObject fetched.
package struct S3Object: Sendable, Equatable {
    package var key: String
    package var size: Int64
    /// Without the surrounding quotes S3 puts around it.
    package var etag: String
    package var lastModifiedMs: Int64

    package init(key: String, size: Int64, etag: String, lastModifiedMs: Int64) {
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModifiedMs = lastModifiedMs
    }
}

/// A ListObjectsV2 result (`<ListBucketResult>`), keys decoded when the request asked for
/// `encoding-type=url` (S3 then percent-encodes keys, prefixes and StartAfter so that any byte
/// survives XML).
package struct S3ListResult: Sendable, Equatable {
    package var objects: [S3Object]
    package var commonPrefixes: [String]
    package var isTruncated: Bool
    package var nextContinuationToken: String?

    /// At most this many entries (objects plus prefixes) in one page; S3 sends up to 1,000.
    package static let maxEntries = 10_000

    package static func parse(_ body: [UInt8], urlEncoded: Bool) throws(AWSFormatError) -> S3ListResult {
        let source = "ListObjectsV2 response"
        let root = try XMLElement.parse(body, source: source)
        guard root.name == "ListBucketResult" else {
            throw AWSFormatError(.malformed, source: source, "root element <\(root.name)>, expected <ListBucketResult>")
        }
        let contents = root.all("Contents")
        let prefixes = root.all("CommonPrefixes")
        guard contents.count + prefixes.count <= maxEntries else {
            throw AWSFormatError(.tooLarge, source: source, "more than \(maxEntries) entries")
        }
        let encoded = urlEncoded || root.child("EncodingType")?.text == "url"
        func decode(_ s: String) -> String { encoded ? AWSURLEncoding.formDecode(s) : s }
        var objects: [S3Object] = []
        objects.reserveCapacity(contents.count)
        for c in contents {
            guard let key = c.child("Key")?.text, !key.isEmpty else { throw AWSFormatError(.malformed, source: source, "<Contents> without <Key>") }
            guard let sizeText = c.child("Size")?.text, let size = Int64(sizeText), size >= 0 else {
                throw AWSFormatError(.malformed, source: source, "<Contents> of \(key) without a valid <Size>")
            }
            guard let lm = c.child("LastModified")?.text, let ms = Timestamp.parseISO8601(lm) else {
                throw AWSFormatError(.malformed, source: source, "<Contents> of \(key) without a valid <LastModified>")
            }
            objects.append(
                S3Object(key: decode(key), size: size, etag: unquoteETag(c.child("ETag")?.text ?? ""), lastModifiedMs: ms))
        }
        var common: [String] = []
        for p in prefixes {
            guard let text = p.child("Prefix")?.text else { throw AWSFormatError(.malformed, source: source, "<CommonPrefixes> without <Prefix>") }
            common.append(decode(text))
        }
        let truncated = root.child("IsTruncated")?.text == "true"
        let token = root.child("NextContinuationToken")?.text
        guard !truncated || (token?.isEmpty == false) else {
            throw AWSFormatError(.malformed, source: source, "IsTruncated without a NextContinuationToken")
        }
        return S3ListResult(objects: objects, commonPrefixes: common, isTruncated: truncated, nextContinuationToken: truncated ? token : nil)
    }
}

/// An error body in XML: S3's `<Error><Code>…</Code><Message>…</Message></Error>` and the query
/// protocol's `<ErrorResponse><Error><Code>…` (SQS, STS).
package struct AWSXMLErrorBody: Sendable, Equatable {
    package var code: String
    package var message: String

    package init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// The code and message, nil when `body` is not such a document.
    package static func parse(_ body: [UInt8]) -> AWSXMLErrorBody? {
        guard let root = try? XMLElement.parse(body, source: "error response") else { return nil }
        let error = root.name == "Error" ? root : root.descendant("Error")
        guard let e = error, let code = e.child("Code")?.text, !code.isEmpty else { return nil }
        return AWSXMLErrorBody(code: code, message: e.child("Message")?.text ?? "")
    }
}

/// Strips the double quotes S3 puts around an ETag (`"abc"` → `abc`).
package func unquoteETag(_ s: String) -> String {
    s.count >= 2 && s.hasPrefix("\"") && s.hasSuffix("\"") ? String(s.dropFirst().dropLast()) : s
}

/// The URL encodings S3 uses.
package enum AWSURLEncoding {
    /// Decodes `%XX` and `+` (as a space): what S3 sends with `encoding-type=url`.
    package static func formDecode(_ s: String) -> String {
        String(decoding: Base16.percentDecode(s, plusIsSpace: true) ?? [], as: UTF8.self)
    }
}
