/// An HTTP request as Signature Version 4 sees it: no HTTP framework's types, so the server, the
/// CLI and the tests hand the same plain value to the signer and the verifier.
package struct SigV4Request: Sendable, Equatable {
    /// What the signature covers of the body: the bytes themselves, or their SHA-256 in lowercase
    /// hex (or a literal such as `UNSIGNED-PAYLOAD`) when the bytes are not at hand.
    package enum Payload: Sendable, Equatable {
        case bytes([UInt8])
        case hash(String)
    }

    /// The method, e.g. `POST`.
    package var method: String
    /// The path as sent on the request line, percent-encoded, without the query.
    package var path: String
    /// The query string as sent, without the `?`; empty when there is none.
    package var query: String
    /// The headers in the order received; a name may occur more than once.
    package var headers: [Header]
    /// The body, or its hash.
    package var payload: Payload

    /// One header line. Names compare case-insensitively.
    package struct Header: Sendable, Equatable {
        /// The field name as sent.
        package var name: String
        /// The field value as sent.
        package var value: String
        /// A header named `name` with `value`.
        package init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// A request with the body's bytes.
    package init(method: String, path: String, query: String = "", headers: [Header], body: [UInt8] = []) {
        self.init(method: method, path: path, query: query, headers: headers, payload: .bytes(body))
    }

    /// A request with what the signature covers of its body.
    package init(method: String, path: String, query: String = "", headers: [Header], payload: Payload) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.payload = payload
    }

    /// Every value of the header `name` (any case), in the order received.
    package func values(of name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.name.lowercased() == lower }.map(\.value)
    }

    /// The first value of the header `name` (any case), nil when absent.
    package func value(of name: String) -> String? { values(of: name).first }

    /// Removes every header named `name` (any case).
    package mutating func removeHeader(_ name: String) {
        let lower = name.lowercased()
        headers.removeAll { $0.name.lowercased() == lower }
    }

    /// Replaces every header named `name` (any case) by one with `value`, at the end.
    package mutating func setHeader(_ name: String, _ value: String) {
        removeHeader(name)
        headers.append(Header(name, value))
    }
}
