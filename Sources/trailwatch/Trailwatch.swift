import ArgumentParser

@main
struct Trailwatch: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "trailwatch",
        abstract: "Watches a mirrored CloudTrail bucket and keeps every event in a CloudWatch-Logs-style store.",
        version: version,
        subcommands: [Run.self, Logs.self, RulesCommand.self, Networks.self, Verify.self, Status.self, Simulate.self]
    )
}
