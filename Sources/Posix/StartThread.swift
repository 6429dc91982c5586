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
