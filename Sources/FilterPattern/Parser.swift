import CloudTrail

/// Recursive-descent parser for filter patterns; positions are character offsets for error messages.
struct Parser {
    let s: [Unicode.Scalar]
    var i = 0
    var selectors: [[RawJSON.PathStep]] = []
    var selectorIndex: [[RawJSON.PathStep]: Int] = [:]
    /// Parentheses open around the current position (bounded: the parser recurses per level).
    var depth = 0

    init(_ s: [Unicode.Scalar]) { self.s = s }

    func error(_ m: String, at: Int? = nil) -> FilterPattern.ParseError { .init(message: m, offset: at ?? i) }

    var atEnd: Bool { i >= s.count }
    var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }

    mutating func skipSpace() {
        while let c = peek, c == " " || c == "\t" || c == "\n" || c == "\r" { i += 1 }
    }

    mutating func eat(_ lit: String) -> Bool {
        let l = Array(lit.unicodeScalars)
        guard i + l.count <= s.count, Array(s[i..<(i + l.count)]) == l else { return false }
        i += l.count
        return true
    }

    /// Case-insensitive keyword followed by a non-identifier character.
    mutating func eatKeyword(_ kw: String) -> Bool {
        let l = Array(kw.unicodeScalars)
        guard i + l.count <= s.count else { return false }
        for (k, c) in l.enumerated() where String(s[i + k]).uppercased() != String(c) { return false }
        if i + l.count < s.count, isWordChar(s[i + l.count]) { return false }
        i += l.count
        return true
    }

    func isWordChar(_ c: Unicode.Scalar) -> Bool {
        (c >= "0" && c <= "9") || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || c == "-"
    }

    // MARK: Terms

    mutating func parseTerms() throws(FilterPattern.ParseError) -> FilterPattern.Kind {
        var required: [Term] = []
        var optional: [Term] = []
        var excluded: [Term] = []
        while true {
            skipSpace()
            guard let c = peek else { break }
            var bucket = 0
            if c == "?" {
                bucket = 1
                i += 1
            } else if c == "-" {
                bucket = 2
                i += 1
            }
            let term = try parseTerm()
            switch bucket {
            case 1: optional.append(term)
            case 2: excluded.append(term)
            default: required.append(term)
            }
        }
        if required.isEmpty && optional.isEmpty && excluded.isEmpty { return .all }
        return .terms(required: required, optional: optional, excluded: excluded)
    }

    mutating func parseTerm() throws(FilterPattern.ParseError) -> Term {
        guard let c = peek else { throw error("expected a term") }
        if c == "\"" {
            return Term(kind: .literal(Array(try parseQuoted().utf8)))
        }
        if c == "%" { return Term(kind: .regex(try parseRegexLiteral())) }
        var word = ""
        while let d = peek, d != " ", d != "\t", d != "\n" {
            word.unicodeScalars.append(d)
            i += 1
        }
        guard !word.isEmpty else { throw error("expected a term") }
        return Term(kind: .literal(Array(word.utf8)))
    }

    /// `%…%` at the current position.
    mutating func parseRegexLiteral() throws(FilterPattern.ParseError) -> RegexMatcher {
        let start = i
        i += 1
        var body = ""
        while let d = peek, d != "%" {
            body.unicodeScalars.append(d)
            i += 1
        }
        guard eat("%") else { throw error("unclosed %regex%", at: start) }
        return try RegexMatcher(body, offset: start + 1)
    }

    mutating func parseQuoted() throws(FilterPattern.ParseError) -> String {
        let start = i
        i += 1
        var out = ""
        while let c = peek {
            i += 1
            if c == "\\", let n = peek {
                out.unicodeScalars.append(n)
                i += 1
                continue
            }
            if c == "\"" { return out }
            out.unicodeScalars.append(c)
        }
        throw error("unclosed quote", at: start)
    }

    // MARK: JSON

    mutating func parseJSONPattern() throws(FilterPattern.ParseError) -> FilterPattern.Kind {
        skipSpace()
        guard eat("{") else { throw error("expected '{'") }
        let node = try parseOr()
        skipSpace()
        guard eat("}") else { throw error(atEnd ? "missing closing '}'" : "expected '&&', '||' or '}'") }
        skipSpace()
        guard atEnd else { throw error("unexpected text after '}'") }
        return .json(node, selectors: selectors)
    }

    mutating func parseOr() throws(FilterPattern.ParseError) -> Node {
        var nodes = [try parseAnd()]
        while true {
            skipSpace()
            guard eat("||") else { break }
            nodes.append(try parseAnd())
        }
        return nodes.count == 1 ? nodes[0] : .or(nodes)
    }

    mutating func parseAnd() throws(FilterPattern.ParseError) -> Node {
        var nodes = [try parseUnary()]
        while true {
            skipSpace()
            guard eat("&&") else { break }
            nodes.append(try parseUnary())
        }
        return nodes.count == 1 ? nodes[0] : .and(nodes)
    }

    mutating func parseUnary() throws(FilterPattern.ParseError) -> Node {
        skipSpace()
        if eat("(") {
            guard depth < FilterPattern.Limits.nesting else {
                throw error("parentheses nest deeper than \(FilterPattern.Limits.nesting) levels", at: i - 1)
            }
            depth += 1
            let n = try parseOr()
            depth -= 1
            skipSpace()
            guard eat(")") else { throw error("expected ')'") }
            return n
        }
        return try parseCondition()
    }

    mutating func parseSelector() throws(FilterPattern.ParseError) -> Int {
        guard eat("$") else { throw error("expected a selector such as $.eventName") }
        var steps: [RawJSON.PathStep] = []
        while let c = peek {
            if c == "." {
                i += 1
                var name = ""
                while let d = peek, isWordChar(d) || d == "@" || d == ":" {
                    name.unicodeScalars.append(d)
                    i += 1
                }
                guard !name.isEmpty else { throw error("expected a property name after '.'") }
                steps.append(.key(name))
            } else if c == "[" {
                i += 1
                let start = i
                var n = 0
                var digits = 0
                while let d = peek, d >= "0" && d <= "9" {
                    // Saturates: anything past the limit is reported below, never an overflow.
                    n = min(n * 10 + Int(d.value - 48), FilterPattern.Limits.arrayIndex + 1)
                    digits += 1
                    i += 1
                }
                guard digits > 0, eat("]") else { throw error("expected an array index like [0]") }
                guard n <= FilterPattern.Limits.arrayIndex else {
                    throw error("array index too large (at most \(FilterPattern.Limits.arrayIndex))", at: start)
                }
                steps.append(.index(n))
            } else {
                break
            }
        }
        guard !steps.isEmpty else { throw error("a selector needs at least one property, e.g. $.eventName") }
        if let k = selectorIndex[steps] { return k }
        selectors.append(steps)
        selectorIndex[steps] = selectors.count - 1
        return selectors.count - 1
    }

    mutating func parseCondition() throws(FilterPattern.ParseError) -> Node {
        skipSpace()
        let sel = try parseSelector()
        skipSpace()
        if eatKeyword("IS") {
            skipSpace()
            if eatKeyword("NULL") { return .condition(selector: sel, .isNull) }
            if eatKeyword("TRUE") { return .condition(selector: sel, .isTrue) }
            if eatKeyword("FALSE") { return .condition(selector: sel, .isFalse) }
            throw error("expected NULL, TRUE or FALSE after IS (IS NOT is not supported)")
        }
        if eatKeyword("NOT") {
            skipSpace()
            guard eatKeyword("EXISTS") else { throw error("expected EXISTS after NOT") }
            return .condition(selector: sel, .notExists)
        }
        let opStart = i
        let op: Comparison
        if eat("!=") { op = .ne } else if eat("<=") { op = .le } else if eat(">=") { op = .ge }
        else if eat("=") { op = .eq } else if eat("<") { op = .lt } else if eat(">") { op = .gt }
        else { throw error("expected an operator (=, !=, <, >, <=, >=, IS, NOT EXISTS)") }
        if peek == "=" { throw error("use a single '=' to compare") }
        skipSpace()
        guard let c = peek else { throw error("expected a value") }
        if c == "\"" {
            let text = try parseQuoted()
            guard op == .eq || op == .ne else {
                if let d = Double(text) { return .condition(selector: sel, .compareNumber(op, d, text: Array(text.utf8))) }
                throw error("'\(op.rawValue)' needs a number", at: opStart)
            }
            return .condition(selector: sel, .compareString(op, Glob(Array(text.utf8))))
        }
        if c == "%" {
            let regex = try parseRegexLiteral()
            guard op == .eq || op == .ne else { throw error("a regular expression takes = or != only", at: opStart) }
            return .condition(selector: sel, .regex(op, regex))
        }
        let start = i
        var word = ""
        while let d = peek, !(d == " " || d == "\t" || d == "\n" || d == ")" || d == "}" || d == "&" || d == "|") {
            word.unicodeScalars.append(d)
            i += 1
        }
        guard !word.isEmpty else { throw error("expected a value", at: start) }
        if let f = word.unicodeScalars.first, (f >= "0" && f <= "9") || f == "-" || f == "+" || f == ".",
            let d = Double(word)
        {
            return .condition(selector: sel, .compareNumber(op, d, text: Array(word.utf8)))
        }
        guard op == .eq || op == .ne else { throw error("'\(op.rawValue)' needs a number", at: opStart) }
        return .condition(selector: sel, .compareString(op, Glob(Array(word.utf8))))
    }
}
