import Glibc

/// State shared between threads, guarded by a mutex with one condition variable, for threads that
/// block until another changes the state (`Synchronization.Mutex` cannot wait).
///
/// The pthread mutex and condition live in heap memory that never moves, as swift-nio's NIOLock
/// keeps its mutex: the address of a stored property passed to C is not guaranteed to be stable.
/// Every pthread call's return code is checked; a failure is a programming error and traps.
package final class ConditionLock<State> {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    package init(_ state: State) {
        self.state = state
        var attributes = pthread_mutexattr_t()
        Self.check(pthread_mutexattr_init(&attributes), "pthread_mutexattr_init")
        Self.check(pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK)), "pthread_mutexattr_settype")
        Self.check(pthread_mutex_init(mutex, &attributes), "pthread_mutex_init")
        Self.check(pthread_mutexattr_destroy(&attributes), "pthread_mutexattr_destroy")
        Self.check(pthread_cond_init(condition, nil), "pthread_cond_init")
    }

    deinit {
        Self.check(pthread_cond_destroy(condition), "pthread_cond_destroy")
        Self.check(pthread_mutex_destroy(mutex), "pthread_mutex_destroy")
        condition.deallocate()
        mutex.deallocate()
    }

    /// Waits until `ready` holds for the state, runs `body` on it, then wakes every waiting thread
    /// (the state may have changed for them). `ready` and `body` run with the mutex held.
    package func withLock<R>(waitingUntil ready: (State) -> Bool = { _ in true }, _ body: (inout State) throws -> R) rethrows -> R {
        Self.check(pthread_mutex_lock(mutex), "pthread_mutex_lock")
        defer {
            Self.check(pthread_cond_broadcast(condition), "pthread_cond_broadcast")
            Self.check(pthread_mutex_unlock(mutex), "pthread_mutex_unlock")
        }
        while !ready(state) { Self.check(pthread_cond_wait(condition, mutex), "pthread_cond_wait") }
        return try body(&state)
    }

    private static func check(_ rc: Int32, _ call: StaticString) {
        precondition(rc == 0, "\(call) failed: \(Posix.describe(rc))")
    }
}

// The state is only touched with the mutex held.
extension ConditionLock: @unchecked Sendable where State: Sendable {}
