import AlertModel
import CloudTrail
import Glibc
import Posix
import Synchronization
import Systemd

/// Where alerts go. A sink that throws leaves the alert pending, to be sent again.
public protocol AlertSink: Sendable {
    /// The sink as `--alerts` names it (`journal`, `stdout`, `jsonl:PATH`): the outbox records which sinks took an alert.
    var name: String { get }
    func send(_ alert: Alert) throws
    /// Whether an alert with this id already reached the sink (asked only when recovering from a crash).
    func delivered(_ alertID: String) -> Bool
    /// Whether ``delivered(_:)`` can tell (standard output cannot): only then may a receipt wait
    /// for a later transaction, since after a crash this sink is asked instead.
    var answersDelivered: Bool { get }
    /// Sends alerts in order, stopping at the first it cannot take: returns how many it took and
    /// what stopped it (nil when it took them all). A sink that can take many at once for about the
    /// price of one (one `write` for a file's alerts) does so here.
    func send(batch: [Alert]) -> (taken: Int, error: (any Error)?)
}

extension AlertSink {
    public func delivered(_ alertID: String) -> Bool { false }
    public var answersDelivered: Bool { false }

    public func send(batch: [Alert]) -> (taken: Int, error: (any Error)?) {
        for (i, a) in batch.enumerated() {
            do { try send(a) } catch { return (i, error) }
        }
        return (batch.count, nil)
    }
}

/// Why an alert could not be delivered.
public struct AlertSinkError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Alerts to journald: one structured entry per alert, through `sd_journal_sendv`, with the rule's
/// `MESSAGE_ID` and one `TRAILWATCH_*` field per alert field, so `journalctl` can select on any of them.
public struct JournalAlertSink: AlertSink {
    public var name: String { "journal" }
    public init() {}

    /// The entry's fields, in the order sent.
    public static func fields(_ a: Alert) -> [(String, String)] {
        var f: [(String, String)] = [
            ("MESSAGE", a.message), ("PRIORITY", String(a.priority)), ("SYSLOG_IDENTIFIER", "trailwatch"),
            ("SYSLOG_FACILITY", "10"), ("MESSAGE_ID", a.messageID),
            ("TRAILWATCH_RULE", a.rule), ("TRAILWATCH_SEVERITY", a.severity), ("TRAILWATCH_ACCOUNT", a.account),
            ("TRAILWATCH_REGION", a.region), ("TRAILWATCH_PRINCIPAL", a.principal), ("TRAILWATCH_SOURCE_IP", a.sourceIP),
            ("TRAILWATCH_EVENT_NAME", a.eventName), ("TRAILWATCH_EVENT_IDS", a.eventIDs.joined(separator: ",")),
            ("TRAILWATCH_EVENT_TIME", a.eventTime), ("TRAILWATCH_COUNT", String(a.count)), ("TRAILWATCH_LOG_FILE", a.logFile),
            ("TRAILWATCH_ALERT_ID", a.alertID),
        ]
        // One line each, as in the JSON-lines sink: `journalctl -o json` shows it as one JSON string.
        for r in a.records { f.append(("TRAILWATCH_RECORD", String(decoding: JSONObjectWriter.oneLine(r.utf8), as: UTF8.self))) }
        for (k, v) in a.extra.sorted(by: { $0.key < $1.key }) { f.append(("TRAILWATCH_" + Journal.sanitize(k), v)) }
        return f
    }

    public func delivered(_ alertID: String) -> Bool { Journal.contains(field: "TRAILWATCH_ALERT_ID", value: alertID) }
    public var answersDelivered: Bool { true }

    public func send(_ a: Alert) throws {
        let rc = Journal.send(Self.fields(a))
        guard rc >= 0 else { throw AlertSinkError(description: "journald: \(Posix.describe(-rc))") }
    }
}

/// Alerts as JSON lines (one object per alert) to a file, appended, or to standard output.
public final class JSONLinesAlertSink: AlertSink {
    let fd: Int32
    let path: String
    /// Alert ids in the file, once recovery asked (nil until then).
    private let lock = Mutex<Set<String>?>(nil)

    /// `path` nil writes to standard output.
    public init(path: String?) throws {
        if let path {
            fd = try Posix.openFile(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o640)
            self.path = path
        } else {
            fd = 1
            self.path = "stdout"
        }
    }

    deinit { if fd > 2 { Posix.closeFile(fd) } }

    public var name: String { fd == 1 ? "stdout" : "jsonl:" + path }
    public var answersDelivered: Bool { fd != 1 }

