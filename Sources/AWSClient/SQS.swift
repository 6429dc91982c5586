import AWSFormats
import Foundation
import NIOCore

/// A received SQS message.
package struct SQSMessage: Sendable {
    package var messageId: String
    /// Names this delivery; needed to delete it or change its visibility.
    package var receiptHandle: String
    package var body: String
    /// `ApproximateReceiveCount`: 1 on the first delivery.
    package var receiveCount: Int

    package init(messageId: String, receiptHandle: String, body: String, receiveCount: Int) {
        self.messageId = messageId
        self.receiptHandle = receiptHandle
        self.body = body
        self.receiveCount = receiveCount
    }
}

/// The SQS calls trailwatch makes, in SQS's JSON protocol (`AmazonSQS.*`,
/// `application/x-amz-json-1.0`). No retries here: callers wrap with ``RetryPolicy``.
package struct SQSClient: Sendable {
    let http: AWSHTTP
    let settings: AWSSettings
    let credentials: AWSCredentialChain

    package init(http: AWSHTTP, settings: AWSSettings, credentials: AWSCredentialChain) {
        self.http = http
        self.settings = settings
        self.credentials = credentials
    }

    private struct Empty: Decodable {}

    private func call<R: Decodable>(
        _ action: String, queueURL: String, _ body: some Encodable, timeout: TimeAmount = .seconds(60), as: R.Type
    ) async throws -> R {
        var s = settings
        // Without an endpoint of its own, a queue is called in its region (from its URL), whatever the default region.
        if s.endpointURL == nil, let region = Self.region(ofQueueURL: queueURL) { s.region = region }
        return try await http.json(
            service: "sqs", target: "AmazonSQS.\(action)", version: "1.0", body: encodeAWSJSON(body), settings: s,
            credentials: credentials, timeout: timeout, as: R.self)
    }

    /// The region an AWS queue URL names (`https://sqs.REGION.amazonaws.com/…`, or the legacy
    /// `https://REGION.queue.amazonaws.com/…`); nil for any other URL.
    package static func region(ofQueueURL url: String) -> String? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let host = url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != ":" }.lowercased()
        let labels = host.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard labels.count >= 4, labels.suffix(2) == ["amazonaws", "com"] || labels.suffix(3) == ["amazonaws", "com", "cn"] else { return nil }
        if labels[0] == "sqs" { return labels[1].isEmpty ? nil : labels[1] }
        if labels[1] == "queue" { return labels[0].isEmpty ? nil : labels[0] }
        return nil
    }

    private struct ReceiveRequest: Encodable {
        var QueueUrl: String
        var MaxNumberOfMessages: Int
        var WaitTimeSeconds: Int
        var VisibilityTimeout: Int?
        var AttributeNames = ["ApproximateReceiveCount"]
        var MessageSystemAttributeNames = ["ApproximateReceiveCount"]
    }

    /// Up to `max` (1–10) messages, long-polling up to `waitSeconds` (0–20); `visibilityTimeout`
    /// overrides the queue's for these deliveries.
    package func receiveMessages(queueURL: String, max: Int, waitSeconds: Int, visibilityTimeout: Int?) async throws -> [SQSMessage] {
        let wait = Swift.max(0, Swift.min(waitSeconds, 20))
        let request = ReceiveRequest(
            QueueUrl: queueURL, MaxNumberOfMessages: Swift.max(1, Swift.min(max, 10)), WaitTimeSeconds: wait, VisibilityTimeout: visibilityTimeout)
        let reply = try await call("ReceiveMessage", queueURL: queueURL, request, timeout: .seconds(Int64(wait) + 30), as: AWSWire.ReceiveMessageResponse.self)
        return try (reply.Messages ?? []).map { m in
            guard let id = m.MessageId, let handle = m.ReceiptHandle else {
                throw AWSError(.malformed, "ReceiveMessage response: a message without MessageId or ReceiptHandle")
            }
            return SQSMessage(
                messageId: id, receiptHandle: handle, body: m.Body ?? "", receiveCount: m.Attributes?["ApproximateReceiveCount"].flatMap { Int($0) } ?? 1)
        }
    }

    private struct DeleteRequest: Encodable {
        var QueueUrl: String
        var ReceiptHandle: String
    }

    /// Deletes the delivered message `receiptHandle` names.
    package func deleteMessage(queueURL: String, receiptHandle: String) async throws {
        _ = try await call("DeleteMessage", queueURL: queueURL, DeleteRequest(QueueUrl: queueURL, ReceiptHandle: receiptHandle), as: Empty.self)
    }

    private struct VisibilityRequest: Encodable {
        var QueueUrl: String
        var ReceiptHandle: String
        var VisibilityTimeout: Int
    }

    /// Hides the message for `seconds` more from now (0 makes it visible to others at once).
    package func changeVisibility(queueURL: String, receiptHandle: String, seconds: Int) async throws {
        _ = try await call(
            "ChangeMessageVisibility", queueURL: queueURL, VisibilityRequest(QueueUrl: queueURL, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds), as: Empty.self)
    }
}
