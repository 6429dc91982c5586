import AWSFormats
import Testing

@Suite struct SharedConfigTests {
    @Test func profilesAsTheCLIReadsThem() throws {
        let text = """
            # comment
            [default]
            region = eu-west-1
            output=json

            [profile prod]
            region = us-west-2 ; trailing comment
            aws_access_key_id = AKIDPROD
            s3 =
              max_concurrent_requests = 20
            endpoint_url = http://127.0.0.1:9000#keep
            [profile  spaced ]\r
            region = ap-south-1\r
            """
        let config = try AWSSharedConfigFile.parse(text, path: "/c", kind: .config)
        #expect(config.profile("default") == ["region": "eu-west-1", "output": "json"])
        #expect(config.profile("prod")?["region"] == "us-west-2")
        #expect(config.profile("prod")?["aws_access_key_id"] == "AKIDPROD")
        #expect(config.profile("prod")?["s3"] == "")
        #expect(config.profile("prod")?["max_concurrent_requests"] == nil)
        #expect(config.profile("prod")?["endpoint_url"] == "http://127.0.0.1:9000#keep")
        #expect(config.profile("spaced")?["region"] == "ap-south-1")
        #expect(config.profile("missing") == nil)

        let creds = try AWSSharedConfigFile.parse("[prod]\nAWS_Access_Key_Id = A\n[profile x]\nk=v\n", path: "/k", kind: .credentials)
        #expect(creds.profile("prod") == ["aws_access_key_id": "A"])
        #expect(creds.profile("profile x") == ["k": "v"])
        #expect(creds.profile("x") == nil)
    }

    @Test(arguments: [
        ("key = v\n", 1, "key outside a section"),
        ("[a]\njunk\n", 2, "expected key = value"),
        ("[a\n", 1, "section header without a closing ]"),
        ("[]\n", 1, "empty section name"),
        ("[a]\n= v\n", 2, "empty key"),
        ("  indented = x\n", 1, "indented line outside a section"),
    ])
    func malformedNamesTheLine(text: String, line: Int, reason: String) {
        #expect {
            _ = try AWSSharedConfigFile.parse(text, path: "/etc/aws/config", kind: .config)
        } throws: { e in
            let e = e as! AWSFormatError
            return e.code == .malformed && e.line == line && e.reason == reason && e.description.hasPrefix("/etc/aws/config:\(line): ")
        }
    }

    @Test func limits() {
        let big = "[a]\n" + String(repeating: "k = v\n", count: AWSSharedConfigFile.maxBytes / 6 + 1)
        #expect(big.utf8.count > AWSSharedConfigFile.maxBytes)
        #expect(throws: AWSFormatError.self) { _ = try AWSSharedConfigFile.parse(big, path: "/c", kind: .config) }
        let sections = (0...AWSSharedConfigFile.maxSections).map { "[s\($0)]\n" }.joined()
        #expect { _ = try AWSSharedConfigFile.parse(sections, path: "/c", kind: .config) } throws: {
            ($0 as! AWSFormatError).code == .tooLarge
        }
        let keys = "[a]\n" + (0...AWSSharedConfigFile.maxKeysPerSection).map { "k\($0) = v\n" }.joined()
        #expect { _ = try AWSSharedConfigFile.parse(keys, path: "/c", kind: .config) } throws: {
            ($0 as! AWSFormatError).code == .tooLarge
        }
        // At the limits exactly: accepted.
        let atLimit = "[a]\n" + (0..<AWSSharedConfigFile.maxKeysPerSection).map { "k\($0) = v\n" }.joined()
        #expect((try? AWSSharedConfigFile.parse(atLimit, path: "/c", kind: .config))?.sections["a"]?.count == AWSSharedConfigFile.maxKeysPerSection)
    }
}
