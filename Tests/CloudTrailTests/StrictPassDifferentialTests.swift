import CloudTrail
import Testing

/// The splitter's strict pass (records checked as JSON while they are split, chunks scanned where
/// they lie) against the split-then-check it replaced (`ReferenceSplitter`, the old code kept in
/// this target): the same records, offsets, fields, verdicts, counters, problems, failures, and the
/// same bytes held between chunks (what `max-record-size` bounds), over generated documents, their
/// mutations and deep nesting, at many chunkings.
@Suite struct StrictPassDifferentialTests {
    /// Everything a split gives a reader.
    struct Outcome: Equatable {
        var records: [Int] = []
        var bytes: [[UInt8]] = []
        var fields: [RecordSplitter.RecordFields] = []
        var held: [Int] = []
        var failure: String?
        var counts: [Int] = []
        var problems: [RecordProblem] = []
    }

    /// Splits `doc` fed in chunks of the sizes `chunks` (cycled).
    static func run<S: Splitting>(_ s: inout S, _ doc: [UInt8], chunks: [Int]) -> Outcome {
        var out = Outcome()
        do {
            var at = 0
            var k = 0
            while at < doc.count {
                let end = min(doc.count, at + chunks[k % chunks.count])
                k += 1
                try doc[at..<end].withUnsafeBytes { c in
                    try s.feed(c) { o, b, f in
                        out.records.append(o)
                        out.bytes.append(Array(b))
                        out.fields.append(f)
                    }
                }
                out.held.append(s.bufferedBytes)
                at = end
            }
            try s.finish()
        } catch let e as RecordSplitter.Failure {
            out.failure = "\(e.code) \(e.detail)"
        } catch let e as ReferenceSplitter.Failure {
            out.failure = "\(e.code) \(e.detail)"
        } catch {
            out.failure = "\(error)"
        }
        out.counts = [s.recordCount, s.invalidRecords, s.nonUTF8Records, s.nonObjectElements]
        out.problems = s.problems
        return out
    }

    static func newSplit(_ doc: [UInt8], chunks: [Int]) -> (Outcome, strict: Int) {
        var s = RecordSplitter()
        let out = run(&s, doc, chunks: chunks)
        return (out, s.strictPassRecords)
    }

    static func oldSplit(_ doc: [UInt8], chunks: [Int]) -> Outcome {
        var s = ReferenceSplitter()
        return run(&s, doc, chunks: chunks)
    }

    /// The first thing two outcomes differ in, briefly.
    static func difference(_ a: Outcome, _ b: Outcome) -> String {
        if a.records != b.records { return "offsets \(a.records) vs \(b.records)" }
        for k in a.fields.indices where a.fields[k] != b.fields[k] || a.bytes[k] != b.bytes[k] {
            return "record \(k): \(a.fields[k]) vs \(b.fields[k])"
        }
        if a.held != b.held { return "held \(a.held) vs \(b.held)" }
        if a.failure != b.failure { return "failure \(a.failure ?? "none") vs \(b.failure ?? "none")" }
        if a.counts != b.counts { return "counts \(a.counts) vs \(b.counts)" }
        return "problems \(a.problems) vs \(b.problems)"
    }

