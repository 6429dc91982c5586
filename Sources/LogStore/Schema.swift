import GRDB
import GRDBSQLite

/// The per-account database schema, versioned with GRDB's migrator.
enum Schema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
                    CREATE TABLE streams(
                      id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, region TEXT NOT NULL,
                      creation_time INTEGER NOT NULL, first_ts INTEGER, last_ts INTEGER, last_ingestion INTEGER,
                      events INTEGER NOT NULL DEFAULT 0, stored_bytes INTEGER NOT NULL DEFAULT 0);
                    -- One row per delivered file: its .json.gz as delivered and a compact index of its records.
                    CREATE TABLE blocks(
                      id INTEGER PRIMARY KEY, stream INTEGER NOT NULL, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL,
                      ingestion_time INTEGER NOT NULL, count INTEGER NOT NULL, stored INTEGER NOT NULL,
                      file TEXT NOT NULL, raw_size INTEGER NOT NULL, data BLOB NOT NULL, idx BLOB NOT NULL);
                    CREATE INDEX blocks_by_stream_time ON blocks(stream, min_ts, max_ts);
                    -- Every stored event once: (eventTime in seconds, 64-bit eventID key). A duplicate is a
                    -- byte-identical record, so it shares the time; keying by time keeps a file's inserts
                    -- in a few pages and makes retention a range delete.
                    CREATE TABLE eventids(t INTEGER NOT NULL, k INTEGER NOT NULL, PRIMARY KEY(t, k)) WITHOUT ROWID;
                    CREATE TABLE ledger(
                      path TEXT PRIMARY KEY, status TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
                      events INTEGER, stored INTEGER, duplicates INTEGER, reason TEXT, done_at INTEGER, block INTEGER)
                      WITHOUT ROWID;
                    """)
        }
        m.registerMigration("v2-rules") { db in
            try db.execute(
                sql: """
                    -- Rule state, committed with the file whose events changed it.
                    CREATE TABLE rule_windows(rule TEXT NOT NULL, key TEXT NOT NULL, newest INTEGER NOT NULL, state BLOB NOT NULL,
                      PRIMARY KEY(rule, key)) WITHOUT ROWID;
                    CREATE INDEX rule_windows_by_time ON rule_windows(newest);
                    CREATE TABLE first_seen(rule TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, t INTEGER NOT NULL,
                      PRIMARY KEY(rule, key, value)) WITHOUT ROWID;
                    CREATE INDEX first_seen_by_time ON first_seen(t);
                    CREATE TABLE suppressions(rule TEXT NOT NULL, key TEXT NOT NULL, state BLOB NOT NULL, PRIMARY KEY(rule, key)) WITHOUT ROWID;
                    -- Alert outbox: written in the file's transaction, marked sent once every sink took it.
                    CREATE TABLE alerts(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,
                      payload BLOB NOT NULL, sent INTEGER NOT NULL DEFAULT 0);
                    CREATE INDEX alerts_pending ON alerts(sent) WHERE sent = 0;
                    """)
        }
        m.registerMigration("v3-integrity") { db in
            try db.execute(
                sql: """
                    -- One row per digest checked: valid, invalid or pending (signature still to come).
                    CREATE TABLE digests(path TEXT PRIMARY KEY, region TEXT NOT NULL, end_time INTEGER NOT NULL,
                      status TEXT NOT NULL, reason TEXT, checked_at INTEGER NOT NULL) WITHOUT ROWID;
                    -- Log files whose hash matched their digest (not hashed again).
                    CREATE TABLE verified_logs(path TEXT PRIMARY KEY, digest TEXT NOT NULL) WITHOUT ROWID;
                    """)
        }
        m.registerMigration("v4-alert-deliveries") { db in
            try db.execute(
                sql: """
                    -- Sinks that took a pending alert, so a sink that is down (journald stopped) holds back
                    -- only itself: the others get the alert at once, and no sink gets it twice.
                    CREATE TABLE alert_deliveries(id TEXT NOT NULL, sink TEXT NOT NULL, PRIMARY KEY(id, sink)) WITHOUT ROWID;
                    -- Payloads (with the triggering records) only while an alert is pending: deleted once
                    -- every sink took it, so an alert storm does not grow the database by its records.
                    -- alerts keeps every id (an alert is never recorded twice).
                    CREATE TABLE alert_payloads(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL);
                    INSERT INTO alert_payloads(seq, payload) SELECT seq, payload FROM alerts WHERE sent = 0;
                    UPDATE alerts SET payload = x'';
                    """)
        }
        m.registerMigration("v5-ledger-rewrites") { db in
            try db.execute(
                sql: """
                    -- A file taken is known by its size, mtime and CRC-32 (of the bytes as delivered): a
                    -- file rewritten in place (same name, new content) is noticed, its new events stored,
                    -- and counted here. Rows from before have no hash (their stored block compares instead).
                    ALTER TABLE ledger ADD COLUMN hash INTEGER;
                    ALTER TABLE ledger ADD COLUMN rewrites INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        m.registerMigration("v6-suppression-until") { db in
            try db.execute(
                sql: """
                    -- When each suppression period ends, so the per-file check for ended periods reads an
                    -- index instead of decoding every open period (each holds up to 1,000 event ids).
                    ALTER TABLE suppressions ADD COLUMN until INTEGER NOT NULL DEFAULT 0;
                    UPDATE suppressions SET until = CASE WHEN json_valid(state) THEN coalesce(json_extract(state, '$.until'), 0) ELSE 0 END;
                    CREATE INDEX suppressions_by_until ON suppressions(until);
                    """)
        }
        m.registerMigration("v7-compact-store") { db in
            try db.execute(
                sql: """
                    -- Dedup keys packed by minute of event time (see DedupKeys), instead of a row per event.
                    CREATE TABLE eventkeys(id INTEGER PRIMARY KEY, keys BLOB NOT NULL);
                    -- An alert's records by reference to the block that stores them (varints: count, then
                    -- offset and length of each in the block's inflated bytes); NULL: the payload holds them.
                    ALTER TABLE alert_payloads ADD COLUMN block INTEGER;
                    ALTER TABLE alert_payloads ADD COLUMN refs BLOB;
                    """)
            try DedupKeys.pack(from: db)
            try db.execute(sql: "DROP TABLE eventids")
        }
        m.registerMigration("v8-alert-rule") { db in
            // The rule of each alert, kept after delivery (the payload is not), for per-rule counts.
            try db.execute(sql: "ALTER TABLE alerts ADD COLUMN rule TEXT")
        }
        m.registerMigration("v9-ledger-etag") { db in
            // The S3 ETag of a file fetched from a bucket (`logs = s3://…`): a notification or listing
            // naming the same key and ETag is taken already, without a download. NULL for mirrored files.
            try db.execute(sql: "ALTER TABLE ledger ADD COLUMN etag TEXT")
        }
        m.registerMigration("v10-forward") { db in
            try db.execute(
                sql: """
                    -- Forwarding to CloudWatch Logs (store = cloudwatch), per stream: everything before
                    -- (block, next) was sent (blocks in id order, a block's records in time order without
                    -- its duplicates; `next` counts those sent of `block`). The in-flight batch runs from
                    -- there to (to_block, to_next): written before its PutLogEvents, cleared with the
                    -- advance after it, so a batch found here at start may or may not have arrived and
                    -- is reconciled with FilterLogEvents over [from_ms, to_ms] (docs/cloudwatch.md).
                    CREATE TABLE forward(stream INTEGER PRIMARY KEY, block INTEGER NOT NULL DEFAULT 0,
                      next INTEGER NOT NULL DEFAULT 0, forwarded INTEGER NOT NULL DEFAULT 0,
                      to_block INTEGER, to_next INTEGER, from_ms INTEGER, to_ms INTEGER, count INTEGER,
                      digest TEXT, first_id TEXT, last_id TEXT, began INTEGER);
                    """)
        }
        return m
    }
}

