import AlertModel
import FoundationEssentials
import GRDB

extension WriteTransaction {
    /// Puts an alert in the outbox; false when an alert with its id was recorded before (it must
    /// never go out twice). The payload is built only for a new alert.
    package func recordAlert(_ alert: Alert) throws -> Bool {
        try db.execute(
            sql: "INSERT OR IGNORE INTO alerts(id, created, payload, rule) VALUES (?, ?, x'', ?)",
            arguments: [alert.alertID, now, alert.rule])
        guard db.changesCount > 0 else { return false }
        try db.execute(
            sql: "INSERT INTO alert_payloads(seq, payload) VALUES (?, ?)", arguments: [db.lastInsertedRowID, Data(alert.payload)])
        return true
    }
}

extension AccountStore {
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

