import Synchronization

/// Counters of what ingest did; read by the progress display, sd_notify STATUS and the summary.
package struct IngestStats: Sendable, Equatable {
    package var filesIngested = 0
    package var recordsRead = 0
    package var eventsStored = 0
    package var duplicates = 0
    package var bytesCompressed = 0
    package var recordsMissingFields = 0
    package var oversizedEvents = 0
    package var skippedElements = 0
    /// Records stored although they are not valid JSON, or not UTF-8 (docs/store.md).
    package var invalidRecords = 0
    package var nonUTF8Records = 0
    /// Digest, sidecar and Insights files seen and set aside for later stages.
    package var setAside = 0
    package var errors: [IngestFailure.Code: Int] = [:]
    /// Alerts delivered, and delivery failures (kept pending, retried).
    package var alerts = 0
    package var alertErrors = 0
    /// Alerts left in the outbox at the end of a one-shot run because a sink would not take them.
    package var alertsPending = 0
    /// Files waiting: queued for decode or waiting to be completed by their writer.
    package var queued = 0
    /// Files seen truncated or empty that the daemon is waiting on.
    package var pending = 0
    /// Files a one-shot run found truncated or empty: not ledgered, taken by the next run.
    package var incomplete = 0
    /// Files rewritten in place after they were ingested (same name, new content), and the new
    /// events stored from them.
    package var rewritten = 0
    package var rewrittenEventsStored = 0
    /// Files committed in a transaction shared with other files of their account (group commit).
    package var filesGroupCommitted = 0

    package init() {}

    package var errorCount: Int { errors.values.reduce(0, +) }

    /// One paragraph for the end of a run.
    package func summary(seconds: Double) -> String {
        let rate = seconds > 0 ? Int(Double(eventsStored + duplicates) / seconds) : 0
        var s = "Ingested \(filesIngested) files: \(eventsStored) events stored, \(duplicates) duplicates skipped"
        s += " (\(recordsRead) records, \(rate) records/s over \(String(format1: seconds)) s)."
        if recordsMissingFields > 0 { s += " \(recordsMissingFields) records lacked eventID or eventTime (kept)." }
        if oversizedEvents > 0 { s += " \(oversizedEvents) records exceed 256 KB (kept)." }
        if skippedElements > 0 { s += " \(skippedElements) Records elements were not objects (skipped)." }
        if rewritten > 0 {
            s += " \(rewritten) files were rewritten in place after they were ingested (\(rewrittenEventsStored) new events stored from them; see the log)."
        }
        if invalidRecords > 0 { s += " \(invalidRecords) records are not valid JSON (kept as delivered)." }
        if nonUTF8Records > 0 { s += " \(nonUTF8Records) records hold bytes that are not UTF-8 (kept; shown as U+FFFD)." }
        if setAside > 0 { s += " \(setAside) digest/Insights files set aside." }
        if alerts > 0 || alertErrors > 0 { s += " \(alerts) alerts sent" + (alertErrors > 0 ? " (\(alertErrors) delivery failures, kept pending)." : ".") }
        if alertsPending > 0 { s += " \(alertsPending) alerts wait in the outbox for a sink that refused them (sent by the next run)." }
        if errors.isEmpty {
            s += " No errors."
        } else {
            let parts = errors.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }
            s += " Errors: \(parts.joined(separator: ", "))."
        }
        if incomplete > 0 { s += " \(incomplete) files still incomplete (taken by the next run)." }
        if pending > 0 { s += " \(pending) files still incomplete (waiting for their writer)." }
        return s
    }
}

extension String {
    init(format1 v: Double) {
        let tenths = Int((v * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}

/// Thread-safe holder of ``IngestStats``.
package final class StatsBox: Sendable {
    private let value = Mutex(IngestStats())
    package init() {}
    package func update(_ body: (inout IngestStats) -> Void) { value.withLock { body(&$0) } }
    package var snapshot: IngestStats { value.withLock { $0 } }
}
