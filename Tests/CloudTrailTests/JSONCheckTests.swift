import CloudTrail
import Foundation
import Testing

@Suite struct JSONCheckTests {
    /// JSONSerialization (an independent parser) agrees with every verdict, so none is made up here,
    /// except on trailing commas, which it tolerates and RFC 8259 (and Python's `json`) do not.
    static let valid = [
        #"{}"#, #"[]"#, #" {"a":1} "#, #"{"a":[1,-2.5e+3,0,0.0,1E9,true,false,null,"s",{}]}"#, #"{"k":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}"#,
        "{\n  \"eventID\" : \"x\",\r\n\t\"n\" : { \"deep\" : [ [ [ ] ] ] }\n}", #"{"a":"ünïcödé ✓ 𝄞"}"#, #""str""#, #"-0"#,
        #"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":[[[[[[[[[[1]]]]]]]]]]}}}}}}}}}}"#,
    ]
    static let invalid: [(String, Int, String)] = [
        (#"{"eventID":"x", garbage ::: }"#, 16, "expected a key"),
        ("{\"a\":\"line\nbreak\"}", 10, "control character not escaped in a string"),
        ("{\"a\":\"tab\there\"}", 9, "control character not escaped in a string"),
        (#"{"a":1,}"#, 7, "expected a key"),
        (#"{"a" 1}"#, 5, "expected ':' after a key"),
        (#"{"a":01}"#, 6, "expected ',' or '}'"),
        (#"{"a":1.}"#, 7, "expected a digit after '.'"),
        (#"{"a":1e}"#, 7, "expected a digit in the exponent"),
        (#"{"a":-}"#, 6, "expected a digit"),
        (#"{"a":tru}"#, 8, "expected true"),
        (#"{"a":nul"#, 8, "expected null"),
        (#"{"a":"\x"}"#, 7, "invalid escape"),
        (#"{"a":"\u12G4"}"#, 10, "expected 4 hex digits after \\u"),
        (#"{"a":[1 2]}"#, 8, "expected ',' or ']'"),
        (#"{"a":[1,]}"#, 8, "expected a value"),
        (#"{"a":1]"#, 6, "expected ',' or '}'"),
        (#"{"a":1}}"#, 7, "expected the end of the value"),
        (#"{"a":"open"#, 10, "unterminated string"),
        (#"{"a":{"b":1}"#, 12, "expected ',' or a closing bracket"),
        (#"{'a':1}"#, 1, "expected a key"),
        ("", 0, "expected a value"),
    ]

    @Test func verdictsAndPositions() throws {
        for s in Self.valid {
            #expect((try? JSONSerialization.jsonObject(with: Data(s.utf8), options: .fragmentsAllowed)) != nil, "oracle: \(s)")
            let r = JSONCheck.check(Array(s.utf8))
            #expect(r.isValid && !r.nonUTF8, "\(s): \(String(describing: r.problem))")
        }
        for (s, offset, reason) in Self.invalid {
            if !s.contains(",}") && !s.contains(",]") {
                #expect((try? JSONSerialization.jsonObject(with: Data(s.utf8), options: .fragmentsAllowed)) == nil, "oracle: \(s)")
            }
            let p = try #require(JSONCheck.check(Array(s.utf8)).problem, "\(s) passed")
            #expect(p.offset == offset && p.reason.hasPrefix(reason), "\(s): \(p)")
        }
    }

    /// Nesting deeper than the 64 levels kept in a word, opened and closed in every mix.
    @Test func deepNesting() {
        for depth in [63, 64, 65, 130, 1000] {
            let open = (0..<depth).map { $0 % 3 == 0 ? "[" : "{\"k\":" }
            let close = open.reversed().map { $0 == "[" ? "]" : "}" }
            let good = open.joined() + "1" + close.joined()
            #expect(JSONCheck.check(Array(good.utf8)).isValid, "depth \(depth)")
            let swapped = open.joined() + "1" + close.map { $0 == "]" ? "}" : "]" }.joined()
            #expect(!JSONCheck.check(Array(swapped.utf8)).isValid, "depth \(depth), wrong brackets")
        }
    }

    /// Quotes, backslashes, control characters and non-ASCII bytes at every position around the
    /// eight-byte fast path inside strings.
    @Test func everyPositionInAString() {
        for len in 0..<20 {
            for at in 0..<max(len, 1) {
                let body = [UInt8](repeating: 0x61, count: len)
                func check(_ special: [UInt8], valid: Bool, nonUTF8: Bool = false) {
                    guard len > 0 else { return }
                    var b = body
                    b.replaceSubrange(at..<(at + 1), with: special)
                    let r = JSONCheck.check([0x22] + b + [0x22])
                    #expect(r.isValid == valid && r.nonUTF8 == nonUTF8, "len \(len) at \(at) \(special): \(r)")
                }
                check([0x5C, 0x22], valid: true)
                check([0x0A], valid: false)
                check([0x22], valid: false)
                check([0xC3, 0xA9], valid: true)
                check([0xF0, 0x9F, 0x98, 0x80], valid: true)
                check([0xFF], valid: true, nonUTF8: true)
                #expect(JSONCheck.check([0x22] + body + [0x22]).isValid)
                #expect(!JSONCheck.check([0x22] + body).isValid, "unterminated, len \(len)")
            }
        }
    }

    /// Well-formed UTF-8 per Unicode table 3-7; overlongs, surrogates, stray continuation bytes and
    /// code points past U+10FFFF are not.
    @Test func utf8Validity() {
        let good: [[UInt8]] = [[0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF]]
        let bad: [[UInt8]] = [[0x80], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xC3]]
        for g in good {
            #expect(String(validating: g, as: UTF8.self) != nil, "oracle \(g)")
            let r = JSONCheck.check([0x22] + g + [0x22])
            #expect(r.isValid && !r.nonUTF8, "\(g)")
        }
        for b in bad {
            #expect(String(validating: b, as: UTF8.self) == nil, "oracle \(b)")
            let r = JSONCheck.check(Array(#"{"a":""#.utf8) + b + Array(#"x"}"#.utf8))
            #expect(r.isValid && r.nonUTF8, "\(b)")
        }
        #expect(!JSONCheck.check([0x7B, 0xFF, 0x7D]).isValid, "outside a string a non-UTF-8 byte is a syntax error")
    }

    /// The one-line form: a pretty-printed record parses to the same value; anything else is a string of its text.
    @Test func oneLine() throws {
        let record: [String: Any] = [
            "eventID": "f6e10706-705c-47f2-94d4-112a9527ab8b", "eventName": "StopLogging",
            "requestParameters": ["name": "arn:aws:cloudtrail:us-east-1:218007301253:trail/t", "list": [1, 2.5, true, NSNull()]],
            "userAgent": "quote \" backslash \\ newline \n tab \t é ✓",
        ]
        let pretty = try JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys])
        #expect(pretty.filter { $0 == 0x0A }.count > 5, "the record spans lines")
        let line = JSONObjectWriter.oneLine(Array(pretty))
        #expect(!line.contains(0x0A) && !line.contains(0x0D))
        let back = try JSONSerialization.jsonObject(with: Data(line)) as? NSDictionary
        #expect(back == record as NSDictionary)

        let broken = "{\"eventID\":\"x\",\n{\"rule\":\"forged\"}\n garbage ::: }"
        let quoted = JSONObjectWriter.oneLine(Array(broken.utf8))
        #expect(!quoted.contains(0x0A))
        #expect(try JSONSerialization.jsonObject(with: Data(quoted), options: .fragmentsAllowed) as? String == broken)

        let nonUTF8 = Array(#"{"a":"x"#.utf8) + [0xFF, 0xFE] + Array(#"y"}"#.utf8)
        let fixed = try JSONSerialization.jsonObject(with: Data(JSONObjectWriter.oneLine(nonUTF8))) as? [String: String]
        #expect(fixed == ["a": "x\u{FFFD}\u{FFFD}y"])
    }

    /// The splitter checks every record at every chunk size: counts, numbers and offsets of the bad
    /// ones, and still emits them all.
    @Test func splitterCountsInvalidAndNonUTF8Records() throws {
        let records: [[UInt8]] = [
            Array(#"{"eventID":"a","eventTime":"2024-03-01T10:00:00Z"}"#.utf8),
            Array(#"{"eventID":"x", garbage ::: }"#.utf8),
            Array("{\"eventID\":\"c\",\"s\":\"raw\u{01}control\"}".utf8),
            Array(#"{"eventID":"d","s":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8),
            Array("{\n  \"eventID\" : \"e\"\n}".utf8),
        ]
        var doc = Array(#"{"Records":["#.utf8)
        var offsets: [Int] = []
        for (i, r) in records.enumerated() {
            if i > 0 { doc += [0x2C, 0x0A] }
            offsets.append(doc.count)
            doc += r
        }
        doc += Array("]}".utf8)
        for chunk in [1, 2, 3, 7, 8, 64, doc.count] {
            var s = RecordSplitter()
            var got: [(Int, [UInt8], Bool, Bool)] = []
            var at = 0
            while at < doc.count {
                let end = min(doc.count, at + chunk)
                try doc[at..<end].withUnsafeBytes { try s.feed($0) { o, b, f in got.append((o, Array(b), f.invalid == nil, f.nonUTF8)) } }
                at = end
            }
            try s.finish()
            #expect(got.map(\.1) == records, "chunk \(chunk): every record emitted, as delivered")
            #expect(got.map(\.2) == [true, false, false, true, true], "chunk \(chunk)")
            #expect(got.map(\.3) == [false, false, false, true, false], "chunk \(chunk)")
            #expect(s.invalidRecords == 2 && s.nonUTF8Records == 1)
            #expect(s.problems.map(\.index) == [1, 2, 3])
            #expect(s.problems.map(\.offset) == [offsets[1], offsets[2], offsets[3]])
            #expect(s.problems[0].description == "record 1 at byte \(offsets[1]): not JSON: expected a key, found 'g' at byte \(offsets[1] + 16)")
            #expect(s.problems[2].description == "record 3 at byte \(offsets[3]): bytes that are not UTF-8")
        }
    }

    /// The splitter's eight-byte string scan: escaped quotes and backslashes at every offset of a word,
    /// at several chunk sizes, still give the record's exact bounds and eventID.
    @Test func splitterFindsEscapesAtEveryOffset() throws {
        for pad in 0..<20 {
            let id = String(repeating: "a", count: pad) + #"\"x\\y"#
            let record = #"{"eventID":""# + id + #"","eventTime":"2024-03-01T10:00:00Z","k":""# + String(repeating: "b", count: pad) + #"\\"}"#
            let doc = Array((#"{"Records":["# + record + "," + record + "]}").utf8)
            for chunk in [1, 3, 8, 13, doc.count] {
                var s = RecordSplitter()
                var got: [(String, String)] = []
                var at = 0
                while at < doc.count {
                    let end = min(doc.count, at + chunk)
                    try doc[at..<end].withUnsafeBytes { try s.feed($0) { _, b, f in
                        got.append((String(decoding: b, as: UTF8.self), f.eventID.map { String(decoding: b[$0], as: UTF8.self) } ?? "-"))
                    } }
                    at = end
                }
                try s.finish()
                #expect(got.map(\.0) == [record, record] && got.map(\.1) == [id, id], "pad \(pad), chunk \(chunk)")
                #expect(s.invalidRecords == 0)
            }
        }
    }
}
