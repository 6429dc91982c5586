import Dispatch
import Foundation
import Ingest
import LogStore
import Synchronization
import Testing
import TestSupport

/// The seam the S3 source uses: the ETag it noted for a file it fetched lands in the file's ledger
/// row, and the loop reports every file it settled (done or failed).
@Suite struct FetchedObjectsTests {
    @Test func etagGoesIntoTheLedgerAndSettledFilesAreReported() throws {
        let bucket = tempDir("bucket"), state = tempDir("state")
        let fetchedPath = try writeLog(bucket: bucket, stamp: "20240301T1000Z", records: [rec(guid(1), "2024-03-01T10:01:00Z")])
        let mirroredPath = try writeLog(bucket: bucket, stamp: "20240301T1005Z", records: [rec(guid(2), "2024-03-01T10:06:00Z")])
        let brokenPath = try writeLog(bucket: bucket, stamp: "20240301T1010Z", records: [], raw: Array("not gzip at all".utf8))
        let name = bucket.split(separator: "/").last.map(String.init)!
        func key(_ path: String) -> String { name + "/" + path.dropFirst(bucket.count + 1) }
        let fetched = FetchedObjects()
        fetched.note(key(fetchedPath), etag: "etag-of-fetched")
        fetched.note(key(brokenPath), etag: "etag-of-broken")
        let (ingestor, _) = try makeIngestor(bucket: bucket, state: state) { $0.fetched = fetched }
        let settled = Mutex<[SettledFile]>([])
        ingestor.onSettled = { files in settled.withLock { $0 += files } }
        let box = UncheckedBox(ingestor)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? box.value.runForever(onReady: {}, heartbeat: {})
            done.signal()
        }
        #expect(eventually(timeout: 30) { settled.withLock { $0.count } == 3 })
        ingestor.requestStop()
        #expect(done.wait(timeout: .now() + 10) == .success)
        let reported = Dictionary(uniqueKeysWithValues: settled.withLock { $0 }.map { ($0.ledgerKey, $0.done) })
        #expect(reported == [key(fetchedPath): true, key(mirroredPath): true, key(brokenPath): false])
        let store = try LogStore(stateDirectory: state, readOnly: true).account("123456789012")
        #expect(try store.ledgerEntry(key(fetchedPath))?.etag == "etag-of-fetched")
        #expect(try store.ledgerEntry(key(mirroredPath))?.etag == nil)
        #expect(try store.ledgerEntry(key(brokenPath)).map { ($0.status, $0.etag) } ?? (.done, nil) == (.failed, "etag-of-broken"))
    }
}
