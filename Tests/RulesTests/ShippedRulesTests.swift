import Foundation
import Rules
import Testing

/// The repository's shipped rules, loaded the way `trailwatch rules check rules/` does.
func shippedRules() throws -> RuleSet {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("rules")
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".rules") || $0.hasSuffix(".list") }.sorted()
    let files = try names.map { RuleSourceFile(path: dir.path + "/" + $0, text: try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)) }
    let (set, diagnostics) = RuleSet.compile(ruleFiles: files.filter { $0.path.hasSuffix(".rules") }, listFiles: files.filter { $0.path.hasSuffix(".list") })
    #expect(diagnostics.isEmpty, "\(diagnostics)")
    return try #require(set)
}

@Suite struct ShippedRulesTests {
    @Test func namesAndInlineTests() throws {
        let set = try shippedRules()
        let expected = ["root-usage", "console-login-without-mfa", "unknown-source-ip", "terminate-instances-burst", "trail-tampering"]
            + (1...14).map { "cis-cloudwatch-\($0)" }
        #expect(Set(set.rules.map(\.name)) == Set(expected))
        for r in set.rules { #expect(!r.rule.tests.isEmpty, "\(r.name) has inline tests") }
        let results = RuleTester.run(set) { FileManager.default.contents(atPath: $0).map { [UInt8]($0) } }
        #expect(results.contains { $0.test.contains("fixture file") && $0.passed })
        #expect(results.count >= 45)
        for r in results { #expect(r.passed, "\(r.rule): \(r.test) expected \(r.expected) got \(r.got)") }
        #expect(Set(set.rules.map(\.messageID)).count == set.rules.count, "one MESSAGE_ID per rule")
    }

    /// Panther's labelled tests for the behaviours the shipped rules cover; the deliberate
    /// differences are listed (and checked to really differ) so the list stays honest.
    @Test func pantherVerdicts() throws {
        let set = try shippedRules()
        let ruleFor = [
            "AWS.Console.RootLogin": "root-usage", "AWS.Console.RootLoginFailed": "root-usage", "AWS.Root.Activity": "root-usage",
            "AWS.Console.LoginWithoutMFA": "console-login-without-mfa", "AWS.CloudTrail.Stopped": "trail-tampering",
            "AWS.CloudTrail.SecurityConfigurationChange": "trail-tampering", "AWS.CloudTrail.EventSelectorsDisabled": "trail-tampering",
        ]
        // Why trailwatch says otherwise: denied tampering attempts alert; any root use alerts (CIS);
        // PutEventSelectors alerts whatever it sets; no-MFA sign-ins alert without Panther's mocked context.
        let differences: Set<String> = [
            "AWS.CloudTrail.Stopped/Error Stopping CloudTrail",
            "AWS.CloudTrail.SecurityConfigurationChange/Security Configuration Not Changed - Error",
            "AWS.CloudTrail.EventSelectorsDisabled/Event Selector Enabled",
            "AWS.Console.RootLoginFailed/Successful Login",
            "AWS.Root.Activity/Root Activity - CreateServiceLinkedRole",
            "AWS.Root.Activity/Root User Failed Activity",
            "AWS.Root.Activity/Root Read-Only Enumeration",
            "AWS.Console.LoginWithoutMFA/MFA Login - SAML",
            "AWS.Console.LoginWithoutMFA/No MFA Login - New User",
            "AWS.Console.LoginWithoutMFA/AWS SSOv2 Login",
            "AWS.Console.LoginWithoutMFA/AssumeRole from MFA User Session",
            "AWS.Console.LoginWithoutMFA/No MFA - IAM Role and External IDP",
        ]
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/panther-tests.jsonl")
        var agreed = 0
        var differed = Set<String>()
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let t = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let id = t["rule_id"] as! String
            let name = "\(id)/\(t["test_name"] as! String)"
            let event = try JSONSerialization.data(withJSONObject: t["event"]!)
            let verdict = event.withUnsafeBytes { set.hits(record: $0, index: 0, account: "123456789012", region: "us-east-1") }
                .contains { set.rules[$0.rule].name == ruleFor[id] }
            if verdict == (t["expected"] as! Bool) {
                agreed += 1
                #expect(!differences.contains(name), "\(name) now agrees: take it off the list")
            } else {
                differed.insert(name)
                #expect(differences.contains(name), "\(name): trailwatch says \(verdict)")
            }
        }
        #expect(differed == differences)
        #expect(agreed == 33 - differences.count)
    }
}
