import CloudTrail
import Glibc
import Gzip
import Posix

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

        public init(out: String) { self.out = out }
    }

    /// What was written.
    public struct Manifest: Sendable {
        public var files = 0
        public var records = 0
        public var duplicates = 0
        public var late = 0
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
        // Windows before the range still run so that state (and so the bytes) do not depend on where we start.
        for w in 0..<windows.upperBound {
            for (n, s) in streams().enumerated() {
                let file = makeFile(stream: s, window: w, state: &states[n])
                guard windows.contains(w) else { continue }
                try deliver(file, setMTime: setMTime)
                manifest.files += 1
                manifest.records += file.records
                manifest.duplicates += file.duplicates
                manifest.late += file.late
            }
        }
        return manifest
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
    }

    func makeFile(stream s: Stream, window w: Int, state: inout StreamState) -> File {
        var rng = state.rng
        let windowStart = options.start + Int64(w) * 300_000
        let delivery = windowStart + 300_000 + Int64(rng.next() % 240) * 1000
        let mean = options.ratePerMinute * 5
        let count = max(1, Int(mean * (0.8 + 0.4 * rng.unit())))
        var records: [String] = []
        var late = 0
        for _ in 0..<count {
            var t = windowStart + Int64(rng.next() % 300_000) / 1000 * 1000
            if rng.unit() < options.lateFraction {
                t = windowStart - Int64(300 + rng.next() % 900) * 1000
                late += 1
            }
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
            records: records.count, duplicates: due.count, late: late)
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
        if setMTime {
            let secs = f.deliveryTime / 1000
            var times = [timespec(tv_sec: Int(secs), tv_nsec: 0), timespec(tv_sec: Int(secs), tv_nsec: 0)]
            utimensat(AT_FDCWD, tmp, &times, 0)
        }
        guard rename(tmp, path) == 0 else { throw SimulatorError(message: "rename \(tmp): \(String(cString: strerror(errno)))") }
    }

    public struct SimulatorError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
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
