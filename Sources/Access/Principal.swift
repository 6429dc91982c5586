/// Which accounts' log groups a principal may read.
package enum AccountGrant: Sendable, Equatable {
    /// Every account, present and future.
    case all
    /// These 12-digit account ids only.
    case accounts(Set<String>)

    /// The grant as the access file writes it: `all`, or the ids sorted, comma-separated.
    package var text: String {
        switch self {
        case .all: return "all"
        case .accounts(let ids): return ids.sorted().joined(separator: ", ")
        }
    }
}

/// One caller of the API: its name, its access key, and what it may do. Built only by the access
/// file's parser (or `AccessFile.make`), so every value here was checked.
package struct Principal: Sendable, Equatable {
    /// The operator's name for it (`[name]` in the file), unique in the file.
    package var name: String
    /// The access key id clients sign with, unique in the file.
    package var accessKeyId: String
    /// The secret access key.
    package var secretAccessKey: String
    /// The accounts whose groups it may read.
    package var grant: AccountGrant
    /// May call PutRetentionPolicy and DeleteRetentionPolicy on the groups it may read.
    package var mayChangeRetention: Bool
    /// When the key was made (ISO 8601), as `access add` writes it; nil for keys written by hand.
    package var created: String?
    /// The line of its `[name]` header in the file (0 for one not read from a file).
    package var line: Int

    /// Whether it may read (and so see listed) the log group of `account`.
    package func mayRead(account: String) -> Bool {
        switch grant {
        case .all: return true
        case .accounts(let ids): return ids.contains(account)
        }
    }
}
