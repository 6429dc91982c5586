import AlertModel
import CloudTrail
import Integrity
import LogStore
import Logging
import Posix
import Rules

/// Checks digests as they land: signature (sidecar, else the next digest), location, chain, every
/// listed log file's hash, unlisted log files, and digests that are overdue. Findings become
/// built-in alerts (one MESSAGE_ID per kind) through the rule alerts' outbox and sinks.
package final class IntegrityMonitor {
    struct Group {
        var root: String
        var bucket: String
        var account: String
        var region: String
        var digests: [String: DigestFileKey] = [:]
        var dirty = false
        /// Wall-clock time before which the group is not re-checked for a missing log (mirror lag).
        var recheckAt: Int64 = 0
        /// When each digest was first seen by this process.
        var seen: [String: Int64] = [:]
    }

    let keys: PublicKeyRing
    let logger: Logger
    /// How long past an hour a digest may come before it is overdue (beyond the hour itself).
    let slackMs: Int64
    var groups: [String: Group] = [:]
    var overdueReported: Set<String> = []
    /// Alert on chain gaps (a starting digest after older ones).
    var strictGaps = true
    /// A daemon tolerates mirror lag: a listed log file missing while its digest is younger (on
    /// disk) than the slack is checked again later instead of alerted. A one-shot run does not wait.
    var tolerateMirrorLag = false

    package init(keys: PublicKeyRing, slackMs: Int64, logger: Logger) {
        self.keys = keys
        self.slackMs = slackMs
        self.logger = logger
    }

    /// A digest or its sidecar was seen (scan or inotify).
    func note(root: String, bucket: String, relative: String, key: DigestFileKey) {
        let id = "\(root)|\(key.account)|\(key.region)"
        var g = groups[id] ?? Group(root: root, bucket: bucket, account: key.account, region: key.region)
        g.digests[relative] = key
        if g.seen[relative] == nil { g.seen[relative] = Posix.nowMillis() }
        g.dirty = true
        groups[id] = g
    }

    /// A log file already taken changed on disk: if a digest verified it, check that digest again.
    func logChanged(root: String, relative: String, account: String, region: String, store: LogStore) {
        guard let s = try? store.account(account), (try? s.logChanged(relative)) ?? nil != nil else { return }
        let id = "\(root)|\(account)|\(region)"
        groups[id]?.dirty = true
    }

    /// A new log file was taken: if its hour's digest is already here, that digest must list it.
    func logAdded(root: String, key: LogFileKey, store: LogStore) {
        let id = "\(root)|\(key.account)|\(key.region)"
        guard let g = groups[id] else { return }
        for (path, d) in g.digests {
            guard let end = Timestamp.parseCompactSeconds(d.timestamp), key.deliveryTime < end, key.deliveryTime >= end - 3_600_000 else { continue }
            try? store.account(key.account).recheckDigest(path)
            groups[id]?.dirty = true
        }
    }

    func noteSidecar(root: String, digestPath: String) {
        guard case .digest(let k) = ObjectKeyParser.classify(digestPath) else { return }
        groups["\(root)|\(k.account)|\(k.region)"]?.dirty = true
    }

    /// Checks every group with news; `logs(account, region)` lists its log files (relative paths).
    func check(store: LogStore, logs: (String, String) -> [String]) -> [(AccountStore, Alert)] {
        var out: [(AccountStore, Alert)] = []
        let now = Posix.nowMillis()
        for (id, g) in groups where g.dirty && g.recheckAt <= now {
            groups[id]?.dirty = false
            guard let s = try? store.account(g.account) else { continue }
            let known = (try? s.digestStatuses()) ?? [:]
            let verified = (try? s.verifiedLogs()) ?? []
            let sorted = g.digests.keys.sorted { g.digests[$0]!.timestamp < g.digests[$1]!.timestamp }
            // Re-check from the first unsettled digest on, with the one before it as the chain's context.
            let settled = { (p: String) in known[p] == "valid" || known[p] == "invalid" }
            let firstOpen = sorted.firstIndex { !settled($0) } ?? sorted.count - 1
            let from = max(0, firstOpen - 1)
            let tail = sorted[from...].map { p -> DigestOnDisk in
                return DigestOnDisk(
                    key: g.digests[p]!, relativePath: p, bytes: (try? Posix.readFile(g.root + "/" + p, regularOnly: true)) ?? [],
                    signature: SidecarSignature.find(root: g.root, digest: p))
            }
            var checker = DigestChecker(bucket: g.bucket, keys: keys)
            checker.strict = true
            var newlyVerified: [(log: String, digest: String)] = []
            let report = checker.check(tail, logsOnDisk: logs(g.account, g.region), listValidLogs: false) { path, expected, digest in
                if verified.contains(path) { return .some(expected) }
                guard let bytes = try? Posix.readFile(g.root + "/" + path, regularOnly: true) else { return .none }
                guard let h = try? LogHash.of(gzip: bytes) else { return .some(nil) }
                if h == expected { newlyVerified.append((path, digest)) }
                return .some(h)
            }
            var statuses: [(String, String, Int64, String, String?)] = []
            var invalid: [String: String] = [:]
            for f in report.findings where !f.kind.isLog && f.kind.isInvalid { invalid[f.key] = f.status }
            // Mirror lag: the digest arrived before the logs it lists. Wait, then look again.
            var waiting = Set<String>()
            if tolerateMirrorLag {
                for f in report.findings where f.kind == .logMissing {
                    if let digest = f.listedBy, now - (g.seen[digest] ?? 0) < slackMs { waiting.insert(digest) }
                }
                if !waiting.isEmpty {
                    groups[id]?.dirty = true
                    groups[id]?.recheckAt = now + min(60_000, max(1_000, slackMs / 10))
                }
            }
            let valid = report.validDigests
            for d in tail {
                let end = Timestamp.parseCompactSeconds(d.key.timestamp) ?? 0
                if waiting.contains(d.relativePath) {
                    statuses.append((d.relativePath, g.region, end, "pending", "waiting for listed log files to be mirrored"))
                } else if let reason = invalid[d.relativePath] {
                    statuses.append((d.relativePath, g.region, end, "invalid", reason))
                } else if valid.contains(d.relativePath) {
                    statuses.append((d.relativePath, g.region, end, "valid", nil))
                } else {
                    statuses.append((d.relativePath, g.region, end, "pending", nil))
                }
            }
            try? s.recordDigests(statuses, verifiedLogs: newlyVerified, now: Posix.nowMillis())
            for f in report.findings where f.kind.isAlert {
                if f.kind == .chainGap && !strictGaps { continue }
                if f.kind == .logMissing, let digest = f.listedBy, waiting.contains(digest) { continue }
                out.append((s, alert(f, g)))
            }
        }
        return out
    }

    /// Groups whose newest digest ended more than an hour plus the slack ago (and less than a week:
    /// a backfill of old data is not "overdue").
    func overdue(now: Int64, store: LogStore) -> [(AccountStore, Alert)] {
        var out: [(AccountStore, Alert)] = []
        for (_, g) in groups {
            guard let newest = g.digests.values.compactMap({ Timestamp.parseCompactSeconds($0.timestamp) }).max(),
                now - newest > 3_600_000 + slackMs, now - newest < 7 * 86_400_000
            else { continue }
            let key = "\(g.root)|\(g.account)|\(g.region)|\(newest)"
            guard overdueReported.insert(key).inserted, let s = try? store.account(g.account) else { continue }
            let message = "CloudTrail digest overdue for \(g.account)/\(g.region): none since \(Timestamp.formatISO8601(newest))"
            out.append((s, make(.digestOverdue, message: message, g, logFile: "", digest: "", id: key)))
        }
        return out
    }

    /// journald catalog entries for the integrity alerts, one per kind.
    package static func catalog() -> String {
        IntegrityFinding.Kind.allCases.filter(\.isAlert).map { k in
            CatalogWriter.entry(
                id: MessageID.derive("trailwatch.integrity." + k.rawValue), subject: "trailwatch \((severity[k] ?? .high).rawValue): \(k.title)",
                description: "trailwatch checks CloudTrail's digest files (SHA-256 of every log file, chained, RSA-signed) on the mirror. \(k.title).",
                runbook: "Compare the file with the bucket (aws s3api head-object, aws cloudtrail validate-logs). A changed, missing or unlisted file, or a broken chain, means the logs cannot be trusted: find who wrote to the bucket or the mirror (S3 server access logs, the mirror host's audit log).")
        }.joined()
    }

    static let severity: [IntegrityFinding.Kind: Severity] = [
        .logModified: .critical, .logMissing: .high, .logUnlisted: .high, .logInvalidFormat: .high, .digestMissing: .high,
        .signatureInvalid: .critical, .chainBroken: .critical, .digestMoved: .high, .keyMissing: .high,
        .digestInvalidFormat: .high, .digestOverdue: .medium, .chainGap: .medium,
    ]

    /// The alert for a finding: the message says what and where, the alert ID stays the one of
    /// earlier versions (the file's URI and its status) so a restart does not alert again.
    func alert(_ f: IntegrityFinding, _ g: Group) -> Alert {
        let reason = f.reason ?? f.kind.title
        if f.kind == .chainGap {
            let from = f.start ?? "", to = f.end ?? ""
            return make(
                f.kind, message: "CloudTrail digest chain gap for \(g.account)/\(g.region): no digest links \(from) to \(to) (logging stopped and restarted?)", g,
                logFile: "", digest: "", id: "gap\(g.account)\(g.region)\(from)\(to)")
        }
        if f.kind.isLog {
            let digest = f.listedBy.map { "s3://\(g.bucket)/\($0)" } ?? ""
            return make(f.kind, message: "CloudTrail log file \(reason): \(f.uri)", g, logFile: f.uri, digest: digest, id: f.uri + f.status)
        }
        return make(f.kind, message: "CloudTrail digest \(reason): \(f.uri)", g, logFile: "", digest: f.uri, id: f.uri + f.status)
    }

    func make(_ kind: IntegrityFinding.Kind, message: String, _ g: Group, logFile: String, digest: String, id: String) -> Alert {
        let severity = Self.severity[kind] ?? .high
        let rule = "integrity-" + kind.rawValue
        return Alert(
            rule: rule, severity: severity.rawValue, priority: severity.priority, messageID: MessageID.derive("trailwatch.integrity." + kind.rawValue),
            message: message, account: g.account, region: g.region, principal: "", sourceIP: "", eventName: "", eventIDs: [],
            eventTime: Timestamp.formatISO8601(Posix.nowMillis()), count: 1, logFile: logFile,
            alertID: MessageID.derive(rule + "\u{1F}" + id), records: [], extra: ["DIGEST": digest])
    }
}

