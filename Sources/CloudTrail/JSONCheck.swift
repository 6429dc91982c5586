/// Checks that bytes are exactly one JSON value (RFC 8259), and whether its strings are UTF-8.
///
/// The splitter only tracks strings and nesting to find record boundaries; this is the strict
/// check of each record it emits (run while the record is still in cache), and the test every
/// writer uses before embedding a record as JSON rather than as a string.
public enum JSONCheck {
    /// Where and why bytes are not JSON.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// Offset of the offending byte, from the start of the checked bytes.
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// The outcome of a check.
    public struct Result: Sendable, Equatable {
        /// nil when the bytes are one JSON value (with optional white space around it).
        public var problem: Problem?
        /// True when a string holds bytes that are not UTF-8 (the value is otherwise checked as JSON).
        public var nonUTF8: Bool
        public var isValid: Bool { problem == nil }
    }

    /// Checks `p`; memory is constant up to 64 levels of nesting.
    public static func check(_ p: UnsafeRawBufferPointer) -> Result {
        var c = Checker(p: p)
        let problem = c.run()
        return Result(problem: problem, nonUTF8: c.nonUTF8)
    }

    /// Checks `bytes` (see ``check(_:)-(UnsafeRawBufferPointer)``).
    public static func check(_ bytes: some Collection<UInt8>) -> Result {
        if let r = bytes.withContiguousStorageIfAvailable({ check(UnsafeRawBufferPointer($0)) }) { return r }
        return Array(bytes).withUnsafeBytes { check($0) }
    }
}

private struct Checker {
    let p: UnsafeRawBufferPointer
    var i = 0
    var nonUTF8 = false
    /// Container kinds of the open levels (bit set: array), the first 64 in `bits`.
    var depth = 0
    var bits: UInt64 = 0
    var deep: [Bool] = []

    init(p: UnsafeRawBufferPointer) { self.p = p }

    func fail(_ reason: String, _ at: Int) -> JSONCheck.Problem {
        if at >= p.count { return JSONCheck.Problem(offset: p.count, reason: "\(reason): the value ends early") }
        return JSONCheck.Problem(offset: at, reason: "\(reason), found \(RecordSplitter.show(p[at]))")
    }

    @inline(__always) mutating func skipSpace() {
        while i < p.count, RecordSplitter.isSpace(p[i]) { i += 1 }
    }

    mutating func push(array: Bool) {
        if depth < 64 {
            if array { bits |= 1 << UInt64(depth) } else { bits &= ~(1 << UInt64(depth)) }
        } else {
            deep.append(array)
        }
        depth += 1
    }

    var topIsArray: Bool { depth <= 64 ? bits & (1 << UInt64(depth - 1)) != 0 : deep[depth - 65] }

    mutating func pop() {
        depth -= 1
        if depth >= 64 { deep.removeLast() }
    }

    mutating func run() -> JSONCheck.Problem? {
        skipSpace()
        while true {
            // A value.
            guard i < p.count else { return fail("expected a value", i) }
            switch p[i] {
            case 0x7B:
                push(array: false)
                i += 1
                skipSpace()
                if i < p.count, p[i] == 0x7D {
                    i += 1
                    pop()
                } else {
                    if let e = key() { return e }
                    continue
                }
            case 0x5B:
                push(array: true)
                i += 1
                skipSpace()
                if i < p.count, p[i] == 0x5D {
                    i += 1
                    pop()
                } else {
                    continue
                }
            case 0x22:
                if let e = string() { return e }
            case 0x74:
                if let e = literal("true") { return e }
            case 0x66:
                if let e = literal("false") { return e }
            case 0x6E:
                if let e = literal("null") { return e }
            case 0x2D, 0x30...0x39:
                if let e = number() { return e }
            default:
                return fail("expected a value", i)
            }
            // After a value: close containers, or go on to the next member or element.
            while true {
                skipSpace()
                if depth == 0 { return i == p.count ? nil : fail("expected the end of the value", i) }
                guard i < p.count else { return fail("expected ',' or a closing bracket", i) }
                let b = p[i]
                let array = topIsArray
                if b == 0x2C {
                    i += 1
                    skipSpace()
                    if !array, let e = key() { return e }
                    break
                }
                guard b == (array ? 0x5D : 0x7D) else {
                    return fail(array ? "expected ',' or ']'" : "expected ',' or '}'", i)
                }
                i += 1
                pop()
            }
        }
    }

    /// A member's key and its colon, leaving `i` at the value.
    mutating func key() -> JSONCheck.Problem? {
        guard i < p.count, p[i] == 0x22 else { return fail("expected a key", i) }
        if let e = string() { return e }
        skipSpace()
        guard i < p.count, p[i] == 0x3A else { return fail("expected ':' after a key", i) }
        i += 1
        skipSpace()
        return nil
    }

    mutating func literal(_ word: StaticString) -> JSONCheck.Problem? {
        let n = word.utf8CodeUnitCount
        guard i + n <= p.count else { return fail("expected \(word)", p.count) }
        for k in 0..<n where p[i + k] != word.utf8Start[k] { return fail("expected \(word)", i + k) }
        i += n
        return nil
    }

    mutating func digits() -> Bool {
        let start = i
        while i < p.count, p[i] >= 0x30, p[i] <= 0x39 { i += 1 }
        return i > start
    }

