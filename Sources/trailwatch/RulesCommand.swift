import ArgumentParser
import Ingest
import Rules

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "Check, test and document rule files.",
        subcommands: [Check.self, Test.self, Catalog.self])

    static let defaultPaths = ["/usr/share/trailwatch/rules", "/etc/trailwatch/rules.d"]

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lint rule and list files: errors as file:line:column with a hint; exits non-zero on errors.")
        @Argument(help: "Rule directories or files (default: the shipped rules and /etc/trailwatch/rules.d).")
        var paths: [String] = []

        func run() throws {
            let (set, diagnostics) = RuleLoader.load(paths.isEmpty ? RulesCommand.defaultPaths : paths)
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
        @Argument(help: "Rule directories or files.")
        var paths: [String] = []
        @Option(help: "Only this rule (repeatable).")
        var rule: [String] = []

        func run() throws {
            let (set, diagnostics) = RuleLoader.load(paths.isEmpty ? RulesCommand.defaultPaths : paths)
            for d in diagnostics where d.severity == .error { writeStderr(d.description + "\n") }
            guard let set else { throw ExitCode(1) }
            let results = RuleTester.run(set, only: rule.isEmpty ? nil : Set(rule))
            var failed = 0
            for r in results {
                if r.passed {
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
        @Argument(help: "Rule directories or files.")
        var paths: [String] = []

        func run() throws {
            let (set, diagnostics) = RuleLoader.load(paths.isEmpty ? RulesCommand.defaultPaths : paths)
            for d in diagnostics where d.severity == .error { writeStderr(d.description + "\n") }
            guard let set else { throw ExitCode(1) }
            print(CatalogWriter.catalog(set), terminator: "")
        }
    }
}
