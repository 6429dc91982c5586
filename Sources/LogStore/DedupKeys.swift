import FoundationEssentials
import GRDB

/// Every stored event's dedup key (64 bits of its eventID), packed by minute of event time.
///
/// Table `eventkeys`: row id = minute × 4096 + part; each part holds at most 512 keys, sorted, 8
/// bytes each (little-endian). A duplicate is a byte-identical record, so it has the same event
/// time and is found in its minute. A file touches a few minutes: it reads them once and rewrites
/// the parts it added to, instead of inserting a B-tree cell per event (8 bytes an event instead
/// of about 20, and fewer pages written per file). Retention is a range delete on the row id.
struct DedupKeys {
    /// Keys per part: a part is rewritten whole when a key joins it, so it stays small.
    static let partCapacity = 512
    /// Parts a minute can have (the last one grows past ``partCapacity`` beyond that).
    static let partsPerMinute: Int64 = 4096

    /// The parts of one minute, as loaded and changed. Confined to the transaction's thread:
    /// its parts are touched for every event, so without run-time exclusivity checks.
    final class Minute {
        @exclusivity(unchecked) var parts: [[UInt64]]
        init(_ parts: [[UInt64]]) { self.parts = parts }
    }

    let db: Database
    private var minutes: [Int64: Minute] = [:]
    /// Row ids of the parts to write back.
    private var dirty: Set<Int64> = []
    /// The minute of the previous event and the part it added to: a file's events come mostly
    /// in time order, so most events need neither a dictionary lookup nor a set insert.
    private var recent: (minute: Int64, parts: Minute)? = nil
    private var recentDirty: Int64? = nil

    init(_ db: Database) { self.db = db }

    /// The minute (since 1970, floor, also before it) of an event time in ms.
    static func minute(ofMillis ms: Int64) -> Int64 { minute(ofSeconds: AccountStore.seconds(ms)) }

    /// The minute (floor, also before 1970) of a time in whole seconds.
    static func minute(ofSeconds s: Int64) -> Int64 { s >= 0 ? s / 60 : (s - 59) / 60 }

    /// The first row id of the minute holding `ms`: every key of an earlier minute lies below it.
    static func firstRow(ofMillis ms: Int64) -> Int64 { minute(ofMillis: ms) * partsPerMinute }

    /// Adds the key of an event at `ms`; false when it was there already (a duplicate).
    mutating func insert(millis ms: Int64, key: Int64) throws -> Bool {
        let m = Self.minute(ofMillis: ms)
        let minute: Minute
        if let recent, recent.minute == m {
            minute = recent.parts
        } else if let known = minutes[m] {
            minute = known
            recent = (m, known)
        } else {
            minute = try load(m)
            minutes[m] = minute
            recent = (m, minute)
        }
        let k = UInt64(bitPattern: key)
        for p in minute.parts where Self.position(of: k, in: p).found { return false }
        if minute.parts.isEmpty || (minute.parts[minute.parts.count - 1].count >= Self.partCapacity && minute.parts.count < Self.partsPerMinute) {
            minute.parts.append([])
        }
        let last = minute.parts.count - 1
        let at = Self.position(of: k, in: minute.parts[last]).index
        minute.parts[last].insert(k, at: at)
        let id = m * Self.partsPerMinute + Int64(last)
        if id != recentDirty {
            dirty.insert(id)
            recentDirty = id
        }
        return true
    }

    /// Writes back the parts that gained keys.
    func save() throws {
        guard !dirty.isEmpty else { return }
        let s = try db.cachedStatement(sql: "INSERT OR REPLACE INTO eventkeys(id, keys) VALUES (?, ?)")
        for id in dirty {
            let m = id >= 0 ? id / Self.partsPerMinute : (id - Self.partsPerMinute + 1) / Self.partsPerMinute
            guard let minute = minutes[m] else { continue }
            try s.execute(arguments: [id, Self.encode(minute.parts[Int(id - m * Self.partsPerMinute)])])
        }
    }

    private func load(_ m: Int64) throws -> Minute {
        let first = m * Self.partsPerMinute
        let s = try db.cachedStatement(sql: "SELECT id, keys FROM eventkeys WHERE id BETWEEN ? AND ? ORDER BY id")
        var parts: [[UInt64]] = []
        let rows = try Row.fetchCursor(s, arguments: [first, first + Self.partsPerMinute - 1])
        while let row = try rows.next() {
            let id: Int64 = row[0]
            guard id - first == Int64(parts.count) else {
                throw StoreError(.corruptBlock, "dedup keys of minute \(m): part \(id - first) follows part \(parts.count - 1)")
            }
            guard let keys = try row.withUnsafeData(atIndex: 1, { Self.decode($0) }) else {
                throw StoreError(.corruptBlock, "dedup keys of minute \(m), part \(parts.count): not a whole number of keys")
            }
            parts.append(keys)
        }
        return Minute(parts)
    }

    /// Moves the keys of the table before v7 (`eventids`: a row per event, by second) into packed
    /// minutes, in one pass in time order.
    static func pack(from db: Database) throws {
        let insert = try db.makeStatement(sql: "INSERT INTO eventkeys(id, keys) VALUES (?, ?)")
        var minute: Int64? = nil
        var keys: [UInt64] = []
        func flush() throws {
            guard let m = minute else { return }
            keys.sort()
            var part: Int64 = 0
            var start = 0
            while start < keys.count {
                let end = part == partsPerMinute - 1 ? keys.count : min(keys.count, start + partCapacity)
                try insert.execute(arguments: [m * partsPerMinute + part, encode(Array(keys[start..<end]))])
                start = end
                part += 1
            }
            keys.removeAll(keepingCapacity: true)
        }
        let rows = try Row.fetchCursor(db, sql: "SELECT t, k FROM eventids ORDER BY t")
        while let row = try rows.next() {
            let t: Int64 = row[0]
            let m = Self.minute(ofSeconds: t)
            if m != minute {
                try flush()
                minute = m
            }
            keys.append(UInt64(bitPattern: row[1]))
        }
        try flush()
    }

    /// Binary search in a sorted part.
    static func position(of k: UInt64, in keys: [UInt64]) -> (index: Int, found: Bool) {
        var lo = 0
        var hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid] < k { lo = mid + 1 } else { hi = mid }
        }
        return (lo, lo < keys.count && keys[lo] == k)
    }

    static func encode(_ keys: [UInt64]) -> Data {
        var d = Data(count: keys.count * 8)
        d.withUnsafeMutableBytes { out in
            for (i, k) in keys.enumerated() { out.storeBytes(of: k.littleEndian, toByteOffset: i * 8, as: UInt64.self) }
        }
        return d
    }

    static func decode(_ data: Data?) -> [UInt64]? {
        guard let data, data.count % 8 == 0 else { return data == nil ? [] : nil }
        return data.withUnsafeBytes { p in
            (0..<(data.count / 8)).map { UInt64(littleEndian: p.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        }
    }
}
