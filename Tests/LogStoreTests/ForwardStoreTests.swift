import CloudTrail
import Foundation
import LogStore
import Testing
import TestSupport

/// The forwarding checkpoint (migration v10-forward) and the store as a spool.
@Suite struct ForwardStoreTests {
    let t0: Int64 = 1_709_251_200_000

    @Test func blocksReadBackInForwardingOrderWithoutDuplicates() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        _ = try store.commit(makeFile([(uuid(1), t0 + 3000), (uuid(2), t0 + 1000), (uuid(3), t0 + 2000)], name: "a"), ingestionTime: 1)
        // uuid(2) again: a duplicate in the second block, left out of forwarding.
        _ = try store.commit(makeFile([(uuid(2), t0 + 1000), (uuid(4), t0)], name: "b"), ingestionTime: 2)
        let cps = try store.forwardCheckpoints()
        #expect(cps.count == 1)
        let cp = try #require(cps.first)
        #expect(cp.position == ForwardPosition(block: 0, next: 0) && cp.inFlight == nil)
        let ids = try store.forwardBlockIDs(streamID: cp.streamID, from: cp.position, limit: 10)
        #expect(ids.count == 2)
        let first = try #require(try store.forwardBlock(ids[0]))
        #expect(first.entries.map(\.timestamp) == [t0 + 1000, t0 + 2000, t0 + 3000])
        #expect(String(decoding: first.record(0), as: UTF8.self).contains(uuid(2)))
        #expect(first.file == "bucket/a")
        let second = try #require(try store.forwardBlock(ids[1]))
        #expect(second.entries.count == 1)
        #expect(String(decoding: second.record(0), as: UTF8.self).contains(uuid(4)))
        #expect(try store.unforwardedBlocks(streamID: cp.streamID, after: cp.position) == 2)
    }

    @Test func inFlightBatchIsWrittenBeforeAndClearedWithTheAdvance() throws {
        let dir = tempDir()
        let store = try AccountStore(directory: dir, account: account)
        _ = try store.commit(makeFile([(uuid(1), t0), (uuid(2), t0 + 1)], name: "a"), ingestionTime: 1)
        _ = try store.commit(makeFile([(uuid(3), t0 + 2)], name: "b"), ingestionTime: 1)
        let cp = try #require(try store.forwardCheckpoints().first)
        let ids = try store.forwardBlockIDs(streamID: cp.streamID, from: cp.position, limit: 10)
        let batch = InFlightBatch(
            from: cp.position, to: ForwardPosition(block: ids[0], next: 1), startMs: t0, endMs: t0, count: 1, digest: "d",
            firstID: uuid(1), lastID: uuid(1), began: 5)
        try store.beginForward(streamID: cp.streamID, batch)
        // Another process (a restart) sees it.
        let reopened = try AccountStore(directory: dir, account: account)
        #expect(try reopened.forwardCheckpoints().first?.inFlight == batch)
        try reopened.finishForward(streamID: cp.streamID, to: batch.to, sent: 1)
        let after = try #require(try store.forwardCheckpoints().first)
        #expect(after.inFlight == nil)
        #expect(after.position == batch.to && after.forwarded == 1)
        // The first block is partly sent: both blocks are still pending, and the next read starts inside it.
        #expect(try store.unforwardedBlocks(streamID: cp.streamID, after: after.position) == 2)
        #expect(try store.forwardBlockIDs(streamID: cp.streamID, from: after.position, limit: 10) == ids)
        try store.finishForward(streamID: cp.streamID, to: ForwardPosition(block: ids[0], next: 2), sent: 1)
        #expect(try store.forwardBlockIDs(streamID: cp.streamID, from: ForwardPosition(block: ids[0], next: 2), limit: 10) == [ids[1]])
    }

    /// With store = cloudwatch, retention never removes a block not yet forwarded; forwarded, it goes.
    @Test func retentionKeepsUnforwardedBlocks() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        try store.setRetention(days: 1)
        let now = t0 + 10 * 86_400_000
        _ = try store.commit(makeFile([(uuid(1), t0)], name: "old1"), ingestionTime: 1)
        _ = try store.commit(makeFile([(uuid(2), t0 + 1)], name: "old2"), ingestionTime: 1)
        let cp = try #require(try store.forwardCheckpoints().first)
        let ids = try store.forwardBlockIDs(streamID: cp.streamID, from: cp.position, limit: 10)
        #expect(try store.applyRetention(now: now, keepUnforwarded: true) == 0)
        #expect(try store.filter().events.count == 2)
        // The first block forwarded: only it may go.
        try store.finishForward(streamID: cp.streamID, to: ForwardPosition(block: ids[0], next: 1), sent: 1)
        #expect(try store.applyRetention(now: now, keepUnforwarded: true) == 1)
        #expect(try store.filter().events.map(\.message).map { String(decoding: $0, as: UTF8.self) }.allSatisfy { $0.contains(uuid(2)) })
        // Without forwarding (store = local) retention is as before.
        #expect(try store.applyRetention(now: now) == 1)
    }

    /// Retention removing the newest (forwarded) block must not hand its id to the next block: the
    /// checkpoint would take that block for sent.
    @Test func aForwardedBlockIDIsNeverReused() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        try store.setRetention(days: 1)
        _ = try store.commit(makeFile([(uuid(1), t0)], name: "old"), ingestionTime: 1)
        let cp = try #require(try store.forwardCheckpoints().first)
        let ids = try store.forwardBlockIDs(streamID: cp.streamID, from: cp.position, limit: 10)
        try store.finishForward(streamID: cp.streamID, to: ForwardPosition(block: ids[0], next: 1), sent: 1)
        #expect(try store.applyRetention(now: t0 + 10 * 86_400_000, keepUnforwarded: true) == 1)
        _ = try store.commit(makeFile([(uuid(2), t0 + 10 * 86_400_000)], name: "new"), ingestionTime: 2)
        let position = try #require(try store.forwardCheckpoints().first?.position)
        let pending = try store.forwardBlockIDs(streamID: cp.streamID, from: position, limit: 10)
        #expect(pending.count == 1)
        #expect(pending.first.map { $0 > ids[0] } == true)
    }
}
