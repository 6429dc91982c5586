import CloudTrail
import Foundation

/// An AWS JSON-protocol error (`{"__type": "…#Name", "message": "…"}`): the type with any
/// `namespace#` prefix and `:detail` suffix removed, and the message (`message` or `Message`).
package struct AWSJSONErrorBody: Sendable, Equatable {
    package var type: String
    package var message: String

    package init(type: String, message: String) {
        self.type = type
        self.message = message
    }

    private struct Wire: Decodable {
        var __type: String?
        var message: String?
        var Message: String?
    }

    /// The type and message, nil when `body` is not such an object.
    package static func parse(_ body: [UInt8]) -> AWSJSONErrorBody? {
        guard let w = try? JSONDecoder().decode(Wire.self, from: Data(body)), let t = w.__type else { return nil }
        return AWSJSONErrorBody(type: shortType(t), message: w.message ?? w.Message ?? "")
    }

    /// `com.amazonaws.logs#ResourceNotFoundException` → `ResourceNotFoundException`; also drops a
    /// `:http://internal…` suffix (the `x-amzn-ErrorType` header's form).
    package static func shortType(_ t: String) -> String {
        var s = Substring(t)
        if let hash = s.lastIndex(of: "#") { s = s[s.index(after: hash)...] }
        if let colon = s.firstIndex(of: ":") { s = s[..<colon] }
        return String(s)
    }
}

/// The credentials the EC2 instance metadata service hands out for a role
/// (`/latest/meta-data/iam/security-credentials/<role>`).
package struct IMDSCredentials: Sendable, Equatable {
    package var accessKeyId: String
    package var secretAccessKey: String
    package var token: String
    package var expirationMs: Int64

    package init(accessKeyId: String, secretAccessKey: String, token: String, expirationMs: Int64) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.token = token
        self.expirationMs = expirationMs
    }

    package static let maxBytes = 64 << 10

    private struct Wire: Decodable {
        var Code: String?
        var AccessKeyId: String?
        var SecretAccessKey: String?
        var Token: String?
        var Expiration: String?
    }

    package static func parse(_ body: [UInt8], source: String) throws(AWSFormatError) -> IMDSCredentials {
        guard body.count <= maxBytes else { throw AWSFormatError(.tooLarge, source: source, "larger than \(maxBytes) bytes") }
        let w: Wire
        do { w = try JSONDecoder().decode(Wire.self, from: Data(body)) } catch {
            throw AWSFormatError(.malformed, source: source, "not a credentials JSON object")
        }
        if let code = w.Code, code != "Success" { throw AWSFormatError(.malformed, source: source, "Code is \(code), not Success") }
        guard let id = w.AccessKeyId, !id.isEmpty, let secret = w.SecretAccessKey, !secret.isEmpty, let token = w.Token, !token.isEmpty
        else { throw AWSFormatError(.malformed, source: source, "AccessKeyId, SecretAccessKey or Token missing") }
        guard let exp = w.Expiration, let ms = Timestamp.parseISO8601(exp) else {
            throw AWSFormatError(.malformed, source: source, "Expiration missing or not an ISO 8601 time")
        }
        return IMDSCredentials(accessKeyId: id, secretAccessKey: secret, token: token, expirationMs: ms)
    }
}

/// Decodes a JSON-protocol response body into `T`, refusing what does not fit with an error
/// naming the operation.
package func decodeAWSJSON<T: Decodable>(_ type: T.Type, _ body: [UInt8], operation: String) throws(AWSFormatError) -> T {
    do { return try JSONDecoder().decode(T.self, from: Data(body.isEmpty ? Array("{}".utf8) : body)) } catch {
        throw AWSFormatError(.malformed, source: "\(operation) response", "unexpected JSON: \(error)")
    }
}

/// Encodes a JSON-protocol request body.
package func encodeAWSJSON<T: Encodable>(_ value: T) -> [UInt8] {
    // Encoding plain structs of strings and numbers cannot fail.
    Array(try! JSONEncoder().encode(value))
}

/// The response shapes of the CloudWatch Logs and SQS operations trailwatch calls.
package enum AWSWire {
    package struct RejectedInfo: Decodable, Sendable {
        package var tooNewLogEventStartIndex: Int?
        package var tooOldLogEventEndIndex: Int?
        package var expiredLogEventEndIndex: Int?
    }
    package struct PutLogEventsResponse: Decodable, Sendable {
        package var rejectedLogEventsInfo: RejectedInfo?
    }
    package struct OutputEvent: Decodable, Sendable {
        package var timestamp: Int64?
        package var message: String?
        package var ingestionTime: Int64?
    }
    package struct GetLogEventsResponse: Decodable, Sendable {
        package var events: [OutputEvent]?
        package var nextForwardToken: String?
        package var nextBackwardToken: String?
    }
    package struct FilterLogEventsResponse: Decodable, Sendable {
        package var events: [OutputEvent]?
        package var nextToken: String?
    }
    package struct SQSMessage: Decodable, Sendable {
        package var MessageId: String?
        package var ReceiptHandle: String?
        package var Body: String?
        package var Attributes: [String: String]?
    }
    package struct ReceiveMessageResponse: Decodable, Sendable {
        package var Messages: [SQSMessage]?
    }
}
