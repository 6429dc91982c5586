import FoundationEssentials
import GRDB
import Gzip

/// A place in a stream's forwarding order: blocks by id, each block's records (duplicates left
/// out) by time, then by their place in the file. `next` records of `block` come before it.
package struct ForwardPosition: Sendable, Hashable, Comparable {
    package var block: Int64
    package var next: Int

    package init(block: Int64, next: Int) {
        self.block = block
        self.next = next
    }

    package static func < (a: Self, b: Self) -> Bool { (a.block, a.next) < (b.block, b.next) }
}

/// A batch written down before its PutLogEvents: where it runs, its time span and a digest of
/// its events (with the first and last event's identity, for the log), so that after a crash it
/// can be read back, checked, and reconciled with what CloudWatch holds.
package struct InFlightBatch: Sendable, Equatable {
    package var from: ForwardPosition
    package var to: ForwardPosition
    package var startMs: Int64
    package var endMs: Int64
    package var count: Int
    package var digest: String
    package var firstID: String
    package var lastID: String
    /// When it was written (ms): the reconcile waits until CloudWatch has had time to show it.
    package var began: Int64

    package init(
        from: ForwardPosition, to: ForwardPosition, startMs: Int64, endMs: Int64, count: Int, digest: String, firstID: String,
        lastID: String, began: Int64
    ) {
        self.from = from
        self.to = to
        self.startMs = startMs
        self.endMs = endMs
        self.count = count
        self.digest = digest
        self.firstID = firstID
        self.lastID = lastID
        self.began = began
    }
}

/// A stream's forwarding checkpoint.
package struct ForwardCheckpoint: Sendable, Equatable {
    package var streamID: Int64
    package var stream: String
    package var position: ForwardPosition
    package var forwarded: Int64
    package var inFlight: InFlightBatch?
}

/// A stored block read back for forwarding: its records in forwarding order.
package struct ForwardBlock: Sendable {
    package var id: Int64
    /// The ledger key of the file that delivered it.
    package var file: String
    /// The block's inflated bytes.
    package var raw: [UInt8]
    /// Its records (duplicates left out), by time, then by place in the file.
    package var entries: [BlockEntry]

    /// The bytes of record `i` (forwarding order).
    package func record(_ i: Int) -> ArraySlice<UInt8> {
        let e = entries[i]
        return raw[e.offset..<(e.offset + e.length)]
    }
}

extension AccountStore {
    /// Every stream with its checkpoint (a stream never forwarded starts before its first block).
    package func forwardCheckpoints() throws -> [ForwardCheckpoint] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.id, s.name, coalesce(f.block, 0), coalesce(f.next, 0), coalesce(f.forwarded, 0),
                      f.to_block, f.to_next, f.from_ms, f.to_ms, f.count, f.digest, f.first_id, f.last_id, f.began
                    FROM streams s LEFT JOIN forward f ON f.stream = s.id ORDER BY s.name
                    """
            ).map { r in
                var inFlight: InFlightBatch? = nil
                if let toBlock: Int64 = r[5] {
                    inFlight = InFlightBatch(
                        from: ForwardPosition(block: r[2], next: r[3]), to: ForwardPosition(block: toBlock, next: r[6]),
                        startMs: r[7], endMs: r[8], count: r[9], digest: r[10], firstID: r[11], lastID: r[12], began: r[13])
                }
                return ForwardCheckpoint(
                    streamID: r[0], stream: r[1], position: ForwardPosition(block: r[2], next: r[3]), forwarded: r[4],
                    inFlight: inFlight)
            }
        }
    }

    /// The id of the newest block (0 when there is none): a change means something new to forward.
    package func newestBlockID() throws -> Int64 {
        try queue.read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM blocks") ?? 0 }
    }

    /// Blocks of `stream` not yet wholly forwarded (the one the checkpoint is inside counts).
    package func unforwardedBlocks(streamID: Int64, after p: ForwardPosition) throws -> Int {
        try queue.read { db in
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM blocks WHERE stream = ? AND (id > ? OR (id = ? AND stored > ?))",
                arguments: [streamID, p.block, p.block, p.next]) ?? 0
        }
    }

    /// The ids of `stream`'s blocks holding records at or after `p`, in order, at most `limit`.
    package func forwardBlockIDs(streamID: Int64, from p: ForwardPosition, limit: Int) throws -> [Int64] {
        try queue.read { db in
            try Int64.fetchAll(
                db, sql: "SELECT id FROM blocks WHERE stream = ? AND (id > ? OR (id = ? AND stored > ?)) ORDER BY id LIMIT ?",
                arguments: [streamID, p.block, p.block, p.next, limit])
        }
    }

    /// A block's records in forwarding order; nil when it no longer exists.
    package func forwardBlock(_ id: Int64) throws -> ForwardBlock? {
        guard
            let row = try queue.read({ db in
                try Row.fetchOne(db, sql: "SELECT file, data, idx, min_ts, raw_size FROM blocks WHERE id = ?", arguments: [id])
            })
        else { return nil }
        let data = [UInt8](row[1] as Data)
        guard let entries = BlockIndex.decode([UInt8](row[2] as Data), base: row[3]) else {
            throw StoreError(.corruptBlock, "block \(id) has a damaged index")
        }
        let raw = try Inflater.inflateAll(data, expectedSize: row[4])
        let kept = entries.enumerated().filter { !$0.element.isDuplicate }
            .sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map { $0.element }
        for e in kept where e.offset < 0 || e.offset + e.length > raw.count {
            throw StoreError(.corruptBlock, "block \(id) is shorter than its index says")
        }
        return ForwardBlock(id: id, file: row[0], raw: raw, entries: kept)
    }

    /// Writes a batch down before it is sent (the stream's checkpoint row is created if needed).
    package func beginForward(streamID: Int64, _ b: InFlightBatch) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO forward(stream, block, next, to_block, to_next, from_ms, to_ms, count, digest, first_id, last_id, began)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                    ON CONFLICT(stream) DO UPDATE SET block = ?2, next = ?3, to_block = ?4, to_next = ?5, from_ms = ?6,
                      to_ms = ?7, count = ?8, digest = ?9, first_id = ?10, last_id = ?11, began = ?12
                    """,
                arguments: [
                    streamID, b.from.block, b.from.next, b.to.block, b.to.next, b.startMs, b.endMs, b.count, b.digest, b.firstID,
                    b.lastID, b.began,
                ])
        }
    }

    /// Advances the checkpoint to `to` and clears the in-flight batch, in one transaction: the
    /// batch's `sent` events are counted as forwarded.
    package func finishForward(streamID: Int64, to: ForwardPosition, sent: Int) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO forward(stream, block, next, forwarded) VALUES (?1, ?2, ?3, ?4)
                    ON CONFLICT(stream) DO UPDATE SET block = ?2, next = ?3, forwarded = forwarded + ?4, to_block = NULL,
                      to_next = NULL, from_ms = NULL, to_ms = NULL, count = NULL, digest = NULL, first_id = NULL,
                      last_id = NULL, began = NULL
                    """, arguments: [streamID, to.block, to.next, sent])
        }
    }
}
