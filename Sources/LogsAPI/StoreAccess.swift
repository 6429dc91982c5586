import LogStore
import Synchronization

/// The store as the API reads it: opened read-only (the daemon is the writer) the first time a
/// request needs it, so `serve` may start before the daemon created anything. `LogStore` keeps
/// its open databases in a dictionary: lookups go through a lock; queries run outside it, on the
/// account's pool of read-only connections (up to `readers` at once, each on its own WAL snapshot).
package final class StoreAccess: Sendable {
    /// The state directory served.
    package let stateDirectory: String
    private let store = Mutex<LogStore?>(nil)
    /// Connections each account's store reads on at once (the server's query threads).
    private let readers: Int
    /// Stored blocks packed for reading, shared by every query (of every account), bounded by bytes.
    package let blocks: InflatedBlockCache

    /// Serves the store under `stateDirectory` (nothing is opened yet), each account's store read
    /// on up to `readers` connections at once, keeping up to `cacheBytes` of packed blocks (0: none).
    package init(stateDirectory: String, readers: Int = 1, cacheBytes: Int = 0) {
        self.stateDirectory = stateDirectory
        self.readers = readers
        blocks = InflatedBlockCache(capacity: cacheBytes)
    }

    private func withStore<R>(_ body: (LogStore) throws -> R) throws -> R {
        try store.withLock { s in
            if s == nil { s = try LogStore(stateDirectory: stateDirectory, readOnly: true, readers: readers) }
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
