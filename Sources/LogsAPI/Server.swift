import FoundationEssentials
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Posix
import UnixSignals

/// Where and how `serve` listens, and the limits it puts on clients.
package struct ServerSettings: Sendable {
    /// Address to bind (default loopback only).
    package var host: String = "127.0.0.1"
    /// Port (0: any free port, reported through `onRunning`).
    package var port: Int = 4589
    /// PEM certificate chain and private key: both set, the server speaks TLS only.
    package var tlsCertificate: String? = nil
    package var tlsKey: String? = nil
    /// Largest request body taken (CloudWatch's request limit is 1 MB); larger is refused with 413.
    package var maxBodyBytes: Int = 1_048_576
    /// Time a client has to send its whole body once the headers are in; then 408 and the connection closes.
    package var bodyTimeout: Duration = .seconds(10)
    /// A connection on which nothing arrives for this long is closed (a client that stops sending).
    package var idleTimeout: Duration = .seconds(30)
    /// Store queries running at once (the rest wait their turn): by default one per processor.
    package var queryThreads: Int = Posix.onlineProcessors
    /// Nice value of the threads that run queries: above the daemon's (0), so that on shared
    /// processors ingest keeps its speed and the API takes what is left.
    package var queryNice: Int32 = 10

    /// Default settings.
    package init() {}
}

