import CloudTrail

/// A list as written: in a `NAME.list` file (one value a line) or inline in a rule file.
public struct ListDefinition: Sendable {
    public var name: String
    public var values: [(value: String, position: SourcePosition)]
    public var position: SourcePosition
}

/// What one rule file declares.
public struct RuleFileContents: Sendable {
    public var rules: [Rule] = []
    public var conditions: [String: (Expression, SourcePosition)] = [:]
    public var lists: [String: ListDefinition] = [:]
}

/// Parses rule files (`*.rules`) and list files (`*.list`).
public enum RuleParser {
    /// Bounds that keep a hostile rule file from exhausting the stack or overflowing numbers:
    /// beyond them a rule is an error at its file:line:column, never a crash.
    public enum Limits {
        /// How deep an expression may nest: parentheses, `not`s and named conditions within
        /// one another (the parser and compiler recurse per level).
        public static let nesting = 100
        /// The longest window, first-seen period or suppression, in milliseconds (36,500 days:
        /// event times plus or minus it stay far from Int64's range).
        public static let longestDuration: Int64 = 36_500 * 86_400_000
    }

    static let clauseWords: Set<String> = [
        "rule", "end", "list", "condition", "severity", "description", "runbook", "when", "unless", "pattern",
        "threshold", "first-seen", "message", "suppress", "id", "test", "event", "expect",
    ]

    /// Parses a list file: one value a line, `#` comments, blank lines ignored.
    public static func parseList(_ text: String, file: String, name: String) -> ListDefinition {
        var values: [(String, SourcePosition)] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if let h = line.firstIndex(of: "#") { line = line[..<h] }
            let v = line.trimmedWhitespace
            if v.isEmpty { continue }
            let col = (raw.firstIndex { $0 != " " && $0 != "\t" }).map { raw.distance(from: raw.startIndex, to: $0) + 1 } ?? 1
            values.append((v, SourcePosition(file: file, line: n + 1, column: col)))
        }
        return ListDefinition(name: name, values: values, position: SourcePosition(file: file, line: 1, column: 1))
    }

    /// Parses a rule file; returns what it could read and every problem found.
    public static func parse(_ text: String, file: String) -> (RuleFileContents, [Diagnostic]) {
        var p = FileParser(file: file, lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        p.run()
        return (p.contents, p.diagnostics)
    }
}

struct FileParser {
    let file: String
    let lines: [String]
    var n = 0
    var contents = RuleFileContents()
    var diagnostics: [Diagnostic] = []
    var inlineLists = 0

    init(file: String, lines: [String]) {
        self.file = file
        self.lines = lines
    }

    func pos(_ line: Int, _ column: Int) -> SourcePosition { SourcePosition(file: file, line: line + 1, column: column) }

    /// The first word of a line and the column where the rest starts.
    func head(_ line: String) -> (word: String, rest: Substring, restColumn: Int, column: Int)? {
        let s = Substring(line)
        guard let start = s.firstIndex(where: { $0 != " " && $0 != "\t" }), s[start] != "#" else { return nil }
        let end = s[start...].firstIndex { $0 == " " || $0 == "\t" } ?? s.endIndex
        let rest = s[end...]
        let restStart = rest.firstIndex { $0 != " " && $0 != "\t" } ?? rest.endIndex
        return (String(s[start..<end]), s[restStart...], s.distance(from: s.startIndex, to: restStart) + 1,
                s.distance(from: s.startIndex, to: start) + 1)
    }

    /// Tokens of the clause on line `n` plus its continuation lines (lines not starting with a clause word).
    mutating func clauseTokens(_ rest: Substring, column: Int) -> [Lexed]? {
        var tokens: [Lexed] = []
        var lineIndex = n
        var text = rest
        var col = column
        var endColumn = column
        while true {
            do {
                var t = try lex(text, line: lineIndex + 1, file: file, offset: col - 1)
                endColumn = t.removeLast().column
                tokens += t.map { var x = $0; x.line = lineIndex + 1; return x }
            } catch {
                diagnostics.append(error)
                return nil
            }
            let next = lineIndex + 1
            guard next < lines.count, let h = head(lines[next]), !RuleParser.clauseWords.contains(h.word) else { break }
            lineIndex = next
            text = Substring(lines[next])
            col = 1
        }
        n = lineIndex
        tokens.append(Lexed(token: .end, column: endColumn, line: lineIndex + 1))
        return tokens
    }

