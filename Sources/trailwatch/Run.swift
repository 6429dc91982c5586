import ArgumentParser
import Glibc
import Ingest
import Alerts
import Forwarder
import Logging
import LogStore
import Rules
import Posix
import S3Notifications
import S3Source
import ServiceLifecycle
import Synchronization
import Systemd
import UnixSignals

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ingest a bucket mirror: once (backfill) or as a service watching for new files.")

    @Option(name: .customLong("logs"), help: "A mirrored bucket's root (the folder holding AWSLogs/ or the prefix). Repeatable.")
    var logs: [String] = []

    @Option(help: "State directory: ledger and store.")
    var state: String?

    @Option(help: "Config file (flags override it).")
    var config: String?

    @Flag(help: "Process what is there and exit (backfill).")
    var once = false

    @Option(help: "Where trailwatch's own logs go: journal, stderr (default: journal under systemd, else stderr).")
    var logTo: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: info).")
    var logLevel: String?

    @Option(help: "Seconds a truncated or empty file may stay unchanged before it is declared failed (default: \(Run.defaults.incompleteTimeout.shown)).")
    var incompleteTimeout: Double?

    @Option(help: "Seconds between full rescans of the mirror (default: \(Run.defaults.rescanInterval.shown)).")
    var rescanInterval: Double?

    @Option(help: "Retention in days for every log group, one of CloudWatch's allowed values (default: never expire).")
    var retentionDays: Int?

    @Option(
        name: .customLong("rules"),
        help: "Rule directory or file (repeatable; default: the config's rules entries, else \(RuleSources.installed.joined(separator: " and ")) when installed, else the source checkout's rules/).")
    var rules: [String] = []

    @Option(name: .customLong("alerts"), help: "Alert sink: journal, stdout or jsonl:PATH (repeatable; default: journal).")
    var alerts: [String] = []

    @Option(help: "Minutes an event may arrive late (event time) and still count in a threshold window (default: \(Double(Run.defaults.latenessMs / 60_000).shown)).")
    var lateness: Double?

    @Option(help: "Threads decoding files (inflate, split, match rules); commits stay on one thread (default: \(Run.defaults.decoders)).")
    var decodeThreads: Int?

    @Option(help: "JSON output of `aws cloudtrail list-public-keys`: check digests continuously and alert (default: no digest checks).")
    var keys: String?

    @Option(help: "Minutes past its hour a digest may arrive before it is overdue (default: \(Double(Run.defaults.digestSlackMs / 60_000).shown)).")
    var digestSlack: Double?

    @Option(help: "MiB one file may inflate to; larger fails as too_large (default: \(Run.defaults.limits.inflatedBytes / 1_048_576)).")
    var maxInflatedSize: Double?

    @Option(help: "MiB one record may take; a larger one fails its file as too_large (default: \(Run.defaults.limits.recordBytes / 1_048_576)).")
    var maxRecordSize: Double?

    // The S3 source (docs/s3.md); `--logs s3://bucket[/prefix]` selects it.
    @Option(help: "SQS queue URL receiving the bucket's S3 event notifications (with --logs s3://…).")
    var sqsQueue: String?

    @Option(help: "This host's share of the accounts, K/N: account A is taken when fnv1a64(A) % N == K-1 (default: 1/1).")
    var shard: String?

    @Option(help: "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1).")
    var awsRegion: String?

    @Option(help: "AWS profile of the shared config and credentials files (default: AWS_PROFILE).")
    var awsProfile: String?

    @Option(help: "One endpoint for S3, SQS and CloudWatch Logs, path-style for S3 (default: AWS_ENDPOINT_URL, else AWS's).")
    var awsEndpointURL: String?

    @Option(help: "Days back (UTC) the start-up and periodic reconcile list: 1 is yesterday and today (default: 1).")
    var s3BackfillDays: Int?

    @Option(help: "Seconds between reconciles, ListObjectsV2 of the recent day folders (default: 900).")
    var reconcileInterval: Double?

    @Option(help: "Visibility timeout asked for each SQS message, extended every half of it while its files are in hand (default: 300).")
    var sqsVisibilityTimeout: Int?

    // CloudWatch Logs sink (docs/cloudwatch.md).
    @Option(help: "Where events end up: local (the store under --state) or cloudwatch (also forwarded to CloudWatch Logs; the local store is the spool) (default: local).")
    var store: String?

    /// The built-in settings, shown in `--help`.
    static let defaults = IngestConfig(roots: [], stateDirectory: "")

    func run() async throws {
        var file = ConfigFile()
        if let config {
            do { file = try ConfigFile.load(config) } catch { throw ValidationError("\(error)") }
        }
        // Everything is checked before anything is created: a start that fails leaves no state behind.
        let roots = logs.isEmpty ? file.logs : logs.filter { !S3Location.isS3($0) }.map { IngestConfig.Root(path: Self.absolute($0)) }
        let s3Named = logs.isEmpty ? !file.s3Logs.isEmpty : logs.contains(where: S3Location.isS3)
        guard !roots.isEmpty || s3Named else { throw ValidationError("name at least one --logs DIR or s3://bucket (or 'logs =' in the config)") }
        for root in roots {
            let st: stat
            do { st = try Posix.fileInfo(root.path) } catch { throw ValidationError("--logs \(root.path): \(Posix.describe(error.errno))") }
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ValidationError("--logs \(root.path): not a directory") }
        }
        guard let stateDir = state ?? file.state else { throw ValidationError("name --state DIR (or 'state =' in the config)") }
        for (flag, key, value) in [
            ("--incomplete-timeout", "incomplete-timeout", incompleteTimeout), ("--rescan-interval", "rescan-interval", rescanInterval),
            ("--retention-days", "retention-days", retentionDays.map(Double.init)), ("--lateness", "allowed-lateness", lateness),
            ("--digest-slack", "digest-slack", digestSlack), ("--max-inflated-size", "max-inflated-size", maxInflatedSize),
            ("--max-record-size", "max-record-size", maxRecordSize),
        ] {
            if let value, let problem = ConfigFile.problem(value, for: key) { throw ValidationError("\(flag): \(problem)") }
        }
        if let d = decodeThreads, !(1...64).contains(d) { throw ValidationError("--decode-threads must be from 1 to 64") }
        var cfg = IngestConfig(roots: roots, stateDirectory: Self.absolute(stateDir))
        let s3 = try s3Plan(file, stateDirectory: cfg.stateDirectory, maxObjectBytes: (maxInflatedSize ?? file.maxInflatedSize).map { Int($0 * 1_048_576) } ?? cfg.limits.inflatedBytes)
        if let s3 {
            cfg.roots.append(IngestConfig.Root(path: s3.config.cacheRoot, bucket: s3.config.location.bucket))
            cfg.fetched = FetchedObjects()
        }
        cfg.groupTemplate = file.groupTemplate ?? cfg.groupTemplate
        cfg.incompleteTimeout = incompleteTimeout ?? file.incompleteTimeout ?? cfg.incompleteTimeout
        cfg.rescanInterval = rescanInterval ?? file.rescanInterval ?? cfg.rescanInterval
        cfg.retentionDays = retentionDays ?? file.retentionDays
        let ruleSources = RuleSources.resolve(named: rules, config: file.rules)
        cfg.rulePaths = ruleSources.paths
        cfg.rulesOrigin = ruleSources.paths.isEmpty ? "\(ruleSources.origin); \(RuleSources.hint)" : ruleSources.origin
        if let m = lateness ?? file.lateness { cfg.latenessMs = Int64(m * 60_000) }
        if let d = decodeThreads { cfg.decoders = d }
        cfg.keysPath = (keys ?? file.keys).map(Self.absolute)
        if let m = digestSlack ?? file.digestSlack { cfg.digestSlackMs = Int64(m * 60_000) }
        cfg.watchDays = file.watchDays
        if let m = maxInflatedSize ?? file.maxInflatedSize { cfg.limits.inflatedBytes = Int(m * 1_048_576) }
        if let m = maxRecordSize ?? file.maxRecordSize { cfg.limits.recordBytes = Int(m * 1_048_576) }

        let sink = try CloudWatchSink.configure(
            store: store ?? file.store, region: awsRegion ?? file.awsRegion, profile: awsProfile ?? file.awsProfile,
            endpointURL: awsEndpointURL ?? file.awsEndpointURL, ingest: &cfg)

        Run.bootstrapLogging(target: logTo ?? file.logTarget, level: logLevel ?? file.logLevel)
        let logger = Logger(label: "trailwatch")
        func refuse(_ rules: [Diagnostic]) -> ExitCode {
            for d in rules where d.severity == .error { writeStderr(d.description + "\n") }
            logger.critical("cannot start: the rules have errors (trailwatch rules check \(cfg.rulePaths.joined(separator: " ")))")
            return ExitCode(2)
        }
        if !cfg.rulePaths.isEmpty, case (nil, let problems) = RuleLoader.load(cfg.rulePaths) { throw refuse(problems) }
        let ingestor: Ingestor
        do {
            let sinks = try AlertSinks.make(alerts.isEmpty ? file.alerts : alerts)
            if let s3 { try Posix.makeDirectories(s3.config.cacheRoot) }
            ingestor = try Ingestor(config: cfg, logger: logger)
            ingestor.sinks = sinks
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(2)
        }
        let (loaded, diagnostics) = ingestor.reloadRules()
        guard loaded else { throw refuse(diagnostics) }
        for root in roots where !BucketLayout.hasAWSLogs(below: root.path) {  // the S3 cache root fills as files come
            logger.warning(
                "\(root.path): no AWSLogs/ folder below it; expected a mirrored CloudTrail bucket (BUCKET/[prefix/]AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz)",
                metadata: ["file": "\(root.path)", "reason": "no_awslogs"])
        }
        var extra: [any Service] = []
        if let s3, let fetched = cfg.fetched {
            do { extra.append(try S3SourceService(plan: s3, ingestor: ingestor, fetched: fetched, logger: logger)) } catch {
                logger.critical("cannot start the S3 source: \(error)")
                throw ExitCode(2)
            }
        }
        let sinkRunning = sink?.start(logger: logger)
        do {
            try await runMode(ingestor, logger: logger, forwarder: sinkRunning?.forwarder, extra: extra)
        } catch {
            await sinkRunning?.shutdown()
            throw error
        }
        await sinkRunning?.shutdown()
    }

    /// `--once` or the service, with the forwarder when `store = cloudwatch`.
    func runMode(_ ingestor: Ingestor, logger: Logger, forwarder: Forwarder?, extra: [any Service]) async throws {
        if once {
            do { try runOnce(ingestor) } catch let e as StoreError {
                // A full or read-only state directory: one message, non-zero exit (not one error per file).
                logger.critical("stopped: \(e.message); \(ingestor.stats.snapshot.filesIngested) files were stored before it")
                throw ExitCode(1)
            }
            if let forwarder {
                // What was stored goes out before the run ends; what CloudWatch would not take waits in the store.
                _ = await forwarder.drain()
                printSummary(forwarder.stats.snapshot.summary, ingestor)
            }
        } else {
            try await runService(ingestor, logger: logger, extra: extra, forwarder: forwarder)
        }
    }

    func runOnce(_ ingestor: Ingestor) throws {
        let started = Posix.monotonicSeconds()
        let progress = Progress(enabled: isatty(2) != 0, started: started)
        ingestor.onProgress = { progress.show($0) }
        let stats = try ingestor.runOnce()
        progress.finish()
        let summary = stats.summary(seconds: Posix.monotonicSeconds() - started)
        // Exit 0 even when a sink refused alerts: non-zero means it could not run at all. Refused
        // alerts wait in the outbox, and the summary and the error log say so.
        printSummary(summary, ingestor)
    }

    /// The summary goes to standard output, unless alerts do: then to standard error, so that
    /// `--alerts stdout` gives nothing but one JSON object per line.
    func printSummary(_ summary: String, _ ingestor: Ingestor) {
        if ingestor.sinks.contains(where: { $0.name == "stdout" }) { writeStderr(summary + "\n") } else { print(summary) }
    }

    func runService(_ ingestor: Ingestor, logger: Logger, extra: [any Service] = [], forwarder: Forwarder? = nil) async throws {
        let service = IngestService(ingestor: ingestor, logger: logger)
        let reload = ReloadService(logger: logger, ingestor: ingestor)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: service), .init(service: reload)]
        if let forwarder { services.append(.init(service: ForwardService(forwarder: forwarder))) }
        let group = ServiceGroup(
            configuration: .init(
                services: services + extra.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        printSummary(ingestor.stats.snapshot.summary(seconds: Posix.monotonicSeconds() - service.started), ingestor)
        if let forwarder { printSummary(forwarder.stats.snapshot.summary, ingestor) }
    }

    /// Sends swift-log's output to journald (`target` "journal"; the default under systemd when
    /// journald answers) or to standard error, at `level` (default info). `run` and `serve` share it.
    static func bootstrapLogging(target: String?, level: String?) {
        let target = target ?? (SystemdNotify.underSystemd && Journal.available ? "journal" : "stderr")
        let level = Logger.Level(rawValue: level ?? "info") ?? .info
        LoggingSystem.bootstrap { label in
            var h: any LogHandler =
                target == "journal" ? JournalLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }

    static func absolute(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        let cwd = Posix.currentDirectory() ?? "."
        return cwd + "/" + (p.hasPrefix("./") ? String(p.dropFirst(2)) : p)
    }
}

/// Handles SIGHUP (`systemctl reload`): re-reads rules and lists and swaps them in atomically; a
/// broken file leaves the rules in force (errors logged as file:line:column). Window and
/// first-seen state live in the store, so they survive reloads and restarts.
struct ReloadService: Service {
    let logger: Logger
    let ingestor: Ingestor

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            SystemdNotify.reloading()
            logger.info("reload requested (SIGHUP): re-reading rules and lists")
            let (loaded, _) = ingestor.reloadRules()
            if !loaded { logger.error("reload failed: the rules in force stay in place") }
            SystemdNotify.send("READY=1")
        }
    }
}

