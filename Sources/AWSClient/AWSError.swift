import AWSFormats

/// A failed AWS call: a small set of codes callers act on (retry, treat as done, give up), with
/// the service's own error type, the HTTP status and its message kept for logs.
package struct AWSError: Error, Sendable, CustomStringConvertible {
    package enum Code: String, Sendable {
        case throttled, server, client, notFound, alreadyExists, network, tooLarge, malformed, credentials
    }

    package var code: Code
    /// The service's error type (`ResourceNotFoundException`, `NoSuchKey`, …) when it sent one.
    package var awsType: String?
    /// The HTTP status when a response arrived.
    package var status: Int?
    package var message: String

    package init(_ code: Code, awsType: String? = nil, status: Int? = nil, _ message: String) {
        self.code = code
        self.awsType = awsType
        self.status = status
        self.message = message
    }

    /// Worth another try after a pause: throttling, a server error (5xx) or a network failure.
    package var isRetryable: Bool { code == .throttled || code == .server || code == .network }

    package var description: String {
        var s = "AWS \(code.rawValue)"
        if let awsType { s += " \(awsType)" }
        if let status { s += " (HTTP \(status))" }
        return message.isEmpty ? s : s + ": " + message
    }

    /// The error types that mean "slow down", across services.
    static let throttleTypes: Set<String> = [
        "ThrottlingException", "Throttling", "ThrottledException", "SlowDown", "RequestLimitExceeded", "TooManyRequestsException",
        "RequestThrottled", "RequestThrottledException", "ProvisionedThroughputExceededException",
        "AWS.SimpleQueueService.RequestThrottled",
    ]
    static let notFoundTypes: Set<String> = [
        "ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
        "NotFound",
    ]
    static let alreadyExistsTypes: Set<String> = ["ResourceAlreadyExistsException", "QueueAlreadyExists", "BucketAlreadyOwnedByYou"]

    /// Classifies a service's error from its type (if any) and HTTP status: the type decides
    /// first (throttling also comes as 400), then the status (429 throttled, 5xx server, 404 not found).
    package static func classify(type: String?, status: Int, message: String) -> AWSError {
        let code: Code
        if let t = type, throttleTypes.contains(t) {
            code = .throttled
        } else if let t = type, notFoundTypes.contains(t) {
            code = .notFound
        } else if let t = type, alreadyExistsTypes.contains(t) {
            code = .alreadyExists
        } else if status == 429 {
            code = .throttled
        } else if status >= 500 {
            code = .server
        } else if status == 404 {
            code = .notFound
        } else {
            code = .client
        }
        return AWSError(code, awsType: type, status: status, message)
    }

    /// The error a non-2xx response stands for: its type from the `x-amzn-query-error` header
    /// (SQS's legacy code), the JSON `__type`, the XML `<Code>` or `x-amzn-ErrorType`, in that order.
    package static func fromResponse(status: Int, headers: [(String, String)], body: [UInt8]) -> AWSError {
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }
        var type: String?
        var message = ""
        if let json = AWSJSONErrorBody.parse(body) {
            type = json.type
            message = json.message
        } else if let xml = AWSXMLErrorBody.parse(body) {
            type = xml.code
            message = xml.message
        } else if let t = header("x-amzn-errortype") {
            type = AWSJSONErrorBody.shortType(t)
        }
        if let q = header("x-amzn-query-error"), let code = q.split(separator: ";").first, !code.isEmpty {
            type = String(code)
        }
        if message.isEmpty {
            message = String(decoding: body.prefix(300), as: UTF8.self)
        }
        return classify(type: type, status: status, message: message)
    }

    /// Wraps a format error from a response or file.
    init(_ e: AWSFormatError) {
        self.init(e.code == .tooLarge ? .tooLarge : .malformed, e.description)
    }
}
