import Foundation
import GRDB
import Gzip
@testable import LogStore
import Testing
import TestSupport

@Suite struct InflatedBlockCacheTests {
    func key(_ n: Int64, account: String = "a") -> BlockKey {
        BlockKey(account: account, block: n, file: "f\(n)", ingestion: 1, storedSize: 10, rawSize: 40)
    }

    /// A packed block of `n` small records, each `fill` repeated.
    func packed(_ n: Int, fill: UInt8 = 0x61) throws -> PackedBlock {
        var raw: [UInt8] = []
        var entries: [BlockEntry] = []
        for i in 0..<n {
            entries.append(BlockEntry(timestamp: Int64(i), offset: raw.count, length: 20))
            raw += [UInt8](repeating: fill, count: 20)
        }
        return try #require(try PackedBlock.pack(raw, entries: entries, codec: ChunkCodec()))
    }

    func same(_ a: PackedBlock?, _ b: PackedBlock) throws -> Bool {
        guard let a else { return false }
        let codec = try ChunkCodec()
        return try a.bytes == b.bytes && a.chunk(0, codec: codec) == b.chunk(0, codec: codec)
    }

    @Test func staysWithinItsBytesAndEvictsTheLeastRecentlyUsed() throws {
        let (one, two, three) = (try packed(4, fill: 1), try packed(4, fill: 2), try packed(4, fill: 3))
        let b = one.bytes
        // Precondition: blocks of one size, the cache holds two and a half of them.
        #expect(two.bytes == b && three.bytes == b)
        let cache = InflatedBlockCache(capacity: 2 * b + b / 2)
        cache.put(key(1), one)
        cache.put(key(2), two)
        // Block 1 used after block 2: block 2 is now the least recently used.
        #expect(try same(cache.get(key(1)), one))
        cache.put(key(3), three)
        #expect(cache.figures.bytes == Int64(2 * b))
        #expect(cache.figures.evictions == 1)
        #expect(cache.get(key(2)) == nil)
        #expect(try same(cache.get(key(1)), one))
        #expect(try same(cache.get(key(3)), three))
        // Same block id, another account: not the same block.
        #expect(cache.get(key(1, account: "b")) == nil)
        // Larger than the whole cache: not kept, nothing evicted for it.
        let large = try packed(4000)
        #expect(large.bytes > 2 * b + b / 2)
        cache.put(key(4), large)
        #expect(cache.get(key(4)) == nil)
        #expect(cache.figures.blocks == 2)
        // Many puts never take it past its bound.
        for n in Int64(10)..<60 {
            cache.put(key(n), try packed(Int(n % 7) + 1))
            #expect(cache.figures.bytes <= Int64(2 * b + b / 2))
        }
        let f = cache.figures
        #expect(f.hits == 3 && f.misses == 3)
        // Off: keeps nothing.
        let off = InflatedBlockCache(capacity: 0)
        off.put(key(1), one)
        #expect(off.get(key(1)) == nil && off.figures.bytes == 0)
    }

    /// Pages read through tokens, by FilterLogEvents and both ways by GetLogEvents, `limit` events each.
    func pages(_ store: AccountStore, _ shared: InflatedBlockCache?) throws -> [[String]] {
        func text(_ e: LogEvent) -> String { "\(e.eventId) \(String(decoding: e.message, as: UTF8.self))" }
        var filtered: [String] = []
        var token: String? = nil
        repeat {
            let p = try store.filter(limit: 7, nextToken: token, shared: shared)
            filtered += p.events.map(text)
            token = p.nextToken
        } while token != nil
        let stream = try #require(try store.streams().first?.name)
        var forward: [String] = []
        var backward: [String] = []
        var f = try store.get(stream: stream, fromHead: true, limit: 7, shared: shared)
        var b = try store.get(stream: stream, limit: 7, shared: shared)
        for _ in 0..<100 {
            forward += f.events.map(text)
            backward = b.events.map(text) + backward
            if f.events.isEmpty && b.events.isEmpty { break }
            f = try store.get(stream: stream, limit: 7, nextToken: f.nextForwardToken, shared: shared)
            b = try store.get(stream: stream, limit: 7, nextToken: b.nextBackwardToken, shared: shared)
        }
        return [filtered, forward, backward]
    }

    /// Two accounts whose blocks have the same ids, file names, ingestion times and sizes (only the
    /// records differ), read through one cache; then retention deletes an account's blocks and new
    /// files take their ids again. Every page equals the page read without the cache: a block served
    /// for the wrong account or for an id's former file would show another account's or expired records.
    @Test func pagingWithTokensGivesTheSameEventsWithTheCacheOnAndOff() throws {
        let now: Int64 = 1_709_251_200_000
        let t0 = now - 3 * 86_400_000
        func fill(_ store: AccountStore, owner: String, base: Int, t: Int64, ingestion: Int64, names: String) throws {
            for f in 0..<4 {
                // Overlapping files: each holds every 4th second of a shared range.
                let events = (0..<12).map { (uuid(base + f * 12 + $0), t + Int64($0 * 4 + f) * 1000) }
                _ = try store.commit(makeFile(events, account: owner, name: "\(names)\(f)"), ingestionTime: ingestion)
            }
        }
        let a = try AccountStore(directory: tempDir(), account: "111111111111")
        let b = try AccountStore(directory: tempDir(), account: "222222222222")
        try fill(a, owner: "111111111111", base: 0, t: t0, ingestion: 1, names: "f")
        try fill(b, owner: "222222222222", base: 1000, t: t0, ingestion: 1, names: "f")
        let shared = InflatedBlockCache(capacity: 256 << 20)
        let plainA = try pages(a, nil)
        let plainB = try pages(b, nil)
        #expect(plainA[0].count == 48 && plainA[1] == plainA[0] && plainA[2] == plainA[0])
        #expect(plainA[0] != plainB[0])
        #expect(try pages(a, shared) == plainA)
        let before = shared.figures
        #expect(try pages(b, shared) == plainB)
        #expect(try pages(a, shared) == plainA)
        // Precondition: the second and third reads were served from the cache.
        #expect(before.misses == 4 && shared.figures.misses == 8 && shared.figures.hits > before.hits)

        // Every block of account a expires; new files (from another delivery) take ids 1... again.
        try a.setRetention(days: 1)
        #expect(try a.applyRetention(now: now) == 48)
        try fill(a, owner: "111111111111", base: 2000, t: now - 3_600_000, ingestion: 2, names: "g")
        // Precondition: the new blocks have the expired ones' ids.
        let ids = try a.queue.read { try Int64.fetchAll($0, sql: "SELECT id FROM blocks ORDER BY id") }
        #expect(ids == [1, 2, 3, 4])
        let renewed = try pages(a, nil)
        #expect(renewed[0].count == 48 && renewed[0] != plainA[0])
        #expect(try pages(a, shared) == renewed)
    }
}
