import AWSFormats
import AsyncHTTPClient
import Glibc
import NIOCore
import NIOHTTP1
import Posix
import SigV4


/// One ListObjectsV2 page.
package struct S3Listing: Sendable {
    package var objects: [S3Object]
    /// With a delimiter: the "folders" (each ends with the delimiter).
    package var commonPrefixes: [String]
    /// Pass back as `continuationToken` for the next page; nil on the last page.
    package var nextContinuationToken: String?

    package init(objects: [S3Object], commonPrefixes: [String], nextContinuationToken: String?) {
        self.objects = objects
        self.commonPrefixes = commonPrefixes
        self.nextContinuationToken = nextContinuationToken
    }
}

/// The two S3 calls trailwatch makes, path-style (`endpoint/bucket/key`), signed with SigV4
/// (S3's path rule, `x-amz-content-sha256` sent). No retries here: callers wrap with ``RetryPolicy``.
package struct S3Client: Sendable {
    let http: AWSHTTP
    let settings: AWSSettings
    let credentials: AWSCredentialChain

    package init(http: AWSHTTP, settings: AWSSettings, credentials: AWSCredentialChain) {
        self.http = http
        self.settings = settings
        self.credentials = credentials
    }

    /// The request path of `key` in `bucket`: each segment URI-encoded, `/` kept.
    static func path(bucket: String, key: String? = nil) -> String {
        "/" + SigV4Canonical.uriEncode(bucket.utf8) + (key.map { "/" + SigV4Canonical.uriEncode($0.utf8, keepSlash: true) } ?? "")
    }

    /// One page of keys under `prefix` (after `startAfter`, or from `continuationToken`), in key order.
    package func listObjectsV2(
        bucket: String, prefix: String, delimiter: String? = nil, startAfter: String? = nil,
        continuationToken: String? = nil, maxKeys: Int = 1000
    ) async throws -> S3Listing {
        var params: [(String, String)] = [("list-type", "2"), ("encoding-type", "url"), ("max-keys", String(max(1, min(maxKeys, 1000))))]
        if !prefix.isEmpty { params.append(("prefix", prefix)) }
        if let delimiter { params.append(("delimiter", delimiter)) }
        if let startAfter { params.append(("start-after", startAfter)) }
        if let continuationToken { params.append(("continuation-token", continuationToken)) }
        let query = params.map { SigV4Canonical.uriEncode($0.0.utf8) + "=" + SigV4Canonical.uriEncode($0.1.utf8) }.joined(separator: "&")
        let call = AWSHTTP.Call(service: "s3", method: .GET, path: Self.path(bucket: bucket), query: query, operation: "ListObjectsV2 s3://\(bucket)/\(prefix)")
        let reply = try await http.send(call, settings: settings, credentials: try await credentials.credentials())
        let result: S3ListResult
        do { result = try S3ListResult.parse(reply.body, urlEncoded: true) } catch { throw AWSError(error) }
        return S3Listing(
            objects: result.objects,
            commonPrefixes: result.commonPrefixes, nextContinuationToken: result.nextContinuationToken)
    }

    /// Streams the object into `path` (written then fsync'd; the caller renames), refusing past `maxBytes` (.tooLarge).
    /// The file is removed again when the download fails.
    package func getObject(bucket: String, key: String, to path: String, maxBytes: Int64) async throws -> S3Object {
        let what = "s3://\(bucket)/\(key)"
        let call = AWSHTTP.Call(
            service: "s3", method: .GET, path: Self.path(bucket: bucket, key: key), operation: "GetObject \(what)", timeout: .minutes(30))
        let response = try await http.start(call, settings: settings, credentials: try await credentials.credentials())
        if let length = response.headers.first(name: "content-length").flatMap({ Int64($0) }), length > maxBytes {
            throw AWSError(.tooLarge, "\(what) is \(length) bytes, more than the limit of \(maxBytes)")
        }
        let fd: Int32
        do { fd = try Posix.openFile(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o644) } catch {
            throw AWSError(.client, "GetObject \(what): \(error)")
        }
        var written: Int64 = 0
        do {
            defer { Posix.closeFile(fd) }
            do {
                for try await chunk in response.body {
                    written += Int64(chunk.readableBytes)
                    guard written <= maxBytes else { throw AWSError(.tooLarge, "\(what) is more than the limit of \(maxBytes) bytes") }
                    try Posix.writeAll(fd, Array(chunk.readableBytesView), at: Int(written) - chunk.readableBytes, path: path)
                }
            } catch let e as AWSError {
                throw e
            } catch let e as PosixError {
                throw AWSError(.client, "GetObject \(what): \(e)")
            } catch let e as CancellationError {
                throw e
            } catch {
                throw AWSError(.network, "GetObject \(what): \(error)")
            }
            if let length = response.headers.first(name: "content-length").flatMap({ Int64($0) }), length != written {
                throw AWSError(.network, "GetObject \(what): \(written) of \(length) bytes arrived")
            }
            do { try Posix.sync(fd, path: path) } catch { throw AWSError(.client, "GetObject \(what): \(error)") }
        } catch {
            try? Posix.removeFile(path)
            throw error
        }
        let modified = response.headers.first(name: "last-modified").flatMap { AmzDate.parseHTTPDate($0) }.map { $0 * 1000 } ?? 0
        return S3Object(key: key, size: written, etag: unquoteETag(response.headers.first(name: "etag") ?? ""), lastModifiedMs: modified)
    }
}
