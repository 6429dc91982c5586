import CloudTrail
import Foundation
import Gzip
import Integrity
import Testing

/// A signed trail in memory: three hourly digests of one account and region, two log files each,
/// the same tampering as the end-to-end tests (VerifyE2ETests) applied to the values directly.
struct MemoryTrail {
    static let account = "123456789012", region = "us-east-1", bucket = "b"
    let signer: DigestSigner
    var ring = PublicKeyRing()
    var digests: [DigestOnDisk] = []
    /// Log files present, as gzip bytes.
    var logs: [String: [UInt8]] = [:]
    /// The log files each digest lists, in the order of `digests`.
    var listed: [[String]] = []

    static func digestKey(_ hour: Int) -> String {
        "AWSLogs/\(account)/CloudTrail-Digest/\(region)/2024/03/01/\(account)_CloudTrail-Digest_\(region)_t_\(region)_20240301T0\(hour)0000Z.json.gz"
    }

    static func logKey(_ hour: Int, _ n: Int) -> String {
        "AWSLogs/\(account)/CloudTrail/\(region)/2024/03/01/\(account)_CloudTrail_\(region)_20240301T0\(hour)\(n)5Z_ABCDEFGHIJKLMNO\(n).json.gz"
    }

    static func time(_ hour: Int) -> String { "2024-03-01T0\(hour):00:00Z" }

    /// `hours` digests; `link(i)` says whether digest `i` names the one before it.
    init(hours: Int = 3, sidecars: Bool = true, link: (Int) -> Bool = { $0 > 0 }) throws {
        signer = try DigestSigner.generate()
        try ring.add(der: signer.publicDER)
        var previous: (key: String, hash: String, signature: String)? = nil
        for i in 0..<hours {
            let logKeys = (0..<2).map { Self.logKey(i, $0) }
            var logFiles: [[String: Any]] = []
            for k in logKeys {
                let content = Array(#"{"Records":[{"eventID":"\#(k)"}]}"#.utf8)
                logs[k] = Deflater.gzip(content)
                logFiles.append(["s3Bucket": Self.bucket, "s3Object": k, "hashValue": LogHash.of(bytes: content), "hashAlgorithm": "SHA-256"])
            }
            listed.append(logKeys)
            let key = Self.digestKey(i + 1)
            let prev = link(i) ? previous : nil
            let fields: [String: Any] = [
                "awsAccountId": Self.account, "digestStartTime": Self.time(i), "digestEndTime": Self.time(i + 1),
                "digestS3Bucket": Self.bucket, "digestS3Object": key, "digestPublicKeyFingerprint": signer.fingerprint,
                "digestSignatureAlgorithm": "SHA256withRSA", "previousDigestS3Bucket": prev == nil ? NSNull() : Self.bucket,
                "previousDigestS3Object": prev?.key ?? NSNull(), "previousDigestHashValue": prev?.hash ?? NSNull(),
                "previousDigestSignature": prev?.signature ?? NSNull(), "logFiles": logFiles,
            ]
            let json = [UInt8](try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]))
            let parsed = try DigestFile(json: json)
            let signature = try signer.sign(parsed)
            guard case .digest(let dk) = ObjectKeyParser.classify(key) else { throw IntegrityError("fixture key \(key)") }
            digests.append(DigestOnDisk(key: dk, relativePath: key, bytes: Deflater.gzip(json), signature: sidecars ? signature : nil))
            previous = (key, parsed.hash, signature)
        }
    }

    func check(strict: Bool = true, ring: PublicKeyRing? = nil) -> VerifyReport {
        var checker = DigestChecker(bucket: Self.bucket, keys: ring ?? self.ring)
        checker.strict = strict
        return checker.check(digests, logsOnDisk: Array(logs.keys), listValidLogs: true) { path, _, _ in
            guard let bytes = logs[path] else { return .none }
            return .some(try? LogHash.of(gzip: bytes))
        }
    }

    /// The digest's JSON, changed by `edit`, written back (its signature no longer holds).
    mutating func editDigest(_ n: Int, _ edit: (String) -> String) throws {
        let json = String(decoding: try Inflater.inflateAll(digests[n].bytes), as: UTF8.self)
        digests[n].bytes = Deflater.gzip(Array(edit(json).utf8))
    }

    // Expected findings, with the fixture's account, region and bucket.
    func digest(_ kind: IntegrityFinding.Kind, _ n: Int, span: Bool = true) -> IntegrityFinding {
        IntegrityFinding(
            kind, bucket: Self.bucket, key: digests[n].relativePath, account: Self.account, region: Self.region,
            start: span ? Self.time(n) : nil, end: span ? Self.time(n + 1) : nil)
    }

    func log(_ kind: IntegrityFinding.Kind, _ key: String, listedBy n: Int?) -> IntegrityFinding {
        IntegrityFinding(
            kind, bucket: Self.bucket, key: key, account: Self.account, region: Self.region, listedBy: n.map { digests[$0].relativePath })
    }
}

