/// One thing a verification pass established about a digest, a log file a digest lists, or the
/// chain between digests: values, so the CLI can print them and the daemon alert on them without
/// either taking text apart.
public struct IntegrityFinding: Sendable, Equatable, Hashable {
    /// What was found. The raw values name the daemon's built-in alerts (`integrity-<raw value>`).
    public enum Kind: String, Sendable, CaseIterable {
        case digestValid = "digest-valid", logValid = "log-file-valid", pending
        case logModified = "log-file-modified", logMissing = "log-file-missing", logUnlisted = "log-file-not-listed"
        case logInvalidFormat = "log-file-invalid-format"
        case digestMissing = "digest-missing", signatureInvalid = "digest-signature-invalid", chainBroken = "digest-chain-broken"
        case digestMoved = "digest-moved", keyMissing = "public-key-missing", digestInvalidFormat = "digest-invalid-format"
        /// Never found by a pass over the files: the daemon's clock says a digest should have come.
        case digestOverdue = "digest-overdue"
        case chainGap = "digest-chain-gap"

        /// One line for the catalog and alert messages.
        public var title: String {
            switch self {
            case .digestValid: return "CloudTrail digest valid"
            case .logValid: return "CloudTrail log file valid"
            case .pending: return "digest signature pending"
            case .logModified: return "CloudTrail log file modified"
            case .logMissing: return "CloudTrail log file missing"
            case .logUnlisted: return "CloudTrail log file not listed in any digest"
            case .logInvalidFormat: return "CloudTrail log file unreadable"
            case .digestMissing: return "CloudTrail digest missing"
            case .signatureInvalid: return "CloudTrail digest signature invalid"
            case .chainBroken: return "CloudTrail digest chain broken"
            case .digestMoved: return "CloudTrail digest moved from its original location"
            case .keyMissing: return "CloudTrail public key missing"
            case .digestInvalidFormat: return "CloudTrail digest unreadable"
            case .digestOverdue: return "CloudTrail digest overdue"
            case .chainGap: return "CloudTrail digest chain gap (logging stopped and restarted?)"
            }
        }

        /// The finding is about a log file (its key is a log file's), not a digest or the chain.
        public var isLog: Bool { [.logValid, .logModified, .logMissing, .logUnlisted, .logInvalidFormat].contains(self) }

        /// The file cannot be trusted (`INVALID` in the CLI); a gap, a pending signature or an
        /// overdue digest are worth knowing but say nothing against the files present.
        public var isInvalid: Bool { ![.digestValid, .logValid, .pending, .chainGap, .digestOverdue].contains(self) }

        /// The daemon raises an alert for it: anything but valid and pending.
        public var isAlert: Bool { ![.digestValid, .logValid, .pending].contains(self) }
    }

    /// Which field of the next digest disagrees with the digest it names (a broken chain).
    public enum Link: Sendable, Equatable, Hashable {
        case previousHash, previousSignature
    }

    public var kind: Kind
    /// True for the backfill chain (CloudTrail's `_backfill` digests), which chains on its own.
    public var backfill: Bool
    /// The bucket and key of the file the finding is about: the digest, or the log file as its digest
    /// lists it. For a gap, the digest that starts the chain again.
    public var bucket: String
    public var key: String
    /// The account and region of the digests checked (from their keys).
    public var account: String
    public var region: String
    /// For a log file a digest lists: that digest's key (in the checked bucket); nil otherwise.
    public var listedBy: String?
    /// The hours the finding covers: a readable digest's `digestStartTime` and `digestEndTime`; for a
    /// gap, the older digest's end and the newer one's start. Nil for log files and unreadable or absent digests.
    public var start: String?
    public var end: String?
    /// A missing public key: the fingerprint the digest names.
    public var fingerprint: String?
    /// A broken chain: which link of the next digest does not match.
    public var link: Link?

    public init(
        _ kind: Kind, backfill: Bool = false, bucket: String, key: String, account: String, region: String, listedBy: String? = nil,
        start: String? = nil, end: String? = nil, fingerprint: String? = nil, link: Link? = nil
    ) {
        self.kind = kind
        self.backfill = backfill
        self.bucket = bucket
        self.key = key
        self.account = account
        self.region = region
        self.listedBy = listedBy
        self.start = start
        self.end = end
        self.fingerprint = fingerprint
        self.link = link
    }

    /// `s3://bucket/key`.
    public var uri: String { "s3://\(bucket)/\(key)" }

    /// Why the file cannot be trusted, in the words of `aws cloudtrail validate-logs` ("hash value
    /// doesn't match"); nil when it can, or for a gap.
    public var reason: String? {
        switch kind {
        case .digestValid, .logValid, .pending, .chainGap, .digestOverdue: return nil
        case .logModified: return "hash value doesn't match"
        case .logMissing, .digestMissing: return "not found"
        case .logUnlisted: return "not listed in any digest"
        case .logInvalidFormat, .digestInvalidFormat: return "invalid format"
        case .signatureInvalid: return "signature verification failed"
        case .chainBroken:
            return link == .previousSignature
                ? "previousDigestSignature in the next digest doesn't match its signature (chain broken)"
                : "previousDigestHashValue in the next digest doesn't match (chain broken)"
        case .digestMoved: return "has been moved from its original location"
        case .keyMissing: return "public key not found in region \(region) for fingerprint \(fingerprint ?? "")"
        }
    }

    /// The status column of `validate-logs`: `valid`, `PENDING: …`, or `INVALID: ` and the ``reason``.
    public var status: String {
        switch kind {
        case .digestValid, .logValid: return "valid"
        case .pending: return "PENDING: no signature yet (it comes with the next digest)"
        default: return reason.map { "INVALID: " + $0 } ?? ""
        }
    }
}