/// Runs the ingest loop on its own thread and tells systemd how it goes.
struct IngestService: Service {
    let ingestor: Ingestor
    let logger: Logger
    let started = Posix.monotonicSeconds()

    func run() async throws {
        let watchdog = SystemdNotify.watchdogInterval
        let ingestor = self.ingestor
        let logger = self.logger
        let lastStatus = Mutex(0.0)
        ingestor.onProgress = { stats in
            let now = Posix.monotonicSeconds()
            let due = lastStatus.withLock { last in
                if now - last >= 1 {
                    last = now
                    return true
                }
                return false
            }
            if due { SystemdNotify.status(Self.status(stats)) }
        }
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
                startThread {
                    var lastPing = 0.0
                    do {
                        try ingestor.runForever(
                            onReady: {
                                let s = ingestor.stats.snapshot
                                logger.info("ready: start-up scan done, \(ingestor.ledgerSize) files in the ledger, watching for new files")
                                SystemdNotify.ready(status: Self.status(s))
                            },
                            heartbeat: {
                                // The loop turns at least every 250 ms while healthy; a stuck store stops the pings.
                                guard let w = watchdog else { return }
                                let now = Posix.monotonicSeconds()
                                if now - lastPing >= w {
                                    lastPing = now
                                    SystemdNotify.watchdog()
                                }
                            })
                        cont.resume()
                    } catch {
                        cont.resume(throwing: error)
                    }
                }
            }
        } onGracefulShutdown: {
            SystemdNotify.stopping()
            logger.info("stopping: finishing the file in hand")
            ingestor.requestStop()
        }
    }

    static func status(_ s: IngestStats) -> String {
        "\(s.filesIngested) files, \(s.eventsStored) events, \(s.duplicates) duplicates, \(s.errorCount) errors, \(s.pending) incomplete"
    }
}

