import CloudTrail
import Testing

@Suite struct ObjectKeyTests {
    @Test func plainLogFile() throws {
        let k = ObjectKeyParser.classify(
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/123456789012_CloudTrail_us-east-1_20240301T1005Z_AbCdEfGh12345678.json.gz")
        guard case .log(let key) = k else { Issue.record("not a log: \(k)"); return }
        #expect(key.account == "123456789012")
        #expect(key.region == "us-east-1")
        #expect(key.prefix == "")
        #expect(key.organizationID == nil)
        #expect(key.unique == "AbCdEfGh12345678")
        #expect(key.streamName == "123456789012_CloudTrail_us-east-1")
        #expect(Timestamp.formatISO8601(key.deliveryTime) == "2024-03-01T10:05:00Z")
    }

    @Test func prefixWithSlashesAndOrganizationTrail() {
        let k = ObjectKeyParser.classify(
            "team/a/AWSLogs/o-abc123def4/210987654321/CloudTrail/us-gov-west-1/2024/12/31/210987654321_CloudTrail_us-gov-west-1_20241231T2355Z_0123456789abcdef.json.gz")
        guard case .log(let key) = k else { Issue.record("not a log: \(k)"); return }
        #expect(key.prefix == "team/a")
        #expect(key.organizationID == "o-abc123def4")
        #expect(key.account == "210987654321")
        #expect(key.region == "us-gov-west-1")
    }

    @Test func toleratesTheDocumentedMissingUnderscore() {
        let k = ObjectKeyParser.classify(
            "AWSLogs/123456789012/CloudTrail/us-west-1/2014/06/20/123456789012_CloudTrail_us-west-1_20140620T1255ZHdkvFTXOA3Vnhbc.json.gz")
        guard case .log(let key) = k else { Issue.record("not a log: \(k)"); return }
        #expect(key.unique == "HdkvFTXOA3Vnhbc")
        #expect(key.region == "us-west-1")
    }

    @Test func digestsSidecarsAndInsightsAreSetAside() {
        let d = ObjectKeyParser.classify(
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/01/123456789012_CloudTrail-Digest_us-east-1_my_trail_us-east-1_20240301T110512Z.json.gz")
        guard case .digest(let key) = d else { Issue.record("not a digest: \(d)"); return }
        #expect(key.timestamp == "20240301T110512Z")
        #expect(!key.isBackfill)
        let b = ObjectKeyParser.classify(
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/01/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T110512Z_backfill.json.gz")
        guard case .digest(let bk) = b else { Issue.record("not a digest: \(b)"); return }
        #expect(bk.isBackfill)
        let s = ObjectKeyParser.classify(
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/01/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T110512Z.json.gz.metadata.json")
        guard case .digestSidecar = s else { Issue.record("not a sidecar: \(s)"); return }
        let i = ObjectKeyParser.classify(
            "AWSLogs/123456789015/CloudTrail-Insight/ca-central-1/2020/09/23/123456789015_CloudTrail-Insight_ca-central-1_20200923T0516Z_KL5e9VCV2SS7IqzB.json.gz")
        #expect(i == .insight(account: "123456789015", region: "ca-central-1"))
    }

    @Test func temporaryNamesOfMirroringTools() {
        for name in [
            ".123456789012_CloudTrail_us-east-1_20240301T1005Z_AbCdEfGh12345678.json.gz.x1Y2",
            "123456789012_CloudTrail_us-east-1_20240301T1005Z_AbCdEfGh12345678.json.gz.partial",
            "123456789012_CloudTrail_us-east-1_20240301T1005Z_AbCdEfGh12345678.json.gz.1a2B3c",
        ] {
            #expect(ObjectKeyParser.classify("AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/" + name) == .temporary, "\(name)")
        }
    }

    @Test func rejectsWhatIsNotALogFile() {
        let cases = [
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/notes.txt",
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01_$folder$",
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/123456789012_CloudTrail_eu-west-1_20240301T1005Z_AbCdEfGh12345678.json.gz",
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/999999999999_CloudTrail_us-east-1_20240301T1005Z_AbCdEfGh12345678.json.gz",
            "AWSLogs/12345/CloudTrail/us-east-1/2024/03/01/12345_CloudTrail_us-east-1_20240301T1005Z_AbCdEfGh12345678.json.gz",
            "logs/123456789012_CloudTrail_us-east-1_20240301T1005Z_AbCdEfGh12345678.json.gz",
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/123456789012_CloudTrail_us-east-1_20241301T1005Z_AbCdEfGh12345678.json.gz",
        ]
        for c in cases {
            guard case .other(let reason) = ObjectKeyParser.classify(c) else {
                Issue.record("accepted \(c)")
                continue
            }
            #expect(!reason.isEmpty)
        }
    }
}

@Suite struct TimestampTests {
    @Test func parsesCloudTrailEventTimes() {
        #expect(Timestamp.parseISO8601("2016-05-20T08:27:45Z") == 1_463_732_865_000)
        #expect(Timestamp.parseISO8601("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamp.parseISO8601("2024-02-29T23:59:59.250Z") == 1_709_251_199_250)
        #expect(Timestamp.parseISO8601("2024-02-29T23:59:59+00:00") == 1_709_251_199_000)
        #expect(Timestamp.parseISO8601("2024-02-30T00:00:00") == nil)
        #expect(Timestamp.parseISO8601("yesterday") == nil)
    }

    @Test func formatsRoundTrip() {
        for ms: Int64 in [0, 951_782_400_000, 1_709_251_199_000, 4_102_444_800_000, -86_400_000] {
            #expect(Timestamp.parseISO8601(Timestamp.formatISO8601(ms)) == ms)
        }
        #expect(Timestamp.formatCompact(1_709_287_500_000) == "20240301T1005Z")
    }
}
