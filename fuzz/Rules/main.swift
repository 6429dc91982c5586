// libFuzzer target: the rule-language lexer, parser and compiler, and evaluation of what compiles
// (scripts/fuzz.sh builds it). Input: a rule file.
import CloudTrail
import Rules

let records = [
    #"{"eventVersion":"1.09","eventTime":"2024-03-01T10:00:00Z","eventID":"e-1","eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","sourceIPAddress":"203.0.113.7","userIdentity":{"type":"Root","arn":"arn:aws:iam::123456789012:root"},"resources":[{"ARN":"a"},{"ARN":"b"}],"additionalEventData":{"MFAUsed":"No","bytes":1536}}"#,
    #"{"eventTime":"2024-03-01T10:00:00Z","eventName":"x","sourceIPAddress":"2001:db8::1","requestParameters":null,"readOnly":false}"#,
].map { Array($0.utf8) }
let lists = [RuleSourceFile(path: "office.list", text: "10.0.0.0/8\n2001:db8::/32\n")]
/// Each record's top-level members as the splitter notes them (the pipeline evaluates with these).
let members: [[TopMember]] = records.map { r in
    var splitter = RecordSplitter()
    var found: [TopMember] = []
    try! Array(#"{"Records":["#.utf8 + r + Array("]}".utf8)).withUnsafeBytes { doc in
        try splitter.feed(doc) { _, _, fields in found = fields.members }
    }
    return found
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let (set, diagnostics) = RuleSet.compile(ruleFiles: [RuleSourceFile(path: "f.rules", text: text)], listFiles: lists)
    for d in diagnostics {
        // Every problem names a place in the given files.
        precondition(d.position.file == "f.rules" || d.position.file == "office.list", "\(d)")
        precondition(d.position.line >= 0 && d.position.column >= 0, "\(d)")
        _ = d.description
    }
    guard let set else { return 0 }
    let evaluator = Evaluator()
    for (r, m) in zip(records, members) {
        // With the splitter's member index and without it (the evaluator scans): the same hits.
        let scanned = r.withUnsafeBytes { set.hits(record: $0, index: 0, account: "123456789012", region: "us-east-1", evaluator: evaluator) }
        let indexed = r.withUnsafeBytes {
            set.hits(record: $0, index: 0, account: "123456789012", region: "us-east-1", evaluator: evaluator, members: m)
        }
        precondition(scanned.map(\.rule) == indexed.map(\.rule), "member index and scan disagree")
    }
    return 0
}
