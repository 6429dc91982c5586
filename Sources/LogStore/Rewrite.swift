import CloudTrail
import FoundationEssentials
import GRDB
import Gzip

/// What a file rewritten in place after it was ingested (same name, new content) brought, compared
/// with the content first taken. New events are stored (dedup keeps the rest); a record whose event
/// was stored already but whose bytes differ keeps its first version, and is counted as changed.
package struct Rewrite: Sendable, Equatable {
    /// Size (bytes, as delivered) of the content taken before.
    package var previousSize: Int64
    /// Records with an event not stored before: stored now.
    package var added: Int
    /// Records identical to one of the previous content.
    package var unchanged: Int
    /// Records whose event was stored already but whose bytes differ (the stored version is kept).
    package var changed: Int
    /// Records of the previous content that the new one lacks (still stored); nil when the previous
    /// content is no longer stored (expired by retention) and cannot be compared.
    package var removed: Int?
    /// How many times this file has been rewritten, this time included.
    package var count: Int

    package init(previousSize: Int64, added: Int, unchanged: Int, changed: Int, removed: Int?, count: Int) {
        self.previousSize = previousSize
        self.added = added
        self.unchanged = unchanged
        self.changed = changed
        self.removed = removed
        self.count = count
    }
}

/// The ledger row of a file already taken, as the commit of a new version of it sees it.
struct PreviousVersion {
    var size: Int64
    var mtime: Int64
    var hash: Int64?
    var block: Int64?
    var rewrites: Int

    static func fetch(_ db: Database, path: String) throws -> PreviousVersion? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT size, mtime, hash, block, rewrites FROM ledger WHERE path = ? AND status = 'done'"),
                arguments: [path])
        else { return nil }
        return PreviousVersion(size: row[0], mtime: row[1], hash: row[2], block: row[3], rewrites: row[4])
    }

    /// The stored block of that version (its bytes as delivered and its records' bytes), if still stored.
    func storedRecords(_ db: Database) throws -> (data: [UInt8], records: Set<EventKey>)? {
        guard let block,
            let row = try Row.fetchOne(db, sql: "SELECT data, idx, min_ts, raw_size FROM blocks WHERE id = ?", arguments: [block])
        else { return nil }
        let data = [UInt8](row[0] as Data)
        let idx = [UInt8](row[1] as Data)
        guard let entries = BlockIndex.decode(idx, base: row[2]) else {
            throw StoreError(.corruptBlock, "block \(block) has a corrupt index")
        }
        let raw = try Inflater.inflateAll(data, expectedSize: row[3])
        return (data, Set(entries.map { Self.contentKey(raw, $0) }))
    }

    /// A 128-bit hash of a record's bytes (records are JSON objects, never packed as GUIDs).
    static func contentKey(_ raw: [UInt8], _ e: BlockEntry) -> EventKey {
        guard e.offset >= 0, e.offset + e.length <= raw.count else { return EventKey(high: -1, low: Int64(e.offset)) }
        return EventKey(raw[e.offset..<(e.offset + e.length)])
    }

    /// Compares the new content's records (flagged duplicate or not by the commit) with this version's.
    func compare(_ file: DecodedFile, entries: [BlockEntry], previous: Set<EventKey>?) throws -> Rewrite {
        let raw = try Inflater.inflateAll(file.compressed, expectedSize: file.uncompressedSize)
        var r = Rewrite(previousSize: size, added: 0, unchanged: 0, changed: 0, removed: nil, count: rewrites + 1)
        var seen = Set<EventKey>()
        for e in entries {
            let k = Self.contentKey(raw, e)
            seen.insert(k)
            if !e.isDuplicate {
                r.added += 1
            } else if previous?.contains(k) ?? true {
                r.unchanged += 1
            } else {
                r.changed += 1
            }
        }
        r.removed = previous.map { $0.subtracting(seen).count }
        return r
    }
}
