import CloudTrail
import FoundationEssentials

/// What one verification pass found; lines in the form of `aws cloudtrail validate-logs`.
public struct VerifyReport: Sendable {
    /// What a finding means, for alerts and status.
    public enum Kind: String, Sendable, CaseIterable {
        case valid, pending
        case logModified = "log-file-modified", logMissing = "log-file-missing", logUnlisted = "log-file-not-listed"
        case logInvalidFormat = "log-file-invalid-format"
        case digestMissing = "digest-missing", signatureInvalid = "digest-signature-invalid", chainBroken = "digest-chain-broken"
        case digestMoved = "digest-moved", keyMissing = "public-key-missing", digestInvalidFormat = "digest-invalid-format"
        case digestOverdue = "digest-overdue"
        case chainGap = "digest-chain-gap"

        /// One line for the catalog and alert messages.
        public var title: String {
            switch self {
            case .valid: return "valid"
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
    }

    /// Each line's kind, in the order of ``lines``.
    public var kinds: [Kind] = []
    /// For log-file lines, the digest that listed the file (empty otherwise).
    public var listedBy: [String] = []
    /// `(backfill) ` for lines of the backfill chain, as the CLI prints them.
    public var prefixes: [String] = []
    var currentPrefix = ""
    public var backfillValid = 0, backfillInvalid = 0
    /// Digests verified, and digests waiting for their signature.
    public var validDigests: [String] = []

    mutating func add(_ line: Line, _ kind: Kind, listedBy digest: String = "") {
        lines.append(line)
        kinds.append(kind)
        listedBy.append(digest)
        prefixes.append(currentPrefix)
    }

    /// Line `n` as printed, with its `(backfill) ` prefix if any.
    public func text(_ n: Int) -> String { prefixes[n] + lines[n].text }

    public enum Line: Sendable, Equatable {
        case digest(uri: String, status: String)
        case log(uri: String, status: String)
        case gap(from: String, to: String)

        public var isInvalid: Bool {
            switch self {
            case .digest(_, let s), .log(_, let s): return s.hasPrefix("INVALID")
            case .gap: return false
            }
        }

        public var text: String {
            switch self {
            case .digest(let u, let s): return "Digest file\t\(u)\t\(s)"
            case .log(let u, let s): return "Log file\t\(u)\t\(s)"
            case .gap(let a, let b): return "No log files were delivered by CloudTrail between \(a) and \(b)"
            }
        }
    }

    public var lines: [Line] = []
    public var digestsValid = 0, digestsInvalid = 0, digestsPending = 0
    public var logsValid = 0, logsInvalid = 0
    public var foundStart: String? = nil
    public var foundEnd: String? = nil

    public init() {}

    public var anyInvalid: Bool { digestsInvalid > 0 || logsInvalid > 0 || backfillInvalid > 0 }

    /// The summary block of the CLI.
    public func summary(requestedStart: String, requestedEnd: String) -> String {
        var s = "Results requested for \(requestedStart) to \(requestedEnd)\n"
        let total = digestsValid + digestsInvalid
        guard total > 0 || digestsPending > 0 else { return s + "No digests found\n" }
        if let a = foundStart, let b = foundEnd { s += "Results found for \(a) to \(b):\n" }
        func line(_ v: Int, _ i: Int, _ what: String) -> String {
            let t = v + i
            guard t > 0 else { return "" }
            return "\n\(v)/\(t) \(what) valid" + (i > 0 ? ", \(i)/\(t) \(what) INVALID" : "")
        }
        s += line(digestsValid, digestsInvalid, "digest files")
        s += line(backfillValid, backfillInvalid, "backfill digest files")
        if digestsPending > 0 { s += "\n\(digestsPending) digest files pending (signature comes with the next digest)" }
        s += line(logsValid, logsInvalid, "log files")
        return s + "\n"
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
/// region; file access goes through closures so the checks stay free of I/O.
public struct DigestChecker: Sendable {
    public var bucket: String
    public var keys: PublicKeyRing
    public var strict = true

    public init(bucket: String, keys: PublicKeyRing) {
        self.bucket = bucket
        self.keys = keys
    }

    func uri(_ key: String) -> String { "s3://\(bucket)/\(key)" }

    /// One chain (standard or backfill) of one account and region, oldest first.
    func checkChain(
        _ chain: [DigestOnDisk], backfill: Bool, report: inout VerifyReport, listed: inout Set<String>,
        coveredStart: inout String?, coveredEnd: inout String?, verbose: Bool, logHash: (_ path: String, _ expected: String, _ listedBy: String) -> String??
    ) {
        let sorted = chain.sorted { $0.key.timestamp < $1.key.timestamp }
        let parsed: [DigestFile?] = sorted.map { try? DigestFile(gzip: $0.bytes) }
        report.currentPrefix = backfill ? "(backfill) " : ""
        defer { report.currentPrefix = "" }
        func invalid() { if backfill { report.backfillInvalid += 1 } else { report.digestsInvalid += 1 } }
        for (i, d) in sorted.enumerated() {
            let u = uri(d.relativePath)
            guard let digest = parsed[i] else {
                report.add(.digest(uri: u, status: "INVALID: invalid format"), .digestInvalidFormat)
                invalid()
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
                            report.add(.digest(uri: uri(prevObject), status: "INVALID: previousDigestHashValue in the next digest doesn't match (chain broken)"), .chainBroken)
                            invalid()
                        }
                        if let sig = sorted[j].signature, let ps = digest.previousSignature, sig != ps {
                            report.add(.digest(uri: uri(prevObject), status: "INVALID: previousDigestSignature in the next digest doesn't match its signature (chain broken)"), .chainBroken)
                            invalid()
                        }
                    }
                } else if i > 0 || strict {
                    report.add(.digest(uri: uri(prevObject), status: "INVALID: not found"), .digestMissing)
                    invalid()
                }
            } else if i > 0, let older = parsed[i - 1] {
                report.add(.gap(from: older.endTime, to: digest.startTime), .chainGap)
            }
            guard d.relativePath == digest.object && digest.bucket == bucket else {
                report.add(.digest(uri: u, status: "INVALID: has been moved from its original location"), .digestMoved)
                invalid()
                continue
            }
            guard let key = keys[digest.fingerprint] else {
                report.add(.digest(uri: u, status: "INVALID: public key not found in region \(d.key.region) for fingerprint \(digest.fingerprint)"), .keyMissing)
                invalid()
                continue
            }
            // The signature: the sidecar, else the next digest's previousDigestSignature (offline method).
            var signature = d.signature
            if signature == nil, i + 1 < sorted.count, let next = parsed[i + 1], next.previousObject == d.relativePath {
                signature = next.previousSignature
            }
            guard let signature else {
                report.add(.digest(uri: u, status: "PENDING: no signature yet (it comes with the next digest)"), .pending)
                report.digestsPending += 1
                continue
            }
            guard digest.verify(signatureHex: signature, key: key.key) else {
                report.add(.digest(uri: u, status: "INVALID: signature verification failed"), .signatureInvalid)
                invalid()
                continue
            }
            if backfill { report.backfillValid += 1 } else { report.digestsValid += 1 }
            report.add(.digest(uri: u, status: "valid"), .valid)
            report.validDigests.append(d.relativePath)
            for log in digest.logFiles {
                let lu = "s3://\(log.s3Bucket)/\(log.s3Object)"
                switch logHash(log.s3Object, log.hashValue, d.relativePath) {
                case .none:
                    report.add(.log(uri: lu, status: "INVALID: not found"), .logMissing, listedBy: u)
                    report.logsInvalid += 1
                case .some(.none):
                    report.add(.log(uri: lu, status: "INVALID: invalid format"), .logInvalidFormat, listedBy: u)
                    report.logsInvalid += 1
                case .some(.some(let h)) where h != log.hashValue:
                    report.add(.log(uri: lu, status: "INVALID: hash value doesn't match"), .logModified, listedBy: u)
                    report.logsInvalid += 1
                case .some(.some):
                    report.logsValid += 1
                    if verbose { report.add(.log(uri: lu, status: "valid"), .valid, listedBy: u) }
                }
            }
        }
    }

