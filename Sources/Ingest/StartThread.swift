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
