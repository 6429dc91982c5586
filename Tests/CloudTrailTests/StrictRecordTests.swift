import CloudTrail
import Testing

/// `RecordSplitter.strictRecord` (the one-pass strict scan) on single records against an independent
/// verdict: the lenient split of the same bytes (the `ReferenceSplitter`) for the record's end and
/// fields, and `JSONCheck` for whether it is JSON. Over records as CloudTrail writes them and generated
/// ones, mutated a byte or a snippet at a time (escapes, non-ASCII and broken UTF-8, control bytes,
/// white space, brackets), truncated anywhere and nested around the 64-level limit; each in a buffer
/// that ends with the record (the scan's last-bytes path) and in one that goes on.
@Suite struct StrictRecordTests {
    typealias Rng = StrictPassDifferentialTests.Rng

    /// Records of `trailwatch simulate` (seed 7), as written.
    static let cloudTrailRecords = [
        #"{"eventVersion":"1.10","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEOPS-DAVE","arn":"arn:aws:iam::346834071681:user/ops-dave","accountId":"346834071681","accessKeyId":"AKIAEXAMPLE88238","userName":"ops-dave"},"eventTime":"2024-03-01T00:40:57Z","eventSource":"ssm.amazonaws.com","eventName":"GetParameter","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.148","userAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0","requestParameters":{"name":"/app/db/url","withDecryption":true},"responseElements":null,"requestID":"34fd0e83-f2b2-fe45-b6cc-5569d42519d6","eventID":"7d071fcb-0dd5-1e61-013a-ab822e0e6e60","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"346834071681","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"ssm.eu-west-1.amazonaws.com"}}"#,
        #"{"eventVersion":"1.10","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEALICE:alice","arn":"arn:aws:sts::346834071681:assumed-role/Ops/alice","accountId":"346834071681","accessKeyId":"ASIAEXAMPLE88340","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEOPS","arn":"arn:aws:iam::346834071681:role/Ops","accountId":"346834071681","userName":"Ops"},"webIdFederationData":{},"attributes":{"creationDate":"2024-03-01T00:42:01Z","mfaAuthenticated":"true"}}},"eventTime":"2024-03-01T00:42:01Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.142","userAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0","requestParameters":{"encryptionAlgorithm":"SYMMETRIC_DEFAULT"},"responseElements":null,"requestID":"34887f13-8b14-b92e-4e4d-598a3578abef","eventID":"7fef4003-de7b-fa21-6223-1c4eb2eb603f","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"346834071681","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"kms.eu-west-1.amazonaws.com"}}"#,
        #"{"eventVersion":"1.10","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEALICE","arn":"arn:aws:iam::346834071681:user/alice","accountId":"346834071681","accessKeyId":"AKIAEXAMPLE20162","userName":"alice"},"eventTime":"2024-03-01T00:41:10Z","eventSource":"logs.amazonaws.com","eventName":"PutLogEvents","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.209","userAgent":"aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1","requestParameters":{"logGroupName":"/app/web"},"responseElements":null,"requestID":"8c1e9288-16b2-4414-56c7-d12775f67fbb","eventID":"5bdbdee9-d3e6-455a-449b-90772d8e2723","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"346834071681","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"logs.eu-west-1.amazonaws.com"}}"#,
    ].map { Array($0.utf8) }

