import AlertModel
import CloudTrail
import FoundationEssentials
import GRDB
import GRDBSQLite
import Glibc
import Gzip
import Posix

extension WriteTransaction {
    /// Puts an alert in the outbox and returns its place in outbox order (`seq`); nil when an alert
    /// with its id was recorded before (it must never go out twice). The payload (``Alert/compact``)
    /// is built only for a new alert. With `records`, an alert whose records all lie in the block
    /// this transaction stored keeps where they lie (block id, offset and length of each) instead
    /// of a copy: an alert storm then writes each record once, in its block. `recordIndexes`: where
    /// the rule hits found the records in the file, tried before parsing each record again.
    @discardableResult
    package func recordAlert(_ alert: Alert, records: RecordLocator? = nil, recordIndexes: [Int]? = nil) throws -> Int64? {
        // Bound through the C API: an alert storm runs these once per alert.
        let connection = db.sqliteConnection
        try Raw.step(
            db.cachedStatement(sql: "INSERT OR IGNORE INTO alerts(id, created, payload, rule) VALUES (?, ?, x'', ?)").sqliteStatement,
            db: connection, [.text(alert.alertID), .int(now), .text(alert.rule)])
        guard sqlite3_changes(connection) > 0 else { return nil }
        let seq = sqlite3_last_insert_rowid(connection)
        let insert = try db.cachedStatement(sql: "INSERT INTO alert_payloads(seq, payload, block, refs) VALUES (?, ?, ?, ?)")
        let refs = records.flatMap { $0.references(alert.records, hints: recordIndexes) }
        if let records, let refs {
            var bare = alert
            bare.records = []
            try Raw.step(insert.sqliteStatement, db: connection, [.int(seq), .blob(bare.compact), .int(records.blockID), .blob(refs)])
        } else {
            try Raw.step(insert.sqliteStatement, db: connection, [.int(seq), .blob(alert.compact), .null, .null])
        }
        return seq
    }

    /// Records which sinks took which alerts; a `complete` alert (every sink has it) leaves the
    /// outbox: marked sent, its payload and receipts deleted. `deliveries` are in outbox order with
    /// no pending alert between neighbours that is not among them (a page of the outbox, or the
    /// alerts one transaction recorded), so a run of complete alerts is marked with one statement
    /// per table over its `seq` range instead of a lookup per alert.
    package func recordDeliveries(_ deliveries: [AlertDelivery]) throws {
        guard !deliveries.isEmpty else { return }
        let sent = try db.cachedStatement(sql: "UPDATE alerts SET sent = 1 WHERE seq BETWEEN ? AND ? AND sent = 0")
        let dropPayloads = try db.cachedStatement(sql: "DELETE FROM alert_payloads WHERE seq BETWEEN ? AND ?")
        let dropReceipts = try db.cachedStatement(sql: "DELETE FROM alert_deliveries WHERE id = ?")
        let took = try db.cachedStatement(sql: "INSERT OR IGNORE INTO alert_deliveries(id, sink) VALUES (?, ?)")
        var i = 0
        while i < deliveries.count {
            guard deliveries[i].complete else {
                for sink in deliveries[i].sinks { try took.execute(arguments: [deliveries[i].id, sink]) }
                i += 1
                continue
            }
            var j = i
            while j + 1 < deliveries.count, deliveries[j + 1].complete, deliveries[j + 1].seq > deliveries[j].seq { j += 1 }
            // The id stays (an alert is never recorded twice); the payload is no longer needed.
            try sent.execute(arguments: [deliveries[i].seq, deliveries[j].seq])
            try dropPayloads.execute(arguments: [deliveries[i].seq, deliveries[j].seq])
            for d in deliveries[i...j] where d.hadReceipts { try dropReceipts.execute(arguments: [d.id]) }
            i = j + 1
        }
    }
}

/// What one delivery pass did with one alert of the outbox.
package struct AlertDelivery: Sendable, Equatable {
    /// The alert's place in outbox order.
    package var seq: Int64
    package var id: String
    /// Sinks that took it in this pass.
    package var sinks: [String]
    /// Every sink has it now: it leaves the outbox.
    package var complete: Bool
    /// Some sink's receipt was recorded in an earlier pass (deleted when the alert completes).
    package var hadReceipts: Bool

    package init(seq: Int64, id: String, sinks: [String], complete: Bool, hadReceipts: Bool) {
        self.seq = seq
        self.id = id
        self.sinks = sinks
        self.complete = complete
        self.hadReceipts = hadReceipts
    }
}

