import CloudTrail
import FoundationEssentials

/// What one verification pass found: the findings in order (digests oldest first, each followed by
/// its log files; the backfill chain after the standard one; unlisted log files last), and the
/// counts of the summary.
public struct VerifyReport: Sendable {
    /// Every finding but valid log files (unless asked for), in the order above.
    public var findings: [IntegrityFinding] = []
    /// Digests of the standard chain valid and invalid (a digest counts once per invalid finding),
    /// digests waiting for their signature (either chain), and backfill digests valid and invalid.
    public var digestsValid = 0, digestsInvalid = 0, digestsPending = 0
    public var backfillValid = 0, backfillInvalid = 0
    /// Log files whose hash matched (counted even when their findings are left out) and invalid ones.
    public var logsValid = 0, logsInvalid = 0
    /// The hours the readable digests cover (`digestStartTime` of the oldest, `digestEndTime` of the newest).
    public var foundStart: String? = nil
    public var foundEnd: String? = nil

    public init() {}

    public var anyInvalid: Bool { digestsInvalid > 0 || logsInvalid > 0 || backfillInvalid > 0 }

    /// Keys of the digests verified in this pass.
    public var validDigests: Set<String> { Set(findings.lazy.filter { $0.kind == .digestValid }.map(\.key)) }

    /// Counts a finding, and keeps it unless `keep` is false (a valid log file nobody asked to see).
    mutating func record(_ f: IntegrityFinding, keep: Bool = true) {
        switch f.kind {
        case .digestValid: if f.backfill { backfillValid += 1 } else { digestsValid += 1 }
        case .pending: digestsPending += 1
        case .logValid: logsValid += 1
        case .chainGap, .digestOverdue: break
        case _ where f.kind.isLog: logsInvalid += 1
        default: if f.backfill { backfillInvalid += 1 } else { digestsInvalid += 1 }
        }
        if keep { findings.append(f) }
    }

    /// Adds another pass's findings and counts (another account or region) to this one.
    public mutating func merge(_ other: VerifyReport) {
        findings += other.findings
        digestsValid += other.digestsValid
        digestsInvalid += other.digestsInvalid
        digestsPending += other.digestsPending
        backfillValid += other.backfillValid
        backfillInvalid += other.backfillInvalid
        logsValid += other.logsValid
        logsInvalid += other.logsInvalid
        if let a = other.foundStart { foundStart = min(foundStart ?? a, a) }
        if let b = other.foundEnd { foundEnd = max(foundEnd ?? b, b) }
    }
}

/// A digest found on disk.
public struct DigestOnDisk: Sendable {
    public var key: DigestFileKey
    public var relativePath: String
    public var bytes: [UInt8]
    /// From a `.metadata.json` sidecar (or extended attributes), when the mirror kept it.
    public var signature: String?

    public init(key: DigestFileKey, relativePath: String, bytes: [UInt8], signature: String?) {
        self.key = key
        self.relativePath = relativePath
        self.bytes = bytes
        self.signature = signature
    }
}

/// Checks digests (signature, location, chain) and the log files they list, for one account and
/// region; file access goes through closures so the checks stay free of I/O. The result is a
/// ``VerifyReport`` of ``IntegrityFinding`` values, for the CLI to print and the daemon to alert on.
public struct DigestChecker: Sendable {
    /// The bucket the digests must name (a digest elsewhere has been moved).
    public var bucket: String
    public var keys: PublicKeyRing
    /// Stricter than `validate-logs`: chain links of hash and signature, the first digest's missing
    /// predecessor, and log files no digest lists.
    public var strict = true

    public init(bucket: String, keys: PublicKeyRing) {
        self.bucket = bucket
        self.keys = keys
    }

