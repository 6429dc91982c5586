import Synchronization

/// The S3 ETags of files a bucket source (`logs = s3://…`) has just downloaded into a cache root,
/// by ledger key: the watcher puts each on its job, so the file's ledger row keeps it and a later
/// notification naming the same key and ETag is known as taken without a download.
///
/// Shared between the source (which notes an ETag before it renames the file into place) and the
/// ingest loop; an entry goes when the file is settled. Lost on a restart: a file left in the cache
/// by a killed process is then ledgered without its ETag, which counts as taken (see docs/s3.md).
package final class FetchedObjects: Sendable {
    private let tags = Mutex<[String: String]>([:])

    package init() {}

    /// Notes the ETag of the file that will appear under `ledgerKey`.
    package func note(_ ledgerKey: String, etag: String) { tags.withLock { $0[ledgerKey] = etag } }

    /// The ETag noted for `ledgerKey`, if any.
    package func etag(_ ledgerKey: String) -> String? { tags.withLock { $0[ledgerKey] } }

    /// Forgets `ledgerKey` (settled, or its download failed).
    package func forget(_ ledgerKey: String) { tags.withLock { _ = $0.removeValue(forKey: ledgerKey) } }
}

/// A file the loop has finished with: in the ledger as done or failed (what the S3 source waits for
/// before it deletes the SQS message that named it).
package struct SettledFile: Sendable, Equatable {
    package var ledgerKey: String
    package var done: Bool
    package init(ledgerKey: String, done: Bool) {
        self.ledgerKey = ledgerKey
        self.done = done
    }
}
