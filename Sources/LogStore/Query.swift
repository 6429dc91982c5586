import CloudTrail
import FoundationEssentials
import FilterPattern
import GRDB
import Gzip

/// One event as the CloudWatch Logs API returns it; `message` is the original record.
package struct LogEvent: Sendable, Equatable {
    package var timestamp: Int64
    package var ingestionTime: Int64
    package var logStreamName: String
    package var eventId: String
    package var message: [UInt8]
}

/// A stream as DescribeLogStreams describes it.
package struct StreamInfo: Sendable, Equatable {
    package var name: String
    package var creationTime: Int64
    package var firstEventTimestamp: Int64?
    package var lastEventTimestamp: Int64?
    package var lastIngestionTime: Int64?
    package var storedBytes: Int64
    package var events: Int64
}

/// A group as DescribeLogGroups describes it.
package struct GroupInfo: Sendable, Equatable {
    package var name: String
    package var account: String
    package var creationTime: Int64
    package var retentionInDays: Int?
    package var storedBytes: Int64
    package var events: Int64
}

/// The total order of events in a group: timestamp, then ingestion time, then arrival.
package struct EventPosition: Sendable, Comparable, Hashable {
    package var timestamp: Int64
    package var ingestion: Int64
    package var block: Int64
    package var index: Int

    package static func < (a: Self, b: Self) -> Bool {
        (a.timestamp, a.ingestion, a.block, a.index) < (b.timestamp, b.ingestion, b.block, b.index)
    }

    /// 52 decimal digits: opaque to clients, stable across processes.
    package var token: String {
        Self.pad(timestamp, 16) + Self.pad(ingestion, 16) + Self.pad(block, 12) + Self.pad(Int64(index), 8)
    }

    package init(timestamp: Int64, ingestion: Int64, block: Int64, index: Int) {
        self.timestamp = timestamp
        self.ingestion = ingestion
        self.block = block
        self.index = index
    }

    package init?(token: Substring) {
        let u = Array(token.utf8)
        guard u.count == 52, u.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        func num(_ r: Range<Int>) -> Int64 { u[r].reduce(0) { $0 * 10 + Int64($1 - 0x30) } }
        self.init(timestamp: num(0..<16), ingestion: num(16..<32), block: num(32..<44), index: Int(num(44..<52)))
    }

    static func pad(_ v: Int64, _ w: Int) -> String {
        let s = String(max(0, v))
        return String(repeating: "0", count: max(0, w - s.count)) + s
    }
}

/// A page of FilterLogEvents.
package struct FilterPage: Sendable {
    package var events: [LogEvent]
    package var nextToken: String?
}

/// A page of GetLogEvents.
package struct GetPage: Sendable {
    package var events: [LogEvent]
    package var nextForwardToken: String
    package var nextBackwardToken: String
}

extension AccountStore {
    /// The group's description.
    package func groupInfo() throws -> GroupInfo {
        try queue.read { db in
            let created = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'creation_time'") ?? 0
            let retention = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'retention_days'")
            let row = try Row.fetchOne(db, sql: "SELECT coalesce(sum(stored_bytes), 0), coalesce(sum(events), 0) FROM streams")
            return GroupInfo(
                name: groupName, account: account, creationTime: created, retentionInDays: retention,
                storedBytes: row?[0] ?? 0, events: row?[1] ?? 0)
        }
    }

