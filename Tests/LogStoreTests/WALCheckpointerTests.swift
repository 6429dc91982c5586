import CloudTrail
import Foundation
import GRDB
import Gzip
@testable import LogStore
import Testing
import TestSupport

/// The writer's WAL is checkpointed in the background and still starts over, so it stays bounded.
@Suite struct WALCheckpointerTests {
    /// Small limits (in 16 KiB frames) so a few MB of files cross them many times.
    static let limits = WALCheckpointer.Limits(threshold: 40, hardLimit: 160)
    static let frameBytes = 16_384 + 24

    /// A file of `n` records whose gzip is about `n` × 1.4 KB: random hex does not compress much.
    static func bigFile(_ index: Int, records n: Int) -> DecodedFile {
        let t0: Int64 = 1_709_251_200_000
        var rng = SystemRandomNumberGenerator()
        let events = (0..<n).map { i in (id: uuid(index * 10_000 + i), time: t0 + Int64(index * 10_000 + i) * 1000) }
        var file = makeFile(events, name: "f\(index)")
        // Pad each record with random bytes the gzip cannot shrink.
        var json = Array(#"{"Records":["#.utf8)
        var records: [DecodedFile.Record] = []
        for (k, e) in events.enumerated() {
            if k > 0 { json.append(0x2C) }
            let pad = (0..<88).map { _ in String(UInt64.random(in: 1 << 60 ... .max, using: &rng), radix: 16) }.joined()
            let rec = Array(#"{"eventTime":"\#(Timestamp.formatISO8601(e.time))","eventID":"\#(e.id)","pad":"\#(pad)"}"#.utf8)
            records.append(.init(entry: BlockEntry(timestamp: e.time, offset: json.count, length: rec.count), eventKey: EventKey(Array(e.id.utf8))))
            json += rec
        }
        json += Array("]}".utf8)
        file.compressed = Deflater.gzip(json)
        file.uncompressedSize = json.count
        file.records = records
        return file
    }

    static func walSize(_ store: AccountStore) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: store.path + "-wal"))?[.size] as? Int) ?? 0
    }

    /// Commits `files` big files of 200 records to a new store with the small limits, each after
    /// the background caught up (`pause`) or straight after the one before; returns the store, the
    /// gzip bytes written and the WAL's largest size seen after a commit.
    static func commitFiles(_ files: Int, pause: Bool) throws -> (AccountStore, written: Int, largestWAL: Int) {
        let store = try AccountStore(directory: tempDir(), account: account, checkpoints: limits)
        var largestWAL = 0
        var written = 0
        for i in 0..<files {
            let f = bigFile(i, records: 200)
            written += f.compressed.count
            _ = try store.commit(f, ingestionTime: 1)
            largestWAL = max(largestWAL, walSize(store))
            // The background catches up before the next file, as it does when the committer has work between commits.
            if pause { store.checkpointer?.waitForBackground() }
        }
        store.checkpointer?.waitForBackground()
        return (store, written, largestWAL)
    }

    @Test func aWriterThatLetsTheBackgroundCatchUpNeverCheckpointsItselfAndTheWALStartsOver() throws {
        let (store, written, largestWAL) = try Self.commitFiles(40, pause: true)
        let checkpointer = try #require(store.checkpointer)
        let counts = checkpointer.counts
        // The precondition: the files were many times the threshold.
        try #require(written > 6 * Int(Self.limits.threshold) * 16_384)
        #expect(counts.background >= 3)
        #expect(counts.caughtUp == counts.background)
        #expect(counts.inline == 0)
        #expect(counts.failed == 0)
        // It started over: never more than the threshold and a transaction or two (a file is
        // about 20 frames) in it, against the hundreds of frames written.
        #expect(largestWAL <= Int(Self.limits.threshold) * 3 * Self.frameBytes)
        #expect(largestWAL < written / 2)
        #expect(try store.streams().map(\.events) == [40 * 200])
        #expect(try store.queue.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") } == "ok")
    }

    @Test func aWriterThatNeverPausesStillKeepsTheWALUnderTheHardLimit() throws {
        let (store, written, largestWAL) = try Self.commitFiles(60, pause: false)
        let checkpointer = try #require(store.checkpointer)
        try #require(written > 2 * Int(Self.limits.hardLimit) * 16_384)
        #expect(checkpointer.counts.background >= 1)
        // At most the hard limit and one file past it.
        #expect(largestWAL <= Int(Self.limits.hardLimit + 40) * Self.frameBytes)
        #expect(try store.streams().map(\.events) == [60 * 200])
        // A second connection sees every file (the checkpointed pages and the WAL agree).
        let reader = try AccountStore(directory: (store.path as NSString).deletingLastPathComponent, account: account, readOnly: true)
        #expect(try reader.streams().map(\.events) == [60 * 200])
        #expect(try store.queue.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") } == "ok")
    }

    @Test func aClosedStoreLeavesNoWALBehind() throws {
        var path = ""
        do {
            let (store, _, largestWAL) = try Self.commitFiles(12, pause: false)
            path = store.path
            // The precondition: the background's connection was opened and the WAL is there.
            try #require((store.checkpointer?.counts.background ?? 0) >= 1)
            try #require(largestWAL > 0 && FileManager.default.fileExists(atPath: path + "-wal"))
        }
        // The writer's connection closed last: it checkpointed what was left and removed the WAL.
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        let reopened = try AccountStore(directory: (path as NSString).deletingLastPathComponent, account: account, readOnly: true)
        #expect(try reopened.streams().map(\.events) == [12 * 200])
    }
}