    mutating func run() {
        while n < lines.count {
            guard let h = head(lines[n]) else {
                n += 1
                continue
            }
            switch h.word {
            case "rule":
                parseRule(name: h.rest.trimmedWhitespace, column: h.column)
            case "list":
                parseInlineList(h.rest, column: h.restColumn)
            case "condition":
                parseCondition(h.rest, column: h.restColumn)
            default:
                diagnostics.append(
                    Diagnostic(.error, pos(n, h.column), "expected 'rule', 'list' or 'condition', found '\(h.word)'",
                               hint: "clauses such as '\(h.word)' belong inside a rule … end block"))
            }
            n += 1
        }
    }

    mutating func parseInlineList(_ rest: Substring, column: Int) {
        guard let eq = rest.firstIndex(of: "=") else {
            diagnostics.append(Diagnostic(.error, pos(n, column), "expected 'list NAME = value, value, …'"))
            return
        }
        let name = rest[..<eq].trimmedWhitespace
        let valuesText = rest[rest.index(after: eq)...]
        let valuesColumn = column + rest.distance(from: rest.startIndex, to: eq) + 1
        var values: [(String, SourcePosition)] = []
        for part in valuesText.split(separator: ",") {
            var v = part.trimmedWhitespace
            if v.hasPrefix("\"") && v.hasSuffix("\"") && v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            if !v.isEmpty { values.append((v, pos(n, valuesColumn))) }
        }
        guard isName(name) else {
            diagnostics.append(Diagnostic(.error, pos(n, column), "'\(name)' is not a valid list name", hint: "use letters, digits and '-'"))
            return
        }
        contents.lists[name] = ListDefinition(name: name, values: values, position: pos(n, column))
    }

    mutating func parseCondition(_ rest: Substring, column: Int) {
        guard let eq = rest.firstIndex(of: "=") else {
            diagnostics.append(Diagnostic(.error, pos(n, column), "expected 'condition NAME = EXPRESSION'"))
            return
        }
        let name = rest[..<eq].trimmedWhitespace
        let line = n
        let exprColumn = column + rest.distance(from: rest.startIndex, to: eq) + 1
        guard isName(name) else {
            diagnostics.append(Diagnostic(.error, pos(n, column), "'\(name)' is not a valid condition name"))
            return
        }
        guard let tokens = clauseTokens(rest[rest.index(after: eq)...], column: exprColumn + 1) else { return }
        if let e = parseExpressionTokens(tokens) { contents.conditions[name] = (e, pos(line, column)) }
    }

    func isName(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
    }

