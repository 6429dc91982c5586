import Synchronization

/// Counters of what the forwarder did; in the run's summary and the service's status line.
package struct ForwardStats: Sendable, Equatable {
    /// Events CloudWatch took (sent in a batch it answered), reference events included.
    package var forwardedEvents = 0
    /// PutLogEvents calls that succeeded.
    package var batches = 0
    /// Calls answered with throttling (ThrottlingException and the like), and retryable failures
    /// of any kind (throttling, 5xx, network): each was retried with backoff and jitter.
    package var throttles = 0
    package var retries = 0
    /// Records too large for one event, sent as reference events.
    package var references = 0
    /// Records with bytes that are not UTF-8, sent with U+FFFD in their place.
    package var replacedUTF8 = 0
    /// Events CloudWatch refused in a batch it took (too old, too new, past the group's retention).
    package var rejected = 0
    /// In-flight batches found at start and reconciled; their events CloudWatch already had.
    package var reconciledBatches = 0
    package var alreadyThere = 0
    /// Times CloudWatch became unreachable (each logged once) while blocks waited.
    package var outages = 0
    /// Blocks stored but not yet wholly forwarded (the spool), as of the last pass.
    package var pendingBlocks = 0

    package init() {}

    /// One sentence for the end of a run.
    package var summary: String {
        var s = "Forwarded \(forwardedEvents) events to CloudWatch Logs in \(batches) batches"
        s += " (\(throttles) throttled, \(retries) retried calls, \(references) reference events for records over 256 KB"
        if replacedUTF8 > 0 { s += ", \(replacedUTF8) with non-UTF-8 bytes sent as U+FFFD" }
        if rejected > 0 { s += ", \(rejected) refused by CloudWatch as too old or too new" }
        if reconciledBatches > 0 { s += ", \(reconciledBatches) in-flight batches reconciled with \(alreadyThere) events already there" }
        s += ")."
        if pendingBlocks > 0 { s += " \(pendingBlocks) blocks wait in the local store (sent when CloudWatch answers)." }
        return s
    }
}

/// Thread-safe holder of ``ForwardStats``.
package final class ForwardStatsBox: Sendable {
    private let value = Mutex(ForwardStats())
    package init() {}
    package func update(_ body: (inout ForwardStats) -> Void) { value.withLock { body(&$0) } }
    package var snapshot: ForwardStats { value.withLock { $0 } }
}
