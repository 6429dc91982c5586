import AlertModel
import CloudTrail
import Foundation
import Rules
import Testing

/// Compiles rule text (plus list files) and returns the set or the diagnostics.
func compile(_ text: String, lists: [String: String] = [:]) -> (RuleSet?, [Diagnostic]) {
    RuleSet.compile(
        ruleFiles: [RuleSourceFile(path: "t.rules", text: text)],
        listFiles: lists.map { RuleSourceFile(path: "\($0.key).list", text: $0.value) })
}

/// Names of the rules that match `event`.
func matching(_ set: RuleSet, _ event: String) -> [String] {
    Array(event.utf8).withUnsafeBytes { set.hits(record: $0, index: 0, account: "123456789012", region: "us-east-1") }
        .map { set.rules[$0.rule].name }
}

@Suite struct LanguageTests {
    static let event = #"{"eventTime":"2024-03-01T10:00:00Z","eventID":"e-1","eventName":"DeleteBucketPolicy","eventSource":"s3.amazonaws.com","sourceIPAddress":"203.0.113.77","readOnly":false,"requestParameters":null,"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/Alice","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},"additionalEventData":{"MFAUsed":"NO","bytes":1536},"resources":[{"ARN":"arn:aws:s3:::a"},{"ARN":"arn:aws:s3:::logs-bucket"}]}"#

