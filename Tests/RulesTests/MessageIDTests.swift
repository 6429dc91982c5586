import Rules
import Testing

/// A rule's `id` becomes journald's MESSAGE_ID: 32 ASCII hex digits, either case.
@Suite struct MessageIDTests {
    static func rule(id: String) -> String { "rule a\n  id \(id)\n  when eventName = \"x\"\nend\n" }

    @Test func thirtyTwoHexDigitsInEitherCase() {
        let (set, diagnostics) = compile(Self.rule(id: "0123456789ABCDEF0123456789abcdef"))
        #expect(set?.rules.first?.messageID == "0123456789abcdef0123456789abcdef", "\(diagnostics)")
    }

    /// Fullwidth digits are hex digits to `Character.isHexDigit`, not to journald.
    @Test func fullwidthDigitsAreNotHex() {
        for id in [String(repeating: "\u{FF10}", count: 32), String(repeating: "0", count: 31), String(repeating: "g", count: 32)] {
            let (_, diagnostics) = compile(Self.rule(id: id))
            #expect(diagnostics.contains { $0.message.contains("32 hex digits") }, "\(id): \(diagnostics)")
        }
    }
}
