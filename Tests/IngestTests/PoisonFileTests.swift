import Alerts
import CloudTrail
import Foundation
import Glibc
import Gzip
import Ingest
import LogStore
import Posix
import Synchronization
import Testing
import TestSupport

/// A gzip file streamed from pieces: `prefix`, `piece` × `count`, `suffix`.
func gzipStream(prefix: String, repeating piece: [UInt8], count: Int, suffix: String) -> [UInt8] {
    Deflater.gzip(prefix: Array(prefix.utf8), repeating: piece, count: count, suffix: Array(suffix.utf8))
}

/// The ledger rows of one account: path → (status, reason).
func ledgerRows(state: String, account: String = "123456789012") throws -> [String: (status: String, reason: String)] {
    let out = try commandOutput(["python3", "-c", """
        import sqlite3, sys, json
        db = sqlite3.connect(sys.argv[1])
        print(json.dumps({p: [s, r or ""] for p, s, r in db.execute("SELECT path, status, reason FROM ledger")}))
        """, state + "/groups/\(account).sqlite"])
    let d = try JSONSerialization.jsonObject(with: out) as! [String: [String]]
    return d.mapValues { ($0[0], $0[1]) }
}

/// Binds a Unix socket at a short path (sun_path holds 108 bytes) and renames it to `path`:
/// a socket file in the bucket.
func makeSocket(_ path: String) throws {
    let short = "/tmp/tw-\(UUID().uuidString.prefix(8)).sock"
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    #expect(fd >= 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { p in
        p.copyBytes(from: Array(short.utf8))
    }
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    close(fd)
    #expect(rc == 0, "bind \(short): \(String(cString: strerror(errno)))")
    #expect(rename(short, path) == 0)
}

@Suite struct PoisonFileTests {
    @Test func aFIFOAndASocketUnderLogNamesAreRefusedLedgeredAndDoNotBlockTheRest() throws {
        let bucket = tempDir("bucket") + "/b"
        let good1 = try writeLog(bucket: bucket, stamp: "20240301T1000Z", unique: "GOOD000000000001", records: [rec(guid(1), "2024-03-01T09:58:00Z")])
        let fifo = (good1 as NSString).deletingLastPathComponent + "/123456789012_CloudTrail_us-east-1_20240301T1005Z_FIFO000000000001.json.gz"
        #expect(mkfifo(fifo, 0o644) == 0)
        let sock = (good1 as NSString).deletingLastPathComponent + "/123456789012_CloudTrail_us-east-1_20240301T1010Z_SOCK000000000001.json.gz"
        try makeSocket(sock)
        var st = stat()
        #expect(lstat(sock, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK, "precondition: a socket file is in the bucket")
        try writeLog(bucket: bucket, stamp: "20240301T1015Z", unique: "GOOD000000000002", records: [rec(guid(2), "2024-03-01T10:14:00Z")])

        let state = tempDir("state")
        let (ingestor, logs) = try makeIngestor(bucket: bucket, state: state)
        // Without the fix the run blocks in open() on the FIFO: run it on a thread and, if it does
        // not return, open the FIFO's other end to free it and fail the test.
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<IngestStats?>(nil)
        Thread.detachNewThread {
            result.withLock { $0 = try? ingestor.runOnce() }
            done.signal()
        }
        if done.wait(timeout: .now() + 60) == .timedOut {
            Issue.record("the one-shot run is stuck on the FIFO")
            let w = open(fifo, O_WRONLY | O_NONBLOCK)
            if w >= 0 { close(w) }
            _ = done.wait(timeout: .now() + 60)
        }
        let stats = try #require(result.withLock { $0 })
        #expect(stats.errors[.notRegular] == 2, "\(stats.errors)")
        for path in [fifo, sock] {
            let lines = logs.entries.filter { "\($0.message)".contains(path) }
            #expect(lines.count == 1, "\(path): \(lines.map { "\($0.message)" })")
            #expect(lines.first?.metadata["reason"]?.description == "not_regular_file")
        }
        #expect(logs.entries.contains { "\($0.message)".contains("a FIFO") }, "the log says what the file is")
        #expect(Set(try storedEvents(state: state).map { eventID($0.message) }) == [guid(1), guid(2)])
        let ledger = try ledgerRows(state: state)
        for path in [fifo, sock] {
            let row = ledger["b/" + path.components(separatedBy: "/b/").last!]
            #expect(row?.status == "failed" && row?.reason.hasPrefix("not_regular_file") == true, "\(path): \(String(describing: row))")
        }
        // Quarantined: the next run does not try them again.
        let (again, logs2) = try makeIngestor(bucket: bucket, state: state)
        let s2 = try again.runOnce()
        #expect(s2.errorCount == 0 && s2.filesIngested == 0)
        #expect(!logs2.entries.contains { "\($0.message)".contains("FIFO0000") })
    }

