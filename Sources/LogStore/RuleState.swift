import AlertModel
import FoundationEssentials
import GRDB
import Rules

/// Rule state in the account's database, used inside the transaction that commits a file, so
/// windows, first-seen values, suppressions and the alert outbox move together with the ledger.
final class SQLiteRuleState: RuleStateStore {
    let db: Database
    let now: Int64

    init(_ db: Database, now: Int64) {
        self.db = db
        self.now = now
    }

    func window(rule: String, key: String) throws -> WindowState? {
        let s = try db.cachedStatement(sql: "SELECT state FROM rule_windows WHERE rule = ? AND key = ?")
        guard let data = try Data.fetchOne(s, arguments: [rule, key]) else { return nil }
        guard let state = WindowState(encoded: [UInt8](data)) else {
            throw DatabaseError(message: "damaged window state for rule \(rule)")
        }
        return state
    }

    func setWindow(rule: String, key: String, _ state: WindowState?) throws {
        if let state {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO rule_windows(rule, key, newest, state) VALUES (?, ?, ?, ?)")
                .execute(arguments: [rule, key, state.events.last?.t ?? 0, Data(state.encoded())])
        } else {
            try db.cachedStatement(sql: "DELETE FROM rule_windows WHERE rule = ? AND key = ?").execute(arguments: [rule, key])
        }
    }

    func lastSeen(rule: String, key: String, value: String) throws -> (time: Int64?, keyKnown: Bool) {
        let t = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT t FROM first_seen WHERE rule = ? AND key = ? AND value = ?"), arguments: [rule, key, value])
        if t != nil { return (t, true) }
        let known = try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM first_seen WHERE rule = ? AND key = ?)"), arguments: [rule, key]) ?? false
        return (nil, known)
    }

    func setLastSeen(rule: String, key: String, value: String, time: Int64) throws {
        try db.cachedStatement(
            sql: "INSERT INTO first_seen(rule, key, value, t) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET t = max(t, excluded.t)"
        ).execute(arguments: [rule, key, value, time])
    }

    func suppression(rule: String, key: String) throws -> SuppressionState? {
        guard let data = try Data.fetchOne(db, sql: "SELECT state FROM suppressions WHERE rule = ? AND key = ?", arguments: [rule, key])
        else { return nil }
        return try Self.suppression([UInt8](data), rule: rule)
    }

    func setSuppression(rule: String, key: String, _ state: SuppressionState?) throws {
        if let state {
            try db.execute(
                sql: "INSERT OR REPLACE INTO suppressions(rule, key, until, state) VALUES (?, ?, ?, ?)",
                arguments: [rule, key, state.until, Data(state.encoded())])
        } else {
            try db.execute(sql: "DELETE FROM suppressions WHERE rule = ? AND key = ?", arguments: [rule, key])
        }
    }

    func openSuppressions(endingBy: Int64?) throws -> [(rule: String, key: String, state: SuppressionState)] {
        try Row.fetchAll(
            db, sql: "SELECT rule, key, state FROM suppressions WHERE until <= ? ORDER BY rule, key", arguments: [endingBy ?? Int64.max]
        ).map {
            ($0[0], $0[1], try Self.suppression([UInt8]($0[2] as Data), rule: $0[0]))
        }
    }

    static func suppression(_ bytes: [UInt8], rule: String) throws -> SuppressionState {
        guard let s = SuppressionState(encoded: bytes) else { throw DatabaseError(message: "damaged suppression state for rule \(rule)") }
        return s
    }

    func expire(windowsBefore: Int64, firstSeenBefore: Int64?) throws {
        try db.execute(sql: "DELETE FROM rule_windows WHERE newest < ?", arguments: [windowsBefore])
        if let f = firstSeenBefore { try db.execute(sql: "DELETE FROM first_seen WHERE t < ?", arguments: [f]) }
    }

    func record(_ alert: Alert) throws -> Bool {
        try db.execute(
            sql: "INSERT OR IGNORE INTO alerts(id, created, payload) VALUES (?, ?, x'')",
            arguments: [alert.alertID, now])
        guard db.changesCount > 0 else { return false }
        try db.execute(
            sql: "INSERT INTO alert_payloads(seq, payload) VALUES (?, ?)", arguments: [db.lastInsertedRowID, Data(alert.payload)])
        return true
    }
}

