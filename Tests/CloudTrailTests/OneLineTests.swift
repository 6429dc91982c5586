import CloudTrail
import Testing

/// An alert's records are written as one line after a validity check; the check takes the
/// splitter's strict scan for objects, and must accept exactly what the JSON checker accepts.
@Suite struct OneLineTests {
    static let record = Array(
        #"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/a\"b"},"eventTime":"2024-03-01T10:00:00Z","n":[1,-2.5e3,true,false,null,{}],"s":"\u00e9\n","eventID":"5b6f2f0e-1c4e-4c59-9f34-0d7c2e9b8a11"}"#.utf8)

    @Test func validityIsTheCheckersOnMutatedRecords() {
        var cases: [[UInt8]] = [Self.record, Array("{}".utf8), Array("{} ".utf8), Array("{}x".utf8), Array(" {}".utf8), Array("[1]".utf8),
                                Array("\"s\"".utf8), Array("{\"a\":1}\n\t ".utf8), Array("{\"a\":1}}".utf8), []]
        // Nesting at and past the strict scan's 64 levels: the checker decides those.
        for depth in [63, 64, 65, 200] {
            cases.append(Array(("{\"a\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}").utf8))
        }
        var rng = SystemRandomNumberGenerator()
        let bytes: [UInt8] = [0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A, 0x20, 0x0A, 0x00, 0x1F, 0x30, 0x2D, 0x2E, 0x65, 0x74, 0x75, 0xC3, 0xFF]
        for _ in 0..<3000 {
            var r = Self.record
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<r.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: r[i] = bytes.randomElement(using: &rng)!
                case 1: r.remove(at: i)
                default: r.insert(bytes.randomElement(using: &rng)!, at: i)
                }
            }
            cases.append(r)
        }
        var valid = 0
        for c in cases {
            let expected = c.withUnsafeBytes { JSONCheck.check($0).isValid }
            #expect(c.withUnsafeBytes { JSONObjectWriter.isValidJSON($0) } == expected, "\(String(decoding: c, as: UTF8.self))")
            if expected { valid += 1 }
        }
        #expect(valid > 100 && valid < cases.count - 100, "both kinds tried: \(valid) valid of \(cases.count)")
    }

    /// The one-line form drops exactly the white space outside strings: against a byte-by-byte
    /// reference on records with white space everywhere and strings long and short, with escapes.
    @Test func oneLineDropsOnlyWhiteSpaceOutsideStrings() {
        func reference(_ t: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            var inString = false
            var i = 0
            while i < t.count {
                let b = t[i]
                if inString {
                    out.append(b)
                    if b == 0x5C {
                        out.append(t[i + 1])
                        i += 2
                        continue
                    }
                    if b == 0x22 { inString = false }
                } else if b == 0x22 {
                    inString = true
                    out.append(b)
                } else if ![0x20, 0x0A, 0x0D, 0x09].contains(b) {
                    out.append(b)
                }
                i += 1
            }
            return out
        }
        let strings = ["", "a", "spaces inside  ", "a long string of plain text past eight bytes", #"esc \" quote"#, #"back\\slash\\"#,
                       #"\\\"mixed\n\t\u0041 tail that is long enough"#, "é ünï", "12345678", "1234567", #"\\"#]
        var rng = SystemRandomNumberGenerator()
        var tried = 0
        for _ in 0..<500 {
            var text = "{"
            for k in 0..<Int.random(in: 1...8, using: &rng) {
                let ws = [" ", "\n", "\t", "", "  \r\n "].randomElement(using: &rng)!
                if k > 0 { text += "," + ws }
                text += ws + "\"" + strings.randomElement(using: &rng)! + "\"" + ws + ":" + ws
                text += ["\"" + strings.randomElement(using: &rng)! + "\"", "[ 1 , \"" + strings.randomElement(using: &rng)! + "\" ]", "null", "{ }"]
                    .randomElement(using: &rng)! + ws
            }
            text += "}"
            let bytes = Array(text.utf8)
            guard bytes.withUnsafeBytes({ JSONCheck.check($0).isValid }) else { continue }
            tried += 1
            #expect(JSONObjectWriter.oneLine(bytes) == reference(bytes), "\(text)")
        }
        #expect(tried > 400, "valid records tried: \(tried)")
    }
}
