import CloudTrail
import Foundation
import Gzip
import Ingest
import InMemoryLogging
import LogStore
import Logging
import TestSupport

/// What an independent reader finds in a bucket: gunzip with the system's gzip, parse with JSONSerialization.
struct Truth {
    /// (account, eventID) -> raw uncompressed file content containing it.
    var events: [String: (account: String, region: String)] = [:]
    var contents: [String: Data] = [:]  // eventID -> file content
    var records = 0

    init(bucket: String) throws {
        let files = FileManager.default.enumerator(atPath: bucket)!.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".json.gz") && $0.contains("/CloudTrail/") && !$0.split(separator: "/").last!.hasPrefix(".") }
        for f in files {
            let raw = try commandOutput(["gzip", "-dc", bucket + "/" + f])
            let doc = try JSONSerialization.jsonObject(with: raw) as! [String: Any]
            let parts = f.split(separator: "/")
            let i = parts.firstIndex(of: "CloudTrail")!
            for r in doc["Records"] as! [[String: Any]] {
                records += 1
                let id = r["eventID"] as! String
                events["\(parts[i - 1])/\(id)"] = (String(parts[i - 1]), String(parts[i + 1]))
                contents[id] = raw
            }
        }
    }
}

/// An Ingestor with its log lines kept in memory.
func makeIngestor(bucket: String, state: String, configure: (inout IngestConfig) -> Void = { _ in }) throws -> (Ingestor, InMemoryLogHandler) {
    let handler = InMemoryLogHandler()
    let logger = Logger(label: "test", factory: { _ in handler })
    var cfg = IngestConfig(roots: [.init(path: bucket)], stateDirectory: state)
    configure(&cfg)
    return (try Ingestor(config: cfg, logger: logger), handler)
}

/// Every stored event of every group: (account, stream, message).
func storedEvents(state: String) throws -> [(account: String, stream: String, message: [UInt8])] {
    let store = try LogStore(stateDirectory: state, readOnly: true)
    var out: [(String, String, [UInt8])] = []
    for a in store.accounts() {
        var token: String? = nil
        repeat {
            let page = try store.account(a).filter(nextToken: token)
            out += page.events.map { (a, $0.logStreamName, $0.message) }
            token = page.nextToken
        } while token != nil
    }
    return out
}

func eventID(_ message: [UInt8]) -> String {
    (try! JSONSerialization.jsonObject(with: Data(message)) as! [String: Any])["eventID"] as! String
}

/// Writes gzip'd `{"Records":[...]}` at a CloudTrail key under `bucket`.
@discardableResult
func writeLog(
    bucket: String, account: String = "123456789012", region: String = "us-east-1", stamp: String, unique: String = "AAAAAAAAAAAAAAAA",
    records: [String], raw: [UInt8]? = nil
) throws -> String {
    let y = stamp.prefix(4), m = stamp.dropFirst(4).prefix(2), d = stamp.dropFirst(6).prefix(2)
    let path = "\(bucket)/AWSLogs/\(account)/CloudTrail/\(region)/\(y)/\(m)/\(d)/\(account)_CloudTrail_\(region)_\(stamp)_\(unique).json.gz"
    try write(path, raw ?? gz(records))
    return path
}