    /// One chain (standard or backfill) of one account and region, oldest first.
    func checkChain(
        _ chain: [DigestOnDisk], backfill: Bool, report: inout VerifyReport, listed: inout Set<String>,
        coveredStart: inout String?, coveredEnd: inout String?, listValidLogs: Bool,
        logHash: (_ path: String, _ expected: String, _ listedBy: String) -> String??
    ) {
        let sorted = chain.sorted { $0.key.timestamp < $1.key.timestamp }
        let parsed: [DigestFile?] = sorted.map { try? DigestFile(gzip: $0.bytes) }
        for (i, d) in sorted.enumerated() {
            /// A finding about a digest of this chain (or one it names), in the checked bucket.
            func finding(_ kind: IntegrityFinding.Kind, key: String = d.relativePath, span: DigestFile? = nil) -> IntegrityFinding {
                IntegrityFinding(
                    kind, backfill: backfill, bucket: bucket, key: key, account: d.key.account, region: d.key.region,
                    start: span?.startTime, end: span?.endTime)
            }
            guard let digest = parsed[i] else {
                report.record(finding(.digestInvalidFormat))
                continue
            }
            coveredStart = min(coveredStart ?? digest.startTime, digest.startTime)
            coveredEnd = max(coveredEnd ?? digest.endTime, digest.endTime)
            // Listed means named by a readable digest, valid or not (coverage, not trust).
            for log in digest.logFiles { listed.insert(log.s3Object) }
            // The previous link: gap, missing digest, or (stricter) hash and signature mismatches.
            if let prevObject = digest.previousObject {
                if let j = sorted.firstIndex(where: { $0.relativePath == prevObject }) {
                    if strict, let prev = parsed[j] {
                        if let h = digest.previousHash, h != prev.hash {
                            var f = finding(.chainBroken, key: prevObject, span: prev)
                            f.link = .previousHash
                            report.record(f)
                        }
                        if let sig = sorted[j].signature, let ps = digest.previousSignature, sig != ps {
                            var f = finding(.chainBroken, key: prevObject, span: prev)
                            f.link = .previousSignature
                            report.record(f)
                        }
                    }
                } else if i > 0 || strict {
                    report.record(finding(.digestMissing, key: prevObject))
                }
            } else if i > 0, let older = parsed[i - 1] {
                var f = finding(.chainGap)
                (f.start, f.end) = (older.endTime, digest.startTime)
                report.record(f)
            }
            guard d.relativePath == digest.object && digest.bucket == bucket else {
                report.record(finding(.digestMoved, span: digest))
                continue
            }
            guard let key = keys[digest.fingerprint] else {
                var f = finding(.keyMissing, span: digest)
                f.fingerprint = digest.fingerprint
                report.record(f)
                continue
            }
            // The signature: the sidecar, else the next digest's previousDigestSignature (offline method).
            var signature = d.signature
            if signature == nil, i + 1 < sorted.count, let next = parsed[i + 1], next.previousObject == d.relativePath {
                signature = next.previousSignature
            }
            guard let signature else {
                report.record(finding(.pending, span: digest))
                continue
            }
            guard digest.verify(signatureHex: signature, key: key.key) else {
                report.record(finding(.signatureInvalid, span: digest))
                continue
            }
            report.record(finding(.digestValid, span: digest))
            for log in digest.logFiles {
                let kind: IntegrityFinding.Kind
                switch logHash(log.s3Object, log.hashValue, d.relativePath) {
                case .none: kind = .logMissing
                case .some(.none): kind = .logInvalidFormat
                case .some(.some(let h)) where h != log.hashValue: kind = .logModified
                case .some(.some): kind = .logValid
                }
                let f = IntegrityFinding(
                    kind, backfill: backfill, bucket: log.s3Bucket, key: log.s3Object, account: d.key.account, region: d.key.region,
                    listedBy: d.relativePath)
                report.record(f, keep: kind != .logValid || listValidLogs)
            }
        }
    }

    /// Verifies `digests` (one account and region, any order) and the logs they list.
    /// `logHash(path, expected, digest)` returns the SHA-256 of a log file's uncompressed content (nil when
    /// missing, .some(nil) when unreadable); `logsOnDisk` are the log files present, to find unlisted ones.
    /// Log files that match are counted, and listed as findings only with `listValidLogs` (a bucket holds many).
    public func check(
        _ digests: [DigestOnDisk], logsOnDisk: [String], listValidLogs: Bool,
        logHash: (_ path: String, _ expected: String, _ listedBy: String) -> String??
    ) -> VerifyReport {
        var report = VerifyReport()
        var listed = Set<String>()
        var coveredStart: String? = nil
        var coveredEnd: String? = nil
        checkChain(
            digests.filter { !$0.key.isBackfill }, backfill: false, report: &report, listed: &listed, coveredStart: &coveredStart,
            coveredEnd: &coveredEnd, listValidLogs: listValidLogs, logHash: logHash)
        checkChain(
            digests.filter { $0.key.isBackfill }, backfill: true, report: &report, listed: &listed, coveredStart: &coveredStart,
            coveredEnd: &coveredEnd, listValidLogs: listValidLogs, logHash: logHash)
        // Stricter: a log file delivered inside the covered hours but listed by no digest.
        if strict, let a = coveredStart.flatMap(Timestamp.parseISO8601), let b = coveredEnd.flatMap(Timestamp.parseISO8601) {
            for path in logsOnDisk.sorted() where !listed.contains(path) {
                guard case .log(let k) = ObjectKeyParser.classify(path), k.deliveryTime >= a, k.deliveryTime < b else { continue }
                report.record(IntegrityFinding(.logUnlisted, bucket: bucket, key: path, account: k.account, region: k.region))
            }
        }
        report.foundStart = coveredStart
        report.foundEnd = coveredEnd
        return report
    }
}

extension DigestChecker {
    /// The buckets the digests say they were written to, asking the oldest readable digest of each
    /// account and region: a mirror copied under another folder name is checked against the bucket
    /// its digests name (one name), instead of every digest looking moved.
    public static func bucketsNamed(by groups: some Sequence<[DigestOnDisk]>) -> Set<String> {
        var names = Set<String>()
        for group in groups {
            for d in group.sorted(by: { $0.key.timestamp < $1.key.timestamp }) {
                if let parsed = try? DigestFile(gzip: d.bytes) {
                    names.insert(parsed.bucket)
                    break
                }
            }
        }
        return names
    }
}
