/// This host's share of an organization: account `A` belongs to shard `K/N` when
/// `fnv1a64(A) % N == K - 1` (FNV-1a 64 over the account id's ASCII digits). The hash is fixed
/// (not Swift's seeded `Hasher`), so every host and every version agrees on who owns an account.
package struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// K, from 1 to `count`.
    package var index: Int
    /// N, at least 1.
    package var count: Int

    /// The whole organization on one host.
    package static let all = Shard(index: 1, count: 1)

    package init(index: Int, count: Int) {
        precondition(count >= 1 && (1...count).contains(index), "shard \(index)/\(count)")
        self.index = index
        self.count = count
    }

    /// Parses `K/N` (1 ≤ K ≤ N ≤ 4096); the error says what is wrong.
    package static func parse(_ text: String) throws(NotificationError) -> Shard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw NotificationError(.malformed, "shard '\(text)' is not K/N (for example 1/2)")
        }
        guard (1...4096).contains(n), (1...n).contains(k) else {
            throw NotificationError(.malformed, "shard '\(text)': K must be from 1 to N, and N from 1 to 4096")
        }
        return Shard(index: k, count: n)
    }

    /// True when `account` is this shard's.
    package func owns(account: String) -> Bool {
        count == 1 || Self.fnv1a64(account) % UInt64(count) == UInt64(index - 1)
    }

    /// FNV-1a, 64 bits, over the UTF-8 bytes of `s`.
    package static func fnv1a64(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    package var description: String { "\(index)/\(count)" }
}

/// Where a bucket source reads: `s3://bucket[/prefix]` (the prefix is what lies before `AWSLogs/`).
package struct S3Location: Sendable, Equatable, CustomStringConvertible {
    package var bucket: String
    /// Without leading or trailing `/`; empty for the bucket's root.
    package var prefix: String

    package init(bucket: String, prefix: String = "") {
        self.bucket = bucket
        self.prefix = prefix
    }

    /// True when `text` names a bucket (`s3://…`) rather than a local folder.
    package static func isS3(_ text: String) -> Bool { text.hasPrefix("s3://") }

    /// Parses `s3://bucket[/prefix][/]`; the error says what is wrong.
    package static func parse(_ text: String) throws(NotificationError) -> S3Location {
        guard isS3(text) else { throw NotificationError(.malformed, "'\(text)' is not s3://bucket[/prefix]") }
        let rest = text.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        guard S3Notifications.isValidBucketName(bucket) else {
            throw NotificationError(.malformed, "'\(text)': '\(bucket)' is not an S3 bucket name")
        }
        var prefix = Substring(rest.dropFirst(bucket.count))
        while prefix.hasPrefix("/") { prefix = prefix.dropFirst() }
        while prefix.hasSuffix("/") { prefix = prefix.dropLast() }
        guard prefix.isEmpty || S3Notifications.isSafeKey(String(prefix)) else {
            throw NotificationError(.malformed, "'\(text)': the prefix has an empty, '.' or '..' part")
        }
        return S3Location(bucket: bucket, prefix: String(prefix))
    }

    /// The key prefix under which CloudTrail writes: `[prefix/]AWSLogs/`.
    package var awsLogs: String { prefix.isEmpty ? "AWSLogs/" : prefix + "/AWSLogs/" }

    /// True when `key` lies under this location's `AWSLogs/`.
    package func contains(key: String) -> Bool { key.hasPrefix(awsLogs) }

    package var description: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }
}
