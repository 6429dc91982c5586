import AWSFormats
import NIOCore

/// A received SQS message.
package struct SQSMessage: Sendable {
    package var messageId: String
    /// Names this delivery; needed to delete it or change its visibility.
    package var receiptHandle: String
    package var body: String
    /// `ApproximateReceiveCount`: 1 on the first delivery.
    package var receiveCount: Int
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

    private func call<R: Decodable>(_ action: String, _ body: some Encodable, timeout: TimeAmount = .seconds(60), as: R.Type) async throws -> R {
        try await http.json(
            service: "sqs", target: "AmazonSQS.\(action)", version: "1.0", body: encodeAWSJSON(body), settings: settings,
            credentials: credentials, timeout: timeout, as: R.self)
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
        let reply = try await call("ReceiveMessage", request, timeout: .seconds(Int64(wait) + 30), as: AWSWire.ReceiveMessageResponse.self)
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
        _ = try await call("DeleteMessage", DeleteRequest(QueueUrl: queueURL, ReceiptHandle: receiptHandle), as: Empty.self)
    }

    private struct VisibilityRequest: Encodable {
        var QueueUrl: String
        var ReceiptHandle: String
        var VisibilityTimeout: Int
    }

    /// Hides the message for `seconds` more from now (0 makes it visible to others at once).
    package func changeVisibility(queueURL: String, receiptHandle: String, seconds: Int) async throws {
        _ = try await call(
            "ChangeMessageVisibility", VisibilityRequest(QueueUrl: queueURL, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds), as: Empty.self)
    }
}
