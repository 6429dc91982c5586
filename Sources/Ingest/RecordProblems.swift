import CloudTrail
import LogStore
import Logging

extension Pipeline {
    /// One log line per file holding records that are not valid JSON or not UTF-8: how many, and
    /// the first few by number and uncompressed byte offset with the reason. They are stored as
    /// delivered (docs/store.md), so the line is a warning, not a failure.
    func logRecordProblems(_ file: DecodedFile, path: String) {
        var parts: [String] = []
        if file.invalidRecords > 0 { parts.append("\(file.invalidRecords) records are not valid JSON") }
        if file.nonUTF8Records > 0 { parts.append("\(file.nonUTF8Records) records hold bytes that are not UTF-8") }
        let shown = file.recordProblems.map(\.description).joined(separator: "; ")
        let more = file.invalidRecords + file.nonUTF8Records > file.recordProblems.count ? "; …" : ""
        logger.warning(
            "\(path): \(parts.joined(separator: ", ")) (kept as delivered): \(shown)\(more)",
            metadata: [
                "file": "\(path)", "reason": file.invalidRecords > 0 ? "invalid_record" : "non_utf8_record",
                "position": "\(file.recordProblems.first.map { "record \($0.index) at byte \($0.offset)" } ?? "")",
            ])
    }
}
