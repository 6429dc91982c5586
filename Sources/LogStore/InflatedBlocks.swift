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
    /// Inflated bytes held now, and the bound on them.
    package var bytes: Int64 = 0
    package var capacity: Int64 = 0
    package var blocks: Int64 = 0
}

/// Inflated stored blocks shared by every query of a server, bounded by their total size (least
/// recently used out first): a client paging through a stream reads the same delivered file for
/// many pages, and inflating it (milliseconds for a file of a few MB) is most of a page's cost.
/// Thread-safe; a capacity of 0 keeps nothing. A block larger than the capacity is not kept.
package final class InflatedBlockCache: Sendable {
    /// The bound on inflated bytes held.
    package let capacity: Int
    private let state: Mutex<LRU>

    package init(capacity: Int) {
        self.capacity = max(0, capacity)
        state = Mutex(LRU())
    }

    /// The inflated bytes of `key`, marked most recently used; nil (a miss) when not held.
    package func get(_ key: BlockKey) -> [UInt8]? {
        state.withLock { $0.get(key) }
    }

    /// Keeps `data` as the inflated bytes of `key`, evicting least recently used blocks to stay
    /// within the capacity.
    package func put(_ key: BlockKey, _ data: [UInt8]) {
        guard data.count <= capacity else { return }
        state.withLock { $0.put(key, data, capacity: capacity) }
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
        var data: [UInt8]
        var newer = -1
        var older = -1
    }

    var slots: [Slot?] = []
    var free: [Int] = []
    var index: [BlockKey: Int] = [:]
    var head = -1
    var tail = -1
    var figures = InflatedBlockFigures()

    mutating func get(_ key: BlockKey) -> [UInt8]? {
        guard let i = index[key] else {
            figures.misses += 1
            return nil
        }
        figures.hits += 1
        unlink(i)
        pushFront(i)
        return slots[i]!.data
    }

    mutating func put(_ key: BlockKey, _ data: [UInt8], capacity: Int) {
        if let i = index[key] {
            // Another query inflated it meanwhile: keep the one held, now most recent.
            unlink(i)
            pushFront(i)
            return
        }
        while figures.bytes + Int64(data.count) > Int64(capacity), tail >= 0 {
            let old = tail
            unlink(old)
            let s = slots[old]!
            index[s.key] = nil
            slots[old] = nil
            free.append(old)
            figures.bytes -= Int64(s.data.count)
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
        figures.bytes += Int64(data.count)
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
