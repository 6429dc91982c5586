import CloudTrail

/// An S3 object an SQS message names: the bucket, the key (decoded), and what the event says of
/// its size and ETag (compared with the ledger before downloading).
package struct S3ObjectRef: Sendable, Equatable, Hashable {
    package var bucket: String
    package var key: String
    package var size: Int64?
    /// The ETag without quotes, as ``S3Notifications/normalizeETag(_:)`` gives it.
    package var etag: String?

    package init(bucket: String, key: String, size: Int64? = nil, etag: String? = nil) {
        self.bucket = bucket
        self.key = key
        self.size = size
        self.etag = etag
    }
}

/// What an SQS message body says: objects created, or nothing to do (and why).
package enum S3Notification: Sendable, Equatable {
    /// Objects created (at least one); `envelope` says how they came (for logs and counters).
    case objects([S3ObjectRef], envelope: Envelope)
    /// A message to delete without downloading anything: `s3:TestEvent`, a removal, another event type.
    case ignore(reason: String)

    /// How the S3 event reached the queue.
    package enum Envelope: String, Sendable, Equatable {
        case direct = "s3"
        case sns
        case eventBridge = "eventbridge"
    }
}

/// Why a message body is not an S3 notification this source can read.
package struct NotificationError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Code: String, Sendable {
        /// Over SQS's 256 KiB, nested deeper than any S3 event, or too many records.
        case tooLarge = "too_large"
        /// Not one JSON value (the reason names the byte).
        case notJSON = "not_json"
        /// JSON, but not shaped like any of the three envelopes, or a field of the wrong type.
        case malformed
        /// A key or bucket name that cannot name a local file (bad percent-encoding, `..`, NUL).
        case badKey = "bad_key"
    }
    package var code: Code
    package var message: String
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    package var description: String { "\(code.rawValue): \(message)" }
}

