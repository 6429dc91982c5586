import Foundation
import Gzip
import Testing
import TestSupport

/// One file must never stop the others: FIFOs, gzip bombs and files that kill the process, with
/// the real binary.
@Suite(.serialized) struct PoisonFileE2ETests {
    @Test func aFIFOUnderALogNameStopsNeitherTheOneShotRunNorTheService() throws {
        let bucket = tempDir("bucket") + "/b"
        try write(logDir(bucket) + "/" + logName("20240301T1000Z", "GOOD000000000001"), gz([rec(guid(1), "2024-03-01T09:58:00Z")]))
        let fifo = logDir(bucket) + "/" + logName("20240301T1005Z", "FIFO000000000001")
        #expect(mkfifo(fifo, 0o644) == 0, "precondition: a FIFO in the bucket")
        try write(logDir(bucket) + "/" + logName("20240301T1010Z", "GOOD000000000002"), gz([rec(guid(2), "2024-03-01T10:09:00Z")]))

        // --once: finishes, names the FIFO, stores the rest.
        let once = tempDir("state")
        let r = try trailwatch(["run", "--once", "--logs", bucket, "--state", once], timeout: 60)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("Errors: not_regular_file 1."), "\(r.out)")
        #expect(r.err.contains(fifo) && r.err.contains("not a regular file (a FIFO)"), "\(r.err)")
        #expect(Set(try storedIDs(state: once)) == [guid(1), guid(2)])