    mutating func parseRule(name: String, column: Int) {
        var rule = Rule(name: name, position: pos(n, column))
        if !isName(name) {
            diagnostics.append(Diagnostic(.error, pos(n, column), "'\(name)' is not a valid rule name", hint: "use letters, digits and '-', e.g. rule root-usage"))
        }
        var whenSeen = false
        var patternExpr: Expression? = nil
        n += 1
        while n < lines.count {
            guard let h = head(lines[n]) else {
                n += 1
                continue
            }
            let here = pos(n, h.column)
            switch h.word {
            case "end":
                if let p = patternExpr { rule.when = whenSeen ? .and([rule.when, p]) : p }
                contents.rules.append(rule)
                return
            case "rule":
                diagnostics.append(Diagnostic(.error, here, "rule '\(rule.name)' has no 'end'", hint: "close each rule with a line 'end'"))
                n -= 1
                if let p = patternExpr { rule.when = whenSeen ? .and([rule.when, p]) : p }
                contents.rules.append(rule)
                return
            case "severity":
                if let s = Severity(rawValue: h.rest.trimmedWhitespace) {
                    rule.severity = s
                } else {
                    diagnostics.append(Diagnostic(.error, pos(n, h.restColumn), "unknown severity '\(h.rest.trimmedWhitespace)'", hint: "critical, high, medium, low or info"))
                }
            case "description", "runbook", "message":
                guard let s = stringArgument(h.rest, column: h.restColumn) else { break }
                if h.word == "description" {
                    rule.description += (rule.description.isEmpty ? "" : "\n") + s
                } else if h.word == "runbook" {
                    rule.runbook += (rule.runbook.isEmpty ? "" : "\n") + s
                } else {
                    rule.message = s
                    rule.messagePosition = pos(n, h.restColumn)
                }
            case "id":
                let id = h.rest.trimmedWhitespace.lowercased()
                if id.utf8.count == 32 && Base16.decode(id) != nil {
                    rule.messageID = id
                } else {
                    diagnostics.append(Diagnostic(.error, pos(n, h.restColumn), "a message id is 32 hex digits", hint: "generate one with systemd-id128 new"))
                }
            case "when", "unless":
                let line = n
                guard let tokens = clauseTokens(h.rest, column: h.restColumn), let e = parseExpressionTokens(tokens) else { break }
                _ = line
                if h.word == "when" {
                    if whenSeen { diagnostics.append(Diagnostic(.error, here, "a rule has one 'when'", hint: "combine conditions with 'and' / 'or'")) }
                    whenSeen = true
                    rule.when = e
                } else {
                    rule.unless.append(e)
                }
            case "pattern":
                patternExpr = .pattern(String(h.rest), pos(n, h.restColumn))
            case "threshold":
                rule.threshold = parseThreshold(h.rest, column: h.restColumn)
            case "first-seen":
                rule.firstSeen = parseFirstSeen(h.rest, column: h.restColumn)
            case "suppress":
                rule.suppression = parseSuppress(h.rest, column: h.restColumn)
            case "test":
                if let t = parseTest(h.rest, column: h.restColumn) { rule.tests.append(t) }
                continue
            default:
                diagnostics.append(Diagnostic(.error, here, "unknown clause '\(h.word)' in rule '\(rule.name)'",
                                              hint: "one of: severity, description, runbook, when, pattern, unless, threshold, first-seen, message, suppress, id, test, end"))
            }
            n += 1
        }
        diagnostics.append(Diagnostic(.error, rule.position, "rule '\(rule.name)' has no 'end'", hint: "close each rule with a line 'end'"))
        contents.rules.append(rule)
    }

    mutating func stringArgument(_ rest: Substring, column: Int) -> String? {
        do {
            let t = try lex(rest, line: n + 1, file: file, offset: column - 1)
            guard t.count == 2, case .string(let s) = t[0].token else {
                diagnostics.append(Diagnostic(.error, pos(n, column), "expected one quoted string", hint: "write it as \"text\""))
                return nil
            }
            return s
        } catch {
            diagnostics.append(error)
            return nil
        }
    }

    /// `5m`, `300s`, `1h`, `30d` in milliseconds; nil when malformed or longer than
    /// ``RuleParser/Limits/longestDuration`` (so window arithmetic on event times cannot overflow).
    func duration(_ w: String) -> Int64? {
        guard let unit = w.last, let v = Int64(w.dropLast()), v > 0 else { return nil }
        let scale: Int64
        switch unit {
        case "s": scale = 1000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        default: return nil
        }
        let (ms, overflow) = v.multipliedReportingOverflow(by: scale)
        guard !overflow, ms <= RuleParser.Limits.longestDuration else { return nil }
        return ms
    }

    /// The error for a word that is not a duration: too long, or malformed.
    func durationError(_ w: String, at column: Int) -> Diagnostic {
        let longest = "\(RuleParser.Limits.longestDuration / 86_400_000)d"
        if let unit = w.last, "smhd".contains(unit), !w.dropLast().isEmpty, w.dropLast().allSatisfy(\.isASCII), w.dropLast().allSatisfy(\.isNumber),
            w.dropLast().contains(where: { $0 != "0" })
        {
            return Diagnostic(.error, pos(n, column), "'\(w)' is longer than the longest duration, \(longest)", hint: "e.g. 300s, 5m, 1h, 30d")
        }
        return Diagnostic(.error, pos(n, column), "'\(w)' is not a duration", hint: "e.g. 300s, 5m, 1h, 30d")
    }

