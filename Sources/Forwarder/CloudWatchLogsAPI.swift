import AWSClient

/// The CloudWatch Logs calls the forwarder makes: `LogsClient` in the daemon, a fake in unit tests.
package protocol CloudWatchLogsAPI: Sendable {
    func createLogGroup(_ group: String) async throws
    func createLogStream(group: String, stream: String) async throws
    func putRetentionPolicy(group: String, days: Int) async throws
    func putLogEvents(group: String, stream: String, events: [LogEventIn]) async throws -> (
        tooNewStart: Int?, tooOldEnd: Int?, expiredEnd: Int?
    )?
    func filterLogEvents(
        group: String, streams: [String]?, startMs: Int64?, endMs: Int64?, pattern: String?, nextToken: String?, limit: Int?
    ) async throws -> (events: [LogEventOut], nextToken: String?)
}

extension LogsClient: CloudWatchLogsAPI {}
