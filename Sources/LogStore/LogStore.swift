import CloudTrail
import Glibc

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
        if !readOnly { try FileSystem.makeDirectories(directory) }
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
        FileSystem.list(directory).filter { $0.hasSuffix(".sqlite") }.map { String($0.dropLast(7)) }.sorted()
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

/// Small file-system helpers over Glibc (no Foundation in the domain modules).
package enum FileSystem {
    package static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw StoreError(.invalidParameter, "cannot create \(current): \(String(cString: strerror(errno)))")
            }
        }
    }

    package static func list(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }
}

extension String {
    package func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
