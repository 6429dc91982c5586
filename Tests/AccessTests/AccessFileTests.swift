import Foundation
import Access
import Testing

private let sample = """
    # Who may read which accounts' logs.

    [alice]
    access-key-id = TWAKQ2XGZ7N4M5P6R3ST
    secret-access-key = k9Vq2mZ7xW4pL8rT1sN6bC3dF5gH0jK2lM4nP6qR
    accounts = 111122223333, 444455556666   # two accounts
    retention = yes

    # the auditors see everything, change nothing
    [auditors]
    access-key-id = TWAKAUDITORS23456723
    secret-access-key = Zx8/Yw7+Vu6Ts5Rq4Po3Nm2Lk1Ji0HgFeDcBa987
    accounts = all
    created = 2026-12-03T07:00:00Z

    """

private func parseError(_ text: String, limits: AccessFile.Limits = .init()) -> AccessFileError? {
    do {
        _ = try AccessFile.parse(text, path: "/etc/trailwatch/access", limits: limits)
        return nil
    } catch { return error }
}

@Suite("Access file")
struct AccessFileTests {
    @Test func parsesPrincipalsAndTheirGrants() throws {
        let file = try AccessFile.parse(sample, path: "access")
        #expect(file.principals.map(\.name) == ["alice", "auditors"])
        let alice = try #require(file.principal(accessKeyId: "TWAKQ2XGZ7N4M5P6R3ST"))
        #expect(alice.name == "alice")
        #expect(alice.secretAccessKey == "k9Vq2mZ7xW4pL8rT1sN6bC3dF5gH0jK2lM4nP6qR")
        #expect(alice.mayRead(account: "111122223333"))
        #expect(alice.mayRead(account: "444455556666"))
        #expect(!alice.mayRead(account: "777788889999"))
        #expect(alice.mayChangeRetention)
        #expect(alice.line == 3)
        let auditors = try #require(file.principal(named: "auditors"))
        #expect(auditors.grant == .all)
        #expect(auditors.mayRead(account: "777788889999"))
        #expect(!auditors.mayChangeRetention)  // retention defaults to no
        #expect(auditors.created == "2026-12-03T07:00:00Z")
        #expect(auditors.secretAccessKey == "Zx8/Yw7+Vu6Ts5Rq4Po3Nm2Lk1Ji0HgFeDcBa987")
        #expect(file.principal(accessKeyId: "TWAKNOBODY0000000000") == nil)
    }

    @Test func crlfLinesParseAlike() throws {
        let crlf = try AccessFile.parse(sample.replacingOccurrences(of: "\n", with: "\r\n"), path: "access")
        #expect(crlf == (try AccessFile.parse(sample, path: "access")))
    }

    @Test func errorsNameFileLineAndReason() {
        let cases: [(String, AccessFileError.Code, Int, String)] = [
            ("access-key-id = TWAKQ2XGZ7N4M5P6R3ST\n", .syntax, 1, "'access-key-id' comes before any '[name]' header"),
            ("[alice\n", .syntax, 1, "a principal's header is '[name]'"),
            ("[al ice]\n", .invalidValue, 1, "'al ice' is not a valid name: 1 to 64 letters, digits and . _ @ + -"),
            ("[alice]\nsecret\n", .syntax, 2, "expected '[name]' or 'key = value'"),
            ("[alice]\nregion = eu-west-1\n", .unknownKey, 2,
             "unknown setting 'region' (known: access-key-id, accounts, created, retention, secret-access-key)"),
            ("[alice]\naccounts = 1111222233\n", .invalidValue, 2,
             "'1111222233' is not an account id (12 digits); accounts takes ids separated by commas, or 'all'"),
            ("[alice]\naccounts = 111122223333, 111122223333\n", .invalidValue, 2, "account 111122223333 is listed twice"),
            ("[alice]\nretention = maybe\n", .invalidValue, 2, "retention takes 'yes' or 'no', not 'maybe'"),
            ("[alice]\naccess-key-id = twak-lower\n", .invalidValue, 2, "access-key-id must be 16 to 128 upper-case letters and digits"),
            ("[alice]\nsecret-access-key = short\n", .invalidValue, 2, "secret-access-key must be 16 to 128 printable characters without spaces or '#'"),
            ("[alice]\naccounts = all\naccounts = all\n", .unknownKey, 3, "'accounts' is already set for [alice] at line 2"),
            ("[alice]\naccounts = all\n", .missingKey, 1, "[alice] has no 'access-key-id' setting"),
            (sample + "[alice]\n", .duplicate, 15, "[alice] is already defined at line 3"),
            (sample + "[bob]\naccess-key-id = TWAKQ2XGZ7N4M5P6R3ST\nsecret-access-key = 0123456789abcdef0123\naccounts = all\n", .duplicate, 16,
             "access key id TWAKQ2XGZ7N4M5P6R3ST is already [alice]'s (line 3)"),
        ]
        for (text, code, line, reason) in cases {
            let e = parseError(text)
            #expect(e == AccessFileError(code, path: "/etc/trailwatch/access", line: line, reason), "\(text)")
        }
        #expect(parseError("[alice]\nretention = maybe\n")?.description == "/etc/trailwatch/access:2: retention takes 'yes' or 'no', not 'maybe'")
    }

