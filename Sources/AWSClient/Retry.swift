/// Retries an AWS call on throttling, 5xx and network errors with exponential backoff and full
/// jitter (AWS's recommended scheme: sleep a random time in [0, min(cap, base·2ⁿ)]), so many
/// clients backing off at once spread out instead of retrying in lockstep.
package struct RetryPolicy: Sendable {
    /// The first backoff's upper bound, in seconds.
    package var base: Double
    /// The largest backoff's upper bound, in seconds.
    package var cap: Double
    /// Calls in all, the first included.
    package var attempts: Int
    /// Sleeps that many seconds (injectable so tests run without waiting).
    package var sleep: @Sendable (Double) async throws -> Void
    /// A uniform random value in `0...bound` (injectable for a deterministic test).
    package var random: @Sendable (Double) -> Double
    /// Called before each retry with the error and the delay chosen (e.g. to count throttles).
    package var onRetry: @Sendable (AWSError, Double) -> Void

    package init(
        base: Double = 0.1, cap: Double = 20, attempts: Int = 8,
        sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(nanoseconds: UInt64($0 * 1e9)) },
        random: @escaping @Sendable (Double) -> Double = { Double.random(in: 0...$0) },
        onRetry: @escaping @Sendable (AWSError, Double) -> Void = { _, _ in }
    ) {
        self.base = base
        self.cap = cap
        self.attempts = max(1, attempts)
        self.sleep = sleep
        self.random = random
        self.onRetry = onRetry
    }

    /// The upper bound of the pause before retry number `n` (0 for the first retry).
    package func bound(retry n: Int) -> Double { min(cap, base * Double(1 << min(n, 30))) }

    /// Runs `op`, retrying it while it throws a retryable ``AWSError`` and attempts remain; any
    /// other error, and the last one, is thrown.
    package func run<T: Sendable>(_ op: @Sendable () async throws -> T) async throws -> T {
        var n = 0
        while true {
            do {
                return try await op()
            } catch let e as AWSError where e.isRetryable && n + 1 < attempts {
                let delay = random(bound(retry: n))
                onRetry(e, delay)
                try await sleep(delay)
                n += 1
            }
        }
    }
}
