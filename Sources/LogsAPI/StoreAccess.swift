import LogStore
import Synchronization

/// The store as the API reads it: opened read-only (the daemon is the writer) the first time a
/// request needs it, so `serve` may start before the daemon created anything. `LogStore` keeps
/// its open databases in a dictionary: lookups go through a lock; queries run on the account's own
/// connection (serialized by GRDB), outside it.
package final class StoreAccess: Sendable {
    /// The state directory served.
    package let stateDirectory: String
    private let store = Mutex<LogStore?>(nil)

    /// Serves the store under `stateDirectory` (nothing is opened yet).
    package init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
    }

    private func withStore<R>(_ body: (LogStore) throws -> R) throws -> R {
        try store.withLock { s in
            if s == nil { s = try LogStore(stateDirectory: stateDirectory, readOnly: true) }
            return try body(s!)
        }
    }

    /// Account ids with a database, sorted.
    package func accounts() throws -> [String] { try withStore { $0.accounts() } }

    /// The account's group, opened read-only.
    package func account(_ account: String) throws -> AccountStore { try withStore { try $0.account(account) } }

    /// The group named `name` among `accounts` (nil when none of them is it).
    package func group(named name: String, among accounts: [String]) throws -> AccountStore? {
        for a in accounts {
            let s = try account(a)
            if s.groupName == name { return s }
        }
        return nil
    }

    /// Sets or removes the retention of `account`'s group (the row the daemon applies).
    package func setRetention(account: String, days: Int?) throws {
        try withStore { try $0.setRetentionPolicy(account: account, days: days) }
    }
}
