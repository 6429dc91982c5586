import Foundation
import Testing
import TestSupport

/// `trailwatch access add|list|revoke`, the real binary on a temporary access file.
@Suite("access command")
struct AccessCommandTests {
    private func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    private func add(_ args: [String]) throws -> [String: String] {
        let r = try trailwatch(["access", "add"] + args)
        #expect(r.status == 0, "\(r.err)")
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: [String: String]]
        return try #require(json["AccessKey"])
    }

    @Test func addListRevoke() throws {
        let file = tempDir("access") + "/access"
        let alice = try add(["alice", "--accounts", "111122223333,444455556666", "--file", file])
        #expect(alice["UserName"] == "alice")
        #expect(alice["Status"] == "Active")
        let key = try #require(alice["AccessKeyId"])
        let secret = try #require(alice["SecretAccessKey"])
        #expect(key.count == 20 && key.hasPrefix("TWAK"))
        #expect(secret.count == 40)
        #expect(alice["CreateDate"]?.hasSuffix("+00:00") == true)
        #expect(try mode(file) == 0o600)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("[alice]\naccess-key-id = \(key)\nsecret-access-key = \(secret)\naccounts = 111122223333, 444455556666\nretention = no\n"))

        let ops = try add(["ops", "--accounts", "all", "--retention", "--file", file])
        #expect(ops["AccessKeyId"] != key && ops["SecretAccessKey"] != secret)

        let list = try trailwatch(["access", "list", "--file", file])
        #expect(list.status == 0)
        #expect(list.out.split(separator: "\n").dropFirst().map { $0.split(separator: "\t").prefix(4).joined(separator: "|") } == [
            "alice|\(key)|111122223333, 444455556666|no", "ops|\(ops["AccessKeyId"]!)|all|yes",
        ])
        let json = try trailwatch(["access", "list", "--file", file, "--output", "json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as! [String: [[String: Any]]]
        #expect(parsed["AccessKeyMetadata"]?.map { $0["UserName"] as! String } == ["alice", "ops"])
        #expect(parsed["AccessKeyMetadata"]?[0]["Accounts"] as? [String] == ["111122223333", "444455556666"])
        // Secrets are printed once, by add, never by list.
        #expect(!list.out.contains(secret) && !json.out.contains(secret) && !json.out.contains(ops["SecretAccessKey"]!))

        let duplicate = try trailwatch(["access", "add", "alice", "--accounts", "all", "--file", file])
        #expect(duplicate.status != 0)
        #expect(duplicate.err.contains("\(file):5: a principal named 'alice' exists already"))

        let revoke = try trailwatch(["access", "revoke", key, "--file", file])
        #expect(revoke.status == 0)
        #expect(revoke.out.contains("revoked alice (\(key))"))
        let after = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!after.contains(key) && !after.contains(secret) && after.contains("[ops]"))
        #expect(try mode(file) == 0o600)
        let again = try trailwatch(["access", "revoke", "alice", "--file", file])
        #expect(again.status != 0)
        #expect(again.err.contains("no principal is named or has the access key id 'alice'"))
    }

    @Test func badArgumentsAreUsageErrors() throws {
        let file = tempDir("access") + "/access"
        for (args, message) in [
            (["x", "--accounts", "1234"], "--accounts takes 12-digit account ids separated by commas, or 'all'; got '1234'"),
            (["x", "--accounts", "111122223333,111122223333"], "--accounts lists an account twice"),
            (["bad name", "--accounts", "all"], "'bad name' is not a valid name"),
        ] {
            let r = try trailwatch(["access", "add"] + args + ["--file", file])
            #expect(r.status == 64, "\(args)")
            #expect(r.err.contains(message), "\(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test func refusesAFileOthersCanRead() throws {
        let dir = tempDir("access")
        let file = dir + "/access"
        _ = try add(["alice", "--accounts", "all", "--file", file])
        chmod(file, 0o644)
        let r = try trailwatch(["access", "list", "--file", file])
        #expect(r.status != 0)
        #expect(r.err.contains("\(file): has mode 0644, which lets every user read or change the secrets: chmod 0600 \(file)"))
        // Adding refuses it too, and leaves it as it was.
        let before = try String(contentsOfFile: file, encoding: .utf8)
        #expect(try trailwatch(["access", "add", "bob", "--accounts", "all", "--file", file]).status != 0)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == before)
        chmod(file, 0o660)
        #expect(try trailwatch(["access", "list", "--file", file]).err.contains("has mode 0660, which lets its group read or change"))
        // 0640 (the service's group may read) is accepted, and kept by an update.
        chmod(file, 0o640)
        _ = try add(["bob", "--accounts", "all", "--file", file])
        #expect(try mode(file) == 0o640)
        if geteuid() == 0 {
            chown(file, 65534, 65534)
            let owned = try trailwatch(["access", "list", "--file", file])
            #expect(owned.status != 0)
            #expect(owned.err.contains("is owned by uid 65534, not root or the user trailwatch runs as"))
        }
        let link = dir + "/link"
        symlink(file, link)
        #expect(try trailwatch(["access", "list", "--file", link]).err.contains("is a symbolic link"))
    }

    @Test func theConfigNamesTheFile() throws {
        let dir = tempDir("access")
        try "access-file = \(dir)/api-access\n".write(toFile: dir + "/trailwatch.conf", atomically: true, encoding: .utf8)
        _ = try add(["alice", "--accounts", "all", "--config", dir + "/trailwatch.conf"])
        #expect(FileManager.default.fileExists(atPath: dir + "/api-access"))
        #expect(try trailwatch(["access", "list", "--config", dir + "/trailwatch.conf"]).out.contains("alice\tTWAK"))
    }
}