    /// Bytes put in place of one byte.
    static let hostileBytes: [UInt8] = [
        0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A, 0x00, 0x01, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xF5, 0xFF,
        0x20, 0x09, 0x0A, 0x0D, 0x75, 0x30, 0x31, 0x2D, 0x2B, 0x2E, 0x65, 0x45, 0x74, 0x66, 0x6E, 0x2F, 0x62, 0x41,
    ]
    /// Snippets put between two bytes.
    static let snippets: [[UInt8]] = [
        #"\""#, #"\\"#, #"\/"#, #"\b\f\n\r\t"#, #"\u00e9"#, #"\uD83D\uDE00"#, #"\u00"#, #"\u00g0"#, #"\uABCDEF"#, #"\x"#, #"\"#, #"\'"#,
        "é", "✓", "𝄞", " ", "\n", "\r\n\t ", "1e5", "-0.5", "0", "01", "-", "1.", "1e", "true", "nul", "[]", "{}", "[", "]", "{", "}", ",", ":",
        #""k":1,"#, #","eventTime":"t""#, #"eventID"#,
    ].map { Array($0.utf8) } + [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0x01], [0x7F], [0xC2, 0x80]]

    /// What the lenient split and `JSONCheck` say of the record at the start of `buffer`: its end
    /// and fields when it is JSON within 64 levels, else nil (the strict scan's -1).
    static func expected(_ buffer: [UInt8]) -> (end: Int, fields: RecordSplitter.RecordFields)? {
        var s = ReferenceSplitter()
        var first: ([UInt8], RecordSplitter.RecordFields)?
        let doc = Array(#"{"Records":["#.utf8) + buffer
        _ = try? doc.withUnsafeBytes { d in
            try s.feed(d) { _, bytes, fields in
                if first == nil { first = (Array(bytes), fields) }
            }
        }
        guard let (record, fields) = first, fields.invalid == nil, depth(record) <= 64 else { return nil }
        let check = JSONCheck.check(record)
        #expect(check.problem == nil && check.nonUTF8 == fields.nonUTF8)
        return (record.count, fields)
    }

    /// The deepest nesting of valid JSON.
    static func depth(_ json: [UInt8]) -> Int {
        var (d, most, inString, escape) = (0, 0, false, false)
        for b in json {
            if inString {
                if escape { escape = false } else if b == 0x5C { escape = true } else if b == 0x22 { inString = false }
            } else if b == 0x22 {
                inString = true
            } else if b == 0x7B || b == 0x5B {
                d += 1
                most = max(most, d)
            } else if b == 0x7D || b == 0x5D {
                d -= 1
            }
        }
        return most
    }

    /// Tallies of what the cases covered, for the tests to assert their scenario.
    struct Tally {
        var accepted = 0
        var rejected = 0
        var nonUTF8 = 0
        var escaped = 0
    }

    /// Compares the strict scan with the expectation on `record` alone and followed by more records.
    static func compare(_ record: [UInt8], _ label: String, _ tally: inout Tally) {
        let tail = Array(#",{"eventID":"x"}]}"#.utf8)
        for buffer in [record, record + tail] {
            var fields = RecordSplitter.RecordFields()
            fields.members = [TopMember(key: 0..<1, value: 0..<1, kind: .bare, escapedKey: true, escapedValue: true)]
            fields.eventTime = 5..<6
            fields.escaped = true
            let end = buffer.withUnsafeBytes { RecordSplitter.strictRecord($0, from: 0, to: $0.count, fields: &fields) }
            let want = expected(buffer)
            #expect(end == (want?.end ?? -1), "\(label): end \(end), expected \(want?.end ?? -1) in \(String(decoding: buffer, as: UTF8.self))")
            if let want, end == want.end {
                #expect(fields == want.fields, "\(label): \(fields) vs \(want.fields)")
                tally.accepted += 1
                if fields.nonUTF8 { tally.nonUTF8 += 1 }
                if fields.escaped || fields.members.contains(where: { $0.escapedKey || $0.escapedValue }) { tally.escaped += 1 }
            } else {
                tally.rejected += 1
            }
        }
    }

    static func mutate(_ record: [UInt8], _ r: inout Rng) -> [UInt8] {
        var d = record
        for _ in 0..<(1 + r.below(2)) where d.count > 1 {
            let at = 1 + r.below(d.count - 1)  // the scan starts at a '{'
            switch r.below(3) {
            case 0: d[at] = r.pick(hostileBytes)
            case 1: d.insert(contentsOf: r.pick(snippets), at: at)
            default: d.remove(at: at)
            }
        }
        return d
    }

    @Test func cloudTrailRecordsAndTheirMutations() {
        var r = Rng(state: 11)
        var t = Tally()
        for (k, record) in Self.cloudTrailRecords.enumerated() {
            Self.compare(record, "record \(k)", &t)
            for n in 0..<1500 { Self.compare(Self.mutate(record, &r), "record \(k) mutation \(n)", &t) }
        }
        // The scenario: valid records as written, mutations both kept valid and broken, escapes and non-UTF-8 among the valid.
        #expect(t.accepted > 1000 && t.rejected > 3000 && t.nonUTF8 > 50 && t.escaped > 200, "\(t)")
    }

    @Test func generatedRecordsAndTheirMutations() {
        var r = Rng(state: 12)
        var t = Tally()
        for n in 0..<3000 {
            let record = StrictPassDifferentialTests.object(&r, depth: 1)
            Self.compare(record, "generated \(n)", &t)
            Self.compare(Self.mutate(record, &r), "generated \(n), mutated", &t)
        }
        #expect(t.accepted > 3000 && t.rejected > 1000 && t.nonUTF8 > 300 && t.escaped > 1000, "\(t)")
    }

    /// Every prefix of a record (each string, number and literal cut at each byte) and the whole
    /// record with each byte's last bit flipped.
    @Test func truncatedAndFlipped() {
        var t = Tally()
        let record = Self.cloudTrailRecords[1]
        for n in 1...record.count { Self.compare(Array(record.prefix(n)), "prefix \(n)", &t) }
        for at in 1..<record.count {
            var d = record
            d[at] ^= 1
            Self.compare(d, "flip at \(at)", &t)
        }
        #expect(t.accepted > 300 && t.rejected > record.count * 2, "\(t)")
    }

    /// Arrays and objects nested around the 64 levels the scan keeps in a word (the record is one).
    @Test func nestingAroundTheLimit() {
        var t = Tally()
        let record = String(decoding: Self.cloudTrailRecords[0], as: UTF8.self)
        for levels in 60...66 {
            let arrays = String(repeating: "[", count: levels) + "null" + String(repeating: "]", count: levels)
            let objects = String(repeating: #"{"a":"#, count: levels) + #""v""# + String(repeating: "}", count: levels)
            let mixed = (0..<levels).map { $0 % 2 == 0 ? "[" : #"{"k":"# }.joined() + "1" + (0..<levels).reversed().map { $0 % 2 == 0 ? "]" : "}" }.joined()
            for nested in [arrays, objects, mixed] {
                let deep = record.replacing(#""responseElements":null"#, with: #""responseElements":"# + nested)
                Self.compare(Array(deep.utf8), "\(levels) levels", &t)
            }
        }
        // Up to 63 levels inside the record (64 in all) it is accepted; deeper, left to the lenient split.
        #expect(t.accepted == 4 * 3 * 2 && t.rejected == 3 * 3 * 2, "\(t)")
    }
}
