import CloudTrail
import Posix

/// Builds realistic CloudTrail records as compact JSON text.
enum Records {
    struct Action {
        var source: String
        var name: String
        var readOnly: Bool
        var params: String
    }

    static let actions: [Action] = [
        Action(source: "ec2.amazonaws.com", name: "DescribeInstances", readOnly: true, params: #"{"filterSet":{},"instancesSet":{}}"#),
        Action(source: "s3.amazonaws.com", name: "GetObject", readOnly: true, params: #"{"bucketName":"app-data","key":"reports/2024/summary.csv"}"#),
        Action(source: "sts.amazonaws.com", name: "AssumeRole", readOnly: false, params: #"{"roleArn":"arn:aws:iam::ACCT:role/deploy","roleSessionName":"ci"}"#),
        Action(source: "kms.amazonaws.com", name: "Decrypt", readOnly: true, params: #"{"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#),
        Action(source: "iam.amazonaws.com", name: "ListRoles", readOnly: true, params: "null"),
        Action(source: "lambda.amazonaws.com", name: "Invoke", readOnly: false, params: #"{"functionName":"ingest-worker"}"#),
        Action(source: "logs.amazonaws.com", name: "PutLogEvents", readOnly: false, params: #"{"logGroupName":"/app/web"}"#),
        Action(source: "dynamodb.amazonaws.com", name: "Query", readOnly: true, params: #"{"tableName":"sessions"}"#),
        Action(source: "ec2.amazonaws.com", name: "AuthorizeSecurityGroupIngress", readOnly: false, params: #"{"groupId":"sg-0a1b2c3d"}"#),
        Action(source: "signin.amazonaws.com", name: "ConsoleLogin", readOnly: false, params: "null"),
        Action(source: "cloudtrail.amazonaws.com", name: "LookupEvents", readOnly: true, params: #"{"maxResults":50}"#),
        Action(source: "ssm.amazonaws.com", name: "GetParameter", readOnly: true, params: #"{"name":"/app/db/url","withDecryption":true}"#),
    ]
    static let users = ["alice", "bob", "carol", "deploy-bot", "ops-dave"]
    static let agents = [
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22",
        "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1",
        "Boto3/1.34.64 md/Botocore#1.34.64 ua/2.0 os/linux#6.1.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
    ]

    static func uuid(_ rng: inout SplitMix) -> String {
        let hex = Array("0123456789abcdef")
        var s = ""
        for i in 0..<32 {
            if i == 8 || i == 12 || i == 16 || i == 20 { s.append("-") }
            s.append(hex[Int(rng.next() % 16)])
        }
        return s
    }

    /// Relative frequencies: reads dominate real trails; changes and sign-ins are rare.
    static let weights: [UInt64] = [300, 400, 120, 250, 40, 150, 200, 150, 1, 2, 20, 120]
    static let totalWeight = weights.reduce(0, +)

    static func pick(_ rng: inout SplitMix) -> Action {
        var r = rng.next() % totalWeight
        for (i, w) in weights.enumerated() {
            if r < w { return actions[i] }
            r -= w
        }
        return actions[0]
    }

    static func make(account: String, region: String, time: Int64, rng: inout SplitMix) -> String {
        let a = pick(&rng)
        let user = users[Int(rng.next() % UInt64(users.count))]
        let eventID = uuid(&rng)
        let requestID = uuid(&rng)
        let ip = "198.51.100.\(rng.next() % 254 + 1)"
        let agent = agents[Int(rng.next() % UInt64(agents.count))]
        let eventTime = Timestamp.formatISO8601(time)
        let isLogin = a.name == "ConsoleLogin"
        let identity: String
        if rng.next() % 3 == 0 {
            identity = #"{"type":"AssumedRole","principalId":"AROAEXAMPLE\#(user.uppercased()):\#(user)","arn":"arn:aws:sts::\#(account):assumed-role/Ops/\#(user)","accountId":"\#(account)","accessKeyId":"ASIAEXAMPLE\#(rng.next() % 100000)","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEOPS","arn":"arn:aws:iam::\#(account):role/Ops","accountId":"\#(account)","userName":"Ops"},"webIdFederationData":{},"attributes":{"creationDate":"\#(eventTime)","mfaAuthenticated":"true"}}}"#
        } else {
            identity = #"{"type":"IAMUser","principalId":"AIDAEXAMPLE\#(user.uppercased())","arn":"arn:aws:iam::\#(account):user/\#(user)","accountId":"\#(account)","accessKeyId":"AKIAEXAMPLE\#(rng.next() % 100000)","userName":"\#(user)"}"#
        }
        let params = a.params.replacingAll("ACCT", with: account)
        var r = #"{"eventVersion":"1.10","userIdentity":\#(identity),"eventTime":"\#(eventTime)","eventSource":"\#(a.source)","eventName":"\#(a.name)","awsRegion":"\#(region)","sourceIPAddress":"\#(ip)","userAgent":"\#(agent)","#
        if isLogin {
            r += #""requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"Yes"},"#
        } else {
            r += #""requestParameters":\#(params),"responseElements":null,"requestID":"\#(requestID)","#
        }
        r += #""eventID":"\#(eventID)","readOnly":\#(a.readOnly),"eventType":"\#(isLogin ? "AwsConsoleSignIn" : "AwsApiCall")","managementEvent":true,"recipientAccountId":"\#(account)","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"\#(a.source.replacingAll(".amazonaws.com", with: "")).\#(region).amazonaws.com"}}"#
        return r
    }
}

