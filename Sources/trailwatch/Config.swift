import ArgumentParser
import CloudTrail
import Glibc
import Ingest
import Posix

/// The config file: `key = value` lines, `#` comments; see packaging/trailwatch.conf.
struct ConfigFile {
    var logs: [IngestConfig.Root] = []
    var state: String?
    var groupTemplate: String?
    var retentionDays: Int?
    var incompleteTimeout: Double?
    var rescanInterval: Double?
    var logTarget: String?
    var logLevel: String?
    var rules: [String] = []
    var alerts: [String] = []
    var lateness: Double?
    var keys: String?
    var digestSlack: Double?
    var watchDays: Int?
    var maxInflatedSize: Double?
    var maxRecordSize: Double?
    /// `serve`: HOST:PORT, TLS files, seconds a client has for its body, seconds a silent connection stays open.
    var listen: String?
    var tlsCertificate: String?
    var tlsKey: String?
    var apiBodyTimeout: Double?
    var apiIdleTimeout: Double?
    /// `serve`: store queries at once, and the nice value of the threads running them.
    var apiQueries: Int?
    var apiQueryNice: Int?
    /// `serve`: MiB of inflated stored blocks kept for queries (0: none).
    var apiCacheSize: Double?
    var accessFile: String?
    /// The S3 source (docs/s3.md): `logs = s3://bucket[/prefix]`, its queue, shard and AWS settings.
    var s3Logs: [String] = []
    var sqsQueue: String?
    var shard: String?
    var awsRegion: String?
    var awsProfile: String?
    var awsEndpointURL: String?
    var s3BackfillDays: Int?
    var reconcileInterval: Double?
    var sqsVisibilityTimeout: Int?
    /// CloudWatch Logs sink: `store = local|cloudwatch`, and where and as whom to reach AWS.
    var store: String?

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    /// The values each numeric setting accepts, by its config key. A value outside (or `inf`, `nan`,
    /// `1e300`) is an error naming the setting, never a trap when it is turned into milliseconds or
    /// bytes. The bounds are far past any sensible setting; they only keep the arithmetic finite.
    static let bounds: [String: ClosedRange<Double>] = [
        "retention-days": 1...36_500,
        "incomplete-timeout": 0...31_536_000,  // seconds: a year
        "rescan-interval": 0.01...31_536_000,  // seconds
        "allowed-lateness": 0...525_600,  // minutes: a year
        "digest-slack": 0...525_600,  // minutes
        "watch-days": 0...36_500,
        "max-inflated-size": 0.001...1_048_576,  // MiB: 1 KiB to 1 TiB
        "max-record-size": 0.001...1_048_576,  // MiB
        "api-body-timeout": 0.1...3600,  // seconds
        "api-idle-timeout": 0.1...86_400,  // seconds
        "api-queries": 1...256,
        "api-query-nice": 0...19,
        "api-cache-size": 0...1_048_576,  // MiB
        "s3-backfill-days": 0...3650,
        "reconcile-interval": 1...31_536_000,  // seconds
        "sqs-visibility-timeout": 2...43_200,  // seconds: SQS's own bounds are 0 to 12 hours
    ]

    /// Why `value` is not acceptable for the setting `key` (nil when it is), in words for an error.
    static func problem(_ value: Double, for key: String, whole: Bool = false) -> String? {
        guard let range = bounds[key] else { return nil }
        guard value.isFinite, range.contains(value) else {
            return "\(key) must be a number from \(range.lowerBound.shown) to \(range.upperBound.shown)"
        }
        if whole, value.rounded() != value { return "\(key) must be a whole number" }
        return nil
    }

    static func load(_ path: String) throws -> ConfigFile {
        let bytes: [UInt8]
        do { bytes = try Posix.readFile(path) } catch { throw ParseError(description: "\(error)") }
        return try parse(String(decoding: bytes, as: UTF8.self), path: path)
    }

