import Foundation
import Gzip
import Testing
import TestSupport

/// A simulated bucket with digests, made once and copied for each case.
let verifiedBucket: String = {
    let dir = tempDir("verify-src") + "/trail-bucket"
    let r = try! trailwatch(["simulate", "--out", dir, "--hours", "3", "--accounts", "1", "--regions", "us-east-1", "--rate", "20"])
    precondition(r.status == 0, r.err)
    return dir
}()

func copyBucket(_ src: String = verifiedBucket) throws -> String {
    let dst = tempDir("verify") + "/" + (src as NSString).lastPathComponent
    try FileManager.default.copyItem(atPath: src, toPath: dst)
    return dst
}

func files(_ root: String, containing s: String) -> [String] {
    (FileManager.default.enumerator(atPath: root)!.compactMap { $0 as? String }).filter { $0.contains(s) && $0.hasSuffix(".json.gz") }.sorted()
}

func verify(_ bucket: String, keys: String? = nil, verbose: Bool = false) throws -> (status: Int32, out: String, err: String) {
    try trailwatch(["verify", "--logs", bucket, "--keys", keys ?? (verifiedBucket + "/public-keys.json")] + (verbose ? ["--verbose"] : []))
}

func python(_ script: String, _ args: [String]) throws -> (Int32, String) {
    try runCommand(["python3", repoRoot.appendingPathComponent("Tests/IntegrityTests/Interop/" + script).path] + args)
}

