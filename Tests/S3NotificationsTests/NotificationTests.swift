import Foundation
import S3Notifications
import Testing

/// An S3 event notification as S3 sends it (shape of AWS's "Event message structure", version 2.1).
func s3Event(_ records: [(name: String, bucket: String, key: String, size: Int, etag: String)]) -> String {
    let recs = records.map { r in
        """
        {"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-12-03T10:00:00.000Z",
         "eventName":"\(r.name)","userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},
         "requestParameters":{"sourceIPAddress":"10.0.0.1"},"responseElements":{"x-amz-request-id":"C3D13FE58DE4C810"},
         "s3":{"s3SchemaVersion":"1.0","configurationId":"trailwatch",
               "bucket":{"name":"\(r.bucket)","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::\(r.bucket)"},
               "object":{"key":"\(r.key)","size":\(r.size),"eTag":"\(r.etag)","sequencer":"0055AED6DCD90281E5"}}}
        """
    }
    return "{\"Records\":[" + recs.joined(separator: ",") + "]}"
}

/// `s` as a JSON string literal.
func quoted(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(c)
        }
    }
    return out + "\""
}

let logKey = "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/12/03/111122223333_CloudTrail_us-east-1_20261203T1000Z_abcdefgh12345678.json.gz"

@Suite struct NotificationTests {
    @Test func directEventGivesDecodedKeySizeAndETag() throws {
        let body = s3Event([("ObjectCreated:Put", "trail-bucket", "my+prefix/%C3%A9t%C3%A9/" + logKey, 1234, "0123abcd")])
        let n = try S3Notifications.parse(body)
        #expect(n == .objects([S3ObjectRef(bucket: "trail-bucket", key: "my prefix/été/" + logKey, size: 1234, etag: "0123abcd")], envelope: .direct))
    }

    @Test func severalRecordsKeepOnlyCreations() throws {
        let body = s3Event([
            ("ObjectRemoved:Delete", "trail-bucket", "gone.json.gz", 0, ""),
            ("ObjectCreated:CompleteMultipartUpload", "trail-bucket", logKey, 9, "e-2"),
        ])
        let n = try S3Notifications.parse(body)
        #expect(n == .objects([S3ObjectRef(bucket: "trail-bucket", key: logKey, size: 9, etag: "e-2")], envelope: .direct))
        let removed = try S3Notifications.parse(s3Event([("ObjectRemoved:Delete", "trail-bucket", logKey, 0, "")]))
        #expect(removed == .ignore(reason: "S3 event ObjectRemoved:Delete"))
    }

    @Test func testEventIsIgnored() throws {
        let body = #"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-03T10:00:00.000Z","Bucket":"trail-bucket","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#
        #expect(try S3Notifications.parse(body) == .ignore(reason: "S3 s3:TestEvent"))
    }

    @Test func snsEnvelopeCarriesTheEventAsAString() throws {
        let inner = s3Event([("ObjectCreated:Put", "trail-bucket", "a%2Bb/" + logKey, 77, "ff")])
        let body = """
            {"Type":"Notification","MessageId":"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324","TopicArn":"arn:aws:sns:us-east-1:123456789012:trail",
             "Subject":"Amazon S3 Notification","Message":\(quoted(inner)),"Timestamp":"2026-12-03T10:00:00.000Z","SignatureVersion":"1"}
            """
        #expect(try S3Notifications.parse(body) == .objects([S3ObjectRef(bucket: "trail-bucket", key: "a+b/" + logKey, size: 77, etag: "ff")], envelope: .sns))
        let confirm = #"{"Type":"SubscriptionConfirmation","Message":"You have chosen to subscribe"}"#
        #expect(try S3Notifications.parse(confirm) == .ignore(reason: "SNS SubscriptionConfirmation"))
        let nested = #"{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}"#
        #expect(throws: NotificationError.self) { try S3Notifications.parse(nested) }
        let badInner = #"{"Type":"Notification","Message":"not json"}"#
        let e = try #require(throws: NotificationError.self) { try S3Notifications.parse(badInner) }
        #expect(e.code == .notJSON && e.message.hasPrefix("in the SNS Message"))
    }

    @Test func eventBridgeKeyIsNotEncoded() throws {
        let body = """
            {"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created","source":"aws.s3",
             "account":"111122223333","time":"2026-12-03T10:00:00Z","region":"us-east-1","resources":["arn:aws:s3:::trail-bucket"],
             "detail":{"version":"0","bucket":{"name":"trail-bucket"},"object":{"key":"p+q/\(logKey)","size":5,"etag":"b1946ac92492d2347c6235b4d2611184","sequencer":"00617F08299329D189"},
                       "request-id":"N4N7GDK58NMKJ12R","requester":"123456789012","reason":"PutObject"}}
            """
        #expect(try S3Notifications.parse(body) == .objects([S3ObjectRef(bucket: "trail-bucket", key: "p+q/" + logKey, size: 5, etag: "b1946ac92492d2347c6235b4d2611184")], envelope: .eventBridge))
        let deleted = body.replacingFirst("Object Created", with: "Object Deleted")
        #expect(try S3Notifications.parse(deleted) == .ignore(reason: "EventBridge Object Deleted"))
    }