/// A one-line progress display on a terminal: files and events done, events/s, time left.
final class Progress: Sendable {
    let enabled: Bool
    let started: Double
    private let last = Mutex(0.0)

    init(enabled: Bool, started: Double) {
        self.enabled = enabled
        self.started = started
    }

    func show(_ s: IngestStats) {
        guard enabled else { return }
        let now = Posix.monotonicSeconds()
        guard last.withLock({ l in
            if now - l < 0.2 { return false }
            l = now
            return true
        }) else { return }
        let elapsed = max(0.001, now - started)
        let rate = Double(s.recordsRead) / elapsed
        let filesPerSec = Double(s.filesIngested) / elapsed
        let left = filesPerSec > 0 ? Int(Double(s.queued) / filesPerSec) : 0
        let line = "\r\u{1B}[K\(s.filesIngested) files, \(s.eventsStored) events, \(Int(rate)) events/s, \(s.queued) files left, ~\(left) s"
        writeStderr(line)
    }

    func finish() {
        if enabled { writeStderr("\r\u{1B}[K") }
    }
}

/// Writes text to standard error without going through C's shared `stderr` stream.
func writeStderr(_ s: String) { try? Posix.writeAll(2, Array(s.utf8)) }

extension Double {
    /// The number as a person writes it: 600, not 600.0.
    var shown: String { self == rounded() && abs(self) < 1e15 ? String(Int64(self)) : String(self) }
}
