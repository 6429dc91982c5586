import Foundation

/// A Python server of a test's own on 127.0.0.1 and a free port (passed as `sys.argv[1]`, the
/// `arguments` after it): started, waited for until it accepts connections, stopped by `stop()`.
/// A watchdog thread ends it when the test process dies, so a crashed test leaves nothing behind.
package final class PythonServer: @unchecked Sendable {
    /// The port it listens on.
    package let port: Int
    /// Its standard output and error (for a failing test's message).
    package let logPath: String
    private let process: Process

    private static let preamble = """
        import os, signal, sys, threading, time
        # The test process's threads block most signals and the child inherits that mask: unblock
        # them so SIGTERM stops the server.
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        def _watch(parent=os.getppid()):
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(0)
        threading.Thread(target=_watch, daemon=True).start()

        """

    /// Runs `script` (Python source) and waits up to `timeout` seconds for its port to accept.
    package init(name: String, script: String, arguments: [String] = [], timeout: Double = 60) throws {
        var lastError = "no attempt"
        for _ in 0..<3 {
            let port = try freePort()
            let log = tempPath("\(name)-\(port)", suffix: ".log")
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", "-c", Self.preamble + script, String(port)] + arguments
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            p.standardOutput = handle
            p.standardError = handle
            try p.run()
            try? handle.close()
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline, p.isRunning, !canConnect(port: port) { Thread.sleep(forTimeInterval: 0.05) }
            if p.isRunning, canConnect(port: port) {
                self.port = port
                self.process = p
                self.logPath = log
                return
            }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            lastError = (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no output)"
        }
        throw MotoError(message: "\(name) server did not start: \(lastError.suffix(2000))")
    }

    /// Stops the server (SIGTERM, SIGKILL after 10 s) and waits for it to exit.
    package func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A moto server (`python3 -m moto.server`) on 127.0.0.1 and a free port, serving S3, SQS and
/// CloudWatch Logs on one endpoint for the AWS tests. Start one per test (or suite) and `stop()`
/// it at the end.
package final class MotoServer: Sendable {
    private let server: PythonServer
    /// The port it listens on.
    package var port: Int { server.port }
    /// `http://127.0.0.1:PORT`: the endpoint for every service.
    package var endpoint: String { "http://127.0.0.1:\(port)" }
    /// The server's output (for a failing test's message).
    package var logPath: String { server.logPath }

    /// The environment a client (trailwatch or boto3) talks to this server with: the endpoint,
    /// moto's dummy credentials and us-east-1; no shared files, no instance metadata.
    package var environment: [String: String] {
        [
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
            "AWS_CONFIG_FILE": "/nonexistent/config",
        ]
    }

    /// Starts a server and waits (up to `timeout` seconds) until it accepts connections.
    package init(timeout: Double = 60) throws {
        server = try PythonServer(
            name: "moto", script: "from moto.server import main\nmain(['-H', '127.0.0.1', '-p', sys.argv[1]])\n", timeout: timeout)
    }

    /// Stops the server and waits for it to exit.
    package func stop() { server.stop() }

    /// Runs a Python snippet with boto3 against this server (`import boto3, json, sys` done;
    /// the environment above set) and returns its standard output; a failure throws its stderr.
    package func boto3(_ script: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import boto3, json, sys\n" + script]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        // Output into files, not pipes: Foundation's pipe reads can fail on EINTR.
        let base = tempPath("boto3")
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        p.standardOutput = out
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        try? out.close()
        try? err.close()
        let data = (try? Data(contentsOf: URL(fileURLWithPath: base + ".out"))) ?? Data()
        guard p.terminationStatus == 0 else {
            let message = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
            throw MotoError(message: "boto3 script failed (\(p.terminationStatus)): \(message)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A moto server or boto3 script failure.
package struct MotoError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }
}

/// A TCP port nobody listens on right now (bound to port 0 and released).
package func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw MotoError(message: "socket: \(errno)") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw MotoError(message: "bind: \(errno)") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
package func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