    mutating func number() -> JSONCheck.Problem? {
        if p[i] == 0x2D { i += 1 }
        guard i < p.count, p[i] >= 0x30, p[i] <= 0x39 else { return fail("expected a digit", i) }
        if p[i] == 0x30 { i += 1 } else { _ = digits() }
        if i < p.count, p[i] == 0x2E {
            i += 1
            guard digits() else { return fail("expected a digit after '.'", i) }
        }
        if i < p.count, p[i] == 0x65 || p[i] == 0x45 {
            i += 1
            if i < p.count, p[i] == 0x2B || p[i] == 0x2D { i += 1 }
            guard digits() else { return fail("expected a digit in the exponent", i) }
        }
        return nil
    }

    /// The string at the quote at `i` (inlined: records are mostly short strings): escapes must be JSON's, control characters escaped; bytes
    /// that are not UTF-8 set `nonUTF8` and are skipped one at a time.
    @inline(__always) mutating func string() -> JSONCheck.Problem? {
        // A local index: `self` lives in memory, and this loop is most of the work.
        var j = i + 1
        defer { i = j }
        let n = p.count
        while true {
            j = JSONCheck.skipPlain(p, from: j, to: n)
            while j < n, JSONCheck.isPlain(p[j]) { j += 1 }
            guard j < n else { return fail("unterminated string", n) }
            let b = p[j]
            if b == 0x22 {
                j += 1
                return nil
            }
            if b == 0x5C {
                guard j + 1 < n else { return fail("unterminated string", n) }
                switch p[j + 1] {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74:
                    j += 2
                case 0x75:
                    for k in 2..<6 {
                        guard j + k < n else { return fail("unterminated string", n) }
                        guard Base16.digit(p[j + k]) != nil else {
                            return fail("expected 4 hex digits after \\u", j + k)
                        }
                    }
                    j += 6
                default:
                    return fail("invalid escape", j + 1)
                }
            } else if b < 0x20 {
                return fail("control character not escaped in a string", j)
            } else if b < 0x80 {
                j += 1
            } else {
                let len = JSONCheck.utf8Length(p, at: j, to: n)
                if len == 0 {
                    nonUTF8 = true
                    j += 1
                } else {
                    j += len
                }
            }
        }
    }

}

extension JSONCheck {
    /// The first index from `j` (before `n`) whose 8-byte word holds a quote, backslash, control
    /// character or non-ASCII byte, at that byte; or the start of the last partial word, for the
    /// caller's byte loop. String bodies are most of a record's bytes.
    @inline(__always) static func skipPlain(_ p: UnsafeRawBufferPointer, from j: Int, to n: Int) -> Int {
        var j = j
        while j <= n &- 8 {
            let special = specialBytes(p.baseAddress.unsafelyUnwrapped, at: j)
            if special != 0 { return j &+ special.trailingZeroBitCount &>> 3 }
            j &+= 8
        }
        return j
    }

    /// The 8 bytes at `j` with the high bit of each quote, backslash, control character or
    /// non-ASCII byte set, and maybe of bytes after the first of them (a false flag needs a
    /// borrow from a real one below it): the lowest set bit is the first such byte's.
    @inline(__always) static func specialBytes(_ p: UnsafeRawPointer, at j: Int) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let x = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: j, as: UInt64.self))
        let quote = x ^ (ones &* 0x22)
        let slash = x ^ (ones &* 0x5C)
        return (((quote &- ones) & ~quote) | ((slash &- ones) & ~slash) | (x &- ones &* 0x20) | x) & high
    }

    /// True for a byte a string holds as is: not a quote, backslash, control character or non-ASCII.
    @inline(__always) static func isPlain(_ b: UInt8) -> Bool { b >= 0x20 && b < 0x80 && b != 0x22 && b != 0x5C }

    /// The length of the well-formed UTF-8 sequence at `i` (before `n`; Unicode table 3-7), or 0.
    static func utf8Length(_ p: UnsafeRawBufferPointer, at i: Int, to n: Int) -> Int {
        let b = p[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { i + k < n && p[i + k] >= lo && p[i + k] <= hi }
        switch b {
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0
        case 0xE1...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }

    /// Whether `b` is a JSON digit.
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

    /// The end of the number at `i` (RFC 8259: no leading zero, digits after `.` and in an exponent),
    /// or -1 when there is none there before `n`.
    @inline(__always) static func numberEnd(_ p: UnsafeRawBufferPointer, at i: Int, to n: Int) -> Int {
        var i = i
        if p[i] == 0x2D { i += 1 }
        guard i < n, isDigit(p[i]) else { return -1 }
        if p[i] == 0x30 { i += 1 } else { while i < n, isDigit(p[i]) { i += 1 } }
        if i < n, p[i] == 0x2E {
            i += 1
            guard i < n, isDigit(p[i]) else { return -1 }
            while i < n, isDigit(p[i]) { i += 1 }
        }
        if i < n, p[i] | 0x20 == 0x65 {
            i += 1
            if i < n, p[i] == 0x2B || p[i] == 0x2D { i += 1 }
            guard i < n, isDigit(p[i]) else { return -1 }
            while i < n, isDigit(p[i]) { i += 1 }
        }
        return i
    }
}
