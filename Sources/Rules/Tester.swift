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

    public static func run(_ set: RuleSet, only: Set<String>? = nil) -> [Result] {
        var out: [Result] = []
        let engine = RuleEngine(ruleSet: set)
        for (i, r) in set.rules.enumerated() where only.map({ $0.contains(r.name) }) ?? true {
            for t in r.rule.tests {
                let store = MemoryRuleState()
                var alerts: [Alert] = []
                for (n, event) in t.events.enumerated() {
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
