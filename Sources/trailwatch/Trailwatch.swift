import ArgumentParser

@main
struct Trailwatch: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "trailwatch",
        abstract: "Watches a mirrored CloudTrail bucket and keeps every event in a CloudWatch-Logs-style store.",
        version: version,
        subcommands: [Run.self, Logs.self, RulesCommand.self, Networks.self, Verify.self, Status.self, Serve.self, Simulate.self, AccessCommand.self]
    )

    /// Parses and runs a subcommand. A `ValidationError` thrown by a subcommand's `run()` (a check
    /// that needs the config file or the disk) gets that subcommand's usage, as a parse error does,
    /// instead of the top-level one ArgumentParser's own `main` would print.
    static func main() async {
        let command: any ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var sync = command
                try sync.run()
            }
        } catch let error as ValidationError {
            writeStderr(usageError(error.message, for: type(of: command)))
            exit(withError: ExitCode.validationFailure)
        } catch {
            exit(withError: error)
        }
    }

    /// "Error: …", the subcommand's usage line and where its help is, as ArgumentParser words a parse error.
    static func usageError(_ message: String, for subcommand: any ParsableCommand.Type) -> String {
        let usage = usageString(for: subcommand)
        // The command path is the synopsis up to its first argument ("trailwatch logs filter").
        let path = usage.split(separator: " ").prefix { !$0.hasPrefix("[") && !$0.hasPrefix("<") && !$0.hasPrefix("-") }
        return "Error: \(message)\nUsage: \(usage)\n  See '\(path.joined(separator: " ")) --help' for more information.\n"
    }
}
