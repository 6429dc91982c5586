import FilterPattern
import Foundation
import Testing

/// Builds a CloudTrail-like record as compact JSON text.
func record(_ fields: [String: Any]) -> String {
    var base: [String: Any] = [
        "eventVersion": "1.09", "eventTime": "2025-03-14T09:26:53Z", "awsRegion": "us-east-1",
        "eventID": UUID().uuidString.lowercased(), "eventType": "AwsApiCall", "sourceIPAddress": "203.0.113.42",
        "userIdentity": ["type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice", "userName": "alice"],
        "recipientAccountId": "123456789012", "readOnly": false,
    ]
    for (k, v) in fields { base[k] = v }
    let data = try! JSONSerialization.data(withJSONObject: base, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

func expectMatches(_ pattern: String, _ yes: [[String: Any]], _ no: [[String: Any]], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let p = try FilterPattern(pattern)
    for r in yes {
        #expect(p.matches(record(r)), "should match: \(r)", sourceLocation: sourceLocation)
    }
    for r in no {
        #expect(!p.matches(record(r)), "should not match: \(r)", sourceLocation: sourceLocation)
    }
}

nonisolated(unsafe) let root: [String: Any] = ["type": "Root", "principalId": "123456789012", "arn": "arn:aws:iam::123456789012:root"]

/// The metric-filter patterns of the CIS Amazon Web Services Foundations Benchmark's monitoring controls, verbatim.
@Suite struct CISPatternTests {
    @Test func rootUsage() throws {
        for p in [
            #"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#,
            #"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#,
        ] {
            var invoked = root
            invoked["invokedBy"] = "cloudformation.amazonaws.com"
            try expectMatches(
                p,
                [["userIdentity": root], ["userIdentity": root, "eventType": "AwsConsoleSignIn", "errorMessage": "Failed authentication"]],
                [
                    ["userIdentity": invoked], ["userIdentity": root, "eventType": "AwsServiceEvent"],
                    ["userIdentity": ["type": "IAMUser", "userName": "root"]],
                ])
        }
    }

    @Test func unauthorizedAPICalls() throws {
        try expectMatches(
            #"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#,
            [["errorCode": "Client.UnauthorizedOperation"], ["errorCode": "AccessDenied"], ["errorCode": "AccessDeniedException"]],
            [["errorCode": "ThrottlingException"], [:], ["errorCode": "UnauthorizedOperationX"]])
        // CIS 1.4+: && binds tighter than ||, so the exclusions apply to the AccessDenied branch only.
        try expectMatches(
            #"{ ($.errorCode ="*UnauthorizedOperation") || ($.errorCode ="AccessDenied*") && ($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket") }"#,
            [
                ["errorCode": "Client.UnauthorizedOperation", "sourceIPAddress": "delivery.logs.amazonaws.com"],
                ["errorCode": "Client.UnauthorizedOperation", "eventName": "HeadBucket"],
                ["errorCode": "AccessDenied", "eventName": "GetObject"],
            ],
            [
                ["errorCode": "AccessDenied", "sourceIPAddress": "delivery.logs.amazonaws.com", "eventName": "GetObject"],
                ["errorCode": "AccessDenied", "eventName": "HeadBucket"],
            ])
    }

    @Test func consoleSignInWithoutMFA() throws {
        let login: [String: Any] = [
            "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn", "responseElements": ["ConsoleLogin": "Success"],
        ]
        func with(_ extra: [String: Any]) -> [String: Any] { login.merging(extra) { $1 } }
        try expectMatches(
            #"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#,
            [with(["additionalEventData": ["MFAUsed": "No"]]), with(["additionalEventData": ["MFAUsed": "YES"]])],
            [
                with(["additionalEventData": ["MFAUsed": "Yes"]]),
                with(["additionalEventData": ["MFAUsed": "No"], "userIdentity": root]),
                with(["additionalEventData": ["MFAUsed": "No"], "responseElements": ["ConsoleLogin": "Failure"]]),
                with([:]),  // no additionalEventData: a != on a missing field does not match
            ])
        try expectMatches(
            #"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }"#,
            [with(["additionalEventData": ["MFAUsed": "No"], "userIdentity": root])],
            [with(["additionalEventData": ["MFAUsed": "Yes"]]), ["eventName": "CheckMfa", "additionalEventData": ["MFAUsed": "No"]]])
    }

    @Test func eventNameListPatterns() throws {
        let cases: [(String, [String], [String])] = [
            (
                #"{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || ($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || ($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || ($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || ($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || ($.eventName=DetachGroupPolicy)}"#,
                ["DeleteGroupPolicy", "PutRolePolicy", "CreatePolicyVersion", "DetachGroupPolicy"], ["GetPolicy", "ListPolicies", "createpolicy"]
            ),
            (
                #"{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || ($.eventName=DeleteTrail) || ($.eventName=StartLogging) || ($.eventName=StopLogging)}"#,
                ["CreateTrail", "StopLogging"], ["LookupEvents", "PutEventSelectors"]
            ),
            (
                #"{($.eventName=AuthorizeSecurityGroupIngress) || ($.eventName=AuthorizeSecurityGroupEgress) || ($.eventName=RevokeSecurityGroupIngress) || ($.eventName=RevokeSecurityGroupEgress) || ($.eventName=CreateSecurityGroup) || ($.eventName=DeleteSecurityGroup)}"#,
                ["AuthorizeSecurityGroupIngress", "DeleteSecurityGroup"], ["DescribeSecurityGroups"]
            ),
            (
                #"{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) || ($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || ($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}"#,
                ["CreateNetworkAclEntry", "ReplaceNetworkAclAssociation"], ["DescribeNetworkAcls"]
            ),
            (
                #"{($.eventName=CreateCustomerGateway) || ($.eventName=DeleteCustomerGateway) || ($.eventName=AttachInternetGateway) || ($.eventName=CreateInternetGateway) || ($.eventName=DeleteInternetGateway) || ($.eventName=DetachInternetGateway)}"#,
                ["AttachInternetGateway", "DeleteCustomerGateway"], ["DescribeInternetGateways"]
            ),
            (
                #"{($.eventName=CreateRoute) || ($.eventName=CreateRouteTable) || ($.eventName=ReplaceRoute) || ($.eventName=ReplaceRouteTableAssociation) || ($.eventName=DeleteRouteTable) || ($.eventName=DeleteRoute) || ($.eventName=DisassociateRouteTable)}"#,
                ["CreateRoute", "DisassociateRouteTable"], ["DescribeRouteTables", "CreateRouteX"]
            ),
            (
                #"{($.eventName=CreateVpc) || ($.eventName=DeleteVpc) || ($.eventName=ModifyVpcAttribute) || ($.eventName=AcceptVpcPeeringConnection) || ($.eventName=CreateVpcPeeringConnection) || ($.eventName=DeleteVpcPeeringConnection) || ($.eventName=RejectVpcPeeringConnection) || ($.eventName=AttachClassicLinkVpc) || ($.eventName=DetachClassicLinkVpc) || ($.eventName=DisableVpcClassicLink) || ($.eventName=EnableVpcClassicLink)}"#,
                ["CreateVpc", "EnableVpcClassicLink"], ["DescribeVpcs"]
            ),
        ]
        for (p, yes, no) in cases {
            try expectMatches(p, yes.map { ["eventName": $0] }, no.map { ["eventName": $0] })
        }
    }

    @Test func consoleAuthenticationFailures() throws {
        try expectMatches(
            #"{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}"#,
            [["eventName": "ConsoleLogin", "errorMessage": "Failed authentication"]],
            [["eventName": "ConsoleLogin"], ["eventName": "ConsoleLogin", "errorMessage": "Failed authentication!"]])
    }

    @Test func sourceScopedPatterns() throws {
        try expectMatches(
            #"{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}"#,
            [["eventSource": "kms.amazonaws.com", "eventName": "ScheduleKeyDeletion"]],
            [["eventSource": "kms.amazonaws.com", "eventName": "Decrypt"], ["eventSource": "ec2.amazonaws.com", "eventName": "DisableKey"]])
        try expectMatches(
            #"{($.eventSource=s3.amazonaws.com) && (($.eventName=PutBucketAcl) || ($.eventName=PutBucketPolicy) || ($.eventName=PutBucketCors) || ($.eventName=PutBucketLifecycle) || ($.eventName=PutBucketReplication) || ($.eventName=DeleteBucketPolicy) || ($.eventName=DeleteBucketCors) || ($.eventName=DeleteBucketLifecycle) || ($.eventName=DeleteBucketReplication))}"#,
            [["eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy"]],
            [["eventSource": "s3.amazonaws.com", "eventName": "GetBucketPolicy"]])
        try expectMatches(
            #"{($.eventSource=config.amazonaws.com) && (($.eventName=StopConfigurationRecorder) || ($.eventName=DeleteDeliveryChannel) || ($.eventName=PutDeliveryChannel) || ($.eventName=PutConfigurationRecorder))}"#,
            [["eventSource": "config.amazonaws.com", "eventName": "StopConfigurationRecorder"]],
            [["eventSource": "config.amazonaws.com", "eventName": "DescribeConfigRules"]])
        try expectMatches(
            #"{($.eventSource = ec2.amazonaws.com) && (($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable)) }"#,
            [["eventSource": "ec2.amazonaws.com", "eventName": "ReplaceRoute"]],
            [["eventSource": "vpc-lattice.amazonaws.com", "eventName": "CreateRoute"]])
        try expectMatches(
            #"{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = "AcceptHandshake") || ($.eventName = "AttachPolicy") || ($.eventName = "CreateAccount") || ($.eventName = "CreateOrganizationalUnit") || ($.eventName = "CreatePolicy") || ($.eventName = "DeclineHandshake") || ($.eventName = "DeleteOrganization") || ($.eventName = "DeleteOrganizationalUnit") || ($.eventName = "DeletePolicy") || ($.eventName = "DetachPolicy") || ($.eventName = "DisablePolicyType") || ($.eventName = "EnablePolicyType") || ($.eventName = "InviteAccountToOrganization") || ($.eventName = "LeaveOrganization") || ($.eventName = "MoveAccount") || ($.eventName = "RemoveAccountFromOrganization") || ($.eventName = "UpdatePolicy") || ($.eventName = "UpdateOrganizationalUnit")) }"#,
            [["eventSource": "organizations.amazonaws.com", "eventName": "LeaveOrganization"]],
            [["eventSource": "iam.amazonaws.com", "eventName": "CreatePolicy"], ["eventSource": "organizations.amazonaws.com", "eventName": "ListAccounts"]])
    }
}

@Suite struct FilterSyntaxTests {
    @Test func termsPhrasesAlternativesExclusions() throws {
        let msg = #"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication","sourceIPAddress":"203.0.113.42"}"#
        #expect(try FilterPattern("").matches(msg))
        #expect(try FilterPattern("\" \"").matches(msg))
        #expect(try FilterPattern("ConsoleLogin").matches(msg))
        #expect(try FilterPattern("ConsoleLogin authentication").matches(msg))
        #expect(try !FilterPattern("ConsoleLogin DeleteTrail").matches(msg))
        #expect(try FilterPattern("\"Failed authentication\"").matches(msg))
        #expect(try !FilterPattern("\"authentication Failed\"").matches(msg))
        #expect(try FilterPattern("?DeleteTrail ?ConsoleLogin").matches(msg))
        #expect(try !FilterPattern("?DeleteTrail ?StopLogging").matches(msg))
        #expect(try !FilterPattern("ConsoleLogin -Failed").matches(msg))
        #expect(try FilterPattern("ConsoleLogin -Success").matches(msg))
        #expect(try !FilterPattern("consolelogin").matches(msg), "terms are case-sensitive")
        #expect(try FilterPattern("%Console[A-Z]ogin%").matches(msg))
        #expect(try FilterPattern("%^\\{%").matches(msg))
        #expect(try !FilterPattern("%colou?r%").matches(msg))
    }

    @Test func jsonOperatorsAndTypes() throws {
        let msg = record([
            "readOnly": true, "sessionCredentialFromConsole": "true", "requestParameters": NSNull(),
            "responseElements": ["code": 404, "latency": 1.5e-3, "items": [["id": "a"], ["id": "b", "tags": ["x", "y"]]]],
            "eventName": "DeleteBucketPolicy",
        ])
        let yes = [
            "{ $.readOnly IS TRUE }", "{ $.readOnly is true }", "{ $.requestParameters IS NULL }", "{ $.nothing NOT EXISTS }",
            #"{ $.sessionCredentialFromConsole = "true" }"#, "{ $.responseElements.code = 404 }",
            "{ $.responseElements.code >= 400 && $.responseElements.code < 500 }", "{ $.responseElements.code != 200 }",
            "{ $.responseElements.latency < 1e-2 }", "{ $.responseElements.latency > -1 }",
            "{ $.responseElements.code = 4* }", #"{ $.responseElements.items[1].id = "b" }"#,
            "{ $.responseElements.items[1].tags[1] = y }", "{ $.eventName = Delete* }", #"{ $.eventName = "*Policy" }"#,
            "{ $.eventName = %Delete.*Policy% }", "{ $.eventName != %^Put% }", #"{ $.eventName = "*" }"#,
            "{ ($.eventName = X) || ($.readOnly IS TRUE && $.eventName = DeleteBucketPolicy) }",
            "{$.eventName=DeleteBucketPolicy&&$.readOnly IS TRUE}",
        ]
        for p in yes { #expect(try FilterPattern(p).matches(msg), "\(p)") }
        let no = [
            "{ $.sessionCredentialFromConsole IS TRUE }", "{ $.readOnly IS FALSE }", "{ $.readOnly IS NULL }",
            "{ $.eventName NOT EXISTS }", "{ $.responseElements.code > 404 }", "{ $.responseElements.items = a }",
            "{ $.responseElements = x }", "{ $.responseElements.items[5].id = b }", "{ $.nothing != x }",
            "{ $.eventName = Delete }", "{ $.eventName = %^Put% }",
        ]
        for p in no { #expect(try !FilterPattern(p).matches(msg), "\(p)") }
        #expect(try !FilterPattern("{ $.eventName = X }").matches("not json at all"))
    }

    @Test func parseErrorsSayWhere() {
        let cases: [(String, Int)] = [
            ("{ $.eventName = }", 17), ("{ $.eventName == X }", 16), ("{ $.a = 1 && }", 14), ("{ eventName = X }", 3),
            ("{ $.a IS NOT NULL }", 10), ("{ ($.a = 1 }", 12), ("{ $.a = %a(b)% }", 11), ("{ $.a = 1", 10),
        ]
        for (p, column) in cases {
            do {
                _ = try FilterPattern(p)
                Issue.record("accepted \(p)")
            } catch {
                #expect(error.offset + 1 == column, "\(p): \(error)")
            }
        }
    }
}
