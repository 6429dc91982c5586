import FilterPattern
import Testing

/// Patterns built to crash a parser (deep nesting, huge numbers, huge patterns) are parse errors
/// with a column, and records built to crash an evaluator (deep nesting) are evaluated.
@Suite struct HostilePatternTests {
    func error(_ text: String) -> FilterPattern.ParseError? {
        do {
            _ = try FilterPattern(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func hugeArrayIndexIsAnErrorNotAnOverflow() throws {
        let e = try #require(error("{ $.resources[99999999999999999999].ARN = x }"))
        #expect(e.message.contains("array index too large"), "\(e)")
        #expect(e.offset == 14, "the column of the index's first digit: \(e)")
        // The largest index allowed still parses (and simply finds nothing).
        let p = try FilterPattern("{ $.resources[\(FilterPattern.Limits.arrayIndex)].ARN = x }")
        #expect(!p.matches(#"{"resources":[{"ARN":"x"}]}"#))
        #expect(try FilterPattern("{ $.resources[1].ARN = x }").matches(#"{"resources":[{"ARN":"y"},{"ARN":"x"}]}"#))
    }

    @Test func twentyDigitNumbersCompare() throws {
        // Numbers are doubles: 20 digits neither trap nor need to be exact.
        let p = try FilterPattern("{ $.n > 99999999999999999999 }")
        #expect(p.matches(#"{"n":199999999999999999999}"#))
        #expect(!p.matches(#"{"n":5}"#))
        #expect(try FilterPattern("{ $.n = -99999999999999999999 }").matches(#"{"n":-99999999999999999999}"#))
        #expect(try FilterPattern("{ $.n < 1e999 }").matches(#"{"n":1e300}"#))
    }

    @Test func nestingIsLimited() throws {
        let limit = FilterPattern.Limits.nesting
        func nested(_ n: Int) -> String { "{ " + String(repeating: "(", count: n) + "$.a = 1" + String(repeating: ")", count: n) + " }" }
        let deepest = try FilterPattern(nested(limit))
        #expect(deepest.matches(#"{"a":1}"#) && !deepest.matches(#"{"a":2}"#))
        let e = try #require(error(nested(limit + 1)))
        #expect(e.message.contains("nest deeper than \(limit)"), "\(e)")
        #expect(e.offset == 2 + limit, "the column of the first '(' too many: \(e)")
        // 100,000 unclosed parentheses (the length limit answers first; no stack is spent on them).
        let unclosed = try #require(error("{ " + String(repeating: "(", count: 100_000)))
        #expect(unclosed.message.contains("1024"), "\(unclosed)")
        let justUnder = try #require(error("{ " + String(repeating: "(", count: 1000)))
        #expect(justUnder.message.contains("nest deeper"), "\(justUnder)")
    }

    @Test func patternsLongerThanCloudWatchAllowsAreErrors() throws {
        let long = "{ $.eventName = \"" + String(repeating: "a", count: 2000) + "\" }"
        let e = try #require(error(long))
        #expect(e.message.contains("CloudWatch allows 1024"), "\(e)")
        let terms = String(repeating: "x ", count: 511) + "yz"
        #expect(terms.count == FilterPattern.Limits.length)
        #expect(try FilterPattern(terms).matches("x yz"))
        #expect(error(terms + " z") != nil)
    }

    @Test func regexRepetitionCountsAreLimited() throws {
        for bad in ["%a{99999999999999999999}%", "%a{1,99999999999999999999}%", "%a{1001}%", "%a{5,2}%"] {
            let e = try #require(error("{ $.a = \(bad) }"), "\(bad)")
            #expect(e.message.contains("repetition count") || e.message.contains("larger than"), "\(bad): \(e)")
            #expect(e.offset == 10, "the column of the quantifier: \(bad): \(e)")
        }
        let p = try FilterPattern("{ $.a = %^a{3,1000}$% }")
        #expect(p.matches(#"{"a":"aaaa"}"#) && !p.matches(#"{"a":"aa"}"#))
    }

    @Test func longRegexesAndDeepRecordsEvaluate() throws {
        // The longest regex a pattern can hold: its backtracking depth is bounded by the length limit.
        let body = String(repeating: "a", count: FilterPattern.Limits.length - 12)
        let p = try FilterPattern("{ $.a = %\(body)% }")
        #expect(p.matches(#"{"a":""# + body + #""}"#))
        // A record nested 100,000 deep: lookups walk it without recursion.
        let depth = 100_000
        let deep = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(deep.utf8.count == depth * 6 + 1)
        #expect(try FilterPattern("{ $.a.a.a.b NOT EXISTS }").matches(deep))
        #expect(try !FilterPattern("{ $.a = 1 }").matches(deep))
        #expect(try FilterPattern("{ $.a.a IS NULL || $.b NOT EXISTS }").matches(deep))
        let arrays = #"{"a":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        #expect(try FilterPattern("{ $.a[1] NOT EXISTS }").matches(arrays))
        #expect(try !FilterPattern("{ $.a[0][0][0] NOT EXISTS }").matches(arrays))
        #expect(try !FilterPattern("{ $.a = x }").matches(arrays))
        #expect(try FilterPattern("deep").matches(deep) == false)
    }
}
