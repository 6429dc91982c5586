/// Splits the records out of a `{"Records":[…]}` document fed in chunks, without building a tree.
///
/// Each record is handed over as its exact original bytes together with its offset in the
/// uncompressed stream, so the store can keep and return them and digests can hash them. Memory
/// is bounded by the largest record plus one chunk, whatever the file's size.
public struct RecordSplitter: Sendable {
    /// Why a document could not be split.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Code: String, Sendable { case notJSON = "not_json", noRecords = "no_records", truncated, malformed }
        public var code: Code
        public var detail: String
        public var description: String { detail }
    }

    private enum Phase: Sendable {
        case start, expectKey, expectColon, expectValue, inRecords, afterRecord, afterValue, done
    }

    /// What an earlier chunk left unfinished (a record, key or skipped value in progress).
    private var buffer: [UInt8] = []
    /// Absolute offset (in the whole stream) of index 0 of the bytes being scanned (or of `buffer[0]` between feeds).
    private var base: Int = 0
    /// Index in the bytes being scanned (or in `buffer` between feeds) where scanning resumes.
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
    public private(set) var recordCount = 0
    /// Records checked by the splitter's own strict pass (the rest: split leniently, then checked
    /// by ``JSONCheck``); for tests to see both ways taken.
    package private(set) var strictPassRecords = 0
    /// Number of `Records` elements that were not JSON objects (skipped).
    public private(set) var nonObjectElements = 0
    /// Bytes held between feeds: the record, key or skipped value in progress. A caller bounds
    /// this to refuse a huge record before it sits whole in memory.
    public var bufferedBytes: Int { buffer.count }
    /// Number of records emitted that are not valid JSON (their bounds were clear, their content is not).
    public private(set) var invalidRecords = 0
    /// Number of records emitted whose strings hold bytes that are not UTF-8.
    public private(set) var nonUTF8Records = 0
    /// The first few invalid or non-UTF-8 records (at most ``maxProblems``), for a log line.
    public private(set) var problems: [RecordProblem] = []
    /// How many problems ``problems`` keeps; the counters count them all.
    public static let maxProblems = 5

    public init() {}

    /// Feeds the next chunk; `emit` receives each complete record (offset, bytes, field positions) in order.
    ///
    /// The chunk is scanned where it lies; only what is left unfinished at its end (a record, key
    /// or skipped value in progress) is copied and held until the next chunk completes it. `emit`'s
    /// bytes are valid only during the call.
    public mutating func feed(
        _ chunk: UnsafeRawBufferPointer,
        emitWithFields emit: (_ offset: Int, _ bytes: UnsafeRawBufferPointer, _ fields: RecordFields) throws -> Void
    ) throws {
        var used = 0
        if !buffer.isEmpty {
            // Finish what is held: append the chunk a piece at a time until the held element is
            // complete, then scan the rest of the chunk in place.
            var piece = max(4096, buffer.count)
            while true {
                let held = buffer.count
                let take = min(chunk.count - used, piece)
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[used..<(used + take)]))
                used += take
                let carry = buffer
                let clean = try carry.withUnsafeBytes { try scan($0, stopWhenClean: true, emit: emit) }
                if pos >= held && (clean || (elementStart < 0 && pos == carry.count)) {
                    // Everything held is consumed (what completes it lies in the appended bytes):
                    // the chunk's unscanned bytes begin at `pos`.
                    used = used - take + (pos - held)
                    base += pos
                    pos = 0
                    buffer.removeAll(keepingCapacity: true)
                    break
                }
                let keep = elementStart >= 0 ? elementStart : pos
                buffer.removeFirst(keep)
                shift(keep)
                guard used < chunk.count else { return }
                piece = max(piece, buffer.count)
            }
        }
        let rest = UnsafeRawBufferPointer(rebasing: chunk[used...])
        _ = try scan(rest, stopWhenClean: false, emit: emit)
        // Hold the unfinished tail for the next chunk.
        let keep = elementStart >= 0 ? elementStart : pos
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[keep...]))
        shift(keep)
    }

    /// Feeds the next chunk; `emit` receives each complete record (offset, bytes) in order.
    public mutating func feed(
        _ chunk: UnsafeRawBufferPointer, emit: (_ offset: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void
    ) throws {
        try feed(chunk) { o, b, _ in try emit(o, b) }
    }

    /// Declares the end of the stream; throws if the document was not complete.
    public mutating func finish() throws {
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

    /// Makes the indices relative to `keep`, the first byte held for the next feed.
    private mutating func shift(_ keep: Int) {
        base += keep
        pos -= keep
        if elementStart >= 0 { elementStart -= keep }
        stringStart -= keep
    }

    /// Scans `p` (whose first byte is at stream offset `base`) from `pos`. Returns true when it stopped
    /// early because `stopWhenClean` asked it to return as soon as nothing before `pos` is held (an
    /// element or key finished), false when it needs more bytes (or reached the end of `p`).
    private mutating func scan(
        _ p: UnsafeRawBufferPointer, stopWhenClean: Bool, emit: (Int, UnsafeRawBufferPointer, RecordFields) throws -> Void
    ) throws -> Bool {
        let n = p.count
        if pendingSkip > 0 {
            let skip = min(pendingSkip, n - pos)
            pos += skip
            pendingSkip -= skip
        }
        while pos < n {
            if stopWhenClean && elementStart < 0 && pos > 0 { return true }
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
                    return false
                }
                pos = i
                guard finished else { return false }
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
                guard closed else { return false }  // key not complete yet
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
                    // A record: one strict pass when it is valid JSON and ends within `p`, else the
                    // lenient split (which finds the same end for valid JSON) and the check after it.
                    let end = Self.strictRecord(p, from: pos, to: n, fields: &fields)
                    if end > 0 {
                        note(JSONCheck.Result(problem: nil, nonUTF8: fields.nonUTF8), offset: base + pos)
                        try emit(base + pos, UnsafeRawBufferPointer(rebasing: p[pos..<end]), fields)
                        recordCount += 1
                        strictPassRecords += 1
                        phase = .afterRecord
                        pos = end
                        continue
                    }
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
        return false
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

    /// Where a record's top-level `eventTime` and `eventID` string values lie, relative to the record's start,
    /// and every top-level member (so readers need not scan the record again).
    public struct RecordFields: Sendable, Equatable {
        public var eventTime: Range<Int>?
        public var eventID: Range<Int>?
        /// True when one of them holds a backslash escape (decode before use).
        public var escaped = false
        public var members: [TopMember] = []
        /// Why the record is not valid JSON (nil when it is); such records are still emitted.
        public var invalid: JSONCheck.Problem?
        /// True when the record's strings hold bytes that are not UTF-8.
        public var nonUTF8 = false
        public init() {}
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

    /// 1 for `eventTime`, 2 for `eventID`, else 0, for the key between `from` and the closing
    /// quote at `to` (which must lie in `p`): compared a word at a time (`eventID` with its quote).
    @inline(__always) static func fieldCode(_ p: UnsafeRawBufferPointer, from: Int, to: Int) -> UInt8 {
        let n = to &- from
        if n == 9 {
            let w = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: from, as: UInt64.self))
            return w == 0x6D69_5474_6E65_7665 && p[from &+ 8] == 0x65 ? 1 : 0  // "eventTim" "e"
        }
        if n == 7 {
            let w = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: from, as: UInt64.self))
            return w == 0x2244_4974_6E65_7665 ? 2 : 0  // "eventID" and its quote
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

extension RecordSplitter {
    /// Scans the record whose `{` is at `s` as strict JSON (RFC 8259, exactly what ``JSONCheck``
    /// accepts) in one pass, noting its top-level members and where its `eventTime` and `eventID`
    /// lie in `fields` as the lenient scan does. Returns the index past its closing `}`; or -1 when
    /// it is not valid JSON, does not end before `n`, or nests deeper than 64 levels: the caller
    /// then splits it the lenient way and runs ``JSONCheck`` on it, which names the fault.
    ///
    /// This runs on every record of every file, so its state stays in locals: strings are scanned
    /// inline eight bytes at a time (the common short ASCII string costs no call; escapes and
    /// non-ASCII bytes go to ``stringRest(_:_:_:)``), white space is looked for only where a byte
    /// is at most a space, and index arithmetic does not trap (every index stays within `s...n`).
    package static func strictRecord(_ p: UnsafeRawBufferPointer, from s: Int, to n: Int, fields: inout RecordFields) -> Int {
        fields.eventTime = nil
        fields.eventID = nil
        fields.escaped = false
        fields.invalid = nil
        fields.members.removeAll(keepingCapacity: true)
        // Members go to a batch on the stack, appended to `fields.members` when it fills and at the
        // end: the loop makes no call, so its state can stay in registers.
        return withUnsafeTemporaryAllocation(of: TopMember.self, capacity: memberBatch) { batch in
            strictRecord(p, from: s, to: n, fields: &fields, batch: batch.baseAddress.unsafelyUnwrapped)
        }
    }

    /// Top-level members ``strictRecord(_:from:to:fields:)`` keeps on the stack before appending them.
    static let memberBatch = 64

    /// ``strictRecord(_:from:to:fields:)`` with its batch of ``memberBatch`` members.
    private static func strictRecord(
        _ buffer: UnsafeRawBufferPointer, from s: Int, to n: Int, fields: inout RecordFields, batch: UnsafeMutablePointer<TopMember>
    ) -> Int {
        guard let base = buffer.baseAddress, s < n else { return -1 }
        let p = RawBytes(base: base, buffer: buffer)
        var count = 0
        // Bit 1: a string held an escape; bit 2: bytes that are not UTF-8 (``stringRest(_:_:_:)``).
        var seen: UInt8 = 0
        var depth = 1
        // Bit d set: the container at depth d + 1 is an array (the record itself is an object).
        var arrays: UInt64 = 0
        // The top-level member in progress, relative to `s`.
        var keyStart = 0
        var keyCount = 0
        var keyFlags: UInt8 = 0
        var code: UInt8 = 0
        var valueStart = 0
        var valueKind = TopMember.Kind.object
        var i = skipSpace(p, s &+ 1, n)
        guard i < n else { return -1 }
        if p[i] == 0x7D {
            fields.nonUTF8 = false
            return i &+ 1
        }
        var atKey = true
        while true {
            if atKey {
                guard i < n, p[i] == 0x22 else { return -1 }
                let start = i
                var flags: UInt8 = 0
                i = stringEnd(p, i, n, &flags)
                guard i != -1 else { return -1 }
                seen |= flags
                if depth == 1 {
                    keyStart = start &+ 1 &- s
                    keyCount = min(i &- start &- 2, Int(UInt16.max))
                    keyFlags = flags & 1
                    code = fieldCode(buffer, from: start &+ 1, to: i &- 1)
                }
                if i < n &- 1 && pair(p, i) == 0x223A {
                    i &+= 1  // `:"`, as CloudTrail writes its members: the value is a string
                } else {
                    i = skipSpace(p, i, n)
                    guard i < n, p[i] == 0x3A else { return -1 }
                    i = skipSpace(p, i &+ 1, n)
                }
                atKey = false
            }
            // A value.
            guard i < n else { return -1 }
            let b = p[i]
            let start = i
            if b == 0x22 {
                var flags: UInt8 = 0
                i = stringEnd(p, i, n, &flags)
                guard i != -1 else { return -1 }
                seen |= flags
                if depth == 1 {
                    if code != 0 {
                        let r = (start &+ 1 &- s)..<(i &- 1 &- s)
                        if code == 1 { fields.eventTime = r } else { fields.eventID = r }
                        if flags & 1 != 0 { fields.escaped = true }
                    }
                    add(
                        TopMember(keyStart: keyStart, keyCount: keyCount, valueStart: start &- s, valueEnd: i &- s, kind: .string,
                                  flags: keyFlags | (flags & 1) &<< 1), batch, &count, &fields.members)
                }
            } else if b == 0x7B || b == 0x5B {
                guard depth < 64 else { return -1 }
                if depth == 1 {
                    valueStart = start &- s
                    valueKind = b == 0x7B ? .object : .array
                }
                let bit: UInt64 = 1 &<< UInt64(truncatingIfNeeded: depth)
                if b == 0x5B { arrays |= bit } else { arrays &= ~bit }
                depth &+= 1
                i = skipSpace(p, i &+ 1, n)
                guard i < n else { return -1 }
                if p[i] != b &+ 2 {  // not empty: '}' and ']' follow '{' and '[' by two
                    atKey = b == 0x7B
                    continue
                }
                i &+= 1
                depth &-= 1
                if depth == 1 {
                    add(
                        TopMember(keyStart: keyStart, keyCount: keyCount, valueStart: valueStart, valueEnd: i &- s, kind: valueKind,
                                  flags: keyFlags), batch, &count, &fields.members)
                }
            } else {
                switch b {
                case 0x74: i = literalEnd(p, i, n, 0x6575_7274, 4)  // true
                case 0x66: i = literalEnd(p, i &+ 1, n, 0x6573_6C61, 4)  // (f)alse
                case 0x6E: i = literalEnd(p, i, n, 0x6C6C_756E, 4)  // null
                default: i = JSONCheck.numberEnd(buffer, at: i, to: n)
                }
                guard i > 0 else { return -1 }
                if depth == 1 {
                    add(
                        TopMember(keyStart: keyStart, keyCount: keyCount, valueStart: start &- s, valueEnd: i &- s, kind: .bare,
                                  flags: keyFlags), batch, &count, &fields.members)
                }
            }
            // After a value: close containers, or go on to the next member or element.
            while true {
                let array = arrays &>> UInt64(truncatingIfNeeded: depth &- 1) & 1 != 0
                if i < n &- 1 && pair(p, i) == 0x222C && !array {
                    i &+= 1  // `,"` in an object: the next key
                    atKey = true
                    break
                }
                i = skipSpace(p, i, n)
                guard i < n else { return -1 }
                let c = p[i]
                if c == 0x2C {
                    i = skipSpace(p, i &+ 1, n)
                    atKey = !array
                    break
                }
                guard c == (array ? 0x5D : 0x7D) else { return -1 }
                i &+= 1
                depth &-= 1
                if depth == 0 {
                    fields.nonUTF8 = seen & 2 != 0
                    fields.members.append(contentsOf: UnsafeBufferPointer(start: batch, count: count))
                    return i
                }
                if depth == 1 {
                    add(
                        TopMember(keyStart: keyStart, keyCount: keyCount, valueStart: valueStart, valueEnd: i &- s, kind: valueKind,
                                  flags: keyFlags), batch, &count, &fields.members)
                }
            }
        }
    }

    /// The two bytes at `i` as a little-endian word (`i + 1` must lie in `p`).
    @inline(__always) static func pair(_ p: RawBytes, _ i: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt16.self))
    }

    /// The bytes being scanned by their address: the strict scan keeps its indices within the
    /// buffer itself, so its loads need no check of the buffer's address.
    struct RawBytes {
        let base: UnsafeRawPointer
        let buffer: UnsafeRawBufferPointer
        @inline(__always) subscript(i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }
        @inline(__always) func loadUnaligned<T: BitwiseCopyable>(fromByteOffset i: Int, as type: T.Type) -> T {
            base.loadUnaligned(fromByteOffset: i, as: type)
        }
    }

    /// Puts `member` in the batch of `count`, first moving a full batch to `members`.
    @inline(__always) static func add(
        _ member: TopMember, _ batch: UnsafeMutablePointer<TopMember>, _ count: inout Int, _ members: inout [TopMember]
    ) {
        if count == memberBatch {
            flush(batch, count, &members)
            count = 0
        }
        (batch + count).initialize(to: member)
        count &+= 1
    }

    @inline(never) static func flush(_ batch: UnsafeMutablePointer<TopMember>, _ count: Int, _ members: inout [TopMember]) {
        members.append(contentsOf: UnsafeBufferPointer(start: batch, count: count))
    }

    /// The first index from `i` (before `n`) that is not JSON white space. Records hold none
    /// between their tokens: a byte above a space ends it at once.
    @inline(__always) static func skipSpace(_ p: RawBytes, _ i: Int, _ n: Int) -> Int {
        var i = i
        while i < n, p[i] <= 0x20, isSpace(p[i]) { i &+= 1 }
        return i
    }

    /// The end of the 4 bytes at `i` when they are `word` (little-endian), or -1.
    @inline(__always) static func literalEnd(_ p: RawBytes, _ i: Int, _ n: Int, _ word: UInt32, _ count: Int) -> Int {
        guard i <= n &- count, UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self)) == word else { return -1 }
        return i &+ count
    }

    /// The end of the string at the quote at `i` (past its closing quote) when it is strict JSON
    /// (escapes JSON's, control characters escaped), or -1 (also when it does not end before `n`).
    /// Sets bit 1 of `flags` when it holds a backslash, bit 2 when it holds bytes that are not UTF-8.
    ///
    /// Inline, the common case: plain ASCII up to the closing quote, found eight bytes at a time.
    /// Anything else (an escape, a control character, a non-ASCII byte, fewer than eight bytes
    /// left before `n`) goes on in ``stringRest(_:_:_:)``.
    @inline(__always) static func stringEnd(_ p: RawBytes, _ i: Int, _ n: Int, _ flags: inout UInt8) -> Int {
        var j = i &+ 1
        while j <= n &- 8 {
            let special = JSONCheck.specialBytes(p.base, at: j)
            if special != 0 {
                j &+= special.trailingZeroBitCount &>> 3
                if p[j] == 0x22 { return j &+ 1 }
                break
            }
            j &+= 8
        }
        let rest = stringRest(p.buffer, j, n)
        flags |= rest.flags
        return rest.end
    }

    /// The end of the string whose body goes on at `j` (``stringEnd(_:_:_:_:)``'s slow path:
    /// escapes, non-ASCII bytes and the last bytes before `n`), and its flags as there.
    @inline(never) static func stringRest(_ p: UnsafeRawBufferPointer, _ j: Int, _ n: Int) -> (end: Int, flags: UInt8) {
        var j = j
        var flags: UInt8 = 0
        while true {
            j = JSONCheck.skipPlain(p, from: j, to: n)
            while j < n, JSONCheck.isPlain(p[j]) { j &+= 1 }
            guard j < n else { return (-1, flags) }
            let b = p[j]
            if b == 0x22 { return (j &+ 1, flags) }
            if b == 0x5C {
                flags |= 1
                guard j &+ 1 < n else { return (-1, flags) }
                switch p[j &+ 1] {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74:
                    j &+= 2
                case 0x75:
                    guard j <= n &- 6 else { return (-1, flags) }
                    for k in 2..<6 where Base16.digit(p[j &+ k]) == nil { return (-1, flags) }
                    j &+= 6
                default:
                    return (-1, flags)
                }
            } else if b < 0x20 {
                return (-1, flags)
            } else {
                let len = JSONCheck.utf8Length(p, at: j, to: n)
                if len == 0 {
                    flags |= 2
                    j &+= 1
                } else {
                    j &+= len
                }
            }
        }
    }
}

