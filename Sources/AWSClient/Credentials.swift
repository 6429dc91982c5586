import AWSFormats
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SigV4

/// Finds credentials the way AWS tools do, first match wins: the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), the shared credentials and
/// config files (the settings' profile or `default`), then the EC2 instance metadata service
/// (IMDSv2). Temporary credentials are cached and fetched again 5 minutes before they expire.
package final class AWSCredentialChain: Sendable {
    let settings: AWSSettings
    let environment: [String: String]
    let http: AWSHTTP
    private let cache = CredentialCache()

    /// Fetch new temporary credentials this long before they expire.
    static let refreshMarginMs: Int64 = 5 * 60 * 1000

    package init(settings: AWSSettings, environment: [String: String], http: AWSHTTP) {
        self.settings = settings
        self.environment = environment
        self.http = http
    }

    /// Credentials to sign the next request with.
    package func credentials() async throws -> SigV4Credentials {
        try await cache.get { try await self.load() }.credentials
    }

    /// Where the current credentials came from (`environment`, `profile NAME in PATH`, `imds role ROLE`).
    package func source() async throws -> String {
        try await cache.get { try await self.load() }.source
    }

    private func env(_ k: String) -> String? { environment[k].flatMap { $0.isEmpty ? nil : $0 } }

    func load() async throws -> Resolved {
        if let r = try fromEnvironment() { return r }
        if let r = try fromFiles() { return r }
        if env("AWS_EC2_METADATA_DISABLED")?.lowercased() == "true" {
            let files = AWSSharedFiles(environment: environment)
            throw AWSError(
                .credentials,
                "no AWS credentials: none in the environment, no profile \(settings.profile ?? "default") in \(files.credentialsPath) or \(files.configPath), and the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)"
            )
        }
        return try await fromIMDS()
    }

    func fromEnvironment() throws(AWSError) -> Resolved? {
        let id = env("AWS_ACCESS_KEY_ID")
        let secret = env("AWS_SECRET_ACCESS_KEY")
        switch (id, secret) {
        case (nil, nil): return nil
        case (let id?, let secret?):
            return Resolved(
                credentials: SigV4Credentials(accessKeyId: id, secretAccessKey: secret, sessionToken: env("AWS_SESSION_TOKEN")),
                expiresMs: nil, source: "environment")
        case (nil, _): throw AWSError(.credentials, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        case (_, nil): throw AWSError(.credentials, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
    }

    /// The profile's keys from the credentials file, else from the config file. A profile named
    /// explicitly (setting or `AWS_PROFILE`) must exist and hold keys; `default` may be absent.
    func fromFiles() throws(AWSError) -> Resolved? {
        let files = AWSSharedFiles(environment: environment)
        let name = settings.profile ?? "default"
        let explicit = settings.profile != nil
        var found = false
        for (kind, path) in [(AWSSharedConfigFile.Kind.credentials, files.credentialsPath), (.config, files.configPath)] {
            guard let file = try files.read(kind), let section = file.profile(name) else { continue }
            found = true
            let id = section["aws_access_key_id"].flatMap { $0.isEmpty ? nil : $0 }
            let secret = section["aws_secret_access_key"].flatMap { $0.isEmpty ? nil : $0 }
            if let id, let secret {
                let token = section["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }
                return Resolved(
                    credentials: SigV4Credentials(accessKeyId: id, secretAccessKey: secret, sessionToken: token), expiresMs: nil,
                    source: "profile \(name) in \(path)")
            }
            if (id == nil) != (secret == nil) {
                throw AWSError(.credentials, "profile \(name) in \(path) has only one of aws_access_key_id and aws_secret_access_key")
            }
        }
        guard explicit else { return nil }
        if found {
            throw AWSError(
                .credentials,
                "profile \(name) has no aws_access_key_id/aws_secret_access_key in \(files.credentialsPath) or \(files.configPath) (role_arn, sso and credential_process profiles are not supported)"
            )
        }
        throw AWSError(.credentials, "profile \(name) not found in \(files.credentialsPath) or \(files.configPath)")
    }

    /// IMDSv2: a session token (PUT), the role's name, then its credentials, each call with the token.
    func fromIMDS() async throws -> Resolved {
        let base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "http://169.254.169.254"
        func call(_ method: HTTPMethod, _ path: String, headers: [(String, String)], limit: Int) async throws -> [UInt8] {
            var r = HTTPClientRequest(url: base + path)
            r.method = method
            for (n, v) in headers { r.headers.add(name: n, value: v) }
            let response: HTTPClientResponse
            do { response = try await http.client.execute(r, timeout: .seconds(2)) } catch let e as CancellationError { throw e } catch {
                throw AWSError(.credentials, "no AWS credentials in the environment or shared files, and the instance metadata service at \(base) did not answer: \(error)")
            }
            let body = try await http.collect(response, operation: "instance metadata \(path)", limit: limit)
            guard response.status.code == 200 else {
                throw AWSError(.credentials, "instance metadata \(method.rawValue) \(path) answered HTTP \(response.status.code)")
            }
            return body
        }
        let token = String(
            decoding: try await call(.PUT, "/latest/api/token", headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")], limit: 4096),
            as: UTF8.self)
        guard !token.isEmpty else { throw AWSError(.credentials, "instance metadata service sent an empty session token") }
        let auth = [("X-aws-ec2-metadata-token", token)]
        let roles = String(decoding: try await call(.GET, "/latest/meta-data/iam/security-credentials/", headers: auth, limit: 65536), as: UTF8.self)
        guard let role = roles.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map({ String($0).trimmingCharacters(in: .whitespaces) }),
            !role.isEmpty, !role.contains("/")
        else { throw AWSError(.credentials, "the instance has no IAM role (instance metadata lists none)") }
        let path = "/latest/meta-data/iam/security-credentials/" + role
        let body = try await call(.GET, path, headers: auth, limit: IMDSCredentials.maxBytes + 1)
        let c: IMDSCredentials
        do { c = try IMDSCredentials.parse(body, source: "instance metadata \(path)") } catch {
            throw AWSError(.credentials, "\(error)")
        }
        return Resolved(
            credentials: SigV4Credentials(accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.token),
            expiresMs: c.expirationMs, source: "imds role \(role)")
    }
}

/// Credentials with their expiry (nil: long-term keys) and where they came from.
struct Resolved: Sendable {
    var credentials: SigV4Credentials
    var expiresMs: Int64?
    var source: String

    /// Still usable without a refresh: more than the margin before expiry.
    func isFresh(nowMs: Int64) -> Bool { expiresMs.map { nowMs < $0 - AWSCredentialChain.refreshMarginMs } ?? true }
    /// Not expired yet (kept when a refresh fails).
    func isValid(nowMs: Int64) -> Bool { expiresMs.map { nowMs < $0 } ?? true }
}

/// One load at a time; concurrent callers wait for the same load.
private actor CredentialCache {
    var value: Resolved?
    var loading: Task<Resolved, any Error>?

    func get(_ load: @escaping @Sendable () async throws -> Resolved) async throws -> Resolved {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if let v = value, v.isFresh(nowMs: now) { return v }
        let task: Task<Resolved, any Error>
        if let t = loading {
            task = t
        } else {
            task = Task { try await load() }
            loading = task
        }
        do {
            let v = try await task.value
            if loading == task { loading = nil }
            value = v
            return v
        } catch {
            if loading == task { loading = nil }
            // A failed refresh keeps credentials that have not expired yet.
            if let v = value, v.isValid(nowMs: now) { return v }
            throw error
        }
    }
}