    /// A fixed-seed generator (SplitMix64), so a failure repeats.
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
    }

    static let keys = ["eventTime", "eventID", "eventName", "userIdentity", "a", "event\\u0054ime", "eventTim", "k\\\"q", "é"]
    static let stringBodies: [[UInt8]] = [
        Array("2024-03-01T10:00:00Z".utf8), Array("0f2d5e8a-1b3c-4d5e-8f90-123456789abc".utf8), [],
        Array(#"x\"y\\z\/\b\f\n\r\t"#.utf8), Array(#"\u00e9\uD83D\uDE00"#.utf8), Array("ünïcödé ✓ 𝄞".utf8),
        Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8), [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82],
        Array("pad\\".utf8) + [0x22], Array(String(repeating: "w", count: 300).utf8),
    ]
    static let bare = [
        "0", "-0", "1", "-12.5e+3", "1E9", "0.000", "12345678901234567890", "-98765432109876543210.5e-20", "true", "false", "null",
    ]

    static func string(_ r: inout Rng) -> [UInt8] {
        var s: [UInt8] = [0x22]
        for _ in 0..<r.below(3) { s += r.pick(stringBodies) }
        return s + [0x22]
    }

    static func space(_ r: inout Rng) -> [UInt8] { r.below(6) == 0 ? r.pick([[0x20], [0x0A], [0x0D, 0x0A, 0x09], [0x20, 0x20]]) : [] }

    static func value(_ r: inout Rng, depth: Int) -> [UInt8] {
        switch depth > 4 ? r.below(2) : r.below(5) {
        case 0: return string(&r)
        case 1: return Array(r.pick(bare).utf8)
        case 2:
            var a: [UInt8] = [0x5B] + space(&r)
            for i in 0..<r.below(4) {
                if i > 0 { a += [0x2C] + space(&r) }
                a += value(&r, depth: depth + 1) + space(&r)
            }
            return a + [0x5D]
        default: return object(&r, depth: depth + 1)
        }
    }

    static func object(_ r: inout Rng, depth: Int) -> [UInt8] {
        var o: [UInt8] = [0x7B] + space(&r)
        for i in 0..<r.below(depth == 1 ? 9 : 4) {
            if i > 0 { o += [0x2C] + space(&r) }
            o += [0x22] + Array(r.pick(keys).utf8) + [0x22] + space(&r) + [0x3A] + space(&r)
            o += value(&r, depth: depth) + space(&r)
        }
        return o + [0x7D]
    }

    static func document(_ r: inout Rng) -> [UInt8] {
        var d = Array(#"{"Records":["#.utf8)
        for i in 0..<(1 + r.below(8)) {
            if i > 0 { d += [0x2C] + space(&r) }
            d += r.below(12) == 0 ? value(&r, depth: 3) : object(&r, depth: 1)
        }
        d += Array("]".utf8)
        if r.below(4) == 0 { d += Array(#","digest":{"s":[1,"]"]}"#.utf8) }
        return d + Array("}".utf8)
    }

    static let hostileBytes: [UInt8] = [0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A, 0x00, 0x0A, 0x80, 0xC0, 0xFF, 0x30, 0x65, 0x2D, 0x2E, 0x75, 0x20, 0x74]

    static func mutate(_ doc: [UInt8], _ r: inout Rng) -> [UInt8] {
        var d = doc
        for _ in 0..<(1 + r.below(3)) where !d.isEmpty {
            let at = r.below(d.count)
            switch r.below(4) {
            case 0: d[at] = r.pick(hostileBytes)
            case 1: d.insert(r.pick(hostileBytes), at: at)
            case 2: d.remove(at: at)
            default: d.removeSubrange(at..<min(d.count, at + 1 + r.below(8)))
            }
        }
        return d
    }

    static let chunkings: [[Int]] = [[1], [2], [3], [7], [8], [13], [64], [4095], [1 << 20], [1, 5000], [3, 700, 11]]

    /// Compares both splitters on `doc` at every chunking; returns how many records each way of the new one took.
    @discardableResult
    static func compare(_ doc: [UInt8], _ label: String) -> (strict: Int, records: Int) {
        var strict = 0
        var records = 0
        for chunks in chunkings {
            let (new, s) = newSplit(doc, chunks: chunks)
            let old = oldSplit(doc, chunks: chunks)
            let same = new == old
            #expect(same, "\(label), chunks \(chunks): \(difference(new, old)) in \(String(decoding: doc.prefix(400), as: UTF8.self))")
            strict += s
            records += new.records.count
        }
        return (strict, records)
    }

    @Test func generatedDocuments() {
        var r = Rng(state: 1)
        var records = 0
        var strict = 0
        var invalid = 0
        var nonUTF8 = 0
        for n in 0..<400 {
            let doc = Self.document(&r)
            Self.compare(doc, "document \(n)")
            let (whole, s) = Self.newSplit(doc, chunks: [doc.count])
            records += whole.records.count
            strict += s
            invalid += whole.counts[1]
            nonUTF8 += whole.counts[2]
        }
        // The scenario: valid records, some not UTF-8, all in the strict pass when fed whole.
        #expect(records > 1000 && strict == records && invalid == 0, "strict pass \(strict) of \(records) records, \(invalid) invalid")
        #expect(nonUTF8 > 20, "non-UTF-8 records: \(nonUTF8)")
    }

    @Test func mutatedDocuments() {
        var r = Rng(state: 2)
        var invalid = 0
        var failed = 0
        var strict = 0
        for n in 0..<1500 {
            let doc = Self.mutate(Self.document(&r), &r)
            strict += Self.compare(doc, "mutation \(n)").strict
            let whole = Self.newSplit(doc, chunks: [doc.count]).0
            invalid += whole.counts[1]
            if whole.failure != nil { failed += 1 }
        }
        #expect(invalid > 200 && failed > 100 && strict > 1000, "invalid records \(invalid), failed documents \(failed), strict \(strict)")
    }

    /// Nesting around the 64 levels the strict pass keeps in a word (deeper records take the
    /// lenient split and `JSONCheck`), up to 100,000 levels, well formed and not.
    @Test func deepNesting() {
        for depth in [62, 63, 64, 65, 130, 100_000] {
            let open = (0..<depth).map { $0 % 3 == 0 ? "[" : "{\"k\":" }
            let close = open.reversed().map { $0 == "[" ? "]" : "}" }
            let good = "{\"eventID\":\"d\",\"n\":" + open.joined() + "1" + close.joined() + "}"
            let bad = "{\"eventID\":\"d\",\"n\":" + open.joined() + "1" + close.map { $0 == "]" ? "}" : "]" }.joined() + "}"
            for record in [good, bad] {
                let doc = Array(("{\"Records\":[" + record + ",{\"eventID\":\"e\"}]}").utf8)
                for chunks in [[1 << 20], [4096], [7]] {
                    let (new, _) = Self.newSplit(doc, chunks: chunks)
                    let old = Self.oldSplit(doc, chunks: chunks)
                    let same = new == old
                    #expect(same, "depth \(depth), chunks \(chunks): \(Self.difference(new, old))")
                    #expect(new.records.count == 2, "depth \(depth): both records split")
                }
            }
        }
    }

    /// The strict pass on records as CloudTrail writes them: every record of a document fed whole
    /// is checked in the one pass, and chunk edges send only the records that straddle them the other way.
    @Test func ordinaryRecordsTakeTheStrictPass() {
        var r = Rng(state: 3)
        var doc = Array(#"{"Records":["#.utf8)
        for i in 0..<200 {
            if i > 0 { doc += [0x2C] }
            doc += Array(#"{"eventVersion":"1.09","eventTime":"2024-03-01T10:00:00Z","eventID":"\#(r.next())","n":\#(r.below(1000)),"r":[{"a":true}],"o":{"x":null}}"#.utf8)
        }
        doc += Array("]}".utf8)
        let (whole, strictWhole) = Self.newSplit(doc, chunks: [doc.count])
        #expect(whole.records.count == 200 && strictWhole == 200 && whole.counts[1] == 0)
        let (pieces, strictPieces) = Self.newSplit(doc, chunks: [4096])
        let same = pieces == Self.oldSplit(doc, chunks: [4096])
        #expect(same)
        #expect(strictPieces < 200 && strictPieces >= 200 - doc.count / 4096 - 1, "only straddling records split leniently: \(strictPieces)")
    }
}

/// What the differential tests drive: the splitter and its reference.
protocol Splitting {
    mutating func feed(
        _ chunk: UnsafeRawBufferPointer,
        emitWithFields emit: (_ offset: Int, _ bytes: UnsafeRawBufferPointer, _ fields: RecordSplitter.RecordFields) throws -> Void
    ) throws
    mutating func finish() throws
    var bufferedBytes: Int { get }
    var recordCount: Int { get }
    var invalidRecords: Int { get }
    var nonUTF8Records: Int { get }
    var nonObjectElements: Int { get }
    var problems: [RecordProblem] { get }
}

extension RecordSplitter: Splitting {}
extension ReferenceSplitter: Splitting {}
