import AlertModel
import CloudTrail

/// Runs rules' inline tests: each event in order, as if each came in its own file, then the
/// end-of-run flush (suppression summaries). Counts only the tested rule's alerts.
public enum RuleTester {
    public struct Result: Sendable {
        public var rule: String
        public var test: String
        public var position: SourcePosition
        public var expected: Int
        public var got: Int
        public var alerts: [Alert]
        public var passed: Bool { expected == got }
    }

    /// `readFile` resolves `event file PATH` fixtures (path relative to the rule file's folder); a
    /// fixture holds one event, a `{"Records":[…]}` document, or one event a line.
    public static func run(_ set: RuleSet, only: Set<String>? = nil, readFile: (String) -> [UInt8]? = { _ in nil }) -> [Result] {
        var out: [Result] = []
        let engine = RuleEngine(ruleSet: set)
        for (i, r) in set.rules.enumerated() where only.map({ $0.contains(r.name) }) ?? true {
            for t in r.rule.tests {
                let store = MemoryRuleState()
                var alerts: [Alert] = []
                var events: [String] = []
                var missing: String? = nil
                for e in t.events {
                    guard e.hasPrefix(RuleTest.filePrefix) else {
                        events.append(e)
                        continue
                    }
                    let relative = String(e.dropFirst(RuleTest.filePrefix.count))
                    let dir = t.position.file.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
                    let path = relative.hasPrefix("/") ? relative : (dir.isEmpty ? relative : dir + "/" + relative)
                    guard let bytes = readFile(path) else {
                        missing = path
                        continue
                    }
                    events += fixtureEvents(bytes)
                }
                if let missing {
                    out.append(Result(rule: r.name, test: t.name + " (cannot read \(missing))", position: t.position, expected: t.expectedAlerts, got: -1, alerts: []))
                    continue
                }
                for (n, event) in events.enumerated() {
                    let bytes = Array(event.utf8)
                    let hits = bytes.withUnsafeBytes {
                        set.hits(record: $0, index: n, account: "123456789012", region: "us-east-1")
                    }.filter { $0.rule == i }
                    alerts += (try? engine.process(hits, logFile: "test:\(t.name)#\(n)", store: store)) ?? []
                }
                alerts += (try? engine.flush(store: store, before: nil)) ?? []
                out.append(Result(rule: r.name, test: t.name, position: t.position, expected: t.expectedAlerts, got: alerts.count, alerts: alerts))
            }
        }
        return out
    }
}

extension RuleTester {
    /// The events of a fixture: a `{"Records":[…]}` document, JSON lines, or one JSON object.
    static func fixtureEvents(_ bytes: [UInt8]) -> [String] {
        var splitter = RecordSplitter()
        var records: [String] = []
        let ok: Bool = bytes.withUnsafeBytes { p in
            do {
                try splitter.feed(p) { _, r in records.append(String(decoding: r, as: UTF8.self)) }
                try splitter.finish()
                return true
            } catch {
                return false
            }
        }
        if ok { return records }
        let lines = bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }.filter { $0.contains("{") }
        return lines.count > 1 ? lines : [String(decoding: bytes, as: UTF8.self)]
    }
}
