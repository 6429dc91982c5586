/// What a path inside a bucket mirror is, judged by its key alone: CloudTrail names every object
/// `[prefix/]AWSLogs/[o-org/]account/CloudTrail[-Digest|-Insight]/region/YYYY/MM/DD/name`.
///
/// Parsing never touches the file system, so the watcher, the scanner and the tests share one
/// definition of "a CloudTrail log file".
public enum ObjectKind: Sendable, Equatable {
    /// A delivered log file, `…/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<ts>_<unique>.json.gz`.
    case log(LogFileKey)
    /// An hourly digest file under `CloudTrail-Digest/`; set aside for integrity checks.
    case digest(DigestFileKey)
    /// A metadata sidecar (`<digest>.metadata.json`) a mirroring tool wrote beside a digest.
    case digestSidecar(digestPath: String)
    /// A CloudTrail Insights file: same envelope, different records; not ingested as logs.
    case insight(account: String, region: String)
    /// A mirroring tool's temporary name (for example `x.json.gz.partial`, `.x.json.gz.AbC123`):
    /// the real file arrives by rename.
    case temporary
    /// Anything else; `reason` says why it is not a log file.
    case other(reason: String)
}

/// The parts of a log file's key.
public struct LogFileKey: Sendable, Equatable, Hashable {
    /// Everything before `AWSLogs/`, without the trailing slash (may be empty or contain `/`).
    public var prefix: String
    /// The organization id (`o-…`) for organization trails, else nil.
    public var organizationID: String?
    public var account: String
    public var region: String
    /// The delivery time in the name, epoch milliseconds (minute precision).
    public var deliveryTime: Int64
    /// The 16-character unique part of the name.
    public var unique: String
    /// The file name itself.
    public var fileName: String

    public init(
        prefix: String, organizationID: String?, account: String, region: String, deliveryTime: Int64, unique: String,
        fileName: String
    ) {
        self.prefix = prefix
        self.organizationID = organizationID
        self.account = account
        self.region = region
        self.deliveryTime = deliveryTime
        self.unique = unique
        self.fileName = fileName
    }

    /// The CloudWatch Logs stream CloudTrail would deliver this file's events to.
    public var streamName: String { "\(account)_CloudTrail_\(region)" }
}

/// The parts of a digest file's key,
/// `…/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home-region>_<YYYYMMDDTHHmmssZ>.json.gz`.
public struct DigestFileKey: Sendable, Equatable, Hashable {
    public var prefix: String
    public var organizationID: String?
    public var account: String
    /// The region whose logs the digest covers (from the folder).
    public var region: String
    /// The digest end time in the name, `YYYYMMDDTHHmmssZ`.
    public var timestamp: String
    public var isBackfill: Bool
    public var fileName: String
}

public enum ObjectKeyParser {
    /// Classifies a key relative to the bucket root (components separated by `/`).
    public static func classify(_ relativePath: String) -> ObjectKind {
        let parts = relativePath.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.last, !name.isEmpty else { return .other(reason: "a folder object") }
        if isTemporaryName(name) { return .temporary }
        guard let awsIndex = parts.firstIndex(of: "AWSLogs") else {
            return .other(reason: "not under AWSLogs/")
        }
        let prefix = parts[..<awsIndex].joined(separator: "/")
        var i = awsIndex + 1
        var org: String? = nil
        if i < parts.count, isOrganizationID(parts[i]) {
            org = parts[i]
            i += 1
        }
        guard i + 6 < parts.count || (i + 1 < parts.count && parts[i + 1] == "CloudTrail-Digest") else {
            return .other(reason: "path too short for a CloudTrail key")
        }
        let account = parts[i]
        guard isAccountID(account) else { return .other(reason: "'\(account)' is not a 12-digit account id") }
        let kindFolder = parts[i + 1]
        guard parts.count == i + 7 else {
            return .other(reason: "unexpected folder depth under \(kindFolder)/")
        }
        let region = parts[i + 2]
        let (yyyy, mm, dd) = (parts[i + 3], parts[i + 4], parts[i + 5])
        guard isDigits(yyyy, 4), isDigits(mm, 2), isDigits(dd, 2) else {
            return .other(reason: "date folders are not YYYY/MM/DD")
        }
        switch kindFolder {
        case "CloudTrail":
            guard let parsed = parseLogName(name, infix: "CloudTrail") else {
                return .other(reason: "file name does not match <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz")
            }
            guard parsed.account == account, parsed.region == region else {
                return .other(reason: "file name's account or region differs from its folders")
            }
            return .log(
                LogFileKey(
                    prefix: prefix, organizationID: org, account: account, region: region,
                    deliveryTime: parsed.time, unique: parsed.unique, fileName: name))
        case "CloudTrail-Insight":
            guard parseLogName(name, infix: "CloudTrail-Insight") != nil else {
                return .other(reason: "unrecognised Insights file name")
            }
            return .insight(account: account, region: region)
        case "CloudTrail-Digest":
            if name.hasSuffix(".json.gz.metadata.json") {
                return .digestSidecar(digestPath: String(relativePath.dropLast(".metadata.json".count)))
            }
            guard let d = parseDigestName(name, account: account) else {
                return .other(reason: "unrecognised digest file name")
            }
            return .digest(
                DigestFileKey(
                    prefix: prefix, organizationID: org, account: account, region: region,
                    timestamp: d.timestamp, isBackfill: d.backfill, fileName: name))
        default:
            return .other(reason: "unknown folder '\(kindFolder)' under the account")
        }
    }

