import CloudTrail

// The record splitter as it was before the strict JSON check joined its pass: a lenient scan for
// record boundaries, eventTime/eventID and top-level members over a buffer every chunk is copied
// into, then `JSONCheck.check` over each record. Kept verbatim (renamed) as the reference the
// differential tests hold `RecordSplitter` to.

/// Splits the records out of a `{"Records":[…]}` document fed in chunks, without building a tree.
///
/// Each record is handed over as its exact original bytes together with its offset in the
/// uncompressed stream, so the store can keep and return them and digests can hash them. Memory
/// is bounded by the largest record plus one chunk, whatever the file's size.
struct ReferenceSplitter: Sendable {
    /// Why a document could not be split.
    struct Failure: Error, Sendable, Equatable {
        typealias Code = RecordSplitter.Failure.Code
        var code: Code
        var detail: String
    }
    typealias RecordFields = RecordSplitter.RecordFields

    private enum Phase: Sendable {
        case start, expectKey, expectColon, expectValue, inRecords, afterRecord, afterValue, done
    }

    private var buffer: [UInt8] = []
    /// Absolute offset (in the whole stream) of `buffer[0]`.
    private var base: Int = 0
    /// Index in `buffer` where scanning resumes.
    private var pos: Int = 0
    private var phase: Phase = .start
    private var currentKey: [UInt8] = []
    private var sawRecords = false
    private var valueIsRecords = false
    // State of the element being scanned (record or skipped value), kept across chunks.
    private var elementStart: Int = -1
    private var depth = 0
    private var inString = false
    private var elementIsRecord = false
    /// Number of records emitted so far.
    private(set) var recordCount = 0
    /// Number of `Records` elements that were not JSON objects (skipped).
    private(set) var nonObjectElements = 0
    /// Bytes held between feeds: the record, key or skipped value in progress. A caller bounds
    /// this to refuse a huge record before it sits whole in memory.
    var bufferedBytes: Int { buffer.count }
    /// Number of records emitted that are not valid JSON (their bounds were clear, their content is not).
    private(set) var invalidRecords = 0
    /// Number of records emitted whose strings hold bytes that are not UTF-8.
    private(set) var nonUTF8Records = 0
    /// The first few invalid or non-UTF-8 records (at most ``maxProblems``), for a log line.
    private(set) var problems: [RecordProblem] = []
    /// How many problems ``problems`` keeps; the counters count them all.
    static let maxProblems = 5

    init() {}

    /// Feeds the next chunk; `emit` receives each complete record (offset, bytes, field positions) in order.
    mutating func feed(
        _ chunk: UnsafeRawBufferPointer,
        emitWithFields emit: (_ offset: Int, _ bytes: UnsafeRawBufferPointer, _ fields: RecordFields) throws -> Void
    ) throws {
        buffer.append(contentsOf: chunk)
        try scan(emit: emit)
        compact()
    }

