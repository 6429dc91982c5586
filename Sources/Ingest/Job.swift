import CloudTrail
import LogStore

/// A file ready to decode.
struct Job: Sendable {
    var found: FoundFile
    var readPath: String
    var ledgerKey: String
    var key: LogFileKey
    /// The ledger row when the file was taken before and has changed on disk since (rewritten in place).
    var previous: LedgerEntry? = nil
    /// The S3 ETag when a bucket source fetched the file (kept in its ledger row).
    var etag: String? = nil
}
