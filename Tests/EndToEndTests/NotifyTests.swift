import Foundation
import Glibc
import Testing
import TestSupport

/// A datagram socket standing in for systemd's notify socket.
final class NotifySocket {
    let path: String
    let fd: Int32

    init() throws {
        path = tempDir("notify") + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in path.utf8.enumerated() { p[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(rc == 0)
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Messages received until `until` matches one of them or `timeout` passes.
    func collect(timeout: Double, until: (String) -> Bool) -> [String] {
        var out: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { continue }
            let m = String(decoding: buf[0..<n], as: UTF8.self)
            out.append(m)
            if until(m) { break }
        }
        return out
    }
}

@Suite struct NotifyTests {
    @Test func tellsSystemdReadyStatusWatchdogReloadAndStopping() throws {
        let bucket = tempDir("bucket") + "/b"
        try write(logDir(bucket) + "/" + logName("20240301T1000Z", "NOTIFY0000000001"), gz([rec(guid(1), "2024-03-01T09:59:00Z")]))
        let sock = try NotifySocket()
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = sock.path
        env["WATCHDOG_USEC"] = "400000"
        let d = try Child(["run", "--logs", bucket, "--state", tempDir("state"), "--log-to", "stderr"], environment: env)
        defer { if d.process.isRunning { d.signal(SIGKILL) } }
        var got = sock.collect(timeout: 20) { $0.contains("READY=1") }
        let ready = try #require(got.first { $0.contains("READY=1") }, "\(got)")
        #expect(ready.contains("STATUS=1 files, 1 events"), "READY comes after the start-up scan: \(ready)")
        got = sock.collect(timeout: 5) { _ in false }
        #expect(got.filter { $0 == "WATCHDOG=1" }.count >= 3, "pings every half WatchdogSec: \(got)")
        d.signal(SIGHUP)
        got = sock.collect(timeout: 10) { $0 == "READY=1" }
        #expect(got.contains { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") }, "\(got)")
        #expect(got.last == "READY=1")
        #expect(d.process.isRunning, "SIGHUP reloads, it does not end the service")
        d.signal(SIGTERM)
        got = sock.collect(timeout: 10) { $0.contains("STOPPING=1") }
        #expect(got.contains("STOPPING=1"))
        #expect(d.wait(timeout: 20) == 0)
    }
}
