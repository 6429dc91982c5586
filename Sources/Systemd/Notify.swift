import CSystemd
import Glibc

/// sd_notify(3): tells systemd about readiness, status, watchdog and stopping. A no-op outside systemd.
public enum SystemdNotify {
    /// Sends one or more `VAR=value` lines (newline-separated); the result is ignored as systemd advises.
    public static func send(_ state: String) {
        _ = sd_notify(0, state)
    }

    public static func ready(status: String) { send("READY=1\nSTATUS=\(oneLine(status))") }
    public static func status(_ s: String) { send("STATUS=\(oneLine(s))") }
    public static func stopping() { send("STOPPING=1") }
    public static func watchdog() { send("WATCHDOG=1") }
    public static func reloading() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        send("RELOADING=1\nMONOTONIC_USEC=\(Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)")
    }

    /// Seconds between watchdog pings (half of WatchdogSec), or nil when the unit sets no watchdog.
    public static var watchdogInterval: Double? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return Double(usec) / 2_000_000
    }

    /// True when systemd gave us a notify socket.
    public static var underSystemd: Bool { getenv("NOTIFY_SOCKET") != nil || getenv("INVOCATION_ID") != nil }

    static func oneLine(_ s: String) -> String { String(s.map { $0 == "\n" ? " " : $0 }) }
}
