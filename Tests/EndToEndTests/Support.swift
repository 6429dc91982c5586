import Foundation
import Systemd
import Testing
import TestSupport

/// The `trailwatch` binary built beside this test bundle, in the source checkout.
let builtBinary: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    if dir.lastPathComponent == "MacOS" || dir.path.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    return dir.appendingPathComponent("trailwatch").path
}()

/// The binary the end-to-end tests run: `builtBinary` linked (or copied) outside the checkout, as an
/// installed binary is, so that without `--rules` it loads no rules (it would take the checkout's
/// `rules/`) and a test sees only the alerts it asks for.
let trailwatchBinary: String = {
    let path = tempDir("bin") + "/trailwatch"
    if link(builtBinary, path) != 0 { try! FileManager.default.copyItem(atPath: builtBinary, toPath: path) }
    return path
}()

/// A child process with its output collected in files (no pipe can fill up and block it).
final class Child: @unchecked Sendable {
    let process = Process()
    let outPath: String
    let errPath: String

    init(_ args: [String], executable: String = trailwatchBinary, environment: [String: String]? = nil) throws {
        let dir = tempDir("out")
        outPath = dir + "/stdout"
        errPath = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        if let environment { process.environment = environment }
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
    }

    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    func signal(_ s: Int32) { kill(process.processIdentifier, s) }

    /// Waits for exit (up to `timeout` seconds) and returns the status, or nil on timeout.
    @discardableResult
    func wait(timeout: Double = 60) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { return nil }
        return process.terminationStatus
    }
}

/// Whether journald takes entries; when it does not, records an issue (a test that reads them back cannot run).
func journaldRunning(sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    if Journal.available { return true }
    Issue.record("journald is not running (its socket refuses connections): start it, as scripts/setup-debian.sh does", sourceLocation: sourceLocation)
    return false
}

/// Runs `trailwatch ARGS` to completion.
func trailwatch(_ args: [String], timeout: Double = 120) throws -> (status: Int32, out: String, err: String) {
    let c = try Child(args)
    guard let s = c.wait(timeout: timeout) else {
        c.signal(SIGKILL)
        Issue.record("trailwatch \(args) timed out")
        return (-1, c.stdout, c.stderr)
    }
    return (s, c.stdout, c.stderr)
}

func logDir(_ bucket: String, day: String = "01") -> String {
    "\(bucket)/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/\(day)"
}

func logName(_ stamp: String, _ unique: String) -> String {
    "123456789012_CloudTrail_us-east-1_\(stamp)_\(unique).json.gz"
}

/// Every event the CLI returns for every group, as eventIDs (read from each JSON line's escaped message).
func storedIDs(state: String) throws -> [String] {
    let groups = try trailwatch(["logs", "groups", "--state", state]).out.split(separator: "\n")
    var ids: [String] = []
    let marker = Array(#"\"eventID\":\""#.utf8)
    for g in groups {
        let name = (try JSONSerialization.jsonObject(with: Data(g.utf8)) as! [String: Any])["logGroupName"] as! String
        let out = try trailwatch(["logs", "filter", "--state", state, "--group", name]).out
        for line in out.utf8.split(separator: UInt8(ascii: "\n")) {
            let l = Array(line)
            guard let at = l.firstRange(of: marker) else {
                ids.append("<none>")
                continue
            }
            var end = at.upperBound
            while end < l.count && l[end] != UInt8(ascii: "\\") { end += 1 }
            ids.append(String(decoding: l[at.upperBound..<end], as: UTF8.self))
        }
    }
    return ids
}
