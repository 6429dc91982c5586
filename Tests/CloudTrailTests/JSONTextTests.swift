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
}
