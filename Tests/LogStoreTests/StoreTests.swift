import CloudTrail
import FilterPattern
import Foundation
import GRDB
import Gzip
@testable import LogStore
import Testing
import TestSupport

let account = "123456789012"

/// Builds a delivered file with one record per (eventID, eventTime ms), laid out as CloudTrail writes it.
func makeFile(_ events: [(id: String, time: Int64)], region: String = "us-east-1", account owner: String = account, name: String) -> DecodedFile {
    var json = Array(#"{"Records":["#.utf8)
    var records: [DecodedFile.Record] = []
    for (n, e) in events.enumerated() {
        if n > 0 { json.append(0x2C) }
        let rec = Array(#"{"eventTime":"\#(Timestamp.formatISO8601(e.time))","eventID":"\#(e.id)","eventName":"E\#(n % 7)","awsRegion":"\#(region)","n":\#(n)}"#.utf8)
        records.append(
            DecodedFile.Record(
                entry: BlockEntry(timestamp: e.time, offset: json.count, length: rec.count), eventKey: EventKey(Array(e.id.utf8))))
        json += rec
    }
    json += Array("]}".utf8)
    let key = LogFileKey(
        prefix: "", organizationID: nil, account: owner, region: region, deliveryTime: events.first?.time ?? 0,
        unique: "AAAAAAAAAAAAAAAA", fileName: name)
    return DecodedFile(
        ledgerKey: "bucket/" + name, key: key, size: 1, mtime: 1, compressed: Deflater.gzip(json), uncompressedSize: json.count,
        records: records)
}

func uuid(_ n: Int) -> String { String(format: "%08x-0000-4000-8000-%012x", n, n) }

@Suite struct StoreTests {
    @Test func storesOnceAndKeepsOriginalBytes() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        let t0: Int64 = 1_709_251_200_000
        let a = makeFile((0..<100).map { (uuid($0), t0 + Int64($0) * 1000) }, name: "a")
        let b = makeFile((50..<150).map { (uuid($0), t0 + Int64($0) * 1000) }, name: "b")  // 50 duplicates of a
        let ra = try store.commit(a, ingestionTime: 1)
        let rb = try store.commit(b, ingestionTime: 2)
        #expect(ra == CommitResult(stored: 100, duplicates: 0, committed: true))
        #expect(rb == CommitResult(stored: 50, duplicates: 50, committed: true))
        // The same file again: the ledger says done, nothing is written.
        #expect(try store.commit(a, ingestionTime: 3) == CommitResult(stored: 0, duplicates: 0, committed: false))
        let page = try store.filter()
        #expect(page.events.count == 150)
        #expect(page.nextToken == nil)
        #expect(Set(page.events.map { String(decoding: $0.message, as: UTF8.self) }).count == 150)
        // Original bytes: the message is exactly the record as written.
        let first = try #require(page.events.first)
        #expect(String(decoding: first.message, as: UTF8.self).hasPrefix(#"{"eventTime":"2024-03-01T00:00:00Z","eventID":"\#(uuid(0))""#))
        #expect(first.logStreamName == "123456789012_CloudTrail_us-east-1")
        #expect(try store.ledger()["bucket/a"]?.status == .done)
        #expect(try store.streams().map(\.events) == [150])
    }

    @Test func filterPaginatesOverMoreThanTenThousandWithoutGapsOrRepeats() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        let t0: Int64 = 1_709_251_200_000
        // 25,000 events in 10 files, out of order across files, many sharing a timestamp.
        for f in 0..<10 {
            let events = (0..<2500).map { i -> (String, Int64) in
                let n = f * 2500 + i
                return (uuid(n), t0 + Int64((n * 7919) % 5000) * 1000)
            }
            _ = try store.commit(makeFile(events, region: f % 2 == 0 ? "us-east-1" : "eu-west-1", name: "f\(f)"), ingestionTime: Int64(f))
        }
        var seen: [String] = []
        var token: String? = nil
        var pages = 0
        var lastTimestamp = Int64.min
        repeat {
            let page = try store.filter(limit: 3000, nextToken: token)
            for e in page.events {
                #expect(e.timestamp >= lastTimestamp, "ordered by timestamp")
                lastTimestamp = e.timestamp
                seen.append(e.eventId)
            }
            #expect(page.nextToken != token, "tokens advance")
            token = page.nextToken
            pages += 1
        } while token != nil
        #expect(seen.count == 25_000)
        #expect(Set(seen).count == 25_000)
        #expect(pages == 9)
        // A page holds at most 10,000 events and about 1 MB, as in CloudWatch.
        let p1 = try store.filter()
        #expect(p1.events.count <= 10_000)
        #expect(p1.events.reduce(0) { $0 + $1.message.count + 26 } <= 1_048_576 + 400)
        #expect(p1.nextToken != nil)
        // A stream filter and a pattern.
        let east = try store.filter(streams: ["123456789012_CloudTrail_us-east-1"], pattern: FilterPattern("{ $.eventName = E3 }"))
        #expect(east.events.allSatisfy { $0.logStreamName.hasSuffix("us-east-1") && String(decoding: $0.message, as: UTF8.self).contains(#""eventName":"E3""#) })
        let expected = (0..<25_000).filter { n in (n / 2500) % 2 == 0 && (n % 2500) % 7 == 3 }.count
        #expect(east.events.count == expected)
        #expect(throws: StoreError.self) { try store.filter(nextToken: "garbage") }
        #expect(throws: StoreError.self) { try store.filter(streams: ["nope"]) }
    }

    @Test func timeBoundaries() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        let t: [Int64] = [1000, 2000, 2000, 3000, 4000].map { 1_709_251_200_000 + $0 }
        _ = try store.commit(makeFile(t.enumerated().map { (uuid($0.offset), $0.element) }, name: "x"), ingestionTime: 1)
        // FilterLogEvents: start and end inclusive.
        #expect(try store.filter(start: t[1], end: t[3]).events.map(\.timestamp) == [t[1], t[2], t[3]])
        // GetLogEvents: start inclusive, end exclusive.
        let stream = "123456789012_CloudTrail_us-east-1"
        #expect(try store.get(stream: stream, start: t[1], end: t[3], fromHead: true).events.map(\.timestamp) == [t[1], t[2]])
        #expect(try store.filter(start: t[4] + 1).events.isEmpty)
        #expect(try store.filter(end: t[0] - 1).events.isEmpty)
    }

    @Test func getLogEventsTokens() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        let t0: Int64 = 1_709_251_200_000
        _ = try store.commit(makeFile((0..<25).map { (uuid($0), t0 + Int64($0) * 1000) }, name: "g"), ingestionTime: 1)
        let stream = "123456789012_CloudTrail_us-east-1"
        // Without a token and startFromHead=false: the newest page, ascending inside.
        let last = try store.get(stream: stream, limit: 10)
        #expect(last.events.map(\.timestamp) == (15..<25).map { t0 + Int64($0) * 1000 })
        // Backward from there.
        let before = try store.get(stream: stream, limit: 10, nextToken: last.nextBackwardToken)
        #expect(before.events.map(\.timestamp) == (5..<15).map { t0 + Int64($0) * 1000 })
        // Forward from the head through the end: the end is signalled by the same token coming back.
        var token: String? = nil
        var all: [Int64] = []
        while true {
            let page = try store.get(stream: stream, fromHead: true, limit: 10, nextToken: token)
            all += page.events.map(\.timestamp)
            if page.nextForwardToken == token { break }
            token = page.nextForwardToken
        }
        #expect(all == (0..<25).map { t0 + Int64($0) * 1000 })
    }

    /// A store of 12 files committed in a shuffled order, each spanning a window that overlaps its
    /// neighbours', with runs of equal timestamps (ties broken by ingestion time, then arrival), and
    /// the order every query must give, worked out here from what was committed (not by the store):
    /// eventIDs sorted by (timestamp, ingestion time, commit order, place in the file), with each
    /// record's eventName.
    func overlappingStore() throws -> (AccountStore, [(id: String, time: Int64, name: String)]) {
        let store = try AccountStore(directory: tempDir(), account: account)
        let t0: Int64 = 1_709_251_200_000
        var n = 0
        var all: [(key: (Int64, Int64, Int, Int), id: String, time: Int64, name: String)] = []
        for (k, f) in [7, 2, 11, 0, 5, 9, 1, 4, 10, 3, 8, 6].enumerated() {
            var records = (0..<40).map { i -> (String, Int64) in
                n += 1
                return (uuid(n), t0 + Int64(f * 8 + i / 3) * 1000)
            }
            // Records out of time order inside half the files (CloudTrail's are not sorted either).
            if k % 2 == 1 { records = records.enumerated().sorted { ($0.offset % 5, -$0.offset) < ($1.offset % 5, -$1.offset) }.map(\.element) }
            let ingestion = Int64(100 + k % 3)
            #expect(try store.commit(makeFile(records, name: "o\(f)"), ingestionTime: ingestion).stored == 40)
            for (i, r) in records.enumerated() { all.append(((r.1, ingestion, k, i), r.0, r.1, "E\(i % 7)")) }
        }
        all.sort { $0.key < $1.key }
        return (store, all.map { ($0.id, $0.time, $0.name) })
    }

    /// The eventID inside a stored record (the fixture's records carry it as a plain member).
    func eventID(_ e: LogEvent) -> String {
        let text = String(decoding: e.message, as: UTF8.self)
        guard let r = text.range(of: #""eventID":""#) else { return "?" }
        return String(text[r.upperBound...].prefix(36))
    }

    /// GetLogEvents reads only the blocks a page needs, in order of their first (or last) timestamp:
    /// with blocks delivered out of order, overlapping in time and sharing timestamps, every page
    /// size in both directions still gives every event once, in the order of all events sorted.
    /// The same through the server's shared cache (the scan merging packed blocks' time orders),
    /// cold on the first limit and warm after.
    @Test(arguments: [false, true]) func getLogEventsPagesAgreeWithFilterOverOverlappingBlocks(packed: Bool) throws {
        let t0: Int64 = 1_709_251_200_000
        let (store, sorted) = try overlappingStore()
        let shared = packed ? InflatedBlockCache(capacity: 64 << 20) : nil
        let stream = "123456789012_CloudTrail_us-east-1"
        let expected = try store.filter(limit: 10_000).events.map(\.eventId)
        #expect(expected.count == 480)
        #expect(try store.filter(limit: 10_000).events.map(eventID) == sorted.map(\.id))
        defer {
            // Precondition of the packed case: the pages came from packed blocks.
            if let shared { #expect(shared.figures.blocks > 1 && shared.figures.hits > shared.figures.misses) }
        }
        for limit in [1, 7, 40, 100, 479, 480, 10_000] {
            var forward: [String] = []
            var token: String? = nil
            var pages = 0
            while pages < 1000 {
                let page = try store.get(stream: stream, fromHead: true, limit: limit, nextToken: token, shared: shared)
                forward += page.events.map(\.eventId)
                pages += 1
                if page.nextForwardToken == token { break }
                token = page.nextForwardToken
            }
            #expect(forward == expected, "limit \(limit), forward")
            var backward: [String] = []
            var first = try store.get(stream: stream, limit: limit, shared: shared)
            backward = first.events.map(\.eventId)
            pages = 0
            while pages < 1000 {
                let page = try store.get(stream: stream, limit: limit, nextToken: first.nextBackwardToken, shared: shared)
                pages += 1
                if page.events.isEmpty { break }
                backward = page.events.map(\.eventId) + backward
                first = page
            }
            #expect(backward == expected, "limit \(limit), backward")
        }
        // A time range inside the stream: the same events as FilterLogEvents over [start, end - 1].
        let (start, end) = (t0 + 25_000, t0 + 61_000)
        let inRange = try store.filter(start: start, end: end - 1, limit: 10_000).events.map(\.eventId)
        #expect(inRange.count == sorted.filter { $0.time >= start && $0.time < end }.count)
        #expect(try store.get(stream: stream, start: start, end: end, fromHead: true, limit: 10_000, shared: shared).events.map(\.eventId) == inRange)
        #expect(try store.get(stream: stream, start: start, end: end, limit: 10, shared: shared).events.map(\.eventId) == Array(inRange.suffix(10)))
    }

    /// FilterLogEvents reads blocks as GetLogEvents does (only those its page needs): over the same
    /// overlapping blocks, with and without a pattern and a time range, its pages at every limit
    /// give exactly the matching events in the order of all events sorted, each once, and the last
    /// page carries no token.
    @Test func filterLogEventsPagesAgreeWithAnUnboundedScanOverOverlappingBlocks() throws {
        let t0: Int64 = 1_709_251_200_000
        let (store, sorted) = try overlappingStore()
        let pattern = try FilterPattern(#"{ $.eventName = "E3" || $.eventName = "E5" }"#)
        for (p, range) in [(nil, nil), (pattern, nil), (pattern, (t0 + 25_000, t0 + 61_000)), (nil, (t0 + 8_000, t0 + 10_000))]
            as [(FilterPattern?, (Int64, Int64)?)]
        {
            let expected = sorted.filter { e in
                (p == nil || e.name == "E3" || e.name == "E5") && range.map { e.time >= $0.0 && e.time <= $0.1 } ?? true
            }.map(\.id)
            // Precondition: the case has events, and a page of 7 does not hold them all.
            #expect(expected.count > 7, "\(expected.count) events")
            for limit in [1, 2, 7, 40, 479, 10_000] {
                var got: [String] = []
                var token: String? = nil
                var pages = 0
                repeat {
                    let page = try store.filter(start: range?.0, end: range?.1, pattern: p, limit: limit, nextToken: token)
                    #expect(page.events.count <= limit)
                    got += page.events.map(eventID)
                    token = page.nextToken
                    pages += 1
                } while token != nil && pages < 1000
                #expect(got == expected, "pattern \(p != nil), range \(range.map { "\($0)" } ?? "all"), limit \(limit)")
                #expect(pages <= expected.count / limit + 1, "limit \(limit): \(pages) pages for \(expected.count) events")
            }
        }
    }

    /// Queries inflate a stored file in one call (libdeflate) when they can; a file of two gzip
    /// members, which that refuses, is still read back whole (through zlib), in both directions.
    @Test func filesOfSeveralGzipMembersAreReadBackWhole() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        let t0: Int64 = 1_709_251_200_000
        var file = makeFile((0..<50).map { (uuid($0), t0 + Int64($0) * 1000) }, name: "members")
        let json = try Inflater.inflateAll(file.compressed)
        file.compressed = Deflater.gzip(Array(json[..<(json.count / 2)])) + Deflater.gzip(Array(json[(json.count / 2)...]))
        // Precondition: the one-call inflate refuses it.
        #expect(throws: GzipError.self) {
            try file.compressed.withUnsafeBytes { try WholeInflater().inflate($0, claimedSize: json.count, limit: json.count) }
        }
        #expect(try store.commit(file, ingestionTime: 1).stored == 50)
        let events = try store.filter().events
        #expect(events.map(eventID) == (0..<50).map(uuid))
        #expect(events.allSatisfy { String(decoding: $0.message, as: UTF8.self).hasSuffix("}") })
        let last = try store.get(stream: "123456789012_CloudTrail_us-east-1", limit: 5)
        #expect(last.events.map(eventID) == (45..<50).map(uuid))
    }

    /// A read-only store (as the API server opens it) reads on several connections at once: a
    /// query does not wait for another one to finish (it did, on one connection per account).
    @Test func readOnlyStoresQueryInParallel() throws {
        let dir = tempDir()
        let writer = try AccountStore(directory: dir, account: account)
        _ = try writer.commit(makeFile([(uuid(1), 1_709_251_200_000)], name: "p"), ingestionTime: 1)
        let reader = try AccountStore(directory: dir, account: account, readOnly: true, readers: 2)
        let started = DispatchSemaphore(value: 0)
        let overlapped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            // Holds a read open until the second read has run inside it (at most 10 s).
            _ = try? reader.queue.read { _ in
                started.signal()
                return overlapped.wait(timeout: .now() + 10)
            }
        }
        started.wait()
        let t = Date()
        #expect(try reader.filter().events.count == 1)
        overlapped.signal()
        #expect(Date().timeIntervalSince(t) < 5, "the second query waited for the first to end")
    }

    @Test func retentionAcceptsCloudWatchValuesAndExpires() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        #expect(throws: StoreError.self) { try store.setRetention(days: 2) }
        try store.setRetention(days: 1)
        let now: Int64 = 1_709_251_200_000
        _ = try store.commit(makeFile([(uuid(1), now - 3 * 86_400_000)], name: "old"), ingestionTime: 1)
        _ = try store.commit(makeFile([(uuid(2), now - 3_600_000)], name: "new"), ingestionTime: 1)
        #expect(try store.applyRetention(now: now) == 1)
        #expect(try store.filter().events.count == 1)
        // The expired file stays in the ledger: it is not ingested again.
        #expect(try store.commit(makeFile([(uuid(1), now - 3 * 86_400_000)], name: "old"), ingestionTime: 2).committed == false)
        // Its eventID is forgotten with it.
        #expect(try store.commit(makeFile([(uuid(1), now - 3 * 86_400_000)], name: "old-again"), ingestionTime: 2).stored == 1)
    }

    /// Retention keeps the dedup keys of events older than the cutoff where their file's block is kept:
    /// deleting them (as it once did) stored a late re-delivery of such an event twice.
    @Test func retentionKeepsDedupForEveryEventStillStored() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        try store.setRetention(days: 1)
        let now: Int64 = 1_709_251_200_000
        // One file whose events straddle the cutoff: its newest event is recent, so it is kept whole.
        let straddling = makeFile([(uuid(1), now - 2 * 86_400_000), (uuid(2), now - 3_600_000)], name: "straddling")
        _ = try store.commit(straddling, ingestionTime: 1)
        _ = try store.commit(makeFile([(uuid(3), now - 5 * 86_400_000)], name: "expired"), ingestionTime: 1)
        #expect(try store.applyRetention(now: now) == 1)
        // Precondition: the straddling file's old event is still stored (it is older than the cutoff).
        let kept = try store.filter().events
        #expect(kept.count == 2)
        #expect(kept.contains { $0.timestamp == now - 2 * 86_400_000 })
        // A late re-delivery of that event (another file) is a duplicate, not a second copy.
        let late = try store.commit(makeFile([(uuid(1), now - 2 * 86_400_000)], name: "late-redelivery"), ingestionTime: 2)
        #expect(late == CommitResult(stored: 0, duplicates: 1, committed: true))
        #expect(try store.filter().events.count == 2)
        // The expired file's key went with its block.
        #expect(try store.commit(makeFile([(uuid(3), now - 5 * 86_400_000)], name: "expired-again"), ingestionTime: 2).stored == 1)
    }

    /// A file rewritten in place (same ledger key, new size/mtime) is not ignored by the commit (it once was).
    @Test func aRewrittenFileStoresOnlyItsNewEventsAndSaysWhatChanged() throws {
        let dir = tempDir()
        let store = try AccountStore(directory: dir, account: account)
        let t0: Int64 = 1_709_251_200_000
        let first = makeFile((0..<4).map { (uuid($0), t0 + Int64($0) * 1000) }, name: "f")
        _ = try store.commit(first, ingestionTime: 1)
        // The same sighting again: nothing.
        #expect(try store.commit(first, ingestionTime: 2) == CommitResult(stored: 0, duplicates: 0, committed: false))
        // The same bytes, a new mtime, and a ledger row from before the hash column (NULL): the stored block compares.
        let db = try DatabaseQueue(path: dir + "/\(account).sqlite")
        try db.write { try $0.execute(sql: "UPDATE ledger SET hash = NULL") }
        var touched = first
        touched.mtime = 99
        #expect(try store.commit(touched, ingestionTime: 3) == CommitResult(stored: 0, duplicates: 0, committed: false, sameContent: true))
        // New content: the same four records and two appended; size and mtime differ.
        var second = makeFile((0..<6).map { (uuid($0), t0 + Int64($0) * 1000) }, name: "f")
        second.size = 2
        second.mtime = 100
        let r = try store.commit(second, ingestionTime: 4)
        #expect(r.stored == 2 && r.duplicates == 4 && r.committed)
        #expect(r.rewrite == Rewrite(previousSize: 1, added: 2, unchanged: 4, changed: 0, removed: 0, count: 1))
        #expect(try store.filter().events.count == 6, "each event once")
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT rewrites FROM ledger WHERE path = 'bucket/f'") } == 1)
    }

    @Test func blockIndexRoundTrips() {
        let entries = [
            BlockEntry(timestamp: 100, offset: 12, length: 50),
            BlockEntry(timestamp: 90, offset: 63, length: 300_000, flags: BlockEntry.oversized),
            BlockEntry(timestamp: 5_000_000, offset: 300_064, length: 7, flags: BlockEntry.duplicate),
            BlockEntry(timestamp: -1_500, offset: 400_000, length: 1, flags: BlockEntry.missingFields),
            BlockEntry(timestamp: 1_709_251_200_123, offset: 400_002, length: 2),
        ]
        #expect(BlockIndex.decode(BlockIndex.encode(entries, base: 90), base: 90) == entries)
        #expect(BlockIndex.decode([0xFF], base: 0) == nil)
    }

    /// An event's token written digit by digit is the token of padded strings, for every width's
    /// edges, negative parts (written as 0) and parts too long for their width; and it reads back.
    @Test func eventTokensAreThePaddedDecimalTokens() {
        let edges: [Int64] = [0, 1, 9, 10, 99_999_999, 100_000_000, 999_999_999_999, 1_000_000_000_000, 1_709_251_200_123,
                              9_999_999_999_999_999, 10_000_000_000_000_000, Int64.max, -1, Int64.min]
        var rng = SystemRandomNumberGenerator()
        var cases: [EventPosition] = []
        for a in edges { for b in edges { cases.append(EventPosition(timestamp: a, ingestion: b, block: b, index: Int(a % 1_000_000_000))) } }
        for _ in 0..<2000 {
            cases.append(EventPosition(timestamp: Int64.random(in: 0..<10_000_000_000_000_000, using: &rng),
                ingestion: Int64.random(in: 0..<10_000_000_000_000_000, using: &rng), block: Int64.random(in: 0..<1_000_000_000_000, using: &rng),
                index: Int.random(in: 0..<100_000_000, using: &rng)))
        }
        for p in cases {
            #expect(p.token == p.paddedToken, "\(p)")
            if p.token.utf8.count == 52, p.timestamp >= 0, p.ingestion >= 0, p.block >= 0, p.index >= 0 {
                #expect(EventPosition(token: Substring(p.token)) == p, "\(p)")
            }
        }
        // Precondition: the fast path and the fallback were both taken.
        #expect(cases.contains { $0.token.utf8.count == 52 } && cases.contains { $0.token.utf8.count > 52 })
    }
}
