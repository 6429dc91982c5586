import LogStore
import Metrics
import Prometheus

/// The `/metrics` figures: API requests by action and outcome with latency histograms (recorded
/// through swift-metrics into a Prometheus registry of this server's own, so several servers in
/// one process do not share figures), and the daemon's figures, read from the store at each scrape
/// (the store is what the daemon leaves behind, as `trailwatch status` reads it).
package final class APIMetrics: Sendable {
    /// The registry `/metrics` renders.
    package let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    /// Request latency buckets, in seconds.
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// A fresh registry.
    package init() {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        f.defaultDurationHistogramBuckets = Self.buckets.map { .nanoseconds(Int64($0 * 1e9)) }
        factory = f
    }

    /// Counts one API request and its latency; `outcome` is "ok" or the error's code.
    package func request(action: String, outcome: String, duration: Duration) {
        Counter(label: "trailwatch_api_requests_total", dimensions: [("action", action), ("outcome", outcome)], factory: factory)
            .increment()
        let ns = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        Timer(label: "trailwatch_api_request_duration_seconds", dimensions: [("action", action)], factory: factory)
            .recordNanoseconds(ns)
    }

    /// What each daemon figure is (the HELP line).
    static let help: [String: String] = [
        "trailwatch_files_done": "Log files stored (ledger rows done).",
        "trailwatch_file_bytes_done": "Delivered bytes of the log files stored.",
        "trailwatch_records_stored": "Records stored from the log files (duplicates left out).",
        "trailwatch_duplicates": "Records left out as duplicates of stored ones.",
        "trailwatch_files_rewritten": "Times a stored log file was rewritten in place.",
        "trailwatch_files_failed": "Log files that failed, by kind (quarantined until they change).",
        "trailwatch_alerts_recorded": "Alerts ever recorded in the outbox.",
        "trailwatch_alerts_waiting": "Alerts not yet taken by every sink.",
        "trailwatch_rule_alerts_recorded": "Alerts recorded, by rule (unknown: recorded before rules were kept).",
        "trailwatch_rule_alerts_waiting": "Alerts not yet taken by every sink, by rule.",
        "trailwatch_alerts_waiting_delivered": "Waiting alerts a sink already took, by sink.",
        "trailwatch_digests": "Digest files by region and status.",
        "trailwatch_stream_events": "Events stored in the stream.",
        "trailwatch_stream_stored_bytes": "Bytes stored for the stream.",
        "trailwatch_stream_last_event_timestamp_seconds": "Event time of the stream's newest event.",
        "trailwatch_stream_last_ingestion_timestamp_seconds": "When the stream was last written.",
        "trailwatch_stream_ingest_lag_seconds": "Last write minus the newest event's time.",
        "trailwatch_store_up": "1 when the store could be read for this scrape, else 0.",
        "trailwatch_api_block_cache_hits": "Stored blocks a query found packed in the cache.",
        "trailwatch_api_block_cache_misses": "Stored blocks a query had to inflate whole (cache on).",
        "trailwatch_api_block_cache_evictions": "Packed blocks dropped from the cache to stay within its size.",
        "trailwatch_api_block_cache_bytes": "Bytes the cache's packed blocks hold.",
        "trailwatch_api_block_cache_capacity_bytes": "The bound on the cache's bytes (api-cache-size).",
        "trailwatch_api_block_cache_blocks": "Packed blocks the cache holds.",
        "trailwatch_api_block_cache_chunk_inflations": "Chunks of packed blocks queries inflated.",
    ]

    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Int64) {
        let d = MetricNameDescriptor(metricName: name, unitName: "", helpText: Self.help[name] ?? "")
        registry.makeGauge(descriptor: d, labels: labels).set(to: Double(value))
    }

    /// Reads the daemon's figures from every account's group into gauges, then renders everything
    /// in the Prometheus text format. A store that cannot be read sets `trailwatch_store_up` to 0.
    package func exposition(store: StoreAccess) -> [UInt8] {
        var up: Int64 = 1
        do {
            for account in try store.accounts() {
                let f = try store.account(account).figures()
                let a = [("account", account)]
                gauge("trailwatch_files_done", a, f.filesDone)
                gauge("trailwatch_file_bytes_done", a, f.bytesDone)
                gauge("trailwatch_records_stored", a, f.recordsStored)
                gauge("trailwatch_duplicates", a, f.duplicates)
                gauge("trailwatch_files_rewritten", a, f.rewrites)
                for (kind, n) in f.failuresByKind { gauge("trailwatch_files_failed", a + [("kind", kind)], n) }
                gauge("trailwatch_alerts_recorded", a, f.alertsRecorded)
                gauge("trailwatch_alerts_waiting", a, f.alertsWaiting)
                for (rule, n) in f.alertsByRule {
                    gauge("trailwatch_rule_alerts_recorded", a + [("rule", rule)], n.recorded)
                    gauge("trailwatch_rule_alerts_waiting", a + [("rule", rule)], n.waiting)
                }
                for (sink, n) in f.waitingDeliveredBySink {
                    gauge("trailwatch_alerts_waiting_delivered", a + [("sink", sink)], n)
                }
                for (region, statuses) in f.digests {
                    for (status, n) in statuses {
                        gauge("trailwatch_digests", a + [("region", region), ("status", status)], n)
                    }
                }
                for s in f.streams {
                    let l = a + [("region", s.region)]
                    gauge("trailwatch_stream_events", l, s.events)
                    gauge("trailwatch_stream_stored_bytes", l, s.storedBytes)
                    if let t = s.lastEventTimestamp { gauge("trailwatch_stream_last_event_timestamp_seconds", l, t / 1000) }
                    if let i = s.lastIngestionTime { gauge("trailwatch_stream_last_ingestion_timestamp_seconds", l, i / 1000) }
                    if let t = s.lastEventTimestamp, let i = s.lastIngestionTime {
                        // The newest event's time to when it was stored: how far the mirror and the daemon lag.
                        gauge("trailwatch_stream_ingest_lag_seconds", l, max(0, i - t) / 1000)
                    }
                }
            }
        } catch {
            up = 0
        }
        gauge("trailwatch_store_up", [], up)
        let c = store.blocks.figures
        gauge("trailwatch_api_block_cache_hits", [], c.hits)
        gauge("trailwatch_api_block_cache_misses", [], c.misses)
        gauge("trailwatch_api_block_cache_evictions", [], c.evictions)
        gauge("trailwatch_api_block_cache_bytes", [], c.bytes)
        gauge("trailwatch_api_block_cache_capacity_bytes", [], c.capacity)
        gauge("trailwatch_api_block_cache_blocks", [], c.blocks)
        gauge("trailwatch_api_block_cache_chunk_inflations", [], c.chunkInflations)
        return registry.emitToBuffer()
    }
}
