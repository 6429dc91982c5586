import Foundation
import GRDB
import Testing
import TestSupport

/// Runs a system command (mount, umount) and returns its status and output; one that cannot start
/// is status -1 with the reason.
@discardableResult
func system(_ args: [String]) -> (status: Int32, out: String) {
    do { return try runCommand(args) } catch { return (-1, "\(error)") }
}

/// A tmpfs of `size` mounted on a new folder (root only; records an issue if mounting fails).
func tmpfs(size: String) -> String? {
    let dir = tempDir("mnt")
    let r = system(["mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir])
    guard r.status == 0 else {
        Issue.record("cannot mount a tmpfs (the test needs root): \(r.out)")
        return nil
    }
    return dir
}

/// Nothing ingested may be lost or doubled silently, and a mistyped --state is caught: against the real binary.
@Suite(.serialized) struct StoreSafetyTests {
    let group = "aws-cloudtrail-logs-123456789012"

    @Test func fileRewrittenInPlaceAfterIngestIsNoticedStoredOnceAndCounted() throws {
        let bucket = tempDir("bucket") + "/b"
        let path = logDir(bucket) + "/" + logName("20240301T1005Z", "REWRITE000000001")
        let first = (0..<3).map { rec(guid($0), "2024-03-01T10:0\($0):00Z") }
        try write(path, gz(first))
        let state = tempDir("state")
        let r1 = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(r1.status == 0 && r1.out.contains("3 events stored"), "\(r1.out)")

        // Rewritten in place: the three records again (one of them changed), two new ones appended.
        let second = [first[0], rec(guid(1), "2024-03-01T10:01:00Z", name: "TerminateInstances"), first[2]]
            + (3..<5).map { rec(guid($0), "2024-03-01T10:0\($0):00Z") }
        try write(path, gz(second))
        let r2 = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(r2.status == 0)
        #expect(r2.out.contains("1 files were rewritten in place after they were ingested (2 new events stored"), "\(r2.out)")
        let lines = r2.err.split(separator: "\n").filter { $0.contains(path) }
        #expect(lines.count == 1, "one log line for the rewritten file: \(r2.err)")
        #expect(lines.first?.contains("rewritten in place after it was ingested") == true)
        #expect(lines.first?.contains("2 new events stored, 2 records as before, 1 records changed") == true, "\(lines)")
        // Each event once; the changed record keeps the version first stored.
        let ids = try storedIDs(state: state)
        #expect(ids.sorted() == (0..<5).map(guid).sorted())
        let filtered = try trailwatch(["logs", "filter", "--state", state, "--group", group, "--pattern", "TerminateInstances"])
        #expect(filtered.status == 0 && filtered.out.isEmpty)

        // Nothing changed since: nothing is taken or reported again.
        let r3 = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(r3.out.contains("Ingested 0 files") && !r3.out.contains("rewritten"), "\(r3.out)")
        // The same bytes with a new mtime (a copy, a touch): noted, nothing stored, not counted as a rewrite.
        let later = Date().addingTimeInterval(120)
        try FileManager.default.setAttributes([.modificationDate: later], ofItemAtPath: path)
        let r4 = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(!r4.out.contains("rewritten") && r4.err.contains("its bytes are the same"), "\(r4.out)\n\(r4.err)")
        #expect(try storedIDs(state: state).count == 5)

        // A rewrite the daemon sees while running: new events stored at once, logged.
        let daemon = try Child(["run", "--logs", bucket, "--state", state, "--log-to", "stderr"])
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        #expect(eventually { daemon.stderr.contains("ready") })
        try write(path, gz(second + [rec(guid(5), "2024-03-01T10:05:00Z")]))
        #expect(try eventually(timeout: 20) { try storedIDs(state: state).count == 6 })
        #expect(eventually(timeout: 5) { daemon.stderr.contains("rewrite 2): 1 new events stored") }, "\(daemon.stderr)")
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeout: 30) == 0)
        #expect(try storedIDs(state: state).sorted() == (0..<6).map(guid).sorted())
    }

    @Test func aRewriteCaughtHalfWrittenIsTakenOnceComplete() throws {
        let bucket = tempDir("bucket") + "/b"
        let path = logDir(bucket) + "/" + logName("20240301T1005Z", "HALFREWRITE00001")
        try write(path, gz([rec(guid(1), "2024-03-01T10:00:00Z")]))
        let state = tempDir("state")
        #expect(try trailwatch(["run", "--once", "--logs", bucket, "--state", state]).status == 0)
        // The writer is caught half-way through rewriting it: a truncated gzip is "not yet", not an error.
        let full = gz([rec(guid(1), "2024-03-01T10:00:00Z"), rec(guid(2), "2024-03-01T10:01:00Z")])
        try write(path, Array(full.prefix(full.count / 2)))
        let half = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(half.status == 0 && half.out.contains("1 files still incomplete") && !half.out.contains("rewritten"), "\(half.out)")
        #expect(try storedIDs(state: state) == [guid(1)], "what was stored stays")
        try write(path, full)
        let done = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(done.out.contains("1 files were rewritten in place after they were ingested (1 new events stored"), "\(done.out)")
        #expect(try storedIDs(state: state).sorted() == [guid(1), guid(2)])
    }

    @Test func aRewriteThatCannotBeReadIsReportedOnceAndKeepsWhatWasStored() throws {
        let bucket = tempDir("bucket") + "/b"
        let path = logDir(bucket) + "/" + logName("20240301T1005Z", "BADREWRITE000001")
        try write(path, gz([rec(guid(1), "2024-03-01T10:00:00Z")]))
        let state = tempDir("state")
        #expect(try trailwatch(["run", "--once", "--logs", bucket, "--state", state]).status == 0)
        try write(path, Array("not gzip at all".utf8))
        let bad = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(bad.status == 0 && bad.out.contains("Errors: corrupt_gzip 1") && bad.out.contains("1 files were rewritten"), "\(bad.out)")
        let lines = bad.err.split(separator: "\n").filter { $0.contains(path) }
        #expect(lines.count == 1 && lines[0].contains("rewritten in place after it was ingested"), "\(bad.err)")
        #expect(try storedIDs(state: state) == [guid(1)], "what was stored stays")
        // Reported once: the next run, the file unchanged, says nothing more.
        let again = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(again.out.contains("No errors") && !again.err.contains(path), "\(again.out)\n\(again.err)")
    }

    @Test func retentionAppliesToGroupsCreatedByTheRun() throws {
        let bucket = tempDir("bucket") + "/b"
        try write(logDir(bucket) + "/" + logName("20240301T1005Z", "RETENTION0000001"), gz([rec(guid(1), "2024-03-01T10:00:00Z")]))
        let state = tempDir("state")
        // A first run: no group exists when it starts.
        let r = try trailwatch(["run", "--once", "--logs", bucket, "--state", state, "--retention-days", "1"])
        #expect(r.status == 0 && r.out.contains("1 events stored"), "\(r.out)")
        let groups = try trailwatch(["logs", "groups", "--state", state])
        #expect(groups.out.contains(#""retentionInDays":1"#), "\(groups.out)")
        // The 2024 event is older than a day: gone.
        #expect(try storedIDs(state: state).isEmpty)

        // A group that appears while the daemon runs gets it too.
        let other = "210987654321"
        let dir = "\(bucket)/AWSLogs/\(other)/CloudTrail/us-east-1/2024/03/01"
        let daemon = try Child(["run", "--logs", bucket, "--state", state, "--retention-days", "7", "--log-to", "stderr"])
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        #expect(eventually { daemon.stderr.contains("ready") })
        try write(dir + "/\(other)_CloudTrail_us-east-1_20240301T1005Z_RETENTION0000002.json.gz", gz([rec(guid(2), "2024-03-01T10:00:00Z")]))
        #expect(eventually(timeout: 20) {
            (try? trailwatch(["logs", "groups", "--state", state]).out.contains(#""logGroupName":"aws-cloudtrail-logs-\#(other)","creationTime""#)) ?? false
        })
        let all = try trailwatch(["logs", "groups", "--state", state]).out.split(separator: "\n")
        #expect(all.count == 2 && all.allSatisfy { $0.contains(#""retentionInDays":7"#) }, "\(all)")
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeout: 30) == 0)
    }

    @Test func readCommandsRefuseAStateThatIsNotAStore() throws {
        let missing = "/nonexistent/trailwatch-state-\(UUID().uuidString)"
        let empty = tempDir("empty")
        for state in [missing, empty] {
            for args in [["logs", "groups"], ["logs", "streams", "--group", group], ["logs", "filter", "--group", group], ["status"]] {
                let r = try trailwatch(args + ["--state", state])
                #expect(r.status != 0, "\(args) --state \(state) must fail")
                #expect(r.err.contains(state), "\(args): the error names the path: \(r.err)")
                #expect(r.err.contains(state == missing ? "does not exist" : "holds no trailwatch store"), "\(r.err)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty, "the read commands create nothing")
    }

    @Test func readCommandsWorkOnAReadOnlyCopyOfTheState() throws {
        let bucket = tempDir("bucket") + "/b"
        try write(logDir(bucket) + "/" + logName("20240301T1005Z", "READONLY00000001"), gz((0..<4).map { rec(guid($0), "2024-03-01T10:00:0\($0)Z") }))
        let state = tempDir("state")
        #expect(try trailwatch(["run", "--once", "--logs", bucket, "--state", state]).status == 0)
        let expected = try trailwatch(["logs", "filter", "--state", state, "--group", group]).out
        let status = try trailwatch(["status", "--state", state]).out
        #expect(expected.split(separator: "\n").count == 4)
        guard let mnt = tmpfs(size: "64m") else { return }
        defer { system(["umount", mnt]) }
        // A copy as a backup makes it: the database files only (checkpointed), no -shm, which a
        // WAL database on read-only media cannot create.
        let db = try DatabaseQueue(path: state + "/groups/123456789012.sqlite")
        try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try db.close()
        #expect(system(["mkdir", mnt + "/groups"]).status == 0)
        #expect(system(["cp", state + "/groups/123456789012.sqlite", mnt + "/groups/"]).status == 0)
        #expect(system(["mount", "-o", "remount,ro", mnt]).status == 0)
        // Precondition: the copy is really read-only, even for root.
        #expect(!FileManager.default.createFile(atPath: mnt + "/probe", contents: Data([1])))
        let filtered = try trailwatch(["logs", "filter", "--state", mnt, "--group", group])
        #expect(filtered.status == 0, "\(filtered.err)")
        #expect(filtered.out == expected)
        let groups = try trailwatch(["logs", "groups", "--state", mnt])
        #expect(groups.status == 0 && groups.out.contains(group), "\(groups.err)")
        let st = try trailwatch(["status", "--state", mnt])
        #expect(st.status == 0 && st.out == status, "\(st.err)")
        // Writing there fails with the path and the reason.
        let run = try trailwatch(["run", "--once", "--logs", bucket, "--state", mnt])
        #expect(run.status != 0)
        #expect(run.err.contains(mnt) && run.err.contains("read-only"), "\(run.err)")
    }

    @Test func diskFullInOnceStopsAtTheFirstErrorWithOneMessage() throws {
        let bucket = tempDir("bucket") + "/b"
        // 60 files of ~40 KB that do not compress (random padding): ~2.4 MB of blocks for a 1 MB file system.
        for f in 0..<60 {
            let recs = (0..<4).map { i -> String in
                let pad = (0..<5000).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
                return rec(guid(f * 10 + i), "2024-03-01T10:\(String(format: "%02d", f)):0\(i)Z").replacingOccurrences(
                    of: #""eventType""#, with: #""pad":"\#(pad)","eventType""#)
            }
            try write(logDir(bucket) + "/" + logName(String(format: "20240301T10%02dZ", f), String(format: "DISKFULL%08d", f)), gz(recs))
        }
        guard let state = tmpfs(size: "1m") else { return }
        defer { system(["umount", state]) }
        let r = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        // Precondition: the disk did fill.
        var fs = statvfs()
        #expect(statvfs(state, &fs) == 0)
        let free = Int(fs.f_bavail) * Int(fs.f_frsize)
        #expect(free < 64 * 1024, "the file system filled up (\(free) bytes free)")
        #expect(r.status != 0, "a full state directory is a failure: \(r.out)")
        let full = r.err.split(separator: "\n").filter { $0.contains("full") || $0.contains("SQLite error") }
        #expect(full.count == 1, "one message, not one per file: \(r.err)")
        #expect(full.first?.contains("state directory \(state) is full") == true, "\(r.err)")
        // What was stored is intact and the rest is taken by the next run once there is room.
        #expect(system(["mount", "-o", "remount,size=64m", state]).status == 0)
        let again = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(again.status == 0, "\(again.err)")
        #expect(try storedIDs(state: state).count == 240)
    }

    @Test func stateDirectoryDeletedOrReplacedWhileRunningStopsTheDaemon() throws {
        for replace in [false, true] {
            let bucket = tempDir("bucket") + "/b"
            try write(logDir(bucket) + "/" + logName("20240301T1005Z", "STATELOST0000001"), gz([rec(guid(1), "2024-03-01T10:00:00Z")]))
            let state = tempDir("state") + "/s"
            let daemon = try Child(["run", "--logs", bucket, "--state", state, "--log-to", "stderr"])
            defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
            #expect(eventually { daemon.stderr.contains("ready") })
            #expect(try storedIDs(state: state).count == 1)
            if replace {
                try FileManager.default.moveItem(atPath: state, toPath: state + ".old")
                try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            } else {
                try FileManager.default.removeItem(atPath: state)
            }
            // The check runs every 5 s.
            let status = daemon.wait(timeout: 15)
            #expect(status != nil && status != 0, "exits non-zero (replace: \(replace)): \(String(describing: status))")
            let line = daemon.stderr.split(separator: "\n").first { $0.contains("deleted or replaced while running") }
            #expect(line?.contains(state) == true, "a loud line naming the path: \(daemon.stderr)")
            #expect(line?.contains("critical") == true, "\(String(describing: line))")
        }
    }
}
