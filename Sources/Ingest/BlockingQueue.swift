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