        // The service: ready after the scan, takes new files, refuses a FIFO that appears later
        // (found by the rescan), and stops promptly on SIGTERM.
        let state = tempDir("state")
        let daemon = try Child(["run", "--logs", bucket, "--state", state, "--rescan-interval", "1", "--log-to", "stderr"])
        defer { if daemon.process.isRunning { daemon.signal(SIGKILL) } }
        #expect(eventually(timeout: 30) { daemon.stderr.contains("ready") }, "the start-up scan finishes: \(daemon.stderr)")
        let later = logDir(bucket, day: "02") + "/" + logName("20240302T0005Z", "FIFO000000000002")
        try FileManager.default.createDirectory(atPath: logDir(bucket, day: "02"), withIntermediateDirectories: true)
        #expect(mkfifo(later, 0o644) == 0)
        #expect(eventually(timeout: 30) { daemon.stderr.contains(later) }, "the later FIFO is refused: \(daemon.stderr)")
        try write(logDir(bucket, day: "02") + "/" + logName("20240302T0010Z", "GOOD000000000003"), gz([rec(guid(3), "2024-03-02T00:09:00Z")]))
        #expect(try eventually(timeout: 30) { Set(try storedIDs(state: state)) == [guid(1), guid(2), guid(3)] })
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeout: 10) == 0, "SIGTERM ends the service promptly with exit 0")
        #expect(daemon.stdout.contains("not_regular_file 2"), "\(daemon.stdout)")
    }

    @Test func gzipBombsFailAsTooLargeAndTheRestOfTheBucketIsStored() throws {
        let bucket = tempDir("bucket") + "/b"
        let day = logDir(bucket)
        try write(day + "/" + logName("20240301T1000Z", "GOOD000000000001"), gz([rec(guid(1), "2024-03-01T09:58:00Z")]))
        // One record of 2 MiB, over `max-record-size = 1` from the config file.
        let recordBomb = day + "/" + logName("20240301T1005Z", "RECORDBOMB000001")
        try write(recordBomb, Deflater.gzip(prefix: Array(#"{"Records":[{"eventID":"x","pad":""#.utf8), repeating: Array(repeating: UInt8(ascii: "A"), count: 1 << 20), count: 2, suffix: Array((#""}]}"#).utf8)))
        // A file of 6 MiB of valid records, over `max-inflated-size = 4` from the config file.
        let record = Array((rec(guid(9), "2024-03-01T10:00:00Z") + ",").utf8)
        let fileBomb = day + "/" + logName("20240301T1010Z", "FILEBOMB00000001")
        try write(fileBomb, Deflater.gzip(prefix: Array(#"{"Records":["#.utf8), repeating: record, count: (6 << 20) / record.count, suffix: Array((rec(guid(10), "2024-03-01T10:00:00Z") + "]}").utf8)))
        try write(day + "/" + logName("20240301T1015Z", "GOOD000000000002"), gz([rec(guid(2), "2024-03-01T10:14:00Z")]))
        let state = tempDir("state")
        let conf = state + "/trailwatch.conf"
        try "logs = \(bucket)\nstate = \(state)\nmax-inflated-size = 4\nmax-record-size = 1\n".write(toFile: conf, atomically: true, encoding: .utf8)

        let r = try trailwatch(["run", "--once", "--config", conf], timeout: 120)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("Errors: too_large 2."), "\(r.out)")
        #expect(r.err.contains(recordBomb) && r.err.contains("exceeds 1 MiB (max-record-size)"), "\(r.err)")
        #expect(r.err.contains(fileBomb) && r.err.contains("more than 4 MiB (max-inflated-size)"), "\(r.err)")
        #expect(Set(try storedIDs(state: state)) == [guid(1), guid(2)])
        let again = try trailwatch(["run", "--once", "--config", conf])
        #expect(again.out.contains("No errors."), "quarantined: not tried again: \(again.out)")
    }

    @Test func aFileInHandAtTwoDeathsIsQuarantinedAndTheRestFlowsUntilItIsTouched() throws {
        let bucket = tempDir("bucket") + "/b"
        // The large file comes first in delivery order: while it kills the process nothing else is stored.
        let big = logDir(bucket) + "/" + logName("20240301T1000Z", "LARGEFILE0000001")
        try write(big, gz((0..<40_000).map { rec(guid(1_000_000 + $0), "2024-03-01T09:5\($0 % 10):00Z") }))
        var small = Set<String>()
        for f in 0..<3 {
            try write(logDir(bucket) + "/" + logName("20240301T101\(f)Z", "SMALL0000000000\(f)"), gz([rec(guid(f), "2024-03-01T10:1\(f):00Z")]))
            small.insert(guid(f))
        }
        let state = tempDir("state")
        /// The in-hand note of the large file, if any: its first line counts earlier deaths.
        func note() -> String? {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: state + "/in-hand")) ?? [] {
                if let text = try? String(contentsOfFile: state + "/in-hand/" + name, encoding: .utf8), text.contains("LARGEFILE") { return text }
            }
            return nil
        }
        for (death, earlier) in [(1, "0"), (2, "1")] {
            let run = try Child(["run", "--once", "--logs", bucket, "--state", state])
            #expect(eventually(timeout: 60, interval: 0.005) { note()?.hasPrefix(earlier + "\n") == true || !run.process.isRunning })
            run.signal(SIGKILL)
            #expect(run.wait(timeout: 10) != 0)
            #expect(note()?.hasPrefix(earlier + "\n") == true, "death \(death): killed with the large file in hand")
            if death == 2 { #expect(run.stderr.contains("retried first, on its own"), "\(run.stderr)") }
        }
        let third = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(third.status == 0, "\(third.err)")
        #expect(third.out.contains("Errors: crashed 1."), "\(third.out)")
        #expect(third.err.contains(big) && third.err.contains("quarantined"), "\(third.err)")
        #expect(Set(try storedIDs(state: state)) == small, "the rest flows; the quarantined file is skipped")
        #expect(note() == nil)
        // An operator releases it by touching it.
        let touch = try Process.run(URL(fileURLWithPath: "/usr/bin/touch"), arguments: ["-d", "+1 minute", big])
        touch.waitUntilExit()
        #expect(touch.terminationStatus == 0)
        let fourth = try trailwatch(["run", "--once", "--logs", bucket, "--state", state])
        #expect(fourth.out.contains("Ingested 1 files"), "\(fourth.out)")
        #expect(try storedIDs(state: state).count == small.count + 40_000)
    }
}
