import AWSFormats
import Testing

@Suite struct XMLTests {
    func parse(_ s: String) throws -> XMLElement { try XMLElement.parse(Array(s.utf8), source: "test") }

    @Test func elementsTextEntitiesCDATA() throws {
        let root = try parse(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment -->
            <s3:Root xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/" a='1'>
              <Key>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#233;&#x1F600;</Key>
              <Empty/>
              <Data><![CDATA[<not> & markup]]></Data>
              <Nested><Key>inner</Key></Nested>
              <Key>second</Key>
            </s3:Root>
            """)
        #expect(root.name == "Root")
        #expect(root.child("Key")?.text == "a <b> & \"c\" 'd' é😀")
        #expect(root.all("Key").map(\.text) == ["a <b> & \"c\" 'd' é😀", "second"])
        #expect(root.child("Empty")?.text == "")
        #expect(root.child("Data")?.text == "<not> & markup")
        #expect(root.child("Nested")?.child("Key")?.text == "inner")
        #expect(root.descendant("Key")?.text == root.child("Key")?.text)
    }

    @Test(arguments: [
        "", "text", "<a>", "<a></b>", "<a></a><b></b>", "<a>&unknown;</a>", "<a>&#0;</a>", "<a>&amp</a>", "</a>",
        "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<a b=c></a>", "<a><![CDATA[x</a>", "<a><!-- x</a>", "<a b=\"<\"></a>",
        "<a>x</a>trailing", "<>", "<a><!ENTITY x></a>",
    ])
    func malformedIsAClearError(_ s: String) {
        #expect {
            _ = try parse(s)
        } throws: { e in
            let e = e as! AWSFormatError
            return e.code == .malformed && e.source == "test" && e.description.contains("XML")
        }
    }

    @Test func limitsOnDepthCountAndSize() throws {
        let deep = String(repeating: "<a>", count: XMLElement.maxDepth + 1) + String(repeating: "</a>", count: XMLElement.maxDepth + 1)
        #expect { _ = try parse(deep) } throws: { ($0 as! AWSFormatError).code == .tooLarge }
        let ok = String(repeating: "<a>", count: XMLElement.maxDepth) + String(repeating: "</a>", count: XMLElement.maxDepth)
        #expect(try parse(ok).name == "a")
        let many = "<r>" + String(repeating: "<x/>", count: XMLElement.maxElements) + "</r>"
        #expect { _ = try parse(many) } throws: { ($0 as! AWSFormatError).code == .tooLarge }
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: XMLElement.maxBytes + 1)
        #expect { _ = try XMLElement.parse(huge, source: "test") } throws: { ($0 as! AWSFormatError).code == .tooLarge }
    }
}

@Suite struct S3FormatTests {
    /// A ListObjectsV2 page as S3 sends it with encoding-type=url (shape from the S3 API reference).
    let page = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
          <Name>trail</Name><Prefix>AWSLogs/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType>
          <IsTruncated>true</IsTruncated>
          <Contents><Key>AWSLogs/a%20b%2Bc%3D%C3%A9.json.gz</Key><LastModified>2026-12-03T09:42:56.000Z</LastModified>
            <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size><StorageClass>STANDARD</StorageClass></Contents>
          <Contents><Key>AWSLogs/plain</Key><LastModified>2026-12-03T09:42:57Z</LastModified><ETag>"x-2"</ETag><Size>0</Size></Contents>
          <CommonPrefixes><Prefix>AWSLogs/1%2F</Prefix></CommonPrefixes>
          <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
        </ListBucketResult>
        """

    @Test func listPage() throws {
        let r = try S3ListResult.parse(Array(page.utf8), urlEncoded: true)
        #expect(
            r.objects == [
                S3Object(key: "AWSLogs/a b+c=é.json.gz", size: 1234, etag: "9b2cf535f27731c974343645a3985328", lastModifiedMs: 1_796_290_976_000),
                S3Object(key: "AWSLogs/plain", size: 0, etag: "x-2", lastModifiedMs: 1_796_290_977_000),
            ])
        #expect(r.commonPrefixes == ["AWSLogs/1/"])
        #expect(r.isTruncated)
        #expect(r.nextContinuationToken == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
    }

    @Test(arguments: [
        ("<Error/>", "root element <Error>"),
        ("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", "without <Key>"),
        ("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>", "valid <Size>"),
        ("<ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>yesterday</LastModified></Contents></ListBucketResult>", "valid <LastModified>"),
        ("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "without a NextContinuationToken"),
    ])
    func badPages(_ body: String, _ reason: String) {
        #expect {
            _ = try S3ListResult.parse(Array(body.utf8), urlEncoded: false)
        } throws: { e in
            let e = e as! AWSFormatError
            return e.source == "ListObjectsV2 response" && e.reason.contains(reason)
        }
    }

    @Test func tooManyEntries() {
        let one = "<Contents><Key>k</Key><Size>1</Size><LastModified>2026-12-03T09:42:56Z</LastModified></Contents>"
        let body = "<ListBucketResult>" + String(repeating: one, count: S3ListResult.maxEntries + 1) + "</ListBucketResult>"
        #expect { _ = try S3ListResult.parse(Array(body.utf8), urlEncoded: false) } throws: { ($0 as! AWSFormatError).code == .tooLarge }
    }

    @Test func errorBodies() {
        let s3 = #"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>1</RequestId></Error>"#
        #expect(AWSXMLErrorBody.parse(Array(s3.utf8)) == AWSXMLErrorBody(code: "SlowDown", message: "Please reduce your request rate."))
        let query = "<ErrorResponse><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>gone</Message></Error></ErrorResponse>"
        #expect(AWSXMLErrorBody.parse(Array(query.utf8)) == AWSXMLErrorBody(code: "AWS.SimpleQueueService.NonExistentQueue", message: "gone"))
        #expect(AWSXMLErrorBody.parse(Array("<Error><Message>m</Message></Error>".utf8)) == nil)
        #expect(AWSXMLErrorBody.parse(Array("not xml".utf8)) == nil)
    }
}

@Suite struct JSONFormatTests {
    @Test func errorType() {
        #expect(
            AWSJSONErrorBody.parse(Array(#"{"__type":"com.amazonaws.logs#ResourceNotFoundException","message":"The specified log group does not exist."}"#.utf8))
                == AWSJSONErrorBody(type: "ResourceNotFoundException", message: "The specified log group does not exist."))
        #expect(AWSJSONErrorBody.parse(Array(#"{"__type":"ThrottlingException","Message":"Rate exceeded"}"#.utf8))?.message == "Rate exceeded")
        #expect(AWSJSONErrorBody.shortType("ResourceNotFoundException:http://internal.amazon.com/coral/com.amazon.coral.service/") == "ResourceNotFoundException")
        #expect(AWSJSONErrorBody.parse(Array(#"{"message":"no type"}"#.utf8)) == nil)
        #expect(AWSJSONErrorBody.parse(Array("<xml/>".utf8)) == nil)
    }

    @Test func imdsCredentials() throws {
        let body = #"{"Code":"Success","LastUpdated":"2026-12-03T09:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIA1","SecretAccessKey":"s","Token":"t","Expiration":"2026-12-03T15:00:00Z"}"#
        #expect(
            try IMDSCredentials.parse(Array(body.utf8), source: "imds")
                == IMDSCredentials(accessKeyId: "ASIA1", secretAccessKey: "s", token: "t", expirationMs: 1_796_310_000_000))
        for bad in [
            #"{"Code":"Failure","AccessKeyId":"a","SecretAccessKey":"s","Token":"t","Expiration":"2026-12-03T15:00:00Z"}"#,
            #"{"AccessKeyId":"a","SecretAccessKey":"s","Expiration":"2026-12-03T15:00:00Z"}"#,
            #"{"AccessKeyId":"a","SecretAccessKey":"s","Token":"t","Expiration":"soon"}"#, "[]", "",
        ] {
            #expect { _ = try IMDSCredentials.parse(Array(bad.utf8), source: "imds") } throws: {
                ($0 as! AWSFormatError).code == .malformed && ($0 as! AWSFormatError).source == "imds"
            }
        }
        #expect { _ = try IMDSCredentials.parse([UInt8](repeating: 32, count: IMDSCredentials.maxBytes + 1), source: "imds") } throws: {
            ($0 as! AWSFormatError).code == .tooLarge
        }
    }
}
