import CloudTrail
import Rules
import Testing

/// The evaluator's shortcuts (the event-name table, the one pass that finds a record's top-level
/// keys, values compared in place) give exactly what a plain reading of the record gives.
@Suite struct LookupTests {
    /// Names of the rules matching `event`, evaluated once with the splitter's member index (as
    /// the pipeline does) and once without it (the evaluator scans the record itself); both must agree.
    static func matched(_ set: RuleSet, _ event: String) throws -> [String] {
        let bytes = Array(event.utf8)
        var members: [TopMember]? = nil
        var splitter = RecordSplitter()
        try Array(#"{"Records":["#.utf8 + bytes + "]}".utf8).withUnsafeBytes { doc in
            try splitter.feed(doc) { _, _, fields in members = fields.members }
        }
        try splitter.finish()
        let given = try #require(members, "the splitter found no record in \(event)")
        let evaluator = Evaluator()
        let withMembers = bytes.withUnsafeBytes {
            set.hits(record: $0, index: 0, account: "123456789012", region: "us-east-1", evaluator: evaluator, members: given)
        }
        let scanned = bytes.withUnsafeBytes {
            set.hits(record: $0, index: 0, account: "123456789012", region: "us-east-1", evaluator: evaluator)
        }
        let names = withMembers.map { set.rules[$0.rule].name }
        #expect(names == scanned.map { set.rules[$0.rule].name }, "with and without the member index: \(event)")
        #expect(withMembers.map(\.context.eventName) == scanned.map(\.context.eventName))
        return names.sorted()
    }

