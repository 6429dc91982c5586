/// A minimal XML reader for the small documents S3 and SQS answer with (ListObjectsV2 results and
/// error bodies): elements, attributes (skipped), character data, CDATA, comments and the five
/// predefined and numeric entities. No DTD (a `<!DOCTYPE` is refused, so no entity expansion),
/// no namespace resolution (a prefix is dropped). Limits on size, depth and element count keep
/// memory bounded on hostile input.
package struct XMLElement: Sendable, Equatable {
    /// The local name (any `prefix:` dropped).
    package var name: String
    /// The character data directly inside this element, entities decoded.
    package var text: String
    package var children: [XMLElement]

    package static let maxBytes = 16 << 20
    package static let maxDepth = 32
    package static let maxElements = 500_000

    /// The first child named `name`.
    package func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    /// Every child named `name`, in order.
    package func all(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
    /// The first element named `name` at any depth below (depth first), self excluded.
    package func descendant(_ name: String) -> XMLElement? {
        for c in children {
            if c.name == name { return c }
            if let d = c.descendant(name) { return d }
        }
        return nil
    }

    /// Parses one document; `source` names it in errors.
    package static func parse(_ bytes: [UInt8], source: String) throws(AWSFormatError) -> XMLElement {
        guard bytes.count <= maxBytes else { throw AWSFormatError(.tooLarge, source: source, "XML larger than \(maxBytes) bytes") }
        var reader = XMLReader(u: bytes, source: source)
        return try reader.document()
    }
}

private struct XMLReader {
    let u: [UInt8]
    let source: String
    var i = 0
    var elements = 0

    init(u: [UInt8], source: String) {
        self.u = u
        self.source = source
    }

    func fail(_ reason: String) -> AWSFormatError { AWSFormatError(.malformed, source: source, "XML at byte \(i): \(reason)") }

    func starts(_ s: String) -> Bool {
        let p = Array(s.utf8)
        return i + p.count <= u.count && Array(u[i..<(i + p.count)]) == p
    }

    /// Advances past the next occurrence of `end`, failing when there is none.
    mutating func skip(past end: String, what: String) throws(AWSFormatError) -> Range<Int> {
        let p = Array(end.utf8)
        let start = i
        while i + p.count <= u.count {
            if u[i] == p[0], Array(u[i..<(i + p.count)]) == p {
                let r = start..<i
                i += p.count
                return r
            }
            i += 1
        }
        throw fail("unterminated \(what)")
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
    static func isNameByte(_ b: UInt8) -> Bool {
        !isSpace(b) && b != UInt8(ascii: ">") && b != UInt8(ascii: "/") && b != UInt8(ascii: "=") && b != UInt8(ascii: "<")
            && b != UInt8(ascii: "\"") && b != UInt8(ascii: "'")
    }

    mutating func skipSpace() { while i < u.count, Self.isSpace(u[i]) { i += 1 } }

    /// Skips the prolog/epilog items: whitespace, declarations, comments. Refuses a DTD.
    mutating func misc() throws(AWSFormatError) {
        while true {
            skipSpace()
            if starts("<?") {
                _ = try skip(past: "?>", what: "processing instruction")
            } else if starts("<!--") {
                _ = try skip(past: "-->", what: "comment")
            } else if starts("<!") {
                throw fail("DTD and declarations are not accepted")
            } else {
                return
            }
        }
    }

    mutating func document() throws(AWSFormatError) -> XMLElement {
        try misc()
        guard i < u.count, u[i] == UInt8(ascii: "<") else { throw fail("expected the root element") }
        let root = try element()
        try misc()
        guard i == u.count else { throw fail("content after the root element") }
        return root
    }

    mutating func name() throws(AWSFormatError) -> String {
        let start = i
        while i < u.count, Self.isNameByte(u[i]) { i += 1 }
        guard i > start else { throw fail("expected a name") }
        let full = u[start..<i]
        let local = full.lastIndex(of: UInt8(ascii: ":")).map { full[($0 + 1)...] } ?? full
        guard !local.isEmpty else { throw fail("empty local name") }
        return String(decoding: local, as: UTF8.self)
    }

    /// Reads `<name …>` to its matching end tag (iteratively, with an explicit stack).
    mutating func element() throws(AWSFormatError) -> XMLElement {
        var stack: [(element: XMLElement, rawName: String)] = []
        var text: [[UInt8]] = []
        while true {
            guard i < u.count else { throw fail("unexpected end inside <\(stack.last?.rawName ?? "")>") }
            if u[i] == UInt8(ascii: "<") {
                if starts("<!--") {
                    _ = try skip(past: "-->", what: "comment")
                } else if starts("<![CDATA[") {
                    guard !stack.isEmpty else { throw fail("CDATA outside an element") }
                    i += 9
                    let r = try skip(past: "]]>", what: "CDATA section")
                    text[text.count - 1] += u[r]
                } else if starts("<?") {
                    _ = try skip(past: "?>", what: "processing instruction")
                } else if starts("<!") {
                    throw fail("declarations are not accepted inside an element")
                } else if starts("</") {
                    i += 2
                    guard let open = stack.popLast() else { throw fail("end tag without a start tag") }
                    let n = try name()
                    guard n == open.rawName else { throw fail("</\(n)> closes <\(open.rawName)>") }
                    skipSpace()
                    guard i < u.count, u[i] == UInt8(ascii: ">") else { throw fail("expected > after </\(n)") }
                    i += 1
                    var done = open.element
                    done.text = String(decoding: text.removeLast(), as: UTF8.self)
                    if stack.isEmpty { return done }
                    stack[stack.count - 1].element.children.append(done)
                } else {
                    i += 1
                    let n = try name()
                    elements += 1
                    guard elements <= XMLElement.maxElements else {
                        throw AWSFormatError(.tooLarge, source: source, "XML with more than \(XMLElement.maxElements) elements")
                    }
                    guard stack.count < XMLElement.maxDepth else {
                        throw AWSFormatError(.tooLarge, source: source, "XML nested deeper than \(XMLElement.maxDepth)")
                    }
                    let empty = try attributes()
                    let e = XMLElement(name: n, text: "", children: [])
                    if empty {
                        if stack.isEmpty { return e }
                        stack[stack.count - 1].element.children.append(e)
                    } else {
                        stack.append((e, n))
                        text.append([])
                    }
                }
            } else {
                guard !stack.isEmpty else { throw fail("text outside an element") }
                let start = i
                while i < u.count, u[i] != UInt8(ascii: "<") { i += 1 }
                text[text.count - 1] += try decodeEntities(start..<i)
            }
        }
    }

    /// Skips attributes up to `>` or `/>`; true for an empty-element tag.
    mutating func attributes() throws(AWSFormatError) -> Bool {
        while true {
            skipSpace()
            guard i < u.count else { throw fail("unterminated start tag") }
            if u[i] == UInt8(ascii: ">") {
                i += 1
                return false
            }
            if starts("/>") {
                i += 2
                return true
            }
            _ = try name()
            skipSpace()
            guard i < u.count, u[i] == UInt8(ascii: "=") else { throw fail("attribute without =") }
            i += 1
            skipSpace()
            guard i < u.count, u[i] == UInt8(ascii: "\"") || u[i] == UInt8(ascii: "'") else { throw fail("unquoted attribute value") }
            let q = u[i]
            i += 1
            while i < u.count, u[i] != q {
                guard u[i] != UInt8(ascii: "<") else { throw fail("< in an attribute value") }
                i += 1
            }
            guard i < u.count else { throw fail("unterminated attribute value") }
            i += 1
        }
    }

    func decodeEntities(_ r: Range<Int>) throws(AWSFormatError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(r.count)
        var j = r.lowerBound
        while j < r.upperBound {
            let b = u[j]
            guard b == UInt8(ascii: "&") else {
                out.append(b)
                j += 1
                continue
            }
            var k = j + 1
            while k < r.upperBound, u[k] != UInt8(ascii: ";"), k - j <= 12 { k += 1 }
            guard k < r.upperBound, u[k] == UInt8(ascii: ";") else { throw fail("unterminated entity") }
            let ent = String(decoding: u[(j + 1)..<k], as: UTF8.self)
            switch ent {
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "amp": out.append(UInt8(ascii: "&"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                var v: UInt32?
                if ent.hasPrefix("#x") || ent.hasPrefix("#X") {
                    v = UInt32(ent.dropFirst(2), radix: 16)
                } else if ent.hasPrefix("#") {
                    v = UInt32(ent.dropFirst(), radix: 10)
                }
                guard let v, v != 0, let scalar = Unicode.Scalar(v) else { throw fail("unknown entity &\(ent);") }
                out += Array(String(Character(scalar)).utf8)
            }
            j = k + 1
        }
        return out
    }
}