    static func parse(_ text: String, path: String) throws -> ConfigFile {
        var c = ConfigFile()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmedWhitespace
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw ParseError(description: "\(path):\(n + 1): expected 'key = value'")
            }
            let key = String(trimmed[..<eq]).trimmedWhitespace
            let value = String(trimmed[trimmed.index(after: eq)...]).trimmedWhitespace
            func number(whole: Bool = false) throws -> Double {
                guard let d = Double(value) else { throw ParseError(description: "\(path):\(n + 1): \(key) needs a number") }
                if let problem = problem(d, for: key, whole: whole) { throw ParseError(description: "\(path):\(n + 1): \(problem)") }
                return d
            }
            switch key {
            case "logs" where value.hasPrefix("s3://"): c.s3Logs.append(value)
            case "logs":
                // `logs = /path/to/mirror [bucket=NAME]`
                let parts = value.split(separator: " ")
                guard let p = parts.first else { throw ParseError(description: "\(path):\(n + 1): logs needs a folder") }
                var bucket: String? = nil
                for extra in parts.dropFirst() where extra.hasPrefix("bucket=") { bucket = String(extra.dropFirst(7)) }
                c.logs.append(IngestConfig.Root(path: String(p), bucket: bucket))
            case "state": c.state = value
            case "group-name-template": c.groupTemplate = value
            case "retention-days": c.retentionDays = Int(try number(whole: true))
            case "incomplete-timeout": c.incompleteTimeout = try number()
            case "rescan-interval": c.rescanInterval = try number()
            case "log-target": c.logTarget = value
            case "log-level": c.logLevel = value
            case "rules": c.rules.append(value)
            case "alerts": c.alerts.append(value)
            case "allowed-lateness": c.lateness = try number()
            case "keys": c.keys = value
            case "digest-slack": c.digestSlack = try number()
            case "watch-days": c.watchDays = Int(try number(whole: true))
            case "max-inflated-size": c.maxInflatedSize = try number()
            case "max-record-size": c.maxRecordSize = try number()
            case "listen": c.listen = value
            case "tls-certificate": c.tlsCertificate = value
            case "tls-key": c.tlsKey = value
            case "api-body-timeout": c.apiBodyTimeout = try number()
            case "api-idle-timeout": c.apiIdleTimeout = try number()
            case "api-queries": c.apiQueries = Int(try number(whole: true))
            case "api-query-nice": c.apiQueryNice = Int(try number(whole: true))
            case "api-cache-size": c.apiCacheSize = try number()
            case "access-file": c.accessFile = value
            case "sqs-queue": c.sqsQueue = value
            case "shard": c.shard = value
            case "aws-region": c.awsRegion = value
            case "aws-profile": c.awsProfile = value
            case "aws-endpoint-url": c.awsEndpointURL = value
            case "s3-backfill-days": c.s3BackfillDays = Int(try number(whole: true))
            case "reconcile-interval": c.reconcileInterval = try number()
            case "sqs-visibility-timeout": c.sqsVisibilityTimeout = Int(try number(whole: true))
            case "store":
                guard value == "local" || value == "cloudwatch" else {
                    throw ParseError(description: "\(path):\(n + 1): store must be local or cloudwatch (got '\(value)')")
                }
                c.store = value
            default: throw ParseError(description: "\(path):\(n + 1): unknown setting '\(key)'")
            }
        }
        return c
    }
}


/// Parses ISO 8601 (`2024-03-01T00:00:00Z`, date only too) or epoch milliseconds.
func parseTime(_ s: String) throws -> Int64 {
    if !s.isEmpty, s.allSatisfy({ $0.isNumber }), let v = Int64(s) { return v }
    if let v = Timestamp.parseISO8601(s) { return v }
    if s.count == 10, let v = Timestamp.parseISO8601(s + "T00:00:00Z") { return v }
    throw ValidationError("'\(s)' is neither ISO 8601 (2024-03-01T10:00:00Z) nor epoch milliseconds")
}
