import CloudTrail
import Glibc
import GRDB
import Posix

/// The store for all accounts: one SQLite database, one log group, per account under `<state>/groups/`.
package final class LogStore: @unchecked Sendable {
    package let directory: String
    /// Group name template; `{account}` is replaced by the account id.
    package let groupTemplate: String
    /// The state directory as given.
    package let stateDirectory: String
    /// Retention set on every group when it is opened for writing, new ones included (nil: leave as
    /// is), except on groups whose retention was set through the API.
    package let retentionDays: Int?
    private var open: [String: AccountStore] = [:]
    private let readOnly: Bool
    /// Connections each read-only store may read on at once.
    private let readers: Int
    /// The state and groups directories as opened (device, inode), to notice them deleted or replaced.
    private var identities: [(path: String, id: FileIdentity)] = []

    /// Opens the store under `stateDirectory`. Writable: creates `groups/` when missing. Read-only
    /// (the query commands): creates nothing, and a directory that does not exist or holds no
    /// trailwatch store is an error naming the path (a mistyped `--state` must not look empty);
    /// each account's store then reads on up to `readers` connections at once.
    package init(
        stateDirectory: String, groupTemplate: String = "aws-cloudtrail-logs-{account}", readOnly: Bool = false,
        retentionDays: Int? = nil, readers: Int = 1
    ) throws {
        self.stateDirectory = stateDirectory
        directory = stateDirectory + "/groups"
        self.groupTemplate = groupTemplate
        self.readOnly = readOnly
        self.retentionDays = retentionDays
        self.readers = readers
        if readOnly {
            guard Posix.isDirectory(stateDirectory) else {
                throw StoreError(.noStore, "state directory \(stateDirectory) does not exist (or is not a directory)")
            }
            guard Posix.isDirectory(directory) else {
                throw StoreError(.noStore, "\(stateDirectory) holds no trailwatch store (no groups/ folder): is --state right?")
            }
        } else {
            do { try Posix.makeDirectories(directory) } catch let e as PosixError where e.errno == EROFS {
                throw StoreError(.readOnly, "state directory \(stateDirectory) is read-only (\(e)): cannot write the store")
            }
            do { try Posix.checkAccess(directory, W_OK) } catch {
                throw StoreError(.readOnly, "state directory \(stateDirectory) is read-only (\(error)): cannot write the store")
            }
            for p in [stateDirectory, directory] {
                if let id = Posix.identity(p) { identities.append((p, id)) }
            }
        }
    }

    /// Nil while the state directory, `groups/` and every open database are the files opened;
    /// else what changed. Deleted or replaced, the store would go on writing into unlinked files
    /// and lose everything from then on: the daemon checks this on a timer and stops.
    package func lostState() -> String? {
        let files = identities + open.values.compactMap { s in s.identity.map { (s.path, $0) } }
        for (path, id) in files {
            guard let now = Posix.identity(path) else { return "\(path) was deleted" }
            if now != id { return "\(path) was replaced by another file (inode \(id.inode) is now \(now.inode))" }
        }
        return nil
    }

    /// The store of `account`, opened once; a writable store gets the configured retention.
    package func account(_ account: String) throws -> AccountStore {
        if let s = open[account] { return s }
        let name = groupTemplate.replacingAll("{account}", with: account)
        let s: AccountStore
        do {
            s = try AccountStore(directory: directory, account: account, groupName: name, readOnly: readOnly, readers: readers)
        } catch {
            throw StoreError.storeWide(error, stateDirectory: stateDirectory) ?? error
        }
        // The configured retention applies to every group except one whose retention was set
        // through the API (PutRetentionPolicy/DeleteRetentionPolicy): that choice stands.
        if !readOnly, let days = retentionDays, try s.retentionSource() != "api", try s.retentionDays() != days {
            try s.setRetention(days: days)
        }
        open[account] = s
        return s
    }

    /// Every account store opened so far.
    package var opened: [AccountStore] { Array(open.values) }

    /// Accounts that have a database.
    package func accounts() -> [String] {
        Posix.list(directory).filter { $0.hasSuffix(".sqlite") }.map { String($0.dropLast(7)) }.sorted()
    }

    /// All groups, ASCII-sorted by name (DescribeLogGroups order).
    package func groups() throws -> [GroupInfo] {
        try accounts().map { try account($0).groupInfo() }.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
    }

    /// The account store holding group `name`.
    package func store(forGroup name: String) throws -> AccountStore {
        for a in accounts() {
            let s = try account(a)
            if s.groupName == name { return s }
        }
        throw StoreError(.resourceNotFound, "The specified log group does not exist: \(name)")
    }
}

extension StoreError {
    /// The store-wide condition behind a failed write, if it is one that every further file would
    /// hit too (a full disk, a read-only file system), as an error naming the state directory;
    /// nil for anything particular to one file.
    package static func storeWide(_ error: any Error, stateDirectory: String) -> StoreError? {
        if let e = error as? StoreError, e.code == .diskFull || e.code == .readOnly { return e }
        var full = false
        var readOnly = false
        if let e = error as? DatabaseError {
            full = e.resultCode == .SQLITE_FULL
            readOnly = e.resultCode == .SQLITE_READONLY
        } else if let e = error as? PosixError {
            full = e.errno == ENOSPC || e.errno == EDQUOT
            readOnly = e.errno == EROFS
        }
        if full {
            return StoreError(.diskFull, "the state directory \(stateDirectory) is full (\(error)): free space there, then run again")
        }
        if readOnly {
            return StoreError(.readOnly, "the state directory \(stateDirectory) is read-only (\(error)): trailwatch run needs to write there")
        }
        return nil
    }
}
