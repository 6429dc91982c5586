import CXattr
import Glibc

/// Thin wrappers over the POSIX calls trailwatch makes: retried on EINTR, errors carrying errno
/// and the call, so the I/O modules share one careful version of each.
public struct PosixError: Error, Sendable, Equatable, CustomStringConvertible {
    public var call: String
    public var path: String
    public var errno: Int32
    public var description: String { "\(call) \(path): \(Posix.describe(errno))" }

    public init(call: String, path: String, errno: Int32) {
        self.call = call
        self.path = path
        self.errno = errno
    }
}

/// A file's device and inode number: the same path may come to name another file.
public struct FileIdentity: Sendable, Hashable {
    public var device: UInt64
    public var inode: UInt64
}

public enum Posix {
    /// Retries `body` while it fails with EINTR.
    @inline(__always) public static func retry<T: BinaryInteger>(_ body: () -> T) -> T {
        while true {
            let r = body()
            if r < 0 && errno == EINTR { continue }
            return r
        }
    }

    /// The text of an errno value.
    public static func describe(_ e: Int32) -> String { String(cString: strerror(e)) }

    /// `mkdir -p`.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw PosixError(call: "mkdir", path: current, errno: errno)
            }
        }
    }

    /// Entries of a directory with their `d_type`, without `.` and `..`; nil if it cannot be read.
    public static func entries(_ path: String) -> [(name: String, type: UInt8)]? {
        guard let d = opendir(path) else { return nil }
        defer { closedir(d) }
        var out: [(String, UInt8)] = []
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let e = readdir(d) {
            // The name is read in place, up to its NUL: a dirent is only as long as its name, and
            // copying the whole declared `d_name` (256 bytes) read past the last entry of glibc's
            // buffer (a SIGSEGV listing a folder of 1,000 files).
            let name = String(cString: (UnsafeRawPointer(e) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { out.append((name, e.pointee.d_type)) }
        }
        return out
    }

    /// Names in a directory (empty if it cannot be read).
    public static func list(_ path: String) -> [String] { (entries(path) ?? []).map(\.name) }

    /// A file's size and modification time (epoch ms), following symlinks; nil when it cannot be stat'ed.
    public static func status(_ path: String) -> (size: Int64, mtime: Int64)? {
        guard let st = try? fileInfo(path) else { return nil }
        return (Int64(st.st_size), mtimeMillis(st))
    }

    /// True when `path` is a directory (following symlinks).
    public static func isDirectory(_ path: String) -> Bool {
        guard let st = try? fileInfo(path) else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The device and inode of `path` (following symlinks), nil when it cannot be stat'ed: tells
    /// whether a path still names the same file (a directory deleted or replaced while open).
    public static func identity(_ path: String) -> FileIdentity? {
        guard let st = try? fileInfo(path) else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// The modification time of a `stat` result in epoch milliseconds.
    public static func mtimeMillis(_ st: stat) -> Int64 {
        Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000
    }

    /// Writes `bytes` to `path` (created or truncated).
    public static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let fd = retry { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw PosixError(call: "open", path: path, errno: errno) }
        defer { close(fd) }
        try writeAll(fd, bytes, path: path)
    }

    /// Writes all of `bytes` to `fd`.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String = "") throws {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { p in retry { Glibc.write(fd, p.baseAddress! + off, p.count - off) } }
            guard n > 0 else { throw PosixError(call: "write", path: path, errno: errno) }
            off += n
        }
    }

    /// Reads a whole file, or only its last `last` bytes. `regularOnly`: refuse (EINVAL) anything
    /// but a regular file without blocking, for files found in a mirror (a FIFO would block for ever).
    public static func readFile(_ path: String, last: Int? = nil, regularOnly: Bool = false) throws -> [UInt8] {
        var st = stat()
        if regularOnly, lstat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG, (st.st_mode & S_IFMT) != S_IFLNK {
            throw PosixError(call: "open (not a regular file)", path: path, errno: EINVAL)
        }
        let fd = retry { open(path, O_RDONLY | O_CLOEXEC | (regularOnly ? O_NONBLOCK : 0)) }
        guard fd >= 0 else { throw PosixError(call: "open", path: path, errno: errno) }
        defer { close(fd) }
        if regularOnly, fstat(fd, &st) != 0 || (st.st_mode & S_IFMT) != S_IFREG {
            throw PosixError(call: "open (not a regular file)", path: path, errno: EINVAL)
        }
        if let last {
            let end = lseek(fd, 0, SEEK_END)
            guard end >= 0, lseek(fd, max(0, end - off_t(last)), SEEK_SET) >= 0 else {
                throw PosixError(call: "lseek", path: path, errno: errno)
            }
        }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { p in retry { read(fd, p.baseAddress!, p.count) } }
            if n < 0 { throw PosixError(call: "read", path: path, errno: errno) }
            if n == 0 { return out }
            out += buf[0..<n]
        }
    }

    /// An extended attribute's value (e.g. `user.signature`), or nil when absent or unsupported.
    public static func getXattr(_ path: String, _ name: String) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { getxattr(path, name, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return Array(buf[0..<n])
    }

    /// Sets an extended attribute (used by tests and tools that mirror metadata).
    public static func setXattr(_ path: String, _ name: String, _ value: [UInt8]) throws {
        let rc = value.withUnsafeBytes { setxattr(path, name, $0.baseAddress, $0.count, 0) }
        guard rc == 0 else { throw PosixError(call: "setxattr", path: path, errno: errno) }
    }

    /// The wall clock in epoch milliseconds.
    public static func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Processors online (at least 1), to size thread pools.
    public static var onlineProcessors: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// A monotonic clock in seconds.
    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
