/// A fault in an access file: where (`path:line`) and why.
package struct AccessFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of fault.
    package enum Code: String, Sendable {
        /// The file's size, a line's length or the number of principals is over the limit.
        case tooLarge = "too-large"
        /// A line that is neither a `[name]` header, a `key = value` setting, a comment nor blank.
        case syntax
        /// A value that is not acceptable for its key (or a name that is not).
        case invalidValue = "invalid-value"
        /// A setting the format does not have, or one given twice.
        case unknownKey = "unknown-key"
        /// A principal without a required setting.
        case missingKey = "missing-key"
        /// Two principals with the same name or access key id.
        case duplicate
        /// The named principal or key is not in the file (revoke).
        case notFound = "not-found"
        /// The file cannot be used for other reasons (permissions, owner, not a regular file): the loader's.
        case unsafe
    }

    /// The kind of fault.
    package var code: Code
    /// The file.
    package var path: String
    /// 1-based, 0 when the fault is the whole file's.
    package var line: Int
    /// What is wrong, in words.
    package var reason: String

    /// A fault at `path:line`.
    package init(_ code: Code, path: String, line: Int, _ reason: String) {
        self.code = code
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// `path:line: reason`.
    package var description: String { line > 0 ? "\(path):\(line): \(reason)" : "\(path): \(reason)" }
}