/// Thin helpers over the SQLite C API for the per-event hot path, where GRDB's argument boxing costs too much.
enum Raw {
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    static func check(_ rc: Int32, _ db: OpaquePointer?) throws {
        guard rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db)))
        }
    }

    static func insertBlock(
        _ s: OpaquePointer?, db: OpaquePointer?, id: Int64, stream: Int64, minTS: Int64, maxTS: Int64, ingestion: Int64,
        count: Int, stored: Int, file: String, rawSize: Int, data: [UInt8], index: [UInt8]
    ) throws {
        sqlite3_bind_int64(s, 1, id)
        sqlite3_bind_int64(s, 2, stream)
        sqlite3_bind_int64(s, 3, minTS)
        sqlite3_bind_int64(s, 4, maxTS)
        sqlite3_bind_int64(s, 5, ingestion)
        sqlite3_bind_int64(s, 6, Int64(count))
        sqlite3_bind_int64(s, 7, Int64(stored))
        sqlite3_bind_text(s, 8, file, -1, transient)
        sqlite3_bind_int64(s, 9, Int64(rawSize))
        let rc: Int32 = data.withUnsafeBytes { d in
            index.withUnsafeBytes { x in
                sqlite3_bind_blob(s, 10, d.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(d.count), nil)
                sqlite3_bind_blob(s, 11, x.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(x.count), nil)
                return sqlite3_step(s)
            }
        }
        sqlite3_clear_bindings(s)
        sqlite3_reset(s)
        try check(rc, db)
    }

    /// One binding of a statement run by ``step(_:db:_:)``.
    enum Value {
        case int(Int64)
        case text(String)
        case blob([UInt8])
        case null
    }

    /// Binds `values` (parameters 1, 2, …) to the prepared statement `s`, steps it once and resets
    /// it; returns what the step gave (`SQLITE_ROW` or `SQLITE_DONE`) after `row` read the row, if
    /// any. Text and blobs are bound in place for the step (not copied).
    @discardableResult
    static func step(
        _ s: OpaquePointer?, db: OpaquePointer?, _ values: [Value], row: (OpaquePointer?) -> Void = { _ in }
    ) throws -> Int32 {
        func bind(_ i: Int) -> Int32 {
            guard i < values.count else {
                let rc = sqlite3_step(s)
                if rc == SQLITE_ROW { row(s) }
                return rc
            }
            let n = Int32(i + 1)
            switch values[i] {
            case .int(let v):
                sqlite3_bind_int64(s, n, v)
                return bind(i + 1)
            case .null:
                sqlite3_bind_null(s, n)
                return bind(i + 1)
            case .text(var t):
                return t.withUTF8 { p in
                    // An empty text is still text, never NULL: bound from a static empty string.
                    let base = UnsafeRawPointer(p.baseAddress ?? ("" as StaticString).utf8Start)
                    sqlite3_bind_text(s, n, base.assumingMemoryBound(to: CChar.self), Int32(p.count), nil)
                    return bind(i + 1)
                }
            case .blob(let b):
                return b.withUnsafeBytes { p in
                    sqlite3_bind_blob(s, n, p.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(p.count), nil)
                    return bind(i + 1)
                }
            }
        }
        let rc = bind(0)
        sqlite3_clear_bindings(s)
        sqlite3_reset(s)
        try check(rc, db)
        return rc
    }

    /// Column `i` of the current row as bytes (nil when NULL).
    static func blob(_ s: OpaquePointer?, _ i: Int32) -> [UInt8]? {
        guard sqlite3_column_type(s, i) != SQLITE_NULL else { return nil }
        let n = Int(sqlite3_column_bytes(s, i))
        guard n > 0, let p = sqlite3_column_blob(s, i) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}