    /// Feeds the next chunk; `emit` receives each complete record (offset, bytes) in order.
    mutating func feed(
        _ chunk: UnsafeRawBufferPointer, emit: (_ offset: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void
    ) throws {
        try feed(chunk) { o, b, _ in try emit(o, b) }
    }

    /// Declares the end of the stream; throws if the document was not complete.
    mutating func finish() throws {
        switch phase {
        case .done: return
        case .start where buffer.allSatisfy(Self.isSpace):
            throw Failure(code: .notJSON, detail: "empty document")
        default:
            if !sawRecords && phase != .inRecords && phase != .afterRecord {
                if phase == .start { throw Failure(code: .notJSON, detail: "not a JSON object") }
                throw Failure(code: .truncated, detail: "document ends before its Records array")
            }
            throw Failure(code: .truncated, detail: "document ends inside the Records array after \(recordCount) records")
        }
    }

    /// The first index from `i` (before `n`) whose 8-byte word holds a quote or a backslash, at that
    /// byte; or the start of the last partial word, for the caller's byte loop to finish.
    @inline(__always) static func skipPlain(_ p: UnsafeRawBufferPointer, from i: Int, to n: Int) -> Int {
        var i = i
        let ones: UInt64 = 0x0101_0101_0101_0101
        while i + 8 <= n {
            let x = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let quote = x ^ (ones &* 0x22)
            let slash = x ^ (ones &* 0x5C)
            let found = (((quote &- ones) & ~quote) | ((slash &- ones) & ~slash)) & (ones &* 0x80)
            // The lowest flagged byte is a real one (a false flag needs a borrow from a real one below it).
            if found != 0 { return i + found.trailingZeroBitCount >> 3 }
            i += 8
        }
        return i
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    private mutating func compact() {
        let keep = elementStart >= 0 ? elementStart : pos
        guard keep > 0 else { return }
        buffer.removeFirst(keep)
        base += keep
        pos -= keep
        if elementStart >= 0 { elementStart -= keep }
        stringStart -= keep
    }

    private mutating func scan(emit: (Int, UnsafeRawBufferPointer, RecordFields) throws -> Void) throws {
        let n = buffer.count
        if pendingSkip > 0 {
            let skip = min(pendingSkip, n - pos)
            pos += skip
            pendingSkip -= skip
        }
        try buffer.withUnsafeBytes { p in
            while pos < n {
                if elementStart >= 0 {
                    // Inside a record or a skipped value: track strings and nesting.
                    var i = pos
                    var finished = false
                    switch elementKind {
                    case .container where elementIsRecord:
                        // A record: also note where its top-level eventTime and eventID values lie.
                        while i < n {
                            if inString {
                                // String bodies are most of the bytes: scan them tightly, eight at a time.
                                i = Self.skipPlain(p, from: i, to: n)
                                while i < n {
                                    let c = p[i]
                                    if c == 0x22 || c == 0x5C { break }
                                    i += 1
                                }
                                if i >= n { break }
                                if p[i] == 0x5C {
                                    if capture != 0 { captureEscaped = true }
                                    if depth == 1 { stringEscaped = true }
                                    i += 2
                                    continue
                                }
                                inString = false
                                if depth == 1 {
                                    if expectKey {
                                        expectKey = false
                                        pendingCapture = Self.fieldCode(p, from: stringStart + 1, to: i)
                                        memberKey = (stringStart + 1 - elementStart)..<(i - elementStart)
                                        memberKeyEscaped = stringEscaped
                                    } else {
                                        if capture != 0 {
                                            let r = (stringStart + 1 - elementStart)..<(i - elementStart)
                                            if capture == 1 { fields.eventTime = r } else { fields.eventID = r }
                                            if captureEscaped { fields.escaped = true }
                                            capture = 0
                                        }
                                        if valueStart >= 0 {
                                            fields.members.append(
                                                TopMember(key: memberKey, value: valueStart..<(i + 1 - elementStart), kind: .string,
                                                          escapedKey: memberKeyEscaped, escapedValue: stringEscaped))
                                            valueStart = -1
                                        }
                                    }
                                }
                                i += 1
                                continue
                            }
                            let b = p[i]
                            if b == 0x22 {
                                inString = true
                                if depth == 1 {
                                    stringStart = i
                                    stringEscaped = false
                                    if !expectKey && afterColon && valueStart < 0 {
                                        valueStart = i - elementStart
                                        valueKind = .string
                                    }
                                    if !expectKey && pendingCapture != 0 && afterColon {
                                        capture = pendingCapture
                                        captureEscaped = false
                                        pendingCapture = 0
                                    }
                                }
                            } else if b == 0x7B || b == 0x5B {
                                depth += 1
                                if depth == 1 { expectKey = true }
                                if depth == 2 {
                                    pendingCapture = 0
                                    if afterColon && valueStart < 0 {
                                        valueStart = i - elementStart
                                        valueKind = b == 0x7B ? .object : .array
                                    }
                                }
                            } else if b == 0x7D || b == 0x5D {
                                depth -= 1
                                if depth == 1 && valueStart >= 0 {
                                    fields.members.append(
                                        TopMember(key: memberKey, value: valueStart..<(i + 1 - elementStart), kind: valueKind,
                                                  escapedKey: memberKeyEscaped, escapedValue: false))
                                    valueStart = -1
                                }
                                if depth == 0 {
                                    closeBare(p, at: i)
                                    i += 1
                                    finished = true
                                    break
                                }
                            } else if depth == 1 {
                                if b == 0x2C {
                                    closeBare(p, at: i)
                                    expectKey = true
                                    afterColon = false
                                    pendingCapture = 0
                                } else if b == 0x3A {
                                    afterColon = true
                                } else if b > 0x20 {
                                    pendingCapture = 0  // a number, literal: not a string value
                                    if afterColon && valueStart < 0 {
                                        valueStart = i - elementStart
                                        valueKind = .bare
                                    }
                                }
                            }
                            i += 1
                        }
                    case .container:
                        while i < n {
                            let b = p[i]
                            if inString {
                                if b == 0x5C {
                                    i += 2
                                    continue
                                }
                                if b == 0x22 { inString = false }
                            } else if b == 0x22 {
                                inString = true
                            } else if b == 0x7B || b == 0x5B {
                                depth += 1
                            } else if b == 0x7D || b == 0x5D {
                                depth -= 1
                                if depth == 0 {
                                    i += 1
                                    finished = true
                                    break
                                }
                            }
                            i += 1
                        }
                    case .string:
                        while i < n {
                            let b = p[i]
                            if b == 0x5C {
                                i += 2
                                continue
                            }
                            i += 1
                            if b == 0x22 {
                                finished = true
                                break
                            }
                        }
                    case .bare:
                        while i < n {
                            let b = p[i]
                            if b == 0x2C || b == 0x5D || b == 0x7D || Self.isSpace(b) {
                                finished = true
                                break
                            }
                            i += 1
                        }
                    }
                    if i > n {
                        pos = n  // an escape straddles the chunk: the escaped byte comes next
                        pendingSkip = i - n
                        return
                    }
                    pos = i
                    guard finished else { return }
                    if elementIsRecord {
                        let record = UnsafeRawBufferPointer(rebasing: p[elementStart..<pos])
                        note(JSONCheck.check(record), offset: base + elementStart)
                        try emit(base + elementStart, record, fields)
                        recordCount += 1
                        phase = .afterRecord
                    } else {
                        phase = valueIsRecords ? .afterRecord : .afterValue
                    }
                    elementStart = -1
                    continue
                }
                let b = p[pos]
                if Self.isSpace(b) {
                    pos += 1
                    continue
                }
                switch phase {
                case .start:
                    if b == 0xEF, pos + 2 < n, p[pos + 1] == 0xBB, p[pos + 2] == 0xBF {
                        pos += 3
                        continue
                    }
                    guard b == 0x7B else { throw Failure(code: .notJSON, detail: "not a JSON object (starts with \(Self.show(b)))") }
                    phase = .expectKey
                    pos += 1
                case .expectKey:
                    if b == 0x7D {
                        pos += 1
                        phase = .done
                        guard sawRecords else { throw Failure(code: .noRecords, detail: "JSON object has no Records array") }
                        continue
                    }
                    guard b == 0x22 else { throw Failure(code: .malformed, detail: "expected a key, found \(Self.show(b))") }
                    var j = pos + 1
                    var closed = false
                    while j < n {
                        if p[j] == 0x5C { j += 2; continue }
                        if p[j] == 0x22 { closed = true; break }
                        j += 1
                    }
                    guard closed else { return }  // key not complete yet
                    currentKey = Array(p[(pos + 1)..<j])
                    pos = j + 1
                    phase = .expectColon
                case .expectColon:
                    guard b == 0x3A else { throw Failure(code: .malformed, detail: "expected ':' after a key") }
                    pos += 1
                    phase = .expectValue
                case .expectValue:
                    if currentKey == Self.recordsKey {
                        guard b == 0x5B else { throw Failure(code: .noRecords, detail: "Records is not an array") }
                        sawRecords = true
                        valueIsRecords = true
                        pos += 1
                        phase = .inRecords
                    } else {
                        valueIsRecords = false
                        startElement(at: pos, first: b, isRecord: false)
                    }
                case .inRecords:
                    if b == 0x5D {
                        pos += 1
                        valueIsRecords = false
                        phase = .afterValue
                        continue
                    }
                    if b == 0x7B {
                        startElement(at: pos, first: b, isRecord: true)
                    } else {
                        nonObjectElements += 1
                        startElement(at: pos, first: b, isRecord: false)
                    }
                case .afterRecord:
                    if b == 0x2C {
                        pos += 1
                        phase = .inRecords
                    } else if b == 0x5D {
                        pos += 1
                        valueIsRecords = false
                        phase = .afterValue
                    } else {
                        throw Failure(code: .malformed, detail: "expected ',' or ']' after record \(recordCount)")
                    }
                case .afterValue:
                    if b == 0x2C {
                        pos += 1
                        phase = .expectKey
                    } else if b == 0x7D {
                        pos += 1
                        phase = .done
                        guard sawRecords else { throw Failure(code: .noRecords, detail: "JSON object has no Records array") }
                    } else {
                        throw Failure(code: .malformed, detail: "expected ',' or '}' in the top-level object")
                    }
                case .done:
                    throw Failure(code: .malformed, detail: "data after the end of the JSON document")
                }
            }
        }
    }

    /// Records the strict check of the record about to be emitted in its fields and the counters.
    private mutating func note(_ check: JSONCheck.Result, offset: Int) {
        fields.invalid = check.problem
        fields.nonUTF8 = check.nonUTF8
        if check.problem != nil { invalidRecords += 1 }
        if check.nonUTF8 { nonUTF8Records += 1 }
        if check.problem != nil || check.nonUTF8, problems.count < Self.maxProblems {
            problems.append(RecordProblem(index: recordCount, offset: offset, problem: check.problem, nonUTF8: check.nonUTF8))
        }
    }

    private var memberKey: Range<Int> = 0..<0
    private var memberKeyEscaped = false
    private var stringEscaped = false
    private var valueStart = -1
    private var valueKind: TopMember.Kind = .bare

    /// Ends a number or literal member at the `,` or `}` at `i`.
    private mutating func closeBare(_ p: UnsafeRawBufferPointer, at i: Int) {
        guard valueStart >= 0, valueKind == .bare else { return }
        var end = i
        while end > valueStart + elementStart, Self.isSpace(p[end - 1]) { end -= 1 }
        fields.members.append(
            TopMember(key: memberKey, value: valueStart..<(end - elementStart), kind: .bare, escapedKey: memberKeyEscaped, escapedValue: false))
        valueStart = -1
    }

    private var fields = RecordFields()
    private var expectKey = false
    private var afterColon = false
    private var pendingCapture: UInt8 = 0
    private var capture: UInt8 = 0
    private var captureEscaped = false
    private var stringStart = 0

    static let eventTimeKey = Array("eventTime".utf8)
    static let eventIDKey = Array("eventID".utf8)

    /// 1 for `eventTime`, 2 for `eventID`, else 0.
    @inline(__always) static func fieldCode(_ p: UnsafeRawBufferPointer, from: Int, to: Int) -> UInt8 {
        let n = to - from
        if n == 9 && p[from] == 0x65 && p[from + 5] == 0x54 {
            for k in 0..<9 where p[from + k] != eventTimeKey[k] { return 0 }
            return 1
        }
        if n == 7 && p[from] == 0x65 && p[from + 5] == 0x49 {
            for k in 0..<7 where p[from + k] != eventIDKey[k] { return 0 }
            return 2
        }
        return 0
    }

    private enum ElementKind: Sendable { case container, string, bare }
    private var elementKind: ElementKind = .container
    /// Bytes to skip at the start of the next chunk (the second half of an escape).
    private var pendingSkip = 0

    private mutating func startElement(at i: Int, first: UInt8, isRecord: Bool) {
        elementStart = i
        elementIsRecord = isRecord
        inString = false
        depth = 0
        fields.eventTime = nil
        fields.eventID = nil
        fields.escaped = false
        fields.members.removeAll(keepingCapacity: true)
        // A malformed record may have a value without a key: never one from the previous record.
        memberKey = 0..<0
        memberKeyEscaped = false
        valueStart = -1
        expectKey = false
        afterColon = false
        pendingCapture = 0
        capture = 0
        pos = i
        if first == 0x7B || first == 0x5B {
            elementKind = .container
        } else if first == 0x22 {
            elementKind = .string
            pos = i + 1
        } else {
            elementKind = .bare
        }
    }

    static let recordsKey = Array("Records".utf8)

    static func show(_ b: UInt8) -> String {
        b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
    }
}
