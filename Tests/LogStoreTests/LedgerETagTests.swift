import Foundation
import GRDB
import LogStore
import Testing
import TestSupport

/// v9-ledger-etag: a file fetched from S3 keeps its ETag in its ledger row, which the S3 source
/// reads before downloading (same key and ETag: taken already).
@Suite struct LedgerETagTests {
    @Test func etagIsKeptWithTheFileAndReadBack() throws {
        let dir = tempDir()
        let store = try AccountStore(directory: dir, account: account)
        let t0: Int64 = 1_709_251_200_000
        var fetched = makeFile([(uuid(1), t0)], name: "AWSLogs/x/a.json.gz")
        fetched.etag = "0123abcd-1"
        let mirrored = makeFile([(uuid(2), t0)], name: "AWSLogs/x/b.json.gz")
        #expect(try store.commit(fetched, ingestionTime: 1).committed)
        #expect(try store.commit(mirrored, ingestionTime: 1).committed)
        #expect(try store.ledgerEntry("bucket/AWSLogs/x/a.json.gz")?.etag == "0123abcd-1")
        #expect(try store.ledgerEntry("bucket/AWSLogs/x/b.json.gz")?.etag == nil)
        #expect(try store.ledgerEntry("bucket/AWSLogs/x/b.json.gz")?.status == .done)
        #expect(try store.ledgerEntry("bucket/AWSLogs/x/none.json.gz") == nil)
        #expect(try store.ledger()["bucket/AWSLogs/x/a.json.gz"]?.etag == "0123abcd-1")
        try store.recordFailure(ledgerKey: "bucket/AWSLogs/x/c.json.gz", size: 3, mtime: 4, reason: "bad", etag: "ff")
        #expect(try store.ledgerEntry("bucket/AWSLogs/x/c.json.gz") == LedgerEntry(path: "bucket/AWSLogs/x/c.json.gz", status: .failed, size: 3, mtime: 4, reason: "bad", etag: "ff"))
        // The column came by the named migration, after every earlier one.
        let names = try DatabaseQueue(path: dir + "/" + (try #require(sqliteFiles(in: dir).first { $0.hasSuffix(".sqlite") }))).read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        }
        #expect(names.contains("v9-ledger-etag") && names.firstIndex(of: "v9-ledger-etag")! > names.firstIndex(of: "v8-alert-rule")!, "\(names)")
    }

    @Test func lastKeyOfAPrefixIsTheGreatestTaken() throws {
        let store = try AccountStore(directory: tempDir(), account: account)
        let t0: Int64 = 1_709_251_200_000
        for (n, name) in ["p/2026/12/02/z.json.gz", "p/2026/12/03/a.json.gz", "p/2026/12/03/c.json.gz", "p/2026/12/04/b.json.gz"].enumerated() {
            #expect(try store.commit(makeFile([(uuid(n), t0 + Int64(n))], name: name), ingestionTime: 1).committed)
        }
        #expect(try store.lastLedgerKey(withPrefix: "bucket/p/2026/12/03/") == "bucket/p/2026/12/03/c.json.gz")
        #expect(try store.lastLedgerKey(withPrefix: "bucket/p/2026/12/05/") == nil)
    }
}

/// File names in a folder (the test opens the database file the store made).
func sqliteFiles(in dir: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] }
