import CSystemd
import Glibc
import Logging
import Posix

/// Sends structured entries to journald with `sd_journal_sendv` (Swift cannot call the variadic `sd_journal_send`).
public enum Journal {
    /// journald's native socket.
    public static let socketPath = "/run/systemd/journal/socket"

    /// True when journald takes entries: its socket accepts a connection. A socket file left behind by
    /// a journald that is gone (a restored image, a container) refuses it, so the file alone proves nothing.
    public static var available: Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Posix.closeFile(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in socketPath.utf8.enumerated() where i < buf.count - 1 { buf[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0
    }

    /// Sends one entry; field names must be `[A-Z0-9_]`, not starting with `_` (invalid ones are sanitised).
    /// Returns 0 or a negative errno. libsystemd drops an entry silently (and returns 0) when the socket
    /// does not exist; this returns -ENOENT then, so that an alert is kept for later instead of lost.
    @discardableResult
    public static func send(_ fields: [(String, String)]) -> Int32 {
        guard (try? Posix.checkAccess(socketPath, F_OK)) != nil else { return -ENOENT }
        // Pack every NAME=value into one buffer, then point the iovecs into it.
        var buffer: [UInt8] = []
        var ranges: [Range<Int>] = []
        for (name, value) in fields {
            let start = buffer.count
            buffer += Array(sanitize(name).utf8)
            buffer.append(0x3D)
            buffer += Array(value.utf8)
            ranges.append(start..<buffer.count)
        }
        return buffer.withUnsafeMutableBytes { raw -> Int32 in
            var iov = ranges.map { r in
                iovec(iov_base: raw.baseAddress! + r.lowerBound, iov_len: r.count)
            }
            return iov.withUnsafeMutableBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }

    /// A valid journal field name: upper case, `[A-Z0-9_]`, not starting with `_` or a digit, at most 64 bytes.
    public static func sanitize(_ name: String) -> String {
        var out = String(name.uppercased().map { c -> Character in
            (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") ? c : "_"
        })
        while out.hasPrefix("_") { out.removeFirst() }
        if let f = out.first, f.isNumber { out = "F" + out }
        if out.isEmpty { out = "FIELD" }
        return String(out.prefix(64))
    }

    /// True when the local journal holds an entry with `field=value` (false if it cannot be read).
    public static func contains(field: String, value: String) -> Bool {
        var j: OpaquePointer? = nil
        guard sd_journal_open(&j, Int32(SD_JOURNAL_LOCAL_ONLY)) >= 0, let j else { return false }
        defer { sd_journal_close(j) }
        let match = Array((field + "=" + value).utf8)
        let added = match.withUnsafeBytes { sd_journal_add_match(j, $0.baseAddress, $0.count) }
        guard added >= 0 else { return false }
        return sd_journal_next(j) > 0
    }

    /// journald PRIORITY for a swift-log level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }
}

/// A swift-log handler writing to journald: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CODE_* and
/// one upper-case field per metadata key (`file` → `TRAILWATCH_FILE`).
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public let label: String
    public let identifier: String

    public init(label: String, identifier: String = "trailwatch") {
        self.label = label
        self.identifier = identifier
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("MESSAGE", "\(event.message)"),
            ("PRIORITY", String(Journal.priority(event.level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
            ("TRAILWATCH_LOGGER", label),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (k, v) in merged.sorted(by: { $0.key < $1.key }) {
            fields.append(("TRAILWATCH_" + Journal.sanitize(k), "\(v)"))
        }
        // journald gone (stopped, restarting): the line still reaches standard error, which systemd
        // keeps (and which shows when the daemon was started by hand), rather than vanishing.
        if Journal.send(fields) < 0 {
            try? Posix.writeAll(2, Array("trailwatch[\(Journal.priority(event.level))]: \(event.message)\n".utf8), path: "stderr")
        }
    }
}
