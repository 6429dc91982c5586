import Glibc
import Posix

/// A thin wrapper over Linux inotify: watches directories and reports created, written and moved-in names.
///
/// Neither swift-system nor swift-nio wraps inotify, so this stays small: add/remove watches and
/// read events; the pipeline decides what they mean.
package final class Inotify: @unchecked Sendable {
    package struct Event: Sendable {
        package var directory: String?
        package var name: String
        package var mask: UInt32
        package var isDirectory: Bool { mask & UInt32(IN_ISDIR) != 0 }
        package var overflowed: Bool { mask & UInt32(IN_Q_OVERFLOW) != 0 }
    }

    package let fd: Int32
    private var byWatch: [Int32: String] = [:]
    private var byPath: [String: Int32] = [:]

    package static let fileMask = UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_CREATE) | UInt32(IN_ATTRIB)
        | UInt32(IN_DELETE) | UInt32(IN_MOVED_FROM) | UInt32(IN_DELETE_SELF) | UInt32(IN_ONLYDIR)

    /// The name left the folder (deleted or renamed away).
    package static func isGone(_ mask: UInt32) -> Bool { mask & (UInt32(IN_DELETE) | UInt32(IN_MOVED_FROM)) != 0 }

    package init() throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw IngestFailure(.storeError, "inotify_init1: \(Posix.describe(errno))") }
    }

    deinit { Posix.closeFile(fd) }

    /// Watches `directory` (absolute). Returns the kernel's refusal, nil when watched: `ENOSPC` is
    /// the watch limit, `ENOENT` a folder that vanished before it could be watched.
    @discardableResult
    package func watch(_ directory: String) -> PosixError? {
        if byPath[directory] != nil { return nil }
        let wd = inotify_add_watch(fd, directory, Self.fileMask)
        guard wd >= 0 else { return PosixError(call: "inotify_add_watch", path: directory, errno: errno) }
        byWatch[wd] = directory
        byPath[directory] = wd
        return nil
    }

    /// True when `directory` is watched now (the kernel drops a watch when its folder goes).
    package func isWatching(_ directory: String) -> Bool { byPath[directory] != nil }

    /// Waits up to `timeoutMs` for events and returns them (empty on timeout).
    package func read(timeoutMs: Int32) -> [Event] {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = Posix.retry { poll(&pfd, 1, timeoutMs) }
        guard r > 0 else { return [] }
        var out: [Event] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            // Non-blocking: EAGAIN once the queue is drained.
            guard let n = try? buffer.withUnsafeMutableBytes({ p in try Posix.readSome(fd, into: p, path: "inotify") }), n > 0 else { break }
            buffer.withUnsafeBytes { p in
                var off = 0
                let header = MemoryLayout<inotify_event>.size
                while off + header <= n {
                    let wd = p.load(fromByteOffset: off, as: Int32.self)
                    let mask = p.load(fromByteOffset: off + 4, as: UInt32.self)
                    let len = Int(p.load(fromByteOffset: off + 12, as: UInt32.self))
                    var name = ""
                    if len > 0 {
                        let start = p.baseAddress! + off + header
                        name = String(cString: start.assumingMemoryBound(to: CChar.self))
                    }
                    if mask & UInt32(IN_IGNORED) != 0, let dir = byWatch.removeValue(forKey: wd) {
                        byPath.removeValue(forKey: dir)
                    }
                    out.append(Event(directory: byWatch[wd], name: name, mask: mask))
                    off += header + len
                }
            }
        }
        return out
    }
}
