import Access
import Logging
import LogsAPI
import SigV4
import Synchronization

/// The API server's authenticate hook: checks each request's SigV4 signature against the secrets
/// of the access file in force, and turns the principal into the grant the server checks
/// (`Caller`). The access file can be replaced while serving (SIGHUP); each request uses the one in
/// force when it arrived. Refusals are logged with the principal and the reason as fields.
package final class AccessAuthenticator: Sendable {
    private let access: Mutex<AccessFile>
    private let verifier: SigV4Verifier
    private let now: @Sendable () -> Int64
    private let logger: Logger

    /// An authenticator over `access`, verifying with `verifier` at the time `now` gives (epoch seconds).
    package init(access: AccessFile, verifier: SigV4Verifier = SigV4Verifier(), logger: Logger, now: @escaping @Sendable () -> Int64) {
        self.access = Mutex(access)
        self.verifier = verifier
        self.logger = logger
        self.now = now
    }

    /// Puts `file` in force for the requests that arrive from now on.
    package func replace(_ file: AccessFile) { access.withLock { $0 = file } }

    /// The access file in force.
    package var current: AccessFile { access.withLock { $0 } }

    /// The hook to hand the server.
    package var hook: Authenticate { { [self] request in authenticate(request) } }

    /// Who sent `request`, or the error AWS would answer.
    package func authenticate(_ request: APIRequest) -> Result<Caller, APIError> {
        let file = current
        let sig = SigV4Request(
            method: request.method, path: request.path, query: request.rawQuery, headers: request.headers.map { .init($0.name, $0.value) },
            body: request.body)
        do {
            let verified = try verifier.verify(sig, now: now()) { file.principal(accessKeyId: $0)?.secretAccessKey }
            // The verifier found the secret by this key id, so the principal is there.
            guard let p = file.principal(accessKeyId: verified.accessKeyId) else {
                return .failure(APIError(.unrecognizedClient, "The security token included in the request is invalid."))
            }
            return .success(Self.caller(p))
        } catch {
            let principal = error.accessKeyId.flatMap { file.principal(accessKeyId: $0)?.name }
            logger.notice(
                "refused an API request: \(error.awsType): \(error.message)",
                metadata: [
                    "principal": "\(principal ?? "-")", "access_key_id": "\(error.accessKeyId ?? "-")", "reason": "\(error.code.rawValue)",
                    "error_type": "\(error.awsType)",
                ])
            return .failure(Self.apiError(error))
        }
    }

    /// The grant the server checks, for a principal.
    package static func caller(_ p: Principal) -> Caller {
        switch p.grant {
        case .all: return Caller(name: p.name, accounts: .all, mayChangeRetention: p.mayChangeRetention)
        case .accounts(let ids): return Caller(name: p.name, accounts: .only(ids), mayChangeRetention: p.mayChangeRetention)
        }
    }

    /// The API's error for a signature failure: the same `__type` and message.
    package static func apiError(_ f: SigV4Failure) -> APIError {
        switch f.code {
        case .missingAuthentication: return APIError(.missingAuthenticationToken, f.message)
        case .incompleteSignature: return APIError(.incompleteSignature, f.message)
        case .unrecognizedClient: return APIError(.unrecognizedClient, f.message)
        case .signatureMismatch, .contentHashMismatch, .wrongScope, .signatureExpired, .signatureNotYetCurrent:
            return APIError(.invalidSignature, f.message)
        }
    }
}
