import Foundation
import Gzip

// Helpers shared by the test targets (one copy; each test target depends on this target).

/// The folder all of a test process's files go under, `trailwatch-tests-PID` in the temporary
/// directory: removed when the process exits, so runs do not pile up folders. Set
/// `TRAILWATCH_KEEP_TEST_FILES=1` to keep it for a look after a failure. Folders left by test
/// processes that are gone (killed, crashed) are removed when the next one starts.
package let testRoot: String = {
    let base = NSTemporaryDirectory()
    let fm = FileManager.default
    for name in (try? fm.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix("trailwatch-tests-") {
        if let pid = pid_t(name.dropFirst("trailwatch-tests-".count)), kill(pid, 0) != 0, errno == ESRCH {
            try? fm.removeItem(atPath: base + name)
        }
    }
    let root = base + "trailwatch-tests-\(getpid())"
    try? fm.removeItem(atPath: root)
    try! fm.createDirectory(atPath: root, withIntermediateDirectories: true)
    if ProcessInfo.processInfo.environment["TRAILWATCH_KEEP_TEST_FILES"] == nil {
        atexit { try? FileManager.default.removeItem(atPath: testRoot) }
    }
    return root
}()

/// A fresh path under `testRoot` (nothing is created there), named `name-UUID` plus `suffix`.
package func tempPath(_ name: String, suffix: String = "") -> String {
    testRoot + "/\(name)-" + UUID().uuidString + suffix
}

/// A fresh, empty folder under `testRoot`.
package func tempDir(_ name: String = "t") -> String {
    let p = tempPath(name)
    try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}

/// Polls `condition` until true or `timeout` seconds pass.
package func eventually(timeout: Double = 30, interval: Double = 0.1, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: interval)
    }
    return try condition()
}

/// A CloudTrail record (an EC2 call from 198.51.100.7) with this eventID and eventTime.
package func rec(_ id: String, _ time: String, name: String = "DescribeInstances", account: String = "123456789012") -> String {
    #"{"eventVersion":"1.10","eventTime":"\#(time)","eventSource":"ec2.amazonaws.com","eventName":"\#(name)","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","eventID":"\#(id)","eventType":"AwsApiCall","recipientAccountId":"\#(account)"}"#
}

/// A distinct, well-formed eventID for each `n`.
package func guid(_ n: Int) -> String { String(format: "%08x-1111-4222-8333-%012x", n, n) }

/// A log file's bytes as CloudTrail delivers it: gzip'd `{"Records":[...]}`.
package func gz(_ records: [String]) -> [UInt8] { Deflater.gzip(Array(("{\"Records\":[" + records.joined(separator: ",") + "]}").utf8)) }

/// Writes `bytes` at `path`, creating its folder.
package func write(_ path: String, _ bytes: [UInt8]) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Runs a command (through env) and returns its status and combined output.
package func runCommand(_ args: [String]) throws -> (Int32, String) {
    let (status, output) = try launch(args, standardError: true)
    return (status, String(decoding: output, as: UTF8.self))
}

/// Runs a command (through env) and returns its standard output; its standard error is the caller's.
package func commandOutput(_ args: [String]) throws -> Data { try launch(args, standardError: false).output }

private func launch(_ args: [String], standardError: Bool) throws -> (status: Int32, output: Data) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    if standardError { p.standardError = out }
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, data)
}