/// A record that is not valid JSON or not UTF-8: which one and where, for the log line naming it.
public struct RecordProblem: Sendable, Equatable, CustomStringConvertible {
    /// The record's number in the file, from 0.
    public var index: Int
    /// The record's offset in the uncompressed file.
    public var offset: Int
    /// Why it is not JSON (the offset inside is from the record's start), or nil when it only has non-UTF-8 bytes.
    public var problem: JSONCheck.Problem?
    public var nonUTF8: Bool

    /// A problem of the record numbered `index` at `offset`.
    package init(index: Int, offset: Int, problem: JSONCheck.Problem?, nonUTF8: Bool) {
        (self.index, self.offset, self.problem, self.nonUTF8) = (index, offset, problem, nonUTF8)
    }

    public var description: String {
        var s = "record \(index) at byte \(offset)"
        if let problem { s += ": not JSON: \(problem.reason) at byte \(offset + problem.offset)" }
        if nonUTF8 { s += problem == nil ? ": bytes that are not UTF-8" : ", and bytes that are not UTF-8" }
        return s
    }
}

/// One top-level member of a record: where its key and value lie (relative to the record's start).
public struct TopMember: Sendable, Equatable {
    public enum Kind: UInt8, Sendable { case string, object, array, bare }
    // 16 bytes: files hand these to the committing thread by the hundred thousand.
    private var keyStart: Int32
    private var keyCount: UInt16
    public var kind: Kind
    private var flags: UInt8
    private var valueStart: Int32
    private var valueCount: Int32