@Suite(.serialized) struct VerifyE2ETests {
    @Test func aValidBucketVerifiesInTheCLIsForm() throws {
        let r = try verify(verifiedBucket, verbose: true)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.isEmpty)
        let digests = files(verifiedBucket, containing: "CloudTrail-Digest_").count
        #expect(digests == 3)
        #expect(r.out.contains("\(digests)/\(digests) digest files valid"))
        #expect(r.out.contains("Digest file\ts3://trail-bucket/AWSLogs/"))
        #expect(r.out.contains("\tvalid\n"))
        #expect(r.out.contains("Results found for 2024-03-01T00:00:00Z to 2024-03-01T03:00:00Z:"))
    }

    @Test func theAWSCLIsOwnValidationAcceptsTrailwatchDigests() throws {
        let (ok, out) = try python("awscli_validate.py", [verifiedBucket, verifiedBucket + "/public-keys.json"])
        #expect(ok == 0, "\(out)")
        #expect(out.contains("3 valid, 0 invalid"))
        for mode in ["reserialized", "gzip-hash"] {
            let (bad, badOut) = try python("awscli_validate.py", [verifiedBucket, verifiedBucket + "/public-keys.json", "--mode", mode])
            #expect(bad == 1 && badOut.contains("0 valid, 3 invalid"), "\(mode): \(badOut)")
        }
    }

    @Test func trailwatchAcceptsAnIndependentPythonSigner() throws {
        for (mode, valid) in [("correct", true), ("reserialized", false), ("gzip-hash", false)] {
            let bucket = try copyBucket()
            let keys = tempDir("keys") + "/keys.json"
            let (ok, out) = try python("python_signer.py", [bucket, keys, "--mode", mode])
            #expect(ok == 0, "\(out)")
            let r = try verify(bucket, keys: keys)
            #expect((r.status == 0) == valid, "\(mode): \(r.out)\(r.err)")
            #expect(r.out.contains(valid ? "3/3 digest files valid" : "0/3 digest files valid, 3/3 digest files INVALID"), "\(mode): \(r.out)")
        }
    }

    /// One tampering per copy: the right line, and nothing else flagged.
    @Test func tamperingIsDetectedPrecisely() throws {
        let logs = files(verifiedBucket, containing: "_CloudTrail_")
        let digests = files(verifiedBucket, containing: "CloudTrail-Digest_")
        func check(_ name: String, _ tamper: (String) throws -> Void, keys: String? = nil, expect lines: [String]) throws {
            let b = try copyBucket()
            try tamper(b)
            let r = try verify(b, keys: keys)
            #expect(r.status == 1, "\(name) not detected")
            let flagged = r.err.split(separator: "\n").map(String.init)
            #expect(flagged.count == lines.count, "\(name): \(flagged)")
            for l in lines { #expect(flagged.contains { $0.contains(l) }, "\(name): missing \(l) in \(flagged)") }
        }
        // One byte of a log file changed, re-gzipped.
        let log = logs[3]
        try check("log modified", { b in
            var raw = try Inflater.inflateAll([UInt8](try Data(contentsOf: URL(fileURLWithPath: b + "/" + log))))
            raw[raw.count / 2] ^= 0x01
            try Data(Deflater.gzip(raw)).write(to: URL(fileURLWithPath: b + "/" + log))
        }, expect: ["Log file\ts3://trail-bucket/\(log)\tINVALID: hash value doesn't match"])
        try check("log deleted", { b in try FileManager.default.removeItem(atPath: b + "/" + log) },
                  expect: ["Log file\ts3://trail-bucket/\(log)\tINVALID: not found"])
        // A digest deleted: a gap in the chain.
        try check("digest deleted", { b in try FileManager.default.removeItem(atPath: b + "/" + digests[1]) },
                  expect: ["Digest file\ts3://trail-bucket/\(digests[1])\tINVALID: not found"] + logsOf(digests[1]).map { "Log file\ts3://trail-bucket/\($0)\tINVALID: not listed in any digest" })
        // An unlisted log file added inside a covered hour.
        let extra = (log as NSString).deletingLastPathComponent + "/" + ((log as NSString).lastPathComponent.dropLast(24) + "ZZZZZZZZZZZZZZZZ.json.gz")
        try check("unlisted log", { b in try FileManager.default.copyItem(atPath: b + "/" + log, toPath: b + "/" + extra) },
                  expect: ["Log file\ts3://trail-bucket/\(extra)\tINVALID: not listed in any digest"])
        // A digest's JSON altered (its signature fails; the next digest's hash link names it too).
        try check("digest altered", { b in
            let p = b + "/" + digests[1]
            var json = String(decoding: try Inflater.inflateAll([UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))), as: UTF8.self)
            json = json.replacingOccurrences(of: "\"digestSignatureAlgorithm\":\"SHA256withRSA\"", with: "\"digestSignatureAlgorithm\":\"SHA256withRSA\",\"x\":1")
            try Data(Deflater.gzip(Array(json.utf8))).write(to: URL(fileURLWithPath: p))
        }, expect: ["\(digests[1])\tINVALID: signature verification failed", "\(digests[1])\tINVALID: previousDigestHashValue"])
        // Two signatures swapped.
        try check("signatures swapped", { b in
            let a = b + "/" + digests[0] + ".metadata.json", c = b + "/" + digests[1] + ".metadata.json"
            let x = try Data(contentsOf: URL(fileURLWithPath: a)), y = try Data(contentsOf: URL(fileURLWithPath: c))
            try y.write(to: URL(fileURLWithPath: a))
            try x.write(to: URL(fileURLWithPath: c))
        }, expect: ["\(digests[0])\tINVALID: signature verification failed", "\(digests[1])\tINVALID: signature verification failed",
                    "\(digests[0])\tINVALID: previousDigestSignature", "\(digests[1])\tINVALID: previousDigestSignature"])
        // A digest moved to another key.
        let moved = digests[2].replacingOccurrences(of: "T030000Z", with: "T030500Z")
        try check("digest moved", { b in
            try FileManager.default.moveItem(atPath: b + "/" + digests[2], toPath: b + "/" + moved)
            try FileManager.default.moveItem(atPath: b + "/" + digests[2] + ".metadata.json", toPath: b + "/" + moved + ".metadata.json")
        }, expect: ["\(moved)\tINVALID: has been moved from its original location"] + logsOf(digests[2]).map { "\($0)\tINVALID: not listed in any digest" }.filter { _ in false })
        // The public key missing.
        let other = tempDir("keys") + "/other.json"
        try #"{"PublicKeyList":[]}"#.write(toFile: other, atomically: true, encoding: .utf8)
        try check("key missing", { _ in }, keys: other, expect: digests.map { "\($0)\tINVALID: public key not found in region us-east-1 for fingerprint" })
    }

    @Test func offlineWithoutSidecarsTheNewestWaitsForTheNext() throws {
        let dir = tempDir("offline") + "/offline-bucket"
        #expect(try trailwatch(["simulate", "--out", dir, "--hours", "3", "--accounts", "1", "--regions", "us-east-1", "--rate", "20", "--no-signatures"]).status == 0)
        #expect(files(dir, containing: "metadata").isEmpty)
        let first = try verify(dir, keys: dir + "/public-keys.json", verbose: true)
        #expect(first.status == 0, "\(first.err)")
        #expect(first.out.contains("2/2 digest files valid") && first.out.contains("1 digest files pending"), "\(first.out)")
        let newest = files(dir, containing: "CloudTrail-Digest_").last!
        #expect(first.out.contains("\(newest)\tPENDING"))
        // The next hour's digest arrives: the pending one is verified with its previousDigestSignature.
        #expect(try trailwatch(["simulate", "--out", dir, "--hours", "4", "--accounts", "1", "--regions", "us-east-1", "--rate", "20", "--no-signatures"]).status == 0)
        let second = try verify(dir, keys: dir + "/public-keys.json", verbose: true)
        #expect(second.out.contains("3/3 digest files valid") && second.out.contains("1 digest files pending"), "\(second.out)")
        #expect(second.out.contains("\(newest)\tvalid"))
    }
}

