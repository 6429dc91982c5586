import CloudTrail
import Glibc
import Gzip
import Integrity
import Posix
import _CryptoExtras

/// Writes realistic CloudTrail buckets for demos, tests and benchmarks; the same seed gives the same bucket.
///
/// Each (account, region) stream gets a file about every 5 minutes of simulated time, named and
/// laid out as CloudTrail does. Records are not sorted, ~1% are late (eventTime up to 20 minutes
/// before the file's window) and ~0.5% are delivered again byte-identical in one of the next files.
public struct Simulator: Sendable {
    public struct Options: Sendable {
        public var out: String
        public var accounts = 3
        public var regions = ["us-east-1", "eu-west-1"]
        public var hours: Double = 2
        public var seed: UInt64 = 1
        /// Events per minute per stream.
        public var ratePerMinute: Double = 60
        /// Start of simulated time, epoch ms.
        public var start: Int64 = 1_709_251_200_000  // 2024-03-01T00:00:00Z
        /// Optional prefix folder between the bucket root and AWSLogs/.
        public var prefix: String = ""
        /// Organization id: lays files out as an organization trail.
        public var organizationID: String? = nil
        public var lateFraction = 0.01
        public var duplicateFraction = 0.005
        /// Hourly digest files for every account and region (integrity validation).
        public var digests = true
        /// Write the `.metadata.json` signature sidecars beside the digests.
        public var signatureSidecars = true
        /// Where the public keys go, as `aws cloudtrail list-public-keys` prints them (default DIR/public-keys.json).
        public var publicKeysPath: String? = nil
        public var trailName = "management-events"

        public init(out: String) { self.out = out }
    }

    /// What was written.
    public struct Manifest: Sendable {
        public var files = 0
        public var records = 0
        public var duplicates = 0
        public var late = 0
        public var digests = 0
    }

    public let options: Options
    public let accountIDs: [String]

    public init(_ options: Options) {
        self.options = options
        var rng = SplitMix(seed: options.seed)
        accountIDs = (0..<options.accounts).map { _ in String(100_000_000_000 + rng.next() % 899_999_999_999) }
    }

    /// Stream state carried from one window to the next (re-delivered records).
    struct StreamState {
        var rng: SplitMix
        var carry: [(due: Int, record: String)] = []
    }

    /// Writes windows `[0, count)`; returns what it wrote.
    @discardableResult
    public func write(windows: Range<Int>, setMTime: Bool = true) throws -> Manifest {
        var manifest = Manifest()
        var states = streams().map { StreamState(rng: SplitMix(seed: options.seed &* 1_000_003 &+ $0.seedSalt)) }
        var delivered: [[File]] = Array(repeating: [], count: streams().count)
        // Windows before the range still run so that state (and so the bytes) do not depend on where we start.
        for w in 0..<windows.upperBound {
            for (n, s) in streams().enumerated() {
                let file = makeFile(stream: s, window: w, state: &states[n])
                if options.digests { delivered[n].append(file) }
                guard windows.contains(w) else { continue }
                try deliver(file, setMTime: setMTime)
                manifest.files += 1
                manifest.records += file.records
                manifest.duplicates += file.duplicates
                manifest.late += file.late
            }
        }
        if options.digests {
            manifest.digests = try writeDigests(delivered, windows: windows)
        }
        return manifest
    }

