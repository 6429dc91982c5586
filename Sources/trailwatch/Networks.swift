import ArgumentParser
import CloudTrail
import LogStore
import Rules

/// `trailwatch networks suggest`: the first-run helper for `unknown-source-ip`. It reads the
/// stored events of the first days and prints the networks they came from, ready to review and
/// paste into `known-networks.list`.
struct Networks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Known networks for the unknown-source-ip rule.", subcommands: [Suggest.self])

    struct Suggest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the networks the stored events came from (first N days), with counts, as known-networks.list lines.",
            discussion: """
                Reads sourceIPAddress of every stored event from the first event on (or --start) for --days days, \
                in every log group (or --group), skips service names such as ec2.amazonaws.com and 'AWS Internal', \
                and groups addresses into IPv4 /24 and IPv6 /48 networks. Review the list before pasting it: \
                every network in it stops alerting.
                """)
        @Option(help: "State directory.") var state: String
        @Option(help: "How many days of events to learn from.") var days = 7
        @Option(help: "Start of the window (ISO 8601 or epoch ms; default: the oldest stored event).") var start: String?
        @Option(name: .customLong("group"), help: "Only this log group (repeatable; default: all).") var groups: [String] = []
        @Option(help: "Only networks with at least this many calls.") var minCount = 1
        @Option(help: "IPv4 network size (prefix length).") var ipv4Prefix = 24
        @Option(help: "IPv6 network size (prefix length).") var ipv6Prefix = 48

        func validate() throws {
            guard days > 0 else { throw ValidationError("--days must be at least 1") }
            guard (8...32).contains(ipv4Prefix), (16...128).contains(ipv6Prefix) else {
                throw ValidationError("--ipv4-prefix takes 8 to 32, --ipv6-prefix 16 to 128")
            }
        }

        func run() throws {
            let store = try LogStore(stateDirectory: state, readOnly: true)
            let stores = try groups.isEmpty ? store.accounts().map { try store.account($0) } : groups.map { try store.store(forGroup: $0) }
            guard !stores.isEmpty else { throw ValidationError("no log groups in \(state): nothing stored yet") }
            let oldest = try stores.flatMap { try $0.streams() }.compactMap(\.firstEventTimestamp).min()
            guard let from = try start.map(parseTime) ?? oldest else {
                print("# no events stored yet in \(state)")
                return
            }
            let until = from + Int64(days) * 86_400_000
            var tally = NetworkTally(ipv4Prefix: ipv4Prefix, ipv6Prefix: ipv6Prefix)
            for s in stores {
                // An hour at a time, so each query's candidate list stays small.
                var t = from
                while t < until {
                    let end = min(until, t + 3_600_000) - 1
                    var token: String? = nil
                    repeat {
                        let page = try s.filter(start: t, end: end, limit: 10_000, nextToken: token)
                        for e in page.events { e.message.withUnsafeBytes { tally.add(record: $0, time: e.timestamp) } }
                        token = page.nextToken
                    } while token != nil
                    t += 3_600_000
                }
            }
            let found = tally.suggestions(minCalls: minCount)
            let window = "\(Timestamp.formatISO8601(from)) .. \(Timestamp.formatISO8601(until))"
            print("# trailwatch networks suggest: \(tally.records) events of \(stores.count) log groups, \(window)")
            print("# \(tally.records - tally.notAddresses) from addresses in \(tally.entries.count) networks; \(tally.notAddresses) from service names or without an address (never unknown)")
            if found.count < tally.entries.count { print("# \(tally.entries.count - found.count) networks with fewer than \(minCount) calls left out") }
            print("# Review before pasting into known-networks.list: calls from these networks no longer alert.")
            for e in found { print(NetworkTally.line(e)) }
        }
    }
}
