/// A read-only view of one JSON value's bytes: finds fields by path without building a tree.
///
/// CloudTrail records are read many times (store, filter patterns, rules) but each reader needs a
/// few fields; walking the bytes on demand is several times faster than decoding the record.
public struct RawJSON: @unchecked Sendable {
    /// The bytes of the value; valid only while the caller keeps them alive.
    public let bytes: UnsafeRawBufferPointer

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// One step of a path: an object key or an array index.
    public enum PathStep: Sendable, Hashable {
        case key([UInt8])
        case index(Int)

        public static func key(_ s: String) -> PathStep { .key(Array(s.utf8)) }
    }

    /// A value located in the bytes.
    public enum Value: Sendable, Equatable {
        /// A string; `range` excludes the quotes; `escaped` when it holds backslash escapes.
        case string(Range<Int>, escaped: Bool)
        case number(Range<Int>)
        case bool(Bool)
        case null
        case object(Range<Int>)
        case array(Range<Int>)
    }

    // MARK: Scanning primitives

    @inline(__always) func skipSpace(_ i: Int) -> Int {
        var i = i
        while i < bytes.count {
            let b = bytes[i]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { break }
            i += 1
        }
        return i
    }

    /// Scans the string starting at the quote at `i`; returns the index after the closing quote.
    @inline(__always) func endOfString(_ i: Int) -> (end: Int, escaped: Bool)? {
        var j = i + 1
        var escaped = false
        while j < bytes.count {
            let b = bytes[j]
            if b == 0x5C {
                escaped = true
                j += 2
                continue
            }
            if b == 0x22 { return (j + 1, escaped) }
            if b < 0x20 { return nil }
            j += 1
        }
        return nil
    }

    /// Parses the value starting at `i` (after white space); returns it and the index after it.
    func value(at i0: Int) -> (Value, Int)? {
        let i = skipSpace(i0)
        guard i < bytes.count else { return nil }
        switch bytes[i] {
        case 0x22:
            guard let (e, esc) = endOfString(i) else { return nil }
            return (.string((i + 1)..<(e - 1), escaped: esc), e)
        case 0x7B, 0x5B:
            guard let e = endOfContainer(i) else { return nil }
            return (bytes[i] == 0x7B ? .object(i..<e) : .array(i..<e), e)
        case 0x74:
            return matchLiteral(i, "true") ? (.bool(true), i + 4) : nil
        case 0x66:
            return matchLiteral(i, "false") ? (.bool(false), i + 5) : nil
        case 0x6E:
            return matchLiteral(i, "null") ? (.null, i + 4) : nil
        default:
            var j = i
            while j < bytes.count {
                let b = bytes[j]
                guard (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2B || b == 0x2E || b == 0x65 || b == 0x45 else { break }
                j += 1
            }
            return j > i ? (.number(i..<j), j) : nil
        }
    }

    func matchLiteral(_ i: Int, _ lit: StaticString) -> Bool {
        let n = lit.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        let p = lit.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { return false }
        return true
    }

    /// Index after the object or array starting at `i`, checking nesting and strings only.
    func endOfContainer(_ i: Int) -> Int? {
        var depth = 0
        var j = i
        let n = bytes.count
        while j < n {
            let b = bytes[j]
            if b == 0x22 {
                // Tight scan of the string body.
                j += 1
                while j < n {
                    let c = bytes[j]
                    if c == 0x22 { break }
                    j += c == 0x5C ? 2 : 1
                }
                guard j < n else { return nil }
                j += 1
                continue
            }
            if b == 0x7B || b == 0x5B {
                depth += 1
            } else if b == 0x7D || b == 0x5D {
                depth -= 1
                if depth == 0 { return j + 1 }
            }
            j += 1
        }
        return nil
    }

    // MARK: Lookup

    /// The value of the whole buffer. An object is taken to span the buffer (the splitter has
    /// checked its bounds), which spares a scan of the whole record per lookup.
    public var root: Value? {
        let i = skipSpace(0)
        guard i < bytes.count else { return nil }
        if bytes[i] == 0x7B {
            var e = bytes.count
            while e > i + 1, bytes[e - 1] != 0x7D { e -= 1 }
            return bytes[e - 1] == 0x7D ? .object(i..<e) : nil
        }
        return value(at: 0)?.0
    }

    /// Calls `body` for each member of the object `obj` with the key's raw range and its value.
    /// Returns false if the object is malformed. `body` returns false to stop early.
    @discardableResult
    public func forEachMember(of obj: Range<Int>, _ body: (Range<Int>, Bool, Value) -> Bool) -> Bool {
        var i = skipSpace(obj.lowerBound + 1)
        guard i < obj.upperBound else { return false }
        if bytes[i] == 0x7D { return true }
        while i < obj.upperBound {
            guard bytes[i] == 0x22, let (ke, kesc) = endOfString(i) else { return false }
            let key = (i + 1)..<(ke - 1)
            i = skipSpace(ke)
            guard i < obj.upperBound, bytes[i] == 0x3A, let (v, ve) = value(at: i + 1) else { return false }
            if !body(key, kesc, v) { return true }
            i = skipSpace(ve)
            guard i < obj.upperBound else { return false }
            if bytes[i] == 0x2C {
                i = skipSpace(i + 1)
                continue
            }
            return bytes[i] == 0x7D
        }
        return false
    }

    /// The `index`-th element of the array `arr`.
    public func element(of arr: Range<Int>, at index: Int) -> Value? {
        var i = skipSpace(arr.lowerBound + 1)
        guard i < arr.upperBound, bytes[i] != 0x5D else { return nil }
        var k = 0
        while i < arr.upperBound {
            guard let (v, ve) = value(at: i) else { return nil }
            if k == index { return v }
            k += 1
            i = skipSpace(ve)
            guard i < arr.upperBound, bytes[i] == 0x2C else { return nil }
            i += 1
        }
        return nil
    }

    /// Calls `body` for every element of the array `arr`.
    public func forEachElement(of arr: Range<Int>, _ body: (Value) -> Void) {
        var i = skipSpace(arr.lowerBound + 1)
        guard i < arr.upperBound, bytes[i] != 0x5D else { return }
        while i < arr.upperBound {
            guard let (v, ve) = value(at: i) else { return }
            body(v)
            i = skipSpace(ve)
            guard i < arr.upperBound, bytes[i] == 0x2C else { return }
            i += 1
        }
    }

    /// True when the key at `range` equals `key` (decoding escapes if any).
    public func keyEquals(_ range: Range<Int>, escaped: Bool, _ key: [UInt8]) -> Bool {
        if escaped { return Array(decodeString(range).utf8) == key }
        guard range.count == key.count else { return false }
        var k = 0
        for i in range {
            if bytes[i] != key[k] { return false }
            k += 1
        }
        return true
    }

    /// Follows `path` from the root; nil when any step is missing.
    public func lookup(_ path: [PathStep]) -> Value? {
        guard var current = root else { return nil }
        for step in path {
            switch (step, current) {
            case (.key(let key), .object(let r)):
                var found: Value? = nil
                forEachMember(of: r) { k, esc, v in
                    if keyEquals(k, escaped: esc, key) {
                        found = v
                        return false
                    }
                    return true
                }
                guard let f = found else { return nil }
                current = f
            case (.index(let n), .array(let r)):
                guard let e = element(of: r, at: n) else { return nil }
                current = e
            default:
                return nil
            }
        }
        return current
    }

    /// Reads several top-level keys in one pass over the object (first occurrence of each).
    public func topLevel(_ keys: [[UInt8]]) -> [Value?]? {
        guard case .object(let r)? = root else { return nil }
        var out = [Value?](repeating: nil, count: keys.count)
        var remaining = keys.count
        let ok = forEachMember(of: r) { k, esc, v in
            for (n, key) in keys.enumerated() where out[n] == nil && keyEquals(k, escaped: esc, key) {
                out[n] = v
                remaining -= 1
                break
            }
            return remaining > 0
        }
        return ok ? out : nil
    }

    /// The value a splitter-noted member stands for.
    public func value(of m: TopMember) -> Value? {
        switch m.kind {
        case .string: return .string((m.value.lowerBound + 1)..<(m.value.upperBound - 1), escaped: m.escapedValue)
        case .object: return .object(m.value)
        case .array: return .array(m.value)
        case .bare:
            guard let first = m.value.first.map({ bytes[$0] }) else { return nil }
            switch first {
            case 0x74: return .bool(true)
            case 0x66: return .bool(false)
            case 0x6E: return .null
            default: return .number(m.value)
            }
        }
    }

    // MARK: Values

    /// The raw bytes of a range.
    public func slice(_ r: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[r]) }

