import Crypto

/// Pagination tokens: the store's position (digits) followed by a 20-digit MAC over the position and
/// the query it belongs to, keyed by a secret of the serving process. A token altered, made up, or
/// taken to another group, stream or query is refused (InvalidParameterException); tokens of a
/// process that restarted are refused too, as CloudWatch refuses expired ones.
package struct TokenSigner: Sendable {
    private let key: SymmetricKey

    /// A signer with a random key (`key` for tests that need stable tokens).
    package init(key: [UInt8]? = nil) {
        self.key = key.map { SymmetricKey(data: $0) } ?? SymmetricKey(size: .bits256)
    }

    /// 20 decimal digits of HMAC-SHA256 over `context` and `payload`.
    private func mac(_ context: String, _ payload: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array((context + "\u{1F}" + payload).utf8), using: key)
        let n = Array(code).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let s = String(n)
        return String(repeating: "0", count: 20 - s.count) + s
    }

    /// `payload` (digits or other token-safe characters) with its MAC appended.
    package func sign(_ payload: String, context: String) -> String { payload + mac(context, payload) }

    /// The payload of a token made by ``sign(_:context:)`` for `context`, or nil when it was not.
    package func open(_ token: Substring, context: String) -> String? {
        guard token.utf8.count > 20 else { return nil }
        let payload = String(token.dropLast(20))
        let given = token.suffix(20)
        // Both are 20 ASCII digits: compare every byte, whatever the first difference.
        let expected = Array(mac(context, payload).utf8)
        let got = Array(given.utf8)
        guard got.count == expected.count else { return nil }
        var diff: UInt8 = 0
        for i in 0..<got.count { diff |= got[i] ^ expected[i] }
        return diff == 0 ? payload : nil
    }
}