    public init(key: Range<Int>, value: Range<Int>, kind: Kind, escapedKey: Bool, escapedValue: Bool) {
        self.init(
            keyStart: key.lowerBound, keyCount: key.count, valueStart: value.lowerBound, valueEnd: value.upperBound, kind: kind,
            flags: (escapedKey ? 1 : 0) | (escapedValue ? 2 : 0))
    }

    /// A member from plain bounds (`valueEnd >= valueStart`), for the strict pass: no ranges to
    /// build and check. `flags`: bit 1 an escaped key, bit 2 an escaped value.
    @inline(__always) init(keyStart: Int, keyCount: Int, valueStart: Int, valueEnd: Int, kind: Kind, flags: UInt8) {
        self.keyStart = Int32(truncatingIfNeeded: keyStart)
        self.keyCount = UInt16(truncatingIfNeeded: min(keyCount, Int(UInt16.max)))
        self.valueStart = Int32(truncatingIfNeeded: valueStart)
        valueCount = Int32(truncatingIfNeeded: valueEnd &- valueStart)
        self.kind = kind
        self.flags = flags
    }

    /// The key, without quotes.
    public var key: Range<Int> { Int(keyStart)..<(Int(keyStart) + Int(keyCount)) }
    /// The value; strings include their quotes.
    public var value: Range<Int> { Int(valueStart)..<(Int(valueStart) + Int(valueCount)) }
    public var escapedKey: Bool { flags & 1 != 0 }
    public var escapedValue: Bool { flags & 2 != 0 }
}
