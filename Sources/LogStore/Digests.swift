import GRDB

/// Integrity status of one account and region (for `trailwatch status`).
package struct IntegrityStatus: Sendable, Equatable {
    package var region: String
    package var newestVerified: Int64?
    package var valid: Int
    package var invalid: Int
    package var pending: Int
}

extension AccountStore {
    /// Digest statuses by path.
    package func digestStatuses() throws -> [String: String] {
        try queue.read { db in
            var out: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT path, status FROM digests") { out[row[0]] = row[1] }
            return out
        }
    }

    /// Records digests' statuses and the log files verified, in one transaction.
    package func recordDigests(_ statuses: [(path: String, region: String, end: Int64, status: String, reason: String?)], verifiedLogs: [(log: String, digest: String)], now: Int64) throws {
        try queue.write { db in
            let d = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO digests(path, region, end_time, status, reason, checked_at) VALUES (?, ?, ?, ?, ?, ?)")
            for s in statuses { try d.execute(arguments: [s.path, s.region, s.end, s.status, s.reason, now]) }
            let l = try db.cachedStatement(sql: "INSERT OR REPLACE INTO verified_logs(path, digest) VALUES (?, ?)")
            for p in verifiedLogs { try l.execute(arguments: [p.log, p.digest]) }
        }
    }

    /// A verified log file changed on disk: forget it, and send the digest that listed it back to be checked.
    package func logChanged(_ path: String) throws -> String? {
        try queue.write { db in
            guard let digest = try String.fetchOne(db, sql: "SELECT digest FROM verified_logs WHERE path = ?", arguments: [path]) else {
                return nil
            }
            try db.execute(sql: "DELETE FROM verified_logs WHERE path = ?", arguments: [path])
            try db.execute(sql: "UPDATE digests SET status = 'recheck' WHERE path = ?", arguments: [digest])
            return digest
        }
    }

    /// Sends a settled digest back to be checked (e.g. a log file landed late in its hour).
    package func recheckDigest(_ path: String) throws {
        try queue.write { db in try db.execute(sql: "UPDATE digests SET status = 'recheck' WHERE path = ? AND status != 'pending'", arguments: [path]) }
    }

    package func verifiedLogs() throws -> Set<String> {
        try queue.read { db in Set(try String.fetchAll(db, sql: "SELECT path FROM verified_logs")) }
    }

    /// Per region: newest verified digest time and counts of valid, invalid and pending digests.
    package func integrityStatus() throws -> [IntegrityStatus] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT region, max(CASE WHEN status = 'valid' THEN end_time END), sum(status = 'valid'),
                      sum(status = 'invalid'), sum(status = 'pending') FROM digests GROUP BY region ORDER BY region
                    """
            ).map { IntegrityStatus(region: $0[0], newestVerified: $0[1], valid: $0[2], invalid: $0[3], pending: $0[4]) }
        }
    }
}
