import CloudTrail
import GRDB
import GRDBSQLite
import Gzip

/// One write transaction on an account's store: the seam where a file is committed.
///
/// Everything a file changes (its block, index and dedup keys, the rule state, the alert outbox,
/// its ledger row) is written through one handle, so it commits together or not at all: after a
/// crash a committed file is never replayed, an uncommitted one leaves no trace, and no alert is
/// recorded twice. The store knows nothing of rules; the caller (Ingest's `Committer`) decides
/// what runs between ``insertBlock(_:)`` and ``recordLedger(_:)``. Valid only inside
/// ``AccountStore/write(now:_:)``: never keep it.
package struct WriteTransaction {
    let db: Database
    let store: AccountStore
    /// The transaction's time (ms): ingestion time of a block, creation time of an outbox row.
    package let now: Int64

    init(_ db: Database, store: AccountStore, now: Int64) {
        self.db = db
        self.store = store
        self.now = now
    }

    /// What ``insertBlock(_:)`` did.
    package enum BlockInsertion {
        /// Nothing stored: the file was taken before with the same bytes (`result` tells whether
        /// only its size or mtime changed, which the ledger notes).
        case unchanged(CommitResult)
        /// The block is stored; its ledger row is still to be written.
        case inserted(InsertedBlock)
    }

    /// A block stored in this transaction, waiting for its ledger row.
    package struct InsertedBlock {
        let ledgerKey: String
        let size: Int64
        let mtime: Int64
        let blockID: Int64
        let hash: Int64
        /// The file's index entries, duplicates flagged, and each record's eventID key.
        let entries: [BlockEntry]
        let keys: [EventKey]
        package let stored: Int
        package let duplicates: Int
        package let rewrite: Rewrite?
        let etag: String?

        /// Whether record `i` (file order) was stored before, by this file or another: its rule
        /// hits must not count twice.
        package func isDuplicate(_ i: Int) -> Bool { entries[i].isDuplicate }

        /// The newest event time of the file's records (the rule engine's watermark).
        package var newestEventTime: Int64? { entries.lazy.map(\.timestamp).max() }
    }

    /// Stores a decoded file's events as one block (each eventID once per account: later ones are
    /// flagged duplicates), its index and dedup keys, and updates its stream.
    package func insertBlock(_ file: DecodedFile) throws -> BlockInsertion {
        let hash = Int64(Checksum.crc32(file.compressed))
        // Taken before: the same sighting again, the same bytes with a new mtime, or new content.
        let previous = try PreviousVersion.fetch(db, path: file.ledgerKey)
        var previousRecords: Set<EventKey>? = nil
        if let previous {
            if previous.size == file.size && previous.mtime == file.mtime {
                return .unchanged(CommitResult(stored: 0, duplicates: 0, committed: false))
            }
            let stored = try previous.storedRecords(db)
            if previous.size == file.size, stored.map({ $0.data == file.compressed }) ?? (previous.hash == hash) {
                try db.execute(
                    sql: "UPDATE ledger SET mtime = ?, hash = ?, etag = coalesce(?, etag) WHERE path = ?",
                    arguments: [file.mtime, hash, file.etag, file.ledgerKey])
                return .unchanged(CommitResult(stored: 0, duplicates: 0, committed: false, sameContent: true))
            }
            previousRecords = stored?.records
        }
        let ingestionTime = now
        let streamID = try store.ensureStream(db, name: file.key.streamName, region: file.key.region, now: ingestionTime)
        // Past every id a forwarding checkpoint names too: retention may have removed the newest
        // block after it was forwarded, and its id must not come back as an unsent block.
        let blockID =
            (try Int64.fetchOne(
                db.cachedStatement(
                    sql: "SELECT max(coalesce((SELECT max(id) FROM blocks), 0), coalesce((SELECT max(block) FROM forward), 0)) + 1")) ?? 1)
        var entries = file.records.map(\.entry)
        var duplicates = 0
        var keys = DedupKeys(db)
        var minTS = Int64.max
        var maxTS = Int64.min
        for i in entries.indices {
            let t = entries[i].timestamp
            if try !keys.insert(millis: t, key: file.records[i].eventKey.key64) {
                entries[i].flags |= BlockEntry.duplicate
                duplicates += 1
            } else {
                minTS = min(minTS, t)
                maxTS = max(maxTS, t)
            }
        }
        try keys.save()
        if minTS > maxTS {
            minTS = file.key.deliveryTime
            maxTS = file.key.deliveryTime
        }
        let stored = entries.count - duplicates
        let index = BlockIndex.encode(entries, base: minTS)
        let blockInsert = try db.cachedStatement(
            sql: """
                INSERT INTO blocks(id, stream, min_ts, max_ts, ingestion_time, count, stored, file, raw_size, data, idx)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        try Raw.insertBlock(
            blockInsert.sqliteStatement, db: db.sqliteConnection, id: blockID, stream: streamID, minTS: minTS, maxTS: maxTS,
            ingestion: ingestionTime, count: entries.count, stored: stored, file: file.ledgerKey,
            rawSize: file.uncompressedSize, data: file.compressed, index: index)
        try db.cachedStatement(
            sql: """
                UPDATE streams SET first_ts = min(coalesce(first_ts, ?), ?), last_ts = max(coalesce(last_ts, ?), ?),
                  last_ingestion = ?, events = events + ?, stored_bytes = stored_bytes + ? WHERE id = ?
                """
        ).execute(
            arguments: [minTS, minTS, maxTS, maxTS, ingestionTime, stored, file.compressed.count, streamID])
        let rewrite = try previous?.compare(file, entries: entries, previous: previousRecords)
        return .inserted(
            InsertedBlock(
                ledgerKey: file.ledgerKey, size: file.size, mtime: file.mtime, blockID: blockID, hash: hash, entries: entries,
                keys: file.records.map(\.eventKey),
                stored: stored, duplicates: duplicates, rewrite: rewrite, etag: file.etag))
    }

    /// Marks the block's file done in the ledger: the last write of a file's transaction.
    package func recordLedger(_ block: InsertedBlock) throws -> CommitResult {
        try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO ledger(path, status, size, mtime, events, stored, duplicates, reason, done_at, block, hash, rewrites, etag)
                VALUES (?, 'done', ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                block.ledgerKey, block.size, block.mtime, block.entries.count, block.stored, block.duplicates, now, block.blockID,
                block.hash, block.rewrite?.count ?? 0, block.etag,
            ])
        return CommitResult(stored: block.stored, duplicates: block.duplicates, committed: true, rewrite: block.rewrite)
    }
}

extension AccountStore {
    /// Runs `body` in one write transaction of this store (rolled back if it throws): the handle
    /// through which a file, its rule state, alerts and ledger row are committed together.
    package func write<R>(now: Int64, _ body: (WriteTransaction) throws -> R) throws -> R {
        do {
            return try queue.write { db in try body(WriteTransaction(db, store: self, now: now)) }
        } catch {
            // A stream first written in the rolled-back transaction is gone with it.
            forgetStreams()
            throw error
        }
    }

    /// Stores a decoded file's events (each eventID once per account) and marks it done, atomically,
    /// with no rules: a file's block and ledger row alone (the committer adds rules in between).
    package func commit(_ file: DecodedFile, ingestionTime: Int64) throws -> CommitResult {
        try write(now: ingestionTime) { tx in
            switch try tx.insertBlock(file) {
            case .unchanged(let result): return result
            case .inserted(let block): return try tx.recordLedger(block)
            }
        }
    }
}
