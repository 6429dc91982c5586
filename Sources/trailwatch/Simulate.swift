import ArgumentParser
import CloudTrail
import Glibc
import Ingest
import Simulator

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a realistic demo bucket: several accounts and regions, a file about every 5 minutes.")

    @Option(help: "Bucket root to write (its folder name is the bucket name).") var out: String
    @Option(help: "Number of accounts.") var accounts = 3
    @Option(help: "Comma-separated regions.") var regions = "us-east-1,eu-west-1"
    @Option(help: "Hours of history to write.") var hours: Double = 2
    @Option(help: "Seed: the same seed gives the same bucket.") var seed: UInt64 = 1
    @Option(help: "Events per minute per account and region.") var rate: Double = 60
    @Option(help: "Start of simulated time (ISO 8601); default 2024-03-01, or now minus --hours with --follow.")
    var start: String?
    @Flag(help: "After the history, keep delivering new files in real time.") var follow = false
    @Option(help: "With --follow: simulated seconds per real second (60 delivers a 5-minute window every 5 s).")
    var speed: Double = 1
    @Flag(help: "Write digests without their .metadata.json signature sidecars (as a plain `aws s3 sync` mirror has them).")
    var noSignatures = false
    @Flag(help: "Write no digest files.") var noDigests = false
    @Option(help: "Where to write the public keys (list-public-keys JSON); default DIR/public-keys.json.")
    var publicKeys: String?

    /// Settings that would write an empty or endless bucket are refused with the subcommand's usage.
    func validate() throws {
        guard accounts >= 1 else { throw ValidationError("--accounts must be at least 1 (got \(accounts))") }
        guard hours > 0 else { throw ValidationError("--hours must be more than 0 (got \(hours.shown))") }
        guard rate > 0 else { throw ValidationError("--rate must be more than 0 events per minute (got \(rate.shown))") }
        guard speed > 0 else { throw ValidationError("--speed must be more than 0 (got \(speed.shown))") }
        for r in regions.split(separator: ",", omittingEmptySubsequences: false) {
            guard !r.isEmpty, r.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
                throw ValidationError("--regions: '\(r)' is not a region name (comma-separated, like us-east-1,eu-west-1)")
            }
        }
    }

    func run() throws {
        var o = Simulator.Options(out: out)
        o.accounts = accounts
        o.regions = regions.split(separator: ",").map(String.init)
        o.hours = hours
        o.seed = seed
        o.ratePerMinute = rate
        o.digests = !noDigests
        o.signatureSidecars = !noSignatures
        o.publicKeysPath = publicKeys
        let now = Int64(time(nil)) * 1000
        if let start {
            o.start = try parseTime(start)
        } else if follow {
            o.start = (now - Int64(hours * 3_600_000)) / 300_000 * 300_000
        }
        let sim = Simulator(o)
        let history = sim.windowCount
        let m = try sim.write(windows: 0..<history)
        print("wrote \(m.files) files, \(m.records) records (\(m.duplicates) re-delivered, \(m.late) late), \(m.digests) digests for accounts \(sim.accountIDs.joined(separator: ", "))")
        guard follow else { return }
        var w = history
        while true {
            let wait = 300 / max(speed, 0.001)
            usleep(UInt32(min(wait, 4000) * 1_000_000))
            let m = try sim.write(windows: w..<(w + 1), setMTime: false)
            print("delivered \(m.files) files, \(m.records) records (window \(w))")
            w += 1
        }
    }
}