    /// Decodes a string's escapes (`\n`, `\uXXXX` with surrogate pairs, …).
    public func decodeString(_ r: Range<Int>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(r.count)
        var i = r.lowerBound
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= r.upperBound else { return nil }
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                guard let d = Base16.digit(bytes[k]) else { return nil }
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while i < r.upperBound {
            let b = bytes[i]
            guard b == 0x5C, i + 1 < r.upperBound else {
                out.append(b)
                i += 1
                continue
            }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case 0x6E: out.append(0x0A)
            case 0x74: out.append(0x09)
            case 0x72: out.append(0x0D)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x75:
                guard var cp = hex4(i) else { continue }
                i += 4
                if (0xD800..<0xDC00).contains(cp), i + 6 <= r.upperBound, bytes[i] == 0x5C, bytes[i + 1] == 0x75,
                    let lo = hex4(i + 2), (0xDC00..<0xE000).contains(lo)
                {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    i += 6
                }
                let scalar = Unicode.Scalar(cp) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The string value of `v` (decoded), or nil when `v` is not a string.
    public func string(_ v: Value?) -> String? {
        guard case .string(let r, let esc)? = v else { return nil }
        return esc ? decodeString(r) : String(decoding: slice(r), as: UTF8.self)
    }

    /// The number value of `v` as a Double, or nil when `v` is not a number.
    public func number(_ v: Value?) -> Double? {
        guard case .number(let r)? = v else { return nil }
        return Double(String(decoding: slice(r), as: UTF8.self))
    }
}

extension RawJSON {
    /// Calls `body` with a view of `bytes`.
    public static func with<R>(_ bytes: [UInt8], _ body: (RawJSON) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body(RawJSON($0)) }
    }
}
