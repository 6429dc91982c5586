import GRDB
import Posix

extension AccountStore {
    /// Who set the group's retention last: "api" when PutRetentionPolicy/DeleteRetentionPolicy did
    /// (the config file's `retention-days` then no longer overrides it), nil otherwise.
    package func retentionSource() throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'retention_source'") }
    }
}

extension LogStore {
    /// Sets (or, with nil, removes) the retention of `account`'s group on behalf of the API, in the
    /// row the daemon reads when it applies retention. Works on a store opened read-only: the
    /// database is opened for writing only for this one transaction (it must exist; nothing is
    /// created). Only CloudWatch's allowed day values are accepted.
    package func setRetentionPolicy(account: String, days: Int?) throws {
        if let days, !Retention.allowedDays.contains(days) {
            throw StoreError(
                .invalidParameter,
                "retentionInDays \(days) is not one of \(Retention.allowedDays.map(String.init).joined(separator: ", "))")
        }
        let path = "\(directory)/\(account).sqlite"
        guard Posix.identity(path) != nil else {
            throw StoreError(.resourceNotFound, "The specified log group does not exist.")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        let queue = try DatabaseQueue(path: path, configuration: config)
        try queue.write { db in
            if let days {
                try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('retention_days', ?)", arguments: [days])
            } else {
                try db.execute(sql: "DELETE FROM meta WHERE key = 'retention_days'")
            }
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('retention_source', 'api')")
        }
        try queue.close()
    }
}
