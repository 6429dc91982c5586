import Glibc

/// Runs `body` on a new detached thread (for blocking work kept off Swift's cooperative pool).
/// A thread that cannot be created traps: the process is out of threads or memory.
package func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ b: @escaping @Sendable () -> Void) { body = b }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        let b = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue()
        (b as! Box).body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create failed: \(String(cString: strerror(rc)))")
    let detached = pthread_detach(tid)
    precondition(detached == 0, "pthread_detach failed: \(String(cString: strerror(detached)))")
}

extension Posix {
    /// Lowers the calling thread's CPU priority to `nice` (Linux keeps a nice value per thread):
    /// work that must yield the processors to another (the API's queries to ingest) runs there.
    /// Raising a thread's nice value needs no privilege; an error (not expected) is returned.
    public static func setThreadNice(_ nice: Int32) throws {
        // `who` 0 is the calling thread itself (the kernel's `current`), not the whole process.
        guard setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) == 0 else {
            throw PosixError(call: "setpriority", path: "", errno: errno)
        }
    }

    /// The calling thread's nice value.
    public static func threadNice() -> Int32 {
        errno = 0
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
    }
}

extension Posix {
    /// Has malloc serve blocks of up to `bytes` from its heaps and keep up to `keep` bytes of freed
    /// memory there, instead of mapping each large block afresh and unmapping it when freed: a
    /// process that allocates and frees many blocks of a few MB (the API server inflating stored
    /// files) otherwise spends as much time in page faults and zeroing as in its own work. The
    /// memory kept stays bounded by the process's peak use. False when malloc refused a setting.
    @discardableResult
    public static func reuseLargeAllocations(upTo bytes: Int32, keep: Int32) -> Bool {
        // M_MMAP_THRESHOLD and M_TRIM_THRESHOLD of <malloc.h>, which the Glibc module leaves out.
        let mmapThreshold: Int32 = -3
        let trimThreshold: Int32 = -1
        return mallopt(mmapThreshold, bytes) == 1 && mallopt(trimThreshold, keep) == 1
    }
}

/// glibc's `int mallopt(int param, int value)` (<malloc.h> is not in the Glibc module).
@_silgen_name("mallopt") private func mallopt(_ param: Int32, _ value: Int32) -> Int32
