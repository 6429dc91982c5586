import Glibc

/// File system calls for the other modules, so none calls libc directly: each is retried on EINTR
/// where the call can be interrupted, and a failure is a ``PosixError`` naming the call and the path
/// (the way swift-nio wraps its syscalls).
extension Posix {
    /// `open(2)`: the new descriptor.
    package static func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(PosixError) -> Int32 {
        let fd = retry { open(path, flags, mode) }
        guard fd >= 0 else { throw PosixError(call: "open", path: path, errno: errno) }
        return fd
    }

    /// `close(2)`, not retried: Linux frees the descriptor even when close reports EINTR, and a
    /// second close could close a descriptor another thread has just been given.
    package static func closeFile(_ fd: Int32) {
        _ = close(fd)
    }

    /// `stat(2)`: what `path` names, following symbolic links.
    package static func fileInfo(_ path: String) throws(PosixError) -> stat {
        var st = stat()
        guard retry({ stat(path, &st) }) == 0 else { throw PosixError(call: "stat", path: path, errno: errno) }
        return st
    }

    /// `lstat(2)`: what `path` names, a symbolic link itself rather than its target.
    package static func linkInfo(_ path: String) throws(PosixError) -> stat {
        var st = stat()
        guard retry({ lstat(path, &st) }) == 0 else { throw PosixError(call: "lstat", path: path, errno: errno) }
        return st
    }

    /// `fstat(2)` of an open descriptor; `path` names it in the error.
    package static func fileInfo(fd: Int32, path: String) throws(PosixError) -> stat {
        var st = stat()
        guard retry({ fstat(fd, &st) }) == 0 else { throw PosixError(call: "fstat", path: path, errno: errno) }
        return st
    }

    /// True when `path` itself is a symbolic link (false when it cannot be lstat'ed).
    package static func isSymbolicLink(_ path: String) -> Bool {
        guard let st = try? linkInfo(path) else { return false }
        return (st.st_mode & S_IFMT) == S_IFLNK
    }

    /// `read(2)` into `buffer`: the number of bytes read, 0 at the end of the file.
    package static func readSome(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(PosixError) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        let n = retry { read(fd, base, buffer.count) }
        guard n >= 0 else { throw PosixError(call: "read", path: path, errno: errno) }
        return n
    }

    /// `read(2)` until `limit` bytes or the end of the file: what was read.
    package static func readBytes(_ fd: Int32, upTo limit: Int, path: String) throws(PosixError) -> [UInt8] {
        var failure: Int32 = 0
        // Read into uninitialized capacity: zeroing what read(2) overwrites cost a pass over
        // every delivered file.
        let out = [UInt8](unsafeUninitializedCapacity: limit) { p, initialized in
            var got = 0
            while got < limit {
                let n = retry { read(fd, p.baseAddress! + got, limit - got) }
                if n < 0 { failure = errno }
                if n <= 0 { break }
                got += n
            }
            initialized = got
        }
        guard failure == 0 else { throw PosixError(call: "read", path: path, errno: failure) }
        return out
    }

    /// `pwrite(2)` of all of `bytes` at `offset`, leaving the file offset alone.
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(PosixError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { p in retry { pwrite(fd, p.baseAddress! + done, p.count - done, off_t(offset + done)) } }
            guard n > 0 else { throw PosixError(call: "pwrite", path: path, errno: n < 0 ? errno : EIO) }
            done += n
        }
    }

    /// `ftruncate(2)`: the open file is cut (or zero-extended) to `size` bytes.
    package static func truncate(_ fd: Int32, to size: Int, path: String) throws(PosixError) {
        guard retry({ ftruncate(fd, off_t(size)) }) == 0 else { throw PosixError(call: "ftruncate", path: path, errno: errno) }
    }

    /// `unlink(2)`.
    package static func removeFile(_ path: String) throws(PosixError) {
        guard unlink(path) == 0 else { throw PosixError(call: "unlink", path: path, errno: errno) }
    }

    /// `rmdir(2)`: removes an empty directory (ENOTEMPTY otherwise).
    package static func removeDirectory(_ path: String) throws(PosixError) {
        guard rmdir(path) == 0 else { throw PosixError(call: "rmdir", path: path, errno: errno) }
    }

    /// `rename(2)`: `target` is replaced atomically.
    package static func moveFile(_ source: String, to target: String) throws(PosixError) {
        guard rename(source, target) == 0 else { throw PosixError(call: "rename", path: source, errno: errno) }
    }

    /// `access(2)`: succeeds when the process may use `path` as `mode` says (`R_OK`, `W_OK`, `F_OK`).
    package static func checkAccess(_ path: String, _ mode: Int32) throws(PosixError) {
        guard access(path, mode) == 0 else { throw PosixError(call: "access", path: path, errno: errno) }
    }

    /// `utimensat(2)`: sets a file's access and modification times to `millis` (epoch milliseconds).
    package static func setTimes(_ path: String, millis: Int64) throws(PosixError) {
        let t = timespec(tv_sec: Int(millis / 1000), tv_nsec: Int(millis % 1000) * 1_000_000)
        var times = [t, t]
        guard utimensat(AT_FDCWD, path, &times, 0) == 0 else { throw PosixError(call: "utimensat", path: path, errno: errno) }
    }

    /// `realpath(3)`: the canonical absolute path, nil when `path` does not resolve.
    package static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// `getcwd(3)`: the working directory, nil when it cannot be named (deleted, or too long).
    package static func currentDirectory() -> String? {
        guard let p = getcwd(nil, 0) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