    /// The JSON object for one alert, with its newline: the journal's fields in lower case, without the
    /// prefix. Always exactly one line: each record is written in its one-line form (valid JSON
    /// without its white space, anything else as a string), never as the bytes delivered.
    public static func line(_ a: Alert) -> [UInt8] {
        var out: [UInt8] = []
        appendLine(a, to: &out)
        return out
    }

    /// Appends ``line(_:)`` to `out`.
    static func appendLine(_ a: Alert, to out: inout [UInt8]) {
        var o = JSONObjectWriter(capacity: 512 + a.records.reduce(0) { $0 + $1.utf8.count })
        a.addFields(to: &o, snakeCase: true)
        if a.extra.count == 1, let (k, v) = a.extra.first {
            o.add(k.lowercased(), v)
        } else {
            for (k, v) in a.extra.sorted(by: { $0.key < $1.key }) { o.add(k.lowercased(), v) }
        }
        o.addRecords("records", a.records)
        o.appendObject(to: &out)
        out.append(0x0A)
    }

    public func send(_ a: Alert) throws {
        let (_, error) = send(batch: [a])
        if let error { throw error }
    }

    /// Writes the alerts' lines with one `write` per MiB or so (not one per alert: an alert storm
    /// sends thousands per file). After a failed or short write, the alerts whose whole line went
    /// out count as taken; a torn last line is not an alert to ``delivered(_:)`` (its id is sent again).
    public func send(batch: [Alert]) -> (taken: Int, error: (any Error)?) {
        lock.withLock { ids -> (taken: Int, error: (any Error)?) in
            var taken = 0
            var buffer: [UInt8] = []
            var ends: [Int] = []
            var next = 0
            while next < batch.count {
                buffer.removeAll(keepingCapacity: true)
                ends.removeAll(keepingCapacity: true)
                while next < batch.count, buffer.count < 1 << 20 {
                    Self.appendLine(batch[next], to: &buffer)
                    ends.append(buffer.count)
                    next += 1
                }
                var written = 0
                while written < buffer.count {
                    let n = buffer.withUnsafeBytes { p in Posix.retry { Glibc.write(fd, p.baseAddress! + written, p.count - written) } }
                    guard n > 0 else {
                        let error = PosixError(call: "write", path: path, errno: n < 0 ? errno : EIO)
                        let whole = ends.prefix { $0 <= written }.count
                        for a in batch[taken..<(taken + whole)] { ids?.insert(a.alertID) }
                        return (taken + whole, error)
                    }
                    written += n
                }
                for a in batch[taken..<(taken + ends.count)] { ids?.insert(a.alertID) }
                taken += ends.count
            }
            return (taken, nil)
        }
    }

    /// Looks the id up in the file's last 64 MB, read once on the first question (recovery asks about
    /// a run of alerts, and the ones in doubt are the newest: a file's worth of alerts, far less than that).
    public func delivered(_ alertID: String) -> Bool {
        guard fd != 1 else { return false }
        return lock.withLock { ids in
            if ids == nil { ids = Self.alertIDs(in: (try? Posix.readFile(path, last: 64 << 20)) ?? []) }
            return ids?.contains(alertID) ?? false
        }
    }

    /// The `alert_id` of every line of a JSON-lines file that is a JSON object (a line torn by a
    /// crash or written by anything else is not an alert: it is skipped, never searched for a substring).
    static func alertIDs(in text: [UInt8]) -> Set<String> {
        let key = Array("alert_id".utf8)
        var out: Set<String> = []
        for line in text.split(separator: 0x0A, omittingEmptySubsequences: true) {
            guard JSONCheck.check(line).isValid else { continue }
            Array(line).withUnsafeBytes { p in
                let json = RawJSON(p)
                if let v = json.topLevel([key])?[0], let id = json.string(v) { out.insert(id) }
            }
        }
        return out
    }
}

/// Builds sinks from `--alerts` values: `journal`, `stdout`, `jsonl:PATH`.
public enum AlertSinks {
    public static func make(_ specs: [String]) throws -> [any AlertSink] {
        try (specs.isEmpty ? ["journal"] : specs).map { spec -> any AlertSink in
            switch spec {
            case "journal": return JournalAlertSink()
            case "stdout": return try JSONLinesAlertSink(path: nil)
            default:
                guard spec.hasPrefix("jsonl:"), spec.count > 6 else {
                    throw AlertSinkError(description: "unknown alert sink '\(spec)': use journal, stdout or jsonl:PATH")
                }
                return try JSONLinesAlertSink(path: String(spec.dropFirst(6)))
            }
        }
    }
}
