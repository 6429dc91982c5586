import Foundation
import GRDB
import Testing
import TestSupport

func readOnly() -> Configuration {
    var c = Configuration()
    c.readonly = true
    return c
}

/// How many files the ledger of `account` in `state` marks done (0 before the database exists).
func doneCount(_ state: String, account: String = "123456789012") -> Int {
    guard let db = try? DatabaseQueue(path: state + "/groups/\(account).sqlite", configuration: readOnly()) else { return 0 }
    return (try? db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM ledger WHERE status = 'done'") ?? 0 }) ?? 0
}

@Suite(.serialized) struct DaemonTests {
    @Test func everyDeliveryShapeIsTakenExactlyOnceWhileRunning() throws {
        let bucket = tempDir("bucket") + "/b"
        try FileManager.default.createDirectory(atPath: bucket, withIntermediateDirectories: true)
        let state = tempDir("state")
        let daemon = try Child(["run", "--logs", bucket, "--state", state, "--incomplete-timeout", "2", "--log-to", "stderr"])
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        #expect(eventually { daemon.stderr.contains("ready") })
        var expected = Set<String>()
        let day = logDir(bucket)

        // Out of order: the 10:20 file, then the 10:05 file.
        try write(day + "/" + logName("20240301T1020Z", "ORDER00000001020"), gz((0..<3).map { rec(guid($0), "2024-03-01T10:1\($0):00Z") }))
        try write(day + "/" + logName("20240301T1005Z", "ORDER00000001005"), gz((3..<6).map { rec(guid($0), "2024-03-01T10:0\($0):00Z") }))
        expected.formUnion((0..<6).map(guid))
        // Duplicated events and a late one in the next file.
        try write(day + "/" + logName("20240301T1025Z", "DUPLICATE0000001"), gz([rec(guid(1), "2024-03-01T10:11:00Z"), rec(guid(2), "2024-03-01T10:12:00Z"), rec(guid(6), "2024-03-01T09:40:00Z")]))
        expected.insert(guid(6))
        // Written in two halves, with a pause between them.
        let halves = gz((10..<40).map { rec(guid($0), "2024-03-01T10:2\($0 % 10):00Z") })
        let halfPath = day + "/" + logName("20240301T1030Z", "HALVES0000000001")
        try write(halfPath, Array(halves.prefix(halves.count / 2)))
        Thread.sleep(forTimeInterval: 0.7)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: halfPath))
        try h.seekToEnd()
        try h.write(contentsOf: Data(halves.suffix(halves.count - halves.count / 2)))
        try h.close()
        expected.formUnion((10..<40).map(guid))
        // Renamed into place from a temporary name.
        let tmp = day + "/." + logName("20240301T1035Z", "RENAMED000000001") + ".Xy12"
        try write(tmp, gz([rec(guid(50), "2024-03-01T10:34:00Z")]))
        try FileManager.default.moveItem(atPath: tmp, toPath: day + "/" + logName("20240301T1035Z", "RENAMED000000001"))
        expected.insert(guid(50))
        // A new day folder created while running.
        try write(logDir(bucket, day: "02") + "/" + logName("20240302T0005Z", "NEWDAY0000000001"), gz([rec(guid(60), "2024-03-02T00:01:00Z")]))
        expected.insert(guid(60))
        // A folder and its file in the same instant (the file lands before any watch can exist).
        let instant = bucket + "/AWSLogs/123456789012/CloudTrail/eu-west-1/2024/03/01"
        try FileManager.default.createDirectory(atPath: instant, withIntermediateDirectories: true)
        let sameInstant = gz([#"{"eventTime":"2024-03-01T10:40:00Z","eventID":"\#(guid(70))","awsRegion":"eu-west-1"}"#])
        try Data(sameInstant).write(to: URL(fileURLWithPath: instant + "/123456789012_CloudTrail_eu-west-1_20240301T1045Z_INSTANT000000001.json.gz"))
        expected.insert(guid(70))
        // A truncated gzip that never completes.
        let trunc = gz([rec(guid(80), "2024-03-01T10:50:00Z")])
        let truncPath = day + "/" + logName("20240301T1055Z", "NEVERDONE0000001")
        try write(truncPath, Array(trunc.prefix(12)))

        #expect(try eventually(timeout: 30) { Set(try storedIDs(state: state)) == expected })
        #expect(eventually(timeout: 15) { daemon.stderr.contains(truncPath) })
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeout: 30) == 0, "SIGTERM ends the service with exit 0")
        let ids = try storedIDs(state: state)
        #expect(ids.count == expected.count, "each event exactly once")
        #expect(Set(ids) == expected)
        #expect(daemon.stderr.split(separator: "\n").filter { $0.contains(truncPath) }.count == 1, "one log line for the truncated file")
        #expect(daemon.stdout.contains("Errors: truncated 1"), "\(daemon.stdout)")
        // Restarting takes nothing twice.
        let again = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(again.status == 0)
        #expect(again.out.contains("Ingested 0 files"), "\(again.out)")
    }

    @Test func killDashNineInTheMiddleOfALargeFileThenRestart() throws {
        let bucket = tempDir("bucket") + "/b"
        var all = Set<String>()
        for f in 0..<20 {
            let recs = (0..<200).map { rec(guid(f * 1000 + $0), "2024-03-01T10:\(String(format: "%02d", f)):00Z") }
            try write(logDir(bucket) + "/" + logName(String(format: "20240301T10%02dZ", f), String(format: "SMALL%011d", f)), gz(recs))
            all.formUnion((0..<200).map { guid(f * 1000 + $0) })
        }
        // One large file: 120,000 records.
        let big = (0..<120_000).map { rec(guid(1_000_000 + $0), "2024-03-01T11:0\($0 % 10):00Z", name: "Big\($0 % 13)") }
        try write(logDir(bucket) + "/" + logName("20240301T1105Z", "LARGEFILE0000001"), gz(big))
        all.formUnion((0..<120_000).map { guid(1_000_000 + $0) })
        let state = tempDir("state")
        let first = try Child(["run", "--once", "--logs", bucket, "--state", state])
        // Files are taken in key order: once the 20 small ones are in the ledger, the large one is in hand.
        #expect(eventually(timeout: 60) { doneCount(state) >= 20 || !first.process.isRunning })
        first.signal(SIGKILL)
        let status = first.wait(timeout: 10)
        #expect(status != 0, "the first run was killed before finishing (status \(String(describing: status)))")
        #expect(doneCount(state) == 20, "killed in the middle of the large file: it is not in the ledger")
        let second = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(second.status == 0, "\(second.err)")
        let ids = try storedIDs(state: state)
        #expect(ids.count == all.count, "nothing doubled")
        #expect(Set(ids) == all, "nothing lost")
    }

    @Test func sigtermDuringABacklogExitsZeroWithAConsistentLedger() throws {
        let bucket = tempDir("bucket") + "/b"
        let files = 60, perFile = 1500
        var all = Set<String>()
        for f in 0..<files {
            let recs = (0..<perFile).map { rec(guid(f * 10_000 + $0), "2024-03-01T1\(f / 30):\(String(format: "%02d", f % 30)):00Z") }
            try write(logDir(bucket) + "/" + logName(String(format: "20240301T1%01d%02dZ", f / 30, f % 30), String(format: "BACKLOG%09d", f)), gz(recs))
            all.formUnion((0..<perFile).map { guid(f * 10_000 + $0) })
        }
        let state = tempDir("state")
        let daemon = try Child(["run", "--logs", bucket, "--state", state, "--log-to", "stderr"])
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        // SIGTERM as soon as the first file of the backlog is in the ledger: the rest is still to do.
        let started = eventually(timeout: 60, interval: 0.01) { doneCount(state) >= 1 || !daemon.process.isRunning }
        let doneAtSignal = doneCount(state)
        try #require(started && daemon.process.isRunning, "the daemon took no file of the backlog, or ended by itself: \(daemon.stderr.suffix(500))")
        daemon.signal(SIGTERM)
        #expect(doneAtSignal >= 1 && doneAtSignal < files, "SIGTERM landed mid-backlog: \(doneAtSignal) of \(files) files done when it was sent")
        #expect(daemon.wait(timeout: 30) == 0, "exit 0 on SIGTERM: \(daemon.stderr.suffix(500))")
        // It finished the file(s) in hand and stopped: some, not all, of the backlog is in the ledger.
        let doneAtExit = doneCount(state)
        #expect(doneAtExit >= doneAtSignal && doneAtExit < files, "stopped before the end of the backlog: \(doneAtExit) of \(files) files done")
        #expect(daemon.stdout.contains("Ingested \(doneAtExit) files: \(doneAtExit * perFile) events stored"), "\(daemon.stdout)")
        // The ledger agrees with the store: every file marked done has its events, nothing else is there.
        let db = try DatabaseQueue(path: state + "/groups/123456789012.sqlite")
        try db.read { db in
            let done = try Int.fetchOne(db, sql: "SELECT count(*) FROM ledger WHERE status = 'done'") ?? -1
            let notDone = try Int.fetchOne(db, sql: "SELECT count(*) FROM ledger WHERE status != 'done'") ?? -1
            let blocks = try Int.fetchOne(db, sql: "SELECT count(*) FROM blocks") ?? -2
            let orphans = try Int.fetchOne(db, sql: "SELECT count(*) FROM ledger l LEFT JOIN blocks b ON b.id = l.block WHERE l.status = 'done' AND b.id IS NULL") ?? -1
            let ledgerEvents = try Int.fetchOne(db, sql: "SELECT coalesce(sum(stored), 0) FROM ledger WHERE status = 'done'") ?? -1
            let ids = try Int.fetchOne(db, sql: "SELECT coalesce(sum(length(keys)) / 8, 0) FROM eventkeys") ?? -2
            #expect(done == doneAtExit)
            #expect(notDone == 0, "no file half-recorded")
            #expect(done == blocks)
            #expect(orphans == 0)
            #expect(ledgerEvents == ids)
            #expect(ids == doneAtExit * perFile, "each done file's events, every one once")
        }
        // The next run takes exactly the rest.
        let rest = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(rest.status == 0)
        #expect(rest.out.contains("Ingested \(files - doneAtExit) files: \((files - doneAtExit) * perFile) events stored, 0 duplicates"), "\(rest.out)")
        let ids = try storedIDs(state: state)
        #expect(ids.count == all.count && Set(ids) == all)
    }

    @Test func anUnreadableFileIsNamedAndCounted() throws {
        // Root reads anything: drop the capabilities that let it, as a service user would be.
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            // Not root: plain permissions already apply.
            return try checkUnreadable(prefix: [])
        }
        try checkUnreadable(prefix: ["/usr/bin/setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search", trailwatchBinary])
    }

    func checkUnreadable(prefix: [String]) throws {
        let bucket = tempDir("bucket") + "/b"
        let locked = logDir(bucket) + "/" + logName("20240301T1000Z", "LOCKED0000000001")
        try write(locked, gz([rec(guid(1), "2024-03-01T09:59:00Z")]))
        chmod(locked, 0)
        try write(logDir(bucket) + "/" + logName("20240301T1005Z", "OPEN000000000001"), gz([rec(guid(2), "2024-03-01T10:01:00Z")]))
        let state = tempDir("state")
        let args = ["run", "--once", "--logs", bucket, "--state", state]
        let c = prefix.isEmpty ? try Child(args) : try Child(Array(prefix.dropFirst()) + args, executable: prefix[0])
        #expect(c.wait(timeout: 60) == 0, "\(c.stderr)")
        #expect(c.stderr.split(separator: "\n").filter { $0.contains(locked) }.count == 1, "\(c.stderr)")
        #expect(c.stderr.contains("Permission denied"), "\(c.stderr)")
        #expect(c.stdout.contains("unreadable 1"), "\(c.stdout)")
        #expect(try storedIDs(state: state) == [guid(2)])
    }
}
