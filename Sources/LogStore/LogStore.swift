import CloudTrail
import Posix

/// The store for all accounts: one SQLite database, one log group, per account under `<state>/groups/`.
package final class LogStore: @unchecked Sendable {
    package let directory: String
    /// Group name template; `{account}` is replaced by the account id.
    package let groupTemplate: String
    private var open: [String: AccountStore] = [:]
    private let readOnly: Bool

    package init(stateDirectory: String, groupTemplate: String = "aws-cloudtrail-logs-{account}", readOnly: Bool = false)
        throws
    {
        directory = stateDirectory + "/groups"
        self.groupTemplate = groupTemplate
        self.readOnly = readOnly
        if !readOnly { try Posix.makeDirectories(directory) }
    }

    /// The store of `account`, opened once.
    package func account(_ account: String) throws -> AccountStore {
        if let s = open[account] { return s }
        let name = groupTemplate.replacingAll("{account}", with: account)
        let s = try AccountStore(directory: directory, account: account, groupName: name, readOnly: readOnly)
        open[account] = s
        return s
    }

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

