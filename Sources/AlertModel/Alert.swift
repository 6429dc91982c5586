import CloudTrail

/// One alert, as every sink writes it.
public struct Alert: Sendable, Equatable, Codable {
    public var rule: String
    public var severity: String
    public var priority: Int
    public var messageID: String
    public var message: String
    public var account: String
    public var region: String
    public var principal: String
    public var sourceIP: String
    public var eventName: String
    public var eventIDs: [String]
    /// The earliest triggering event's time, `YYYY-MM-DDTHH:MM:SSZ`.
    public var eventTime: String
    public var count: Int
    public var logFile: String
    /// Deterministic: the same triggering events give the same id, so a replay never alerts twice.
    public var alertID: String
    /// The triggering records as delivered (at most a few).
    public var records: [String]
    /// Extra structured fields (upper-case names without the TRAILWATCH_ prefix), e.g. integrity's DIGEST.
    public var extra: [String: String] = [:]

    public init(
        rule: String, severity: String, priority: Int, messageID: String, message: String, account: String, region: String,
        principal: String, sourceIP: String, eventName: String, eventIDs: [String], eventTime: String, count: Int,
        logFile: String, alertID: String, records: [String], extra: [String: String] = [:]
    ) {
        self.rule = rule
        self.severity = severity
        self.priority = priority
        self.messageID = messageID
        self.message = message
        self.account = account
        self.region = region
        self.principal = principal
        self.sourceIP = sourceIP
        self.eventName = eventName
        self.eventIDs = eventIDs
        self.eventTime = eventTime
        self.count = count
        self.logFile = logFile
        self.alertID = alertID
        self.records = records
        self.extra = extra
    }

    /// The alert as JSON with its Codable keys (what `JSONDecoder` reads back), written directly:
    /// the outbox stores one per alert, and an alert storm made JSONEncoder the committer's largest cost.
    public var payload: [UInt8] {
        var w = JSONObjectWriter(capacity: 512 + records.reduce(0) { $0 + $1.utf8.count * 11 / 10 })
        addFields(to: &w, snakeCase: false)
        w.add("records", records)
        w.add("extra", extra)
        return w.bytes
    }

    /// Adds the fields every written form of an alert has, under its Codable keys or, for the
    /// JSON-lines sink, the journal's names in lower case (`message_id`, `source_ip`, …).
    public func addFields(to w: inout JSONObjectWriter, snakeCase: Bool) {
        func key(_ codable: String, _ snake: String) -> String { snakeCase ? snake : codable }
        w.add("rule", rule)
        w.add("severity", severity)
        w.add("priority", Int64(priority))
        w.add(key("messageID", "message_id"), messageID)
        w.add("account", account)
        w.add("region", region)
        w.add("principal", principal)
        w.add(key("sourceIP", "source_ip"), sourceIP)
        w.add(key("eventName", "event_name"), eventName)
        w.add(key("eventIDs", "event_ids"), eventIDs)
        w.add(key("eventTime", "event_time"), eventTime)
        w.add("count", Int64(count))
        w.add(key("logFile", "log_file"), logFile)
        w.add(key("alertID", "alert_id"), alertID)
        w.add("message", message)
    }
}
