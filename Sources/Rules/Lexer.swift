/// A position in a rule file, for `file:line:column` diagnostics.
public struct SourcePosition: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var description: String { "\(file):\(line):\(column)" }
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
}

/// A problem found in a rule or list file.
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public var severity: Severity
    public var position: SourcePosition
    public var message: String
    public var hint: String?

    public init(_ severity: Severity, _ position: SourcePosition, _ message: String, hint: String? = nil) {
        self.severity = severity
        self.position = position
        self.message = message
        self.hint = hint
    }

    /// `file:line:column: error: message (hint: …)`.
    public var description: String {
        "\(position): \(severity.rawValue): \(message)" + (hint.map { "\n  hint: \($0)" } ?? "")
    }
}

/// Tokens of the rule language.
enum Token: Sendable, Equatable {
    case word(String)  // identifiers, paths, keywords
    case string(String)
    case number(Double, String)
    case symbol(String)  // = != ~= < > <= >= ( ) , [ ]
    case end
}

struct Lexed: Sendable {
    var token: Token
    var column: Int  // 1-based, in the line
    var _line: Int = 0

    init(token: Token, column: Int, line: Int = 0) {
        self.token = token
        self.column = column
        self._line = line
    }
}

/// Splits one expression line into tokens; columns are 1-based within `text` plus `offset`.
func lex(_ text: Substring, line: Int, file: String, offset: Int) throws(Diagnostic) -> [Lexed] {
    let s = Array(text.unicodeScalars)
    var out: [Lexed] = []
    var i = 0
    func pos(_ at: Int) -> SourcePosition { SourcePosition(file: file, line: line, column: offset + at + 1) }
    func isWord(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_" || c == "-" || c == "."
            || c == "[" || c == "]" || c == "*" || c == "@" || c == ":" || c == "$"
    }
    while i < s.count {
        let c = s[i]
        if c == " " || c == "\t" || c == "\r" {
            i += 1
            continue
        }
        if c == "#" { break }
        let start = i
        if c == "\"" {
            var v = ""
            i += 1
            var closed = false
            while i < s.count {
                let d = s[i]
                if d == "\\", i + 1 < s.count {
                    let e = s[i + 1]
                    v.unicodeScalars.append(e == "n" ? "\n" : e == "t" ? "\t" : e)
                    i += 2
                    continue
                }
                if d == "\"" {
                    closed = true
                    i += 1
                    break
                }
                v.unicodeScalars.append(d)
                i += 1
            }
            guard closed else { throw Diagnostic(.error, pos(start), "unclosed string", hint: "close it with \" on the same line") }
            out.append(Lexed(token: .string(v), column: offset + start + 1))
            continue
        }
        if (c >= "0" && c <= "9") || (c == "-" && i + 1 < s.count && s[i + 1] >= "0" && s[i + 1] <= "9" && (out.last.map { if case .symbol = $0.token { return true } else { return false } } ?? true)) {
            var w = String(c)
            i += 1
            while i < s.count, (s[i] >= "0" && s[i] <= "9") || s[i] == "." || s[i] == "e" || s[i] == "E" || s[i] == "+"
                || s[i] == "-" || (s[i] >= "a" && s[i] <= "z")
            {
                w.unicodeScalars.append(s[i])
                i += 1
            }
            if let d = Double(w) {
                out.append(Lexed(token: .number(d, w), column: offset + start + 1))
            } else {
                out.append(Lexed(token: .word(w), column: offset + start + 1))  // a duration such as 5m
            }
            continue
        }
        for sym in ["!~=", "!=", "~=", "<=", ">=", "=", "<", ">", "(", ")", ","] {
            let u = Array(sym.unicodeScalars)
            if i + u.count <= s.count, Array(s[i..<(i + u.count)]) == u {
                out.append(Lexed(token: .symbol(sym), column: offset + start + 1))
                i += u.count
                break
            }
        }
        if i != start { continue }
        if isWord(c) {
            var w = ""
            while i < s.count, isWord(s[i]) {
                w.unicodeScalars.append(s[i])
                i += 1
            }
            out.append(Lexed(token: .word(w), column: offset + start + 1))
            continue
        }
        throw Diagnostic(.error, pos(start), "unexpected character '\(c)'")
    }
    out.append(Lexed(token: .end, column: offset + s.count + 1))
    return out
}
