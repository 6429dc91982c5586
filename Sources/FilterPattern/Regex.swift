/// The regular expressions CloudWatch Logs filter patterns allow inside `%…%`: no groups, ASCII only.
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
    /// The pieces as NFA states, for matching.
    let program: Program

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
        // Matching time grows with this count (repetitions spelled out).
        let size = alts.joined().reduce(0) { $0 + ($1.max == .max ? $1.min + 1 : $1.max) }
        guard size <= FilterPattern.Limits.regexSize else {
            throw FilterPattern.ParseError(
                message: "the regular expression is too large once its repetitions are spelled out (\(size) steps; at most \(FilterPattern.Limits.regexSize))",
                offset: offset)
        }
        alternatives = alts
        program = Program(alts)
    }

    /// True when the expression matches anywhere in `s` (unanchored unless `^`/`$` are used).
    ///
    /// Runs the expression as an NFA over all start positions at once: time grows with the value's
    /// length times the expression's size, never exponentially (a backtracking matcher took
    /// forever on `a*a*a*a*a*a*a*b` against a long run of `a`, stopping the watch).
    func search(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return program.states.withUnsafeBufferPointer { program.search(u, $0) }
    }

    static func atomMatches(_ a: Atom, _ c: UInt8) -> Bool {
        switch a {
        case .literal(let l): return l == c
        case .any: return c != 0x0A
        case .set(let ranges, let negated): return ranges.contains { $0.contains(c) } != negated
        case .start, .end: return false
        }
    }
}

extension RegexMatcher {
    /// The expression as NFA states: each piece becomes `min` states that must match, then either
    /// one looping state (unbounded) or `max - min` optional ones; `^` and `$` are assertions.
    struct Program: Sendable {
        enum Kind: Sendable { case one, optional, loop, atStart, atEnd }
        struct State: Sendable {
            var atom: Atom
            var kind: Kind
            /// The state that follows, or `accept`.
            var next: Int
        }
        let states: [State]
        /// The first state of each alternative (`accept` for an empty one).
        let starts: [Int]
        var accept: Int { states.count }

        init(_ alternatives: [[Piece]]) {
            var states: [State] = []
            var starts: [Int] = []
            for alt in alternatives {
                starts.append(states.count)
                for p in alt {
                    switch p.atom {
                    case .start: states.append(State(atom: p.atom, kind: .atStart, next: 0))
                    case .end: states.append(State(atom: p.atom, kind: .atEnd, next: 0))
                    default:
                        for _ in 0..<p.min { states.append(State(atom: p.atom, kind: .one, next: 0)) }
                        if p.max == .max {
                            states.append(State(atom: p.atom, kind: .loop, next: 0))
                        } else {
                            for _ in p.min..<p.max { states.append(State(atom: p.atom, kind: .optional, next: 0)) }
                        }
                    }
                }
                // Each state leads to the next one of its alternative; the last one to `accept`.
                let end = states.count
                for k in starts[starts.count - 1]..<end { states[k].next = k + 1 == end ? -1 : k + 1 }
            }
            let accept = states.count
            for k in states.indices where states[k].next < 0 { states[k].next = accept }
            for (n, s) in starts.enumerated() where s == states.count || (n + 1 < starts.count && s == starts[n + 1]) {
                starts[n] = accept  // an empty alternative matches everywhere
            }
            self.states = states
            self.starts = starts
        }

        func search(_ u: [UInt8], _ states: UnsafeBufferPointer<State>) -> Bool {
            let accept = states.count
            if starts.contains(accept) { return true }
            // `seen[k] == generation` when state k is already in the list being built.
            var seen = [Int](repeating: -1, count: accept)
            var current: [Int] = []
            var next: [Int] = []
            var stack: [Int] = []
            var generation = 0
            /// Adds `k` and the states reachable from it without input at position `at`; true on accept.
            func add(_ k: Int, at: Int, to list: inout [Int]) -> Bool {
                stack.append(k)
                while let s = stack.popLast() {
                    if s == accept {
                        stack.removeAll(keepingCapacity: true)
                        return true
                    }
                    if seen[s] == generation { continue }
                    seen[s] = generation
                    let st = states[s]
                    switch st.kind {
                    case .one: list.append(s)
                    case .optional, .loop:
                        list.append(s)
                        stack.append(st.next)
                    case .atStart: if at == 0 { stack.append(st.next) }
                    case .atEnd: if at == u.count { stack.append(st.next) }
                    }
                }
                return false
            }
            for s in starts where add(s, at: 0, to: &current) { return true }
            for (i, c) in u.enumerated() {
                generation += 1
                next.removeAll(keepingCapacity: true)
                for s in current {
                    let st = states[s]
                    guard RegexMatcher.atomMatches(st.atom, c) else { continue }
                    if add(st.kind == .loop ? s : st.next, at: i + 1, to: &next) { return true }
                }
                // Unanchored: a match may also start after this byte.
                for s in starts where add(s, at: i + 1, to: &next) { return true }
                swap(&current, &next)
            }
            return false
        }
    }
}