    @Test func malformedBodiesNameTheirFault() {
        let cases: [(String, NotificationError.Code)] = [
            ("", .notJSON),
            ("{\"Records\":[", .notJSON),
            ("[1,2]", .malformed),
            ("{\"Records\":{}}", .malformed),
            ("{\"Records\":[7]}", .malformed),
            ("{\"hello\":1}", .malformed),
            (s3Event([("ObjectCreated:Put", "trail-bucket", "bad%zzkey", 1, "x")]), .badKey),
            (s3Event([("ObjectCreated:Put", "trail-bucket", "a/../../etc/passwd", 1, "x")]), .badKey),
            (s3Event([("ObjectCreated:Put", "trail-bucket", "/abs", 1, "x")]), .badKey),
            (s3Event([("ObjectCreated:Put", "trail-bucket", "a%00b", 1, "x")]), .badKey),
            (s3Event([("ObjectCreated:Put", "trail-bucket", "%FF", 1, "x")]), .badKey),
            (s3Event([("ObjectCreated:Put", "Bad_Bucket", "k", 1, "x")]), .badKey),
            (s3Event([("ObjectCreated:Put", "trail-bucket", "k", -1, "x")]), .malformed),
            ("{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{}}]}", .malformed),
            (String(repeating: "[", count: 17) + String(repeating: "]", count: 17), .tooLarge),
            ("{\"Records\":[" + Array(repeating: "{}", count: 1001).joined(separator: ",") + "]}", .tooLarge),
            ("\"" + String(repeating: "x", count: S3Notifications.maxBodyBytes) + "\"", .tooLarge),
        ]
        for (body, code) in cases {
            let e = #expect(throws: NotificationError.self) { try S3Notifications.parse(body) }
            #expect(e?.code == code, "\(body.prefix(80))")
            #expect(e.map { !$0.message.isEmpty } == true)
        }
    }

    @Test func etagQuotesAreDropped() {
        #expect(S3Notifications.normalizeETag("\"abc-2\"") == "abc-2")
        #expect(S3Notifications.normalizeETag("abc") == "abc")
        #expect(S3Notifications.normalizeETag("W/\"x\"") == "x")
    }
}

@Suite struct ShardTests {
    @Test func fnv1a64MatchesTheReferenceVectors() {
        // From the FNV reference (Fowler/Noll/Vo test suite): "" and "a", "foobar".
        #expect(Shard.fnv1a64("") == 0xcbf2_9ce4_8422_2325)
        #expect(Shard.fnv1a64("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(Shard.fnv1a64("foobar") == 0x8594_4171_f739_67e8)
    }

    @Test func everyAccountHasExactlyOneShard() {
        for n in 1...5 {
            let shards = (1...n).map { Shard(index: $0, count: n) }
            var owners = [Int](repeating: 0, count: n)
            for a in 0..<500 {
                let account = String(100_000_000_000 + a * 7_919)
                let mine = shards.filter { $0.owns(account: account) }
                #expect(mine.count == 1, "\(account) in \(n)")
                if let m = mine.first { owners[m.index - 1] += 1 }
            }
            // Spread: no shard is empty over 500 accounts.
            #expect(owners.allSatisfy { $0 > 500 / n / 2 }, "\(owners)")
        }
    }

    @Test func parseChecksTheRange() throws {
        #expect(try Shard.parse("2/3") == Shard(index: 2, count: 3))
        #expect(try Shard.parse("1/1") == Shard.all)
        for bad in ["0/2", "3/2", "1/0", "1", "a/b", "1/2/3", "", "-1/2", "1/5000"] {
            #expect(throws: NotificationError.self, "\(bad)") { try Shard.parse(bad) }
        }
    }
}

extension String {
    func replacingFirst(_ a: String, with b: String) -> String {
        guard let r = range(of: a) else { return self }
        return replacingCharacters(in: r, with: b)
    }
}

@Suite struct S3LocationTests {
    @Test func parsesBucketAndPrefix() throws {
        #expect(try S3Location.parse("s3://trail-bucket") == S3Location(bucket: "trail-bucket"))
        #expect(try S3Location.parse("s3://trail-bucket/") == S3Location(bucket: "trail-bucket"))
        let l = try S3Location.parse("s3://trail-bucket/a/b/")
        #expect(l == S3Location(bucket: "trail-bucket", prefix: "a/b"))
        #expect(l.awsLogs == "a/b/AWSLogs/" && l.contains(key: "a/b/AWSLogs/1") && !l.contains(key: "a/AWSLogs/1"))
        #expect(l.description == "s3://trail-bucket/a/b")
        for bad in ["/local/path", "s3://", "s3://UP", "s3://b/../x", "s3://ab/x//y"] {
            #expect(throws: NotificationError.self, "\(bad)") { try S3Location.parse(bad) }
        }
    }
}
