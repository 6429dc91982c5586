import AWSClient

/// The CloudWatch Logs calls the forwarder makes: `LogsClient` in the daemon, a fake in unit tests.
package protocol CloudWatchLogsAPI: Sendable {
    func createLogGroup(_ group: String) async throws
    func createLogStream(group: String, stream: String) async throws
    func putRetentionPolicy(group: String, days: Int) async throws
    func putLogEvents(group: String, stream: String, events: [LogEventIn]) async throws -> (
        tooNewStart: Int?, tooOldEnd: Int?, expiredEnd: Int?
    )?
    /// One page of FilterLogEvents on `stream` over `[startMs, endMs]`: the events' messages.
    func filterMessages(group: String, stream: String, startMs: Int64, endMs: Int64, nextToken: String?) async throws -> (
        messages: [String], nextToken: String?
    )
}

extension LogsClient: CloudWatchLogsAPI {
    package func filterMessages(group: String, stream: String, startMs: Int64, endMs: Int64, nextToken: String?) async throws -> (
        messages: [String], nextToken: String?
    ) {
        let page = try await filterLogEvents(
            group: group, streams: [stream], startMs: startMs, endMs: endMs, pattern: nil, nextToken: nextToken, limit: 10_000)
        return (page.events.map(\.message), page.nextToken)
    }
}
