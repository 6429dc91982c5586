import APIAuth
import ArgumentParser
import Logging
import LogsAPI
import Posix
import Systemd
import Glibc
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the store over the CloudWatch Logs API (aws logs, boto3) and /metrics.",
        discussion: """
            Answers POST / with X-Amz-Target Logs_20140328.<Action> for DescribeLogGroups, DescribeLogStreams, \
            GetLogEvents, FilterLogEvents, PutRetentionPolicy and DeleteRetentionPolicy, and GET /metrics in the \
            Prometheus text format. Reads the state directory the daemon writes (read-only, except the retention \
            row PutRetentionPolicy/DeleteRetentionPolicy set). Every API request must be signed (SigV4) with a key \
            of the access file ('trailwatch access add'); SIGHUP re-reads it.
            """)

    @Option(help: "State directory (the daemon's).") var state: String?
    @Option(help: "Config file (flags override it).") var config: String?
    @Option(help: "Address and port to listen on, HOST:PORT (default: \(Serve.defaultListen)).") var listen: String?
    @Option(help: "PEM certificate chain: with --tls-key, serve HTTPS only.") var tlsCertificate: String?
    @Option(help: "PEM private key of --tls-certificate.") var tlsKey: String?
    @Option(help: "Where trailwatch's own logs go: journal, stderr (default: journal under systemd, else stderr).")
    var logTo: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: info).") var logLevel: String?
    @Option(help: "The access file: who may call the API, on which accounts (default: the config's access-file, else \(AccessStore.defaultPath)).")
    var accessFile: String?

    static let defaultListen = "127.0.0.1:4589"
    /// MiB of packed stored blocks queries share unless `api-cache-size` says otherwise.
    static let defaultCacheMiB = 256.0

    /// `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (loopback), as host and port.
    static func parseListen(_ s: String) throws -> (host: String, port: Int) {
        var host: Substring
        var port: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]"), s[s.index(after: close)...].hasPrefix(":") else {
                throw ValidationError("--listen \(s): expected [ADDRESS]:PORT")
            }
            host = s[s.index(after: s.startIndex)..<close]
            port = s[s.index(close, offsetBy: 2)...]
        } else {
            guard let colon = s.lastIndex(of: ":") else { throw ValidationError("--listen \(s): expected HOST:PORT") }
            host = s[..<colon]
            port = s[s.index(after: colon)...]
        }
        if host.isEmpty { host = "127.0.0.1" }
        guard let p = Int(port), (0...65535).contains(p) else {
            throw ValidationError("--listen \(s): the port must be a number from 0 to 65535")
        }
        return (String(host), p)
    }

    func run() async throws {
        var file = ConfigFile()
        if let config {
            do { file = try ConfigFile.load(config) } catch { throw ValidationError("\(error)") }
        }
        guard let stateDir = state ?? file.state else { throw ValidationError("name --state DIR (or 'state =' in the config)") }
        guard Posix.isDirectory(stateDir) else {
            throw ValidationError("state directory \(stateDir) does not exist (or is not a directory)")
        }
        var settings = ServerSettings()
        (settings.host, settings.port) = try Self.parseListen(listen ?? file.listen ?? Self.defaultListen)
        settings.tlsCertificate = tlsCertificate ?? file.tlsCertificate
        settings.tlsKey = tlsKey ?? file.tlsKey
        guard (settings.tlsCertificate == nil) == (settings.tlsKey == nil) else {
            throw ValidationError("TLS needs both --tls-certificate and --tls-key (or tls-certificate and tls-key in the config)")
        }
        for path in [settings.tlsCertificate, settings.tlsKey].compactMap({ $0 }) where (try? Posix.checkAccess(path, R_OK)) == nil {
            throw ValidationError("\(path): cannot be read")
        }
        if let t = file.apiBodyTimeout { settings.bodyTimeout = .milliseconds(Int64(t * 1000)) }
        if let t = file.apiIdleTimeout { settings.idleTimeout = .milliseconds(Int64(t * 1000)) }
        if let n = file.apiQueries { settings.queryThreads = n }
        if let n = file.apiQueryNice { settings.queryNice = Int32(n) }

        Run.bootstrapLogging(target: logTo ?? file.logTarget, level: logLevel ?? file.logLevel)
        // Queries inflate stored files of a few MB each: reuse that memory rather than map it afresh.
        Posix.reuseLargeAllocations(upTo: 32 << 20, keep: 128 << 20)
        let logger = Logger(label: "trailwatch")
        // Every request is checked for a SigV4 signature by a principal of the access file.
        let accessPath = accessFile ?? file.accessFile ?? AccessStore.defaultPath
        let authenticator = AccessAuthenticator(
            access: try ServeAccess.load(accessPath, logger: logger), logger: logger, now: { Posix.nowMillis() / 1000 })
        // Trapped before the server listens, so a SIGHUP never finds the default action (exit).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let reloads = Task { await ServeAccess.reloadOnHangup(hangups, path: accessPath, authenticator: authenticator, logger: logger) }
        defer { reloads.cancel() }
        let server = LogsServer(
            settings: settings, service: LogsService(
                store: StoreAccess(
                    stateDirectory: Run.absolute(stateDir), readers: settings.queryThreads,
                    cacheBytes: Int((file.apiCacheSize ?? Self.defaultCacheMiB) * 1_048_576))),
            authenticate: authenticator.hook, metrics: APIMetrics(), logger: logger)
        let scheme = settings.tlsCertificate == nil ? "http" : "https"
        let host = settings.host
        try await server.run { port in
            logger.info("serving the CloudWatch Logs API on \(scheme)://\(host):\(port)/ and /metrics (state \(stateDir))")
            SystemdNotify.send("READY=1\nSTATUS=listening on \(host):\(port)")
        }
    }
}
