/// One HTTP request as the authenticator sees it: everything SigV4 signs, unchanged.
package struct APIRequest: Sendable {
    /// `POST`, `GET`, …
    package var method: String
    /// The path as sent, without the query (`/`).
    package var path: String
    /// The query string as sent, without `?` (empty when there is none).
    package var rawQuery: String
    /// Header fields in the order received, names as sent (several fields may share a name).
    package var headers: [(name: String, value: String)]
    /// The body bytes as received.
    package var body: [UInt8]

    /// Makes a request from its parts.
    package init(method: String, path: String, rawQuery: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.method = method
        self.path = path
        self.rawQuery = rawQuery
        self.headers = headers
        self.body = body
    }

    /// The values of every field named `name` (case-insensitive), in order.
    package func headerValues(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.name.lowercased() == lower }.map(\.value)
    }
}

/// Who sent a request and what they may do: which accounts' log groups they may read, and whether
/// they may change a group's retention (on the accounts they may read).
package struct Caller: Sendable, Equatable {
    /// The accounts a caller is granted.
    package enum Accounts: Sendable, Equatable {
        /// Every account in the store.
        case all
        /// Only these accounts (12-digit ids).
        case only(Set<String>)
    }

    /// The principal's name, for logs (an access key id, a user name).
    package var name: String
    /// The accounts whose groups this caller may read.
    package var accounts: Accounts
    /// Whether PutRetentionPolicy/DeleteRetentionPolicy are allowed (on readable accounts only).
    package var mayChangeRetention: Bool

    /// A caller with these grants.
    package init(name: String, accounts: Accounts, mayChangeRetention: Bool) {
        self.name = name
        self.accounts = accounts
        self.mayChangeRetention = mayChangeRetention
    }

    /// Whether this caller may read the log group of `account`.
    package func mayRead(account: String) -> Bool {
        switch accounts {
        case .all: return true
        case .only(let set): return set.contains(account)
        }
    }
}

/// Decides who sent a request (SigV4 and the access file, in production). It sees the request
/// before anything else looks at it; a failure is sent to the client as it is.
package typealias Authenticate = @Sendable (APIRequest) -> Result<Caller, APIError>

/// The authenticator used when none is configured: every request is refused, as CloudWatch refuses
/// an unsigned one. `trailwatch serve` never answers unauthenticated requests.
package let refuseEveryRequest: Authenticate = { _ in
    .failure(APIError(.missingAuthenticationToken, "Missing Authentication Token"))
}
