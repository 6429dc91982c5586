import AlertModel
import CloudTrail
import LogStore
import Rules

/// A decoded file and its rule matches: found while decoding, or left to the committer (the
/// inflated bytes and each record's top-level members kept for ``matchDeferredRules()``).
@dynamicMemberLookup
package struct MatchedFile: Sendable {
    /// What the store keeps.
    package var file: DecodedFile
    /// Rule matches found so far, and the rule set that found them (nil: no rules).
    package var hits: [RuleHit] = []
    package var ruleSet: RuleSet? = nil
    /// For rule matching on the committing thread: the inflated bytes and each record's top-level
    /// members (one flat array, `memberRanges[i]` for record i). Empty when matching already ran.
    package var raw: [UInt8] = []
    package var members: [TopMember] = []
    package var memberRanges: [Range<Int>] = []

    package init(_ file: DecodedFile) { self.file = file }

    package subscript<T>(dynamicMember path: KeyPath<DecodedFile, T>) -> T { file[keyPath: path] }

    /// Matches the rules now (on the calling thread) if the decoder left that to the committer.
    package mutating func matchDeferredRules() {
        guard let set = ruleSet, !raw.isEmpty else { return }
        let evaluator = Evaluator()
        evaluator.startFile()
        var found: [RuleHit] = []
        raw.withUnsafeBytes { all in
            members.withUnsafeBufferPointer { m in
                for (i, r) in file.records.enumerated() {
                    let bytes = UnsafeRawBufferPointer(rebasing: all[r.entry.offset..<(r.entry.offset + r.entry.length)])
                    found += set.hits(
                        record: bytes, index: i, account: file.key.account, region: file.key.region, evaluator: evaluator,
                        memberBuffer: UnsafeBufferPointer(rebasing: m[memberRanges[i]]))
                }
            }
        }
        hits = found
        raw = []
        members = []
        memberRanges = []
    }
}

/// Commits files: owns the store's write transaction and runs in it, for each file in order, the
/// block insert (events, index, dedup keys), the rule engine on the transaction's rule state
/// (alerts go to the outbox as they are found, each id once), and the ledger row. One transaction
/// per file, or per group of files of one account that were waiting together (group commit: the
/// pages they share, the account's stream, ledger, index and rule-state pages, are written to the
/// WAL once), is what makes a crash harmless: each file is either wholly committed (never replayed,
/// its alerts recorded) or leaves no trace.
struct Committer {
    /// The rule engine's allowed lateness; each file with rules (``MatchedFile/ruleSet``) gets its
    /// own engine, a file without them its block and ledger row only.
    let latenessMs: Int64

    /// A file to commit: `file` (its deferred rules already matched) and the path alerts name.
    struct Item {
        var file: MatchedFile
        var logFile: String
    }

    /// Commits `file` (its deferred rules already matched) to `store`; returns what the store did
    /// and the alerts it recorded (with their places in the outbox), to be delivered after the commit.
    /// `receipts`: deliveries of earlier alerts of the account not yet recorded (one outbox batch
    /// each), recorded first in the same transaction.
    func commit(
        _ file: MatchedFile, to store: AccountStore, logFile: String, now: Int64, receipts: [[AlertDelivery]] = []
    ) throws -> (CommitResult, [PendingAlert]) {
        try commit([Item(file: file, logFile: logFile)], to: store, now: now, receipts: receipts)[0]
    }

    /// Commits `items`, files of `store`'s account, in order in one transaction: all of them or,
    /// if anything throws, none. Returns each file's outcome, in order.
    func commit(
        _ items: [Item], to store: AccountStore, now: Int64, receipts: [[AlertDelivery]] = []
    ) throws -> [(CommitResult, [PendingAlert])] {
        try store.write(now: now) { tx in
            for pass in receipts { try tx.recordDeliveries(pass) }
            return try items.map { try commit($0.file, logFile: $0.logFile, in: tx) }
        }
    }

    /// One file's share of a transaction: block, rules, outbox, ledger row.
    private func commit(_ file: MatchedFile, logFile: String, in tx: WriteTransaction) throws -> (CommitResult, [PendingAlert]) {
        let block: WriteTransaction.InsertedBlock
        switch try tx.insertBlock(file.file) {
        case .unchanged(let result): return (result, [])
        case .inserted(let b): block = b
        }
        var alerts: [PendingAlert] = []
        if let set = file.ruleSet {
            let engine = RuleEngine(ruleSet: set, latenessMs: latenessMs)
            let state = TransactionRuleState(tx, block: block)
            // A duplicate record's hits counted when it was first stored.
            var found = try engine.process(file.hits, logFile: logFile, store: state) { !block.isDuplicate($0.record) }
            if let newest = block.newestEventTime {
                found += try engine.flush(store: state, before: newest)
                try engine.expire(store: state, watermark: newest)
            }
            alerts = state.recorded(found)
        }
        return (try tx.recordLedger(block), alerts)
    }
}

