import CloudTrail
import FilterPattern
import FoundationEssentials
import LogStore

/// The CloudWatch Logs actions over the store, as JSON 1.1 bodies in and out: request shapes,
/// limits, errors and pagination tokens as CloudWatch has them, every action checked against the
/// caller's grants. No HTTP here: the server hands it an action name, a body and a caller.
package struct LogsService: Sendable {
    /// The actions served (the `X-Amz-Target` suffixes).
    package enum Action: String, Sendable, CaseIterable {
        case describeLogGroups = "DescribeLogGroups"
        case describeLogStreams = "DescribeLogStreams"
        case getLogEvents = "GetLogEvents"
        case filterLogEvents = "FilterLogEvents"
        case putRetentionPolicy = "PutRetentionPolicy"
        case deleteRetentionPolicy = "DeleteRetentionPolicy"
    }

    let store: StoreAccess
    let tokens: TokenSigner
    /// The region written into ARNs (a group here holds every region of its account).
    let region: String

    /// A service over `store`, signing tokens with `tokens`.
    package init(store: StoreAccess, tokens: TokenSigner = TokenSigner(), region: String = "local") {
        self.store = store
        self.tokens = tokens
        self.region = region
    }

    /// Runs `action` on `body` for `caller`; the response body, or the error to send.
    package func handle(_ action: Action, body: [UInt8], caller: Caller) throws(APIError) -> [UInt8] {
        var fields = try RequestFields(body: body)
        do {
            switch action {
            case .describeLogGroups: return Array(try describeLogGroups(&fields, caller).utf8)
            case .describeLogStreams: return Array(try describeLogStreams(&fields, caller).utf8)
            case .getLogEvents: return try getLogEvents(&fields, caller)
            case .filterLogEvents: return try filterLogEvents(&fields, caller)
            case .putRetentionPolicy: return Array(try putRetentionPolicy(&fields, caller).utf8)
            case .deleteRetentionPolicy: return Array(try deleteRetentionPolicy(&fields, caller).utf8)
            }
        } catch let e as APIError {
            throw e
        } catch let e as StoreError {
            switch e.code {
            case .resourceNotFound: throw APIError(.resourceNotFound, e.message)
            case .invalidParameter: throw APIError(.invalidParameter, e.message)
            default: throw APIError(.serviceUnavailable, "The store cannot be read: \(e.message)")
            }
        } catch {
            throw APIError(.serviceUnavailable, "The store cannot be read: \(error)")
        }
    }

    // MARK: Groups and grants

    private func granted(_ caller: Caller) throws -> [String] {
        try store.accounts().filter(caller.mayRead(account:))
    }

    /// The group a request names (by `logGroupName` or `logGroupIdentifier`, exactly one); a group
    /// the caller may not read is answered exactly as one that does not exist.
    private func group(_ f: inout RequestFields, _ caller: Caller, identifierAllowed: Bool = true) throws -> AccountStore {
        let name = try f.string("logGroupName", min: 1, max: 512)
        let identifier = identifierAllowed ? try f.string("logGroupIdentifier", min: 1, max: 2048) : nil
        let wanted: String
        switch (name, identifier) {
        case (let n?, nil): wanted = n
        case (nil, let i?):
            // A name or an ARN `arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]`.
            let parts = i.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count >= 7, parts[0] == "arn", parts[5] == "log-group" {
                wanted = String(parts[6])
            } else {
                wanted = i
            }
        case (nil, nil):
            throw APIError(.invalidParameter, "Either logGroupName or logGroupIdentifier must be specified")
        case (_?, _?):
            throw APIError(.invalidParameter, "logGroupName and logGroupIdentifier cannot both be specified")
        }
        guard let s = try store.group(named: wanted, among: granted(caller)) else {
            throw APIError(.resourceNotFound, "The specified log group does not exist.")
        }
        return s
    }

    private func arn(_ account: String, _ group: String) -> String { "arn:aws:logs:\(region):\(account):log-group:\(group)" }

    // MARK: Actions

    private func describeLogGroups(_ f: inout RequestFields, _ caller: Caller) throws -> String {
        let prefix = try f.string("logGroupNamePrefix", min: 1, max: 512)
        let pattern = try f.string("logGroupNamePattern", min: 0, max: 512)
        let limit = Int(try f.integer("limit", in: 1...50) ?? 50)
        let token = try f.string("nextToken", min: 1, max: 4096)
        _ = try f.bool("includeLinkedAccounts")  // no linked accounts here: nothing to add
        let logGroupClass = try f.string("logGroupClass", max: 32)
        if let c = logGroupClass, !["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"].contains(c) {
            throw APIError.validation(c, at: "logGroupClass", "Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]")
        }
        if try f.strings("accountIdentifiers", count: 0...20, max: 12) != nil
            || f.strings("logGroupIdentifiers", count: 1...50, max: 2048) != nil
        {
            throw APIError(.invalidParameter, "accountIdentifiers and logGroupIdentifiers are not supported by this server")
        }
        try f.finish()
        if prefix != nil && pattern != nil {
            throw APIError(.invalidParameter, "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        }
        let context = "groups\u{1F}\(caller.name)\u{1F}\(prefix ?? "")\u{1F}\(pattern.map { "p" + $0 } ?? "")\u{1F}\(logGroupClass ?? "")"
        let start = try offset(token, context: context)
        var groups: [GroupInfo] = []
        for a in try granted(caller) {
            let g = try store.account(a).groupInfo()
            if let prefix, !g.name.hasPrefix(prefix) { continue }
            if let pattern, !pattern.isEmpty, !g.name.contains(pattern) { continue }
            if let c = logGroupClass, c != "STANDARD" { continue }
            groups.append(g)
        }
        groups.sort { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        let page = groups.dropFirst(start).prefix(limit)
        var items: [String] = []
        for g in page {
            var o = JSONObjectWriter()
            o.add("logGroupName", g.name)
            o.add("creationTime", g.creationTime)
            if pattern == nil {
                if let r = g.retentionInDays { o.add("retentionInDays", Int64(r)) }
                o.add("metricFilterCount", Int64(0))
                o.add("storedBytes", g.storedBytes)
                o.add("logGroupClass", "STANDARD")
                o.add("logGroupArn", arn(g.account, g.name))
            }
            o.add("arn", arn(g.account, g.name) + ":*")
            items.append(o.text)
        }
        return listing("logGroups", items, next: start + page.count < groups.count ? start + page.count : nil, context: context)
    }

    /// A page of a listing: `key`'s array of items, and a signed `nextToken` for the offset `next`
    /// when more follow.
    private func listing(_ key: String, _ items: [String], next: Int?, context: String) -> String {
        var out = JSONObjectWriter()
        out.addRaw(key, "[" + items.joined(separator: ",") + "]")
        if let next { out.add("nextToken", tokens.sign(String(next), context: context)) }
        return out.text
    }

    private func describeLogStreams(_ f: inout RequestFields, _ caller: Caller) throws -> String {
        let s = try group(&f, caller)
        let prefix = try f.string("logStreamNamePrefix", min: 1, max: 512)
        let orderBy = try f.string("orderBy", max: 32) ?? "LogStreamName"
        let descending = try f.bool("descending") ?? false
        let limit = Int(try f.integer("limit", in: 1...50) ?? 50)
        let token = try f.string("nextToken", min: 1, max: 4096)
        try f.finish()
        guard orderBy == "LogStreamName" || orderBy == "LastEventTime" else {
            throw APIError.validation(orderBy, at: "orderBy", "Member must satisfy enum value set: [LogStreamName, LastEventTime]")
        }
        if prefix != nil && orderBy == "LastEventTime" {
            throw APIError(.invalidParameter, "Cannot order by LastEventTime with a logStreamNamePrefix.")
        }
        let context = "streams\u{1F}\(s.groupName)\u{1F}\(prefix ?? "")\u{1F}\(orderBy)\u{1F}\(descending)"
        let start = try offset(token, context: context)
        var streams = try s.streams(prefix: prefix)  // ASCII order of name
        if orderBy == "LastEventTime" {
            streams = streams.enumerated().sorted {
                ($0.element.lastEventTimestamp ?? 0, $0.offset) < ($1.element.lastEventTimestamp ?? 0, $1.offset)
            }.map(\.element)
        }
        if descending { streams.reverse() }
        let page = streams.dropFirst(start).prefix(limit)
        var items: [String] = []
        for st in page {
            var o = JSONObjectWriter()
            o.add("logStreamName", st.name)
            o.add("creationTime", st.creationTime)
            if let v = st.firstEventTimestamp { o.add("firstEventTimestamp", v) }
            if let v = st.lastEventTimestamp { o.add("lastEventTimestamp", v) }
            if let v = st.lastIngestionTime { o.add("lastIngestionTime", v) }
            o.add("arn", arn(s.account, s.groupName) + ":log-stream:" + st.name)
            o.add("storedBytes", st.storedBytes)
            items.append(o.text)
        }
        return listing("logStreams", items, next: start + page.count < streams.count ? start + page.count : nil, context: context)
    }

    private func getLogEvents(_ f: inout RequestFields, _ caller: Caller) throws -> [UInt8] {
        let s = try group(&f, caller)
        let stream = try f.requiredString("logStreamName", max: 512)
        let startTime = try f.integer("startTime", in: 0...Int64.max)
        let endTime = try f.integer("endTime", in: 0...Int64.max)
        let givenLimit = try f.integer("limit", in: 1...10_000)
        let limit = Int(givenLimit ?? 10_000)
        let token = try f.string("nextToken", min: 1, max: 4096)
        let fromHead = try f.bool("startFromHead") ?? false
        _ = try f.bool("unmask")  // nothing is masked here
        try f.finish()
        let context = "get\u{1F}\(s.groupName)\u{1F}\(stream)"
        var storeToken: String? = nil
        if let token {
            // `f/<position><mac>/s` or `b/…`: the store's `f/<position>/s` inside, signed with the direction.
            let dir = token.prefix(2)
            var body = token.dropFirst(2)
            if body.hasSuffix("/s") { body = body.dropLast(2) }
            guard dir == "f/" || dir == "b/", let position = tokens.open(body, context: context + "\u{1F}" + dir) else {
                throw APIError(.invalidParameter, "The specified nextToken is invalid.")
            }
            storeToken = "\(dir)\(position)/s"
        }
        var page = try s.get(stream: stream, start: startTime, end: endTime, fromHead: fromHead, limit: limit, nextToken: storeToken,
            shared: store.blocks)
        if givenLimit == nil {
            // Without a limit CloudWatch returns as many events as fit in 1 MB: keep the page's
            // oldest events going forward, its newest going backward, and point the tokens past them.
            let forward = storeToken.map { $0.hasPrefix("f/") } ?? fromHead
            Self.trim(&page, toBytes: 1_048_576, keepingOldest: forward)
        }
        var out = EventsAnswer(events: page.events)
        for e in page.events {
            out.event {
                $0.number("timestamp", e.timestamp)
                $0.text("message", e.message)
                $0.number("ingestionTime", e.ingestionTime)
            }
        }
        func sign(_ storeToken: String) -> String {
            // The store's tokens are `f/<52 digits>/s`: sign the digits with the direction.
            let dir = String(storeToken.prefix(2))
            var digits = storeToken.dropFirst(2)
            if digits.hasSuffix("/s") { digits = digits.dropLast(2) }
            return dir + tokens.sign(String(digits), context: context + "\u{1F}" + dir) + "/s"
        }
        out.endEvents()
        out.string("nextForwardToken", sign(page.nextForwardToken))
        out.string("nextBackwardToken", sign(page.nextBackwardToken))
        return out.finish()
    }

    private func filterLogEvents(_ f: inout RequestFields, _ caller: Caller) throws -> [UInt8] {
        let s = try group(&f, caller)
        let names = try f.strings("logStreamNames", count: 1...100, max: 512)
        let prefix = try f.string("logStreamNamePrefix", min: 1, max: 512)
        let startTime = try f.integer("startTime", in: 0...Int64.max)
        let endTime = try f.integer("endTime", in: 0...Int64.max)
        let patternText = try f.string("filterPattern", min: 0, max: 1024)
        let token = try f.string("nextToken", min: 1, max: 4096)
        let limit = Int(try f.integer("limit", in: 1...10_000) ?? 10_000)
        _ = try f.bool("interleaved")  // always interleaved, as CloudWatch since 2019
        _ = try f.bool("unmask")
        try f.finish()
        if names != nil && prefix != nil {
            throw APIError(.invalidParameter, "logStreamNames and logStreamNamePrefix are mutually exclusive")
        }
        var pattern: FilterPattern? = nil
        if let patternText, !patternText.allSatisfy(\.isWhitespace) {
            do { pattern = try FilterPattern(patternText) } catch {
                throw APIError(.invalidParameter, "Invalid filter pattern: \(error.description)")
            }
        }
        var streams = names
        if let prefix {
            streams = try s.streams(prefix: prefix).map(\.name)
            if streams!.isEmpty {
                var out = JSONObjectWriter()
                out.addRaw("events", "[]")
                out.addRaw("searchedLogStreams", "[]")
                return out.bytes
            }
        }
        let context = "filter\u{1F}\(s.groupName)"
        var position: String? = nil
        if let token {
            guard let p = tokens.open(Substring(token), context: context) else {
                throw APIError(.invalidParameter, "The specified nextToken is invalid.")
            }
            position = p
        }
        let page = try s.filter(streams: streams, start: startTime, end: endTime, pattern: pattern, limit: limit, nextToken: position,
            shared: store.blocks)
        var out = EventsAnswer(events: page.events)
        for e in page.events {
            out.event {
                $0.string("logStreamName", e.logStreamName)
                $0.number("timestamp", e.timestamp)
                $0.text("message", e.message)
                $0.number("ingestionTime", e.ingestionTime)
                $0.string("eventId", e.eventId)
            }
        }
        out.endEvents()
        out.raw("searchedLogStreams", "[]")
        if let next = page.nextToken { out.string("nextToken", tokens.sign(next, context: context)) }
        return out.finish()
    }

    private func putRetentionPolicy(_ f: inout RequestFields, _ caller: Caller) throws -> String {
        let s = try group(&f, caller, identifierAllowed: false)
        guard let days = try f.integer("retentionInDays") else {
            throw APIError.validation("null", at: "retentionInDays", "Member must not be null")
        }
        try f.finish()
        guard Retention.allowedDays.contains(Int(clamping: days)) else {
            throw APIError.validation(
                String(days), at: "retentionInDays",
                "Member must satisfy enum value set: [\(Retention.allowedDays.map(String.init).joined(separator: ", "))]")
        }
        try changeRetention(s, caller, days: Int(days))
        return ""
    }

    private func deleteRetentionPolicy(_ f: inout RequestFields, _ caller: Caller) throws -> String {
        let s = try group(&f, caller, identifierAllowed: false)
        try f.finish()
        try changeRetention(s, caller, days: nil)
        return ""
    }

    private func changeRetention(_ s: AccountStore, _ caller: Caller, days: Int?) throws {
        guard caller.mayChangeRetention else {
            throw APIError(.accessDenied, "User: \(caller.name) is not authorized to change the retention of log group \(s.groupName)")
        }
        try store.setRetention(account: s.account, days: days)
    }

    /// Cuts a GetLogEvents page down to about `toBytes` (messages plus 26 bytes each, as
    /// FilterLogEvents counts), at least one event, and moves its tokens to the events kept.
    static func trim(_ page: inout GetPage, toBytes budget: Int, keepingOldest: Bool) {
        var bytes = 0
        var keep = 0
        let order = keepingOldest ? Array(page.events.indices) : page.events.indices.reversed()
        for i in order {
            bytes += page.events[i].message.count + 26
            if keep > 0 && bytes > budget { break }
            keep += 1
        }
        guard keep < page.events.count else { return }
        if keepingOldest {
            page.events.removeLast(page.events.count - keep)
            page.nextForwardToken = "f/\(page.events[page.events.count - 1].eventId)/s"
        } else {
            page.events.removeFirst(page.events.count - keep)
            page.nextBackwardToken = "b/\(page.events[0].eventId)/s"
        }
    }

    /// The offset a Describe token carries (0 without one).
    private func offset(_ token: String?, context: String) throws(APIError) -> Int {
        guard let token else { return 0 }
        guard let p = tokens.open(Substring(token), context: context), let n = Int(p), n >= 0 else {
            throw APIError(.invalidParameter, "The specified nextToken is invalid.")
        }
        return n
    }
}

/// The answer of GetLogEvents and FilterLogEvents written straight into bytes: `{"events":[…]`,
/// then the members after the array, then `}`. The same bytes `JSONObjectWriter` gave through
/// strings, without a string per event, their join and the copies in between.
struct EventsAnswer {
    private var bytes: [UInt8] = []
    private var events = 0
    /// No member written yet in the object being written (an event, or the answer after `events`).
    private var first = true
    private var closed = false

    /// An answer sized for `events` (their messages and ~200 bytes each besides).
    init(events: [LogEvent]) {
        bytes.reserveCapacity(events.reduce(64) { $0 + $1.message.count + $1.logStreamName.utf8.count + 200 })
        bytes += #"{"events":["#.utf8
    }

    /// Adds one event, an object whose members `members` writes (with `number`, `string`, `text`).
    mutating func event(_ members: (inout Self) -> Void) {
        if events > 0 { bytes.append(UInt8(ascii: ",")) }
        events += 1
        bytes.append(UInt8(ascii: "{"))
        first = true
        members(&self)
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func key(_ key: String) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        JSONObjectWriter.appendQuoted(key.utf8, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// A member holding a number.
    mutating func number(_ key: String, _ value: Int64) {
        self.key(key)
        bytes += String(value).utf8
    }

    /// A member holding a JSON string.
    mutating func string(_ key: String, _ value: String) {
        self.key(key)
        JSONObjectWriter.appendQuoted(value.utf8, to: &bytes)
    }

    /// A member holding a JSON string of the UTF-8 text of `value` (see ``JSONObjectWriter/appendText(_:to:)``).
    mutating func text(_ key: String, _ value: [UInt8]) {
        self.key(key)
        JSONObjectWriter.appendText(value, to: &bytes)
    }

    /// Ends the array of events: the members that follow belong to the answer.
    mutating func endEvents() {
        guard !closed else { return }
        closed = true
        first = false  // `events` came first
        bytes.append(UInt8(ascii: "]"))
    }

    /// A member of the answer holding already-encoded JSON.
    mutating func raw(_ key: String, _ json: String) {
        self.key(key)
        bytes += json.utf8
    }

    /// The whole answer.
    mutating func finish() -> [UInt8] {
        endEvents()
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }
}
