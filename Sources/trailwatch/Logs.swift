import ArgumentParser
import CloudTrail
import FilterPattern
import FoundationEssentials
import LogStore

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Query the store with CloudWatch Logs semantics.",
        subcommands: [Groups.self, Streams.self, Get.self, Filter.self])

    enum Output: String, ExpressibleByArgument { case json, text }

    struct Common: ParsableArguments {
        @Option(help: "State directory.")
        var state: String
        @Option(help: "json: one object per line; text: readable lines.")
        var output: Output = .json

        func store() throws -> LogStore { try LogStore(stateDirectory: state, readOnly: true) }
    }

    struct Groups: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List log groups (DescribeLogGroups).")
        @OptionGroup var common: Common

        func run() throws {
            for g in try common.store().groups() {
                switch common.output {
                case .json:
                    var o = JSONObjectWriter()
                    o.add("logGroupName", g.name)
                    o.add("creationTime", g.creationTime)
                    if let r = g.retentionInDays { o.add("retentionInDays", Int64(r)) }
                    o.add("storedBytes", g.storedBytes)
                    o.add("arn", "arn:aws:logs:local:\(g.account):log-group:\(g.name):*")
                    print(o.text)
                case .text:
                    print("\(g.name)\t\(g.events) events\t\(g.storedBytes) bytes\tretention \(g.retentionInDays.map { "\($0) days" } ?? "never expire")")
                }
            }
        }
    }

    struct Streams: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a group's streams (DescribeLogStreams).")
        @OptionGroup var common: Common
        @Option(help: "Log group name.") var group: String
        @Option(help: "Only streams whose name starts with this.") var prefix: String?

        func run() throws {
            let store = try common.store().store(forGroup: group)
            for s in try store.streams(prefix: prefix) {
                switch common.output {
                case .json:
                    var o = JSONObjectWriter()
                    o.add("logStreamName", s.name)
                    o.add("creationTime", s.creationTime)
                    if let v = s.firstEventTimestamp { o.add("firstEventTimestamp", v) }
                    if let v = s.lastEventTimestamp { o.add("lastEventTimestamp", v) }
                    if let v = s.lastIngestionTime { o.add("lastIngestionTime", v) }
                    o.add("storedBytes", s.storedBytes)
                    print(o.text)
                case .text:
                    let first = s.firstEventTimestamp.map { Timestamp.formatISO8601($0) } ?? "-"
                    let last = s.lastEventTimestamp.map { Timestamp.formatISO8601($0) } ?? "-"
                    print("\(s.name)\t\(s.events) events\t\(first) .. \(last)")
                }
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Events of one stream (GetLogEvents: --end exclusive; newest page first unless --from-head).")
        @OptionGroup var common: Common
        @Option(help: "Log group name.") var group: String
        @Option(help: "Log stream name.") var stream: String
        @Option(help: "Start time, inclusive (ISO 8601 or epoch ms).") var start: String?
        @Option(help: "End time, exclusive (ISO 8601 or epoch ms).") var end: String?
        @Flag(help: "Start from the oldest events.") var fromHead = false
        @Option(help: "At most this many events (one page).") var limit: Int?
        @Option(help: "Token from a previous page (f/… or b/…).") var nextToken: String?

        func run() throws {
            let store = try common.store().store(forGroup: group)
            let s = try start.map(parseTime)
            let e = try end.map(parseTime)
            if limit == nil && nextToken == nil {
                // Page through everything, oldest first.
                var token: String? = nil
                while true {
                    let page = try store.get(stream: stream, start: s, end: e, fromHead: true, limit: 10_000, nextToken: token)
                    for ev in page.events { printEvent(ev, common.output) }
                    if page.events.isEmpty || page.nextForwardToken == token { break }
                    token = page.nextForwardToken
                }
                return
            }
            let page = try store.get(
                stream: stream, start: s, end: e, fromHead: fromHead, limit: limit ?? 10_000, nextToken: nextToken)
            for ev in page.events { printEvent(ev, common.output) }
            writeStderr("nextForwardToken: \(page.nextForwardToken)\nnextBackwardToken: \(page.nextBackwardToken)\n")
        }
    }

    struct Filter: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Search a group (FilterLogEvents: --end inclusive) with a CloudWatch filter pattern.")
        @OptionGroup var common: Common
        @Option(help: "Log group name.") var group: String
        @Option(name: .customLong("stream"), help: "Only these streams (repeatable).") var streams: [String] = []
        @Option(help: "Start time, inclusive (ISO 8601 or epoch ms).") var start: String?
        @Option(help: "End time, inclusive (ISO 8601 or epoch ms).") var end: String?
        // Unconditional: a pattern may start with "-" (an exclusion term, `-Describe`).
        @Option(parsing: .unconditional, help: "CloudWatch filter pattern, e.g. '{ $.eventName = ConsoleLogin }' or '-Describe'.")
        var pattern: String?
        @Option(help: "At most this many events (one page).") var limit: Int?
        @Option(help: "Token from a previous page.") var nextToken: String?

        func run() throws {
            let store = try common.store().store(forGroup: group)
            var compiled: FilterPattern? = nil
            if let pattern {
                do { compiled = try FilterPattern(pattern) } catch {
                    throw ValidationError("invalid filter pattern: \(error.description)")
                }
            }
            let s = try start.map(parseTime)
            let e = try end.map(parseTime)
            var token = nextToken
            while true {
                let page = try store.filter(
                    streams: streams.isEmpty ? nil : streams, start: s, end: e, pattern: compiled, limit: limit ?? 10_000,
                    nextToken: token)
                for ev in page.events { printEvent(ev, common.output) }
                guard let next = page.nextToken else { break }
                if limit != nil || nextToken != nil {
                    writeStderr("nextToken: \(next)\n")
                    break
                }
                token = next
            }
        }
    }
}

/// Prints one event. Output is always UTF-8: bytes that are not become U+FFFD, and the JSON form
/// then adds `messageBase64` with the stored bytes exactly (docs/store.md, "Bytes that are not UTF-8").
/// The text form is one line per event: the record in its one-line form (`JSONObjectWriter.oneLine`),
/// so neither a multi-line record nor control characters in a broken one reach the terminal raw.
func printEvent(_ e: LogEvent, _ output: Logs.Output) {
    switch output {
    case .json:
        var o = JSONObjectWriter()
        o.add("timestamp", e.timestamp)
        o.add("ingestionTime", e.ingestionTime)
        o.add("logStreamName", e.logStreamName)
        o.add("eventId", e.eventId)
        o.addRaw("message", JSONObjectWriter.quote(e.message))
        if String(validating: e.message, as: UTF8.self) == nil { o.add("messageBase64", Data(e.message).base64EncodedString()) }
        print(o.text)
    case .text:
        print("\(Timestamp.formatISO8601(e.timestamp))\t\(e.logStreamName)\t\(String(decoding: JSONObjectWriter.oneLine(e.message), as: UTF8.self))")
    }
}
