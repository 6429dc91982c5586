import AWSClient
import ArgumentParser
import Foundation
import Glibc
import Ingest
import Logging
import S3Notifications
import S3Source
import ServiceLifecycle

/// `logs = s3://bucket[/prefix]` (docs/s3.md): the source's settings from flags and the config
/// file, checked before anything is created.
struct S3Plan {
    var config: S3SourceConfig
    var aws: AWSSettings
    var environment: [String: String]
}

extension Run {
    /// The S3 source named by `--logs s3://…` (or the config's `logs = s3://…`), or nil when none is.
    func s3Plan(_ file: ConfigFile, stateDirectory: String, maxObjectBytes: Int) throws -> S3Plan? {
        let names = logs.isEmpty ? file.s3Logs : logs.filter(S3Location.isS3)
        guard let name = names.first else {
            if sqsQueue ?? file.sqsQueue != nil { throw ValidationError("--sqs-queue needs --logs s3://bucket[/prefix]") }
            return nil
        }
        guard names.count == 1 else { throw ValidationError("--logs: one s3:// location at most (\(names.joined(separator: ", ")))") }
        guard !once else { throw ValidationError("--logs \(name): --once is not supported for a bucket; run the service (it reconciles at start)") }
        let location: S3Location
        do { location = try S3Location.parse(name) } catch { throw ValidationError("--logs: \(error.message)") }
        var c = S3SourceConfig(location: location, stateDirectory: stateDirectory)
        c.queueURL = sqsQueue ?? file.sqsQueue
        if let s = shard ?? file.shard {
            do { c.shard = try Shard.parse(s) } catch { throw ValidationError("--shard: \(error.message)") }
        }
        for (flag, key, value) in [
            ("--s3-backfill-days", "s3-backfill-days", s3BackfillDays.map(Double.init)),
            ("--reconcile-interval", "reconcile-interval", reconcileInterval),
            ("--sqs-visibility-timeout", "sqs-visibility-timeout", sqsVisibilityTimeout.map(Double.init)),
        ] {
            if let value, let problem = ConfigFile.problem(value, for: key, whole: key != "reconcile-interval") {
                throw ValidationError("\(flag): \(problem)")
            }
        }
        c.backfillDays = s3BackfillDays ?? file.s3BackfillDays ?? c.backfillDays
        c.reconcileInterval = reconcileInterval ?? file.reconcileInterval ?? c.reconcileInterval
        c.visibilityTimeout = sqsVisibilityTimeout ?? file.sqsVisibilityTimeout ?? c.visibilityTimeout
        c.maxObjectBytes = Int64(maxObjectBytes)
        let environment = ProcessInfo.processInfo.environment
        let aws = AWSSettings.resolve(
            region: awsRegion ?? file.awsRegion, endpointURL: awsEndpointURL ?? file.awsEndpointURL, profile: awsProfile ?? file.awsProfile,
            environment: environment)
        return S3Plan(config: c, aws: aws, environment: environment)
    }
}

/// Runs the S3 source beside the ingest loop; stops with the group (files in hand stay unsettled:
/// their messages come back after the visibility timeout and the ledger settles them).
struct S3SourceService: Service {
    let source: S3Source
    let http: AWSHTTP
    let logger: Logger

    /// Makes the clients and the source, and hooks it to the ingest loop's settled files.
    init(plan: S3Plan, ingestor: Ingestor, fetched: FetchedObjects, logger: Logger) throws {
        let http = AWSHTTP()
        let credentials = AWSCredentialChain(settings: plan.aws, environment: plan.environment, http: http)
        let s3 = S3Client(http: http, settings: plan.aws, credentials: credentials)
        let sqs = plan.config.queueURL.map { _ in SQSClient(http: http, settings: plan.aws, credentials: credentials) }
        let source = try S3Source(config: plan.config, s3: s3, sqs: sqs, fetched: fetched, logger: logger)
        ingestor.onSettled = { source.settled($0) }
        self.source = source
        self.http = http
        self.logger = logger
        let queue = plan.config.queueURL ?? "none (reconcile only)"
        logger.info(
            "S3 source \(plan.config.location), shard \(plan.config.shard), queue \(queue), region \(plan.aws.region)\(plan.aws.endpointURL.map { ", endpoint \($0)" } ?? ""), cache \(plan.config.cacheRoot)")
    }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await source.run() }
        } catch is CancellationError {
        } catch {
            try? await http.shutdown()
            throw error
        }
        logger.info("\(source.stats.summary)")
        try? await http.shutdown()
    }
}
