/// The AWS shared credentials and config files (`~/.aws/credentials`, `~/.aws/config`): INI
/// sections of `key = value`, read the way the AWS CLI reads them, with limits so a hostile or
/// huge file is refused with a clear error instead of exhausting memory.
package struct AWSSharedConfigFile: Sendable, Equatable {
    /// Which file: the credentials file names sections by profile (`[NAME]`), the config file as
    /// `[profile NAME]` (and `[default]`).
    package enum Kind: Sendable { case credentials, config }

    /// The limits of one file.
    package static let maxBytes = 1 << 20
    package static let maxSections = 10_000
    package static let maxKeysPerSection = 1_000

    /// Section name (as written between the brackets, trimmed) → key (lowercased) → value.
    package var sections: [String: [String: String]]
    package var kind: Kind

    /// Parses `text` read from `path` (named in errors). Comments start with `#` or `;` at the
    /// start of a line (or after whitespace following a value); indented lines continue the
    /// previous key's nested block (e.g. `s3 =` settings) and are skipped.
    package static func parse(_ text: String, path: String, kind: Kind) throws(AWSFormatError) -> AWSSharedConfigFile {
        guard text.utf8.count <= maxBytes else {
            throw AWSFormatError(.tooLarge, source: path, "larger than \(maxBytes) bytes")
        }
        var sections: [String: [String: String]] = [:]
        var current: String?
        var lineNo = 0
        // "\r\n" is one Character in Swift: split on both.
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNo += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let trimmed = trim(line)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if let first = line.first, first == " " || first == "\t" {
                // A nested value of the previous key; nothing trailwatch reads lives there.
                guard current != nil else {
                    throw AWSFormatError(.malformed, source: path, line: lineNo, "indented line outside a section")
                }
                continue
            }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]"), trimmed.count >= 2 else {
                    throw AWSFormatError(.malformed, source: path, line: lineNo, "section header without a closing ]")
                }
                var name = trim(trimmed.dropFirst().dropLast())
                // `[profile   NAME]` is `[profile NAME]`.
                if name.hasPrefix("profile ") || name.hasPrefix("profile\t") { name = "profile " + trim(name.dropFirst(8)) }
                guard !name.isEmpty else { throw AWSFormatError(.malformed, source: path, line: lineNo, "empty section name") }
                if sections[name] == nil {
                    guard sections.count < maxSections else {
                        throw AWSFormatError(.tooLarge, source: path, line: lineNo, "more than \(maxSections) sections")
                    }
                    sections[name] = [:]
                }
                current = name
                continue
            }
            guard let section = current else {
                throw AWSFormatError(.malformed, source: path, line: lineNo, "key outside a section")
            }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw AWSFormatError(.malformed, source: path, line: lineNo, "expected key = value")
            }
            let key = trim(trimmed[..<eq]).lowercased()
            guard !key.isEmpty else { throw AWSFormatError(.malformed, source: path, line: lineNo, "empty key") }
            var value = trim(trimmed[trimmed.index(after: eq)...])
            // An inline comment needs whitespace before it (`x = a #b`), as in botocore.
            var previous: Character = "x"
            for idx in value.indices {
                let c = value[idx]
                if (c == "#" || c == ";") && (previous == " " || previous == "\t") {
                    value = trim(value[..<idx])
                    break
                }
                previous = c
            }
            if sections[section]![key] == nil, sections[section]!.count >= maxKeysPerSection {
                throw AWSFormatError(.tooLarge, source: path, line: lineNo, "more than \(maxKeysPerSection) keys in [\(section)]")
            }
            sections[section]![key] = value
        }
        return AWSSharedConfigFile(sections: sections, kind: kind)
    }

    /// The settings of profile `name`: `[name]` in the credentials file; in the config file
    /// `[profile name]`, or `[default]` for `default` (the CLI also takes `[profile default]`).
    package func profile(_ name: String) -> [String: String]? {
        switch kind {
        case .credentials:
            return sections[name]
        case .config:
            if let s = sections["profile " + name] { return s }
            return name == "default" ? sections["default"] : nil
        }
    }

    private static func trim(_ s: Substring) -> String {
        var t = s
        while let c = t.first, c == " " || c == "\t" || c == "\r" { t = t.dropFirst() }
        while let c = t.last, c == " " || c == "\t" || c == "\r" { t = t.dropLast() }
        return String(t)
    }

    private static func trim(_ s: String) -> String { trim(Substring(s)) }
}
