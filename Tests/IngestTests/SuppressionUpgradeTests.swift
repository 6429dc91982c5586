import AlertModel
import Foundation
import Ingest
import LogStore
import Rules
import TestSupport
import Testing

@Suite struct SuppressionStoreTests {
    func alert(_ id: String) -> Alert {
        Alert(
            rule: "unknown-source-ip", severity: "medium", priority: 4, messageID: String(repeating: "0", count: 32), message: "m",
            account: "123456789012", region: "us-east-1", principal: "p", sourceIP: "203.0.113.9", eventName: "ListBuckets",
            eventIDs: [id], eventTime: "2024-03-01T10:00:00Z", count: 1, logFile: "f", alertID: id, records: [])
    }

    /// Open periods are found by their end through the index; a database from before the `until`
    /// column (v4) gets it filled from each period's state when it is opened.
    @Test func endedPeriodsAreFoundByTheirEndAlsoAfterAnUpgrade() throws {
        let state = tempPath("suppress")
        let store = try LogStore(stateDirectory: state).account("123456789012")
        let early = SuppressionState(until: 1_000, suppressed: 1, eventIDs: ["a"], first: alert("x"))
        let late = SuppressionState(until: 5_000, suppressed: 2, eventIDs: ["b", "c"], first: alert("y"))
        try store.withRuleState(now: 0) { s in
            try s.setSuppression(rule: "r", key: "k1", early)
            try s.setSuppression(rule: "r", key: "k2", late)
        }
        func ending(_ t: Int64?) throws -> [String] {
            try LogStore(stateDirectory: state).account("123456789012").withRuleState(now: 0) { try $0.openSuppressions(endingBy: t) }.map(\.key)
        }
        #expect(try ending(999) == [])
        #expect(try ending(1_000) == ["k1"])
        #expect(try ending(nil) == ["k1", "k2"])
        // Back to a v4 database (no until column, states as JSON), then opened again: the migration
        // fills the column in from the JSON, and the JSON states still read.
        let db = state + "/groups/123456789012.sqlite"
        let py = """
            import sqlite3, sys, json
            c = sqlite3.connect(sys.argv[1])
            c.executescript("DROP INDEX suppressions_by_until; ALTER TABLE suppressions DROP COLUMN until; "
                            "DELETE FROM grdb_migrations WHERE identifier = 'v6-suppression-until';")
            for key, until, ids, first in (("k1", 1000, ["a"], sys.argv[2]), ("k2", 5000, ["b", "c"], sys.argv[3])):
                state = {"until": until, "suppressed": len(ids), "eventIDs": ids, "first": json.loads(first)}
                c.execute("UPDATE suppressions SET state = ? WHERE key = ?", (json.dumps(state).encode(), key))
            c.commit()
            print([r[0] for r in c.execute("SELECT name FROM pragma_table_info('suppressions')")])
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", py, db, String(decoding: alert("x").payload, as: UTF8.self), String(decoding: alert("y").payload, as: UTF8.self)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let columns = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0 && !columns.contains("until"), "downgraded: \(columns)")
        #expect(try ending(1_000) == ["k1"])
        #expect(try ending(5_000) == ["k1", "k2"])
        let read = try LogStore(stateDirectory: state).account("123456789012").withRuleState(now: 0) { try $0.openSuppressions(endingBy: nil) }
        #expect(read.map(\.state) == [early, late], "the JSON states of earlier versions read back the same")
        #expect(read.first?.state.first == alert("x"))
    }
}