extension VerifyReport {
    /// The findings a valid trail does not have.
    var problems: [IntegrityFinding] { findings.filter { $0.kind != .digestValid && $0.kind != .logValid } }
}

@Suite struct FindingTests {
    @Test func aValidTrailIsAllValidFindings() throws {
        let t = try MemoryTrail()
        let r = t.check()
        #expect(r.problems.isEmpty, "\(r.problems)")
        #expect(r.findings.map(\.kind) == [.digestValid, .logValid, .logValid, .digestValid, .logValid, .logValid, .digestValid, .logValid, .logValid])
        #expect(r.findings[0] == t.digest(.digestValid, 0))
        #expect(r.findings[1] == t.log(.logValid, t.listed[0][0], listedBy: 0))
        #expect(r.validDigests == Set(t.digests.map(\.relativePath)))
        #expect((r.digestsValid, r.digestsInvalid, r.digestsPending, r.logsValid, r.logsInvalid) == (3, 0, 0, 6, 0))
        #expect((r.foundStart, r.foundEnd) == (MemoryTrail.time(0), MemoryTrail.time(3)))
        #expect(!r.anyInvalid)
        // Valid log files are counted but not listed unless asked.
        let quiet = DigestChecker(bucket: MemoryTrail.bucket, keys: t.ring).check(t.digests, logsOnDisk: [], listValidLogs: false) { path, _, _ in
            .some(try? LogHash.of(gzip: t.logs[path]!))
        }
        #expect(quiet.findings.map(\.kind) == [.digestValid, .digestValid, .digestValid] && quiet.logsValid == 6)
    }

    @Test func aChangedLogFile() throws {
        var t = try MemoryTrail()
        let k = t.listed[1][1]
        var raw = try Inflater.inflateAll(t.logs[k]!)
        raw[raw.count / 2] ^= 1
        t.logs[k] = Deflater.gzip(raw)
        let r = t.check()
        #expect(r.problems == [t.log(.logModified, k, listedBy: 1)])
        #expect(r.problems[0].status == "INVALID: hash value doesn't match" && r.problems[0].uri == "s3://b/\(k)")
        #expect((r.logsValid, r.logsInvalid, r.digestsValid) == (5, 1, 3))
    }

    @Test func aMissingAndAnUnreadableLogFile() throws {
        var t = try MemoryTrail()
        t.logs[t.listed[0][0]] = nil
        t.logs[t.listed[2][1]] = Array("not gzip".utf8)
        let r = t.check()
        #expect(r.problems == [t.log(.logMissing, t.listed[0][0], listedBy: 0), t.log(.logInvalidFormat, t.listed[2][1], listedBy: 2)])
        #expect(r.problems.map(\.reason) == ["not found", "invalid format"])
    }

    @Test func aDeletedDigestIsMissingAndItsLogsUnlisted() throws {
        var t = try MemoryTrail()
        let gone = t.digests.remove(at: 1)
        let r = t.check()
        let missing = IntegrityFinding(.digestMissing, bucket: "b", key: gone.relativePath, account: MemoryTrail.account, region: MemoryTrail.region)
        #expect(r.problems == [missing] + t.listed[1].sorted().map { t.log(.logUnlisted, $0, listedBy: nil) })
        #expect((r.digestsValid, r.digestsInvalid, r.logsInvalid) == (2, 1, 2))
    }

    @Test func anUnlistedLogFile() throws {
        var t = try MemoryTrail()
        let extra = MemoryTrail.logKey(1, 3)
        t.logs[extra] = t.logs[t.listed[1][0]]
        // Outside the hours the digests cover, an unlisted file is not the digests' business.
        t.logs[MemoryTrail.logKey(5, 1)] = t.logs[t.listed[1][0]]
        #expect(t.check().problems == [t.log(.logUnlisted, extra, listedBy: nil)])
        #expect(t.check(strict: false).problems.isEmpty)
    }

