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
        /// The process died twice with the file in hand (abort, OOM kill): quarantined.
        case crashed = "crashed"
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

/// Bounds on one file, so a gzip bomb fails as `too_large` with memory bounded by these figures
/// rather than by what it inflates to.
package struct DecodeLimits: Sendable, Equatable {
    /// Inflated bytes of one file (config `max-inflated-size`). CloudTrail files stay far below:
    /// its 50 MB compressed limit at its usual 10:1 ratio.
    package var inflatedBytes = 2 << 30
    /// Bytes of one record, or of any one value the splitter must hold whole (config
    /// `max-record-size`); CloudTrail records are at most a few hundred KB.
    package var recordBytes = 16 << 20
    /// Records in one file: each costs ~50 bytes of index until the file is stored, so a flood of
    /// tiny records (`{},{},…`) must be bounded too.
    package var records = 1_000_000
    /// Inflated bytes kept for the committing thread's rule matching, at most; beyond it the
    /// decoder matches itself, so a small file that inflates hugely never sits whole in memory.
    package var deferredBytes = 32 << 20
    /// Inflated size up to which a single-member file is inflated whole, by libdeflate (about twice
    /// zlib's speed), rather than streamed through zlib: the most inflated bytes held at once for
    /// that speed. Capped by ``inflatedBytes``; 0 always streams.
    package var wholeBytes = 64 << 20

    package init() {}
}