    func words(_ rest: Substring, column: Int) -> [(String, Int)] {
        var out: [(String, Int)] = []
        var i = rest.startIndex
        while i < rest.endIndex {
            while i < rest.endIndex, rest[i] == " " || rest[i] == "," || rest[i] == "\t" { i = rest.index(after: i) }
            guard i < rest.endIndex else { break }
            if rest[i] == "#" { break }
            let start = i
            while i < rest.endIndex, rest[i] != " " && rest[i] != "," && rest[i] != "\t" { i = rest.index(after: i) }
            out.append((String(rest[start..<i]), column + rest.distance(from: rest.startIndex, to: start)))
        }
        return out
    }

    mutating func fieldPaths(_ ws: ArraySlice<(String, Int)>) -> [FieldPath]? {
        var out: [FieldPath] = []
        for (w, c) in ws {
            guard let p = FieldPath(w) else {
                diagnostics.append(Diagnostic(.error, pos(n, c), "'\(w)' is not a field path", hint: "e.g. userIdentity.arn"))
                return nil
            }
            out.append(p)
        }
        return out
    }

    /// `count >= N within W [by f, g]` or `distinct FIELD >= N within W [by …]`.
    mutating func parseThreshold(_ rest: Substring, column: Int) -> Threshold? {
        let w = words(rest, column: column)
        let usage = "threshold count >= 10 within 5m by userIdentity.arn (or: threshold distinct sourceIPAddress >= 3 within 10m by userIdentity.arn)"
        var i = 0
        var distinct: FieldPath? = nil
        guard i < w.count else { diagnostics.append(Diagnostic(.error, pos(n, column), "incomplete threshold", hint: usage)); return nil }
        if w[i].0 == "count" {
            i += 1
        } else if w[i].0 == "distinct", i + 1 < w.count, let p = FieldPath(w[i + 1].0) {
            distinct = p
            i += 2
        } else {
            diagnostics.append(Diagnostic(.error, pos(n, w[i].1), "expected 'count' or 'distinct FIELD'", hint: usage))
            return nil
        }
        guard i + 3 < w.count, w[i].0 == ">=", let count = Int(w[i + 1].0), count > 0, w[i + 2].0 == "within" else {
            diagnostics.append(Diagnostic(.error, pos(n, w[min(i, w.count - 1)].1), "expected '>= N within DURATION'", hint: usage))
            return nil
        }
        guard let window = duration(w[i + 3].0) else {
            diagnostics.append(durationError(w[i + 3].0, at: w[i + 3].1))
            return nil
        }
        i += 4
        var by: [FieldPath] = []
        if i < w.count {
            guard w[i].0 == "by" else { diagnostics.append(Diagnostic(.error, pos(n, w[i].1), "expected 'by FIELD, …'", hint: usage)); return nil }
            guard let paths = fieldPaths(w[(i + 1)...]), !paths.isEmpty else { return nil }
            by = paths
        }
        return Threshold(distinct: distinct, count: count, windowMs: window, groupBy: by)
    }

    /// `FIELD by KEY[, KEY] over D`.
    mutating func parseFirstSeen(_ rest: Substring, column: Int) -> FirstSeen? {
        let w = words(rest, column: column)
        let usage = "first-seen sourceIPAddress by userIdentity.arn over 30d"
        guard w.count >= 5, let field = FieldPath(w[0].0), w[1].0 == "by", let overAt = w.firstIndex(where: { $0.0 == "over" }),
            overAt >= 3, overAt + 1 < w.count
        else {
            diagnostics.append(Diagnostic(.error, pos(n, column), "malformed first-seen", hint: usage))
            return nil
        }
        guard let period = duration(w[overAt + 1].0) else {
            diagnostics.append(durationError(w[overAt + 1].0, at: w[overAt + 1].1))
            return nil
        }
        guard let key = fieldPaths(w[2..<overAt]) else { return nil }
        return FirstSeen(field: field, key: key, periodMs: period)
    }

