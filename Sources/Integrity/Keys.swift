import CloudTrail
import Crypto
import FoundationEssentials
import _CryptoExtras

/// Why integrity material could not be read.
public struct IntegrityError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// CloudTrail's public keys, by fingerprint: the lower-hex MD5 of the key's DER bytes, the value a
/// digest names in `digestPublicKeyFingerprint`.
public struct PublicKeyRing: Sendable {
    public struct Key: Sendable {
        public var fingerprint: String
        public var der: [UInt8]
        public var key: _RSA.Signing.PublicKey
    }

    public private(set) var keys: [String: Key] = [:]

    public init() {}

    /// Reads the JSON that `aws cloudtrail list-public-keys` prints: one document, or an array of
    /// them (one per region). `Value` is base64 DER: PKCS#1 RSAPublicKey or SubjectPublicKeyInfo.
    public init(json: [UInt8]) throws {
        struct Entry: Decodable {
            var Value: String
            var Fingerprint: String?
        }
        struct List: Decodable { var PublicKeyList: [Entry] }
        let data = Data(json)
        let lists: [List]
        if let one = try? JSONDecoder().decode(List.self, from: data) {
            lists = [one]
        } else if let many = try? JSONDecoder().decode([List].self, from: data) {
            lists = many
        } else {
            throw IntegrityError("not the output of aws cloudtrail list-public-keys (no PublicKeyList)")
        }
        for entry in lists.flatMap(\.PublicKeyList) {
            guard let der = Data(base64Encoded: entry.Value) else {
                throw IntegrityError("a public key Value is not base64")
            }
            try add(der: [UInt8](der))
        }
    }

    /// Adds a key from DER (PKCS#1 or SubjectPublicKeyInfo).
    public mutating func add(der: [UInt8]) throws {
        let key: _RSA.Signing.PublicKey
        do {
            key = try _RSA.Signing.PublicKey(unsafeDERRepresentation: der)
        } catch {
            throw IntegrityError("unable to load the public key with fingerprint \(Self.fingerprint(der))")
        }
        let fp = Self.fingerprint(der)
        keys[fp] = Key(fingerprint: fp, der: der, key: key)
    }

    /// The lower-hex MD5 of DER bytes: how CloudTrail names its keys.
    public static func fingerprint(_ der: [UInt8]) -> String { Hex.encode(Array(Insecure.MD5.hash(data: der))) }

    public subscript(fingerprint: String) -> Key? { keys[fingerprint.lowercased()] }
}

/// Lower-case hex.
public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ s: String) -> [UInt8]? { Base16.decode(s) }
}