/// Reads one delivered log file and splits it into records, keeping its bytes as delivered.
///
/// A file whose gzip trailer claims an inflated size up to ``DecodeLimits/wholeBytes`` (and
/// ``DecodeLimits/inflatedBytes``) is inflated whole by libdeflate into a buffer of exactly that
/// size; the claim is only a hint (an attacker writes it), so a file that does not inflate to
/// exactly it, holds several gzip members, or is damaged is streamed through zlib instead, which
/// gives the precise failure. Either way the splitter is fed the same bounded chunks and every
/// limit is checked the same.
///
/// Memory is the compressed file plus the largest record (bounded by ``DecodeLimits``), plus at
/// most ``DecodeLimits/deferredBytes`` of inflated bytes kept for rule matching, plus one inflate
/// chunk when streaming or the whole inflated document (at most ``DecodeLimits/wholeBytes``) when
/// inflated whole. A bomb claiming a small size fails the whole inflate as soon as its output
/// passes the claim, then streams and fails as `too_large`: it is never held past those bounds.
package enum FileDecoder {
    /// Compressed size up to which rule matching is left to the committing thread.
    package static let deferLimit = 4 << 20

    /// Files larger than this (compressed) are refused; CloudTrail's own limit is 50 MB.
    package static let maxCompressedBytes = 128 << 20

    /// Inflated bytes handed to the splitter at a time, whole or streaming alike (zlib's
    /// ``Inflater/chunkSize``), so the record-size check sees the same partial records either way.
    static let feedBytes = 256 * 1024

    /// `TRAILWATCH_INFLATE=zlib` in the environment streams every file through zlib, as before
    /// libdeflate: for `bench/inflate.py` to compare the two paths in one binary.
    static let forceStreaming: Bool = getenv("TRAILWATCH_INFLATE").map { String(cString: $0) == "zlib" } ?? false

    package static func decode(
        path: String, ledgerKey: String, key: LogFileKey, rules: RuleSet? = nil, limits: DecodeLimits = DecodeLimits()
    ) -> Result<MatchedFile, IngestFailure> {
        // A FIFO, socket or device under a log file's name would block open() or read() forever (or,
        // for a socket, fail as if unreadable): refuse it before opening, then again on the descriptor,
        // opened non-blocking, in case it was swapped in between.
        if let st = try? Posix.linkInfo(path), let refused = notRegular(st) { return .failure(refused) }
        let fd: Int32
        do { fd = try Posix.openFile(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) } catch {
            if error.errno == ELOOP { return .failure(IngestFailure(.notRegular, "is a symbolic link")) }
            return .failure(IngestFailure(.unreadable, "cannot open: \(Posix.describe(error.errno))"))
        }
        defer { Posix.closeFile(fd) }
        let st: stat
        do { st = try Posix.fileInfo(fd: fd, path: path) } catch {
            return .failure(IngestFailure(.unreadable, "cannot stat: \(Posix.describe(error.errno))"))
        }
        if let refused = notRegular(st) { return .failure(refused) }
        let size = Int(st.st_size)
        guard size > 0 else { return .failure(IngestFailure(.emptyFile, "empty file (0 bytes)")) }
        guard size <= maxCompressedBytes else {
            return .failure(IngestFailure(.tooLarge, "file is \(size) bytes, over the \(maxCompressedBytes >> 20) MiB limit"))
        }
        let data: [UInt8]
        do { data = try Posix.readBytes(fd, upTo: size, path: path) } catch {
            return .failure(IngestFailure(.unreadable, "read failed: \(Posix.describe(error.errno))"))
        }
        let got = data.count
        let mtime = Posix.mtimeMillis(st)
        return decode(bytes: data, ledgerKey: ledgerKey, key: key, size: Int64(got), mtime: mtime, rules: rules, limits: limits)
    }

    /// The `not_regular_file` failure for anything but a regular file, naming what it is.
    static func notRegular(_ st: stat) -> IngestFailure? {
        let kind: String
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFIFO: kind = "a FIFO"
        case S_IFSOCK: kind = "a socket"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        case S_IFDIR: kind = "a directory"
        case S_IFLNK: kind = "a symbolic link"
        default: kind = "of an unknown type"
        }
        return IngestFailure(.notRegular, "not a regular file (\(kind)); refused")
    }

    /// Decodes a file's bytes already in memory.
    package static func decode(
        bytes data: [UInt8], ledgerKey: String, key: LogFileKey, size: Int64, mtime: Int64, rules: RuleSet? = nil,
        limits: DecodeLimits = DecodeLimits()
    ) -> Result<MatchedFile, IngestFailure> {
        let evaluator = Evaluator()
        evaluator.startFile()
        // Ordinary files leave rule matching to the committing thread (it has time to spare);
        // large ones match here so their inflated bytes need not be kept.
        let c = RecordCollector(key: key, rules: rules, limits: limits, evaluator: evaluator, deferRules: rules != nil && data.count <= Self.deferLimit)
        var splitter = RecordSplitter()
        var totalOut = 0
        // True when the document was inflated whole and that buffer is kept for the committer as is.
        var keepWhole = false
        /// Takes the next inflated chunk: checks the limits, keeps it for deferred rule matching or
        /// matches here, splits it into records.
        func consume(_ chunk: UnsafeRawBufferPointer) throws {
            totalOut += chunk.count
            guard totalOut <= limits.inflatedBytes else {
                throw IngestFailure(.tooLarge, "inflates to more than \(size: limits.inflatedBytes) (max-inflated-size); refused")
            }
            if c.deferRules && !keepWhole && c.raw.count + chunk.count > limits.deferredBytes {
                // Too much to keep for the committer (a highly compressible file): match
                // what was kept here, and the rest as it comes.
                var early = MatchedFile(
                    DecodedFile(
                        ledgerKey: ledgerKey, key: key, size: size, mtime: mtime, compressed: [], uncompressedSize: 0,
                        records: c.records, missingFields: 0, oversized: 0, skippedElements: 0))
                (early.ruleSet, early.raw, early.members, early.memberRanges) = (rules, c.raw, c.members, c.memberRanges)
                (c.raw, c.members, c.memberRanges) = ([], [], [])
                early.matchDeferredRules()
                c.hits = early.hits
                c.deferRules = false
            }
            if c.deferRules && !keepWhole { c.raw.append(contentsOf: chunk) }
            try splitter.feed(chunk) { recordOffset, bytes, fields in try c.add(offset: recordOffset, bytes, fields) }
            // The splitter holds the record (or other value) in progress: bound it.
            guard splitter.bufferedBytes <= limits.recordBytes else {
                throw IngestFailure(
                    .tooLarge,
                    "record \(c.records.count + 1) exceeds \(size: limits.recordBytes) (max-record-size); refused")
            }
        }
        do {
            if let whole = Self.inflateWhole(data, limits: limits) {
                keepWhole = c.deferRules && whole.count <= limits.deferredBytes
                c.reserve(inflatedBytes: whole.count)
                try whole.withUnsafeBytes { all in
                    var offset = 0
                    while offset < all.count {
                        let end = min(all.count, offset + Self.feedBytes)
                        try consume(UnsafeRawBufferPointer(rebasing: all[offset..<end]))
                        offset = end
                    }
                }
                if keepWhole { c.raw = whole }
            } else {
                let inflater: Inflater
                do { inflater = try Inflater(chunkSize: Self.feedBytes) } catch {
                    return .failure(IngestFailure(.storeError, "zlib: \(error)"))
                }
                try data.withUnsafeBytes { input in
                    // Feed compressed input in slices so the splitter sees bounded chunks.
                    var offset = 0
                    let slice = 64 * 1024
                    while offset < input.count {
                        let end = min(input.count, offset + slice)
                        try inflater.inflate(UnsafeRawBufferPointer(rebasing: input[offset..<end])) { try consume($0) }
                        offset = end
                    }
                }
                try inflater.finish()
            }
            try splitter.finish()
        } catch let e as IngestFailure {
            return .failure(e)
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
            uncompressedSize: totalOut, records: c.records, missingFields: c.missing, oversized: c.oversized,
            skippedElements: splitter.nonObjectElements)
        file.invalidRecords = splitter.invalidRecords
        file.nonUTF8Records = splitter.nonUTF8Records
        file.recordProblems = splitter.problems
        var matched = MatchedFile(file)
        matched.hits = c.hits
        matched.ruleSet = rules
        matched.raw = c.raw
        matched.members = c.members
        matched.memberRanges = c.memberRanges
        return .success(matched)
    }

    /// What decoding one file collects record by record: a class of its own, so that the
    /// splitter's callback reaches it through one reference instead of a dozen captured
    /// variables, each access of which was checked for exclusivity at run time. Confined to the
    /// decoding thread.
    final class RecordCollector {
        let key: LogFileKey
        let rules: RuleSet?
        let limits: DecodeLimits
        let evaluator: Evaluator
        /// True while rule matching is left to the committer (members are kept instead of hits).
        @exclusivity(unchecked) var deferRules: Bool
        @exclusivity(unchecked) var records: [DecodedFile.Record] = []
        @exclusivity(unchecked) var hits: [RuleHit] = []
        @exclusivity(unchecked) var raw: [UInt8] = []
        @exclusivity(unchecked) var members: [TopMember] = []
        @exclusivity(unchecked) var memberRanges: [Range<Int>] = []
        @exclusivity(unchecked) var missing = 0
        @exclusivity(unchecked) var oversized = 0

        init(key: LogFileKey, rules: RuleSet?, limits: DecodeLimits, evaluator: Evaluator, deferRules: Bool) {
            (self.key, self.rules, self.limits, self.evaluator, self.deferRules) = (key, rules, limits, evaluator, deferRules)
        }

        /// Reserves room for a document of `inflatedBytes` (its size known before splitting): the
        /// arrays grow once or not at all instead of doubling (and copying) a dozen times. The
        /// estimate is low (CloudTrail records are 1 to 2 KB, members 50 to 60 bytes), so little
        /// goes unused.
        func reserve(inflatedBytes n: Int) {
            records.reserveCapacity(min(n / 2048, limits.records))
            if deferRules {
                members.reserveCapacity(n / 64)
                memberRanges.reserveCapacity(n / 2048)
            }
        }

        /// Takes the record the splitter found at `recordOffset`: its index entry, and its members
        /// for the committer's rule matching or its rule hits now.
        func add(offset recordOffset: Int, _ bytes: UnsafeRawBufferPointer, _ fields: RecordSplitter.RecordFields) throws {
            guard records.count < limits.records else {
                throw IngestFailure(.tooLarge, "holds more than \(limits.records) records; refused")
            }
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

    /// The file inflated whole by libdeflate, or nil to stream it through zlib: when its trailer
    /// claims more than the whole-buffer limit (or nothing), or it does not inflate to exactly the
    /// claim as one gzip member (``WholeInflater`` explains why; zlib then names any fault).
    static func inflateWhole(_ data: [UInt8], limits: DecodeLimits) -> [UInt8]? {
        let limit = Self.forceStreaming ? 0 : min(limits.wholeBytes, limits.inflatedBytes)
        return data.withUnsafeBytes { input -> [UInt8]? in
            guard let claimed = WholeInflater.claimedSize(input), claimed > 0, claimed <= limit else { return nil }
            return try? WholeInflater().inflate(input, claimedSize: claimed, limit: limit)
        }
    }
}


extension String.StringInterpolation {
    /// A byte count as an operator configures it: whole MiB, else bytes.
    mutating func appendInterpolation(size n: Int) {
        appendLiteral(n >= 1 << 20 && n % (1 << 20) == 0 ? "\(n >> 20) MiB" : "\(n) bytes")
    }
}
