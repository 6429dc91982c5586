import Glibc
import LogsAPI
import Posix
import Synchronization
import Testing

/// The threads the server's store queries run on: at most `threads` at once (more wait their
/// turn), in parallel up to that, each at the pool's nice value.
@Suite struct QueryPoolTests {
    final class Counter: Sendable {
        let state = Mutex((now: 0, peak: 0))
    }

    @Test func queriesRunAtMostThreadsAtOnceAndAtTheirNiceValue() async throws {
        let own = Posix.threadNice()
        let pool = QueryPool(threads: 2, nice: own + 7)
        let running = Counter()
        let nices = await withTaskGroup(of: Int32.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    await pool.run {
                        running.state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
                        usleep(30_000)  // a query's worth of work, long enough for the others to pile up
                        running.state.withLock { $0.now -= 1 }
                        return Posix.threadNice()
                    }
                }
            }
            var out: [Int32] = []
            for await n in group { out.append(n) }
            return out
        }
        #expect(nices.count == 12)
        // Twelve queries at once ran two at a time: the cap holds, and the two threads did work in parallel.
        #expect(running.state.withLock { $0.peak } == 2)
        #expect(nices.allSatisfy { $0 == own + 7 }, "\(nices)")
        // The caller's own thread keeps its priority.
        #expect(Posix.threadNice() == own)
    }
}