/// The HTTP side of the API: POST `/` with `X-Amz-Target: Logs_20140328.<Action>` runs a CloudWatch
/// Logs action for the caller the injected authenticator names; GET `/metrics` is the Prometheus
/// text exposition. Blocking store work runs on the threads of a ``QueryPool`` (a cap on queries at
/// once, at a lower priority), never on the event loops or the cooperative pool.
package struct LogsServer: Sendable {
    let settings: ServerSettings
    let service: LogsService
    let authenticate: Authenticate
    let metrics: APIMetrics
    let logger: Logger
    let queries: QueryPool

    /// A server answering with `service` for callers `authenticate` accepts.
    package init(
        settings: ServerSettings, service: LogsService, authenticate: @escaping Authenticate, metrics: APIMetrics,
        logger: Logger
    ) {
        self.settings = settings
        self.service = service
        self.authenticate = authenticate
        self.metrics = metrics
        self.logger = logger
        queries = QueryPool(threads: settings.queryThreads, nice: settings.queryNice)
    }

    /// The Hummingbird application; `onRunning` gets the port bound. Run it with `runService()`
    /// (stops on SIGTERM/SIGINT) or inside a ServiceGroup.
    package func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let router = Router()
        router.post("/") { request, _ in await self.api(request) }
        router.get("/metrics") { _, _ in await self.metricsResponse() }
        let http1 = HTTPServerBuilder.http1(
            configuration: .init(idleTimeout: TimeAmount.nanoseconds(Int64(settings.idleTimeout.components.seconds) * 1_000_000_000)))
        let server: HTTPServerBuilder
        if let cert = settings.tlsCertificate, let key = settings.tlsKey {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(http1, tlsConfiguration: tls)
        } else {
            server = http1
        }
        return Application(
            router: router, server: server,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "trailwatch"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Runs until SIGTERM or SIGINT (with `handleSignals`) or until the task is cancelled;
    /// `onRunning` gets the port bound. The server's tasks run on a ``DispatchTaskExecutor`` of
    /// their own, not on the cooperative pool.
    package func run(handleSignals: Bool = true, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = try application(onRunning: onRunning)
        let signals: [UnixSignal] = handleSignals ? [.sigterm, .sigint] : []
        try await withTaskExecutorPreference(DispatchTaskExecutor(label: "trailwatch.api")) {
            try await app.runService(gracefulShutdownSignals: signals)
        }
    }

    static let jsonType = HTTPField.Name("Content-Type")!
    static let requestID = HTTPField.Name("x-amzn-RequestId")!
    static let target = HTTPField.Name("X-Amz-Target")!

    private func respond(_ status: Int, _ body: [UInt8], close: Bool = false) -> Response {
        var headers = HTTPFields()
        headers[Self.jsonType] = "application/x-amz-json-1.1"
        headers[Self.requestID] = UUID().uuidString.lowercased()
        if close { headers[.connection] = "close" }
        return Response(
            status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private func fail(_ e: APIError, action: String, started: ContinuousClock.Instant, close: Bool = false) -> Response {
        metrics.request(action: action, outcome: e.code.rawValue, duration: .now - started)
        return respond(e.status, e.body, close: close)
    }

    /// One API call: limits, body, authentication, action, response.
    func api(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        let targetHeader = request.headers[Self.target] ?? ""
        let known = targetHeader.hasPrefix("Logs_20140328.")
            ? LogsService.Action(rawValue: String(targetHeader.dropFirst("Logs_20140328.".count))) : nil
        let label = known?.rawValue ?? "unknown"
        if let length = request.headers[.contentLength].flatMap(Int.init), length > settings.maxBodyBytes {
            return fail(
                APIError(.requestEntityTooLarge, "Request body of \(length) bytes is over the limit of \(settings.maxBodyBytes) bytes"),
                action: label, started: started, close: true)
        }
        let body: [UInt8]
        switch await collect(request.body) {
        case .success(let b): body = b
        case .failure(let e): return fail(e, action: label, started: started, close: true)
        }
        var headers = request.headers.map { (name: $0.name.rawName, value: $0.value) }
        // HTTPTypes keeps the Host header as the :authority pseudo-header, not among the fields;
        // SigV4 signs it, so the authenticator gets it back as the Host field the client sent.
        if let authority = request.head.authority, !headers.contains(where: { $0.name.lowercased() == "host" }) {
            headers.append((name: "Host", value: authority))
        }
        let apiRequest = APIRequest(
            method: request.method.rawValue, path: request.uri.path, rawQuery: request.uri.query ?? "", headers: headers, body: body)
        let caller: Caller
        switch authenticate(apiRequest) {
        case .success(let c): caller = c
        case .failure(let e): return fail(e, action: label, started: started)
        }
        guard let action = known else {
            return fail(
                APIError(.unknownOperation, "Unknown operation: \(targetHeader.isEmpty ? "(no X-Amz-Target header)" : targetHeader)"),
                action: label, started: started)
        }
        let service = self.service
        let result: Result<[UInt8], APIError> = await queries.run {
            Result { () throws(APIError) in try service.handle(action, body: body, caller: caller) }
        }
        switch result {
        case .success(let out):
            metrics.request(action: label, outcome: "ok", duration: .now - started)
            return respond(200, out)
        case .failure(let e):
            if e.status >= 500 { logger.error("\(action.rawValue) failed: \(e.message)") }
            return fail(e, action: label, started: started)
        }
    }

    /// The whole body, at most `maxBodyBytes`, within `bodyTimeout`.
    private func collect(_ body: RequestBody) async -> Result<[UInt8], APIError> {
        let limit = settings.maxBodyBytes
        let timeout = settings.bodyTimeout
        return await withTaskGroup(of: Result<[UInt8], APIError>?.self) { group in
            group.addTask {
                do {
                    var out: [UInt8] = []
                    for try await chunk in body {
                        guard out.count + chunk.readableBytes <= limit else {
                            return .failure(
                                APIError(.requestEntityTooLarge, "Request body is over the limit of \(limit) bytes"))
                        }
                        out.append(contentsOf: chunk.readableBytesView)
                    }
                    return .success(out)
                } catch {
                    return Task.isCancelled ? nil : .failure(APIError(.serialization, "The request body could not be read: \(error)"))
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(
                    APIError(.requestTimeout, "The request body did not arrive within \(timeout.components.seconds) s"))
            }
            var outcome: Result<[UInt8], APIError> = .failure(APIError(.requestTimeout, "The request body did not arrive"))
            if let first = await group.next(), let first { outcome = first }
            group.cancelAll()
            return outcome
        }
    }

    private func metricsResponse() async -> Response {
        let metrics = self.metrics
        let store = service.store
        let text: [UInt8] = await queries.run { metrics.exposition(store: store) }
        var headers = HTTPFields()
        headers[Self.jsonType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }
}
