import Gzip

/// A stored block's records as the query server keeps them between queries: in the order queries
/// read them (timestamp, then position in the file) and cut into chunks of about
/// ``chunkTarget`` inflated bytes, each compressed on its own (raw deflate, libdeflate level 1).
///
/// Why: a delivered file is one deflate stream whose records are not in time order (CloudTrail's
/// are not; the simulator's times are uniformly random within the file's five minutes), so the
/// ~100 records of a page lie all over the file and only inflating all of it reaches them; a seek
/// index into the delivered stream would still inflate most of it. Repacked by time, a page's
/// records of one block lie in one or two chunks (~0.1 ms each to inflate instead of ~3.5 ms for
/// the file), and the packed block takes about a ninth of the inflated bytes, so a cache of a given
/// size holds nine times as many blocks. Packing costs ~5× inflating the file, once per block
/// while it stays in the cache.
package struct PackedBlock: Sendable {
    /// Inflated bytes a chunk holds at least (unless it is the last); a record is never split.
    package static let chunkTarget = 64 << 10

    struct Chunk: Sendable {
        /// Raw deflate of the chunk, or its bytes as they are when `compressed` is false.
        var data: [UInt8]
        /// Inflated size.
        var size: Int
        var compressed: Bool
    }

    /// Where a record lies: its chunk and its start inside the chunk's inflated bytes.
    struct Place: Sendable {
        var length: UInt32
        var chunk: UInt32
        var start: UInt32
    }

    var chunks: [Chunk]
    /// The packed records' offsets in the inflated file, ascending, and where each lies.
    var offsets: [Int]
    var places: [Place]
    /// The packed records in the order queries read them (timestamp, then place in the index): the
    /// scan merges blocks from these without decoding and sorting each block's index per query.
    let order: [TimeOrderedEntry]
    /// Memory held, for the cache's bound.
    package let bytes: Int

    /// Number of chunks.
    package var chunkCount: Int { chunks.count }

    /// Packs the records `entries` describes (duplicates left out: queries never return them) out
    /// of `raw`, the block inflated. Nil when the index does not fit the bytes (a record outside
    /// them, two records at one offset, sizes past 32 bits): such a block is read whole, and its
    /// damage reported where it is read.
    package static func pack(_ raw: [UInt8], entries: [BlockEntry], codec: ChunkCodec) throws -> PackedBlock? {
        guard raw.count <= Int(UInt32.max), entries.count <= Int(UInt32.max) else { return nil }
        var kept: [Int] = []
        kept.reserveCapacity(entries.count)
        for (n, e) in entries.enumerated() where !e.isDuplicate {
            guard e.offset >= 0, e.length >= 0, e.offset <= raw.count - e.length else { return nil }
            kept.append(n)
        }
        // The order the scan visits a block's events in (forward; backward is its reverse).
        kept.sort { (entries[$0].timestamp, $0) < (entries[$1].timestamp, $1) }
        var chunks: [Chunk] = []
        var byOffset: [(offset: Int, place: Place)] = []
        byOffset.reserveCapacity(kept.count)
        var pending: [UInt8] = []
        pending.reserveCapacity(chunkTarget + 4096)
        func close() throws {
            guard !pending.isEmpty else { return }
            let packed = try pending.withUnsafeBytes { try codec.compress($0) }
            // Exact copies: the cache counts bytes held, and `pending` keeps its capacity for the next chunk.
            chunks.append(Chunk(data: packed ?? [UInt8](pending[...]), size: pending.count, compressed: packed != nil))
            pending.removeAll(keepingCapacity: true)
        }
        for n in kept {
            let e = entries[n]
            byOffset.append((e.offset, Place(length: UInt32(e.length), chunk: UInt32(chunks.count), start: UInt32(pending.count))))
            pending.append(contentsOf: raw[e.offset..<(e.offset + e.length)])
            if pending.count >= chunkTarget { try close() }
        }
        try close()
        byOffset.sort { $0.offset < $1.offset }
        for i in byOffset.indices.dropFirst() where byOffset[i].offset == byOffset[i - 1].offset { return nil }
        let order = kept.map { n in
            TimeOrderedEntry(timestamp: entries[n].timestamp, offset: entries[n].offset, index: UInt32(n), length: UInt32(entries[n].length))
        }
        let held = chunks.reduce(0) { $0 + $1.data.count + 32 } + byOffset.count * (8 + 12) + order.count * MemoryLayout<TimeOrderedEntry>.stride + 128
        return PackedBlock(chunks: chunks, offsets: byOffset.map(\.offset), places: byOffset.map(\.place), order: order, bytes: held)
    }

    /// The chunk and start of the record at `offset` of `length` bytes; nil when no packed record
    /// is there (a duplicate, or an index that does not match the block).
    func locate(offset: Int, length: Int) -> (chunk: Int, start: Int)? {
        var lo = 0
        var hi = offsets.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if offsets[mid] < offset { lo = mid + 1 } else { hi = mid }
        }
        guard lo < offsets.count, offsets[lo] == offset, places[lo].length == length else { return nil }
        return (Int(places[lo].chunk), Int(places[lo].start))
    }

    /// The inflated bytes of chunk `i`.
    func chunk(_ i: Int, codec: ChunkCodec) throws -> [UInt8] {
        let c = chunks[i]
        guard c.compressed else { return c.data }
        return try c.data.withUnsafeBytes { try codec.decompress($0, size: c.size) }
    }
}
