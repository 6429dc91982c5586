import AWSClient
import ArgumentParser
import Forwarder
import Foundation
import Glibc
import Ingest
import Logging
import ServiceLifecycle

/// `store = cloudwatch` as `run` wires it: the AWS settings, then (``start(logger:)``) the HTTP
/// client and the forwarder. Nothing is opened before the start, so a start refused later creates nothing.
struct CloudWatchSink: Sendable {
    let settings: AWSSettings
    let environment: [String: String]
    let forward: Forwarder.Settings

    /// The forwarder at work, and the HTTP client it owns.
    final class Running: Sendable {
        let forwarder: Forwarder
        let http: AWSHTTP

        init(forwarder: Forwarder, http: AWSHTTP) {
            self.forwarder = forwarder
            self.http = http
        }

        /// Closes the HTTP client (before exit, as async-http-client requires).
        func shutdown() async {
            try? await http.shutdown()
        }
    }

    /// The sink the settings ask for (nil: `store = local`); with it, retention keeps every block
    /// not yet forwarded. Bad values are refused before anything is created.
    static func configure(store: String?, region: String?, profile: String?, endpointURL: String?, ingest: inout IngestConfig) throws
        -> CloudWatchSink?
    {
        switch store ?? "local" {
        case "local": return nil
        case "cloudwatch": break
        case let other: throw ValidationError("--store must be local or cloudwatch (got '\(other)')")
        }
        if let endpointURL, !(endpointURL.hasPrefix("http://") || endpointURL.hasPrefix("https://")) {
            throw ValidationError("--aws-endpoint-url must be an http:// or https:// URL (got '\(endpointURL)')")
        }
        ingest.keepUnforwarded = true
        let environment = ProcessInfo.processInfo.environment
        var forward = Forwarder.Settings(
            stateDirectory: ingest.stateDirectory, groupTemplate: ingest.groupTemplate, retentionDays: ingest.retentionDays)
        // Tests against a server that shows what it took at once (moto) need not wait for it.
        if let ms = environment["TRAILWATCH_FORWARD_SETTLE_MS"].flatMap({ Int64($0) }) { forward.settleMs = ms }
        return CloudWatchSink(
            settings: AWSSettings.resolve(region: region, endpointURL: endpointURL, profile: profile, environment: environment),
            environment: environment, forward: forward)
    }

    /// The forwarder over a CloudWatch Logs client with the credentials chain.
    func start(logger: Logger) -> Running {
        let http = AWSHTTP()
        let credentials = AWSCredentialChain(settings: settings, environment: environment, http: http)
        let client = LogsClient(http: http, settings: settings, credentials: credentials)
        logger.info(
            "store = cloudwatch: forwarding to CloudWatch Logs in \(settings.region)\(settings.endpointURL.map { " at \($0)" } ?? "")")
        return Running(forwarder: Forwarder(settings: forward, client: client, retry: RetryPolicy(), logger: logger), http: http)
    }
}

/// Runs the forwarder beside ingest; on SIGTERM it stops after the call in hand.
struct ForwardService: Service {
    let forwarder: Forwarder

    func run() async throws {
        await withGracefulShutdownHandler {
            await forwarder.run()
        } onGracefulShutdown: {
            forwarder.requestStop()
        }
    }
}
