import AWSFormats
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SigV4

/// The one async-http-client `HTTPClient` every AWS call of the process shares (connection pools
/// per host). Call `shutdown()` before exit.
package final class AWSHTTP: Sendable {
    let client: HTTPClient

    package init() {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(10), read: .seconds(90))
        config.redirectConfiguration = .disallow
        config.decompression = .disabled
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }

    package func shutdown() async throws { try await client.shutdown() }

    /// Response bodies other than objects are read whole up to this size.
    static let maxBodyBytes = 16 << 20

    /// A request as built by a client, before signing: the path and query already URI-encoded.
    struct Call: Sendable {
        var service: String
        var method: HTTPMethod
        var path: String
        var query = ""
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        /// The operation's name, for errors.
        var operation: String
        var timeout: TimeAmount = .seconds(60)
    }

    /// A response: status, headers and (unless streamed) the body.
    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// Signs `call` with `credentials` for `settings.region` and sends it; a non-2xx status is
    /// thrown as the ``AWSError`` its body describes, a transport failure as `.network`.
    func send(_ call: Call, settings: AWSSettings, credentials: SigV4Credentials) async throws -> Reply {
        let response = try await start(call, settings: settings, credentials: credentials)
        let body = try await collect(response, operation: call.operation)
        return Reply(status: Int(response.status.code), headers: response.headers, body: body)
    }

    /// Sends `call` (signed) and returns the response with its body unread, after checking the
    /// status (an error response's body is read and turned into the ``AWSError``).
    func start(_ call: Call, settings: AWSSettings, credentials: SigV4Credentials) async throws -> HTTPClientResponse {
        let endpoint = try Endpoint(settings.endpoint(for: call.service))
        let isS3 = call.service == "s3"
        let request = SigV4Request(
            method: call.method.rawValue, path: endpoint.basePath + call.path, query: call.query,
            headers: [.init("Host", endpoint.hostHeader)] + call.headers.map { .init($0.0, $0.1) }, body: call.body)
        let signer = SigV4Signer(
            credentials: credentials, region: settings.region, service: call.service, pathRule: isS3 ? .s3 : .standard, sendsContentHash: isS3)
        let signed = signer.sign(request, at: Int64(Date().timeIntervalSince1970)).request
        var out = HTTPClientRequest(url: endpoint.origin + signed.path + (signed.query.isEmpty ? "" : "?" + signed.query))
        out.method = call.method
        for h in signed.headers { out.headers.add(name: h.name, value: h.value) }
        if !call.body.isEmpty || call.method == .POST || call.method == .PUT {
            out.body = .bytes(ByteBuffer(bytes: call.body))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(out, timeout: call.timeout)
        } catch let e as CancellationError {
            throw e
        } catch {
            throw AWSError(.network, "\(call.operation) to \(endpoint.origin): \(error)")
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let body = (try? await collect(response, operation: call.operation, limit: 1 << 20)) ?? []
            throw AWSError.fromResponse(status: status, headers: response.headers.map { ($0.name, $0.value) }, body: body)
        }
        return response
    }

    /// Reads a whole body, refusing one over `limit`.
    func collect(_ response: HTTPClientResponse, operation: String, limit: Int = maxBodyBytes) async throws -> [UInt8] {
        do {
            let buffer = try await response.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw AWSError(.tooLarge, "\(operation) response larger than \(limit) bytes")
        } catch let e as CancellationError {
            throw e
        } catch {
            throw AWSError(.network, "\(operation) response: \(error)")
        }
    }

    /// A JSON-protocol call (`X-Amz-Target`, `application/x-amz-json-1.x`) and its decoded reply.
    func json<Reply: Decodable>(
        service: String, target: String, version: String, body: [UInt8], settings: AWSSettings, credentials: AWSCredentialChain,
        timeout: TimeAmount = .seconds(60), as: Reply.Type
    ) async throws -> Reply {
        let call = Call(
            service: service, method: .POST, path: "/",
            headers: [("Content-Type", "application/x-amz-json-\(version)"), ("X-Amz-Target", target)], body: body,
            operation: target, timeout: timeout)
        let reply = try await send(call, settings: settings, credentials: try await credentials.credentials())
        do { return try decodeAWSJSON(Reply.self, reply.body, operation: target) } catch { throw AWSError(error) }
    }
}

/// An endpoint URL split for signing: `origin` (`scheme://host[:port]`), the `Host` header and
/// any base path the URL carries.
struct Endpoint: Sendable {
    var origin: String
    var hostHeader: String
    var basePath: String

    init(_ url: String) throws(AWSError) {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = c.host, !host.isEmpty
        else { throw AWSError(.client, "endpoint URL \(url) is not http(s)://host[:port]") }
        let defaultPort = scheme == "https" ? 443 : 80
        let h = host.contains(":") ? "[\(host)]" : host
        hostHeader = c.port.map { $0 == defaultPort ? h : "\(h):\($0)" } ?? h
        origin = "\(scheme)://\(hostHeader)"
        basePath = c.percentEncodedPath.hasSuffix("/") ? String(c.percentEncodedPath.dropLast()) : c.percentEncodedPath
    }
}
