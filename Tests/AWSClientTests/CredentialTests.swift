import AWSClient
import Foundation
import SigV4
import Testing
import TestSupport

/// Runs `body` with a credential chain over `environment`; the HTTP client is shut down after.
@discardableResult
func withChain<T>(
    _ environment: [String: String], profile: String? = nil, _ body: (AWSCredentialChain, AWSSettings) async throws -> T
) async throws -> T {
    let http = AWSHTTP()
    let settings = AWSSettings.resolve(region: nil, endpointURL: nil, profile: profile, environment: environment)
    do {
        let r = try await body(AWSCredentialChain(settings: settings, environment: environment, http: http), settings)
        try await http.shutdown()
        return r
    } catch {
        try? await http.shutdown()
        throw error
    }
}

/// A home folder with the given shared files, and the environment pointing at it (no IMDS).
func sharedFiles(credentials: String?, config: String?) throws -> [String: String] {
    let home = tempDir("aws-home")
    if let credentials { try write(home + "/.aws/credentials", Array(credentials.utf8)) }
    if let config { try write(home + "/.aws/config", Array(config.utf8)) }
    return ["HOME": home, "AWS_EC2_METADATA_DISABLED": "true"]
}

@Suite struct CredentialChainTests {
    @Test func environmentFirst() async throws {
        var env = try sharedFiles(credentials: "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n", config: nil)
        env["AWS_ACCESS_KEY_ID"] = "ENVKEY"
        env["AWS_SECRET_ACCESS_KEY"] = "envsecret"
        env["AWS_SESSION_TOKEN"] = "envtoken"
        try await withChain(env) { (chain: AWSCredentialChain, _: AWSSettings) async throws in
            #expect(try await chain.credentials() == SigV4Credentials(accessKeyId: "ENVKEY", secretAccessKey: "envsecret", sessionToken: "envtoken"))
            #expect(try await chain.source() == "environment")
        }
        env["AWS_SECRET_ACCESS_KEY"] = nil
        try await withChain(env) { (chain: AWSCredentialChain, _: AWSSettings) async throws in
            await #expect { _ = try await chain.credentials() } throws: {
                ($0 as! AWSError).code == .credentials && ($0 as! AWSError).message.contains("AWS_SECRET_ACCESS_KEY is not")
            }
        }
    }

    @Test func sharedFilesWithProfilesAndRegion() async throws {
        let env = try sharedFiles(
            credentials: """
                [default]
                aws_access_key_id = DEFAULTKEY
                aws_secret_access_key = defaultsecret
                [prod]
                aws_access_key_id = PRODKEY
                aws_secret_access_key = prodsecret
                aws_session_token = prodtoken
                """,
            config: """
                [default]
                region = eu-central-1
                [profile prod]
                region = ap-southeast-2
                aws_access_key_id = IGNORED
                aws_secret_access_key = ignored
                [profile cfgonly]
                aws_access_key_id = CFGKEY
                aws_secret_access_key = cfgsecret
                endpoint_url = http://127.0.0.1:1
                """)
        try await withChain(env) { (chain: AWSCredentialChain, settings: AWSSettings) async throws in
            #expect(settings.region == "eu-central-1")
            #expect(settings.profile == nil)
            #expect(try await chain.credentials() == SigV4Credentials(accessKeyId: "DEFAULTKEY", secretAccessKey: "defaultsecret"))
            #expect(try await chain.source() == "profile default in \(env["HOME"]!)/.aws/credentials")
        }
        // AWS_PROFILE picks the profile; the credentials file wins over the config file.
        var prod = env
        prod["AWS_PROFILE"] = "prod"
        try await withChain(prod) { (chain: AWSCredentialChain, settings: AWSSettings) async throws in
            #expect(settings.region == "ap-southeast-2")
            #expect(settings.profile == "prod")
            #expect(try await chain.credentials() == SigV4Credentials(accessKeyId: "PRODKEY", secretAccessKey: "prodsecret", sessionToken: "prodtoken"))
        }
        // An explicit profile beats AWS_PROFILE; keys may live in the config file alone; AWS_REGION beats the profile.
        prod["AWS_REGION"] = "sa-east-1"
        try await withChain(prod, profile: "cfgonly") { (chain: AWSCredentialChain, settings: AWSSettings) async throws in
            #expect(settings.region == "sa-east-1")
            #expect(settings.endpointURL == "http://127.0.0.1:1")
            #expect(try await chain.credentials() == SigV4Credentials(accessKeyId: "CFGKEY", secretAccessKey: "cfgsecret"))
            #expect(try await chain.source() == "profile cfgonly in \(env["HOME"]!)/.aws/config")
        }
        // AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE move the files.
        let elsewhere = tempDir("aws-elsewhere")
        try write(elsewhere + "/creds", Array("[default]\naws_access_key_id = MOVED\naws_secret_access_key = s\n".utf8))
        try write(elsewhere + "/conf", Array("[default]\nregion = us-west-1\n".utf8))
        var moved = env
        moved["AWS_SHARED_CREDENTIALS_FILE"] = elsewhere + "/creds"
        moved["AWS_CONFIG_FILE"] = elsewhere + "/conf"
        try await withChain(moved) { (chain: AWSCredentialChain, settings: AWSSettings) async throws in
            #expect(settings.region == "us-west-1")
            #expect(try await chain.credentials().accessKeyId == "MOVED")
        }
    }

    @Test func missingProfileIsAClearError() async throws {
        var env = try sharedFiles(credentials: "[default]\naws_access_key_id = K\naws_secret_access_key = s\n", config: "[default]\n")
        env["AWS_PROFILE"] = "nosuch"
        try await withChain(env) { (chain: AWSCredentialChain, _: AWSSettings) async throws in
            await #expect { _ = try await chain.credentials() } throws: { e in
                let e = e as! AWSError
                return e.code == .credentials && e.message == "profile nosuch not found in \(env["HOME"]!)/.aws/credentials or \(env["HOME"]!)/.aws/config"
            }
        }
        // A profile without keys (role_arn) is refused by name, not silently skipped.
        let role = try sharedFiles(credentials: nil, config: "[profile assumed]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n")
        try await withChain(role, profile: "assumed") { (chain: AWSCredentialChain, _: AWSSettings) async throws in
            await #expect { _ = try await chain.credentials() } throws: {
                ($0 as! AWSError).message.hasPrefix("profile assumed has no aws_access_key_id")
            }
        }
        // A malformed file names the file and line.
        let bad = try sharedFiles(credentials: "[default]\nno equals sign\n", config: nil)
        try await withChain(bad) { (chain: AWSCredentialChain, _: AWSSettings) async throws in
            await #expect { _ = try await chain.credentials() } throws: {
                ($0 as! AWSError).message == "\(bad["HOME"]!)/.aws/credentials:2: expected key = value"
            }
        }
        // Nothing anywhere and IMDS disabled.
        let none = try sharedFiles(credentials: nil, config: nil)
        try await withChain(none) { (chain: AWSCredentialChain, _: AWSSettings) async throws in
            await #expect { _ = try await chain.credentials() } throws: {
                ($0 as! AWSError).code == .credentials && ($0 as! AWSError).message.contains("AWS_EC2_METADATA_DISABLED")
            }
        }
    }
}

