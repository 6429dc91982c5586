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
}
