import Integrity
import Logging
import Rules
import Testing

@testable import Ingest

/// The daemon's alerts are built from findings; their IDs must stay those earlier versions derived
/// from the printed line (URI and status), or a restarted daemon would alert again on old findings.
@Suite struct IntegrityMonitorAlertTests {
    let monitor = IntegrityMonitor(keys: PublicKeyRing(), slackMs: 0, logger: Logger(label: "test"))
    let group = IntegrityMonitor.Group(root: "/m", bucket: "b", account: "123456789012", region: "us-east-1")
    let digest = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/01/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T010000Z.json.gz"
    let log = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/123456789012_CloudTrail_us-east-1_20240301T0005Z_ABCDEFGHIJKLMNOP.json.gz"

    func finding(_ kind: IntegrityFinding.Kind, key: String, listedBy: String? = nil) -> IntegrityFinding {
        IntegrityFinding(kind, bucket: "b", key: key, account: "123456789012", region: "us-east-1", listedBy: listedBy)
    }

    @Test func aLogFileAlertNamesTheFileAndItsDigest() {
        let a = monitor.alert(finding(.logModified, key: log, listedBy: digest), group)
        #expect(a.rule == "integrity-log-file-modified" && a.severity == "critical")
        #expect(a.message == "CloudTrail log file hash value doesn't match: s3://b/\(log)")
        #expect(a.logFile == "s3://b/\(log)" && a.extra["DIGEST"] == "s3://b/\(digest)")
        #expect(a.alertID == MessageID.derive("integrity-log-file-modified\u{1F}s3://b/\(log)INVALID: hash value doesn't match"))
        #expect((a.account, a.region) == ("123456789012", "us-east-1"))
        let unlisted = monitor.alert(finding(.logUnlisted, key: log), group)
        #expect(unlisted.extra["DIGEST"] == "" && unlisted.message == "CloudTrail log file not listed in any digest: s3://b/\(log)")
    }

    @Test func aDigestAlertSaysWhy() {
        var f = finding(.keyMissing, key: digest)
        f.fingerprint = "0123abcd"
        let a = monitor.alert(f, group)
        #expect(a.message == "CloudTrail digest public key not found in region us-east-1 for fingerprint 0123abcd: s3://b/\(digest)")
        #expect(a.logFile == "" && a.extra["DIGEST"] == "s3://b/\(digest)")
        #expect(a.alertID == MessageID.derive("integrity-public-key-missing\u{1F}s3://b/\(digest)INVALID: public key not found in region us-east-1 for fingerprint 0123abcd"))
        f = finding(.chainBroken, key: digest)
        f.link = .previousSignature
        #expect(monitor.alert(f, group).message.hasPrefix("CloudTrail digest previousDigestSignature in the next digest doesn't match its signature"))
    }

    @Test func aGapAlertNamesItsHours() {
        var f = finding(.chainGap, key: digest)
        (f.start, f.end) = ("2024-03-01T01:00:00Z", "2024-03-01T05:00:00Z")
        let a = monitor.alert(f, group)
        #expect(a.severity == "medium")
        #expect(a.message == "CloudTrail digest chain gap for 123456789012/us-east-1: no digest links 2024-03-01T01:00:00Z to 2024-03-01T05:00:00Z (logging stopped and restarted?)")
        #expect(a.alertID == MessageID.derive("integrity-digest-chain-gap\u{1F}gap123456789012us-east-12024-03-01T01:00:00Z2024-03-01T05:00:00Z"))
    }

    @Test func theCatalogHasOneEntryPerAlertKind() {
        let catalog = IntegrityMonitor.catalog()
        for k in IntegrityFinding.Kind.allCases {
            #expect(catalog.contains(MessageID.derive("trailwatch.integrity." + k.rawValue)) == k.isAlert, "\(k)")
        }
    }
}
