/// Making keys and changing the access file's text: `trailwatch access add` and `revoke` work on
/// the text so the operator's comments and layout stay as they were.
extension AccessFile {
    private static let base32 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
    private static let base64 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// A new access key id: `TWAK` and 16 base32 characters (80 random bits), 20 in all like AWS's.
    package static func makeKeyId(using rng: inout some RandomNumberGenerator) -> String {
        var out = Array(keyPrefix.utf8)
        for _ in 0..<16 { out.append(base32[Int(rng.next(upperBound: UInt8(32)))]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A new secret: 40 base64 characters (240 random bits), AWS's length and alphabet.
    package static func makeSecret(using rng: inout some RandomNumberGenerator) -> String {
        var out: [UInt8] = []
        for _ in 0..<40 { out.append(base64[Int(rng.next(upperBound: UInt8(64)))]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A principal checked as the parser checks one, or the reason it cannot be one.
    package static func make(
        name: String, accessKeyId: String, secretAccessKey: String, grant: AccountGrant, mayChangeRetention: Bool, created: String?
    ) throws(AccessFileError) -> Principal {
        let p = Principal(
            name: name, accessKeyId: accessKeyId, secretAccessKey: secretAccessKey, grant: grant, mayChangeRetention: mayChangeRetention,
            created: created, line: 0)
        // The stanza goes through the parser: what is written is what will be read back.
        let parsed = try parse(stanza(p), path: "<new principal>")
        return parsed.principals[0]
    }

    /// The text of `principal`'s stanza, ending with a newline.
    package static func stanza(_ p: Principal) -> String {
        var out = "[\(p.name)]\n"
        out += "access-key-id = \(p.accessKeyId)\n"
        out += "secret-access-key = \(p.secretAccessKey)\n"
        out += "accounts = \(p.grant.text)\n"
        out += "retention = \(p.mayChangeRetention ? "yes" : "no")\n"
        if let c = p.created { out += "created = \(c)\n" }
        return out
    }

    /// The comment a new access file starts with.
    package static let header = """
        # trailwatch access file: who may call the CloudWatch Logs API, and read which accounts.
        # One stanza per principal; see trailwatch(8), ACCESS FILE. It holds secrets: mode 0600
        # (or 0640 for the service's group), owned by root. 'trailwatch access add|list|revoke'.

        """

    /// `text` with `principal`'s stanza added at the end (after `header` when `text` is empty),
    /// after checking the result parses and the name and key are new.
    package static func appending(_ p: Principal, to text: String, path: String) throws(AccessFileError) -> String {
        if text.isEmpty { return try appending(p, to: header, path: path) }
        var out = text
        if !out.isEmpty && !out.hasSuffix("\n") { out += "\n" }
        if !out.hasSuffix("\n\n") { out += "\n" }
        out += stanza(p)
        _ = try parse(out, path: path)
        return out
    }

    /// `text` without the stanza of the principal named `nameOrKey` (its name or access key id):
    /// its header line and settings; the comments and blank lines after them stay.
    package static func removing(_ nameOrKey: String, from text: String, path: String) throws(AccessFileError) -> (text: String, removed: Principal) {
        let file = try parse(text, path: path)
        guard let p = file.principal(named: nameOrKey) ?? file.principal(accessKeyId: nameOrKey) else {
            throw AccessFileError(.notFound, path: path, line: 0, "no principal is named or has the access key id '\(nameOrKey)'")
        }
        let all = lines(text)
        let next = file.principals.map(\.line).filter { $0 > p.line }.min() ?? all.count + 1
        // The stanza is its header and settings: comments and blank lines after its last setting
        // stay (they may be about the next stanza).
        var last = p.line
        for n in p.line..<next where !stripComment(all[n - 1]).isEmpty { last = n }
        var kept = Array(all[..<(p.line - 1)])
        var rest = Array(all[last...])
        // One blank line between what was before and after, not two (none at the top).
        if kept.last?.isBlank ?? true, rest.first?.isBlank == true { rest.removeFirst() }
        kept += rest
        var out = kept.joined(separator: "\n")
        while out.hasSuffix("\n\n") { out.removeLast() }
        _ = try parse(out, path: path)
        return (out, p)
    }
}
