/// The regular expressions CloudWatch allows inside `%…%` (reference §F.2): no groups, ASCII only.
///
/// A small backtracking matcher keeps evaluation allocation-free and independent of Foundation.
struct RegexMatcher: Sendable {
    indirect enum Atom: Sendable {
        case literal(UInt8)
        case any
        case set([ClosedRange<UInt8>], negated: Bool)
        case start, end
    }
    struct Piece: Sendable {
        var atom: Atom
        var min: Int
        var max: Int  // Int.max for unbounded
    }
    /// Alternatives (`|`), each a sequence of pieces.
    let alternatives: [[Piece]]

    static let allowedSymbols = Set(":_#=@/;,-^$?[]{}|\\*+. ".utf8)

    init(_ source: String, offset: Int) throws(FilterPattern.ParseError) {
        let b = Array(source.utf8)
        for (i, c) in b.enumerated() {
            let ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || Self.allowedSymbols.contains(c)
            guard ok else {
                throw FilterPattern.ParseError(
                    message: "character '\(Character(Unicode.Scalar(c)))' is not allowed in a CloudWatch regular expression",
                    offset: offset + i)
            }
        }
        var alts: [[Piece]] = [[]]
        var i = 0
        func fail(_ m: String) -> FilterPattern.ParseError { .init(message: m, offset: offset + i) }
        while i < b.count {
            let c = b[i]
            var atom: Atom
            switch c {
            case UInt8(ascii: "|"):
                alts.append([])
                i += 1
                continue
            case UInt8(ascii: "."): atom = .any
            case UInt8(ascii: "^"): atom = .start
            case UInt8(ascii: "$"): atom = .end
            case UInt8(ascii: "\\"):
                i += 1
                guard i < b.count else { throw fail("trailing backslash") }
                switch b[i] {
                case UInt8(ascii: "d"): atom = .set([0x30...0x39], negated: false)
                case UInt8(ascii: "w"): atom = .set([0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F...0x5F], negated: false)
                case UInt8(ascii: "s"): atom = .set([0x20...0x20, 0x09...0x0D], negated: false)
                default: atom = .literal(b[i])
                }
            case UInt8(ascii: "["):
                i += 1
                var negated = false
                if i < b.count, b[i] == UInt8(ascii: "^") {
                    negated = true
                    i += 1
                }
                var ranges: [ClosedRange<UInt8>] = []
                while i < b.count, b[i] != UInt8(ascii: "]") {
                    var lo = b[i]
                    if lo == UInt8(ascii: "\\"), i + 1 < b.count {
                        i += 1
                        lo = b[i]
                    }
                    if i + 2 < b.count, b[i + 1] == UInt8(ascii: "-"), b[i + 2] != UInt8(ascii: "]") {
                        let hi = b[i + 2]
                        guard lo <= hi else { throw fail("bad range in [ ]") }
                        ranges.append(lo...hi)
                        i += 3
                    } else {
                        ranges.append(lo...lo)
                        i += 1
                    }
                }
                guard i < b.count else { throw fail("unclosed [") }
                atom = .set(ranges, negated: negated)
            case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{"):
                throw fail("quantifier with nothing to repeat")
            default: atom = .literal(c)
            }
            i += 1
            var piece = Piece(atom: atom, min: 1, max: 1)
            if i < b.count {
                switch b[i] {
                case UInt8(ascii: "*"): piece.min = 0; piece.max = .max; i += 1
                case UInt8(ascii: "+"): piece.min = 1; piece.max = .max; i += 1
                case UInt8(ascii: "?"): piece.min = 0; piece.max = 1; i += 1
                case UInt8(ascii: "{"):
                    var j = i + 1
                    var lo = 0
                    var hi: Int? = nil
                    var sawComma = false
                    var digits = 0
                    while j < b.count, b[j] != UInt8(ascii: "}") {
                        if b[j] == UInt8(ascii: ",") {
                            sawComma = true
                            hi = 0
                            digits = 0
                        } else if b[j] >= 0x30 && b[j] <= 0x39 {
                            digits += 1
                            // Saturating: a count past the limit is reported below, never an overflow.
                            let cap = FilterPattern.Limits.repetition + 1
                            if sawComma { hi = min(hi! * 10 + Int(b[j] - 0x30), cap) } else { lo = min(lo * 10 + Int(b[j] - 0x30), cap) }
                        } else {
                            throw fail("bad {m,n} quantifier")
                        }
                        j += 1
                    }
                    guard j < b.count else { throw fail("unclosed {") }
                    let upper = sawComma ? (digits == 0 ? nil : hi!) : lo
                    guard lo <= FilterPattern.Limits.repetition, (upper ?? 0) <= FilterPattern.Limits.repetition else {
                        throw fail("repetition count above \(FilterPattern.Limits.repetition)")
                    }
                    guard lo <= upper ?? .max else { throw fail("bad {m,n} quantifier: m is larger than n") }
                    piece.min = lo
                    piece.max = upper ?? .max
                    i = j + 1
                default: break
                }
            }
            alts[alts.count - 1].append(piece)
        }
        alternatives = alts
    }

    /// True when the expression matches anywhere in `s` (unanchored unless `^`/`$` are used).
    func search(_ s: String) -> Bool {
        let u = Array(s.utf8)
        for alt in alternatives {
            for start in 0...u.count where Self.match(alt, 0, u, start) { return true }
        }
        return false
    }

    static func atomMatches(_ a: Atom, _ c: UInt8) -> Bool {
        switch a {
        case .literal(let l): return l == c
        case .any: return c != 0x0A
        case .set(let ranges, let negated): return ranges.contains { $0.contains(c) } != negated
        case .start, .end: return false
        }
    }

    static func match(_ pieces: [Piece], _ k: Int, _ u: [UInt8], _ i: Int) -> Bool {
        guard k < pieces.count else { return true }
        let p = pieces[k]
        switch p.atom {
        case .start: return i == 0 && match(pieces, k + 1, u, i)
        case .end: return i == u.count && match(pieces, k + 1, u, i)
        default: break
        }
        var n = 0
        var j = i
        while n < p.min {
            guard j < u.count, atomMatches(p.atom, u[j]) else { return false }
            j += 1
            n += 1
        }
        // Greedy with backtracking.
        var ends = [j]
        while n < p.max, j < u.count, atomMatches(p.atom, u[j]) {
            j += 1
            n += 1
            ends.append(j)
        }
        for e in ends.reversed() where match(pieces, k + 1, u, e) { return true }
        return false
    }
}