/// The log files a digest of the verified bucket lists.
func logsOf(_ digest: String) -> [String] {
    let raw = try! Inflater.inflateAll([UInt8](try! Data(contentsOf: URL(fileURLWithPath: verifiedBucket + "/" + digest))))
    let d = try! JSONSerialization.jsonObject(with: Data(raw)) as! [String: Any]
    return (d["logFiles"] as! [[String: Any]]).map { $0["s3Object"] as! String }
}

@Suite struct XattrSignatureTests {
    /// A mirror that keeps S3 metadata as extended attributes (rclone -M) instead of sidecars.
    @Test func signaturesFromExtendedAttributes() throws {
        let bucket = try copyBucket()
        let digests = files(bucket, containing: "CloudTrail-Digest_")
        for d in digests {
            let sidecar = bucket + "/" + d + ".metadata.json"
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sidecar))) as! [String: String]
            guard setXattr(bucket + "/" + d, meta["signature"]!) else {
                Issue.record("this file system keeps no user xattrs")
                return
            }
            try FileManager.default.removeItem(atPath: sidecar)
        }
        let r = try verify(bucket)
        #expect(r.status == 0 && r.out.contains("3/3 digest files valid") && !r.out.contains("pending"), "\(r.out)\(r.err)")
        // A wrong attribute is caught like a wrong sidecar.
        _ = setXattr(bucket + "/" + digests[0], String(repeating: "ab", count: 256))
        let bad = try verify(bucket)
        #expect(bad.status == 1 && bad.err.contains("\(digests[0])\tINVALID: signature verification failed"))
    }
}

/// Sets `user.signature` as rclone's local backend would (with Python's os.setxattr).
func setXattr(_ path: String, _ value: String) -> Bool {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import os,sys; os.setxattr(sys.argv[1], 'user.signature', sys.argv[2].encode())", path, value]
    try? p.run()
    p.waitUntilExit()
    return p.terminationStatus == 0
}

