import Access
import ArgumentParser
import CloudTrail
import Posix

/// `trailwatch access add|list|revoke`: the principals of the access file, who may call the
/// CloudWatch Logs API and read which accounts' groups.
struct AccessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access",
        abstract: "API principals: who may call the CloudWatch Logs API and read which accounts (the access file).",
        discussion: """
            The access file (default \(AccessStore.defaultPath), config 'access-file =') holds one stanza per principal: \
            its access key id, secret, the accounts it may read ('all' or 12-digit ids) and whether it may change \
            retention. It must be readable by its owner (root or the service user) and at most the service's group \
            (0600 or 0640). After a change, 'systemctl reload trailwatch' (SIGHUP) makes a running server use it.
            """,
        subcommands: [Add.self, List.self, Revoke.self])

    /// Where the access file is: `--file`, else the config's `access-file`, else the default.
    struct Location: ParsableArguments {
        @Option(help: "The access file (default: the config's access-file, else \(AccessStore.defaultPath)).") var file: String?
        @Option(help: "Config file whose 'access-file =' names the access file.") var config: String?

        func path() throws -> String {
            if let file { return file }
            if let config {
                do { if let p = try ConfigFile.load(config).accessFile { return p } } catch { throw ValidationError("\(error)") }
            }
            return AccessStore.defaultPath
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a principal with a new access key; prints the key id and secret once, as 'aws iam create-access-key' does.")
        @Argument(help: "The principal's name (letters, digits, . _ @ + -; at most 64).") var name: String
        @Option(help: "The accounts it may read: 12-digit ids separated by commas, or 'all'.") var accounts: String
        @Flag(help: "It may also change retention (PutRetentionPolicy, DeleteRetentionPolicy).") var retention = false
        @OptionGroup var location: Location

        func validate() throws {
            guard AccessFile.isValidName(name) else { throw ValidationError("'\(name)' is not a valid name: 1 to 64 letters, digits and . _ @ + -") }
            _ = try grant()
        }

        func grant() throws -> AccountGrant {
            if accounts == "all" { return .all }
            let ids = accounts.split(separator: ",").map { String($0).trimmedWhitespace }
            guard !ids.isEmpty, ids.allSatisfy(AccessFile.isAccountId) else {
                throw ValidationError("--accounts takes 12-digit account ids separated by commas, or 'all'; got '\(accounts)'")
            }
            guard Set(ids).count == ids.count else { throw ValidationError("--accounts lists an account twice: '\(accounts)'") }
            return .accounts(Set(ids))
        }

        func run() throws {
            let path = try location.path()
            let grant = try grant()
            let created = String(Timestamp.formatISO8601(Posix.nowMillis()).dropLast()) + "+00:00"
            // The system CSPRNG (getrandom(2)).
            var rng = SystemRandomNumberGenerator()
            let p = try AccessStore.update(path) { (text: String) throws(AccessFileError) -> (String, Principal) in
                let existing = try AccessFile.parse(text, path: path)
                if let other = existing.principal(named: name) {
                    throw AccessFileError(.duplicate, path: path, line: other.line, "a principal named '\(name)' exists already")
                }
                var keyId = AccessFile.makeKeyId(using: &rng)
                while existing.principal(accessKeyId: keyId) != nil { keyId = AccessFile.makeKeyId(using: &rng) }
                let p = try AccessFile.make(
                    name: name, accessKeyId: keyId, secretAccessKey: AccessFile.makeSecret(using: &rng), grant: grant,
                    mayChangeRetention: retention, created: created)
                return (try AccessFile.appending(p, to: text, path: path), p)
            }
            print(
                """
                {
                    "AccessKey": {
                        "UserName": "\(p.name)",
                        "AccessKeyId": "\(p.accessKeyId)",
                        "Status": "Active",
                        "SecretAccessKey": "\(p.secretAccessKey)",
                        "CreateDate": "\(created)"
                    }
                }
                """)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the principals: name, access key id, accounts, retention, created (never secrets).")
        @Option(help: "text (one tab-separated line each) or json (as 'aws iam list-access-keys', with Accounts and MayChangeRetention).")
        var output = "text"
        @OptionGroup var location: Location

        func validate() throws {
            guard output == "text" || output == "json" else { throw ValidationError("--output takes text or json") }
        }

        func run() throws {
            let file = try AccessStore.load(try location.path())
            if output == "text" {
                print("name\taccess key id\taccounts\tretention\tcreated")
                for p in file.principals {
                    print("\(p.name)\t\(p.accessKeyId)\t\(p.grant.text)\t\(p.mayChangeRetention ? "yes" : "no")\t\(p.created ?? "-")")
                }
                return
            }
            let items = file.principals.map { p in
                let accounts: String
                switch p.grant {
                case .all: accounts = #""all""#
                case .accounts(let ids): accounts = "[" + ids.sorted().map { "\"\($0)\"" }.joined(separator: ", ") + "]"
                }
                return """
                        {
                            "UserName": "\(p.name)",
                            "AccessKeyId": "\(p.accessKeyId)",
                            "Status": "Active",
                            "CreateDate": \(p.created.map { "\"\(jsonEscaped($0))\"" } ?? "null"),
                            "Accounts": \(accounts),
                            "MayChangeRetention": \(p.mayChangeRetention)
                        }
                """
            }
            print("{\n    \"AccessKeyMetadata\": [\(items.isEmpty ? "" : "\n" + items.joined(separator: ",\n") + "\n    ")]\n}")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a principal (by name or access key id); a running server drops it on SIGHUP (systemctl reload trailwatch).")
        @Argument(help: "The principal's name or access key id.") var principal: String
        @OptionGroup var location: Location

        func run() throws {
            let path = try location.path()
            let removed = try AccessStore.update(path) { (text: String) throws(AccessFileError) -> (String, Principal) in
                try AccessFile.removing(principal, from: text, path: path)
            }
            print("revoked \(removed.name) (\(removed.accessKeyId)); reload a running trailwatch (systemctl reload trailwatch) to drop it")
        }
    }
}

/// `s` with JSON's special characters escaped (for values the parser let through as free text).
func jsonEscaped(_ s: String) -> String {
    var out = ""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where c.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16)
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}
