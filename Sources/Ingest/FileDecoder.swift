import CloudTrail
import Glibc
import Posix
import Gzip
import LogStore
import Rules

/// Why a file was not ingested; `code` names the counter it increments.
package struct IngestFailure: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Code: String, Sendable, CaseIterable {
        case corruptGzip = "corrupt_gzip"
        case truncated = "truncated"
        case notJSON = "not_json"
        case noRecords = "no_records"
        case malformedJSON = "malformed_json"
        case emptyFile = "empty_file"
        case tooLarge = "too_large"
        case unreadable = "unreadable"
        case notRegular = "not_regular_file"
        case symlinkOutside = "symlink_outside_root"
        case badName = "unrecognised_name"
        case storeError = "store_error"
    }
    package var code: Code
    package var reason: String
    /// True when the file may still be being written: retry later rather than fail.
    package var mayBeIncomplete: Bool { code == .truncated || code == .emptyFile }
    package var description: String { reason }

    package init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }
}

/// Reads one delivered log file and splits it into records, keeping its bytes as delivered.
///
/// Memory is the compressed file plus one inflate chunk plus the largest record; the uncompressed
/// document is never held whole.
package enum FileDecoder {
    /// Compressed size up to which rule matching is left to the committing thread.
    package static let deferLimit = 4 << 20

    /// Files larger than this (compressed) are refused; CloudTrail's own limit is 50 MB.
    package static let maxCompressedBytes = 128 << 20

    package static func decode(path: String, ledgerKey: String, key: LogFileKey, rules: RuleSet? = nil) -> Result<DecodedFile, IngestFailure> {
        let fd = Posix.retry { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard fd >= 0 else {
            let e = errno
            if e == ELOOP { return .failure(IngestFailure(.notRegular, "is a symbolic link")) }
            return .failure(IngestFailure(.unreadable, "cannot open: \(Posix.describe(e))"))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(IngestFailure(.unreadable, "cannot stat: \(Posix.describe(errno))")) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .failure(IngestFailure(.notRegular, "not a regular file")) }
        let size = Int(st.st_size)
        guard size > 0 else { return .failure(IngestFailure(.emptyFile, "empty file (0 bytes)")) }
        guard size <= maxCompressedBytes else {
            return .failure(IngestFailure(.tooLarge, "file is \(size) bytes, over the \(maxCompressedBytes >> 20) MiB limit"))
        }
        var data = [UInt8](repeating: 0, count: size)
        var got = 0
        while got < size {
            let n = data.withUnsafeMutableBytes { p in Posix.retry { read(fd, p.baseAddress! + got, size - got) } }
            if n < 0 { return .failure(IngestFailure(.unreadable, "read failed: \(Posix.describe(errno))")) }
            if n == 0 { break }
            got += n
        }
        if got < size { data.removeLast(size - got) }
        let mtime = Posix.mtimeMillis(st)
        return decode(bytes: data, ledgerKey: ledgerKey, key: key, size: Int64(got), mtime: mtime, rules: rules)
    }

    /// Decodes a file's bytes already in memory.
    package static func decode(bytes data: [UInt8], ledgerKey: String, key: LogFileKey, size: Int64, mtime: Int64, rules: RuleSet? = nil)
        -> Result<DecodedFile, IngestFailure>
    {
        var hits: [RuleHit] = []
        let evaluator = Evaluator()
        evaluator.startFile()
        // Ordinary files leave rule matching to the committing thread (it has time to spare);
        // large ones match here so their inflated bytes need not be kept.
        let deferRules = rules != nil && data.count <= Self.deferLimit
        var raw: [UInt8] = []
        var members: [TopMember] = []
        var memberRanges: [Range<Int>] = []
        var splitter = RecordSplitter()
        var records: [DecodedFile.Record] = []
        var missing = 0
        var oversized = 0
        let inflater: Inflater
        do { inflater = try Inflater() } catch { return .failure(IngestFailure(.storeError, "zlib: \(error)")) }
        do {
            try data.withUnsafeBytes { input in
                // Feed compressed input in slices so the splitter sees bounded chunks.
                var offset = 0
                let slice = 64 * 1024
                while offset < input.count {
                    let end = min(input.count, offset + slice)
                    try inflater.inflate(UnsafeRawBufferPointer(rebasing: input[offset..<end])) { chunk in
                        if deferRules { raw.append(contentsOf: chunk) }
                        try splitter.feed(chunk) { recordOffset, bytes, fields in
                            var flags: UInt8 = 0
                            let info: RecordInfo? = RecordInfo.from(bytes, fields: fields)
                            var ts = info?.eventTime
                            var eventKey = info?.eventKey
                            if ts == nil || eventKey == nil {
                                flags |= BlockEntry.missingFields
                                missing += 1
                                ts = ts ?? key.deliveryTime
                                eventKey = eventKey ?? EventKey(bytes)
                            }
                            if bytes.count > maxEventBytes {
                                flags |= BlockEntry.oversized
                                oversized += 1
                            }
                            if deferRules {
                                let start = members.count
                                members.append(contentsOf: fields.members)
                                memberRanges.append(start..<members.count)
                            } else if let rules {
                                hits += rules.hits(
                                    record: bytes, index: records.count, account: key.account, region: key.region,
                                    evaluator: evaluator, members: fields.members)
                            }
                            records.append(
                                DecodedFile.Record(
                                    entry: BlockEntry(timestamp: ts!, offset: recordOffset, length: bytes.count, flags: flags),
                                    eventKey: eventKey!))
                        }
                    }
                    offset = end
                }
            }
            try inflater.finish()
            try splitter.finish()
        } catch let e as GzipError {
            if e.code == .truncated { return .failure(IngestFailure(.truncated, e.detail)) }
            return .failure(IngestFailure(.corruptGzip, e.detail))
        } catch let e as RecordSplitter.Failure {
            switch e.code {
            case .notJSON: return .failure(IngestFailure(.notJSON, e.detail))
            case .noRecords: return .failure(IngestFailure(.noRecords, e.detail))
            case .truncated: return .failure(IngestFailure(.malformedJSON, e.detail))
            case .malformed: return .failure(IngestFailure(.malformedJSON, e.detail))
            }
        } catch {
            return .failure(IngestFailure(.malformedJSON, "\(error)"))
        }
        var file = DecodedFile(
            ledgerKey: ledgerKey, key: key, size: size, mtime: mtime, compressed: data,
            uncompressedSize: inflater.totalOut, records: records, missingFields: missing, oversized: oversized,
            skippedElements: splitter.nonObjectElements)
        file.invalidRecords = splitter.invalidRecords
        file.nonUTF8Records = splitter.nonUTF8Records
        file.recordProblems = splitter.problems
        file.hits = hits
        file.ruleSet = rules
        file.raw = raw
        file.members = members
        file.memberRanges = memberRanges
        return .success(file)
    }
}

