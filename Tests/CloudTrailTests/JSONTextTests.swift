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
}