    /// True for names mirroring tools use while a download is in progress.
    public static func isTemporaryName(_ name: String) -> Bool {
        if name.hasPrefix(".") { return true }  // rsync, aws s3 sync style hidden temp files
        for suffix in [".partial", ".tmp", ".part", ".download", ".crdownload", "~"] where name.hasSuffix(suffix) {
            return true
        }
        // `aws s3 cp/sync` writes `<name>.<random>` next to the target before renaming it.
        guard !name.hasSuffix(".metadata.json") else { return false }
        let u = Array(name.utf8)
        let marker = Array(".json.gz.".utf8)
        guard u.count > marker.count else { return false }
        for i in 0..<(u.count - marker.count) where Array(u[i..<(i + marker.count)]) == marker { return true }
        return false
    }

    static func isOrganizationID(_ s: String) -> Bool {
        guard s.hasPrefix("o-"), (12...34).contains(s.utf8.count) else { return false }
        return s.utf8.dropFirst(2).allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) }
    }

    static func isAccountID(_ s: String) -> Bool { isDigits(s, 12) }

    static func isDigits(_ s: String, _ n: Int) -> Bool {
        s.utf8.count == n && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    /// `<account>_<infix>_<region>_<YYYYMMDDTHHmmZ>[_]<unique16>.json.gz`, anchored on the infix.
    static func parseLogName(_ name: String, infix: String) -> (account: String, region: String, time: Int64, unique: String)? {
        guard name.hasSuffix(".json.gz") else { return nil }
        let stem = Array(name.utf8.dropLast(8))
        let marker = Array("_\(infix)_".utf8)
        guard stem.count > 12 + marker.count, Array(stem[12..<(12 + marker.count)]) == marker else { return nil }
        let account = String(decoding: stem[0..<12], as: UTF8.self)
        guard isAccountID(account) else { return nil }
        // The tail is `<region>_<YYYYMMDDTHHmmZ>[_]<unique16>`: anchor on the timestamp.
        let rest = Array(stem[(12 + marker.count)...])
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        var p = 1
        while p + 14 <= rest.count {
            if rest[p - 1] == UInt8(ascii: "_"), rest[p + 8] == UInt8(ascii: "T"), rest[p + 13] == UInt8(ascii: "Z"),
                rest[p..<(p + 8)].allSatisfy(isDigit), rest[(p + 9)..<(p + 13)].allSatisfy(isDigit)
            {
                break
            }
            p += 1
        }
        guard p + 14 <= rest.count else { return nil }
        let region = String(decoding: rest[0..<(p - 1)], as: UTF8.self)
        guard !region.isEmpty, let time = Timestamp.parseCompact(String(decoding: rest[p..<(p + 14)], as: UTF8.self)) else {
            return nil
        }
        var u = p + 14
        if u < rest.count, rest[u] == UInt8(ascii: "_") { u += 1 }
        let unique = rest[u...]
        guard (1...32).contains(unique.count), unique.allSatisfy(isAlnum) else { return nil }
        return (account, region, time, String(decoding: unique, as: UTF8.self))
    }

    /// `<account>_CloudTrail-Digest_<region>_<trail>_<home-region>_<YYYYMMDDTHHmmssZ>[_backfill].json.gz`, parsed from the right.
    static func parseDigestName(_ name: String, account: String) -> (timestamp: String, backfill: Bool)? {
        guard name.hasPrefix("\(account)_CloudTrail-Digest_"), name.hasSuffix(".json.gz") else { return nil }
        var stem = String(name.dropLast(8))
        var backfill = false
        if stem.hasSuffix("_backfill") {
            backfill = true
            stem = String(stem.dropLast(9))
        }
        let ts = String(stem.suffix(16))
        guard ts.utf8.count == 16, Timestamp.parseCompactSeconds(ts) != nil else { return nil }
        return (ts, backfill)
    }
}