@Suite(.serialized) struct TamperAlertTests {
    /// The same tampering as the `verify` test, checked by `run --keys`: the right built-in alert, nothing else.
    @Test func eachTamperingRaisesItsAlert() throws {
        let logs = files(verifiedBucket, containing: "_CloudTrail_")
        let digests = files(verifiedBucket, containing: "CloudTrail-Digest_")
        func run(_ tamper: (String) throws -> Void, keys: String? = nil) throws -> [String] {
            let b = try copyBucket()
            try tamper(b)
            let alerts = tempDir("alerts") + "/a.jsonl"
            let r = try trailwatch(["run", "--once", "--logs", b, "--state", tempDir("state"), "--keys", keys ?? (b + "/public-keys.json"),
                                    "--alerts", "jsonl:" + alerts])
            #expect(r.status == 0, "\(r.err)")
            return jsonLines(alerts).map { $0["rule"] as! String }.sorted()
        }
        #expect(try run({ _ in }).isEmpty)
        #expect(try run({ b in
            var raw = try Inflater.inflateAll([UInt8](try Data(contentsOf: URL(fileURLWithPath: b + "/" + logs[3]))))
            raw[7] ^= 1
            try Data(Deflater.gzip(raw)).write(to: URL(fileURLWithPath: b + "/" + logs[3]))
        }) == ["integrity-log-file-modified"])
        #expect(try run({ b in try FileManager.default.removeItem(atPath: b + "/" + logs[3]) }) == ["integrity-log-file-missing"])
        let unlisted = try run({ b in try FileManager.default.removeItem(atPath: b + "/" + digests[1]) })
        #expect(Set(unlisted) == ["integrity-digest-missing", "integrity-log-file-not-listed"], "\(unlisted)")
        #expect(try run({ b in
            let p = b + "/" + digests[1]
            var json = String(decoding: try Inflater.inflateAll([UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))), as: UTF8.self)
            json = json.replacingOccurrences(of: "SHA256withRSA\"", with: "SHA256withRSA\",\"x\":1")
            try Data(Deflater.gzip(Array(json.utf8))).write(to: URL(fileURLWithPath: p))
        }) == ["integrity-digest-chain-broken", "integrity-digest-signature-invalid"])
        let swapped = try run({ b in
            let a = b + "/" + digests[0] + ".metadata.json", c = b + "/" + digests[1] + ".metadata.json"
            let x = try Data(contentsOf: URL(fileURLWithPath: a)), y = try Data(contentsOf: URL(fileURLWithPath: c))
            try y.write(to: URL(fileURLWithPath: a))
            try x.write(to: URL(fileURLWithPath: c))
        })
        #expect(swapped == ["integrity-digest-chain-broken", "integrity-digest-chain-broken", "integrity-digest-signature-invalid", "integrity-digest-signature-invalid"])
        let moved = digests[2].replacingOccurrences(of: "T030000Z", with: "T030500Z")
        #expect(try run({ b in
            try FileManager.default.moveItem(atPath: b + "/" + digests[2], toPath: b + "/" + moved)
            try FileManager.default.moveItem(atPath: b + "/" + digests[2] + ".metadata.json", toPath: b + "/" + moved + ".metadata.json")
        }) == ["integrity-digest-moved"])
        let other = tempDir("keys") + "/none.json"
        try #"{"PublicKeyList":[]}"#.write(toFile: other, atomically: true, encoding: .utf8)
        #expect(try run({ _ in }, keys: other) == Array(repeating: "integrity-public-key-missing", count: 3))
    }

    @Test func offlineInTheDaemonPendingThenVerified() throws {
        let dir = tempDir("offline2") + "/offline-bucket"
        let sim = ["simulate", "--out", dir, "--accounts", "1", "--regions", "us-east-1", "--rate", "20", "--no-signatures"]
        #expect(try trailwatch(sim + ["--hours", "2"]).status == 0)
        let state = tempDir("state")
        let run = ["run", "--once", "--logs", dir, "--state", state, "--keys", dir + "/public-keys.json", "--alerts", "jsonl:" + tempDir("a") + "/a.jsonl"]
        #expect(try trailwatch(run).status == 0)
        #expect(try trailwatch(["status", "--state", state]).out.contains("\t1\t0\t1"), "one valid, one pending")
        #expect(try trailwatch(sim + ["--hours", "3"]).status == 0)
        #expect(try trailwatch(run).status == 0)
        let status = try trailwatch(["status", "--state", state]).out
        #expect(status.contains("\t2\t0\t1") && status.contains("2024-03-01T02:00:00Z"), "\(status)")
    }
}

