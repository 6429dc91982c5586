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
        let p = try FilterPattern("{ $.a = %^a{3,900}$% }")
        #expect(p.matches(#"{"a":"aaaa"}"#) && !p.matches(#"{"a":"aa"}"#))
    }

    @Test func longRegexesAndDeepRecordsEvaluate() throws {
        // The largest regex allowed, against a value it matches.
        let body = String(repeating: "a", count: FilterPattern.Limits.regexSize)
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

/// The `%regex%` matcher against values built to make a backtracking matcher run for ever.
@Suite struct RegexMatcherTests {
    @Test func nestedStarsOnALongRunFinish() throws {
        let p = try FilterPattern("{ $.a = %" + String(repeating: "a*", count: 30) + "b% }")
        let run = String(repeating: "a", count: 20_000)
        #expect(!p.matches(#"{"a":""# + run + #""}"#))
        #expect(p.matches(#"{"a":""# + run + #"b"}"#))
        let terms = try FilterPattern("%" + String(repeating: "a?", count: 100) + String(repeating: "a", count: 100) + "c%")
        #expect(!terms.matches(String(repeating: "a", count: 5_000)))
    }

    @Test func semanticsKept() throws {
        let cases: [(String, String, Bool)] = [
            ("^abc$", "abc", true), ("^abc$", "xabc", false), ("abc$", "xabc", true), ("^a", "ba", false),
            ("a{2,3}", "xaay", true), ("^a{2,3}$", "aaaa", false), ("^a{2,}$", "aaaaa", true), ("^a{0}$", "", true),
            ("^(?)", "", false), ("x|^y$|z", "y", true), ("x|^y$", "yy", false), ("|", "anything", true),
            ("[a-c]+d", "zzbbd", true), ("[^a-c]d", "ad", false), ("\\d+\\.\\d", "v1.2", true), ("a.c", "a\nc", false),
            ("\\w\\s\\w", "a b", true), ("colou?r", "color", true), ("colou?r", "colouur", false), ("^$", "", true),
            ("Access.*Denied", "AccessDenied", true), ("Access.+Denied", "AccessDenied", false),
        ]
        for (regex, value, expected) in cases {
            guard let p = try? FilterPattern("%\(regex)%") else {
                #expect(regex == "^(?)", "\(regex) parses")
                continue
            }
            let got = p.matches(#"{"v":""# + value.replacingOccurrences(of: "\n", with: "\\n") + #""}"#) || p.matches(value)
            #expect(got == expected, "%\(regex)% on \(value.debugDescription)")
        }
    }

    @Test func expressionsTooLargeOnceSpelledOutAreErrors() throws {
        #expect(throws: FilterPattern.ParseError.self) { try FilterPattern("%" + String(repeating: "a{100}", count: 11) + "%") }
        #expect(throws: FilterPattern.ParseError.self) { try FilterPattern("%a{1000}b%") }
        let largest = try FilterPattern("%" + String(repeating: "a{100}", count: 10) + "%")
        #expect(largest.matches(String(repeating: "a", count: 1000)) && !largest.matches(String(repeating: "a", count: 999)))
    }
}