/// The access file: who may call the API, with which key, on which accounts. Plain text an operator
/// reads at a glance, one stanza per principal:
///
///     # comments start with '#'
///     [alice]
///     access-key-id = TWAKQ2XGZ7N4M5P6R3ST
///     secret-access-key = …40 characters…
///     accounts = 111122223333, 444455556666      # or: all
///     retention = no                             # yes: may change retention
///     created = 2026-12-03T07:00:00Z             # written by `access add`
///
/// This type only parses and renders text; reading and writing the file (with its permission
/// checks) is the executable's.
package struct AccessFile: Sendable, Equatable {
    /// The principals in file order.
    package var principals: [Principal]
    private var byKey: [String: Int]

    /// Bounds on what is parsed.
    package struct Limits: Sendable {
        /// Bytes of the whole file.
        package var fileBytes = 1 << 20
        /// Bytes of one line.
        package var lineBytes = 4096
        /// Stanzas.
        package var principals = 10_000
        /// Account ids in one `accounts` setting.
        package var accountsPerPrincipal = 1_000
        /// The defaults.
        package init() {}
    }

    /// The prefix of the access key ids trailwatch makes: AWS's own start with `AKIA`/`ASIA`, so a
    /// trailwatch key is never mistaken for (or sent to) AWS.
    package static let keyPrefix = "TWAK"

    /// The principal signing with `accessKeyId`, nil when none does.
    package func principal(accessKeyId: String) -> Principal? { byKey[accessKeyId].map { principals[$0] } }

    /// The principal called `name`, nil when none is.
    package func principal(named name: String) -> Principal? { principals.first { $0.name == name } }

    /// An access file holding `principals` (checked by the caller).
    init(principals: [Principal]) {
        self.principals = principals
        byKey = Dictionary(principals.enumerated().map { ($1.accessKeyId, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Parses the text of the access file at `path` (named in errors).
    package static func parse(_ text: String, path: String, limits: Limits = Limits()) throws(AccessFileError) -> AccessFile {
        guard text.utf8.count <= limits.fileBytes else {
            throw AccessFileError(.tooLarge, path: path, line: 0, "the file is larger than \(limits.fileBytes) bytes")
        }
        var done: [Principal] = []
        var current: Draft?
        var names: [String: Int] = [:]
        var keys: [String: Int] = [:]

        func finish(_ d: Draft) throws(AccessFileError) {
            for key in ["access-key-id", "secret-access-key", "accounts"] where d.values[key] == nil {
                throw AccessFileError(.missingKey, path: path, line: d.line, "[\(d.name)] has no '\(key)' setting")
            }
            let p = Principal(
                name: d.name, accessKeyId: d.values["access-key-id"]!.value, secretAccessKey: d.values["secret-access-key"]!.value,
                grant: try grant(d.values["accounts"]!, path: path, limits: limits), mayChangeRetention: try retention(d.values["retention"], path: path),
                created: d.values["created"]?.value, line: d.line)
            if let other = keys[p.accessKeyId] {
                throw AccessFileError(
                    .duplicate, path: path, line: d.values["access-key-id"]!.line, "access key id \(p.accessKeyId) is already [\(done[other].name)]'s (line \(done[other].line))")
            }
            keys[p.accessKeyId] = done.count
            done.append(p)
        }

        var lineNumber = 0
        for raw in lines(text) {
            lineNumber += 1
            guard raw.utf8.count <= limits.lineBytes else {
                throw AccessFileError(.tooLarge, path: path, line: lineNumber, "the line is longer than \(limits.lineBytes) bytes")
            }
            let line = stripComment(raw)
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw AccessFileError(.syntax, path: path, line: lineNumber, "a principal's header is '[name]'")
                }
                let name = String(line.dropFirst().dropLast()).trimmed
                guard isValidName(name) else {
                    throw AccessFileError(
                        .invalidValue, path: path, line: lineNumber, "'\(name)' is not a valid name: 1 to 64 letters, digits and . _ @ + -")
                }
                if let first = names[name] {
                    throw AccessFileError(.duplicate, path: path, line: lineNumber, "[\(name)] is already defined at line \(first)")
                }
                if let d = current { try finish(d) }
                guard done.count < limits.principals else {
                    throw AccessFileError(.tooLarge, path: path, line: lineNumber, "more than \(limits.principals) principals")
                }
                names[name] = lineNumber
                current = Draft(name: name, line: lineNumber)
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw AccessFileError(.syntax, path: path, line: lineNumber, "expected '[name]' or 'key = value'")
            }
            let key = String(line[..<eq]).trimmed
            let value = String(line[line.index(after: eq)...]).trimmed
            guard var d = current else {
                throw AccessFileError(.syntax, path: path, line: lineNumber, "'\(key)' comes before any '[name]' header")
            }
            guard settings.contains(key) else {
                throw AccessFileError(
                    .unknownKey, path: path, line: lineNumber, "unknown setting '\(key)' (known: \(settings.sorted().joined(separator: ", ")))")
            }
            if let first = d.values[key] {
                throw AccessFileError(.unknownKey, path: path, line: lineNumber, "'\(key)' is already set for [\(d.name)] at line \(first.line)")
            }
            try check(key: key, value: value, path: path, line: lineNumber, limits: limits)
            d.values[key] = (value, lineNumber)
            current = d
        }
        if let d = current { try finish(d) }
        return AccessFile(principals: done)
    }

    /// The lines of `text` (LF or CRLF endings).
    static func lines(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }

    private struct Draft {
        var name: String
        var line: Int
        var values: [String: (value: String, line: Int)] = [:]
    }

    private static let settings: Set<String> = ["access-key-id", "secret-access-key", "accounts", "retention", "created"]

    /// A line without its comment (`#` at the start, or after a space) and surrounding whitespace.
    static func stripComment(_ raw: Substring) -> Substring {
        var line = raw
        var previous: Character = " "
        for i in line.indices {
            if line[i] == "#" && (previous == " " || previous == "\t") {
                line = line[..<i]
                break
            }
            previous = line[i]
        }
        return Substring(String(line).trimmed)
    }

    /// 1 to 64 of letters, digits, `. _ @ + -`: safe in a log field, a journal entry and a shell.
    package static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { b in
                (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) || "._@+-".utf8.contains(b)
            }
    }

    /// An access key id: 16 to 128 upper-case letters and digits (AWS's shape).
    package static func isValidKeyId(_ id: String) -> Bool {
        (16...128).contains(id.utf8.count) && id.utf8.allSatisfy { (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) }
    }

    /// A secret: 16 to 128 printable ASCII characters without spaces or `#`.
    package static func isValidSecret(_ s: String) -> Bool {
        (16...128).contains(s.utf8.count) && s.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }
    }

    /// A 12-digit AWS account id.
    package static func isAccountId(_ s: some StringProtocol) -> Bool {
        s.utf8.count == 12 && s.utf8.allSatisfy { (0x30...0x39).contains($0) }
    }

    private static func check(key: String, value: String, path: String, line: Int, limits: Limits) throws(AccessFileError) {
        switch key {
        case "access-key-id" where !isValidKeyId(value):
            throw AccessFileError(.invalidValue, path: path, line: line, "access-key-id must be 16 to 128 upper-case letters and digits")
        case "secret-access-key" where !isValidSecret(value):
            throw AccessFileError(
                .invalidValue, path: path, line: line, "secret-access-key must be 16 to 128 printable characters without spaces or '#'")
        case "accounts": _ = try grant((value, line), path: path, limits: limits)
        case "retention": _ = try retention((value, line), path: path)
        case "created" where value.isEmpty:
            throw AccessFileError(.invalidValue, path: path, line: line, "created needs a time (ISO 8601)")
        default: return
        }
    }

    private static func grant(_ v: (value: String, line: Int), path: String, limits: Limits) throws(AccessFileError) -> AccountGrant {
        if v.value == "all" { return .all }
        var ids: Set<String> = []
        for part in v.value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
            guard isAccountId(part) else {
                throw AccessFileError(
                    .invalidValue, path: path, line: v.line, "'\(part)' is not an account id (12 digits); accounts takes ids separated by commas, or 'all'")
            }
            guard ids.insert(String(part)).inserted else {
                throw AccessFileError(.invalidValue, path: path, line: v.line, "account \(part) is listed twice")
            }
        }
        guard !ids.isEmpty else {
            throw AccessFileError(.invalidValue, path: path, line: v.line, "accounts needs account ids separated by commas, or 'all'")
        }
        guard ids.count <= limits.accountsPerPrincipal else {
            throw AccessFileError(.tooLarge, path: path, line: v.line, "more than \(limits.accountsPerPrincipal) accounts")
        }
        return .accounts(ids)
    }

    private static func retention(_ v: (value: String, line: Int)?, path: String) throws(AccessFileError) -> Bool {
        guard let v else { return false }
        switch v.value {
        case "yes": return true
        case "no": return false
        default: throw AccessFileError(.invalidValue, path: path, line: v.line, "retention takes 'yes' or 'no', not '\(v.value)'")
        }
    }
}

extension Substring {
    /// Only spaces, tabs or a carriage return (or nothing).
    var isBlank: Bool { allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" } }
}

extension String {
    /// Without leading and trailing spaces, tabs and carriage returns.
    var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
