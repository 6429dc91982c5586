import AlertModel
import CloudTrail
import Rules
import Testing

/// Suppression under an alert storm: a hit the open period swallows builds no alert, yet the
/// alerts and summaries are exactly the ones each hit's own alert gave.
@Suite struct SuppressionStormTests {
    static let rule = "rule noisy\n  when eventName = \"GetObject\"\n  suppress by userIdentity.arn, sourceIPAddress for 1h\nend\n"

    static func ev(_ id: String, _ time: String, user: String = "alice", ip: String = "203.0.113.1") -> String {
        #"{"eventTime":"\#(time)","eventID":"\#(id)","eventName":"GetObject","sourceIPAddress":"\#(ip)","userIdentity":{"arn":"arn:aws:iam::1:user/\#(user)"}}"#
    }

    /// Runs `files` (each a list of events) through one engine and store, then the end-of-run flush.
    static func run(_ files: [[String]]) throws -> [Alert] {
        let (set, d) = compile(rule)
        let s = try #require(set, "\(d)")
        let engine = RuleEngine(ruleSet: s)
        let store = MemoryRuleState()
        var alerts: [Alert] = []
        for (f, events) in files.enumerated() {
            var hits: [RuleHit] = []
            for (n, e) in events.enumerated() {
                hits += Array(e.utf8).withUnsafeBytes { s.hits(record: $0, index: n, account: "123456789012", region: "us-east-1") }
            }
            alerts += try engine.process(hits, logFile: "f\(f)", store: store)
        }
        return alerts + (try engine.flush(store: store, before: nil))
    }

    /// The time suppression compares is the whole second the alert's `eventTime` shows (what
    /// parsing it back gives), and the event's own time where that text does not parse back.
    @Test func suppressionTimeIsTheAlertsEventTimeParsedBack() {
        let year0 = Timestamp.daysFromCivil(0, 1, 1) * 86_400_000
        let year10000 = Timestamp.daysFromCivil(10000, 1, 1) * 86_400_000
        let edges: [Int64] = [
            0, 1, 999, 1000, 1001, -1, -999, -1000, -1001, 1_709_290_800_700, 1_709_294_399_999, year0, year0 + 1, year0 - 1,
            year10000 - 1, year10000, year10000 + 1, -62_000_000_000_000, 300_000_000_000_000, .min / 2, .max / 2,
        ]
        var generator = SystemRandomNumberGenerator()
        let random = (0..<2000).map { _ in Int64.random(in: (year0 - 86_400_000)...(year10000 + 86_400_000), using: &generator) }
        for ms in edges + random {
            let expected = Timestamp.parseISO8601(Timestamp.formatISO8601(ms)) ?? ms - 7
            #expect(RuleEngine.alertTime(ms, else: ms - 7) == expected, "\(ms)")
        }
    }

    /// A period begun by an event at .700 s ends on the whole second an hour after the second its
    /// alert shows: an event half a second into that second starts the next period.
    @Test func periodsRunFromTheWholeSecondTheAlertShows() throws {
        let alerts = try Self.run([
            [Self.ev("a", "2024-03-01T10:00:00.700Z")],
            [Self.ev("b", "2024-03-01T10:59:59.999Z"), Self.ev("c", "2024-03-01T11:00:00.500Z")],
            [Self.ev("d", "2024-03-01T11:30:00Z")],
        ])
        #expect(alerts.map(\.eventIDs) == [["a"], ["b"], ["c"], ["d"]])
        let (first, summary, second, last) = (alerts[0], alerts[1], alerts[2], alerts[3])
        let key = "arn:aws:iam::1:user/alice, 203.0.113.1"
        #expect(first.eventTime == "2024-03-01T10:00:00Z" && first.count == 1 && first.records == [Self.ev("a", "2024-03-01T10:00:00.700Z")])
        #expect(first.alertID == MessageID.derive("noisy\u{1F}123456789012\u{1F}a"))
        let until = try #require(Timestamp.parseISO8601("2024-03-01T11:00:00Z"))
        #expect(summary.message == "noisy: 1 more alert for \(key) were suppressed until 2024-03-01T11:00:00Z (first: \(first.message))")
        #expect(summary.alertID == MessageID.derive("summary\u{1F}" + first.alertID + "\u{1F}\(until)\u{1F}b"))
        #expect(summary.extra == ["SUMMARY_OF": first.alertID] && summary.records.isEmpty && summary.count == 1)
        #expect(summary.eventTime == first.eventTime && summary.logFile == "f0", "a summary is its period's first alert otherwise")
        #expect(second.eventTime == "2024-03-01T11:00:00Z" && second.logFile == "f1")
        #expect(last.message == "noisy: 1 more alert for \(key) were suppressed until 2024-03-01T12:00:00Z (first: \(second.message))")
    }

    /// Thousands of hits under three keys in a few files: each key's first alert, a summary of
    /// exactly 1,000 ids whenever a period collects them (in event order), the rest at the end;
    /// every event in exactly one alert; the same alerts as one file per event gives.
    @Test func aStormOfSuppressedHitsGivesExactlyTheSummariesOfEachHit() throws {
        let users = ["alice", "bob", "carol"]
        func time(_ n: Int) -> String { String(format: "2024-03-01T10:%02d:%02d.%03dZ", n / 60 % 60, n % 60, n * 7 % 1000) }
        func event(_ n: Int) -> String {
            Self.ev("e\(n)", time(n), user: users[n % 3], ip: n % 3 == 2 ? "2001:db8::\(n % 3)" : "203.0.113.\(n % 3)")
        }
        func files(_ events: [String], _ size: Int) -> [[String]] {
            stride(from: 0, to: events.count, by: size).map { Array(events[$0..<min($0 + size, events.count)]) }
        }
        let events: [String] = (0..<2700).map(event)
        let alerts = try Self.run(files(events, 600))
        #expect(alerts.count == 3 + 3 * 1, "per key: the first alert and one summary of 899 at the end")
        #expect(try Self.run(events.map { [$0] }).map(\Alert.alertID) == alerts.map(\Alert.alertID), "one file per event alerts alike")
        for (k, user) in users.enumerated() {
            let mine = alerts.filter { $0.principal.hasSuffix(user) }
            let ids = (0..<900).map { "e\($0 * 3 + k)" }
            #expect(mine.map(\Alert.eventIDs) == [[ids[0]], Array(ids.dropFirst())])
            #expect(mine[1].count == 899 && mine[1].message.hasPrefix("noisy: 899 more alerts for arn:aws:iam::1:user/\(user), "))
        }
        let listed = alerts.flatMap(\Alert.eventIDs)
        #expect(listed.count == events.count && Set(listed).count == events.count)

        // One key over 2,500 hits: full summaries at 1,000 and 2,000 ids, in event order.
        let busy: [String] = (0..<2501).map { n in Self.ev(String(format: "b%05d", n), time(n)) }
        let busyAlerts = try Self.run(files(busy, 700))
        #expect(busyAlerts.map(\Alert.count) == [1, 1000, 1000, 500])
        #expect(busyAlerts[1].eventIDs == (1...1000).map { String(format: "b%05d", $0) })
        #expect(busyAlerts[2].eventIDs.first == "b01001" && busyAlerts[3].eventIDs.last == "b02500")
        #expect(Set(busyAlerts.dropFirst().map(\Alert.alertID)).count == 3 && busyAlerts.dropFirst().allSatisfy { $0.extra["SUMMARY_OF"] == busyAlerts[0].alertID })
    }
}