extension AccountStore {
    /// Runs `body` with this account's rule state in one transaction (e.g. the end-of-run flush).
    package func withRuleState<R>(now: Int64, _ body: (any RuleStateStore) throws -> R) throws -> R {
        try queue.write { db in try body(SQLiteRuleState(db, now: now)) }
    }

    /// Alerts recorded but not yet delivered to every sink, oldest first, each with the sinks that took it.
    /// Pages by `after` (the `seq` of the last alert of the previous page). An alert's payload is decoded
    /// only if some sink of `decodeFor` still lacks it (nil: always), so a long outbox held back by a sink
    /// that is down costs little to walk.
    package func pendingAlerts(after: Int64 = 0, limit: Int = 500, decodeFor: Set<String>? = nil) throws -> [PendingAlert] {
        try queue.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT seq, id FROM alerts WHERE sent = 0 AND seq > ? ORDER BY seq LIMIT ?", arguments: [after, limit])
            guard let first = rows.first, let last = rows.last else { return [] }
            var taken: [String: Set<String>] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT d.id, d.sink FROM alert_deliveries d JOIN alerts a ON a.id = d.id WHERE a.sent = 0 AND a.seq BETWEEN ? AND ?",
                arguments: [first[0] as Int64, last[0] as Int64])
            {
                taken[row[0], default: []].insert(row[1])
            }
            return try rows.map { row in
                let id: String = row[1]
                let delivered = taken[id] ?? []
                var alert: Alert? = nil
                if decodeFor.map({ !$0.isSubset(of: delivered) }) ?? true,
                    let payload = try Data.fetchOne(db, sql: "SELECT payload FROM alert_payloads WHERE seq = ?", arguments: [row[0] as Int64])
                {
                    alert = try JSONDecoder().decode(Alert.self, from: payload)
                }
                return PendingAlert(seq: row[0], id: id, deliveredTo: delivered, alert: alert)
            }
        }
    }

    /// Alerts not yet delivered to every sink.
    package func pendingAlertCount() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM alerts WHERE sent = 0") ?? 0 }
    }

    /// Records, in one transaction, which sinks took which alert; `complete` (every sink has it)
    /// takes an alert out of the outbox.
    package func recordDeliveries(_ outcomes: [(id: String, sinks: [String], complete: Bool)]) throws {
        guard !outcomes.isEmpty else { return }
        try queue.write { db in
            for o in outcomes {
                if o.complete {
                    // The id stays (an alert is never recorded twice); the payload is no longer needed.
                    try db.execute(
                        sql: "DELETE FROM alert_payloads WHERE seq = (SELECT seq FROM alerts WHERE id = ?)", arguments: [o.id])
                    try db.execute(sql: "UPDATE alerts SET sent = 1 WHERE id = ?", arguments: [o.id])
                    try db.execute(sql: "DELETE FROM alert_deliveries WHERE id = ?", arguments: [o.id])
                } else {
                    for sink in o.sinks {
                        try db.execute(sql: "INSERT OR IGNORE INTO alert_deliveries(id, sink) VALUES (?, ?)", arguments: [o.id, sink])
                    }
                }
            }
        }
    }

    /// The newest event time stored (the account's event-time watermark).
    package func newestEventTime() throws -> Int64? {
        try queue.read { db in try Int64.fetchOne(db, sql: "SELECT max(last_ts) FROM streams") }
    }

}

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

/// An alert in the outbox and the sinks that already took it.
package struct PendingAlert: Sendable {
    /// Outbox order.
    package var seq: Int64
    package var id: String
    package var deliveredTo: Set<String>
    /// The alert itself; nil when no sink asked for needs it.
    package var alert: Alert?

    package init(seq: Int64, id: String, deliveredTo: Set<String>, alert: Alert?) {
        self.seq = seq
        self.id = id
        self.deliveredTo = deliveredTo
        self.alert = alert
    }
}

