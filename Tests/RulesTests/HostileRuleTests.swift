import Rules
import Testing

/// Rule files built to crash the parser or compiler (deep nesting, huge numbers, long chains of
/// named conditions) are errors at their file:line:column; just inside each limit still works.
@Suite struct HostileRuleTests {
    static let event = #"{"eventTime":"2024-03-01T10:00:00Z","eventID":"e-1","eventName":"x","resources":[{"ARN":"a"}]}"#

    func firstError(_ text: String) -> Diagnostic? { compile(text).1.first { $0.severity == .error } }

    func expectError(_ text: String, line: Int, column: Int, _ words: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let d = firstError(text) else {
            Issue.record("accepted", sourceLocation: sourceLocation)
            return
        }
        #expect(d.description.hasPrefix("t.rules:\(line):\(column): error: "), "\(d)", sourceLocation: sourceLocation)
        #expect(d.message.contains(words), "\(d)", sourceLocation: sourceLocation)
    }

    @Test func hugeArrayIndexInAPattern() {
        expectError("rule a\n  pattern { $.resources[99999999999999999999].ARN = x }\nend\n", line: 2, column: 25, "array index too large")
    }

    @Test func deepParenthesesNotsAndUnclosedParentheses() throws {
        let limit = RuleParser.Limits.nesting
        func parens(_ n: Int) -> String { String(repeating: "(", count: n) + #"eventName = "x""# + String(repeating: ")", count: n) }
        // 10,000 nested '(' in a when: the 101st is the error.
        expectError("rule a\n  when \(parens(10_000))\nend\n", line: 2, column: 8 + limit, "nests deeper than \(limit)")
        // 100,000 not.
        expectError("rule a\n  when " + String(repeating: "not ", count: 100_000) + "eventName = \"x\"\nend\n", line: 2, column: 8 + 4 * limit,
                    "nests deeper than \(limit)")
        // 100,000 unclosed '(' in a pattern.
        expectError("rule a\n  pattern { " + String(repeating: "(", count: 100_000) + "\nend\n", line: 2, column: 11 + 1024, "CloudWatch allows 1024")
        // Unclosed '(' on continuation lines of a when.
        expectError("rule a\n  when (\n" + String(repeating: "(\n", count: 5000) + "end\n", line: 2 + limit, column: 1, "nests deeper")
        // At the limit: parses, compiles and evaluates (an odd number of 'not's negates).
        let (set, d) = compile("rule a\n  when \(parens(limit))\nend\nrule b\n  when " + String(repeating: "not ", count: limit - 1) + "eventName = \"x\"\nend\n")
        let s = try #require(set, "\(d)")
        #expect(matching(s, Self.event) == ["a"])
    }

    @Test func longChainsOfNamedConditions() throws {
        var text = ""
        let n = 100_000
        for i in 0..<n { text += "condition c\(i) = c\(i + 1)\n" }
        text += "condition c\(n) = eventName = \"x\"\nrule a\n  when c0\nend\n"
        let errors = compile(text).1.filter { $0.severity == .error }
        #expect(errors.count == 1, "one error, not one per level: \(errors.prefix(3))")
        #expect(errors.first?.description.hasPrefix("t.rules:\(n + 3):8: error: condition 'c0' nests deeper than") == true, "\(errors.prefix(3))")
        // A short chain is fine.
        let (set, d) = compile("condition c0 = c1\ncondition c1 = c2\ncondition c2 = eventName = \"x\"\nrule a\n  when c0 and not c1 or c2\nend\n")
        #expect(matching(try #require(set, "\(d)"), Self.event) == ["a"])
    }

    @Test func hugeDurationsAndCounts() throws {
        for (clause, column, words) in [
            ("threshold count >= 5 within 99999999999999999999d", 31, "longer than the longest duration, 36500d"),
            ("threshold count >= 5 within 999999999999999d", 31, "longer than the longest duration"),
            ("threshold count >= 5 within 106751991167301d", 31, "longer than the longest duration"),
            ("threshold count >= 5 within 36501d", 31, "longer than"),
            ("threshold count >= 99999999999999999999 within 5m", 19, ">= N"),
            ("first-seen sourceIPAddress by userIdentity.arn over 99999999999999999999d", 55, "longer than"),
            ("suppress by userIdentity.arn for 9999999999999999h", 36, "longer than"),
            ("threshold count >= 5 within 0d", 31, "not a duration"),
        ] {
            expectError("rule a\n  when eventName = \"x\"\n  \(clause)\nend\n", line: 3, column: column, words)
        }
        let (set, d) = compile("rule a\n  when eventName = \"x\"\n  threshold count >= 5 within 36500d\nend\n")
        #expect(set?.rules.first?.rule.threshold?.windowMs == RuleParser.Limits.longestDuration, "\(d)")
    }

    @Test func numbersInConditionsAndLists() throws {
        let (set, d) = compile("rule a\n  when eventVersion > 99999999999999999999 or eventVersion = -99999999999999999999 or eventName = \"x\"\nend\n")
        #expect(matching(try #require(set, "\(d)"), Self.event) == ["a"])
        expectError("rule a\n  when sourceIPAddress in networks n\nend\nlist n = 10.0.0.0/99999999999999999999\n", line: 4, column: 9, "not an IPv4 or IPv6 network")
        expectError("rule a\n  when resources[99999999999999999999].ARN = \"a\"\nend\n", line: 2, column: 8, "not a field path")
        expectError("rule a\n  when eventName = \"x\"\n  test \"t\"\n    event {\"eventName\":\"x\"}\n    expect 99999999999999999999\nend\n", line: 5, column: 12, "expect N")
    }

    @Test func recordsNested100000DeepEvaluate() throws {
        let depth = 100_000
        let deep = #"{"eventTime":"2024-03-01T10:00:00Z","eventName":"x","requestParameters":"#
            + String(repeating: #"{"a":"#, count: depth) + "[1]" + String(repeating: "}", count: depth)
            + #","resources":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        #expect(deep.utf8.count > 7 * depth, "the record really is that deep")
        let (set, d) = compile("""
            rule fields
              when requestParameters.a.a.a exists and requestParameters.b not exists and resources[*].ARN not exists
            end
            rule pattern
              pattern { $.requestParameters.a.a.a.a.b NOT EXISTS && $.eventName = x && $.resources[0][0][1] NOT EXISTS }
            end
            rule message
              when eventName = "x"
              message "{requestParameters.a.a} {resources[0]}"
            end
            """)
        let s = try #require(set, "\(d)")
        #expect(Set(matching(s, deep)) == ["fields", "pattern", "message"])
    }

    @Test func regexesNestedTooDeep() {
        for source in [String(repeating: "[", count: 5000), String(repeating: "(", count: 10_000) + String(repeating: ")", count: 10_000)] {
            expectError("rule a\n  when eventName matches \"\(source)\"\nend\n", line: 2, column: 8, "nests groups or classes deeper than")
        }
        #expect(firstError("rule a\n  when eventName matches \"" + String(repeating: "(", count: 50) + "x" + String(repeating: ")", count: 50) + "\"\nend\n") == nil)
        // Swift's own limits (number overflow) stay errors, with the expression shortened in the message.
        let long = "a{99999999999999999999}" + String(repeating: "b", count: 200)
        guard let d = firstError("rule a\n  when eventName matches \"\(long)\"\nend\n") else {
            Issue.record("accepted")
            return
        }
        #expect(d.message.contains("invalid regular expression") && d.message.count < 200, "\(d)")
    }
}
