import Posix

/// The threads the API's store queries run on: a fixed number (the cap on queries at once; more
/// wait their turn in arrival order instead of thrashing the processors and the page cache), each
/// at a raised nice value so that the daemon's ingest, on the same processors, keeps its share.
/// SQLite work never runs on the server's event loops or on Swift's cooperative pool.
package final class QueryPool: Sendable {
    private struct Jobs: Sendable {
        var waiting: [@Sendable () -> Void] = []
        var next = 0
        var stopped = false
    }

    private let jobs = ConditionLock(Jobs())
    /// Queries run at once, at most.
    package let threads: Int
    /// The nice value of the query threads (0: the process's own).
    package let nice: Int32

    /// Starts `threads` threads (at least one) at nice value `nice`.
    package init(threads: Int, nice: Int32) {
        self.threads = max(1, threads)
        self.nice = nice
        let jobs = self.jobs
        for _ in 0..<self.threads {
            startThread {
                if nice != 0 { try? Posix.setThreadNice(nice) }  // raising nice cannot be refused
                while true {
                    let job: (@Sendable () -> Void)? = jobs.withLock(waitingUntil: { $0.stopped || $0.next < $0.waiting.count }) { j in
                        guard j.next < j.waiting.count else { return nil }
                        let job = j.waiting[j.next]
                        j.next += 1
                        if j.next == j.waiting.count {
                            j.waiting.removeAll(keepingCapacity: true)
                            j.next = 0
                        }
                        return job
                    }
                    guard let job else { return }
                    job()
                }
            }
        }
    }

    deinit {
        jobs.withLock { $0.stopped = true }
    }

    /// Runs `body` on one of the pool's threads once one is free, and returns its result.
    package func run<R: Sendable>(_ body: @escaping @Sendable () -> R) async -> R {
        await withCheckedContinuation { c in
            jobs.withLock { $0.waiting.append { c.resume(returning: body()) } }
        }
    }
}