    /// Verifies `digests` (one account and region, any order) and the logs they list.
    /// `logHash(path, expected, digest)` returns the SHA-256 of a log file's uncompressed content (nil when
    /// missing, .some(nil) when unreadable); `logsOnDisk` are the log files present, to find unlisted ones.
    public func check(
        _ digests: [DigestOnDisk], logsOnDisk: [String], verbose: Bool, logHash: (_ path: String, _ expected: String, _ listedBy: String) -> String??
    ) -> VerifyReport {
        var report = VerifyReport()
        var listed = Set<String>()
        var coveredStart: String? = nil
        var coveredEnd: String? = nil
        checkChain(
            digests.filter { !$0.key.isBackfill }, backfill: false, report: &report, listed: &listed, coveredStart: &coveredStart,
            coveredEnd: &coveredEnd, verbose: verbose, logHash: logHash)
        checkChain(
            digests.filter { $0.key.isBackfill }, backfill: true, report: &report, listed: &listed, coveredStart: &coveredStart,
            coveredEnd: &coveredEnd, verbose: verbose, logHash: logHash)
        // Stricter: a log file delivered inside the covered hours but listed by no digest.
        if strict, let a = coveredStart.flatMap(Timestamp.parseISO8601), let b = coveredEnd.flatMap(Timestamp.parseISO8601) {
            for path in logsOnDisk.sorted() where !listed.contains(path) {
                guard case .log(let k) = ObjectKeyParser.classify(path), k.deliveryTime >= a, k.deliveryTime < b else { continue }
                report.add(.log(uri: uri(path), status: "INVALID: not listed in any digest"), .logUnlisted)
                report.logsInvalid += 1
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
