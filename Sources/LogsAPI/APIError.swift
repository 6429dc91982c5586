import CloudTrail

/// An error as CloudWatch Logs sends it: HTTP status, `__type` code and message. Every client
/// mistake is a 4xx; 5xx is kept for the server's own faults (botocore retries those).
package struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `__type` codes this server sends.
    package enum Code: String, Sendable {
        case resourceNotFound = "ResourceNotFoundException"
        case invalidParameter = "InvalidParameterException"
        case accessDenied = "AccessDeniedException"
        case serialization = "SerializationException"
        case unknownOperation = "UnknownOperationException"
        case missingAuthenticationToken = "MissingAuthenticationTokenException"
        case invalidSignature = "InvalidSignatureException"
        case incompleteSignature = "IncompleteSignatureException"
        case unrecognizedClient = "UnrecognizedClientException"
        case requestEntityTooLarge = "RequestEntityTooLargeException"
        case requestTimeout = "RequestTimeoutException"
        case serviceUnavailable = "ServiceUnavailableException"
    }

    /// The error's `__type`.
    package var code: Code
    /// The human-readable message (`message` in the body).
    package var message: String
    /// The HTTP status: 400 unless the code calls for another.
    package var status: Int

    /// An error with the status its code calls for (400 for client errors).
    package init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status ?? {
            switch code {
            case .requestEntityTooLarge: return 413
            case .requestTimeout: return 408
            case .serviceUnavailable: return 503
            default: return 400
            }
        }()
    }

    /// `Code: message`.
    package var description: String { "\(code.rawValue): \(message)" }

    /// The JSON body CloudWatch sends: `{"__type": "...", "message": "..."}`.
    package var body: [UInt8] {
        Array("{\"__type\":\(JSONObjectWriter.quote(code.rawValue)),\"message\":\(JSONObjectWriter.quote(message))}".utf8)
    }

    /// A "1 validation error detected" InvalidParameterException, worded as AWS words it.
    static func validation(_ value: String, at member: String, _ constraint: String) -> APIError {
        APIError(
            .invalidParameter,
            "1 validation error detected: Value '\(value)' at '\(member)' failed to satisfy constraint: \(constraint)")
    }
}