/// The signature in a digest's `.metadata.json` sidecar: `aws s3api head-object` output, or just its `Metadata`.
package enum SidecarSignature {
    /// The digest's signature as the mirror kept it: a `.metadata.json` sidecar, else the
    /// `user.signature` extended attribute (rclone's local backend with `--metadata` stores S3 user
    /// metadata as `user.*` xattrs); nil when neither, so the next digest must vouch for it.
    package static func find(root: String, digest relative: String) -> String? {
        let path = root + "/" + relative
        if let bytes = try? Posix.readFile(path + ".metadata.json", regularOnly: true), let s = parse(bytes) { return s }
        if let x = Posix.getXattr(path, "user.signature") {
            let s = String(decoding: x, as: UTF8.self).trimmingHex
            return s.isEmpty ? nil : s
        }
        return nil
    }

    package static func parse(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let r = text.firstRange(of: "\"signature\"") else { return nil }
        let rest = text[r.upperBound...].drop { $0 == " " || $0 == ":" || $0 == "\t" || $0 == "\n" }
        guard rest.first == "\"" else { return nil }
        let value = rest.dropFirst().prefix { $0 != "\"" }
        return value.isEmpty ? nil : String(value)
    }
}

extension String {
    /// The leading run of hex digits (xattr values may carry a trailing NUL or newline).
    var trimmingHex: String { String(prefix { $0.isASCII && $0.isHexDigit }) }
}
