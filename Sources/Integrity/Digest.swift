import Crypto
import FoundationEssentials
import Gzip
import _CryptoExtras

/// One digest file: its fields and the exact uncompressed bytes they came from (the next digest's
/// `previousDigestHashValue` is the SHA-256 of those bytes).
public struct DigestFile: Sendable {
    public struct LogFile: Sendable, Decodable, Equatable {
        public var s3Bucket: String
        public var s3Object: String
        public var hashValue: String
        public var hashAlgorithm: String?
        public var newestEventTime: String?
        public var oldestEventTime: String?
    }

    struct Fields: Decodable {
        var awsAccountId: String?
        var digestStartTime: String
        var digestEndTime: String
        var digestS3Bucket: String
        var digestS3Object: String
        var digestPublicKeyFingerprint: String
        var digestSignatureAlgorithm: String?
        var previousDigestS3Bucket: String?
        var previousDigestS3Object: String?
        var previousDigestHashValue: String?
        var previousDigestHashAlgorithm: String?
        var previousDigestSignature: String?
        var logFiles: [LogFile]?
    }

    public var account: String?
    public var startTime: String
    public var endTime: String
    public var bucket: String
    public var object: String
    public var fingerprint: String
    public var previousBucket: String?
    public var previousObject: String?
    public var previousHash: String?
    public var previousSignature: String?
    public var logFiles: [LogFile]
    /// SHA-256 (lower hex) of the uncompressed bytes as delivered: what is signed and chained.
    public var hash: String

    /// Parses a digest from its uncompressed bytes; `invalid format` when fields are missing (as the CLI).
    public init(json: [UInt8]) throws {
        let f: Fields
        do { f = try JSONDecoder().decode(Fields.self, from: Data(json)) } catch { throw IntegrityError("invalid format") }
        account = f.awsAccountId
        startTime = f.digestStartTime
        endTime = f.digestEndTime
        bucket = f.digestS3Bucket
        object = f.digestS3Object
        fingerprint = f.digestPublicKeyFingerprint
        previousBucket = f.previousDigestS3Bucket
        previousObject = f.previousDigestS3Object
        previousHash = f.previousDigestHashValue
        previousSignature = f.previousDigestSignature
        logFiles = f.logFiles ?? []
        hash = Hex.encode(Array(SHA256.hash(data: json)))
    }

    /// Inflated digests larger than this are refused (a gzip bomb): a digest lists an hour of one
    /// region's log files, a few hundred KB at most.
    public static let maxInflatedBytes = 64 << 20

    /// Parses a `.json.gz` digest object.
    public init(gzip: [UInt8]) throws {
        let json: [UInt8]
        do { json = try Inflater.inflateAll(gzip, limit: Self.maxInflatedBytes) } catch { throw IntegrityError("invalid format") }
        try self.init(json: json)
    }

    /// The text CloudTrail signs: `digestEndTime\nbucket/object\nhash\npreviousSignature-or-null`
    /// (LF line ends, no trailing newline).
    public var stringToSign: String {
        "\(endTime)\n\(bucket)/\(object)\n\(hash)\n\(previousSignature ?? "null")"
    }

    /// True when `signatureHex` is a SHA256withRSA (PKCS#1 v1.5, SHA-256 required) signature of
    /// ``stringToSign`` by `key`.
    public func verify(signatureHex: String, key: _RSA.Signing.PublicKey) -> Bool {
        guard let raw = Hex.decode(signatureHex) else { return false }
        let digest = SHA256.hash(data: Array(stringToSign.utf8))
        return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: raw), for: digest, padding: .insecurePKCS1v1_5)
    }
}

/// SHA-256 of a log file's uncompressed content, streamed (what `logFiles[].hashValue` holds).
public enum LogHash {
    public static func of(gzip: [UInt8]) throws -> String {
        var hasher = SHA256()
        let inflater = try Inflater()
        try gzip.withUnsafeBytes { try inflater.inflate($0) { hasher.update(bufferPointer: $0) } }
        try inflater.finish()
        return Hex.encode(Array(hasher.finalize()))
    }

    public static func of(bytes: [UInt8]) -> String { Hex.encode(Array(SHA256.hash(data: bytes))) }
}

/// Signs digests the way CloudTrail does; for the simulator and tests.
public struct DigestSigner: Sendable {
    public let key: _RSA.Signing.PrivateKey

    public init(key: _RSA.Signing.PrivateKey) { self.key = key }

    /// A new 2048-bit key.
    public static func generate() throws -> DigestSigner { DigestSigner(key: try _RSA.Signing.PrivateKey(keySize: .bits2048)) }

    /// The public key as CloudTrail lists it: PKCS#1 DER, and its fingerprint.
    public var publicDER: [UInt8] { [UInt8](key.publicKey.pkcs1DERRepresentation) }
    public var fingerprint: String { PublicKeyRing.fingerprint(publicDER) }

    /// The hex signature of a digest's string to sign.
    public func sign(_ d: DigestFile) throws -> String {
        let s = try key.signature(for: SHA256.hash(data: Array(d.stringToSign.utf8)), padding: .insecurePKCS1v1_5)
        return Hex.encode([UInt8](s.rawRepresentation))
    }

    /// `{"PublicKeyList":[…]}` as `aws cloudtrail list-public-keys` prints it.
    public func publicKeysJSON(validFrom: Int64, to: Int64) -> String {
        let value = Data(publicDER).base64EncodedString()
        return #"{"PublicKeyList":[{"Value":"\#(value)","ValidityStartTime":\#(validFrom / 1000),"ValidityEndTime":\#(to / 1000),"Fingerprint":"\#(fingerprint)"}]}"#
    }
}
