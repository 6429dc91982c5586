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
    /// Times rule evaluation on a rule author's own files: all rules together, then each rule alone,
    /// so the slow rule of a set is found before it reaches the daemon. Decoding is excluded.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time your rules on your own log files: events/s for the set, then each rule's cost alone.",
            discussion: """
                Reads the delivered .json.gz files under INPUT (one file, or a folder such as a day of \
                your mirror), splits them into records once, then evaluates the rules over those records \
                on one core, best of --passes: first all together (what the daemon does per event), then \
                each rule alone, slowest first, with its hits. Decoding and storing are not timed. Files \
                that cannot be read are named on stderr and skipped; at most --max-records records are kept.
                """)
        @Option(name: .customLong("rules"), help: "Rule directories or files (repeatable; default: as `run` finds them).")
        var rules: [String] = []
        @Option(help: "Config file whose 'rules =' entries apply when no --rules is named.") var config: String?
        @Option(help: "Timings per figure; the best is shown.") var passes = 3
        @Option(help: "Records kept from the files, at most (memory: about their inflated size).") var maxRecords = 1_000_000
        @Flag(inversion: .prefixedNo, help: "Also time each rule alone.") var each = true
        @Argument(help: "A delivered .json.gz file, or a folder searched for them.") var input: String

        func validate() throws {
            guard (1...1000).contains(passes) else { throw ValidationError("--passes must be 1…1000, not \(passes)") }
            guard (1...50_000_000).contains(maxRecords) else {
                throw ValidationError("--max-records must be 1…50000000, not \(maxRecords)")
            }
        }

        func run() throws {
            let set = try RulesCommand.load(rules, config: config)
            let corpus = try Self.records(under: input, max: maxRecords)
            guard !corpus.records.isEmpty else {
                throw ValidationError("no records in \(input): no readable *_CloudTrail_*.json.gz file there")
            }
            let n = corpus.records.count
            print("\(set.rules.count) rules, \(n) records from \(corpus.files) files, best of \(passes), one core, decoding excluded")
            let all = Self.time(set, corpus.records, passes: passes)
            print("all rules: \(Int(Double(n) / all.seconds)) events/s, \(Self.nanos(all.seconds, n)) ns/event, \(all.hits) hits")
            guard each else { return }
            var rows: [(name: String, seconds: Double, hits: Int)] = []
            for i in set.rules.indices {
                let t = Self.time(set.only(i), corpus.records, passes: passes)
                rows.append((set.rules[i].rule.name, t.seconds, t.hits))
            }
            let width = max(4, rows.map(\.name.count).max() ?? 0)
            func right(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
            func left(_ s: String) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
            print("\n" + left("rule") + "  ns/event      hits")
            for r in rows.sorted(by: { $0.seconds > $1.seconds }) {
                print(left(r.name) + "  " + right(String(Self.nanos(r.seconds, n)), 8) + "  " + right(String(r.hits), 8))
            }
        }

        /// Nanoseconds per event, to one decimal.
        static func nanos(_ seconds: Double, _ events: Int) -> Double { (seconds * 1e10 / Double(events)).rounded() / 10 }

        /// The best of `passes` timings of `set` over every record, and its hits in one pass.
        static func time(_ set: RuleSet, _ records: [([UInt8], [TopMember])], passes: Int) -> (seconds: Double, hits: Int) {
            let evaluator = Evaluator()
            var best = Double.infinity
            var hits = 0
            for _ in 0..<passes {
                var found = 0
                let start = Posix.monotonicSeconds()
                records.withUnsafeBufferPointer { all in
                    for i in all.indices {
                        found += all[i].0.withUnsafeBytes {
                            set.hits(
                                record: $0, index: 0, account: "123456789012", region: "us-east-1", evaluator: evaluator,
                                members: all[i].1
                            ).count
                        }
                    }
                }
                best = min(best, Posix.monotonicSeconds() - start)
                hits = found
            }
            return (best, hits)
        }

        /// Every record of the log files under `path` (one file, or a folder searched by name), split
        /// as the daemon splits them, up to `max`; a file that fails is named on stderr and skipped.
        static func records(under path: String, max: Int) throws -> (records: [([UInt8], [TopMember])], files: Int) {
            guard Posix.status(path) != nil || Posix.isDirectory(path) else {
                throw ValidationError("\(path): no such file or folder")
            }
            var paths: [String] = []
            if Posix.isDirectory(path) {
                for f in Scanner.walk(root: path) {
                    // Log files only (digests are not Records documents), by name.
                    let name = f.relative.split(separator: "/").last ?? ""
                    if name.hasSuffix(".json.gz"), name.contains("_CloudTrail_") { paths.append(f.absolute) }
                }
            } else {
                paths = [path]
            }
            var records: [([UInt8], [TopMember])] = []
            var files = 0
            let limits = DecodeLimits()
            for p in paths.sorted() where records.count < max {
                do {
                    guard let size = Posix.status(p)?.size, size <= FileDecoder.maxCompressedBytes else {
                        throw BenchInputError("missing, or larger than \(FileDecoder.maxCompressedBytes >> 20) MiB compressed")
                    }
                    let raw = try Inflater.inflateAll(Posix.readFile(p, regularOnly: true), limit: limits.inflatedBytes)
                    var splitter = RecordSplitter()
                    var kept: [([UInt8], [TopMember])] = []
                    try raw.withUnsafeBytes {
                        try splitter.feed($0) { _, r, fields in
                            if records.count + kept.count < max { kept.append((Array(r), fields.members)) }
                        }
                    }
                    try splitter.finish()
                    records += kept
                    files += 1
                } catch {
                    writeStderr("trailwatch: \(p): skipped: \(error)\n")
                }
            }
            if records.count >= max { writeStderr("trailwatch: kept the first \(max) records (--max-records)\n") }
            return (records, files)
        }
    }

    /// Why `rules bench` skipped an input file.
    struct BenchInputError: Error, CustomStringConvertible {
        let description: String
        init(_ reason: String) { description = reason }
    }
}
