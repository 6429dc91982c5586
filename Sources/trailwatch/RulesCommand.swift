import ArgumentParser
import AlertModel
import CloudTrail
import Gzip
import Ingest
import Posix
import Rules

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "Check, test and document rule files.",
        subcommands: [Check.self, Test.self, Catalog.self, Bench.self])

    /// The rules at `paths`, or where `run` would find them when none are named; errors go to
    /// stderr and exit 1, and so does finding no rules at all (with a hint), so that `catalog`
    /// never writes an empty catalog.
    static func load(_ paths: [String], config: String? = nil) throws -> RuleSet {
        let (set, diagnostics) = try resolveAndLoad(paths, config: config)
        for d in diagnostics where d.severity == .error { writeStderr(d.description + "\n") }
        guard let set else { throw ExitCode(1) }
        return set
    }

    /// Resolves `paths` as `run` does (``RuleSources``) and loads them; nothing found is an error.
    static func resolveAndLoad(_ paths: [String], config: String?) throws -> (RuleSet?, [Diagnostic]) {
        var configured: [String] = []
        if let config {
            do { configured = try ConfigFile.load(config).rules } catch { throw ValidationError("\(error)") }
        }
        let sources = RuleSources.resolve(named: paths, config: configured)
        guard !sources.paths.isEmpty else { throw ValidationError("no rules found (\(sources.origin)): \(RuleSources.hint)") }
        let (set, diagnostics) = RuleLoader.load(sources.paths)
        if let set, set.rules.isEmpty {
            throw ValidationError("no rules in \(sources.paths.joined(separator: ", ")) (\(sources.origin)): no .rules file there")
        }
        return (set, diagnostics)
    }

    /// Where the rules commands look when no path is named.
    struct Where: ParsableArguments {
        @Argument(help: "Rule directories or files (default: as `run` finds them: the config's rules entries, else the installed rules, else the source checkout's rules/).")
        var paths: [String] = []
        @Option(help: "Config file whose 'rules =' entries apply when no path is named (as for `run --config`).")
        var config: String?
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lint rule and list files: errors as file:line:column with a hint; exits non-zero on errors.")
        @OptionGroup var rules: Where

        func run() throws {
            let (set, diagnostics) = try RulesCommand.resolveAndLoad(rules.paths, config: rules.config)
            for d in diagnostics { writeStderr(d.description + "\n") }
            let errors = diagnostics.filter { $0.severity == .error }.count
            let warnings = diagnostics.count - errors
            guard let set, errors == 0 else {
                writeStderr("\(errors) errors, \(warnings) warnings\n")
                throw ExitCode(1)
            }
            print("\(set.rules.count) rules OK (\(warnings) warnings)")
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the rules' inline tests and report each.")
        @OptionGroup var rules: Where
        @Option(help: "Only this rule (repeatable).")
        var rule: [String] = []

        func run() throws {
            let set = try RulesCommand.load(rules.paths, config: rules.config)
            let results = RuleTester.run(set, only: rule.isEmpty ? nil : Set(rule)) { try? Posix.readFile($0) }
            var failed = 0
            for r in results {
                if r.got < 0 {
                    failed += 1
                    print("FAIL  \(r.rule): \(r.test) (\(r.position))")
                } else if r.passed {
                    print("ok    \(r.rule): \(r.test)")
                } else {
                    failed += 1
                    print("FAIL  \(r.rule): \(r.test) (\(r.position)): expected \(r.expected) alerts, got \(r.got)")
                    for a in r.alerts { print("      alert: \(a.message)") }
                }
            }
            let untested = set.rules.filter { $0.rule.tests.isEmpty }.map(\.name)
            if !untested.isEmpty { print("no tests: \(untested.joined(separator: ", "))") }
            print("\(results.count - failed) passed, \(failed) failed")
            if failed > 0 { throw ExitCode(1) }
        }
    }

    struct Catalog: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a journald message catalog for the rules (install into /usr/lib/systemd/catalog/, then journalctl --update-catalog).")
        @OptionGroup var rules: Where

        func run() throws {
            let set = try RulesCommand.load(rules.paths, config: rules.config)
            print(CatalogWriter.catalog(set) + IntegrityMonitor.catalog(), terminator: "")
        }
    }
}

extension RulesCommand {
    /// Rule evaluation alone, on one core: records are inflated and split first, then timed.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure rule evaluation alone (events/s, one core, decoding excluded) over delivered files.")
        @Option(name: .customLong("rules"), help: "Rule directories or files (repeatable).") var rules: [String] = []
        @Option(help: "How many passes over the records.") var passes = 3
        @Argument(help: "A bucket root (or folder) whose .json.gz files supply the records.") var input: String

        func run() throws {
            let set = try RulesCommand.load(rules)
            var records: [([UInt8], [TopMember])] = []
            for f in Scanner.walk(root: input) {
                // Log files only (digests are not Records documents), by name, from any folder.
                let name = f.relative.split(separator: "/").last ?? ""
                guard name.hasSuffix(".json.gz"), name.contains("_CloudTrail_") else { continue }
                let raw = try Inflater.inflateAll(Posix.readFile(f.absolute))
                var splitter = RecordSplitter()
                try raw.withUnsafeBytes { try splitter.feed($0) { _, r, fields in records.append((Array(r), fields.members)) } }
            }
            var hits = 0
            let evaluator = Evaluator()
            let start = Posix.monotonicSeconds()
            for _ in 0..<passes {
                records.withUnsafeBufferPointer { all in
                    for i in all.indices {
                        hits += all[i].0.withUnsafeBytes {
                            set.hits(record: $0, index: 0, account: "123456789012", region: "us-east-1", evaluator: evaluator, members: all[i].1).count
                        }
                    }
                }
            }
            let seconds = Posix.monotonicSeconds() - start
            let n = records.count * passes
            print("\(set.rules.count) rules, \(records.count) records x \(passes) passes: \(Int(Double(n) / seconds)) events/s (\(hits / passes) hits per pass)")
        }
    }
}