@Suite struct IMDSTests {
    static let script = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/imds_server.py"), encoding: .utf8)

    struct Counts: Decodable, Equatable {
        var token_puts: Int
        var role_lists: Int
        var credential_gets: Int
        var refused: Int
    }

    func counts(_ server: PythonServer) throws -> Counts {
        let (status, out) = try runCommand([
            "python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:\(server.port)/counts').read().decode())",
        ])
        #expect(status == 0, "\(out)")
        return try JSONDecoder().decode(Counts.self, from: Data(out.utf8))
    }

    func environment(_ server: PythonServer) throws -> [String: String] {
        var env = try sharedFiles(credentials: nil, config: nil)
        env["AWS_EC2_METADATA_DISABLED"] = nil
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:\(server.port)/"
        return env
    }

    @Test func tokenThenRoleThenCredentialsCachedUntilNearExpiry() async throws {
        let server = try PythonServer(name: "imds", script: Self.script, arguments: ["21600"])
        defer { server.stop() }
        // The fake refuses a GET without a token (what makes it IMDSv2-only).
        let (_, plain) = try runCommand([
            "python3", "-c",
            "import urllib.request, urllib.error\ntry: urllib.request.urlopen('http://127.0.0.1:\(server.port)/latest/meta-data/iam/security-credentials/')\nexcept urllib.error.HTTPError as e: print(e.code)",
        ])
        #expect(plain.trimmingCharacters(in: .whitespacesAndNewlines) == "401")
        #expect(try counts(server) == Counts(token_puts: 0, role_lists: 0, credential_gets: 0, refused: 1))

        try await withChain(try environment(server)) { (chain: AWSCredentialChain, _: AWSSettings) async throws in
            let first = try await chain.credentials()
            #expect(first == SigV4Credentials(accessKeyId: "ASIAIMDS1", secretAccessKey: "secret-1", sessionToken: "session-1"))
            #expect(try await chain.source() == "imds role trailwatch-role")
            // Six hours left: the second call is served from the cache.
            #expect(try await chain.credentials() == first)
        }
        #expect(try counts(server) == Counts(token_puts: 1, role_lists: 1, credential_gets: 1, refused: 1))
    }

    @Test func refreshesWithinFiveMinutesOfExpiry() async throws {
        // Each credential lives 200 s: already inside the 5-minute margin, so every call refreshes.
        let server = try PythonServer(name: "imds", script: Self.script, arguments: ["200"])
        defer { server.stop() }
        try await withChain(try environment(server)) { (chain: AWSCredentialChain, _: AWSSettings) async throws in
            #expect(try await chain.credentials().accessKeyId == "ASIAIMDS1")
            #expect(try await chain.credentials().accessKeyId == "ASIAIMDS2")
            #expect(try counts(server) == Counts(token_puts: 2, role_lists: 2, credential_gets: 2, refused: 0))
            // The service gone: credentials not yet expired are still used rather than failing.
            server.stop()
            #expect(try await chain.credentials().accessKeyId == "ASIAIMDS2")
        }
    }

    @Test func unreachableServiceIsACredentialsError() async throws {
        var env = try sharedFiles(credentials: nil, config: nil)
        env["AWS_EC2_METADATA_DISABLED"] = nil
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:\(try freePort())"
        try await withChain(env) { (chain: AWSCredentialChain, _: AWSSettings) async throws in
            await #expect { _ = try await chain.credentials() } throws: {
                ($0 as! AWSError).code == .credentials && ($0 as! AWSError).message.contains("instance metadata service at http://127.0.0.1:")
            }
        }
    }
}
