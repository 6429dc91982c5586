import Posix

/// Settings for ingest, from the config file and flags.
package struct IngestConfig: Sendable {
    /// A mirrored bucket: its root folder and its bucket name (the folder's name unless configured).
    package struct Root: Sendable, Equatable {
        package var path: String
        package var bucket: String
        package init(path: String, bucket: String? = nil) {
            self.path = path
            self.bucket = bucket ?? String(path.split(separator: "/").last ?? "bucket")
        }
    }
    package var roots: [Root]
    package var stateDirectory: String
    package var groupTemplate = "aws-cloudtrail-logs-{account}"
    /// A file that stays truncated or empty, unchanged, this long is declared failed.
    package var incompleteTimeout: Double = 600
    /// Full rescan period: catches what inotify cannot see (NFS, FUSE, files changed while stopped).
    package var rescanInterval: Double = 300
    /// Retention in days for every group (nil: never expire).
    package var retentionDays: Int? = nil
    /// `store = cloudwatch`: the local store is the spool of a forwarder, so retention keeps every
    /// block not yet forwarded, however old.
    package var keepUnforwarded = false
    /// Rule directories or files (`--rules`); empty: no rules.
    package var rulePaths: [String] = []
    /// Where `rulePaths` came from (named, the config file, installed, …), for the log line saying
    /// which rules are in force; with no paths, why none were found.
    package var rulesOrigin = "as named"
    /// How late (event time) an event may arrive and still count in a window.
    package var latenessMs: Int64 = 20 * 60_000
    /// Threads decoding files (inflate, split, rule matching); commits stay on one thread, in order.
    /// One per processor but the committer's (at least 1, at most 4): on 2 processors one decoder,
    /// which also takes the committer's rule matching whenever a decoded file waits for it.
    package var decoders = max(1, min(4, Posix.onlineProcessors - 1))
    /// Decoded files that may wait for the committer, and so commit together at most: those of one
    /// account found waiting commit in one transaction (1: a transaction per file, always).
    package var groupCommitFiles = 8
    /// When set, day folders (YYYY/MM/DD) older than this many days are not watched (the rescan still
    /// covers them, changes included): for mirrors whose folders exceed the kernel's watch limit.
    package var watchDays: Int? = nil
    /// `aws cloudtrail list-public-keys` output: enables continuous digest checks.
    package var keysPath: String? = nil
    /// How long after its hour a digest may come before it is overdue.
    package var digestSlackMs: Int64 = 30 * 60_000
    /// Bounds on one file's inflated size, record size and record count (gzip bombs).
    package var limits = DecodeLimits()
    /// Set when a bucket source downloads into a root: the ETags of the files it fetched.
    package var fetched: FetchedObjects? = nil

    package init(roots: [Root], stateDirectory: String) {
        self.roots = roots
        self.stateDirectory = stateDirectory
    }
}
