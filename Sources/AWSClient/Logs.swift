import AWSFormats
import NIOCore

/// An event to put: its time (epoch ms) and text.
package struct LogEventIn: Sendable {
    package var timestampMs: Int64
    package var message: String

    package init(timestampMs: Int64, message: String) {
        self.timestampMs = timestampMs
        self.message = message
    }
}

/// An event read back, with the time CloudWatch Logs ingested it.
package struct LogEventOut: Sendable {
    package var timestampMs: Int64
    package var message: String
    package var ingestionTimeMs: Int64

    package init(timestampMs: Int64, message: String, ingestionTimeMs: Int64) {
        self.timestampMs = timestampMs
        self.message = message
        self.ingestionTimeMs = ingestionTimeMs
    }
}

/// The CloudWatch Logs calls trailwatch makes, in its JSON 1.1 protocol (`Logs_20140328.*`).
/// No retries here: callers wrap with ``RetryPolicy``.
package struct LogsClient: Sendable {
    let http: AWSHTTP
    let settings: AWSSettings
    let credentials: AWSCredentialChain

    package init(http: AWSHTTP, settings: AWSSettings, credentials: AWSCredentialChain) {
        self.http = http
        self.settings = settings
        self.credentials = credentials
    }

    private struct Empty: Decodable {}

    private func call<R: Decodable>(_ action: String, _ body: some Encodable, as: R.Type) async throws -> R {
        try await http.json(
            service: "logs", target: "Logs_20140328.\(action)", version: "1.1", body: encodeAWSJSON(body), settings: settings,
            credentials: credentials, as: R.self)
    }

    /// Runs a create call; "already exists" is success.
    private func create(_ action: String, _ body: some Encodable) async throws {
        do { _ = try await call(action, body, as: Empty.self) } catch let e as AWSError where e.code == .alreadyExists {}
    }

    private struct Group: Encodable { var logGroupName: String }
    private struct Stream: Encodable {
        var logGroupName: String
        var logStreamName: String
    }

    /// Creates the log group; one that exists already is fine.
    package func createLogGroup(_ group: String) async throws {
        try await create("CreateLogGroup", Group(logGroupName: group))
    }

    /// Creates the stream in `group`; one that exists already is fine.
    package func createLogStream(group: String, stream: String) async throws {
        try await create("CreateLogStream", Stream(logGroupName: group, logStreamName: stream))
    }

    private struct Retention: Encodable {
        var logGroupName: String
        var retentionInDays: Int
    }

    /// Sets how long the group keeps events (one of the day counts CloudWatch Logs accepts).
    package func putRetentionPolicy(group: String, days: Int) async throws {
        _ = try await call("PutRetentionPolicy", Retention(logGroupName: group, retentionInDays: days), as: Empty.self)
    }

    private struct Put: Encodable {
        struct Event: Encodable {
            var timestamp: Int64
            var message: String
        }
        var logGroupName: String
        var logStreamName: String
        var logEvents: [Event]
    }

    /// Returns the rejectedLogEventsInfo indexes if any (tooOld/tooNew/expired), nil when all were accepted.
    package func putLogEvents(group: String, stream: String, events: [LogEventIn]) async throws -> (
        tooNewStart: Int?, tooOldEnd: Int?, expiredEnd: Int?
    )? {
        let body = Put(logGroupName: group, logStreamName: stream, logEvents: events.map { .init(timestamp: $0.timestampMs, message: $0.message) })
        let reply = try await call("PutLogEvents", body, as: AWSWire.PutLogEventsResponse.self)
        guard let r = reply.rejectedLogEventsInfo,
            r.tooNewLogEventStartIndex != nil || r.tooOldLogEventEndIndex != nil || r.expiredLogEventEndIndex != nil
        else { return nil }
        return (r.tooNewLogEventStartIndex, r.tooOldLogEventEndIndex, r.expiredLogEventEndIndex)
    }

    private struct Get: Encodable {
        var logGroupName: String
        var logStreamName: String
        var startTime: Int64?
        var endTime: Int64?
        var startFromHead: Bool
        var nextToken: String?
        var limit: Int?
    }

    private static func events(_ wire: [AWSWire.OutputEvent]?) -> [LogEventOut] {
        (wire ?? []).map { LogEventOut(timestampMs: $0.timestamp ?? 0, message: $0.message ?? "", ingestionTimeMs: $0.ingestionTime ?? 0) }
    }

    /// One page of the stream's events in `[startMs, endMs)`, and the tokens to page on.
    package func getLogEvents(
        group: String, stream: String, startMs: Int64?, endMs: Int64?, startFromHead: Bool,
        nextToken: String?, limit: Int?
    ) async throws -> (events: [LogEventOut], forward: String?, backward: String?) {
        let body = Get(
            logGroupName: group, logStreamName: stream, startTime: startMs, endTime: endMs, startFromHead: startFromHead, nextToken: nextToken,
            limit: limit)
        let reply = try await call("GetLogEvents", body, as: AWSWire.GetLogEventsResponse.self)
        return (Self.events(reply.events), reply.nextForwardToken, reply.nextBackwardToken)
    }

    private struct Filter: Encodable {
        var logGroupName: String
        var logStreamNames: [String]?
        var startTime: Int64?
        var endTime: Int64?
        var filterPattern: String?
        var nextToken: String?
        var limit: Int?
    }

    /// One page of the group's events (in `streams`, all when nil) in `[startMs, endMs]` matching `pattern`.
    package func filterLogEvents(
        group: String, streams: [String]?, startMs: Int64?, endMs: Int64?, pattern: String?,
        nextToken: String?, limit: Int?
    ) async throws -> (events: [LogEventOut], nextToken: String?) {
        let body = Filter(
            logGroupName: group, logStreamNames: streams, startTime: startMs, endTime: endMs, filterPattern: pattern, nextToken: nextToken,
            limit: limit)
        let reply = try await call("FilterLogEvents", body, as: AWSWire.FilterLogEventsResponse.self)
        return (Self.events(reply.events), reply.nextToken)
    }
}
