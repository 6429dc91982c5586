import CloudTrail
import Testing

@Suite struct Base16Tests {
    @Test func decodesEitherCase() {
        #expect(Base16.decode("00ff7Fa0") == [0x00, 0xFF, 0x7F, 0xA0])
        #expect(Base16.decode("") == [])
    }

    @Test func refusesWhatIsNotHex() {
        for s in ["0", "abc", "0g", "zz", " 0a", "0a\n", "\u{FF10}\u{FF11}"] {
            #expect(Base16.decode(s) == nil, "\(s)")
        }
    }

    @Test func digitsAreASCIIOnly() {
        let accepted = (0...255).filter { Base16.digit(UInt8($0)) != nil }
        #expect(accepted == Array(0x30...0x39) + Array(0x41...0x46) + Array(0x61...0x66))
        #expect(Base16.digit(UInt8(ascii: "F")) == 15 && Base16.digit(UInt8(ascii: "a")) == 10)
    }

    /// Folding case with `| 0x20` also turned the control bytes 0x10–0x19 into digits, so `\u`
    /// followed by four of them passed as an escape.
    @Test func escapeDigitsAreHexNotControlBytes() {
        let bytes = Array(#"{"a":"\u"#.utf8) + [0x10, 0x11, 0x12, 0x13] + Array(#""}"#.utf8)
        let result = bytes.withUnsafeBytes { JSONCheck.check($0) }
        #expect(result.problem?.reason.hasPrefix("expected 4 hex digits after \\u") == true, "\(result)")
        let upper = Array(#"{"a":"\u00E9"}"#.utf8)
        #expect(upper.withUnsafeBytes { JSONCheck.check($0) }.isValid)
    }

    @Test func percentDecodingLenientFormAndStrict() {
        func text(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }
        // A trailing escape exactly at the end, either case of hex digits.
        #expect(text(Base16.percentDecode("a%2Fb%2f%41", plusIsSpace: false)) == "a/b/A")
        // `+` is a plus in SigV4's query strings, a space in form encoding and S3 event keys.
        #expect(text(Base16.percentDecode("a+b", plusIsSpace: false)) == "a+b")
        #expect(text(Base16.percentDecode("a+b%2B", plusIsSpace: true)) == "a b+")
        // A `%` without two hex digits stays when lenient and refuses the whole text when strict.
        for bad in ["%", "%4", "a%zz", "50%"] {
            #expect(text(Base16.percentDecode(bad, plusIsSpace: false)) == bad)
            #expect(Base16.percentDecode(bad, plusIsSpace: true, strict: true) == nil)
        }
        #expect(Base16.percentDecode("%00%FF", plusIsSpace: true, strict: true) == [0x00, 0xFF])
    }
}