    @Test func topLevelKeysAreFoundAsAScanFindsThem() throws {
        // eventName, eventTime and eventType share a length and last byte (one bucket of the
        // evaluator's key table); errorCode and awsRegion too; userIdentity is also an alert's context.
        let text = """
            rule name-a
                when eventName = "A"
            end
            rule name-b
                when eventName = "B"
            end
            rule type-service
                when eventType = "AwsServiceEvent"
            end
            rule denied
                pattern { $.errorCode = "AccessDenied*" }
            end
            rule root
                pattern { $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }
            end
            rule in-region
                when awsRegion = "eu-west-1"
            end
            rule read-only
                pattern { $.readOnly IS TRUE }
            end
            rule quoted
                when requestParameters.name = "a\\"b"
            end
            """
        let (set, diagnostics) = RuleSet.compile(ruleFiles: [RuleSourceFile(path: "t.rules", text: text)], listFiles: [])
        let s = try #require(set, "\(diagnostics)")
        let base = #""eventTime":"2024-03-01T10:00:00Z","eventID":"e-1""#
        let cases: [(String, [String])] = [
            (#"{\#(base),"eventName":"A","eventType":"AwsApiCall","awsRegion":"eu-west-1"}"#, ["in-region", "name-a"]),
            // A key given twice: the first counts, as a scan from the start finds it.
            (#"{\#(base),"eventName":"A","eventName":"B"}"#, ["name-a"]),
            (#"{\#(base),"eventName":"B","eventType":"AwsServiceEvent","eventType":"AwsApiCall"}"#, ["name-b", "type-service"]),
            // An escaped key is not the key (as before: neither the scan nor the index decodes keys).
            (#"{\#(base),"event\u004eame":"A","errorCode":"AccessDeniedException"}"#, ["denied"]),
            (#"{\#(base),"errorCode":"AccessDenied","userIdentity":{"type":"Root"},"readOnly":true}"#, ["denied", "read-only", "root"]),
            // Root invoked by a service is not root use; IS TRUE is the JSON value true, not the string.
            (#"{\#(base),"userIdentity":{"type":"Root","invokedBy":"s3.amazonaws.com"},"readOnly":"true"}"#, []),
            (#"{\#(base),"requestParameters":{"name":"a\"b"},"awsRegion":"us-east-1"}"#, ["quoted"]),
            // Keys the rules never read, of the same lengths and last bytes as ones they do.
            (#"{\#(base),"eventNamf":"A","errorCodf":"AccessDenied","awsRegiom":"eu-west-1","eventTypo":"AwsServiceEvent"}"#, []),
            (#"{}"#, []),
        ]
        for (event, expected) in cases {
            #expect(try Self.matched(s, event) == expected, "\(event)")
        }
    }

    /// Top-level keys of many lengths, against record keys of the same length and last byte
    /// (the same bucket of the key table) that differ in one byte anywhere else.
    @Test func keysDifferingInOneByteAreOtherKeys() throws {
        let keys = [3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 23, 24, 25].map { String("AbcdefgHijklmnopqrstuvwxyz".prefix($0)) }
        let text = keys.map { "rule k\($0.count)\n    when \($0) = \"x\"\nend\n" }.joined()
        let (set, diagnostics) = RuleSet.compile(ruleFiles: [RuleSourceFile(path: "t.rules", text: text)], listFiles: [])
        let s = try #require(set, "\(diagnostics)")
        var tried = 0
        for k in keys {
            #expect(try Self.matched(s, #"{"\#(k)":"x"}"#) == ["k\(k.count)"], "\(k)")
            for i in 0..<(k.count - 1) {
                let other = String(k.prefix(i)) + "#" + String(k.dropFirst(i + 1))
                #expect(try Self.matched(s, #"{"\#(other)":"x"}"#).isEmpty, "\(other)")
                tried += 1
            }
        }
        #expect(tried == keys.reduce(0) { $0 + $1.count - 1 })
    }

    /// A rule that cannot match a record without a field, or without one of some values of it, is
    /// skipped on such records before its conditions run: never on a record it would match.
    @Test func guardsSkipOnlyRecordsARuleCannotMatch() throws {
        let text = """
            rule root
                when userIdentity.type = "Root" and eventType != "AwsServiceEvent"
            end
            rule denied
                pattern { ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }
            end
            rule no-error
                when errorCode not exists and eventType = "AwsApiCall"
            end
            rule error-or-no-type
                when errorCode = "Throttling" or eventType not exists
            end
            rule pattern-or-missing
                pattern { $.errorMessage = "x" || $.errorMessage NOT EXISTS }
            end
            rule code-text
                when responseElements.code = "404"
            end
            rule code-listed
                when responseElements.code in (404, 500)
            end
            rule bool-text
                pattern { $.readOnly = "true" }
            end
            """
        let (set, diagnostics) = RuleSet.compile(ruleFiles: [RuleSourceFile(path: "t.rules", text: text)], listFiles: [])
        let s = try #require(set, "\(diagnostics)")
        let base = #""eventTime":"2024-03-01T10:00:00Z","eventID":"e-1","errorMessage":"y""#
        let cases: [(String, [String])] = [
            (#"{\#(base),"eventType":"AwsApiCall","userIdentity":{"type":"Root"}}"#, ["no-error", "root"]),
            // An escaped value is decided by the rule itself, not skipped.
            (#"{\#(base),"eventType":"AwsApiCall","userIdentity":{"type":"R\u006fot"}}"#, ["no-error", "root"]),
            (#"{\#(base),"eventType":"AwsApiCall","userIdentity":{"type":"IAMUser"},"errorCode":"AccessDenied"}"#, ["denied"]),
            (#"{\#(base),"eventType":"AwsApiCall","errorCode":"Client.UnauthorizedOperation"}"#, ["denied"]),
            (#"{\#(base),"errorCode":"Throttling"}"#, ["error-or-no-type"]),
            (#"{"eventTime":"2024-03-01T10:00:00Z","eventID":"e-1"}"#, ["error-or-no-type", "pattern-or-missing"]),
            (#"{\#(base),"eventType":"AwsApiCall","responseElements":{"code":404}}"#, ["code-listed", "no-error"]),
            (#"{\#(base),"eventType":"AwsApiCall","responseElements":{"code":"404"}}"#, ["code-listed", "code-text", "no-error"]),
            (#"{\#(base),"eventType":"AwsApiCall","responseElements":{"code":403},"readOnly":true}"#, ["bool-text", "no-error"]),
        ]
        for (event, expected) in cases {
            #expect(try Self.matched(s, event) == expected, "\(event)")
        }
    }

    @Test func everyEventNameOfManyRulesIsFound() throws {
        // Enough names that the event-name table has collisions to step over.
        // Lengths around the byte compare's word sizes, each byte of which is changed below.
        let sized = [3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 23, 24, 25].map { String("AbcdefgHijklmnopqrstuvwxyz".prefix($0)) }
        let names = (0..<300).map { "Op\($0)Thing" } + ["", "A", "ConsoleLogin", "DeleteTrail"] + sized
        let text = names.enumerated().map { "rule r\($0.offset)\n    when eventName = \"\($0.element)\"\nend\n" }.joined()
            + "rule two\n    when eventName in (Op7Thing, Op250Thing)\nend\n"
        let (set, diagnostics) = RuleSet.compile(ruleFiles: [RuleSourceFile(path: "t.rules", text: text)], listFiles: [])
        let s = try #require(set, "\(diagnostics)")
        for (i, n) in names.enumerated() {
            let expected = ["r\(i)"] + (n == "Op7Thing" || n == "Op250Thing" ? ["two"] : [])
            #expect(try Self.matched(s, #"{"eventName":"\#(n)","eventID":"x"}"#) == expected.sorted(), "\(n)")
        }
        var others = ["Op300Thing", "op7thing", "Op7Thin", "Op7Thingg", "ConsoleLogin ", "Z"]
        for n in sized {
            for i in 0..<n.count { others.append(String(n.prefix(i)) + "#" + String(n.dropFirst(i + 1))) }
        }
        for other in others {
            #expect(try Self.matched(s, #"{"eventName":"\#(other)","eventID":"x"}"#).isEmpty, "\(other)")
        }
    }
}