/// Finds an alert's records in the block its file was stored as: each record of a rule hit is the
/// bytes of one stored (not duplicate) record, known by its eventID and length.
package struct RecordLocator {
    let blockID: Int64
    let entries: [BlockEntry]
    /// Non-duplicate records by eventID key (unique: a second one is a duplicate).
    let byKey: [EventKey: Int]

    /// Indexes the block's stored records (a file's worth: built once, on its first alert with records).
    package init(_ block: WriteTransaction.InsertedBlock) {
        blockID = block.blockID
        entries = block.entries
        var byKey: [EventKey: Int] = [:]
        byKey.reserveCapacity(block.keys.count)
        for (i, k) in block.keys.enumerated() where !block.entries[i].isDuplicate { byKey[k] = i }
        self.byKey = byKey
    }

    /// The records' places as varints (count, then offset and length of each), or nil when one of
    /// them is not exactly a stored record's bytes (then the outbox keeps a copy). `hints`: their
    /// places in the file as the rule hits that found them tell (file order, one per record); a
    /// record is parsed again to find its place only when its hint does not hold (not a stored
    /// record of exactly its length). A record holding U+FFFD may be a decoding of bytes that are
    /// not UTF-8, so it is always copied.
    func references(_ records: [String], hints: [Int]? = nil) -> [UInt8]? {
        guard !records.isEmpty else { return nil }
        let hints = hints?.count == records.count ? hints : nil
        var out: [UInt8] = []
        Varint.put(&out, UInt64(records.count))
        for (k, record) in records.enumerated() {
            var r = record
            let found: Int? = r.withUTF8 { p -> Int? in
                let bytes = UnsafeRawBufferPointer(p)
                guard !Self.holdsReplacementCharacter(bytes) else { return nil }
                if let i = hints?[k], entries.indices.contains(i), !entries[i].isDuplicate, entries[i].length == bytes.count { return i }
                guard let key = RecordInfo.read(bytes)?.eventKey, let i = byKey[key], entries[i].length == bytes.count else { return nil }
                return i
            }
            guard let i = found else { return nil }
            Varint.put(&out, UInt64(entries[i].offset))
            Varint.put(&out, UInt64(entries[i].length))
        }
        return out
    }

    static func holdsReplacementCharacter(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count >= 3, let base = b.baseAddress else { return false }
        // memchr finds each candidate lead byte (rare in CloudTrail's ASCII records) far faster than a byte loop.
        var from = 0
        while from + 2 < b.count, let hit = memchr(base + from, 0xEF, b.count - 2 - from) {
            let i = base.distance(to: UnsafeRawPointer(hit))
            if b[i + 1] == 0xBF && b[i + 2] == 0xBD { return true }
            from = i + 1
        }
        return false
    }

    /// The records a reference list names, from the block's bytes as delivered.
    static func records(_ refs: [UInt8], block: [UInt8], rawSize: Int, blockID: Int64) throws -> [String] {
        let raw = try Inflater.inflateAll(block, expectedSize: rawSize)
        return try refs.withUnsafeBytes { p in
            var i = 0
            guard let n = Varint.get(p, &i), n <= 1 << 20 else { throw StoreError(.corruptBlock, "alert record references of block \(blockID) are damaged") }
            var out: [String] = []
            for _ in 0..<n {
                guard let o = Varint.get(p, &i), let l = Varint.get(p, &i), o <= UInt64(raw.count), l <= UInt64(raw.count) - o else {
                    throw StoreError(.corruptBlock, "alert record references of block \(blockID) are damaged or out of its \(raw.count) bytes")
                }
                out.append(String(decoding: raw[Int(o)..<Int(o + l)], as: UTF8.self))
            }
            return out
        }
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
            // Blocks that this page's alerts take records from, inflated once each.
            var blocks: [Int64: (data: [UInt8], rawSize: Int)] = [:]
            return try rows.map { row in
                let id: String = row[1]
                let delivered = taken[id] ?? []
                var alert: Alert? = nil
                if decodeFor.map({ !$0.isSubset(of: delivered) }) ?? true,
                    let stored = try Row.fetchOne(
                        db, sql: "SELECT payload, block, refs FROM alert_payloads WHERE seq = ?", arguments: [row[0] as Int64])
                {
                    guard var a = Alert.stored([UInt8](stored[0] as Data)) else {
                        throw StoreError(.corruptBlock, "alert \(id) in the outbox is damaged")
                    }
                    if let blockID: Int64 = stored[1], let refs: Data = stored[2] {
                        if blocks[blockID] == nil {
                            guard let b = try Row.fetchOne(db, sql: "SELECT data, raw_size FROM blocks WHERE id = ?", arguments: [blockID]) else {
                                throw StoreError(.corruptBlock, "alert \(id) takes its records from block \(blockID), which is not stored")
                            }
                            blocks[blockID] = ([UInt8](b[0] as Data), b[1])
                        }
                        let b = blocks[blockID]!
                        a.records = try RecordLocator.records([UInt8](refs), block: b.data, rawSize: b.rawSize, blockID: blockID)
                    }
                    alert = a
                }
                return PendingAlert(seq: row[0], id: id, deliveredTo: delivered, alert: alert)
            }
        }
    }

    /// Alerts not yet delivered to every sink.
    package func pendingAlertCount() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM alerts WHERE sent = 0") ?? 0 }
    }

    /// Records, in one transaction, which sinks took which alert (see ``WriteTransaction/recordDeliveries(_:)``).
    package func recordDeliveries(_ deliveries: [AlertDelivery]) throws {
        guard !deliveries.isEmpty else { return }
        try write(now: Posix.nowMillis()) { tx in try tx.recordDeliveries(deliveries) }
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

