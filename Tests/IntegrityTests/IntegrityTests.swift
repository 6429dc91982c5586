import Crypto
import Foundation
import Gzip
import Integrity
import Testing
import _CryptoExtras

func digestJSON(end: String = "2024-03-01T01:00:00Z", object: String = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/01/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T010000Z.json.gz",
                fingerprint: String, previousSignature: String? = nil) -> [UInt8] {
    Array(#"{"awsAccountId":"123456789012","digestStartTime":"2024-03-01T00:00:00Z","digestEndTime":"\#(end)","digestS3Bucket":"b","digestS3Object":"\#(object)","digestPublicKeyFingerprint":"\#(fingerprint)","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":\#(previousSignature.map { "\"\($0)\"" } ?? "null"),"logFiles":[]}"#.utf8)
}

@Suite struct IntegrityTests {
    @Test func keysFromListPublicKeysInBothEncodingsAndTheirFingerprints() throws {
        let signer = try DigestSigner.generate()
        let pkcs1 = signer.publicDER
        let spki = [UInt8](signer.key.publicKey.derRepresentation)
        #expect(pkcs1 != spki)
        let json = #"[{"PublicKeyList":[{"Value":"\#(Data(pkcs1).base64EncodedString())","Fingerprint":"x"}]},{"PublicKeyList":[{"Value":"\#(Data(spki).base64EncodedString())"}]}]"#
        let ring = try PublicKeyRing(json: Array(json.utf8))
        #expect(ring.keys.count == 2)
        #expect(ring[PublicKeyRing.fingerprint(pkcs1)] != nil && ring[PublicKeyRing.fingerprint(spki)] != nil)
        #expect(PublicKeyRing.fingerprint(pkcs1) == Insecure.MD5.hash(data: pkcs1).map { String(format: "%02x", $0) }.joined())
        #expect(throws: IntegrityError.self) { try PublicKeyRing(json: Array("{}".utf8)) }
        #expect(throws: IntegrityError.self) { try PublicKeyRing(json: Array(#"{"PublicKeyList":[{"Value":"AAAA"}]}"#.utf8)) }
    }

    @Test func signsTheStringCloudTrailDocumentsAndVerifiesStrictly() throws {
        let signer = try DigestSigner.generate()
        let json = digestJSON(fingerprint: signer.fingerprint)
        let d = try DigestFile(json: json)
        #expect(d.hash == SHA256.hash(data: json).map { String(format: "%02x", $0) }.joined())
        #expect(d.stringToSign == "2024-03-01T01:00:00Z\nb/\(d.object)\n\(d.hash)\nnull")
        let sig = try signer.sign(d)
        #expect(d.verify(signatureHex: sig, key: signer.key.publicKey))
        // The same bytes re-serialised are another document: the signature no longer holds.
        let reserialised = try JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: Data(json)), options: [.sortedKeys])
        #expect(!(try DigestFile(json: [UInt8](reserialised))).verify(signatureHex: sig, key: signer.key.publicKey))
        // Hashing the .gz bytes instead of the uncompressed ones is wrong too.
        let gz = Deflater.gzip(json)
        var wrong = d
        wrong.hash = SHA256.hash(data: gz).map { String(format: "%02x", $0) }.joined()
        #expect(!wrong.verify(signatureHex: sig, key: signer.key.publicKey))
        #expect(try DigestFile(gzip: gz).hash == d.hash)
        // SHA256withRSA means SHA-256: a SHA-1 PKCS#1 signature of the same text is refused.
        let sha1 = try signer.key.signature(for: Insecure.SHA1.hash(data: Array(d.stringToSign.utf8)), padding: .insecurePKCS1v1_5)
        #expect(!d.verify(signatureHex: Hex.encode([UInt8](sha1.rawRepresentation)), key: signer.key.publicKey))
        #expect(!d.verify(signatureHex: "zz", key: signer.key.publicKey))
    }

    @Test func missingFieldsAreInvalidFormat() {
        #expect(throws: IntegrityError("invalid format")) { try DigestFile(json: Array(#"{"digestEndTime":"x"}"#.utf8)) }
        #expect(throws: IntegrityError("invalid format")) { try DigestFile(gzip: Array("not gzip".utf8)) }
    }

    @Test func logHashIsOverTheUncompressedContent() throws {
        let content = Array(#"{"Records":[]}"#.utf8)
        #expect(try LogHash.of(gzip: Deflater.gzip(content)) == LogHash.of(bytes: content))
        #expect(throws: GzipError.self) { try LogHash.of(gzip: Array(Deflater.gzip(content).dropLast(4))) }
    }
}