    @Test func everyOperator() throws {
        let cases: [(String, Bool)] = [
            (#"eventName = "DeleteBucketPolicy""#, true), (#"eventName != "DeleteBucketPolicy""#, false),
            (#"userIdentity.arn ~= "ARN:AWS:IAM::123456789012:USER/ALICE""#, true), (#"additionalEventData.MFAUsed ~= "no""#, true),
            (#"additionalEventData.MFAUsed = "No""#, false), (#"eventName like "Delete*Policy""#, true),
            (#"eventName like "Put*""#, false), (#"eventName not like "Put*""#, true), (#"eventName matches "^Delete(Bucket)?Policy$""#, true),
            ("additionalEventData.bytes > 1024", true), ("additionalEventData.bytes <= 1024", false), ("additionalEventData.bytes >= 1536", true),
            ("additionalEventData.bytes < 2000", true), ("readOnly = false", true), ("readOnly = true", false),
            ("requestParameters is null", true), ("responseElements is null", false), ("responseElements not exists", true),
            ("userIdentity.sessionContext.attributes.mfaAuthenticated exists", true), (#"resources[1].ARN = "arn:aws:s3:::logs-bucket""#, true),
            (#"resources[*].ARN like "*logs*""#, true), (#"resources[*].ARN = "arn:aws:s3:::nope""#, false),
            ("eventName in (DeleteBucketPolicy, PutBucketPolicy)", true), (#"eventName in ("PutBucketAcl")"#, false),
            ("eventName in s3-changes", true), ("sourceIPAddress in networks docs", true), ("sourceIPAddress not in networks docs", false),
            ("sourceIPAddress not in networks office", true), ("eventSource not in networks office", false),
            (#"not (eventName = "X" or readOnly = true) and eventSource = "s3.amazonaws.com""#, true),
            (#"eventName = "X" or eventName = "Y" or (readOnly = false and is-s3)"#, true),
            (#"is-s3 and not is-s3"#, false),
        ]
        var text = #"condition is-s3 = eventSource = "s3.amazonaws.com""# + "\nlist s3-changes = DeleteBucketPolicy, PutBucketPolicy\n"
        for (n, c) in cases.enumerated() { text += "rule r\(n)\n  when \(c.0)\nend\n" }
        let (set, diagnostics) = compile(text, lists: ["docs": "203.0.113.0/24\n", "office": "198.51.100.0/24 # office\n2001:db8::/32\n"])
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        let s = try #require(set)
        let matched = Set(matching(s, Self.event))
        for (n, c) in cases.enumerated() {
            #expect(matched.contains("r\(n)") == c.1, "\(c.0)")
        }
    }

    @Test func unlessAndPatternAndMultiLineConditions() throws {
        let text = """
            rule deletes-outside-office
                when eventName like "Delete*"
                     and readOnly = false
                pattern { $.eventSource = "s3.amazonaws.com" }
                unless sourceIPAddress in networks office
                unless userIdentity.arn like "*:user/break-glass"
            end
            """
        let (set, d) = compile(text, lists: ["office": "198.51.100.0/24\n"])
        let s = try #require(set, "\(d)")
        #expect(matching(s, Self.event) == ["deletes-outside-office"])
        #expect(matching(s, Self.event.replacingOccurrences(of: "203.0.113.77", with: "198.51.100.9")).isEmpty)
        #expect(matching(s, Self.event.replacingOccurrences(of: "user/Alice", with: "user/break-glass")).isEmpty)
        #expect(matching(s, Self.event.replacingOccurrences(of: "s3.amazonaws.com", with: "ec2.amazonaws.com")).isEmpty)
    }

    @Test func errorsNameFileLineAndColumnWithAHint() {
        func first(_ text: String, lists: [String: String] = [:]) -> Diagnostic? {
            compile(text, lists: lists).1.first { $0.severity == .error }
        }
        let cases: [(String, Int, Int, String)] = [
            ("rule a\n  when eventName = ConsoleLogin\nend\n", 2, 20, "quote"),
            ("rule a\n  when eventName = \"x\" and\nend\n", 2, 27, "expected"),
            ("rule a\n  severity urgent\nend\n", 2, 12, "critical, high"),
            ("rule a\n  when (eventName = \"x\"\nend\n", 2, 24, "')'"),
            ("rule a\n  when eventName in nolist\nend\n", 2, 8, "unknown list"),
            ("rule a\n  when known\nend\n", 2, 8, "unknown condition"),
            ("rule a\n  threshold count >= ten within 5m\nend\n", 2, 19, ">= N"),
            ("rule a\n  pattern { $.eventName = }\nend\n", 2, 27, "filter pattern"),
            ("rule a\n  wen eventName = \"x\"\nend\n", 2, 3, "unknown clause"),
            ("rule a\n  when eventName = \"x\"\n", 1, 1, "no 'end'"),
            ("rule a\n  when eventName matches \"(\"\nend\n", 2, 8, "regular expression"),
        ]
        for (text, line, column, words) in cases {
            guard let d = first(text) else {
                Issue.record("accepted: \(text)")
                continue
            }
            #expect(d.position.file == "t.rules")
            #expect(d.position.line == line && d.position.column == column, "\(d) for \(text)")
            #expect(d.description.contains(words), "\(d)")
            #expect(d.description.hasPrefix("t.rules:\(line):\(column): error: "))
        }
        let bad = compile("rule a\n  when sourceIPAddress not in networks n\nend\n", lists: ["n": "10.0.0.0/8\n300.1.1.0/24\n"]).1
        #expect(bad.contains { $0.position.file == "n.list" && $0.position.line == 2 && $0.message.contains("not an IPv4 or IPv6 network") })
        let twice = compile("rule a\nend\nrule a\nend\n").1
        #expect(twice.contains { $0.message.contains("defined twice") && $0.position.line == 3 })
        let lint = compile("rule a\n  when eventname = \"x\"\nend\n")
        #expect(lint.0 != nil, "unknown fields are warnings, not errors")
        #expect(lint.1.contains { $0.severity == .warning && $0.message.contains("eventname") })
        // Message placeholders: built-ins and real field paths pass, a typo is a warning at the message.
        let placeholders = compile(
            "rule a\n  when eventName = \"x\"\n  message \"{event_nam} by {principal} {userIdentity.arn} {requestParameters.bucketName} {count}\"\nend\n")
        #expect(placeholders.0 != nil)
        let warnings = placeholders.1.filter { $0.severity == .warning }
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.message.contains("'{event_nam}'") == true)
        #expect(warnings.first?.position.line == 3 && warnings.first?.position.column == 11, "\(warnings)")
        #expect(warnings.first?.hint?.contains("{event_name}") == true)
    }
}

@Suite struct EngineTests {
    func run(_ text: String, _ events: [String], lists: [String: String] = [:]) throws -> [Alert] {
        let (set, d) = compile(text, lists: lists)
        let s = try #require(set, "\(d)")
        let engine = RuleEngine(ruleSet: s)
        let store = MemoryRuleState()
        var alerts: [Alert] = []
        for (n, e) in events.enumerated() {
            let hits = Array(e.utf8).withUnsafeBytes { s.hits(record: $0, index: n, account: "123456789012", region: "us-east-1") }
            alerts += try engine.process(hits, logFile: "f\(n)", store: store)
        }
        return alerts + (try engine.flush(store: store, before: nil))
    }

    func ev(_ id: String, _ time: String, ip: String = "203.0.113.1", user: String = "alice", name: String = "GetObject") -> String {
        #"{"eventTime":"\#(time)","eventID":"\#(id)","eventName":"\#(name)","sourceIPAddress":"\#(ip)","userIdentity":{"arn":"arn:aws:iam::1:user/\#(user)"}}"#
    }

    @Test func distinctCountThreshold() throws {
        let rule = "rule spray\n  when eventName = \"GetObject\"\n  threshold distinct sourceIPAddress >= 3 within 10m by userIdentity.arn\nend\n"
        let three = try run(rule, [ev("a", "2024-03-01T10:00:00Z", ip: "1.1.1.1"), ev("b", "2024-03-01T10:01:00Z", ip: "1.1.1.1"),
                                   ev("c", "2024-03-01T10:02:00Z", ip: "2.2.2.2"), ev("d", "2024-03-01T10:09:00Z", ip: "3.3.3.3")])
        #expect(three.count == 1)
        #expect(three.first?.count == 4 && three.first?.eventTime == "2024-03-01T10:00:00Z")
        let twoUsers = try run(rule, [ev("a", "2024-03-01T10:00:00Z", ip: "1.1.1.1"), ev("b", "2024-03-01T10:01:00Z", ip: "2.2.2.2", user: "bob"),
                                      ev("c", "2024-03-01T10:02:00Z", ip: "3.3.3.3")])
        #expect(twoUsers.isEmpty, "grouped by principal")
        let tooSlow = try run(rule, [ev("a", "2024-03-01T10:00:00Z", ip: "1.1.1.1"), ev("b", "2024-03-01T10:06:00Z", ip: "2.2.2.2"),
                                     ev("c", "2024-03-01T10:10:01Z", ip: "3.3.3.3")])
        #expect(tooSlow.isEmpty)
    }

    @Test func twoBurstsFarApartAlertTwiceAndAReplayNever() throws {
        let rule = "rule burst\n  when eventName = \"GetObject\"\n  threshold count >= 3 within 1m by userIdentity.arn\nend\n"
        let events = ["10:00:00", "10:00:10", "10:00:20", "10:00:30", "10:05:00", "10:05:10", "10:05:20"].enumerated().map {
            ev("e\($0.offset)", "2024-03-01T\($0.element)Z")
        }
        let alerts = try run(rule, events + events)  // the same events again change nothing
        #expect(alerts.count == 2)
        #expect(alerts.map(\.eventTime) == ["2024-03-01T10:00:00Z", "2024-03-01T10:05:00Z"])
    }

    @Test func firstSeenLearnsKeysThenAlertsOnNewValues() throws {
        let rule = "rule new-ip\n  when eventName = \"GetObject\"\n  first-seen sourceIPAddress by userIdentity.arn over 1d\n  message \"{principal} from new address {source_ip}\"\nend\n"
        let alerts = try run(rule, [
            ev("a", "2024-03-01T10:00:00Z", ip: "1.1.1.1"),  // a new principal: learned silently
            ev("b", "2024-03-01T11:00:00Z", ip: "1.1.1.1"),  // known
            ev("c", "2024-03-01T12:00:00Z", ip: "2.2.2.2"),  // new address for a known principal: alert
            ev("d", "2024-03-01T13:00:00Z", ip: "2.2.2.2"),  // seen an hour ago
            ev("e", "2024-03-03T12:00:00Z", ip: "1.1.1.1"),  // not seen for more than a day: alert
        ])
        #expect(alerts.map(\.eventIDs) == [["c"], ["e"]])
        #expect(alerts.first?.message == "arn:aws:iam::1:user/alice from new address 2.2.2.2")
    }

    @Test func suppressionSummarizesRepeatsWithTheirCount() throws {
        let rule = "rule noisy\n  severity low\n  when eventName = \"GetObject\"\n  suppress by userIdentity.arn for 1h\nend\n"
        let events = (0..<5).map { ev("s\($0)", "2024-03-01T10:0\($0):00Z") } + [ev("t", "2024-03-01T12:00:00Z")]
        let alerts = try run(rule, events)
        // First alert, then (when the next period starts) one summary for the 4 suppressed, then the new one.
        #expect(alerts.count == 3)
        #expect(alerts[0].eventIDs == ["s0"])
        #expect(alerts[1].count == 4 && alerts[1].eventIDs == ["s1", "s2", "s3", "s4"])
        #expect(alerts[1].message.contains("4 more alerts"))
        #expect(alerts[2].eventIDs == ["t"])
        // Summaries also come out at the end of a run.
        let ended = try run(rule, Array(events.prefix(3)))
        #expect(ended.count == 2 && ended[1].count == 2)
    }

    @Test func aBusySuppressionSummarizesEveryThousandCallsAndLosesNone() throws {
        let rule = "rule noisy\n  when eventName = \"GetObject\"\n  suppress by userIdentity.arn for 1h\nend\n"
        let n = 2 * SuppressionState.maxEventIDs + 501
        let events = (0..<n).map { ev(String(format: "b%05d", $0), "2024-03-01T10:\(String(format: "%02d", $0 / 60 % 60)):\(String(format: "%02d", $0 % 60))Z") }
        let alerts = try run(rule, events)
        #expect(alerts.count == 4, "the first alert, two full summaries, the rest at the end")
        #expect(alerts.dropFirst().map(\.count) == [SuppressionState.maxEventIDs, SuppressionState.maxEventIDs, 500])
        #expect(alerts.dropFirst().allSatisfy { $0.extra["SUMMARY_OF"] == alerts[0].alertID && $0.count == $0.eventIDs.count })
        let listed = alerts.flatMap(\.eventIDs)
        #expect(listed.count == n && Set(listed).count == n, "every call in exactly one alert")
        #expect(Set(alerts.map(\.alertID)).count == 4)
    }

    @Test func recordsWithoutEventIDGetTheirOwnIDs() throws {
        // Record version 1.0 has no eventID: two different root calls must not share an alert id.
        let rule = "rule root\n  when userIdentity.type = \"Root\"\nend\n"
        let a = #"{"eventVersion":"1.0","eventTime":"2013-11-20T10:00:00Z","eventName":"ListBuckets","userIdentity":{"type":"Root"}}"#
        let b = #"{"eventVersion":"1.0","eventTime":"2013-11-20T10:00:00Z","eventName":"ListUsers","userIdentity":{"type":"Root"}}"#
        let alerts = try run(rule, [a, b, a])
        #expect(alerts.count == 2, "two alerts; the same record again is the same alert")
        #expect(alerts.allSatisfy { $0.eventIDs[0].hasPrefix("no-eventID-") && $0.eventIDs[0].count == 43 })
        #expect(Set(alerts.map(\.alertID)).count == 2)
    }

    @Test func alertCarriesEveryField() throws {
        let a = try #require(try run(
            "rule r\n  severity critical\n  when eventName = \"StopLogging\"\n  message \"{event_name} by {principal} ({userIdentity.type})\"\nend\n",
            [#"{"eventTime":"2024-03-01T10:00:00Z","eventID":"x1","eventName":"StopLogging","awsRegion":"eu-west-1","recipientAccountId":"210987654321","sourceIPAddress":"203.0.113.5","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::210987654321:user/mallory","accountId":"210987654321"}}"#]).first)
        #expect(a.rule == "r" && a.severity == "critical" && a.priority == 2)
        // The account is the log group's (the delivery folder's: 123456789012 here), whatever the record names.
        #expect(a.account == "123456789012" && a.region == "eu-west-1" && a.sourceIP == "203.0.113.5" && a.eventName == "StopLogging")
        #expect(a.extra == ["PRINCIPAL_ACCOUNT": "210987654321"], "the caller's account beside it")
        #expect(a.principal == "arn:aws:iam::210987654321:user/mallory" && a.eventIDs == ["x1"] && a.count == 1)
        #expect(a.message == "StopLogging by arn:aws:iam::210987654321:user/mallory (IAMUser)")
        #expect(a.messageID.count == 32 && a.alertID.count == 32 && a.records.count == 1)
        #expect(a.messageID == MessageID.derive("trailwatch.rule.r"), "stable per rule")
    }
}

@Suite struct AlertPayloadTests {
    /// The outbox payload, written without JSONEncoder, decodes back to the same alert.
    @Test func payloadDecodesToTheSameAlert() throws {
        let a = Alert(
            rule: "root-usage", severity: "high", priority: 3, messageID: "0123456789abcdef0123456789abcdef",
            message: "Root \"ConsoleLogin\" from 203.0.113.5\tü ✓", account: "123456789012", region: "us-east-1",
            principal: "arn:aws:iam::123456789012:root", sourceIP: "203.0.113.5", eventName: "ConsoleLogin",
            eventIDs: ["e-1", "e-2"], eventTime: "2024-03-01T10:00:00Z", count: 2, logFile: "/b/AWSLogs/x.json.gz",
            alertID: "abc", records: [#"{"eventID":"e-1","s":"a\"b\\c\n"}"#, #"{"eventID":"e-2"}"#],
            extra: ["DIGEST": "s3://b/d.json.gz", "REASON": "line\nbreak"])
        let back = try JSONDecoder().decode(Alert.self, from: Data(a.payload))
        #expect(back == a)
        var bare = a
        bare.extra = [:]
        bare.records = []
        #expect(try JSONDecoder().decode(Alert.self, from: Data(bare.payload)) == bare)
    }

    /// The store's binary form reads back to the same alert, as does the JSON payload that stores
    /// written before it hold; damaged bytes read as nothing, never as another alert.
    @Test func compactFormReadsBackAndTheJSONPayloadStillReads() throws {
        let a = Alert(
            rule: "root-usage", severity: "high", priority: -3, messageID: "0123456789abcdef0123456789abcdef",
            message: "Root \"ConsoleLogin\" from 203.0.113.5\tü ✓ \u{0}", account: "123456789012", region: "us-east-1",
            principal: "arn:aws:iam::123456789012:root", sourceIP: "", eventName: "ConsoleLogin",
            eventIDs: ["e-1", "e-2"], eventTime: "2024-03-01T10:00:00Z", count: 200_000, logFile: "/b/AWSLogs/x.json.gz",
            alertID: "abc", records: [#"{"eventID":"e-1","s":"a\"b\\c\n"}"#, ""],
            extra: ["DIGEST": "s3://b/d.json.gz", "REASON": "line\nbreak"])
        var bare = a
        bare.extra = [:]
        bare.records = []
        bare.eventIDs = []
        for x in [a, bare] {
            let c = x.compact
            #expect(c.first == 1, "never `{`: the form is told by the first byte")
            #expect(Alert.stored(c) == x)
            #expect(Alert.stored(x.payload) == x, "the JSON payload of an older store")
            #expect(Alert.stored(c + [0]) == nil, "trailing bytes")
            for cut in [1, c.count / 2, c.count - 1] { #expect(Alert.stored(Array(c.prefix(cut))) == nil, "cut at \(cut)") }
        }
        #expect(Alert.stored([]) == nil && Alert.stored([7, 0]) == nil)
        #expect(a.compact.count < a.payload.count)
    }
}
