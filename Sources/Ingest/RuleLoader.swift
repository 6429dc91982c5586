import Glibc
import Posix
import Rules

/// Reads rule and list files from directories (or single files) and compiles them.
///
/// Directories are read in the order given, files in name order; a list defined again in a later
/// directory replaces the earlier one, so an operator's `known-networks.list` overrides the example.
package enum RuleLoader {
    package static func load(_ paths: [String]) -> (RuleSet?, [Diagnostic]) {
        var rules: [RuleSourceFile] = []
        var lists: [RuleSourceFile] = []
        var problems: [Diagnostic] = []
        for path in paths {
            let st: stat
            do { st = try Posix.fileInfo(path) } catch {
                problems.append(Diagnostic(.error, SourcePosition(file: path, line: 0, column: 0), "cannot read: \(Posix.describe(error.errno))"))
                continue
            }
            let files = (st.st_mode & S_IFMT) == S_IFDIR ? Posix.list(path).sorted().map { path + "/" + $0 } : [path]
            for f in files where f.hasSuffix(".rules") || f.hasSuffix(".list") {
                do {
                    let text = String(decoding: try Posix.readFile(f), as: UTF8.self)
                    if f.hasSuffix(".rules") {
                        rules.append(RuleSourceFile(path: f, text: text))
                    } else {
                        lists.append(RuleSourceFile(path: f, text: text))
                    }
                } catch {
                    problems.append(Diagnostic(.error, SourcePosition(file: f, line: 0, column: 0), "cannot read: \(error)"))
                }
            }
        }
        let (set, diagnostics) = RuleSet.compile(ruleFiles: rules, listFiles: lists)
        return (problems.isEmpty ? set : nil, problems + diagnostics)
    }
}
