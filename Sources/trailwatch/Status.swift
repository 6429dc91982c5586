import ArgumentParser
import CloudTrail
import LogStore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per account and region: events stored and digest integrity (newest verified digest, valid, invalid, pending).")
    @Option(help: "State directory.") var state: String

    func run() throws {
        let store = try LogStore(stateDirectory: state, readOnly: true)
        print("account\tregion\tevents\tnewest verified digest\tvalid\tinvalid\tpending")
        var waiting: [(String, Int)] = []
        for a in store.accounts() {
            let s = try store.account(a)
            let n = try s.pendingAlertCount()
            if n > 0 { waiting.append((a, n)) }
            let integrity = Dictionary(uniqueKeysWithValues: try s.integrityStatus().map { ($0.region, $0) })
            var regions = Set(integrity.keys)
            let streams = try s.streams()
            for st in streams { regions.insert(String(st.name.dropFirst("\(a)_CloudTrail_".count))) }
            for r in regions.sorted() {
                let events = streams.first { $0.name == "\(a)_CloudTrail_\(r)" }?.events ?? 0
                let i = integrity[r]
                let newest = i?.newestVerified.map { Timestamp.formatISO8601($0) } ?? "-"
                print("\(a)\t\(r)\t\(events)\t\(newest)\t\(i?.valid ?? 0)\t\(i?.invalid ?? 0)\t\(i?.pending ?? 0)")
            }
        }
        if !waiting.isEmpty {
            let total = waiting.reduce(0) { $0 + $1.1 }
            let parts = waiting.map { "\($0.0): \($0.1)" }.joined(separator: ", ")
            print("\n\(total) alerts wait in the outbox (\(parts)): a sink refused them; they go out when it takes them again (the daemon's log names the sink)")
        }
    }
}
