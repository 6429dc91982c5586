import FoundationEssentials
import GRDB

/// Rule state rows, read and written inside the transaction that commits a file, so windows,
/// first-seen values and suppressions move together with the file's ledger row. The store keeps
/// each state as the bytes it is given: what they mean is the rule engine's business.
extension WriteTransaction {
    /// A threshold window's encoded state.
    package func windowState(rule: String, key: String) throws -> [UInt8]? {
        let s = try db.cachedStatement(sql: "SELECT state FROM rule_windows WHERE rule = ? AND key = ?")
        return try Data.fetchOne(s, arguments: [rule, key]).map { [UInt8]($0) }
    }

    /// Sets (nil: forgets) a window's state; `newest` is its newest event time, by which it expires.
    package func setWindowState(rule: String, key: String, newest: Int64, _ state: [UInt8]?) throws {
        if let state {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO rule_windows(rule, key, newest, state) VALUES (?, ?, ?, ?)")
                .execute(arguments: [rule, key, newest, Data(state)])
        } else {
            try db.cachedStatement(sql: "DELETE FROM rule_windows WHERE rule = ? AND key = ?").execute(arguments: [rule, key])
        }
    }

    /// The last time `value` was seen for `key`; `keyKnown` tells whether the key has any history.
    package func lastSeen(rule: String, key: String, value: String) throws -> (time: Int64?, keyKnown: Bool) {
        let t = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT t FROM first_seen WHERE rule = ? AND key = ? AND value = ?"), arguments: [rule, key, value])
        if t != nil { return (t, true) }
        let known = try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM first_seen WHERE rule = ? AND key = ?)"), arguments: [rule, key]) ?? false
        return (nil, known)
    }

    /// Notes `value` seen for `key` at `time` (never moving its time back).
    package func setLastSeen(rule: String, key: String, value: String, time: Int64) throws {
        try db.cachedStatement(
            sql: "INSERT INTO first_seen(rule, key, value, t) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET t = max(t, excluded.t)"
        ).execute(arguments: [rule, key, value, time])
    }

    /// A suppression period's encoded state.
    package func suppressionState(rule: String, key: String) throws -> [UInt8]? {
        // Bound through the C API, as the other statements an alert storm runs per alert or key.
        var state: [UInt8]? = nil
        try Raw.step(
            db.cachedStatement(sql: "SELECT state FROM suppressions WHERE rule = ? AND key = ?").sqliteStatement,
            db: db.sqliteConnection, [.text(rule), .text(key)]
        ) { state = Raw.blob($0, 0) }
        return state
    }

    /// Sets (nil: ends) a suppression period; `until` is when it ends, by which it is found.
    package func setSuppressionState(rule: String, key: String, until: Int64, _ state: [UInt8]?) throws {
        if let state {
            try Raw.step(
                db.cachedStatement(sql: "INSERT OR REPLACE INTO suppressions(rule, key, until, state) VALUES (?, ?, ?, ?)").sqliteStatement,
                db: db.sqliteConnection, [.text(rule), .text(key), .int(until), .blob(state)])
        } else {
            try Raw.step(
                db.cachedStatement(sql: "DELETE FROM suppressions WHERE rule = ? AND key = ?").sqliteStatement,
                db: db.sqliteConnection, [.text(rule), .text(key)])
        }
    }

    /// Suppression periods ending at or before `endingBy` (all when nil), ordered by rule and key.
    package func suppressionStates(endingBy: Int64?) throws -> [(rule: String, key: String, state: [UInt8])] {
        try Row.fetchAll(
            // By the `until` index (each file asks; without it the planner scans the whole table in
            // key order, every period's state included), the few ended periods sorted after.
            db.cachedStatement(sql: "SELECT rule, key, state FROM suppressions INDEXED BY suppressions_by_until WHERE until <= ? ORDER BY rule, key"),
            arguments: [endingBy ?? Int64.max]
        ).map { ($0[0], $0[1], [UInt8]($0[2] as Data)) }
    }

    /// Forgets windows whose newest event is older than `windowsBefore`, and first-seen values
    /// older than `firstSeenBefore`.
    package func expireRuleState(windowsBefore: Int64, firstSeenBefore: Int64?) throws {
        try db.cachedStatement(sql: "DELETE FROM rule_windows WHERE newest < ?").execute(arguments: [windowsBefore])
        if let f = firstSeenBefore { try db.cachedStatement(sql: "DELETE FROM first_seen WHERE t < ?").execute(arguments: [f]) }
    }
}
