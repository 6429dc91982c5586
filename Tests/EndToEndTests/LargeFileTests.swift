import Foundation
import Gzip
import Testing
import TestSupport

@Suite struct LargeFileTests {
    @Test func aFiftyMegabyteFileWithLargeRecordsStaysWithinMemory() throws {
        // ~670 records of ~100 KB of random base64 (it barely compresses), plus three over 256 KB.
        let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom")).read(upToCount: 51_000_000)!
        let text = random.base64EncodedString()
        var json = Array(#"{"Records":["#.utf8)
        var offset = text.startIndex
        var n = 0
        while offset < text.endIndex {
            let size = n % 300 == 1 ? 300_000 : 100_000
            let end = text.index(offset, offsetBy: size, limitedBy: text.endIndex) ?? text.endIndex
            if n > 0 { json.append(0x2C) }
            json += Array(#"{"eventTime":"2024-03-01T10:00:\#(String(format: "%02d", n % 60))Z","eventID":"\#(guid(n))","requestParameters":{"blob":"\#(text[offset..<end])"}}"#.utf8)
            offset = end
            n += 1
        }
        json += Array("]}".utf8)
        let compressed = Deflater.gzip(json, level: 1)
        #expect(compressed.count >= 50_000_000, "\(compressed.count) bytes")
        let bucket = tempDir("bucket") + "/b"
        try write(logDir(bucket) + "/" + logName("20240301T1005Z", "FIFTYMEGABYTES01"), compressed)
        // Peak RSS of the real process, read by a parent that waits for it.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c",
            "import resource,subprocess,sys; r=subprocess.run(sys.argv[1:], capture_output=True, text=True); print(r.returncode); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.stdout)",
            trailwatchBinary, "run", "--once", "--logs", bucket, "--state", tempDir("state"),
        ]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        p.waitUntilExit()
        #expect(lines.first == "0")
        let peakKiB = Int(lines[1]) ?? Int.max
        #expect(peakKiB < 200 * 1024, "peak RSS \(peakKiB / 1024) MiB for a \(compressed.count / 1_000_000) MB file")
        let summary = lines.dropFirst(2).joined()
        #expect(summary.contains("\(n) events stored"), "\(summary)")
        let oversized = (0..<n).filter { $0 % 300 == 1 }.count
        #expect(summary.contains("\(oversized) records exceed 256 KB"), "\(summary)")
    }
}