    /// `by f[, g] for P`.
    mutating func parseSuppress(_ rest: Substring, column: Int) -> Suppression? {
        let w = words(rest, column: column)
        guard w.count >= 4, w[0].0 == "by", let forAt = w.firstIndex(where: { $0.0 == "for" }), forAt >= 2, forAt + 1 < w.count else {
            diagnostics.append(Diagnostic(.error, pos(n, column), "malformed suppress", hint: "suppress by userIdentity.arn for 1h"))
            return nil
        }
        guard let period = duration(w[forAt + 1].0) else {
            diagnostics.append(durationError(w[forAt + 1].0, at: w[forAt + 1].1))
            return nil
        }
        guard let key = fieldPaths(w[1..<forAt]) else { return nil }
        return Suppression(key: key, periodMs: period)
    }

    /// `test "name"` followed by `event {json}` (JSON may span lines) and `expect N` lines.
    mutating func parseTest(_ rest: Substring, column: Int) -> RuleTest? {
        let start = pos(n, column)
        guard let name = stringArgument(rest, column: column) else {
            n += 1
            return nil
        }
        var test = RuleTest(name: name, events: [], expectedAlerts: -1, position: start)
        n += 1
        while n < lines.count, let h = head(lines[n]) ?? Optional(("", "", 0, 0)) {
            if h.word.isEmpty {
                n += 1
                continue
            }
            switch h.word {
            case "event" where h.rest.hasPrefix("file "):
                // A fixture beside the rule file, read when the tests run.
                test.events.append(RuleTest.filePrefix + h.rest.dropFirst(5).trimmedWhitespace)
            case "event":
                var json = String(h.rest)
                var depth = Self.braceDepth(json)
                while depth > 0 && n + 1 < lines.count {
                    n += 1
                    json += "\n" + lines[n]
                    depth = Self.braceDepth(json)
                }
                guard json.trimmedWhitespace.hasPrefix("{"), depth == 0 else {
                    diagnostics.append(Diagnostic(.error, pos(n, h.restColumn), "an event is a JSON object", hint: "event {\"eventName\": \"ConsoleLogin\", …}"))
                    n += 1
                    continue
                }
                test.events.append(json)
            case "expect":
                let v = h.rest.trimmedWhitespace.split(separator: " ").first.map(String.init) ?? ""
                if v == "none" || v == "no" {
                    test.expectedAlerts = 0
                } else if let k = Int(v), k >= 0 {
                    test.expectedAlerts = k
                } else {
                    diagnostics.append(Diagnostic(.error, pos(n, h.restColumn), "expected 'expect N' or 'expect none'"))
                }
            default:
                if test.expectedAlerts < 0 {
                    diagnostics.append(Diagnostic(.error, start, "test '\(name)' has no 'expect' line", hint: "add 'expect 1' or 'expect none'"))
                }
                if test.events.isEmpty {
                    diagnostics.append(Diagnostic(.error, start, "test '\(name)' has no event"))
                }
                return test
            }
            n += 1
        }
        return test
    }

    /// Open braces minus closed ones, outside JSON strings.
    static func braceDepth(_ s: String) -> Int {
        var depth = 0
        var inString = false
        var escaped = false
        for c in s.unicodeScalars {
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
            } else if c == "\"" {
                inString = true
            } else if c == "{" {
                depth += 1
            } else if c == "}" {
                depth -= 1
            }
        }
        return depth
    }

    // MARK: Expressions

    mutating func parseExpressionTokens(_ tokens: [Lexed]) -> Expression? {
        var p = ExpressionParser(tokens: tokens, file: file)
        do throws(Diagnostic) {
            let e = try p.parseOr()
            guard case .end = p.peek.token else {
                throw Diagnostic(.error, p.position(p.peek), "unexpected \(p.describe(p.peek.token))", hint: "join conditions with 'and' / 'or'")
            }
            for (name, values, position) in p.inlineLists {
                contents.lists[name] = ListDefinition(name: name, values: values.map { ($0, position) }, position: position)
            }
            return e
        } catch {
            diagnostics.append(error)
            return nil
        }
    }
}