    /// Hourly digests for the hours that end inside the windows just written (earlier hours are
    /// recomputed only to chain: signatures are deterministic for a given key).
    func writeDigests(_ delivered: [[File]], windows: Range<Int>) throws -> Int {
        let signer = try signingKey()
        let bucket = String(options.out.split(separator: "/").last ?? "bucket")
        let home = options.regions.first ?? "us-east-1"
        let firstHourEnd = options.start + 3_600_000
        let writtenUntil = options.start + Int64(windows.upperBound) * 300_000
        let writtenFrom = options.start + Int64(windows.lowerBound) * 300_000
        var count = 0
        for (n, s) in streams().enumerated() {
            var previous: (object: String, hash: String, signature: String)? = nil
            var hourEnd = firstHourEnd
            while hourEnd <= writtenUntil {
                let hourStart = hourEnd - 3_600_000
                let files = delivered[n].filter { $0.deliveryTime >= hourStart && $0.deliveryTime < hourEnd }
                let endTime = Timestamp.formatISO8601(hourEnd)
                let date = Timestamp.formatISO8601(hourEnd)
                let stamp = String(Timestamp.formatCompact(hourEnd).dropLast()) + "00Z"
                var base = options.prefix.isEmpty ? "" : options.prefix + "/"
                base += "AWSLogs/"
                if let org = options.organizationID { base += org + "/" }
                let object = "\(base)\(s.account)/CloudTrail-Digest/\(s.region)/\(date.prefix(4))/\(date.dropFirst(5).prefix(2))/\(date.dropFirst(8).prefix(2))/\(s.account)_CloudTrail-Digest_\(s.region)_\(options.trailName)_\(home)_\(stamp).json.gz"
                var w = JSONObjectWriter()
                w.add("awsAccountId", s.account)
                w.add("digestStartTime", Timestamp.formatISO8601(hourStart))
                w.add("digestEndTime", endTime)
                w.add("digestS3Bucket", bucket)
                w.add("digestS3Object", object)
                w.add("digestPublicKeyFingerprint", signer.fingerprint)
                w.add("digestSignatureAlgorithm", "SHA256withRSA")
                let times = files.flatMap { [$0.oldest, $0.newest] }.compactMap { $0 }
                w.addRaw("newestEventTime", times.max().map { JSONObjectWriter.quote(Timestamp.formatISO8601($0)) } ?? "null")
                w.addRaw("oldestEventTime", times.min().map { JSONObjectWriter.quote(Timestamp.formatISO8601($0)) } ?? "null")
                w.addRaw("previousDigestS3Bucket", previous == nil ? "null" : JSONObjectWriter.quote(bucket))
                w.addRaw("previousDigestS3Object", previous.map { JSONObjectWriter.quote($0.object) } ?? "null")
                w.addRaw("previousDigestHashValue", previous.map { JSONObjectWriter.quote($0.hash) } ?? "null")
                w.addRaw("previousDigestHashAlgorithm", previous == nil ? "null" : JSONObjectWriter.quote("SHA-256"))
                w.addRaw("previousDigestSignature", previous.map { JSONObjectWriter.quote($0.signature) } ?? "null")
                let logs = files.map { f -> String in
                    var l = JSONObjectWriter()
                    l.add("s3Bucket", bucket)
                    l.add("s3Object", f.relativePath)
                    l.add("hashValue", f.sha256)
                    l.add("hashAlgorithm", "SHA-256")
                    l.add("newestEventTime", f.newest.map { Timestamp.formatISO8601($0) } ?? "")
                    l.add("oldestEventTime", f.oldest.map { Timestamp.formatISO8601($0) } ?? "")
                    return l.text
                }
                w.addRaw("logFiles", "[" + logs.joined(separator: ",") + "]")
                let json = Array(w.text.utf8)
                let digest = try DigestFile(json: json)
                let signature = try signer.sign(digest)
                if hourEnd > writtenFrom {
                    let path = options.out + "/" + object
                    try Posix.makeDirectories(String(path[..<path.lastIndex(of: "/")!]))
                    try Posix.writeFile(path, Deflater.gzip(json))
                    if options.signatureSidecars {
                        try Posix.writeFile(path + ".metadata.json", Array(#"{"signature":"\#(signature)","signature-algorithm":"SHA256withRSA"}"#.utf8))
                    }
                    count += 1
                }
                previous = (object, digest.hash, signature)
                hourEnd += 3_600_000
            }
        }
        try Posix.writeFile(
            options.publicKeysPath ?? options.out + "/public-keys.json",
            Array(signer.publicKeysJSON(validFrom: options.start - 86_400_000, to: options.start + 3_650 * 86_400_000).utf8))
        return count
    }

    /// The simulator's signing key, kept beside the bucket so later runs (`--follow`) extend the chain.
    func signingKey() throws -> DigestSigner {
        let path = options.out + "/simulator-signing-key.pem"
        if let pem = try? Posix.readFile(path), let key = try? _RSA.Signing.PrivateKey(pemRepresentation: String(decoding: pem, as: UTF8.self)) {
            return DigestSigner(key: key)
        }
        let signer = try DigestSigner.generate()
        try Posix.makeDirectories(options.out)
        try Posix.writeFile(path, Array(signer.key.pemRepresentation.utf8), mode: 0o600)
        return signer
    }

    /// Number of 5-minute windows in `hours`.
    public var windowCount: Int { Int((options.hours * 12).rounded(.up)) }

    struct Stream {
        var account: String
        var region: String
        var seedSalt: UInt64
    }

    func streams() -> [Stream] {
        var out: [Stream] = []
        for (a, acct) in accountIDs.enumerated() {
            for (r, region) in options.regions.enumerated() {
                out.append(Stream(account: acct, region: region, seedSalt: UInt64(a * 97 + r * 7 + 1)))
            }
        }
        return out
    }

    struct File {
        var relativePath: String
        var json: String
        var deliveryTime: Int64
        var records: Int
        var duplicates: Int
        var late: Int
        var oldest: Int64?
        var newest: Int64?
        var sha256: String { LogHash.of(bytes: Array(json.utf8)) }
    }

    func makeFile(stream s: Stream, window w: Int, state: inout StreamState) -> File {
        var rng = state.rng
        let windowStart = options.start + Int64(w) * 300_000
        let delivery = windowStart + 300_000 + Int64(rng.next() % 240) * 1000
        let mean = options.ratePerMinute * 5
        let count = max(1, Int(mean * (0.8 + 0.4 * rng.unit())))
        var records: [String] = []
        var late = 0
        var oldest = Int64.max
        var newest = Int64.min
        for _ in 0..<count {
            var t = windowStart + Int64(rng.next() % 300_000) / 1000 * 1000
            if rng.unit() < options.lateFraction {
                t = windowStart - Int64(300 + rng.next() % 900) * 1000
                late += 1
            }
            oldest = min(oldest, t)
            newest = max(newest, t)
            let rec = Records.make(account: s.account, region: s.region, time: t, rng: &rng)
            records.append(rec)
            if rng.unit() < options.duplicateFraction {
                state.carry.append((w + 1 + Int(rng.next() % 3), rec))
            }
        }
        let due = state.carry.filter { $0.due == w }.map(\.record)
        state.carry.removeAll { $0.due <= w }
        records += due
        // Unsorted, as CloudTrail delivers: a quarter shuffled, the rest with local swaps.
        if rng.unit() < 0.25 {
            for i in stride(from: records.count - 1, to: 0, by: -1) {
                records.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
        } else {
            for i in 1..<max(1, records.count) where rng.unit() < 0.2 { records.swapAt(i, i - 1) }
        }
        state.rng = rng
        let unique = String((0..<16).map { _ in Self.alnum[Int(rng.next() % 62)] })
        state.rng = rng
        let stamp = Timestamp.formatCompact(delivery)
        let date = Timestamp.formatISO8601(delivery)
        let y = date.prefix(4)
        let m = date.dropFirst(5).prefix(2)
        let d = date.dropFirst(8).prefix(2)
        var base = options.prefix.isEmpty ? "" : options.prefix + "/"
        base += "AWSLogs/"
        if let org = options.organizationID { base += org + "/" }
        let rel = "\(base)\(s.account)/CloudTrail/\(s.region)/\(y)/\(m)/\(d)/\(s.account)_CloudTrail_\(s.region)_\(stamp)_\(unique).json.gz"
        return File(
            relativePath: rel, json: "{\"Records\":[" + records.joined(separator: ",") + "]}", deliveryTime: delivery,
            records: records.count, duplicates: due.count, late: late, oldest: oldest == .max ? nil : oldest,
            newest: newest == .min ? nil : newest)
    }

    static let alnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// Writes a file the way sync tools do: a hidden temporary name, then a rename into place.
    func deliver(_ f: File, setMTime: Bool) throws {
        let path = options.out + "/" + f.relativePath
        let dir = String(path[..<path.lastIndex(of: "/")!])
        try Posix.makeDirectories(dir)
        let name = path[path.index(after: path.lastIndex(of: "/")!)...]
        let tmp = dir + "/." + name + ".tmp"
        let gz = Deflater.gzip(Array(f.json.utf8))
        try Posix.writeFile(tmp, gz)
        if setMTime { try Posix.setTimes(tmp, millis: f.deliveryTime / 1000 * 1000) }
        try Posix.moveFile(tmp, to: path)
    }
}

/// A small deterministic PRNG (SplitMix64): the same seed gives the same bucket on every machine.
public struct SplitMix: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
