import CloudTrail

/// A delivered log file, decoded and ready to commit: its bytes as delivered (stored as one block)
/// plus one entry per record. Plain data: rule matching belongs to Ingest, not the store.
package struct DecodedFile: Sendable {
    /// `<bucket>/<key>`: the ledger's key for this file.
    package var ledgerKey: String
    package var key: LogFileKey
    /// Size and modification time seen when it was read (ms), kept in the ledger.
    package var size: Int64
    package var mtime: Int64
    /// The delivered `.json.gz` bytes, stored unchanged as the block.
    package var compressed: [UInt8]
    package var uncompressedSize: Int
    /// Records in file order.
    package var records: [Record]
    /// Records that lacked `eventTime` or `eventID` (kept; timestamp or key derived).
    package var missingFields: Int
    /// Records over CloudWatch's 256 KB event size (kept).
    package var oversized: Int
    /// Elements of `Records` that were not JSON objects (skipped).
    package var skippedElements: Int
    /// Records that are not valid JSON, or hold bytes that are not UTF-8 (both kept, as delivered),
    /// and where the first few of them are.
    package var invalidRecords = 0
    package var nonUTF8Records = 0
    package var recordProblems: [RecordProblem] = []
    /// The S3 ETag when the file was fetched from a bucket, kept in its ledger row.
    package var etag: String? = nil

    package struct Record: Sendable {
        package var entry: BlockEntry
        package var eventKey: EventKey

        package init(entry: BlockEntry, eventKey: EventKey) {
            self.entry = entry
            self.eventKey = eventKey
        }
    }

    package init(
        ledgerKey: String, key: LogFileKey, size: Int64, mtime: Int64, compressed: [UInt8], uncompressedSize: Int,
        records: [Record], missingFields: Int = 0, oversized: Int = 0, skippedElements: Int = 0
    ) {
        self.ledgerKey = ledgerKey
        self.key = key
        self.size = size
        self.mtime = mtime
        self.compressed = compressed
        self.uncompressedSize = uncompressedSize
        self.records = records
        self.missingFields = missingFields
        self.oversized = oversized
        self.skippedElements = skippedElements
    }
}

/// What committing one file did.
package struct CommitResult: Sendable, Equatable {
    package var stored: Int
    package var duplicates: Int
    /// False when the ledger already held the file (nothing was written).
    package var committed: Bool
    /// Set when the file had been taken before with other content (rewritten in place).
    package var rewrite: Rewrite?
    /// True when the file had been taken before and only its size or mtime changed, not its bytes
    /// (nothing stored; the ledger notes the new mtime).
    package var sameContent: Bool

    package init(stored: Int, duplicates: Int, committed: Bool, rewrite: Rewrite? = nil, sameContent: Bool = false) {
        self.stored = stored
        self.duplicates = duplicates
        self.committed = committed
        self.rewrite = rewrite
        self.sameContent = sameContent
    }
}

/// A ledger row: what happened to one file.
package struct LedgerEntry: Sendable, Equatable {
    package enum Status: String, Sendable { case done, failed }
    package var path: String
    package var status: Status
    package var size: Int64
    package var mtime: Int64
    package var reason: String?
    /// The S3 ETag of a file fetched from a bucket (nil for a mirrored file, or when not known).
    package var etag: String?

    package init(path: String, status: Status, size: Int64, mtime: Int64, reason: String? = nil, etag: String? = nil) {
        self.path = path
        self.status = status
        self.size = size
        self.mtime = mtime
        self.reason = reason
        self.etag = etag
    }
}

/// CloudWatch Logs' allowed retention values, in days.
package enum Retention {
    package static let allowedDays: [Int] = [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
    ]
}

/// CloudWatch Logs' maximum event size: larger records are kept but counted.
package let maxEventBytes = 256 * 1024

/// An error from the store, with a code callers and tests can match.
package struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Code: String, Sendable {
        case resourceNotFound = "ResourceNotFoundException"
        case invalidParameter = "InvalidParameterException"
        case corruptBlock = "CorruptBlock"
        /// `--state` names no directory, or one without a trailwatch store.
        case noStore = "NoStore"
        /// The state lies on a read-only file system (or is otherwise not writable).
        case readOnly = "ReadOnly"
        /// The state directory's file system is full.
        case diskFull = "DiskFull"
        /// The state directory (or a database in it) was deleted or replaced while running.
        case stateLost = "StateLost"
    }
    package var code: Code
    package var message: String
    package var description: String { "\(code.rawValue): \(message)" }

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