    @Test func anAlteredDigestFailsItsSignatureAndTheNextOnesHashLink() throws {
        var t = try MemoryTrail()
        try t.editDigest(1) { $0.replacingOccurrences(of: #""awsAccountId""#, with: #""x":1,"awsAccountId""#) }
        let r = t.check()
        var broken = t.digest(.chainBroken, 1)
        broken.link = .previousHash
        #expect(r.problems == [t.digest(.signatureInvalid, 1), broken])
        #expect(broken.status == "INVALID: previousDigestHashValue in the next digest doesn't match (chain broken)")
        #expect((r.digestsValid, r.digestsInvalid, r.logsValid) == (2, 2, 4))
    }

    @Test func swappedSignaturesBreakBothSignaturesAndLinks() throws {
        var t = try MemoryTrail()
        (t.digests[0].signature, t.digests[1].signature) = (t.digests[1].signature, t.digests[0].signature)
        var link0 = t.digest(.chainBroken, 0), link1 = t.digest(.chainBroken, 1)
        link0.link = .previousSignature
        link1.link = .previousSignature
        #expect(t.check().problems == [t.digest(.signatureInvalid, 0), link0, t.digest(.signatureInvalid, 1), link1])
        #expect(link0.reason == "previousDigestSignature in the next digest doesn't match its signature (chain broken)")
    }

    @Test func aMovedDigest() throws {
        var t = try MemoryTrail()
        let moved = t.digests[2].relativePath.replacingOccurrences(of: "T030000Z", with: "T030500Z")
        t.digests[2].relativePath = moved
        var expected = t.digest(.digestMoved, 2)
        expected.key = moved
        #expect(t.check().problems == [expected])
        #expect(expected.status == "INVALID: has been moved from its original location")
    }

    @Test func aMissingPublicKeyNamesItsFingerprint() throws {
        let t = try MemoryTrail()
        let r = t.check(ring: PublicKeyRing())
        let expected = (0..<3).map { n -> IntegrityFinding in
            var f = t.digest(.keyMissing, n)
            f.fingerprint = t.signer.fingerprint
            return f
        }
        #expect(r.problems == expected)
        #expect(expected[0].reason == "public key not found in region us-east-1 for fingerprint \(t.signer.fingerprint)")
        #expect(r.digestsInvalid == 3 && r.logsValid == 0)
    }

    @Test func withoutSidecarsTheNewestIsPending() throws {
        let t = try MemoryTrail(sidecars: false)
        let r = t.check()
        #expect(r.problems == [t.digest(.pending, 2)])
        #expect(!r.anyInvalid && r.digestsPending == 1 && r.digestsValid == 2)
        #expect(!IntegrityFinding.Kind.pending.isInvalid && !IntegrityFinding.Kind.pending.isAlert)
    }

    @Test func aChainThatStartsAgainIsAGap() throws {
        let t = try MemoryTrail(link: { $0 == 1 })
        let gap = IntegrityFinding(
            .chainGap, bucket: "b", key: t.digests[2].relativePath, account: MemoryTrail.account, region: MemoryTrail.region,
            start: MemoryTrail.time(2), end: MemoryTrail.time(2))
        #expect(t.check().problems == [gap])
        #expect(gap.reason == nil && gap.kind.isAlert && !gap.kind.isInvalid)
    }

    @Test func anUnreadableDigestAndTheLogsNoReadableDigestLists() throws {
        var t = try MemoryTrail()
        t.digests[1].bytes = Array("garbage".utf8)
        let r = t.check()
        #expect(r.problems == [t.digest(.digestInvalidFormat, 1, span: false)] + t.listed[1].sorted().map { t.log(.logUnlisted, $0, listedBy: nil) })
    }

    @Test func backfillFindingsSayTheirChain() throws {
        var t = try MemoryTrail(hours: 1)
        let key = t.digests[0].relativePath.replacingOccurrences(of: ".json.gz", with: "_backfill.json.gz")
        let old = t.digests[0].relativePath
        try t.editDigest(0) { $0.replacingOccurrences(of: old, with: key) }
        guard case .digest(let dk) = ObjectKeyParser.classify(key) else { throw IntegrityError("backfill key") }
        t.digests[0].key = dk
        t.digests[0].relativePath = key
        let r = t.check()
        var expected = t.digest(.signatureInvalid, 0)
        expected.backfill = true
        #expect(dk.isBackfill && r.problems == [expected])
        #expect((r.backfillInvalid, r.digestsInvalid) == (1, 0) && r.anyInvalid)
    }

    @Test func reportsMergeTheirCounts() throws {
        let t = try MemoryTrail()
        var total = t.check()
        total.merge(try MemoryTrail(sidecars: false).check())
        #expect((total.digestsValid, total.digestsPending, total.logsValid, total.findings.count) == (5, 1, 10, 16))
    }
}
