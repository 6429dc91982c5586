import Glibc

/// The calls a durable, permission-keeping file replacement needs (write a temporary file, fsync,
/// rename, fsync the folder), and an exclusive lock to serialise writers.
extension Posix {
    /// `fsync(2)`: the file's data and metadata reach the disk.
    package static func sync(_ fd: Int32, path: String) throws(PosixError) {
        guard retry({ fsync(fd) }) == 0 else { throw PosixError(call: "fsync", path: path, errno: errno) }
    }

    /// `fchmod(2)`.
    package static func setMode(_ fd: Int32, _ mode: mode_t, path: String) throws(PosixError) {
        guard retry({ fchmod(fd, mode) }) == 0 else { throw PosixError(call: "fchmod", path: path, errno: errno) }
    }

    /// `fchown(2)`.
    package static func setOwner(_ fd: Int32, user: uid_t, group: gid_t, path: String) throws(PosixError) {
        guard retry({ fchown(fd, user, group) }) == 0 else { throw PosixError(call: "fchown", path: path, errno: errno) }
    }

    /// `flock(2)` with `LOCK_EX`: waits until no other process holds the lock on this open file.
    package static func lockExclusive(_ fd: Int32, path: String) throws(PosixError) {
        guard retry({ flock(fd, LOCK_EX) }) == 0 else { throw PosixError(call: "flock", path: path, errno: errno) }
    }

    /// `geteuid(2)`: the user the process acts as.
    package static func effectiveUser() -> uid_t { geteuid() }
}
