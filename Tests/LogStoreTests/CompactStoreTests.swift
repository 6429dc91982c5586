import AlertModel
import CloudTrail
import Foundation
import GRDB
import Gzip
import LogStore
import Testing
import TestSupport

/// The v7 store: dedup keys packed per minute, alert records kept by reference to their block, and
/// the in-place upgrade of a store written before.
@Suite struct CompactStoreTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/v6-store-625005464374.sqlite.gz")
    static let fixtureAccount = "625005464374"

    /// Every event of a store, page by page.
    func allEvents(_ store: AccountStore) throws -> [LogEvent] {
        var out: [LogEvent] = []
        var token: String? = nil
        repeat {
            let page = try store.filter(limit: 500, nextToken: token)
            out += page.events
            token = page.nextToken
        } while token != nil
        return out
    }

    func eventID(_ message: [UInt8]) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(message)) as? [String: Any])?["eventID"] as? String
    }

    @Test func aStoreWrittenBeforeV7UpgradesInPlaceReadsEveryEventBackAndDedupsAgainstIt() throws {
        let dir = tempDir()
        let path = "\(dir)/\(Self.fixtureAccount).sqlite"
        try Data(try Inflater.inflateAll([UInt8](try Data(contentsOf: Self.fixture)))).write(to: URL(fileURLWithPath: path))
        // Precondition: the fixture is a v6 store, with a key per event and an alert pending with its record.
        let before = try DatabaseQueue(path: path)
        let (migrations, keys, stored, pendingPayload) = try before.read { db in
            (
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM eventids") ?? -1,
                try Int.fetchOne(db, sql: "SELECT sum(stored) FROM ledger WHERE status = 'done'") ?? -1,
                try Data.fetchOne(db, sql: "SELECT payload FROM alert_payloads")
            )
        }
        try before.close()
        #expect(migrations.last == "v6-suppression-until" && !migrations.contains { $0.hasPrefix("v7") })
        #expect(keys == 1214 && stored == 1214)
        let pendingBefore = try JSONDecoder().decode(Alert.self, from: try #require(pendingPayload))
        #expect(pendingBefore.records.count == 1)

        let store = try AccountStore(directory: dir, account: Self.fixtureAccount)
        let (after, packed, oldTable, free) = try DatabaseQueue(path: path).read { db in
            (
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"),
                try Int.fetchOne(db, sql: "SELECT sum(length(keys)) / 8 FROM eventkeys") ?? -1,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE name = 'eventids'") ?? -1,
                try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? -1
            )
        }
        #expect(Array(after.suffix(4)) == ["v7-compact-store", "v8-alert-rule", "v9-ledger-etag", "v10-forward"], "every migration ran, in order: \(after)")
        #expect(packed == 1214, "every key moved")
        #expect(oldTable == 0)
        #expect(free == 0, "the old table's pages went back to the file system")
        // Every event reads back, each once.
        let events = try allEvents(store)
        #expect(events.count == 1214)
        let ids = events.compactMap { eventID($0.message) }
        #expect(ids.count == 1214 && Set(ids).count == 1214)
        // The pending alert comes out as it went in, record included.
        let pending = try store.pendingAlerts()
        #expect(pending.count == 1)
        #expect(pending.first?.alert == pendingBefore)
        // Events stored before the upgrade are duplicates; new ones are stored.
        let old = events.prefix(300).map { (id: eventID($0.message)!, time: $0.timestamp) }
        let t = events.map(\.timestamp).max()!
        let fresh = (0..<20).map { (id: uuid(900_000 + $0), time: t - Int64($0) * 1000) }
        let result = try store.commit(makeFile(old + fresh, account: Self.fixtureAccount, name: "again"), ingestionTime: 1)
        #expect(result == CommitResult(stored: 20, duplicates: 300, committed: true))
        #expect(try allEvents(store).count == 1234)
    }

    @Test func dedupKeysInOneMinuteBeyondAPartAndBefore1970() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        // 1,500 events in one minute: three parts of that minute, then every one again, spread over files.
        let t0: Int64 = 1_709_251_200_000
        let events = (0..<1500).map { (id: uuid($0), time: t0 + Int64($0 % 60) * 1000 + Int64($0 % 7)) }
        #expect(try store.commit(makeFile(events, name: "a"), ingestionTime: 1).stored == 1500)
        #expect(try store.commit(makeFile(Array(events.reversed()), name: "b"), ingestionTime: 1).duplicates == 1500)
        // Within one file, the second copy is the duplicate; a minute before 1970 keys like any other.
        let early = [(id: uuid(1), time: Int64(-61_500)), (id: uuid(1), time: Int64(-61_500)), (id: uuid(2), time: Int64(-1))]
        #expect(try store.commit(makeFile(early, name: "c"), ingestionTime: 1) == CommitResult(stored: 2, duplicates: 1, committed: true))
        #expect(try store.commit(makeFile(early, name: "d"), ingestionTime: 1).duplicates == 3)
        #expect(try allEvents(store).count == 1502)
    }

    /// An alert's records are kept as places in the block its file was stored as, and come back
    /// byte for byte; a record that is not a stored record's bytes is kept as a copy.
    @Test func alertRecordsAreKeptByReferenceAndComeBackIdentical() throws {
        let dir = tempDir()
        let store = try AccountStore(directory: dir, account: account)
        let t0: Int64 = 1_709_251_200_000
        let file = makeFile((0..<50).map { (uuid($0), t0 + Int64($0) * 1000) }, name: "a")
        let record = try storedRecords(file)
        func alert(_ id: String, _ records: [String]) -> Alert {
            recordAlert(id, message: "two records", eventIDs: [uuid(3), uuid(41)], records: records)
        }
        let byReference = alert("by-reference", [record(3), record(41)])
        let copied = alert("copied", [record(5) + " "])
        try store.write(now: 1) { tx in
            guard case .inserted(let block) = try tx.insertBlock(file) else { Issue.record("the file was not stored"); return }
            let locator = RecordLocator(block)
            #expect(try tx.recordAlert(byReference, records: locator) == 1)
            #expect(try tx.recordAlert(copied, records: locator) == 2)
            #expect(try tx.recordAlert(byReference, records: locator) == nil, "an id is recorded once")
            _ = try tx.recordLedger(block)
        }
        // Precondition: the first payload holds no record (its places do), the second holds its copy.
        let rows = try DatabaseQueue(path: "\(dir)/\(account).sqlite").read { db in
            try Row.fetchAll(db, sql: "SELECT length(payload), block, refs IS NOT NULL FROM alert_payloads ORDER BY seq")
        }
        #expect(rows.count == 2)
        #expect((rows[0][1] as Int64?) != nil && rows[0][2] == true)
        var bare = byReference
        bare.records = []
        #expect((rows[0][0] as Int) == bare.compact.count)
        #expect((rows[1][1] as Int64?) == nil && rows[1][2] == false)
        #expect((rows[1][0] as Int) == copied.compact.count)
        let pending = try store.pendingAlerts()
        #expect(pending.map(\.alert) == [byReference, copied])
        #expect(pending.first?.alert?.compact == byReference.compact, "the payload byte for byte")
        // The block stays, past retention, while an alert still takes records from it.
        try store.setRetention(days: 1)
        #expect(try store.applyRetention(now: t0 + 10 * 86_400_000) == 0)
        #expect(try store.pendingAlerts().first?.alert == byReference)
        try store.recordDeliveries([
            AlertDelivery(seq: 1, id: "by-reference", sinks: ["s"], complete: true, hadReceipts: false),
            AlertDelivery(seq: 2, id: "copied", sinks: ["s"], complete: true, hadReceipts: false),
        ])
        #expect(try store.pendingAlerts().isEmpty)
        #expect(try store.applyRetention(now: t0 + 10 * 86_400_000) == 50)
    }
    /// Records placed by the index of the rule hit that found them are kept as the same places a
    /// lookup by eventID finds; an index that does not fit (another record's length, a duplicate,
    /// out of the file) falls back to that lookup; a record holding U+FFFD is copied either way.
    @Test func alertRecordsPlacedByIndexAreTheLookedUpPlaces() throws {
        let dir = tempDir()
        let store = try AccountStore(directory: dir, account: account)
        let t0: Int64 = 1_709_251_200_000
        var events = (0..<50).map { (id: uuid($0), time: t0 + Int64($0) * 1000) }
        events.append((uuid(7), t0 + 7000))
        let file = makeFile(events, name: "a")
        let record = try storedRecords(file)
        func alert(_ id: String, _ records: [String]) -> Alert { recordAlert(id, message: "m", eventIDs: [uuid(3)], records: records) }
        // Of the stored record's length (U+FFFD is 3 bytes, as "t-1").
        let withFFFD = record(9).replacingOccurrences(of: "us-east-1", with: "us-eas\u{FFFD}")
        try store.write(now: 1) { tx in
            guard case .inserted(let block) = try tx.insertBlock(file) else { Issue.record("the file was not stored"); return }
            #expect(block.isDuplicate(50) && !block.isDuplicate(7), "precondition: the last record repeats record 7")
            let locator = RecordLocator(block)
            _ = try tx.recordAlert(alert("looked-up", [record(3), record(41)]), records: locator)
            _ = try tx.recordAlert(alert("by-index", [record(3), record(41)]), records: locator, recordIndexes: [3, 41])
            _ = try tx.recordAlert(alert("wrong-index", [record(3), record(41)]), records: locator, recordIndexes: [3, 50])
            _ = try tx.recordAlert(alert("out-of-file", [record(3), record(41)]), records: locator, recordIndexes: [3, 99])
            _ = try tx.recordAlert(alert("other-length", [record(3), record(41)]), records: locator, recordIndexes: [3, 5])
            _ = try tx.recordAlert(alert("fffd", [withFFFD]), records: locator, recordIndexes: [9])
            _ = try tx.recordLedger(block)
        }
        let rows = try DatabaseQueue(path: "\(dir)/\(account).sqlite").read { db in
            try Row.fetchAll(db, sql: "SELECT block, refs FROM alert_payloads ORDER BY seq")
        }
        #expect(rows.count == 6)
        #expect(withFFFD.utf8.count == record(9).utf8.count)
        let looked: Data? = rows[0][1]
        #expect(looked != nil)
        for row in rows[1...4] {
            #expect((row[0] as Int64?) == (rows[0][0] as Int64?) && (row[1] as Data?) == looked)
        }
        #expect((rows[5][0] as Int64?) == nil && (rows[5][1] as Data?) == nil, "a record holding U+FFFD is copied")
        #expect(try store.pendingAlerts().map { $0.alert?.records ?? [] } == Array(repeating: [record(3), record(41)], count: 5) + [[withFFFD]])
    }

    /// Deliveries are recorded by runs of complete alerts: an alert some sink still lacks in the
    /// middle of a run stays in the outbox with the receipts it has, its neighbours leave it, and
    /// once it completes its receipts go too.
    @Test func deliveriesRecordedInRunsLeaveOnlyTheIncompleteAlertPending() throws {
        let dir = tempDir()
        let store = try AccountStore(directory: dir, account: account)
        func alert(_ n: Int) -> Alert {
            Alert(
                rule: "r", severity: "high", priority: 2, messageID: "m", message: "m\(n)", account: account, region: "us-east-1",
                principal: "p", sourceIP: "1.2.3.4", eventName: "E", eventIDs: ["e\(n)"], eventTime: "2024-03-01T00:00:03Z",
                count: 1, logFile: "a", alertID: "a\(n)", records: ["{\"eventID\":\"e\(n)\"}"])
        }
        let seqs = try store.write(now: 1) { tx in try (1...6).map { try #require(try tx.recordAlert(alert($0))) } }
        #expect(seqs == [1, 2, 3, 4, 5, 6])
        func d(_ n: Int, _ sinks: [String], complete: Bool, receipts: Bool = false) -> AlertDelivery {
            AlertDelivery(seq: Int64(n), id: "a\(n)", sinks: sinks, complete: complete, hadReceipts: receipts)
        }
        // Sink "b" refused a3 (so a3..a6 went to "a" alone in that pass): only a1 and a2 complete.
        try store.recordDeliveries([
            d(1, ["a", "b"], complete: true), d(2, ["a", "b"], complete: true), d(3, ["a"], complete: false),
            d(4, ["a"], complete: false), d(5, ["a"], complete: false),
        ])
        var pending = try store.pendingAlerts()
        #expect(pending.map(\.id) == ["a3", "a4", "a5", "a6"])
        #expect(pending.map(\.deliveredTo) == [["a"], ["a"], ["a"], []])
        #expect(pending.map(\.alert) == [alert(3), alert(4), alert(5), alert(6)], "payloads kept while pending")
        // "b" back: a3 and a5 complete, a4 does not (in a run of its own), a6 reaches both.
        try store.recordDeliveries([
            d(3, ["b"], complete: true, receipts: true), d(4, [], complete: false), d(5, ["b"], complete: true, receipts: true),
            d(6, ["a", "b"], complete: true),
        ])
        pending = try store.pendingAlerts()
        #expect(pending.map(\.id) == ["a4"] && pending.first?.deliveredTo == ["a"])
        let (receipts, payloads, sent) = try DatabaseQueue(path: "\(dir)/\(account).sqlite").read { db in
            (
                try String.fetchAll(db, sql: "SELECT id FROM alert_deliveries ORDER BY id"),
                try Int64.fetchAll(db, sql: "SELECT seq FROM alert_payloads ORDER BY seq"),
                try Int64.fetchAll(db, sql: "SELECT seq FROM alerts WHERE sent = 1 ORDER BY seq")
            )
        }
        #expect(receipts == ["a4"], "the receipts of completed alerts are gone")
        #expect(payloads == [4] && sent == [1, 2, 3, 5, 6])
    }
}

/// Record `i` of `file` as its block holds it (what a rule hit's record is).
func storedRecords(_ file: DecodedFile) throws -> (Int) -> String {
    let raw = try Inflater.inflateAll(file.compressed)
    return { i in
        let e = file.records[i].entry
        return String(decoding: raw[e.offset..<(e.offset + e.length)], as: UTF8.self)
    }
}

/// An alert of rule `r` with `records`, for the outbox tests.
func recordAlert(_ id: String, message: String, eventIDs: [String], records: [String]) -> Alert {
    Alert(
        rule: "r", severity: "high", priority: 2, messageID: "m", message: message, account: account, region: "us-east-1",
        principal: "p", sourceIP: "1.2.3.4", eventName: "E", eventIDs: eventIDs, eventTime: "2024-03-01T00:00:03Z",
        count: eventIDs.count, logFile: "a", alertID: id, records: records)
}