@Suite struct BackfillDigestTests {
    /// CloudTrail's backfill digests list files the hourly digest missed; they chain among themselves.
    @Test func aBackfillDigestCoversALateLogFile() throws {
        let bucket = try copyBucket()
        let logs = files(bucket, containing: "_CloudTrail_")
        let late = (logs[2] as NSString).deletingLastPathComponent + "/" + ((logs[2] as NSString).lastPathComponent.dropLast(24) + "BACKFILLEDLOG001.json.gz")
        try FileManager.default.copyItem(atPath: bucket + "/" + logs[2], toPath: bucket + "/" + late)
        let before = try verify(bucket)
        #expect(before.status == 1 && before.err.contains("\(late)\tINVALID: not listed in any digest"))
        let script = """
            import base64, gzip, hashlib, json, os, sys
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding
            root, late = sys.argv[1], sys.argv[2]
            key = serialization.load_pem_private_key(open(os.path.join(root, "simulator-signing-key.pem"), "rb").read(), None)
            der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
            acct = late.split("/")[1]
            obj = f"AWSLogs/{acct}/CloudTrail-Digest/us-east-1/2024/03/01/{acct}_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240301T013000Z_backfill.json.gz"
            content = gzip.decompress(open(os.path.join(root, late), "rb").read())
            d = {"awsAccountId": acct, "digestStartTime": "2024-03-01T00:00:00Z", "digestEndTime": "2024-03-01T01:30:00Z",
                 "digestS3Bucket": os.path.basename(root), "digestS3Object": obj, "digestPublicKeyFingerprint": hashlib.md5(der).hexdigest(),
                 "digestSignatureAlgorithm": "SHA256withRSA", "newestEventTime": None, "oldestEventTime": None,
                 "previousDigestS3Bucket": None, "previousDigestS3Object": None, "previousDigestHashValue": None,
                 "previousDigestHashAlgorithm": None, "previousDigestSignature": None,
                 "logFiles": [{"s3Bucket": os.path.basename(root), "s3Object": late, "hashValue": hashlib.sha256(content).hexdigest(),
                               "hashAlgorithm": "SHA-256", "newestEventTime": "", "oldestEventTime": ""}]}
            body = json.dumps(d).encode()
            to_sign = f"{d['digestEndTime']}\\n{d['digestS3Bucket']}/{obj}\\n{hashlib.sha256(body).hexdigest()}\\nnull"
            sig = key.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
            open(os.path.join(root, obj), "wb").write(gzip.compress(body))
            json.dump({"signature": sig, "signature-algorithm": "SHA256withRSA"}, open(os.path.join(root, obj) + ".metadata.json", "w"))
            """
        let (ok, out) = try runCommand(["python3", "-c", script, bucket, late])
        #expect(ok == 0, "\(out)")
        let after = try verify(bucket, verbose: true)
        #expect(after.status == 0, "\(after.err)")
        #expect(after.out.contains("(backfill) Digest file\ts3://trail-bucket/") && after.out.contains("_backfill.json.gz\tvalid"), "\(after.out)")
        #expect(after.out.contains("1/1 backfill digest files valid"), "\(after.out)")
        #expect(!after.err.contains(late))
        // The backfilled log file changed: caught through the backfill digest.
        var raw = try Inflater.inflateAll([UInt8](try Data(contentsOf: URL(fileURLWithPath: bucket + "/" + late))))
        raw[11] ^= 1
        try Data(Deflater.gzip(raw)).write(to: URL(fileURLWithPath: bucket + "/" + late))
        let tampered = try verify(bucket)
        #expect(tampered.status == 1 && tampered.err.contains("(backfill) Log file\ts3://trail-bucket/\(late)\tINVALID: hash value doesn't match"), "\(tampered.err)")
    }
}