    @Test func gzipBombsFailAsTooLargeWithBoundedWorkAndTheRestIsStored() throws {
        let bucket = tempDir("bucket") + "/b"
        try writeLog(bucket: bucket, stamp: "20240301T1000Z", unique: "GOOD000000000001", records: [rec(guid(1), "2024-03-01T09:58:00Z")])
        let mib = [UInt8](repeating: UInt8(ascii: "A"), count: 1 << 20)
        var bombs: [String: String] = [:]  // path -> counter
        // One record too large (default cap, 16 MiB): a valid-looking prefix, then an 18 MiB string.
        bombs[try writeLog(bucket: bucket, stamp: "20240301T1005Z", unique: "RECORDBOMB000001", records: [], raw: gzipStream(
            prefix: #"{"Records":[{"eventID":"x","eventTime":"2024-03-01T10:00:00Z","pad":""#, repeating: mib, count: 18, suffix: #""}]}"#))] = "too_large"
        // A huge key outside Records, and a huge non-object element inside it: held by the splitter too.
        bombs[try writeLog(bucket: bucket, stamp: "20240301T1010Z", unique: "KEYBOMB000000001", records: [], raw: gzipStream(
            prefix: #"{""#, repeating: mib, count: 18, suffix: #"":1,"Records":[]}"#))] = "too_large"
        bombs[try writeLog(bucket: bucket, stamp: "20240301T1015Z", unique: "STRINGBOMB000001", records: [], raw: gzipStream(
            prefix: #"{"Records":[""#, repeating: mib, count: 18, suffix: #""]}"#))] = "too_large"
        // The whole file too large (cap lowered to 20 MiB here): small valid records, 24 MiB of them.
        let record = Array((rec(guid(9), "2024-03-01T10:00:00Z") + ",").utf8)
        bombs[try writeLog(bucket: bucket, stamp: "20240301T1020Z", unique: "FILEBOMB00000001", records: [], raw: gzipStream(
            prefix: #"{"Records":["#, repeating: record, count: (24 << 20) / record.count, suffix: rec(guid(10), "2024-03-01T10:00:00Z") + "]}"))] = "too_large"
        // Too many records: 300,000 empty objects (cap lowered to 100,000 here).
        bombs[try writeLog(bucket: bucket, stamp: "20240301T1025Z", unique: "TINYBOMB00000001", records: [], raw: gzipStream(
            prefix: #"{"Records":["#, repeating: Array("{},".utf8), count: 300_000, suffix: "{}]}"))] = "too_large"
        // Zeros: 64 MiB of them, refused on the first byte.
        bombs[try writeLog(bucket: bucket, stamp: "20240301T1030Z", unique: "ZEROBOMB00000001", records: [], raw: gzipStream(
            prefix: "", repeating: [UInt8](repeating: 0, count: 1 << 20), count: 64, suffix: ""))] = "not_json"
        try writeLog(bucket: bucket, stamp: "20240301T1035Z", unique: "GOOD000000000002", records: [rec(guid(2), "2024-03-01T10:34:00Z")])
        for path in bombs.keys {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            #expect(size < 200_000, "precondition: \(path) is a small file (\(size) bytes)")
        }

        let state = tempDir("state")
        let (ingestor, logs) = try makeIngestor(bucket: bucket, state: state) {
            $0.limits.inflatedBytes = 20 << 20
            $0.limits.records = 100_000
        }
        let stats = try ingestor.runOnce()
        #expect(stats.errors[.tooLarge] == 5, "\(stats.errors)")
        #expect(stats.errors[.notJSON] == 1, "\(stats.errors)")
        let ledger = try ledgerRows(state: state)
        for (path, code) in bombs {
            let lines = logs.entries.filter { "\($0.message)".contains(path) }
            #expect(lines.count == 1 && lines.first?.metadata["reason"]?.description == code, "\(path): \(lines.map { "\($0.message)" })")
            let row = ledger["b/" + path.components(separatedBy: "/b/").last!]
            #expect(row?.status == "failed" && row?.reason.hasPrefix(code) == true, "\(path): \(String(describing: row))")
        }
        #expect(logs.entries.contains { "\($0.message)".contains("RECORDBOMB") && "\($0.message)".contains("exceeds 16 MiB (max-record-size)") })
        #expect(logs.entries.contains { "\($0.message)".contains("FILEBOMB") && "\($0.message)".contains("more than 20 MiB (max-inflated-size)") })
        #expect(logs.entries.contains { "\($0.message)".contains("TINYBOMB") && "\($0.message)".contains("more than 100000 records") })
        #expect(Set(try storedEvents(state: state).map { eventID($0.message) }) == [guid(1), guid(2)], "the rest of the bucket is stored")
        let (again, _) = try makeIngestor(bucket: bucket, state: state)
        #expect(try again.runOnce().errorCount == 0, "bombs are not retried")
    }

    /// The integrity path reads digests, sidecars and log files of the mirror too: a FIFO there is
    /// refused at once, and a digest that inflates past its limit throws instead of filling memory.
    @Test func mirrorReadsRefuseAFIFOAndWholeInflationIsBounded() throws {
        let fifo = tempDir("fifo") + "/digest.json.gz"
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(throws: PosixError.self) { try Posix.readFile(fifo, regularOnly: true) }
        let bomb = Deflater.gzip(prefix: [], repeating: [UInt8](repeating: 0x41, count: 1 << 20), count: 8, suffix: [])
        let error = #expect(throws: GzipError.self) { try Inflater.inflateAll(bomb, limit: 4 << 20) }
        #expect(error?.code == .tooLarge)
        #expect(try Inflater.inflateAll(bomb, limit: 8 << 20).count == 8 << 20)
    }

    /// The one-rule set the delivery tests use (alerts on every TerminateInstances).
    static let rule = AlertDeliveryTests.rule

    /// A small file inflating beyond what may be kept for the committer's rule matching is matched
    /// on the decoder instead, part kept and part on the fly: the same alerts either way.
    @Test func rulesMatchTheSameWhenAFileInflatesBeyondTheDeferredBytes() throws {
        let bucket = tempDir("bucket") + "/b"
        let rules = tempDir("rules")
        try Self.rule.write(toFile: rules + "/t.rules", atomically: true, encoding: .utf8)
        let n = 12_000
        let records = (0..<n).map { i in
            rec(guid(i), "2024-03-01T10:00:00Z", name: i % 4000 == 7 ? "TerminateInstances" : "DescribeInstances")
        }
        let path = try writeLog(bucket: bucket, stamp: "20240301T1000Z", records: records)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(size < FileDecoder.deferLimit, "precondition: rule matching of this file is deferred")
        var alertCounts: [Int] = []
        for deferred in [DecodeLimits().deferredBytes, 512 << 10] {
            let state = tempDir("state"), out = tempDir("alerts") + "/a.jsonl"
            let (ingestor, _) = try makeIngestor(bucket: bucket, state: state) {
                $0.rulePaths = [rules]
                $0.limits.deferredBytes = deferred
            }
            #expect(ingestor.reloadRules().loaded)
            ingestor.sinks = [try JSONLinesAlertSink(path: out)]
            let stats = try ingestor.runOnce()
            #expect(stats.eventsStored == n)
            alertCounts.append(try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").count)
        }
        // The decoder did switch: with the small limit nothing is left for the committer.
        let (probe, _) = try makeIngestor(bucket: bucket, state: tempDir("state")) { $0.rulePaths = [rules] }
        #expect(probe.reloadRules().loaded)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        guard case .log(let key) = ObjectKeyParser.classify(path.components(separatedBy: "/b/").last!) else {
            Issue.record("precondition: \(path) is a log file name")
            return
        }
        for (deferred, keptForCommitter) in [(DecodeLimits().deferredBytes, true), (512 << 10, false)] {
            var limits = DecodeLimits()
            limits.deferredBytes = deferred
            let file = try FileDecoder.decode(bytes: bytes, ledgerKey: "k", key: key, size: 0, mtime: 0, rules: probe.ruleSet, limits: limits).get()
            #expect(!file.raw.isEmpty == keptForCommitter && file.raw.count <= deferred)
            #expect(file.records.count == n)
        }
        #expect(alertCounts == [3, 3], "inflated \(n) records (~\(n * 260 >> 10) KiB) past a 512 KiB deferral: \(alertCounts)")
    }

    /// What a process death leaves (a note of the file in hand), written as the decoder writes it.
    @Test func aFileInHandAtOneDeathIsRetriedAloneAndAtASecondIsQuarantined() throws {
        let bucket = tempDir("bucket") + "/b"
        let a = try writeLog(bucket: bucket, stamp: "20240301T1000Z", unique: "AAAAAAAAAAAAAAA1", records: [rec(guid(1), "2024-03-01T09:58:00Z")])
        let b = try writeLog(bucket: bucket, stamp: "20240301T1005Z", unique: "BBBBBBBBBBBBBBB1", records: [rec(guid(2), "2024-03-01T10:01:00Z")])
        try writeLog(bucket: bucket, stamp: "20240301T0955Z", unique: "CCCCCCCCCCCCCCC1", records: [rec(guid(3), "2024-03-01T09:54:00Z")])
        let state = tempDir("state")
        let key = { (p: String) in "b/" + p.components(separatedBy: "/b/").last! }
        let hand = try InHand(directory: state + "/in-hand")
        try hand.slot("decoder-0").hold(.init(ledgerKey: key(a), account: "123456789012", path: a, deaths: 0))  // first death with a in hand
        try hand.slot("committer").hold(.init(ledgerKey: key(b), account: "123456789012", path: b, deaths: 1))  // second death with b in hand
        let (ingestor, logs) = try makeIngestor(bucket: bucket, state: state)
        let stats = try ingestor.runOnce()
        #expect(stats.errors[.crashed] == 1)
        #expect(stats.filesIngested == 2 && stats.queued == 0, "a (first, alone) and c, each once: \(stats)")
        #expect(logs.entries.filter { "\($0.message)".contains(a) }.count == 1, "\(logs.entries.map { "\($0.message)" })")
        #expect(Set(try storedEvents(state: state).map { eventID($0.message) }) == [guid(1), guid(3)], "a is retried; b is quarantined")
        #expect(try ledgerRows(state: state)[key(b)]?.reason.hasPrefix("crashed") == true)
        #expect(logs.entries.contains { "\($0.message)".contains(a) && $0.metadata["reason"]?.description == "in_hand_at_crash" })
        #expect(!Posix.list(state + "/in-hand").isEmpty && Posix.list(state + "/in-hand").allSatisfy {
            (try? Posix.readFile(state + "/in-hand/" + $0))?.isEmpty == true
        }, "a clean run leaves nothing in hand")
        // Released by touching it.
        var times = [timespec(tv_sec: 1_800_000_000, tv_nsec: 0), timespec(tv_sec: 1_800_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, b, &times, 0) == 0)
        let (again, _) = try makeIngestor(bucket: bucket, state: state)
        #expect(try again.runOnce().filesIngested == 1)
        #expect(Set(try storedEvents(state: state).map { eventID($0.message) }) == [guid(1), guid(2), guid(3)])
    }
}

@Suite struct InHandNoteTests {
    /// Between files a note is cut to one byte instead of emptied (no ext4 flush per file): that byte
    /// must never read as a file in hand, and `clear` still leaves the note empty.
    @Test func aReleasedNoteHoldsNoEntryAndAClearedOneIsEmpty() throws {
        let dir = tempDir("in-hand")
        let hand = try InHand(directory: dir)
        let slot = hand.slot("decoder-0")
        let entry = InHand.Entry(ledgerKey: "b/AWSLogs/1/CloudTrail/r/2024/03/01/f.json.gz", account: "123456789012", path: "/m/f.json.gz", deaths: 1)
        try slot.hold(entry)
        #expect(try Posix.readFile(dir + "/decoder-0").count > 4, "the entry was written")
        slot.release()
        #expect(try Posix.readFile(dir + "/decoder-0") == Array("1".utf8), "cut to its first byte")
        try slot.hold(entry)
        slot.clear()
        #expect(try Posix.readFile(dir + "/decoder-0").isEmpty)
        try slot.hold(entry)
        slot.release()
        #expect(hand.leftovers().isEmpty, "one byte is no entry")  // and the notes are removed
        let again = hand.slot("decoder-0")
        try again.hold(entry)
        #expect(hand.leftovers() == [entry], "a note held at a death is found")
    }
}

@Suite struct DirectoryListingTests {
    /// Names of every length, in a folder larger than one `readdir` buffer, each read whole in place
    /// (up to its NUL, from the dirent's own bytes). The read past the buffer this replaced crashed
    /// the release build over the benchmark's folders of 1,000 files; it did not crash here.
    @Test func aFolderOfThousandsOfNamesIsListedExactly() throws {
        let dir = tempDir("listing")
        var names = Set<String>()
        for i in 0..<3_000 {
            let name = String(repeating: "n", count: 1 + i % 200) + "-\(i)"
            Posix.closeFile(try Posix.openFile(dir + "/" + name, O_WRONLY | O_CREAT | O_CLOEXEC, mode: 0o600))
            names.insert(name)
        }
        let listed = try #require(Posix.entries(dir))
        #expect(listed.count == names.count)
        #expect(Set(listed.map(\.name)) == names)
        #expect(listed.allSatisfy { $0.type == UInt8(DT_REG) })
    }
}