    /// Streams in ASCII order of name, optionally with a name prefix.
    package func streams(prefix: String? = nil) throws -> [StreamInfo] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT name, creation_time, first_ts, last_ts, last_ingestion, stored_bytes, events FROM streams
                    WHERE substr(name, 1, ?) = ? ORDER BY name
                    """, arguments: [(prefix ?? "").utf8.count, prefix ?? ""]
            ).map {
                StreamInfo(
                    name: $0[0], creationTime: $0[1], firstEventTimestamp: $0[2], lastEventTimestamp: $0[3],
                    lastIngestionTime: $0[4], storedBytes: $0[5], events: $0[6])
            }
        }
    }

    struct Candidate {
        var position: EventPosition
        var offset: Int
        var length: Int
        var stream: Int64
    }

    /// Events of `streams` with `start <= timestamp` and `timestamp <= end` (or `< end` when `endExclusive`), sorted.
    func candidates(streamIDs: [Int64], start: Int64?, end: Int64?, endExclusive: Bool) throws -> [Candidate] {
        guard !streamIDs.isEmpty else { return [] }
        let lo = start ?? Int64.min
        let hi = end.map { endExclusive ? $0 - 1 : $0 } ?? Int64.max
        guard lo <= hi else { return [] }
        var out: [Candidate] = []
        try queue.read { db in
            let list = streamIDs.map(String.init).joined(separator: ",")
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, stream, min_ts, ingestion_time, idx FROM blocks
                    WHERE stream IN (\(list)) AND max_ts >= ? AND min_ts <= ?
                    """, arguments: [lo, hi])
            while let row = try rows.next() {
                let block: Int64 = row[0]
                let stream: Int64 = row[1]
                let base: Int64 = row[2]
                let ingestion: Int64 = row[3]
                let idx: [UInt8] = [UInt8](row[4] as Data)
                guard let entries = BlockIndex.decode(idx, base: base) else {
                    throw StoreError(.corruptBlock, "block \(block) has a damaged index")
                }
                for (n, e) in entries.enumerated() where !e.isDuplicate && e.timestamp >= lo && e.timestamp <= hi {
                    out.append(
                        Candidate(
                            position: EventPosition(timestamp: e.timestamp, ingestion: ingestion, block: block, index: n),
                            offset: e.offset, length: e.length, stream: stream))
                }
            }
        }
        out.sort { $0.position < $1.position }
        return out
    }

    /// The first `limit` events of `streamIDs` in `[start, end)` after `after` (forward), or the
    /// last `limit` before `before` (backward), sorted: GetLogEvents' page without reading the whole
    /// range. Blocks are read in order of their first (forward) or last (backward) timestamp and the
    /// scan stops once `limit` events lie before the next block's first timestamp (after its last,
    /// backward): no unread block can hold an event that sorts ahead of them.
    func pageCandidates(
        streamIDs: [Int64], start: Int64?, end: Int64?, after: EventPosition?, before: EventPosition?, limit: Int,
        forward: Bool
    ) throws -> [Candidate] {
        guard !streamIDs.isEmpty else { return [] }
        let lo = start ?? Int64.min
        let hi = end.map { $0 - 1 } ?? Int64.max
        guard lo <= hi else { return [] }
        var pool: [Candidate] = []
        try queue.read { db in
            let list = streamIDs.map(String.init).joined(separator: ",")
            // Block bounds only (cheap); each block's index is read when the scan reaches it.
            let blocks = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, stream, min_ts, max_ts, ingestion_time FROM blocks
                    WHERE stream IN (\(list)) AND max_ts >= ? AND min_ts <= ?
                    ORDER BY \(forward ? "min_ts ASC" : "max_ts DESC"), id
                    """, arguments: [max(lo, after?.timestamp ?? Int64.min), min(hi, before?.timestamp ?? Int64.max)]
            ).map { (id: $0[0] as Int64, stream: $0[1] as Int64, min: $0[2] as Int64, max: $0[3] as Int64, ingestion: $0[4] as Int64) }
            let readIndex = try db.cachedStatement(sql: "SELECT idx FROM blocks WHERE id = ?")
            for (k, b) in blocks.enumerated() {
                if k > 0 {
                    // Everything still unread sorts at or after this bound (before it, backward).
                    let bound = forward ? b.min : b.max
                    let settled = pool.reduce(0) { $0 + ((forward ? $1.position.timestamp < bound : $1.position.timestamp > bound) ? 1 : 0) }
                    if settled >= limit { break }
                }
                guard let data = try Data.fetchOne(readIndex, arguments: [b.id]),
                    let entries = BlockIndex.decode([UInt8](data), base: b.min)
                else { throw StoreError(.corruptBlock, "block \(b.id) has a damaged index") }
                for (n, e) in entries.enumerated() where !e.isDuplicate && e.timestamp >= lo && e.timestamp <= hi {
                    let position = EventPosition(timestamp: e.timestamp, ingestion: b.ingestion, block: b.id, index: n)
                    if let after, position <= after { continue }
                    if let before, position >= before { continue }
                    pool.append(Candidate(position: position, offset: e.offset, length: e.length, stream: b.stream))
                }
            }
        }
        pool.sort { $0.position < $1.position }
        return forward ? Array(pool.prefix(limit)) : Array(pool.suffix(limit))
    }

    func streamIDs(names: [String]?) throws -> [Int64: String] {
        try queue.read { db in
            var out: [Int64: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, name FROM streams") {
                let name: String = row[1]
                if let names, !names.contains(name) { continue }
                out[row[0]] = name
            }
            if let names {
                for n in names where !out.values.contains(n) {
                    throw StoreError(.resourceNotFound, "The specified log stream does not exist: \(n)")
                }
            }
            return out
        }
    }

    /// FilterLogEvents: `end` inclusive, ordered by timestamp then ingestion, pages via `nextToken`.
    package func filter(
        streams names: [String]? = nil, start: Int64? = nil, end: Int64? = nil, pattern: FilterPattern? = nil,
        limit: Int = 10_000, nextToken: String? = nil
    ) throws -> FilterPage {
        guard (1...10_000).contains(limit) else { throw StoreError(.invalidParameter, "limit must be between 1 and 10000") }
        var after: EventPosition? = nil
        if let nextToken {
            guard let p = EventPosition(token: Substring(nextToken)) else {
                throw StoreError(.invalidParameter, "The specified nextToken is invalid.")
            }
            after = p
        }
        let streams = try streamIDs(names: names)
        var all = try candidates(streamIDs: Array(streams.keys), start: start, end: end, endExclusive: false)
        if let after {
            let first = all.partitionPoint { $0.position <= after }
            all.removeFirst(first)
        }
        let cache = BlockCache(store: self)
        var events: [LogEvent] = []
        var bytes = 0
        var lastExamined: EventPosition? = nil
        for c in all {
            lastExamined = c.position
            if let pattern {
                // Match on the record in place; copy only what is returned.
                guard try cache.withMessage(block: c.position.block, offset: c.offset, length: c.length, pattern.matches)
                else { continue }
            }
            let message = try cache.message(block: c.position.block, offset: c.offset, length: c.length)
            events.append(
                LogEvent(
                    timestamp: c.position.timestamp, ingestionTime: c.position.ingestion,
                    logStreamName: streams[c.stream] ?? "", eventId: c.position.token, message: message))
            bytes += message.count + 26
            if events.count >= limit || bytes >= 1_048_576 { break }
        }
        let more = lastExamined.map { $0 != all.last?.position } ?? false
        return FilterPage(events: events, nextToken: more ? lastExamined!.token : nil)
    }

    /// GetLogEvents: one stream, `end` exclusive, newest page first unless `fromHead`, forward/backward tokens.
    package func get(
        stream: String, start: Int64? = nil, end: Int64? = nil, fromHead: Bool = false, limit: Int = 10_000,
        nextToken: String? = nil
    ) throws -> GetPage {
        guard (1...10_000).contains(limit) else { throw StoreError(.invalidParameter, "limit must be between 1 and 10000") }
        let streams = try streamIDs(names: [stream])
        var forward = fromHead
        var after: EventPosition? = nil
        var before: EventPosition? = nil
        var direction = ""
        if let nextToken {
            direction = String(nextToken.prefix(2))
            let body = nextToken.dropFirst(2).split(separator: "/").first ?? ""
            guard direction == "f/" || direction == "b/", let p = EventPosition(token: body) else {
                throw StoreError(.invalidParameter, "The specified nextToken is invalid.")
            }
            forward = direction == "f/"
            if forward { after = p } else { before = p }
        }
        let page = try pageCandidates(
            streamIDs: Array(streams.keys), start: start, end: end, after: after, before: before, limit: limit, forward: forward)
        if page.isEmpty, let p = after ?? before {
            // Past the end (or the start): the same token again, as CloudWatch gives it.
            let same = "\(direction)\(p.token)/s"
            let other = forward ? "b/\(p.token)/s" : "f/\(p.token)/s"
            return GetPage(events: [], nextForwardToken: forward ? same : other, nextBackwardToken: forward ? other : same)
        }
        let cache = BlockCache(store: self)
        var events: [LogEvent] = []
        for c in page {
            events.append(
                LogEvent(
                    timestamp: c.position.timestamp, ingestionTime: c.position.ingestion,
                    logStreamName: stream, eventId: c.position.token,
                    message: try cache.message(block: c.position.block, offset: c.offset, length: c.length)))
        }
        let first = page.first?.position ?? EventPosition(timestamp: start ?? 0, ingestion: 0, block: 0, index: 0)
        let last = page.last?.position ?? first
        return GetPage(events: events, nextForwardToken: "f/\(last.token)/s", nextBackwardToken: "b/\(first.token)/s")
    }

    /// The uncompressed size recorded for a block (a capacity hint).
    package func rawSize(_ id: Int64) throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT raw_size FROM blocks WHERE id = ?", arguments: [id]) ?? 0 }
    }

    /// The delivered bytes of a block, as stored.
    package func blockData(_ id: Int64) throws -> [UInt8] {
        try queue.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT data FROM blocks WHERE id = ?", arguments: [id]) else {
                throw StoreError(.corruptBlock, "block \(id) is missing")
            }
            return [UInt8](row[0] as Data)
        }
    }
}

/// Decompressed blocks kept while a query runs, bounded by total size (least recently used out first).
final class BlockCache {
    let store: AccountStore
    var blocks: [Int64: [UInt8]] = [:]
    var order: [Int64] = []
    var bytes = 0
    let budget: Int

    init(store: AccountStore, budget: Int = 64 << 20) {
        self.store = store
        self.budget = budget
    }

    func message(block: Int64, offset: Int, length: Int) throws -> [UInt8] {
        try withMessage(block: block, offset: offset, length: length) { Array($0) }
    }

    /// Calls `body` with the record's bytes inside the decompressed block, without copying them.
    func withMessage<R>(block: Int64, offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if block != lastID {
            last = try load(block)
            lastID = block
        }
        guard offset >= 0, offset + length <= last.count else {
            throw StoreError(.corruptBlock, "block \(block) is shorter than its index says")
        }
        return try last.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
    }

    private var last: [UInt8] = []
    private var lastID: Int64 = -1

    func load(_ id: Int64) throws -> [UInt8] {
        if let d = blocks[id] { return d }
        let raw = try Inflater.inflateAll(try store.blockData(id), expectedSize: store.rawSize(id))
        while bytes + raw.count > budget, !order.isEmpty {
            let old = order.removeFirst()
            bytes -= blocks.removeValue(forKey: old)?.count ?? 0
        }
        blocks[id] = raw
        order.append(id)
        bytes += raw.count
        return raw
    }
}

extension Array {
    /// The first index whose element fails `belongsBefore` (the array must be partitioned by it).
    func partitionPoint(_ belongsBefore: (Element) -> Bool) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if belongsBefore(self[mid]) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
