import CloudTrail
import Glibc
import Posix
import GRDB
import GRDBSQLite

/// One account's log group in one SQLite file: its streams, stored blocks, event-id index and ledger.
///
/// A delivered file belongs to exactly one account, so a file's events and its ledger row commit
/// in one transaction: after a crash a committed file is never replayed and an uncommitted one
/// leaves no trace. One process writes; others may read at the same time (WAL).
package final class AccountStore: @unchecked Sendable {
    package let account: String
    package let path: String
    package let groupName: String
    /// The writer's one connection; read-only, a pool of WAL readers that query in parallel (or,
    /// on read-only media, one immutable connection).
    let queue: any DatabaseWriter
    /// The database file as opened (nil read-only): a path that names another file later means the
    /// store was deleted or replaced under the running process.
    package let identity: FileIdentity?
    /// Checkpoints the writer's WAL in the background (nil read-only); kept as long as the writer's
    /// connection, whose WAL hook points at it.
    package let checkpointer: WALCheckpointer?

    /// Opens (creating if needed, unless `readOnly`) the store of `account` under `directory`;
    /// read-only, with up to `readers` connections reading at once (the API server's queries).
    /// `checkpoints`: when the writer's WAL is checkpointed (see ``WALCheckpointer``).
    package init(
        directory: String, account: String, groupName: String? = nil, readOnly: Bool = false, readers: Int = 1,
        checkpoints: WALCheckpointer.Limits = .init()
    ) throws {
        self.account = account
        self.path = "\(directory)/\(account).sqlite"
        var config = Configuration()
        config.readonly = readOnly
        config.busyMode = .timeout(10)
        config.maximumReaderCount = max(1, readers)
        let checkpointer = readOnly ? nil : WALCheckpointer(path: path, limits: checkpoints)
        self.checkpointer = checkpointer
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA cache_size = -4000")
            if !readOnly {
                // Large pages: a delivered file is one blob, written in fewer, bigger writes.
                try db.execute(sql: "PRAGMA page_size = 16384")
            }
            if !readOnly {
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            if let checkpointer, let connection = db.sqliteConnection { checkpointer.install(on: connection) }
        }
        queue = readOnly ? try Self.openReadOnly(path, config) : try DatabaseQueue(path: path, configuration: config)
        if !readOnly {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            }
            try Schema.migrator.migrate(queue)
            // Pages a migration freed (v7 drops the table of a key row per event) go back to the file system.
            try queue.writeWithoutTransaction { db in
                if try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0 > 0 { try db.execute(sql: "PRAGMA incremental_vacuum") }
            }
            try queue.write { db in
                try db.execute(
                    sql: "INSERT OR IGNORE INTO meta(key, value) VALUES ('account', ?), ('group', ?), ('creation_time', ?)",
                    arguments: [account, groupName ?? "aws-cloudtrail-logs-\(account)", Posix.nowMillis()])
            }
        }
        identity = readOnly ? nil : Posix.identity(path)
        self.groupName = try queue.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'group'")
        } ?? "aws-cloudtrail-logs-\(account)"
    }

    /// Opens a database for reading: a pool of read-only connections (`maximumReaderCount`), each
    /// query on its own WAL snapshot, in parallel with the others and with the writer. A WAL
    /// database on read-only media (a copy of the state, a snapshot) cannot get its shared-memory
    /// file: it is then opened immutable, one connection reading what the database file holds.
    /// Errors name the path and say "read-only".
    static func openReadOnly(_ path: String, _ config: Configuration) throws -> any DatabaseWriter {
        func probe(_ q: some DatabaseWriter) throws -> any DatabaseWriter {
            _ = try q.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
            return q
        }
        do {
            return try probe(try DatabasePool(path: path, configuration: config))
        } catch let e as DatabaseError where e.resultCode == .SQLITE_CANTOPEN || e.resultCode == .SQLITE_READONLY {
            do { try Posix.checkAccess(path, R_OK) } catch {
                throw StoreError(.readOnly, "\(path): cannot open for reading: \(Posix.describe(error.errno))")
            }
            let escaped = path.utf8.map { b -> String in
                b < 0x80 && b > 0x20 && b != UInt8(ascii: "%") && b != UInt8(ascii: "?") && b != UInt8(ascii: "#")
                    ? String(UnicodeScalar(b)) : "%" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }.joined()
            do {
                return try probe(try DatabaseQueue(path: "file:\(escaped)?immutable=1", configuration: config))
            } catch {
                throw StoreError(.readOnly, "\(path): cannot open read-only (\(e)); opened immutable: \(error)")
            }
        }
    }

    /// The background checkpointer's connection closes first: the writer's, closing last, then
    /// checkpoints what is left and removes the WAL, as it did before there was a second connection.
    deinit { checkpointer?.close() }

    // MARK: Ledger

    /// Every ledger row, for the start-up scan.
    package func ledger() throws -> [String: LedgerEntry] {
        try queue.read { db in
            var out: [String: LedgerEntry] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT path, status, size, mtime, reason, etag FROM ledger")
            while let row = try rows.next() {
                let path: String = row[0]
                out[path] = LedgerEntry(
                    path: path, status: LedgerEntry.Status(rawValue: row[1]) ?? .failed, size: row[2], mtime: row[3],
                    reason: row[4], etag: row[5])
            }
            return out
        }
    }

    /// One file's ledger row, or nil when the file was never taken (the S3 source asks before downloading).
    package func ledgerEntry(_ ledgerKey: String) throws -> LedgerEntry? {
        try queue.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT status, size, mtime, reason, etag FROM ledger WHERE path = ?", arguments: [ledgerKey])
            else { return nil }
            return LedgerEntry(
                path: ledgerKey, status: LedgerEntry.Status(rawValue: row[0]) ?? .failed, size: row[1], mtime: row[2], reason: row[3],
                etag: row[4])
        }
    }

    /// The greatest ledger key starting with `prefix` (the S3 source's StartAfter for a day folder), or nil.
    package func lastLedgerKey(withPrefix prefix: String) throws -> String? {
        try queue.read { db in
            // Keys sort bytewise; every key with the prefix lies in [prefix, prefix + U+10FFFF).
            try String.fetchOne(
                db, sql: "SELECT max(path) FROM ledger WHERE path >= ? AND path < ?", arguments: [prefix, prefix + "\u{10FFFF}"])
        }
    }

    /// Records that a file could not be ingested, so it is not retried until it changes.
    package func recordFailure(ledgerKey: String, size: Int64, mtime: Int64, reason: String, etag: String? = nil) throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO ledger(path, status, size, mtime, reason, done_at, etag) VALUES (?, 'failed', ?, ?, ?, ?, ?)
                    ON CONFLICT(path) DO UPDATE SET status = 'failed', size = excluded.size, mtime = excluded.mtime,
                      reason = excluded.reason, done_at = excluded.done_at, etag = excluded.etag WHERE ledger.status != 'done'
                    """,
                arguments: [ledgerKey, size, mtime, reason, Posix.nowMillis(), etag])
        }
    }

    /// Notes that a file taken before was rewritten with content that cannot be read: its stored
    /// events stay, and the new size and mtime are kept so it is looked at again only when it changes.
    package func recordUnreadableRewrite(ledgerKey: String, size: Int64, mtime: Int64, reason: String) throws {
        try queue.write { db in
            try db.execute(
                sql: "UPDATE ledger SET size = ?, mtime = ?, reason = ?, rewrites = rewrites + 1 WHERE path = ? AND status = 'done'",
                arguments: [size, mtime, reason, ledgerKey])
        }
    }

    /// An event time (ms) in whole seconds (floor, also before 1970).
    static func seconds(_ ms: Int64) -> Int64 { ms >= 0 ? ms / 1000 : (ms - 999) / 1000 }

    /// Stream ids by name, filled as streams are first written.
    private var streamIDs: [String: Int64] = [:]

    /// Drops the stream ids known: after a rollback, one may name a stream that was never committed.
    func forgetStreams() { streamIDs = [:] }

    func ensureStream(_ db: Database, name: String, region: String, now: Int64) throws -> Int64 {
        if let id = streamIDs[name] { return id }
        try db.execute(
            sql: "INSERT OR IGNORE INTO streams(name, region, creation_time) VALUES (?, ?, ?)",
            arguments: [name, region, now])
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM streams WHERE name = ?", arguments: [name]) else {
            throw StoreError(.resourceNotFound, "stream \(name) vanished")
        }
        streamIDs[name] = id
        return id
    }

    // MARK: Retention

    /// Sets the group's retention (nil: never expire); only CloudWatch's allowed day values are accepted.
    package func setRetention(days: Int?) throws {
        if let days, !Retention.allowedDays.contains(days) {
            throw StoreError(
                .invalidParameter,
                "retentionInDays \(days) is not one of \(Retention.allowedDays.map(String.init).joined(separator: ", "))")
        }
        try queue.write { db in
            if let days {
                try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('retention_days', ?)", arguments: [days])
            } else {
                try db.execute(sql: "DELETE FROM meta WHERE key = 'retention_days'")
            }
        }
    }

    package func retentionDays() throws -> Int? {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'retention_days'") }
    }

    /// Deletes blocks whose newest event is older than the retention period; returns the events removed.
    /// Ledger rows stay, so expired files are never ingested again. With `keepUnforwarded`
    /// (`store = cloudwatch`: the store is the spool) a block not yet wholly forwarded stays.
    @discardableResult
    package func applyRetention(now: Int64, keepUnforwarded: Bool = false) throws -> Int {
        guard let days = try retentionDays() else { return 0 }
        let cutoff = now - Int64(days) * 86_400_000
        let removed = try queue.write { db -> Int in
            // A block that a pending alert's records point into stays until the alert is delivered.
            var expired = "max_ts < ?1 AND id NOT IN (SELECT block FROM alert_payloads WHERE block IS NOT NULL)"
            if keepUnforwarded {
                expired += """
                     AND EXISTS (SELECT 1 FROM forward f WHERE f.stream = blocks.stream
                      AND (f.block > blocks.id OR (f.block = blocks.id AND f.next >= blocks.stored)))
                    """
            }
            let n = try Int.fetchOne(db, sql: "SELECT coalesce(sum(stored), 0) FROM blocks WHERE \(expired)", arguments: [cutoff]) ?? 0
            let blocks = try Int.fetchOne(db, sql: "SELECT count(*) FROM blocks WHERE \(expired)", arguments: [cutoff]) ?? 0
            guard blocks > 0 else { return 0 }
            // Dedup keys go only where no kept block can hold their event: a kept block (newest
            // event within the period) may start before the cutoff, and its events must stay
            // deduplicated for as long as they are stored.
            let keptFrom = try Int64.fetchOne(db, sql: "SELECT min(min_ts) FROM blocks WHERE NOT (\(expired))", arguments: [cutoff])
            try db.execute(sql: "DELETE FROM eventkeys WHERE id < ?", arguments: [DedupKeys.firstRow(ofMillis: min(cutoff, keptFrom ?? cutoff))])
            try db.execute(
                sql: """
                    UPDATE streams SET events = events - (SELECT coalesce(sum(stored), 0) FROM blocks
                      WHERE blocks.stream = streams.id AND \(expired))
                    """, arguments: [cutoff])
            try db.execute(sql: "DELETE FROM blocks WHERE \(expired)", arguments: [cutoff])
            try db.execute(sql: "UPDATE streams SET first_ts = (SELECT min(min_ts) FROM blocks WHERE blocks.stream = streams.id)")
            return n
        }
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA incremental_vacuum") }
        return removed
    }
}
