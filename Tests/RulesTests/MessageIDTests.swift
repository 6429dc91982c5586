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

    /// Derived ids are what they always were (the build before wrote these in an alert storm):
    /// 32 lower-case hex digits, leading zeros kept.
    @Test func derivedIDsAreStable() {
        #expect(MessageID.derive("trailwatch.rule.unknown-source-ip") == "c3b28d7ce52e74f840facd4a73840918")
        #expect(MessageID.derive("unknown-source-ip\u{1F}773424086189\u{1F}0b408a39-3dc2-4be1-b27b-1848f4b6f528") == "1a1ba9ef6bf52e0569897ade59c7ab39")
        #expect(MessageID.derive("unknown-source-ip\u{1F}773424086189\u{1F}181a5ec2-2b38-4a50-bd11-db125bc490ac") == "005f1264a690c9eca27a84631136a33d")
        #expect(MessageID.derive("cis-cloudwatch-2\u{1F}773424086189\u{1F}35c69c3c-d498-4dae-bb14-f67ac92319b4") == "0098d031cdeceb6469814da88f4434fa")
    }
}
