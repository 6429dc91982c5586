import ArgumentParser
import CloudTrail
import Ingest
import Integrity
import Posix

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check digests (signature, location, chain) and every log file's hash in one pass, offline, as `aws cloudtrail validate-logs` does, and stricter.")

    @Option(name: .customLong("logs"), help: "A mirrored bucket's root.") var logs: String
    @Option(help: "JSON output of `aws cloudtrail list-public-keys` (one or more regions).") var keys: String
    @Option(help: "Only this account.") var account: String?
    @Option(help: "Only this region (the region the logs came from).") var region: String?
    @Option(help: "Start of the range (ISO 8601 or epoch ms; default: all).") var start: String?
    @Option(help: "End of the range (default: now).") var end: String?
    @Flag(help: "Also print valid files.") var verbose = false
    @Option(help: "Bucket name the digests name (default: the folder's name, or the one bucket the digests name when the folder is called otherwise).")
    var bucket: String?

    func run() throws {
        let root = Run.absolute(logs)
        let folder = String(root.split(separator: "/").last ?? "")
        let ring: PublicKeyRing
        do { ring = try PublicKeyRing(json: try Posix.readFile(keys)) } catch {
            throw ValidationError("\(keys): \(error)")
        }
        let startMs = try start.map(parseTime) ?? 0
        let endMs = try end.map(parseTime) ?? Posix.nowMillis()
        var digests: [String: [DigestOnDisk]] = [:]
        var logFiles: [String: [String]] = [:]
        let files = Scanner.walk(root: root).map(\.relative)
        let present = Set(files)
        for rel in files {
            switch ObjectKeyParser.classify(rel) {
            case .digest(let k):
                if let account, k.account != account { continue }
                if let region, k.region != region { continue }
                guard let t = Timestamp.parseCompactSeconds(k.timestamp), t >= startMs, t <= endMs + 3_600_000 else { continue }
                let signature = SidecarSignature.find(root: root, digest: rel)
                let bytes = (try? Posix.readFile(root + "/" + rel, regularOnly: true)) ?? []
                digests["\(k.account)/\(k.region)", default: []].append(DigestOnDisk(key: k, relativePath: rel, bytes: bytes, signature: signature))
            case .log(let k):
                if let account, k.account != account { continue }
                if let region, k.region != region { continue }
                logFiles["\(k.account)/\(k.region)", default: []].append(rel)
            default: continue
            }
        }
        var bucketName = bucket ?? folder
        if bucket == nil {
            let named = DigestChecker.bucketsNamed(by: digests.values)
            if named.count == 1, let only = named.first, only != folder {
                bucketName = only
                print("Bucket \(only): named by its digests (the folder is called \(folder); --bucket NAME overrides)")
            } else if named.count > 1, !named.contains(folder) {
                throw ValidationError("the digests name the buckets \(named.sorted().joined(separator: ", ")), none of them the folder's name \(folder): give --bucket NAME")
            }
        }
        let checker = DigestChecker(bucket: bucketName, keys: ring)
        var total = VerifyReport()
        let header = "Validating log files for bucket \(bucketName) between \(Timestamp.formatISO8601(startMs)) and \(Timestamp.formatISO8601(endMs))"
        print(header + "\n")
        for group in digests.keys.sorted() {
            let report = checker.check(digests[group]!, logsOnDisk: logFiles[group] ?? [], listValidLogs: verbose) { path, _, _ in
                guard present.contains(path), let bytes = try? Posix.readFile(root + "/" + path, regularOnly: true) else { return .none }
                return .some(try? LogHash.of(gzip: bytes))
            }
            for f in report.findings {
                if f.kind.isInvalid {
                    writeStderr(f.validateLogsLine + "\n")
                } else if verbose || (f.kind != .digestValid && f.kind != .logValid) {
                    print(f.validateLogsLine)
                }
            }
            var counted = report
            counted.findings = []  // printed; the total needs the counts only
            total.merge(counted)
        }
        print("")
        let uncovered = Self.newerThanLastDigest(digests: digests, logFiles: logFiles, endMs: end == nil ? nil : endMs)
        print(Self.summary(total, requestedStart: Timestamp.formatISO8601(startMs), requestedEnd: Timestamp.formatISO8601(endMs)), terminator: "")
        if uncovered.newer > 0 {
            print("\(uncovered.newer) log files newer than the last digest of their account and region (not covered yet: the next digest lists them)")
        }
        if uncovered.undigested > 0, start == nil, end == nil {
            print("\(uncovered.undigested) log files in account-regions without any digest (\(uncovered.groups.joined(separator: ", ")))")
        }
        if total.anyInvalid { throw ExitCode(1) }
    }

    /// The summary block, as `validate-logs` prints it (with the backfill and pending counts besides).
    static func summary(_ r: VerifyReport, requestedStart: String, requestedEnd: String) -> String {
        var s = "Results requested for \(requestedStart) to \(requestedEnd)\n"
        let total = r.digestsValid + r.digestsInvalid
        guard total > 0 || r.digestsPending > 0 else { return s + "No digests found\n" }
        if let a = r.foundStart, let b = r.foundEnd { s += "Results found for \(a) to \(b):\n" }
        func line(_ v: Int, _ i: Int, _ what: String) -> String {
            let t = v + i
            guard t > 0 else { return "" }
            return "\n\(v)/\(t) \(what) valid" + (i > 0 ? ", \(i)/\(t) \(what) INVALID" : "")
        }
        s += line(r.digestsValid, r.digestsInvalid, "digest files")
        s += line(r.backfillValid, r.backfillInvalid, "backfill digest files")
        if r.digestsPending > 0 { s += "\n\(r.digestsPending) digest files pending (signature comes with the next digest)" }
        s += line(r.logsValid, r.logsInvalid, "log files")
        return s + "\n"
    }

    /// Log files delivered after the newest digest of their account and region (up to `endMs`, when
    /// `--end` was given), and those of account-regions with no digest at all: what this check could not cover.
    static func newerThanLastDigest(digests: [String: [DigestOnDisk]], logFiles: [String: [String]], endMs: Int64?)
        -> (newer: Int, undigested: Int, groups: [String])
    {
        var newer = 0
        var undigested = 0
        var groups: [String] = []
        for (group, paths) in logFiles.sorted(by: { $0.key < $1.key }) {
            let stamps = (digests[group] ?? []).filter { !$0.key.isBackfill }.compactMap { Timestamp.parseCompactSeconds($0.key.timestamp) }
            guard let last = stamps.max() else {
                undigested += paths.count
                groups.append(group)
                continue
            }
            for path in paths {
                if case .log(let k) = ObjectKeyParser.classify(path), k.deliveryTime >= last, k.deliveryTime <= endMs ?? .max { newer += 1 }
            }
        }
        return (newer, undigested, groups)
    }
}

extension IntegrityFinding {
    /// The line `aws cloudtrail validate-logs` prints for the finding, `(backfill) ` first for the
    /// backfill chain.
    var validateLogsLine: String {
        let prefix = backfill ? "(backfill) " : ""
        if kind == .chainGap { return prefix + "No log files were delivered by CloudTrail between \(start ?? "") and \(end ?? "")" }
        return prefix + (kind.isLog ? "Log file" : "Digest file") + "\t\(uri)\t\(status)"
    }
}
