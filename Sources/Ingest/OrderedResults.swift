import Posix

/// Results produced out of order by several workers, handed out in index order.
///
/// A worker may only start index `k` while `k < next + window`, which bounds what is held.
package final class OrderedResults<T: Sendable>: Sendable {
    private struct State {
        var results: [Int: T] = [:]
        var next = 0
        var claimed = 0
        var stopped = false
    }

    private let state = ConditionLock(State())
    private let count: Int
    private let window: Int

    package init(count: Int, window: Int) {
        self.count = count
        self.window = window
    }

    /// The next index for a worker, or nil when all are claimed (or stopped). A worker must `put`
    /// every index it claimed.
    package func claim() -> Int? {
        state.withLock(waitingUntil: { [count, window] s in s.claimed >= count || s.claimed < s.next + window || s.stopped }) { s in
            guard s.claimed < count, !s.stopped else { return nil }
            s.claimed += 1
            return s.claimed - 1
        }
    }

    package func put(_ index: Int, _ value: T) {
        state.withLock { $0.results[index] = value }
    }

    /// Whether the taker is behind: the next result in order is ready and waits to be taken (a
    /// worker may then do work the taker would otherwise do, such as rule matching).
    package var takerBehind: Bool {
        state.withLock { $0.results[$0.next] != nil }
    }

    /// The result for the next index in order; nil when every index was taken or work stopped.
    package func take() -> T? {
        state.withLock(waitingUntil: { [count] s in s.results[s.next] != nil || s.next >= count || (s.stopped && s.next >= s.claimed) }) { s in
            guard let v = s.results.removeValue(forKey: s.next) else { return nil }
            s.next += 1
            return v
        }
    }

    /// The results that follow in order and are ready now, at most `max` (none waited for): what
    /// the taker finds waiting after a ``take()``, to handle together.
    package func takeReady(max: Int) -> [T] {
        state.withLock { s in
            var out: [T] = []
            while out.count < max, let v = s.results.removeValue(forKey: s.next) {
                out.append(v)
                s.next += 1
            }
            return out
        }
    }

    /// No more indexes are handed out; results already claimed still arrive.
    package func stop() {
        state.withLock { $0.stopped = true }
    }
}
