import CloudTrail
import Foundation
import Testing

@Suite struct JSONTextTests {
    /// Every string reads back unchanged through an independent parser (JSONSerialization).
    @Test func writerOutputParsesBackExactly() throws {
        var strings = ["", "plain", "quote \" and backslash \\ and slash /", "tab\tnew\nline\r", "ünïcödé ✓ 𝄞",
                       String(decoding: (0..<32).map { UInt8($0) }, as: UTF8.self),
                       #"{"eventID":"a","nested":{"s":"\"x\\y\""}}"#]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let scalars = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in
                Character(Unicode.Scalar([0x22, 0x5C, 0x0A, 0x01, 0x41, 0xE9, 0x2713, 0x1F600].randomElement(using: &rng)!)!)
            }
            strings.append(String(scalars))
        }
        for (i, s) in strings.enumerated() {
            var w = JSONObjectWriter()
            w.add("s", s)
            w.add("n", Int64(-i))
            w.add("a", [s, "b"])
            w.add("o", ["k\"": s])
            w.addRaw("raw", #"{"x":[1,2]}"#)
            let o = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any], "\(w.text)")
            #expect(o["s"] as? String == s)
            #expect(o["n"] as? Int == -i)
            #expect(o["a"] as? [String] == [s, "b"])
            #expect((o["o"] as? [String: String])?["k\""] == s)
            #expect(((o["raw"] as? [String: Any])?["x"] as? [Int]) == [1, 2])
            let quoted = try JSONSerialization.jsonObject(with: Data(("[" + JSONObjectWriter.quote(s) + "]").utf8)) as? [String]
            #expect(quoted == [s])
        }
        #expect(JSONObjectWriter().text == "{}")
    }

    /// `appendText` (ASCII fast path, else the text decoded) writes exactly what `quote` wrote for
    /// the same bytes, over awkward ones: escapes, valid multi-byte text, and bytes that are not
    /// UTF-8 (which become U+FFFD); and JSONSerialization reads back the bytes' text.
    @Test func appendTextEqualsQuoteOverAwkwardBytes() throws {
        var cases: [[UInt8]] = [
            [], Array("plain".utf8), Array(#"quote " backslash \ slash / {"k":"v"}"#.utf8), (0..<32).map { UInt8($0) },
            [0x7F], Array("ünïcödé ✓ 𝄞".utf8),
            [0x80], [0xFF], [0xC3], [0xE2, 0x9C], [0xF0, 0x9D, 0x84], [0xC0, 0xAF], [0xED, 0xA0, 0x80],
            [0x41, 0xC3, 0x22, 0x42], [0x22, 0xE2, 0x9C, 0x5C, 0x0A], Array("ok".utf8) + [0xFE, 0xFF] + Array("\"".utf8),
        ]
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x22, 0x5C, 0x0A, 0x00, 0x1F, 0x41, 0x7F, 0x80, 0xBF, 0xC3, 0xA9, 0xE2, 0x9C, 0x93, 0xF0, 0xFF]
        for _ in 0..<500 {
            cases.append((0..<Int.random(in: 0..<24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
        }
        for bytes in cases {
            var out: [UInt8] = [0x5B]
            JSONObjectWriter.appendText(bytes, to: &out)
            out.append(0x5D)
            #expect(out == Array(("[" + JSONObjectWriter.quote(bytes) + "]").utf8), "\(bytes)")
            let parsed = try JSONSerialization.jsonObject(with: Data(out)) as? [String]
            #expect(parsed == [String(decoding: bytes, as: UTF8.self)], "\(bytes)")
        }
    }

    /// The one-line form of a record held as a `String` (copied in runs) is what the byte-at-a-time
    /// definition gives: white space outside strings dropped, inside strings kept, escapes intact.
    @Test func oneLineOfAStringEqualsTheByteDefinition() throws {
        func reference(_ text: [UInt8]) -> [UInt8] {
            guard JSONCheck.check(text).isValid else { return Array(JSONObjectWriter.quote(text).utf8) }
            var out: [UInt8] = []
            var inString = false, escaped = false
            for b in text {
                if inString {
                    if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
                } else if b == 0x22 {
                    inString = true
                } else if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 {
                    continue
                }
                out.append(b)
            }
            return out
        }
        let records = [
            "", " ", "{}", " { } ", #"{"a":"b c","d":[ 1 , 2 ]}"#, "{\n  \"a\" : \"x \\\" y\\\\\",\n\t\"b\" : null\r\n}\n",
            #"{"s":"\\"," t ":" \"  \" "}"#, "{\"eventID\":\"x\",\n{\"rule\":\"forged\"}\n garbage ::: }", "ünï { \"a\" : \"ü ✓ 𝄞\" }",
            "{ \"ü\" : \"é ✓\" , \"n\" : -1.5e3 }", "not json at all\n",
        ]
        for r in records {
            let expected = reference(Array(r.utf8))
            #expect(JSONObjectWriter.oneLine(r.utf8) == expected, "\(r)")
            #expect(JSONObjectWriter.oneLine(Array(r.utf8)) == expected, "\(r)")
            var appended: [UInt8] = [0x41]
            JSONObjectWriter.appendOneLine(r, to: &appended)
            #expect(appended == [0x41] + expected)
        }
    }

    /// Replacing a control character (a character of its own) byte by byte equals replacing it as
    /// a character, around combining marks, emoji, CR LF and at either end.
    @Test func replacingAControlCharacterEqualsCharacterReplacement() {
        let texts = [
            "", "\u{1F}", "a\u{1F}b", "\u{1F}\u{1F}", "\u{1F}\u{301}x", "e\u{301}\u{1F}\u{1F600}\u{1F}", "\r\n\u{1F}\r\n", "no separator",
            "arn:aws:iam::1:user/chlo\u{E9}\u{1F}AIDA\u{1F}203.0.113.1",
        ]
        for t in texts {
            for (target, replacement) in [("\u{1F}", ", "), ("\u{1F}", ""), ("\u{01}", "\u{1F}"), ("\u{7F}", "x")] {
                let expected = t.split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
                #expect(t.replacingAll(target, with: replacement) == expected, "\(Array(t.unicodeScalars))")
            }
        }
    }

    /// The ISO 8601 form written digit by digit is the interpolated one, with and without
    /// milliseconds, across the years 0000-9999 and outside them.
    @Test func formattedTimesEqualTheInterpolatedForm() {
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        func reference(_ ms: Int64, millis: Bool) -> String {
            let secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
            let days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
            let rem = secs - days * 86400
            let (y, m, d) = Timestamp.civilFromDays(days)
            var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2))"
            if millis { out += ".\(pad(ms - secs * 1000, 3))" }
            return out + "Z"
        }
        let year0 = Timestamp.daysFromCivil(0, 1, 1) * 86_400_000
        let year10000 = Timestamp.daysFromCivil(10000, 1, 1) * 86_400_000
        var rng = SystemRandomNumberGenerator()
        let times: [Int64] =
            [0, 1, -1, 999, -999, 1000, -1001, 1_709_294_399_999, year0, year0 - 1, year10000, year10000 - 1, -62_000_000_000_000]
            + (0..<3000).map { _ in Int64.random(in: (year0 - 400 * 86_400_000)...(year10000 + 400 * 86_400_000), using: &rng) }
        for ms in times {
            #expect(Timestamp.formatISO8601(ms) == reference(ms, millis: false), "\(ms)")
            #expect(Timestamp.formatISO8601(ms, millis: true) == reference(ms, millis: true), "\(ms)")
        }
        #expect(Timestamp.formatISO8601(1_709_294_399_999, millis: true) == "2024-03-01T11:59:59.999Z")
    }

    /// Escaping eight bytes at a time gives what escaping byte by byte gives: every byte value at
    /// every place of words before, across and after the eight-byte steps.
    @Test func escapingByWordsEqualsEscapingByBytes() {
        func reference(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [0x22]
            for b in bytes {
                switch b {
                case 0x22, 0x5C: out += [0x5C, b]
                case 0x0A: out += [0x5C, 0x6E]
                case 0x0D: out += [0x5C, 0x72]
                case 0x09: out += [0x5C, 0x74]
                case ..<0x20: out += Array(String(format: "\\u%04x", b).utf8)
                default: out.append(b)
                }
            }
            return out + [0x22]
        }
        for length in [1, 7, 8, 9, 16, 23] {
            for place in 0..<length {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: 0x61, count: length)
                    bytes[place] = UInt8(value)
                    var out: [UInt8] = []
                    JSONObjectWriter.appendQuoted(bytes, to: &out)
                    #expect(out == reference(bytes), "\(length) \(place) \(value)")
                }
            }
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in [0x20, 0x22, 0x5C, 0x1F, 0x7F, 0x80, 0xA2, 0x41].randomElement(using: &rng)! as UInt8 }
            var out: [UInt8] = []
            JSONObjectWriter.appendQuoted(bytes, to: &out)
            #expect(out == reference(bytes))
        }
    }
}

