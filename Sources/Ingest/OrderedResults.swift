import Glibc

/// A bounded FIFO between threads (pthread mutex and conditions); `take` blocks until an item or close.
package final class BlockingQueue<T>: @unchecked Sendable {
    private var items: [T] = []
    private var head = 0
    private var closed = false
    private let capacity: Int
    private var mutex = pthread_mutex_t()
    private var notEmpty = pthread_cond_t()
    private var notFull = pthread_cond_t()

    package init(capacity: Int) {
        self.capacity = capacity
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&notEmpty, nil)
        pthread_cond_init(&notFull, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&notEmpty)
        pthread_cond_destroy(&notFull)
    }

    package func put(_ item: T) {
        pthread_mutex_lock(&mutex)
        while items.count - head >= capacity && !closed { pthread_cond_wait(&notFull, &mutex) }
        items.append(item)
        pthread_cond_signal(&notEmpty)
        pthread_mutex_unlock(&mutex)
    }

    package func take() -> T? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while head == items.count && !closed { pthread_cond_wait(&notEmpty, &mutex) }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        pthread_cond_signal(&notFull)
        return item
    }

    package func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&notEmpty)
        pthread_cond_broadcast(&notFull)
        pthread_mutex_unlock(&mutex)
    }
}

/// Runs `body` on a new detached thread (for blocking work kept off Swift's cooperative pool).
package func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ b: @escaping @Sendable () -> Void) { body = b }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    pthread_create(&tid, nil, { arg in
        let b = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue()
        (b as! Box).body()
        return nil
    }, box)
    pthread_detach(tid)
}

/// Results produced out of order by several workers, handed out in index order.
///
/// A worker may only start index `k` while `k < next + window`, which bounds what is held.
package final class OrderedResults<T>: @unchecked Sendable {
    private var results: [Int: T] = [:]
    private var next = 0
    private var claimed = 0
    private let count: Int
    private let window: Int
    private var stopped = false
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()

    package init(count: Int, window: Int) {
        self.count = count
        self.window = window
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&changed)
    }

    /// The next index for a worker, or nil when all are claimed (or stopped). A worker must `put`
    /// every index it claimed.
    package func claim() -> Int? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while claimed < count && claimed >= next + window && !stopped { pthread_cond_wait(&changed, &mutex) }
        guard claimed < count, !stopped else { return nil }
        claimed += 1
        return claimed - 1
    }

    package func put(_ index: Int, _ value: T) {
        pthread_mutex_lock(&mutex)
        results[index] = value
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
    }

    /// The result for the next index in order; nil when every index was taken or work stopped.
    package func take() -> T? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while results[next] == nil {
            if next >= count || (stopped && next >= claimed) { return nil }
            pthread_cond_wait(&changed, &mutex)
        }
        let v = results.removeValue(forKey: next)
        next += 1
        pthread_cond_broadcast(&changed)
        return v
    }

    /// No more indexes are handed out; results already claimed still arrive.
    package func stop() {
        pthread_mutex_lock(&mutex)
        stopped = true
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
    }
}