extension Lexed {
    var line: Int {
        get { _line }
        set { _line = newValue }
    }
}

struct ExpressionParser {
    var tokens: [Lexed]
    let file: String
    var i = 0
    var inlineLists: [(String, [String], SourcePosition)] = []
    /// `(` and `not` levels open around the current token (bounded: the parser recurses per level).
    var depth = 0

    init(tokens: [Lexed], file: String) {
        self.tokens = tokens
        self.file = file
    }

    var peek: Lexed { tokens[min(i, tokens.count - 1)] }
    func position(_ t: Lexed) -> SourcePosition { SourcePosition(file: file, line: t.line, column: t.column) }

    func describe(_ t: Token) -> String {
        switch t {
        case .word(let w): return "'\(w)'"
        case .string(let s): return "\"\(s)\""
        case .number(_, let s): return s
        case .symbol(let s): return "'\(s)'"
        case .end: return "end of condition"
        }
    }

    mutating func next() -> Lexed {
        let t = peek
        i += 1
        return t
    }

    mutating func eatWord(_ w: String) -> Bool {
        if case .word(let x) = peek.token, x == w {
            i += 1
            return true
        }
        return false
    }

    mutating func parseOr() throws(Diagnostic) -> Expression {
        var parts = [try parseAnd()]
        while eatWord("or") { parts.append(try parseAnd()) }
        return parts.count == 1 ? parts[0] : .or(parts)
    }

