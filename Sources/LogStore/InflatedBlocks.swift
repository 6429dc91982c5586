import Synchronization

/// Which stored block an inflated copy is of. Block ids are `max(id) + 1` at insert, so retention
/// deleting the newest blocks lets an id come back for another file: the key also holds what the
/// row says of its content (file name, ingestion time, stored and inflated sizes), which a reused
/// id does not share unless it is the same delivered file again (the same bytes).
package struct BlockKey: Hashable, Sendable {
    package var account: String
    package var block: Int64
    package var file: String
    package var ingestion: Int64
    package var storedSize: Int64
    package var rawSize: Int64

    package init(account: String, block: Int64, file: String, ingestion: Int64, storedSize: Int64, rawSize: Int64) {
        self.account = account
        self.block = block
        self.file = file
        self.ingestion = ingestion
        self.storedSize = storedSize
        self.rawSize = rawSize
    }
}

/// What the cache did since it was made, for `/metrics`.
package struct InflatedBlockFigures: Sendable, Equatable {
    package var hits: Int64 = 0
    package var misses: Int64 = 0
    package var evictions: Int64 = 0
    /// Bytes held now (packed blocks, see ``PackedBlock/bytes``), and the bound on them.
    package var bytes: Int64 = 0
    package var capacity: Int64 = 0
    package var blocks: Int64 = 0
    /// Chunks of packed blocks queries inflated (a page of a few blocks: a few chunks).
    package var chunkInflations: Int64 = 0
}

/// Stored blocks shared by every query of a server, packed for reading by time (see
/// ``PackedBlock``), bounded by the bytes they hold (least recently used out first): inflating a
/// delivered file (milliseconds for a few MB) to slice a page's records out of it was most of a
/// page's cost. Thread-safe; a capacity of 0 keeps nothing. A block larger than the capacity is
/// not kept.
package final class InflatedBlockCache: Sendable {
    /// The bound on bytes held.
    package let capacity: Int
    private let state: Mutex<LRU>

    package init(capacity: Int) {
        self.capacity = max(0, capacity)
        state = Mutex(LRU())
    }

    /// The packed block of `key`, marked most recently used; nil (a miss, counted unless
    /// `countingMiss` is false) when not held.
    package func get(_ key: BlockKey, countingMiss: Bool = true) -> PackedBlock? {
        state.withLock { $0.get(key, countingMiss: countingMiss) }
    }

    /// Keeps `block` as the packed block of `key`, evicting least recently used blocks to stay
    /// within the capacity.
    package func put(_ key: BlockKey, _ block: PackedBlock) {
        guard block.bytes <= capacity else { return }
        state.withLock { $0.put(key, block, capacity: capacity) }
    }

    /// Counts chunks a query inflated, for ``figures``.
    package func countChunkInflations(_ n: Int) {
        guard n > 0 else { return }
        state.withLock { $0.figures.chunkInflations += Int64(n) }
    }

    package var figures: InflatedBlockFigures {
        state.withLock { s in
            var f = s.figures
            f.capacity = Int64(capacity)
            return f
        }
    }
}

/// A least-recently-used list by bytes: slots linked from most (`head`) to least (`tail`) recent.
private struct LRU: ~Copyable {
    struct Slot {
        var key: BlockKey
        var data: PackedBlock
        var newer = -1
        var older = -1
    }

    var slots: [Slot?] = []
    var free: [Int] = []
    var index: [BlockKey: Int] = [:]
    var head = -1
    var tail = -1
    var figures = InflatedBlockFigures()

    mutating func get(_ key: BlockKey, countingMiss: Bool) -> PackedBlock? {
        guard let i = index[key] else {
            if countingMiss { figures.misses += 1 }
            return nil
        }
        figures.hits += 1
        unlink(i)
        pushFront(i)
        return slots[i]!.data
    }

    mutating func put(_ key: BlockKey, _ data: PackedBlock, capacity: Int) {
        if let i = index[key] {
            // Another query inflated it meanwhile: keep the one held, now most recent.
            unlink(i)
            pushFront(i)
            return
        }
        while figures.bytes + Int64(data.bytes) > Int64(capacity), tail >= 0 {
            let old = tail
            unlink(old)
            let s = slots[old]!
            index[s.key] = nil
            slots[old] = nil
            free.append(old)
            figures.bytes -= Int64(s.data.bytes)
            figures.blocks -= 1
            figures.evictions += 1
        }
        let slot = Slot(key: key, data: data)
        let i: Int
        if let f = free.popLast() {
            i = f
            slots[i] = slot
        } else {
            i = slots.count
            slots.append(slot)
        }
        index[key] = i
        pushFront(i)
        figures.bytes += Int64(data.bytes)
        figures.blocks += 1
    }

    private mutating func unlink(_ i: Int) {
        let (n, o) = (slots[i]!.newer, slots[i]!.older)
        if n >= 0 { slots[n]!.older = o } else { head = o }
        if o >= 0 { slots[o]!.newer = n } else { tail = n }
        slots[i]!.newer = -1
        slots[i]!.older = -1
    }

    private mutating func pushFront(_ i: Int) {
        slots[i]!.older = head
        slots[i]!.newer = -1
        if head >= 0 { slots[head]!.newer = i }
        head = i
        if tail < 0 { tail = i }
    }
}
