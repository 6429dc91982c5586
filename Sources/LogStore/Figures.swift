import GRDB

/// What the daemon has done to one account's group, as the store records it: the figures
/// `trailwatch status` and the metrics endpoint show. Read with one read transaction.
package struct StoreFigures: Sendable {
    /// One stream's counts and times (ms).
    package struct Stream: Sendable, Equatable {
        package var name: String
        package var region: String
        package var events: Int64
        package var storedBytes: Int64
        package var lastEventTimestamp: Int64?
        package var lastIngestionTime: Int64?
    }

    /// Files taken (ledger rows `done`), their delivered bytes, and the records they held.
    package var filesDone: Int64
    package var bytesDone: Int64
    package var recordsStored: Int64
    package var duplicates: Int64
    /// Files rewritten in place after they were taken (each rewrite counted).
    package var rewrites: Int64
    /// Failed files by kind (`corrupt_gzip`, `too_large`, …: the reason's code).
    package var failuresByKind: [String: Int64]
    package var streams: [Stream]
    /// Alerts ever recorded; alerts not yet taken by every sink; partial deliveries by sink.
    package var alertsRecorded: Int64
    package var alertsWaiting: Int64
    /// Alerts recorded and waiting, by rule ("unknown" for alerts recorded before rules were kept).
    package var alertsByRule: [String: (recorded: Int64, waiting: Int64)]
    package var waitingDeliveredBySink: [String: Int64]
    /// Digest statuses by region and status (`valid`, `invalid`, `pending`, …).
    package var digests: [String: [String: Int64]]
}

extension AccountStore {
    /// The group's figures (see ``StoreFigures``).
    package func figures() throws -> StoreFigures {
        try queue.read { db in
            let done = try Row.fetchOne(
                db,
                sql: """
                    SELECT count(*), coalesce(sum(size), 0), coalesce(sum(stored), 0), coalesce(sum(duplicates), 0),
                      coalesce(sum(rewrites), 0) FROM ledger WHERE status = 'done'
                    """)
            var failures: [String: Int64] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT CASE WHEN instr(reason, ':') > 0 THEN substr(reason, 1, instr(reason, ':') - 1) ELSE 'other' END,
                      count(*) FROM ledger WHERE status = 'failed' GROUP BY 1
                    """)
            {
                failures[row[0] ?? "other", default: 0] += row[1]
            }
            let streams = try Row.fetchAll(
                db, sql: "SELECT name, region, events, stored_bytes, last_ts, last_ingestion FROM streams ORDER BY name"
            ).map {
                StoreFigures.Stream(
                    name: $0[0], region: $0[1], events: $0[2], storedBytes: $0[3], lastEventTimestamp: $0[4],
                    lastIngestionTime: $0[5])
            }
            let alerts = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(sent = 0), 0) FROM alerts")
            var byRule: [String: (recorded: Int64, waiting: Int64)] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT coalesce(rule, 'unknown'), count(*), coalesce(sum(sent = 0), 0) FROM alerts GROUP BY 1")
            {
                byRule[row[0]] = (row[1], row[2])
            }
            var bySink: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT sink, count(*) FROM alert_deliveries GROUP BY sink") {
                bySink[row[0]] = row[1]
            }
            var digests: [String: [String: Int64]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT region, status, count(*) FROM digests GROUP BY region, status") {
                digests[row[0], default: [:]][row[1]] = row[2]
            }
            return StoreFigures(
                filesDone: done?[0] ?? 0, bytesDone: done?[1] ?? 0, recordsStored: done?[2] ?? 0, duplicates: done?[3] ?? 0,
                rewrites: done?[4] ?? 0, failuresByKind: failures, streams: streams, alertsRecorded: alerts?[0] ?? 0,
                alertsWaiting: alerts?[1] ?? 0, alertsByRule: byRule, waitingDeliveredBySink: bySink, digests: digests)
        }
    }
}