/// The rule engine's state (``RuleStateStore``) on a store transaction: encodes and decodes what
/// the store keeps as bytes, and records alerts in the outbox.
final class TransactionRuleState: RuleStateStore {
    let tx: WriteTransaction
    /// The block the transaction stored (nil: none), where the alerts' records are found.
    let block: WriteTransaction.InsertedBlock?
    /// Built on the first alert with records.
    private lazy var locator: RecordLocator? = block.map(RecordLocator.init)

    init(_ tx: WriteTransaction, block: WriteTransaction.InsertedBlock? = nil) {
        self.tx = tx
        self.block = block
    }

    func window(rule: String, key: String) throws -> WindowState? {
        guard let bytes = try tx.windowState(rule: rule, key: key) else { return nil }
        guard let state = WindowState(encoded: bytes) else { throw DamagedRuleState(what: "window", rule: rule) }
        return state
    }

    func setWindow(rule: String, key: String, _ state: WindowState?) throws {
        try tx.setWindowState(rule: rule, key: key, newest: state?.events.last?.t ?? 0, state?.encoded())
    }

    func lastSeen(rule: String, key: String, value: String) throws -> (time: Int64?, keyKnown: Bool) {
        try tx.lastSeen(rule: rule, key: key, value: value)
    }

    func setLastSeen(rule: String, key: String, value: String, time: Int64) throws {
        try tx.setLastSeen(rule: rule, key: key, value: value, time: time)
    }

    func suppression(rule: String, key: String) throws -> SuppressionState? {
        try tx.suppressionState(rule: rule, key: key).map { try Self.suppression($0, rule: rule) }
    }

    func setSuppression(rule: String, key: String, _ state: SuppressionState?) throws {
        try tx.setSuppressionState(rule: rule, key: key, until: state?.until ?? 0, state?.encoded())
    }

    func openSuppressions(endingBy: Int64?) throws -> [(rule: String, key: String, state: SuppressionState)] {
        try tx.suppressionStates(endingBy: endingBy).map { ($0.rule, $0.key, try Self.suppression($0.state, rule: $0.rule)) }
    }

    static func suppression(_ bytes: [UInt8], rule: String) throws -> SuppressionState {
        guard let s = SuppressionState(encoded: bytes) else { throw DamagedRuleState(what: "suppression", rule: rule) }
        return s
    }

    func expire(windowsBefore: Int64, firstSeenBefore: Int64?) throws {
        try tx.expireRuleState(windowsBefore: windowsBefore, firstSeenBefore: firstSeenBefore)
    }

    /// The outbox places of the alerts recorded so far, in the order recorded.
    private var seqs: [Int64] = []

    func record(_ alert: Alert) throws -> Bool { try record(alert, at: nil) }

    /// ``record(_:)`` of an alert whose records are the block's records at `recordIndexes`: found
    /// there by place, not by reading each record again.
    func record(_ alert: Alert, recordIndexes: [Int]) throws -> Bool { try record(alert, at: recordIndexes) }

    private func record(_ alert: Alert, at indexes: [Int]?) throws -> Bool {
        guard let seq = try tx.recordAlert(alert, records: alert.records.isEmpty ? nil : locator, recordIndexes: indexes) else {
            return false
        }
        seqs.append(seq)
        return true
    }

    /// The engine's alerts with their outbox places: the engine returns exactly the alerts it
    /// recorded, in the order it recorded them (were it not so, each place is 0: unknown, and the
    /// outbox delivers them from the store).
    func recorded(_ alerts: [Alert]) -> [PendingAlert] {
        let places = alerts.count == seqs.count ? seqs : Array(repeating: 0, count: alerts.count)
        return zip(places, alerts).map { PendingAlert(seq: $0, id: $1.alertID, deliveredTo: [], alert: $1) }
    }
}

/// Rule state in the store that does not decode: the file's transaction fails rather than start
/// the rule over.
struct DamagedRuleState: Error, CustomStringConvertible {
    var what: String
    var rule: String
    var description: String { "damaged \(what) state for rule \(rule)" }
}

extension AccountStore {
    /// Runs `body` with this account's rule state in one transaction (e.g. the end-of-run flush,
    /// an integrity alert for the outbox).
    package func withRuleState<R>(now: Int64, _ body: (any RuleStateStore) throws -> R) throws -> R {
        try write(now: now) { tx in try body(TransactionRuleState(tx)) }
    }
}