    @Test func limits() {
        var limits = AccessFile.Limits()
        limits.fileBytes = 100
        #expect(parseError(sample, limits: limits)?.reason == "the file is larger than 100 bytes")
        #expect(parseError("# " + String(repeating: "x", count: 5000))?.reason == "the line is longer than 4096 bytes")
        limits = .init()
        limits.principals = 1
        #expect(parseError(sample, limits: limits) == AccessFileError(.tooLarge, path: "/etc/trailwatch/access", line: 10, "more than 1 principals"))
        limits = .init()
        limits.accountsPerPrincipal = 1
        #expect(parseError(sample, limits: limits)?.reason == "more than 1 accounts")
        // Hostile input is an error, never a trap.
        #expect(parseError(String(repeating: "[", count: 3000)) != nil)
        #expect(parseError(String(repeating: "[a]\n", count: 20_000)) != nil)
    }

    @Test func madeKeysHaveTheirShapeAndDiffer() {
        var rng = SystemRandomNumberGenerator()
        var ids: Set<String> = []
        for _ in 0..<200 {
            let id = AccessFile.makeKeyId(using: &rng)
            let s = AccessFile.makeSecret(using: &rng)
            #expect(id.count == 20 && id.hasPrefix("TWAK") && AccessFile.isValidKeyId(id))
            #expect(s.count == 40 && AccessFile.isValidSecret(s))
            ids.insert(id)
        }
        #expect(ids.count == 200)
    }

    @Test func appendingAndRemovingKeepTheRest() throws {
        let bob = try AccessFile.make(
            name: "bob", accessKeyId: "TWAKBOBBOBBOBBOBBOB2", secretAccessKey: "0123456789abcdefghij0123456789ABCDEFGHIJ",
            grant: .accounts(["444455556666"]), mayChangeRetention: false, created: "2026-12-03T07:05:00Z")
        let added = try AccessFile.appending(bob, to: sample, path: "access")
        #expect(added.hasPrefix(sample))
        let file = try AccessFile.parse(added, path: "access")
        #expect(file.principals.map(\.name) == ["alice", "auditors", "bob"])
        #expect(file.principal(named: "bob")?.grant == .accounts(["444455556666"]))
        // The name and key must be new.
        #expect(throws: AccessFileError.self) { try AccessFile.appending(bob, to: added, path: "access") }

        // Revoking alice (by key id) keeps the comment above the auditors and everything else.
        let (text, removed) = try AccessFile.removing("TWAKQ2XGZ7N4M5P6R3ST", from: added, path: "access")
        #expect(removed.name == "alice")
        #expect(!text.contains("alice") && !text.contains("TWAKQ2XGZ7N4M5P6R3ST"))
        #expect(text.contains("# the auditors see everything, change nothing\n[auditors]"))
        #expect(text.hasPrefix("# Who may read which accounts' logs.\n\n# the auditors"))
        #expect(try AccessFile.parse(text, path: "access").principals.map(\.name) == ["auditors", "bob"])
        let (last, _) = try AccessFile.removing("bob", from: text, path: "access")
        #expect(try AccessFile.parse(last, path: "access").principals.map(\.name) == ["auditors"])
        #expect(throws: AccessFileError(.notFound, path: "access", line: 0, "no principal is named or has the access key id 'carol'")) {
            try AccessFile.removing("carol", from: last, path: "access")
        }
    }
}
