import Access
import Glibc
import Posix

/// Reads and writes the access file on disk: it holds secrets, so it must be a regular file owned
/// by root or the user trailwatch runs as, readable by no one else (0600, or 0640 for the service's
/// group), and is replaced atomically (temporary file, fsync, rename, fsync of the folder).
enum AccessStore {
    /// Where the access file is when neither `--file` nor the config's `access-file` says.
    static let defaultPath = "/etc/trailwatch/access"

    /// The permission bits the file may have: a subset of 0640 (owner read-write, group read).
    static let allowedMode: mode_t = 0o640

    /// Reads and parses the access file at `path`, refusing it when others could read it.
    static func load(_ path: String) throws(AccessFileError) -> AccessFile {
        let (text, _) = try read(path)
        return try AccessFile.parse(text, path: path)
    }

    /// The file's text and status (nil status when it does not exist and `missingIsEmpty`).
    static func read(_ path: String, missingIsEmpty: Bool = false) throws(AccessFileError) -> (String, stat?) {
        let fd: Int32
        do { fd = try Posix.openFile(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) } catch {
            if error.errno == ENOENT && missingIsEmpty { return ("", nil) }
            if error.errno == ELOOP { throw AccessFileError(.unsafe, path: path, line: 0, "is a symbolic link; name the file itself") }
            throw AccessFileError(.unsafe, path: path, line: 0, "cannot be opened: \(Posix.describe(error.errno))")
        }
        defer { Posix.closeFile(fd) }
        let st: stat
        do { st = try Posix.fileInfo(fd: fd, path: path) } catch { throw AccessFileError(.unsafe, path: path, line: 0, "\(error)") }
        try checkSafe(st, path: path)
        let limit = AccessFile.Limits().fileBytes
        let bytes: [UInt8]
        do { bytes = try Posix.readBytes(fd, upTo: limit + 1, path: path) } catch { throw AccessFileError(.unsafe, path: path, line: 0, "\(error)") }
        guard bytes.count <= limit else { throw AccessFileError(.tooLarge, path: path, line: 0, "the file is larger than \(limit) bytes") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw AccessFileError(.syntax, path: path, line: 0, "the file is not UTF-8 text")
        }
        return (text, st)
    }

    /// Refuses anything but a regular file owned by root or this user, with no permission bits
    /// beyond 0640 (no one but the owner and its group can read it, no one but the owner write it).
    static func checkSafe(_ st: stat, path: String) throws(AccessFileError) {
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw AccessFileError(.unsafe, path: path, line: 0, "is not a regular file")
        }
        let mode = st.st_mode & 0o7777
        guard mode & ~allowedMode == 0 else {
            throw AccessFileError(
                .unsafe, path: path, line: 0,
                "has mode \(octal(mode)), which lets \(mode & 0o007 != 0 ? "every user" : "its group") read or change the secrets: chmod 0600 \(path) (or 0640 with the service's group)")
        }
        let me = Posix.effectiveUser()
        guard st.st_uid == 0 || st.st_uid == me else {
            throw AccessFileError(.unsafe, path: path, line: 0, "is owned by uid \(st.st_uid), not root or the user trailwatch runs as (uid \(me)): chown root \(path)")
        }
    }

    static func octal(_ mode: mode_t) -> String {
        let s = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// Changes the access file under an exclusive lock on its folder: `change` gets the current
    /// text ("" when there is no file yet) and returns the new one, which replaces the file
    /// atomically with the old file's mode and owner (0600 and this user for a new file).
    static func update<T>(_ path: String, _ change: (String) throws(AccessFileError) -> (String, T)) throws(AccessFileError) -> T {
        let dir = folder(of: path)
        let dirFd: Int32
        do { dirFd = try Posix.openFile(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) } catch {
            throw AccessFileError(.unsafe, path: path, line: 0, "its folder \(dir) cannot be opened: \(Posix.describe(error.errno))")
        }
        defer { Posix.closeFile(dirFd) }
        do { try Posix.lockExclusive(dirFd, path: dir) } catch { throw AccessFileError(.unsafe, path: path, line: 0, "\(error)") }
        let (old, st) = try read(path, missingIsEmpty: true)
        let (text, result) = try change(old)
        let temp = path + ".tmp-\(getpid())"
        do {
            let fd = try Posix.openFile(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode: 0o600)
            do {
                defer { Posix.closeFile(fd) }
                try Posix.setMode(fd, st.map { $0.st_mode & allowedMode } ?? 0o600, path: temp)
                if let st { try Posix.setOwner(fd, user: st.st_uid, group: st.st_gid, path: temp) }
                try Posix.writeAll(fd, Array(text.utf8), at: 0, path: temp)
                try Posix.sync(fd, path: temp)
            } catch {
                try? Posix.removeFile(temp)
                throw error
            }
            try Posix.moveFile(temp, to: path)
            try Posix.sync(dirFd, path: dir)
        } catch {
            throw AccessFileError(.unsafe, path: path, line: 0, "cannot be written: \(error)")
        }
        return result
    }

    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }
}
