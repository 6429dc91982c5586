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

    /// An event with these parts.
    package init(timestamp: Int64, ingestionTime: Int64, logStreamName: String, eventId: String, message: [UInt8]) {
        self.timestamp = timestamp
        self.ingestionTime = ingestionTime
        self.logStreamName = logStreamName
        self.eventId = eventId
        self.message = message
    }
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
        // Written digit by digit into one string (a page makes one per event); a part too long
        // for its width is written whole, as `pad` does.
        guard timestamp < 10_000_000_000_000_000, ingestion < 10_000_000_000_000_000, block < 1_000_000_000_000, index < 100_000_000
        else { return paddedToken }
        return String(unsafeUninitializedCapacity: 52) { out in
            func put(_ value: Int64, _ width: Int, _ start: Int) {
                var v = max(0, value)
                for i in stride(from: start + width - 1, through: start, by: -1) {
                    out[i] = UInt8(truncatingIfNeeded: 0x30 + v % 10)
                    v /= 10
                }
            }
            put(timestamp, 16, 0)
            put(ingestion, 16, 16)
            put(block, 12, 32)
            put(Int64(index), 8, 44)
            return 52
        }
    }

    /// The token made of padded decimal strings (any values).
    var paddedToken: String {
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

/// One event of a block in the order queries read a block (timestamp, then place in the block's
/// index), duplicates left out: what the scan merges.
package struct TimeOrderedEntry: Sendable, Equatable {
    package var timestamp: Int64
    /// Offset of the record in the inflated block.
    package var offset: Int
    /// The event's place in the block's index (counting duplicates): its position's last part.
    package var index: UInt32
    package var length: UInt32

    package init(timestamp: Int64, offset: Int, index: UInt32, length: UInt32) {
        self.timestamp = timestamp
        self.offset = offset
        self.index = index
        self.length = length
    }

    /// A decoded index's events (duplicates left out) in time order; nil when a place or a length
    /// does not fit 32 bits (a damaged index).
    package static func timeOrder(_ entries: [BlockEntry]) -> [TimeOrderedEntry]? {
        guard entries.count <= Int(UInt32.max) else { return nil }
        var out: [TimeOrderedEntry] = []
        out.reserveCapacity(entries.count)
        for (n, e) in entries.enumerated() where !e.isDuplicate {
            guard e.length >= 0, e.length <= Int(UInt32.max) else { return nil }
            out.append(TimeOrderedEntry(timestamp: e.timestamp, offset: e.offset, index: UInt32(n), length: UInt32(e.length)))
        }
        // Nearly sorted in CloudTrail's files; the sort is stable, and places are unique anyway.
        out.sort { ($0.timestamp, $0.index) < ($1.timestamp, $1.index) }
        return out
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

    /// A block the scan has open: its events in time order, `from..<to` of them still to visit
    /// (forward from `from`, backward from `to - 1`).
    private struct Cursor {
        var entries: [TimeOrderedEntry]
        var from: Int
        var to: Int
        var block: Int64
        var stream: Int64
        var ingestion: Int64

        func position(_ i: Int) -> EventPosition {
            EventPosition(timestamp: entries[i].timestamp, ingestion: ingestion, block: block, index: Int(entries[i].index))
        }
    }

    /// Reads the events of `streamIDs` with `lo <= timestamp <= hi`, strictly after `after` and
    /// strictly before `before`, and hands them to `visit` in order (ascending when `forward`, else
    /// descending) until it returns false. One read transaction: `visit` gets its connection, to
    /// read the blocks it needs from the same snapshot.
    ///
    /// Blocks are opened in order of their first timestamp (forward; of their last, backward), each
    /// as its events in time order (from `cache`'s packed copy when the server holds one, else its
    /// index decoded and sorted), cut by binary search to the range and the token; the open blocks
    /// are merged k-way. Before the next block is opened, every open event that sorts before that
    /// block's first timestamp (after its last, backward) is settled (no unopened block can hold
    /// one that sorts ahead of it) and is visited. So a page opens only the blocks it needs, and
    /// with packed blocks costs its events and a few binary searches, not every event of each
    /// block it opens; blocks that overlap fully cost no more than disjoint ones.
    ///
    /// Returns, when `visit` stopped the scan and `wantMore` is set, whether any event lies beyond
    /// the last one visited (further blocks are opened until one is found); else false.
    @discardableResult
    func scan(
        streamIDs: [Int64], lo: Int64, hi: Int64, after: EventPosition? = nil, before: EventPosition? = nil,
        forward: Bool, wantMore: Bool = false, cache: BlockCache? = nil, _ visit: (Database, Candidate) throws -> Bool
    ) throws -> Bool {
        guard !streamIDs.isEmpty, lo <= hi else { return false }
        return try queue.read { db in
            let list = streamIDs.map(String.init).joined(separator: ",")
            // Block bounds only (cheap); each block's events are read when the scan reaches it.
            let blocks = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, stream, min_ts, max_ts, ingestion_time FROM blocks
                    WHERE stream IN (\(list)) AND max_ts >= ? AND min_ts <= ?
                    ORDER BY \(forward ? "min_ts ASC" : "max_ts DESC"), id
                    """, arguments: [max(lo, after?.timestamp ?? Int64.min), min(hi, before?.timestamp ?? Int64.max)]
            ).map { (id: $0[0] as Int64, stream: $0[1] as Int64, min: $0[2] as Int64, max: $0[3] as Int64, ingestion: $0[4] as Int64) }
            let readIndex = try db.cachedStatement(sql: "SELECT idx FROM blocks WHERE id = ?")
            var cursors: [Cursor] = []
            // The head of each open block that still has events: (its position, the cursor).
            var heads = Heap<(position: EventPosition, cursor: Int)>(
                forward ? { $0.position < $1.position } : { $0.position > $1.position })
            func open(_ b: (id: Int64, stream: Int64, min: Int64, max: Int64, ingestion: Int64)) throws {
                let entries: [TimeOrderedEntry]
                if let packed = try cache?.packedOrder(db, block: b.id) {
                    entries = packed
                } else {
                    guard let data = try Data.fetchOne(readIndex, arguments: [b.id]),
                        let decoded = BlockIndex.decode([UInt8](data), base: b.min),
                        let ordered = TimeOrderedEntry.timeOrder(decoded)
                    else { throw StoreError(.corruptBlock, "block \(b.id) has a damaged index") }
                    entries = ordered
                }
                func position(_ e: TimeOrderedEntry) -> EventPosition {
                    EventPosition(timestamp: e.timestamp, ingestion: b.ingestion, block: b.id, index: Int(e.index))
                }
                // Both cuts are monotone over the time order: the first event inside, the first past it.
                let from = Self.partitionPoint(entries) { e in e.timestamp >= lo && after.map { position(e) > $0 } ?? true }
                let to = Self.partitionPoint(entries) { e in e.timestamp > hi || before.map { position(e) >= $0 } ?? false }
                guard from < to else { return }
                let c = Cursor(entries: entries, from: from, to: to, block: b.id, stream: b.stream, ingestion: b.ingestion)
                cursors.append(c)
                heads.push((c.position(forward ? c.from : c.to - 1), cursors.count - 1))
            }
            var next = 0
            while true {
                // Everything unopened sorts at or after this bound (at or before it, backward).
                let bound = next < blocks.count ? (forward ? blocks[next].min : blocks[next].max) : nil
                while let top = heads.top,
                    bound.map({ forward ? top.position.timestamp < $0 : top.position.timestamp > $0 }) ?? true
                {
                    heads.pop()
                    let i = top.cursor
                    let entry: TimeOrderedEntry
                    if forward {
                        entry = cursors[i].entries[cursors[i].from]
                        cursors[i].from += 1
                        if cursors[i].from < cursors[i].to { heads.push((cursors[i].position(cursors[i].from), i)) }
                    } else {
                        cursors[i].to -= 1
                        entry = cursors[i].entries[cursors[i].to]
                        if cursors[i].from < cursors[i].to { heads.push((cursors[i].position(cursors[i].to - 1), i)) }
                    }
                    let candidate = Candidate(
                        position: top.position, offset: entry.offset, length: Int(entry.length), stream: cursors[i].stream)
                    if try !visit(db, candidate) {
                        guard wantMore else { return false }
                        while heads.isEmpty && next < blocks.count {
                            try open(blocks[next])
                            next += 1
                        }
                        return !heads.isEmpty
                    }
                }
                guard next < blocks.count else { return false }
                try open(blocks[next])
                next += 1
            }
        }
    }

    /// The first index of `entries` whose entry satisfies `isPast` (which must be false, then true,
    /// over the array), or `entries.count`.
    static func partitionPoint(_ entries: [TimeOrderedEntry], _ isPast: (TimeOrderedEntry) -> Bool) -> Int {
        var lo = 0
        var hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if isPast(entries[mid]) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// The time range `[start, end]` (`end` exclusive when `endExclusive`) as inclusive bounds.
    static func range(start: Int64?, end: Int64?, endExclusive: Bool) -> (lo: Int64, hi: Int64) {
        (start ?? Int64.min, end.map { endExclusive ? $0 - 1 : $0 } ?? Int64.max)
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
    /// Blocks are inflated through `shared` when given (see ``InflatedBlockCache``).
    package func filter(
        streams names: [String]? = nil, start: Int64? = nil, end: Int64? = nil, pattern: FilterPattern? = nil,
        limit: Int = 10_000, nextToken: String? = nil, shared: InflatedBlockCache? = nil
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
        let (lo, hi) = Self.range(start: start, end: end, endExclusive: false)
        let cache = try BlockCache(shared: shared, account: account)
        var events: [LogEvent] = []
        var bytes = 0
        var lastExamined: EventPosition? = nil
        let more = try scan(
            streamIDs: Array(streams.keys), lo: lo, hi: hi, after: after, forward: true, wantMore: true, cache: cache
        ) { db, c in
            lastExamined = c.position
            if let pattern {
                // Match on the record in place; copy only what is returned.
                guard try cache.withMessage(db, block: c.position.block, offset: c.offset, length: c.length, pattern.matches)
                else { return true }
            }
            let message = try cache.message(db, block: c.position.block, offset: c.offset, length: c.length)
            events.append(
                LogEvent(
                    timestamp: c.position.timestamp, ingestionTime: c.position.ingestion,
                    logStreamName: streams[c.stream] ?? "", eventId: c.position.token, message: message))
            bytes += message.count + 26
            return events.count < limit && bytes < 1_048_576
        }
        return FilterPage(events: events, nextToken: more ? lastExamined?.token : nil)
    }

    /// GetLogEvents: one stream, `end` exclusive, newest page first unless `fromHead`, forward/backward tokens.
    /// Blocks are inflated through `shared` when given (see ``InflatedBlockCache``).
    package func get(
        stream: String, start: Int64? = nil, end: Int64? = nil, fromHead: Bool = false, limit: Int = 10_000,
        nextToken: String? = nil, shared: InflatedBlockCache? = nil
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
        let (lo, hi) = Self.range(start: start, end: end, endExclusive: true)
        let cache = try BlockCache(shared: shared, account: account)
        var events: [LogEvent] = []
        var page: [EventPosition] = []
        try scan(streamIDs: Array(streams.keys), lo: lo, hi: hi, after: after, before: before, forward: forward, cache: cache) { db, c in
            page.append(c.position)
            events.append(
                LogEvent(
                    timestamp: c.position.timestamp, ingestionTime: c.position.ingestion,
                    logStreamName: stream, eventId: c.position.token,
                    message: try cache.message(db, block: c.position.block, offset: c.offset, length: c.length)))
            return page.count < limit
        }
        if !forward {
            page.reverse()
            events.reverse()
        }
        if page.isEmpty, let p = after ?? before {
            // Past the end (or the start): the same token again, as CloudWatch gives it.
            let same = "\(direction)\(p.token)/s"
            let other = forward ? "b/\(p.token)/s" : "f/\(p.token)/s"
            return GetPage(events: [], nextForwardToken: forward ? same : other, nextBackwardToken: forward ? other : same)
        }
        let first = page.first ?? EventPosition(timestamp: start ?? 0, ingestion: 0, block: 0, index: 0)
        let last = page.last ?? first
        return GetPage(events: events, nextForwardToken: "f/\(last.token)/s", nextBackwardToken: "b/\(first.token)/s")
    }
}

/// The blocks a query reads, while it runs: taken packed from the server's `shared` cache when it
/// holds them (only the chunks holding the query's records are inflated), else inflated whole from
/// the store and, when there is a shared cache, packed into it for the next queries. Whole blocks
/// and inflated chunks are kept for the query's length, bounded by bytes (oldest out first).
/// Blocks are read through the query's own connection (its snapshot).
final class BlockCache {
    private enum Source {
        case whole([UInt8])
        case packed(PackedBlock)
    }

    private var sources: [Int64: Source] = [:]
    private var order: [Int64] = []
    private var bytes = 0
    private var chunks: [ChunkID: [UInt8]] = [:]
    private var chunkOrder: [ChunkID] = []
    private var chunkBytes = 0
    private var inflatedChunks = 0
    let budget: Int
    let whole: WholeInflater
    private var codec: ChunkCodec?
    let shared: InflatedBlockCache?
    let account: String

    private struct ChunkID: Hashable {
        var block: Int64
        var chunk: Int
    }

    init(budget: Int = 64 << 20, shared: InflatedBlockCache? = nil, account: String = "") throws {
        self.budget = budget
        self.shared = shared
        self.account = account
        whole = try WholeInflater()
    }

    deinit { shared?.countChunkInflations(inflatedChunks) }

    func message(_ db: Database, block: Int64, offset: Int, length: Int) throws -> [UInt8] {
        try withMessage(db, block: block, offset: offset, length: length) { Array($0) }
    }

    /// Calls `body` with the record's bytes inside the inflated block or chunk, without copying them.
    func withMessage<R>(
        _ db: Database, block: Int64, offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        if case .packed(let p) = try source(db, block) {
            if let (chunk, start) = p.locate(offset: offset, length: length) {
                let bytes = try inflated(block, chunk, p)
                guard start <= bytes.count - length else {
                    throw StoreError(.corruptBlock, "block \(block) is shorter than its index says")
                }
                return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
            }
            // Not a packed record (the scan asks only for packed ones): the block read whole.
            keep(block, .whole(try inflate(db, block).raw))
        }
        guard case .whole(let raw) = try source(db, block), offset >= 0, length >= 0, offset <= raw.count - length else {
            throw StoreError(.corruptBlock, "block \(block) is shorter than its index says")
        }
        return try raw.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
    }

    /// Blocks of this query the shared cache did not hold when the scan opened them, with their keys.
    private var missed: [Int64: BlockKey] = [:]

    /// The block's events in time order from its packed copy, when the shared cache holds it (then
    /// the query reads its records from that copy too); nil otherwise, without inflating anything.
    func packedOrder(_ db: Database, block id: Int64) throws -> [TimeOrderedEntry]? {
        if let s = sources[id] {
            if case .packed(let p) = s { return p.order }
            return nil
        }
        guard let shared, shared.capacity > 0, missed[id] == nil else { return nil }
        let k = try key(db, id)
        // A miss counts only when the query reads the block's records (in `source`), as before
        // the scan asked: a block opened but not read is no miss.
        if let p = shared.get(k, countingMiss: false) {
            keep(id, .packed(p))
            return p.order
        }
        missed[id] = k
        return nil
    }

    /// What the row says of its content (length() of a blob reads no blob pages).
    private func key(_ db: Database, _ id: Int64) throws -> BlockKey {
        let sql = "SELECT file, ingestion_time, length(data), raw_size FROM blocks WHERE id = ?"
        guard let row = try Row.fetchOne(db.cachedStatement(sql: sql), arguments: [id])
        else { throw StoreError(.corruptBlock, "block \(id) is missing") }
        return BlockKey(account: account, block: id, file: row[0], ingestion: row[1], storedSize: row[2], rawSize: row[3])
    }

    private func source(_ db: Database, _ id: Int64) throws -> Source {
        if let s = sources[id] { return s }
        var key: BlockKey? = nil
        if let shared, shared.capacity > 0 {
            let k = try missed.removeValue(forKey: id) ?? self.key(db, id)
            if let p = shared.get(k) { return keep(id, .packed(p)) }
            key = k
        }
        let (raw, entries) = try inflate(db, id, index: key != nil)
        if let key, let entries {
            if codec == nil { codec = try ChunkCodec() }
            if let p = try PackedBlock.pack(raw, entries: entries, codec: codec!) { shared?.put(key, p) }
        }
        return keep(id, .whole(raw))
    }

    /// The block inflated whole, and with `index` its decoded index (nil when damaged).
    private func inflate(_ db: Database, _ id: Int64, index: Bool = false) throws -> (raw: [UInt8], entries: [BlockEntry]?) {
        let sql = index ? "SELECT data, raw_size, idx, min_ts FROM blocks WHERE id = ?" : "SELECT data, raw_size FROM blocks WHERE id = ?"
        guard let row = try Row.fetchOne(db.cachedStatement(sql: sql), arguments: [id])
        else { throw StoreError(.corruptBlock, "block \(id) is missing") }
        let size: Int = row[1] as Int? ?? 0
        let raw = try (row[0] as Data).withUnsafeBytes { data in
            // libdeflate in one call (about twice zlib's speed) into the size the store recorded;
            // a block it cannot take whole (several gzip members) is streamed through zlib.
            if size > 0, let whole = try? whole.inflate(data, claimedSize: size, limit: size) { return whole }
            return try Inflater.inflateAll(data, expectedSize: size)
        }
        guard index, let idx = row[2] as Data?, let base = row[3] as Int64? else { return (raw, nil) }
        return (raw, BlockIndex.decode([UInt8](idx), base: base))
    }

    /// Chunk `chunk` of packed block `block`, inflated once per query.
    private func inflated(_ block: Int64, _ chunk: Int, _ p: PackedBlock) throws -> [UInt8] {
        let id = ChunkID(block: block, chunk: chunk)
        if id == lastChunk { return lastBytes }
        let bytes: [UInt8]
        if let held = chunks[id] {
            bytes = held
        } else {
            if codec == nil { codec = try ChunkCodec() }
            do {
                bytes = try p.chunk(chunk, codec: codec!)
            } catch {
                throw StoreError(.corruptBlock, "block \(block): a packed chunk does not inflate (\(error))")
            }
            inflatedChunks += 1
            while chunkBytes + bytes.count > budget, !chunkOrder.isEmpty {
                chunkBytes -= chunks.removeValue(forKey: chunkOrder.removeFirst())?.count ?? 0
            }
            chunks[id] = bytes
            chunkOrder.append(id)
            chunkBytes += bytes.count
        }
        lastChunk = id
        lastBytes = bytes
        return bytes
    }

    private var lastChunk = ChunkID(block: -1, chunk: -1)
    private var lastBytes: [UInt8] = []

    @discardableResult
    private func keep(_ id: Int64, _ source: Source) -> Source {
        // Packed blocks are the shared cache's (no copy); whole ones count against the budget.
        let size = if case .whole(let raw) = source { raw.count } else { 0 }
        while bytes + size > budget, !order.isEmpty {
            let old = order.removeFirst()
            if case .whole(let raw) = sources.removeValue(forKey: old) { bytes -= raw.count }
        }
        if sources[id] == nil { order.append(id) }
        sources[id] = source
        bytes += size
        return source
    }
}

/// A binary heap ordered by `before` (its top sorts first): the scan's pool of read, unvisited events.
struct Heap<Element> {
    private var items: [Element] = []
    private let before: (Element, Element) -> Bool

    init(_ before: @escaping (Element, Element) -> Bool) {
        self.before = before
    }

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }
    /// The element that sorts first.
    var top: Element? { items.first }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard before(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes the top element.
    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < items.count, before(items[l], items[m]) { m = l }
            if r < items.count, before(items[r], items[m]) { m = r }
            guard m != i else { return }
            items.swapAt(i, m)
            i = m
        }
    }
}