/// Parses SQS message bodies carrying S3 "object created" notifications, in the three shapes AWS
/// delivers them: an S3 event (`Records[]`), an SNS envelope around one (`Type: Notification`,
/// `Message` the event as a string) and an EventBridge event (`source: aws.s3`).
///
/// Pure (no I/O) and bounded, so that a hostile or broken message costs a log line, never the daemon.
package enum S3Notifications {
    /// SQS's largest message body.
    package static let maxBodyBytes = 256 * 1024
    /// Deeper than any of the three shapes (an S3 event is 5 levels deep).
    package static let maxDepth = 16
    /// S3 puts one record in a message; more than this is not an S3 event.
    package static let maxRecords = 1000

    /// Parses `body` (see the type's description). Throws for a body that is not one of the shapes.
    package static func parse(_ body: [UInt8]) throws(NotificationError) -> S3Notification {
        try parse(body, allowSNS: true)
    }

    /// Parses a String body (SQS bodies are UTF-8 text).
    package static func parse(_ body: String) throws(NotificationError) -> S3Notification {
        try parse(Array(body.utf8))
    }

    private static func parse(_ body: [UInt8], allowSNS: Bool) throws(NotificationError) -> S3Notification {
        guard body.count <= maxBodyBytes else {
            throw NotificationError(.tooLarge, "body of \(body.count) bytes exceeds SQS's \(maxBodyBytes)")
        }
        if let depth = nestingOver(body, maxDepth) {
            throw NotificationError(.tooLarge, "nested deeper than \(maxDepth) levels (at byte \(depth))")
        }
        let check = JSONCheck.check(body)
        if let problem = check.problem { throw NotificationError(.notJSON, "not JSON: \(problem)") }
        let parsed: Result<Parsed, NotificationError> = RawJSON.with(body) { json in
            do throws(NotificationError) { return .success(try shape(json, allowSNS: allowSNS)) } catch { return .failure(error) }
        }
        switch parsed {
        case .success(.done(let n)): return n
        case .success(.sns(let inner)):
            do { return try parse(Array(inner.utf8), allowSNS: false).via(.sns) } catch {
                throw NotificationError(error.code, "in the SNS Message: \(error.message)")
            }
        case .failure(let e): throw e
        }
    }

    private enum Parsed {
        case done(S3Notification)
        case sns(String)
    }

    private static func shape(_ json: RawJSON, allowSNS: Bool) throws(NotificationError) -> Parsed {
        guard case .object? = json.root else { throw NotificationError(.malformed, "not a JSON object") }
        let top = json.topLevel(["Records", "Event", "Type", "Message", "source", "detail-type", "detail"].map { Array($0.utf8) }) ?? []
        func at(_ i: Int) -> RawJSON.Value? { i < top.count ? top[i] : nil }
        if let records = at(0) {
            guard case .array(let r) = records else { throw NotificationError(.malformed, "Records is not an array") }
            return .done(try s3Records(json, r))
        }
        if let event = json.string(at(1)) {
            // {"Service":"Amazon S3","Event":"s3:TestEvent",...}: sent once when notifications are set up.
            return .done(.ignore(reason: "S3 \(event)"))
        }
        if let type = json.string(at(2)) {
            guard allowSNS else { throw NotificationError(.malformed, "an SNS envelope inside an SNS envelope") }
            guard type == "Notification" else { return .done(.ignore(reason: "SNS \(type)")) }
            guard let message = json.string(at(3)) else { throw NotificationError(.malformed, "SNS notification without a string Message") }
            return .sns(message)
        }
        if let source = json.string(at(4)) {
            guard source == "aws.s3" else { return .done(.ignore(reason: "EventBridge event from \(source)")) }
            guard let detailType = json.string(at(5)) else { throw NotificationError(.malformed, "EventBridge event without detail-type") }
            guard detailType == "Object Created" else { return .done(.ignore(reason: "EventBridge \(detailType)")) }
            guard case .object? = at(6) else { throw NotificationError(.malformed, "EventBridge event without a detail object") }
            let bucket = json.lookup([.key("detail"), .key("bucket"), .key("name")])
            let key = json.lookup([.key("detail"), .key("object"), .key("key")])
            guard let b = json.string(bucket), let k = json.string(key) else {
                throw NotificationError(.malformed, "EventBridge Object Created without detail.bucket.name and detail.object.key")
            }
            let size = try int64(json, json.lookup([.key("detail"), .key("object"), .key("size")]), "detail.object.size")
            let etag = json.string(json.lookup([.key("detail"), .key("object"), .key("etag")]))
            let ref = try objectRef(bucket: b, key: k, size: size, etag: etag)
            return .done(.objects([ref], envelope: .eventBridge))
        }
        throw NotificationError(.malformed, "neither an S3 event (Records), an SNS notification (Type) nor an EventBridge event (source)")
    }

    private static func s3Records(_ json: RawJSON, _ records: Range<Int>) throws(NotificationError) -> S3Notification {
        var refs: [S3ObjectRef] = []
        var ignored: [String] = []
        var count = 0
        var failure: NotificationError? = nil
        json.forEachElement(of: records) { record in
            guard failure == nil else { return }
            count += 1
            guard count <= maxRecords else {
                failure = NotificationError(.tooLarge, "more than \(maxRecords) records")
                return
            }
            guard case .object(let r) = record else {
                failure = NotificationError(.malformed, "record \(count) is not an object")
                return
            }
            let sub = RawJSON(json.slice(r))
            let name = sub.string(sub.lookup([.key("eventName")])) ?? ""
            guard name.hasPrefix("ObjectCreated:") else {
                ignored.append(name.isEmpty ? "record without eventName" : name)
                return
            }
            do throws(NotificationError) {
                guard let b = sub.string(sub.lookup([.key("s3"), .key("bucket"), .key("name")])),
                    let k = sub.string(sub.lookup([.key("s3"), .key("object"), .key("key")]))
                else { throw NotificationError(.malformed, "record \(count) (\(name)) without s3.bucket.name and s3.object.key") }
                let size = try int64(sub, sub.lookup([.key("s3"), .key("object"), .key("size")]), "s3.object.size")
                let etag = sub.string(sub.lookup([.key("s3"), .key("object"), .key("eTag")]))
                refs.append(try objectRef(bucket: b, key: try decodeKey(k), size: size, etag: etag))
            } catch { failure = error }
        }
        if let failure { throw failure }
        if refs.isEmpty {
            return .ignore(reason: ignored.isEmpty ? "S3 event with no records" : "S3 event " + Set(ignored).sorted().joined(separator: ", "))
        }
        return .objects(refs, envelope: .direct)
    }

    private static func int64(_ json: RawJSON, _ v: RawJSON.Value?, _ field: String) throws(NotificationError) -> Int64? {
        guard let v else { return nil }
        guard case .number(let r) = v, let n = Int64(String(decoding: json.slice(r), as: UTF8.self)), n >= 0 else {
            throw NotificationError(.malformed, "\(field) is not a non-negative integer")
        }
        return n
    }

    private static func objectRef(bucket: String, key: String, size: Int64?, etag: String?) throws(NotificationError) -> S3ObjectRef {
        guard isValidBucketName(bucket) else { throw NotificationError(.badKey, "'\(bucket)' is not an S3 bucket name") }
        guard isSafeKey(key) else { throw NotificationError(.badKey, "key '\(key)' cannot name a local file (empty, absolute, '.', '..' or NUL)") }
        return S3ObjectRef(bucket: bucket, key: key, size: size, etag: etag.map(normalizeETag))
    }

    // MARK: Keys

    /// Decodes a key as S3 event notifications write it: URL-encoded, `+` for a space.
    package static func decodeKey(_ encoded: String) throws(NotificationError) -> String {
        guard let out = Base16.percentDecode(encoded, plusIsSpace: true, strict: true) else {
            throw NotificationError(.badKey, "key '\(encoded)' has a '%' not followed by two hex digits")
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            throw NotificationError(.badKey, "key '\(encoded)' decodes to bytes that are not UTF-8")
        }
        return s
    }

    /// True when `key` can name a file under a local folder: relative, no empty, `.` or `..`
    /// component, no NUL, at most 1024 bytes (S3's own limit).
    package static func isSafeKey(_ key: String) -> Bool {
        guard !key.isEmpty, key.utf8.count <= 1024, !key.utf8.contains(0) else { return false }
        return key.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    /// True for an S3 bucket name (3 to 63 of `a-z 0-9 . -`, starting and ending with a letter or
    /// digit): it becomes a local folder name.
    package static func isValidBucketName(_ name: String) -> Bool {
        let b = Array(name.utf8)
        guard (3...63).contains(b.count) else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        guard alnum(b[0]), alnum(b[b.count - 1]) else { return false }
        return b.allSatisfy { alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") } && !name.contains("..")
    }

    /// An ETag without the quotes S3 puts around it in listings and headers (events have none).
    package static func normalizeETag(_ etag: String) -> String {
        var s = Substring(etag)
        if s.hasPrefix("W/") { s = s.dropFirst(2) }
        if s.count >= 2, s.hasPrefix("\""), s.hasSuffix("\"") { s = s.dropFirst().dropLast() }
        return String(s)
    }

    /// The offset where nesting first exceeds `limit` (strings skipped), or nil.
    static func nestingOver(_ body: [UInt8], _ limit: Int) -> Int? {
        var depth = 0
        var i = 0
        let n = body.count
        while i < n {
            let b = body[i]
            if b == 0x22 {
                i += 1
                while i < n, body[i] != 0x22 { i += body[i] == 0x5C ? 2 : 1 }
            } else if b == 0x7B || b == 0x5B {
                depth += 1
                if depth > limit { return i }
            } else if b == 0x7D || b == 0x5D {
                depth -= 1
            }
            i += 1
        }
        return nil
    }
}

extension S3Notification {
    fileprivate func via(_ envelope: Envelope) -> S3Notification {
        if case .objects(let refs, _) = self { return .objects(refs, envelope: envelope) }
        return self
    }
}
