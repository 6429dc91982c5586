import FilterPattern
import Foundation
import GRDB
import Gzip
@testable import LogStore
import Testing
import TestSupport

/// Blocks packed by time for the query server's cache (``PackedBlock``), and pages served from
/// them against pages served by inflating each block whole.
@Suite struct PackedBlockTests {
    /// A block laid out as a delivered file: `n` records of varying length, their timestamps in
    /// a shuffled order (as CloudTrail's and the simulator's are), with their index entries.
    static func block(_ n: Int, seed: UInt64) -> (raw: [UInt8], entries: [BlockEntry]) {
        var rng = seed
        func next() -> UInt64 {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return rng >> 33
        }
        var raw = Array(#"{"Records":["#.utf8)
        var entries: [BlockEntry] = []
        for i in 0..<n {
            if i > 0 { raw.append(0x2C) }
            let pad = String(repeating: "x", count: Int(next() % 900))
            let rec = Array(#"{"n":\#(i),"pad":"\#(pad)"}"#.utf8)
            entries.append(BlockEntry(timestamp: 1_709_251_200_000 + Int64(next() % 300) * 1000, offset: raw.count, length: rec.count))
            raw += rec
        }
        raw += Array("]}".utf8)
        return (raw, entries)
    }

    @Test func everyRecordReadFromItsChunkEqualsTheSliceOfTheWholeBlock() throws {
        let (raw, entries) = Self.block(2000, seed: 7)
        let codec = try ChunkCodec()
        let packed = try #require(try PackedBlock.pack(raw, entries: entries, codec: codec))
        // Precondition: several chunks, each compressed, and the whole smaller than the records.
        #expect(packed.chunkCount >= raw.count / PackedBlock.chunkTarget)
        #expect(packed.chunkCount > 5)
        #expect(packed.chunks.allSatisfy { $0.compressed && $0.data.capacity < 2 * $0.data.count + 64 })
        #expect(packed.bytes < raw.count / 3)
        var inflated: [Int: [UInt8]] = [:]
        for e in entries {
            let (chunk, start) = try #require(packed.locate(offset: e.offset, length: e.length))
            if inflated[chunk] == nil { inflated[chunk] = try packed.chunk(chunk, codec: codec) }
            let bytes = try #require(inflated[chunk])
            #expect(Array(bytes[start..<(start + e.length)]) == Array(raw[e.offset..<(e.offset + e.length)]))
        }
        #expect(inflated.count == packed.chunkCount)
        // Chunks follow time: records in time order lie in chunks in ascending order, so the
        // records of a short time span lie in one or two chunks.
        let byTime = entries.indices.sorted { (entries[$0].timestamp, $0) < (entries[$1].timestamp, $1) }
        let chunkOrder = byTime.map { packed.locate(offset: entries[$0].offset, length: entries[$0].length)!.chunk }
        #expect(chunkOrder == chunkOrder.sorted())
        let page = byTime[1000..<1035].map { packed.locate(offset: entries[$0].offset, length: entries[$0].length)!.chunk }
        #expect(Set(page).count <= 2)
        // A wrong length or an offset between records: no record there.
        #expect(packed.locate(offset: entries[0].offset, length: entries[0].length + 1) == nil)
        #expect(packed.locate(offset: entries[0].offset + 1, length: entries[0].length) == nil)
    }

    @Test func duplicatesAreLeftOutAndAnIndexThatDoesNotFitTheBlockIsNotPacked() throws {
        var (raw, entries) = Self.block(300, seed: 3)
        let codec = try ChunkCodec()
        entries[10].flags = BlockEntry.duplicate
        let packed = try #require(try PackedBlock.pack(raw, entries: entries, codec: codec))
        #expect(packed.locate(offset: entries[10].offset, length: entries[10].length) == nil)
        #expect(packed.locate(offset: entries[11].offset, length: entries[11].length) != nil)
        // A record past the end of the bytes, one of negative length, two records at one offset.
        var past = entries
        past[20].length = raw.count
        #expect(try PackedBlock.pack(raw, entries: past, codec: codec) == nil)
        var negative = entries
        negative[20].length = -1
        #expect(try PackedBlock.pack(raw, entries: negative, codec: codec) == nil)
        var twice = entries
        twice[21].offset = twice[20].offset
        #expect(try PackedBlock.pack(raw, entries: twice, codec: codec) == nil)
        raw.removeLast(raw.count - entries[299].offset)
        #expect(try PackedBlock.pack(raw, entries: entries, codec: codec) == nil)
    }

    @Test func aDamagedChunkIsAnErrorNeverOtherBytes() throws {
        let codec = try ChunkCodec()
        let text = Array(String(repeating: #"{"eventName":"DescribeInstances","n":1},"#, count: 2000).utf8)
        let packed = try #require(try text.withUnsafeBytes { try codec.compress($0) })
        #expect(packed.count < text.count / 10)
        // What the caller keeps is the compressed size, not room for the input.
        #expect(packed.capacity < text.count / 5)
        #expect(try packed.withUnsafeBytes { try codec.decompress($0, size: text.count) } == text)
        // Told the wrong size (either way), or given damaged or cut data: an error.
        for size in [text.count - 1, text.count + 1] {
            #expect(throws: GzipError.self) { try packed.withUnsafeBytes { try codec.decompress($0, size: size) } }
        }
        #expect(throws: GzipError.self) { try Array(packed.prefix(packed.count / 2)).withUnsafeBytes { try codec.decompress($0, size: text.count) } }
        var damaged = packed
        for i in stride(from: 0, to: damaged.count, by: 7) { damaged[i] ^= 0xA5 }
        #expect(throws: GzipError.self) { try damaged.withUnsafeBytes { try codec.decompress($0, size: text.count) } }
        #expect(throws: GzipError.self) { try [UInt8]().withUnsafeBytes { try codec.decompress($0, size: 10) } }
        // Bytes that do not compress are left as they are.
        var rng: UInt64 = 1
        let noise = (0..<5000).map { _ in
            rng = rng &* 6_364_136_223_846_793_005 &+ 1
            return UInt8(truncatingIfNeeded: rng >> 56)
        }
        #expect(try noise.withUnsafeBytes { try codec.compress($0) } == nil)
    }

    /// Four overlapping files of 600 shuffled events each (two chunks per block): every page,
    /// at several limits, through FilterLogEvents (with and without a pattern) and GetLogEvents both
    /// ways, equals the page served by inflating whole blocks, with the cache cold and warm.
    @Test func pagesServedFromPackedBlocksEqualPagesFromWholeBlocks() throws {
        let t0: Int64 = 1_709_251_200_000
        let store = try AccountStore(directory: tempDir(), account: account)
        var rng: UInt64 = 11
        for f in 0..<4 {
            var events = (0..<600).map { i -> (id: String, time: Int64) in
                rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return (uuid(f * 1000 + i), t0 + Int64(f * 60 + Int(rng >> 33) % 300) * 1000)
            }
            events.shuffle()
            _ = try store.commit(makeFile(events, name: "f\(f)"), ingestionTime: 1)
        }
        let stream = "123456789012_CloudTrail_us-east-1"
        let pattern = try FilterPattern(#"{ $.eventName = "E3" }"#)
        func walk(_ limit: Int, _ shared: InflatedBlockCache?) throws -> [[String]] {
            func text(_ e: LogEvent) -> String { "\(e.eventId) \(String(decoding: e.message, as: UTF8.self))" }
            var out: [[String]] = []
            for p in [nil, pattern] as [FilterPattern?] {
                var got: [String] = []
                var token: String? = nil
                repeat {
                    let page = try store.filter(pattern: p, limit: limit, nextToken: token, shared: shared)
                    got += page.events.map(text)
                    token = page.nextToken
                } while token != nil
                out.append(got)
            }
            var forward: [String] = []
            var page = try store.get(stream: stream, start: t0 + 100_000, fromHead: true, limit: limit, shared: shared)
            while !page.events.isEmpty {
                forward += page.events.map(text)
                page = try store.get(stream: stream, limit: limit, nextToken: page.nextForwardToken, shared: shared)
            }
            var backward: [String] = []
            page = try store.get(stream: stream, end: t0 + 300_000, limit: limit, shared: shared)
            while !page.events.isEmpty {
                backward = page.events.map(text) + backward
                page = try store.get(stream: stream, limit: limit, nextToken: page.nextBackwardToken, shared: shared)
            }
            return out + [forward, backward]
        }
        let shared = InflatedBlockCache(capacity: 64 << 20)
        for limit in [7, 100, 10_000] {
            let whole = try walk(limit, nil)
            // Preconditions: every event, and a pattern that keeps some and not all.
            #expect(whole[0].count == 2400 && whole[1].count > 100 && whole[1].count < 2400)
            #expect(whole[2].count > 1000 && whole[3].count > 1000)
            #expect(try walk(limit, shared) == whole, "limit \(limit)")
        }
        let f = shared.figures
        // Precondition: the packed path was taken (blocks held, hits, several chunks per block).
        #expect(f.blocks == 4 && f.misses == 4 && f.hits > 100)
        #expect(f.chunkInflations > 8)
        let packed = try store.queue.read { db in
            try Row.fetchAll(db, sql: "SELECT raw_size FROM blocks").map { $0[0] as Int }
        }
        #expect(packed.allSatisfy { $0 > PackedBlock.chunkTarget })
    }

    /// A record the packed block leaves out (a duplicate) is still read, from the block inflated whole.
    @Test func aRecordOutsideThePackedBlockIsReadFromTheWholeBlock() throws {
        let t0: Int64 = 1_709_251_200_000
        let store = try AccountStore(directory: tempDir(), account: account)
        _ = try store.commit(makeFile((0..<100).map { (uuid($0), t0 + Int64($0) * 1000) }, name: "a"), ingestionTime: 1)
        _ = try store.commit(makeFile((50..<150).map { (uuid($0), t0 + Int64($0) * 1000) }, name: "b"), ingestionTime: 2)
        let shared = InflatedBlockCache(capacity: 64 << 20)
        _ = try store.filter(shared: shared)
        #expect(shared.figures.blocks == 2)
        try store.queue.read { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT id, idx, min_ts, data FROM blocks WHERE file LIKE '%b'"))
            let entries = try #require(BlockIndex.decode([UInt8](row[1] as Data), base: row[2]))
            let raw = try Inflater.inflateAll([UInt8](row[3] as Data))
            let dup = try #require(entries.first { $0.isDuplicate })
            let cache = try BlockCache(shared: shared, account: account)
            let message = try cache.message(db, block: row[0], offset: dup.offset, length: dup.length)
            #expect(message == Array(raw[dup.offset..<(dup.offset + dup.length)]))
            #expect(String(decoding: message, as: UTF8.self).contains(uuid(50)))
        }
        #expect(shared.figures.hits >= 1)
    }

    /// A packed block keeps its records in the scan's order: exactly the decoded index's events,
    /// duplicates left out, sorted by timestamp then place (what the scan sorts when it reads a
    /// block's index instead).
    @Test func packedOrderIsTheIndexInTimeOrder() throws {
        let t0: Int64 = 1_709_251_200_000
        let store = try AccountStore(directory: tempDir(), account: account)
        func time(_ i: Int) -> Int64 { t0 + Int64((i * 7919) % 300 / 2) * 1000 }
        _ = try store.commit(makeFile((0..<300).map { (uuid($0), time($0)) }, name: "a"), ingestionTime: 1)
        _ = try store.commit(makeFile((250..<400).map { (uuid($0), time($0)) }, name: "b"), ingestionTime: 2)
        try store.queue.read { db in
            for row in try Row.fetchAll(db, sql: "SELECT idx, min_ts, data FROM blocks") {
                let entries = try #require(BlockIndex.decode([UInt8](row[0] as Data), base: row[1]))
                let raw = try Inflater.inflateAll([UInt8](row[2] as Data))
                let packed = try #require(try PackedBlock.pack(raw, entries: entries, codec: ChunkCodec()))
                let order = try #require(TimeOrderedEntry.timeOrder(entries))
                #expect(packed.order == order)
                // Independently: every kept event once, in (timestamp, place) order.
                let kept = entries.enumerated().filter { !$0.element.isDuplicate }
                    .sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }
                #expect(order.map(\.index) == kept.map { UInt32($0.offset) })
                #expect(order.map(\.offset) == kept.map(\.element.offset))
                #expect(order.map { Int($0.length) } == kept.map(\.element.length))
            }
            // Preconditions: the second file's overlap made duplicates, and times are out of order.
            let second = try #require(try Row.fetchOne(db, sql: "SELECT idx, min_ts FROM blocks WHERE file LIKE '%b'"))
            let entries = try #require(BlockIndex.decode([UInt8](second[0] as Data), base: second[1]))
            #expect(entries.filter(\.isDuplicate).count == 50)
            #expect(entries.map(\.timestamp) != entries.map(\.timestamp).sorted())
        }
    }
}
