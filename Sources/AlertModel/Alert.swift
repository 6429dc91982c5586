import CloudTrail
import FoundationEssentials

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

extension Alert {
    /// The first byte of ``compact``: never `{`, so a stored alert tells its form by its first byte.
    static let compactVersion: UInt8 = 1

    /// The alert in a binary form for the store (the outbox row, a suppression period's first
    /// alert): each string as a varint length and its bytes, in field order. Cheaper to write than
    /// ``payload`` and read back without a JSON parser, which an alert storm pays once per alert.
    public var compact: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + message.utf8.count + records.reduce(0) { $0 + $1.utf8.count + 3 } + eventIDs.count * 40)
        out.append(Self.compactVersion)
        func put(_ s: String) {
            var s = s
            s.withUTF8 { u in
                Varint.put(&out, UInt64(u.count))
                out.append(contentsOf: u)
            }
        }
        func put(_ strings: [String]) {
            Varint.put(&out, UInt64(strings.count))
            for s in strings { put(s) }
        }
        for s in [rule, severity, messageID, message, account, region, principal, sourceIP, eventName, eventTime, logFile, alertID] {
            put(s)
        }
        Varint.put(&out, Varint.zigzag(Int64(priority)))
        Varint.put(&out, Varint.zigzag(Int64(count)))
        put(eventIDs)
        put(records)
        let keys = extra.keys.sorted()
        Varint.put(&out, UInt64(keys.count))
        for k in keys {
            put(k)
            put(extra[k]!)
        }
        return out
    }

    /// Reads an alert as the store keeps it: ``compact`` or, from stores written before it, the JSON
    /// ``payload``. Nil when the bytes are damaged.
    public static func stored(_ bytes: [UInt8]) -> Alert? {
        guard let first = bytes.first else { return nil }
        if first == UInt8(ascii: "{") { return try? JSONDecoder().decode(Alert.self, from: Data(bytes)) }
        guard first == compactVersion else { return nil }
        return bytes.withUnsafeBytes { p -> Alert? in
            var i = 1
            func string() -> String? {
                guard let n = Varint.get(p, &i), n <= UInt64(p.count - i) else { return nil }
                defer { i += Int(n) }
                return String(decoding: UnsafeRawBufferPointer(rebasing: p[i..<(i + Int(n))]), as: UTF8.self)
            }
            func strings() -> [String]? {
                guard let n = Varint.get(p, &i), n <= UInt64(p.count - i) else { return nil }
                var out: [String] = []
                out.reserveCapacity(Int(n))
                for _ in 0..<n {
                    guard let s = string() else { return nil }
                    out.append(s)
                }
                return out
            }
            var f: [String] = []
            f.reserveCapacity(12)
            for _ in 0..<12 {
                guard let s = string() else { return nil }
                f.append(s)
            }
            guard let priority = Varint.get(p, &i), let count = Varint.get(p, &i), let eventIDs = strings(), let records = strings(),
                let n = Varint.get(p, &i), n <= UInt64(p.count - i)
            else { return nil }
            var extra: [String: String] = [:]
            for _ in 0..<n {
                guard let k = string(), let v = string() else { return nil }
                extra[k] = v
            }
            guard i == p.count else { return nil }
            return Alert(
                rule: f[0], severity: f[1], priority: Int(Varint.unzigzag(priority)), messageID: f[2], message: f[3], account: f[4],
                region: f[5], principal: f[6], sourceIP: f[7], eventName: f[8], eventIDs: eventIDs, eventTime: f[9],
                count: Int(Varint.unzigzag(count)), logFile: f[10], alertID: f[11], records: records, extra: extra)
        }
    }
}
