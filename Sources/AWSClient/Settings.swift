import AWSFormats
import Glibc
import Posix

/// Where and as whom trailwatch calls AWS: the region, one endpoint for every service (moto, a
/// VPC endpoint) and the shared-file profile, resolved the way the AWS CLI resolves them.
package struct AWSSettings: Sendable {
    /// `AWS_REGION` / `AWS_DEFAULT_REGION` / the profile's `region` / `us-east-1`.
    package var region: String
    /// One endpoint for all services; `AWS_ENDPOINT_URL` or the profile's `endpoint_url`.
    package var endpointURL: String?
    /// `AWS_PROFILE` or the configured one; nil means `default`.
    package var profile: String?

    package init(region: String, endpointURL: String? = nil, profile: String? = nil) {
        self.region = region
        self.endpointURL = endpointURL
        self.profile = profile
    }

    /// Explicit values (config file or CLI) win, then the environment, then the profile's
    /// settings in the shared config file (unreadable files are ignored here; the credential
    /// chain reports them).
    package static func resolve(region: String?, endpointURL: String?, profile: String?, environment: [String: String]) -> AWSSettings {
        func env(_ k: String) -> String? { environment[k].flatMap { $0.isEmpty ? nil : $0 } }
        let profile = profile ?? env("AWS_PROFILE")
        let files = AWSSharedFiles(environment: environment)
        let config = (try? files.read(.config)) ?? nil
        let section = config?.profile(profile ?? "default") ?? [:]
        let region = region ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? section["region"].flatMap { $0.isEmpty ? nil : $0 } ?? "us-east-1"
        let endpoint = endpointURL ?? env("AWS_ENDPOINT_URL") ?? section["endpoint_url"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSSettings(region: region, endpointURL: endpoint, profile: profile)
    }

    /// The base URL for `service` (`s3`, `sqs`, `logs`): the configured endpoint or AWS's regional one.
    func endpoint(for service: String) -> String {
        if let e = endpointURL { return e }
        return "https://\(service).\(region).amazonaws.com"
    }
}

/// The shared credentials and config files' locations, from the environment as the CLI takes them.
struct AWSSharedFiles: Sendable {
    var credentialsPath: String
    var configPath: String

    init(environment: [String: String]) {
        let home = environment["HOME"] ?? "/root"
        func expand(_ p: String) -> String { p.hasPrefix("~/") ? home + p.dropFirst() : p }
        credentialsPath = expand(environment["AWS_SHARED_CREDENTIALS_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "~/.aws/credentials")
        configPath = expand(environment["AWS_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "~/.aws/config")
    }

    /// The file parsed, nil when it does not exist; unreadable or malformed is an error naming it.
    func read(_ kind: AWSSharedConfigFile.Kind) throws(AWSError) -> AWSSharedConfigFile? {
        let path = kind == .credentials ? credentialsPath : configPath
        let bytes: [UInt8]
        do {
            let fd = try Posix.openFile(path, O_RDONLY | O_CLOEXEC)
            defer { Posix.closeFile(fd) }
            bytes = try Posix.readBytes(fd, upTo: AWSSharedConfigFile.maxBytes + 1, path: path)
        } catch {
            if error.errno == ENOENT || error.errno == ENOTDIR { return nil }
            throw AWSError(.credentials, "cannot read \(path): \(error)")
        }
        do {
            return try AWSSharedConfigFile.parse(String(decoding: bytes, as: UTF8.self), path: path, kind: kind)
        } catch {
            throw AWSError(.credentials, "\(error)")
        }
    }
}