    mutating func parseAnd() throws(Diagnostic) -> Expression {
        var parts = [try parseNot()]
        while eatWord("and") { parts.append(try parseNot()) }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    mutating func parseNot() throws(Diagnostic) -> Expression {
        if case .word("not") = peek.token {
            let t = next()
            try enter(t)
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseAtom()
    }

    /// Opens one nesting level at `t`, or throws when that is one too many.
    mutating func enter(_ t: Lexed) throws(Diagnostic) {
        guard depth < RuleParser.Limits.nesting else {
            throw Diagnostic(.error, position(t), "the condition nests deeper than \(RuleParser.Limits.nesting) levels",
                             hint: "flatten it: 'not' and '(' … ')' within one another, at most \(RuleParser.Limits.nesting)")
        }
        depth += 1
    }

    mutating func parseAtom() throws(Diagnostic) -> Expression {
        let t = next()
        switch t.token {
        case .symbol("("):
            try enter(t)
            defer { depth -= 1 }
            let e = try parseOr()
            guard case .symbol(")") = next().token else {
                throw Diagnostic(.error, position(tokens[i - 1]), "expected ')'", hint: "every '(' needs a ')'")
            }
            return e
        case .word(let w):
            if ["and", "or", "not"].contains(w) {
                throw Diagnostic(.error, position(t), "expected a condition before '\(w)'")
            }
            // A bare name not followed by a comparison is a named condition.
            if isComparisonStart(peek.token) {
                guard let path = FieldPath(w) else {
                    throw Diagnostic(.error, position(t), "'\(w)' is not a field path", hint: "e.g. userIdentity.sessionContext.attributes.mfaAuthenticated or resources[0].ARN")
                }
                return try parseComparison(path, at: t)
            }
            guard !w.contains("."), !w.contains("[") else {
                throw Diagnostic(.error, position(peek), "expected a comparison after \(w)", hint: "=, !=, ~=, <, >, like, matches, exists, in …")
            }
            return .named(w, position(t))
        default:
            throw Diagnostic(.error, position(t), "expected a field path or a condition name, found \(describe(t.token))")
        }
    }

    func isComparisonStart(_ t: Token) -> Bool {
        switch t {
        case .symbol(let s): return ["=", "!=", "~=", "!~=", "<", ">", "<=", ">="].contains(s)
        case .word(let w): return ["exists", "is", "in", "not", "like", "matches", "ilike"].contains(w)
        default: return false
        }
    }

    mutating func literal() throws(Diagnostic) -> Literal {
        let t = next()
        switch t.token {
        case .string(let s): return .string(s)
        case .number(let d, _): return .number(d)
        case .word("true"): return .bool(true)
        case .word("false"): return .bool(false)
        case .word("null"): return .null
        case .word(let w):
            throw Diagnostic(.error, position(t), "expected a value, found '\(w)'", hint: "quote strings: \"\(w)\"")
        default:
            throw Diagnostic(.error, position(t), "expected a value, found \(describe(t.token))")
        }
    }

    mutating func string(_ what: String) throws(Diagnostic) -> String {
        let t = next()
        guard case .string(let s) = t.token else {
            throw Diagnostic(.error, position(t), "expected a quoted \(what)", hint: "e.g. \"Delete*\"")
        }
        return s
    }

    mutating func number() throws(Diagnostic) -> Double {
        let t = next()
        guard case .number(let d, _) = t.token else {
            throw Diagnostic(.error, position(t), "expected a number, found \(describe(t.token))")
        }
        return d
    }

    mutating func listReference(_ at: Lexed) throws(Diagnostic) -> String {
        let t = next()
        switch t.token {
        case .word(let name):
            return name
        case .symbol("("):
            var values: [String] = []
            while true {
                let v = next()
                switch v.token {
                case .string(let s): values.append(s)
                case .number(_, let s): values.append(s)
                case .word(let w): values.append(w)
                default: throw Diagnostic(.error, position(v), "expected a list value, found \(describe(v.token))")
                }
                let sep = next()
                if case .symbol(")") = sep.token { break }
                guard case .symbol(",") = sep.token else {
                    throw Diagnostic(.error, position(sep), "expected ',' or ')' in the list")
                }
            }
            let name = "@\(file):\(t.line):\(t.column)"
            inlineLists.append((name, values, position(t)))
            return name
        default:
            throw Diagnostic(.error, position(t), "expected a list name or (value, …)")
        }
    }

    mutating func parseComparison(_ path: FieldPath, at: Lexed) throws(Diagnostic) -> Expression {
        let here = position(at)
        let op = next()
        switch op.token {
        case .symbol("="): return .compare(path, .equals(try literal()), here)
        case .symbol("!="): return .not(.compare(path, .equals(try literal()), here))
        case .symbol("~="): return .compare(path, .equalsIgnoringCase(try string("string")), here)
        case .symbol("!~="): return .not(.compare(path, .equalsIgnoringCase(try string("string")), here))
        case .symbol("<"): return .compare(path, .less(try number()), here)
        case .symbol(">"): return .compare(path, .greater(try number()), here)
        case .symbol("<="): return .compare(path, .lessOrEqual(try number()), here)
        case .symbol(">="): return .compare(path, .greaterOrEqual(try number()), here)
        case .word("exists"): return .compare(path, .exists, here)
        case .word("like"): return .compare(path, .like(try string("wildcard pattern")), here)
        case .word("matches"): return .compare(path, .matches(try string("regular expression")), here)
        case .word("is"):
            let negated = eatWord("not")
            guard eatWord("null") else { throw Diagnostic(.error, position(peek), "expected 'null' after 'is'") }
            return negated ? .not(.compare(path, .isNull, here)) : .compare(path, .isNull, here)
        case .word("in"):
            if eatWord("networks") { return .compare(path, .inNetworks(try listReference(op)), here) }
            return .compare(path, .inList(try listReference(op)), here)
        case .word("not"):
            if eatWord("exists") { return .not(.compare(path, .exists, here)) }
            if eatWord("like") { return .not(.compare(path, .like(try string("wildcard pattern")), here)) }
            if eatWord("matches") { return .not(.compare(path, .matches(try string("regular expression")), here)) }
            if eatWord("in") {
                if eatWord("networks") { return .outsideNetworks(path, try listReference(op), here) }
                return .not(.compare(path, .inList(try listReference(op)), here))
            }
            throw Diagnostic(.error, position(peek), "expected 'exists', 'in', 'like' or 'matches' after 'not'")
        default:
            throw Diagnostic(.error, position(op), "expected a comparison, found \(describe(op.token))")
        }
    }
}

