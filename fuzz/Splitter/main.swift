// libFuzzer target: the record splitter over a decompressed log file, fed in chunks (whole, most
// records take its strict pass; in small chunks, most the lenient split and JSONCheck: both must
// agree, and with JSONCheck on each record), and the raw JSON reads done on each record
// (scripts/fuzz.sh builds it). Input: the first byte picks the chunk
// size; the rest is the document.
import CloudTrail

struct Split: Equatable {
    var records: [[UInt8]] = []
    var fields: [RecordSplitter.RecordFields] = []
    var failed = false
}

func split(_ doc: UnsafeRawBufferPointer, chunk: Int) -> Split {
    var s = RecordSplitter()
    var out = Split()
    do {
        var at = 0
        while at < doc.count {
            let end = min(at + chunk, doc.count)
            try s.feed(UnsafeRawBufferPointer(rebasing: doc[at..<end])) { _, bytes, fields in
                out.records.append(Array(bytes))
                out.fields.append(fields)
            }
            at = end
        }
        try s.finish()
    } catch {
        out.failed = true
    }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let doc = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let chunk = Int(data[0]) + 1
    let whole = split(doc, chunk: max(doc.count, 1))
    let pieces = split(doc, chunk: chunk)
    // Chunk boundaries never change what is found.
    precondition(whole == pieces, "chunked at \(chunk): \(whole.records.count) vs \(pieces.records.count) records")
    for (r, f) in zip(whole.records, whole.fields) {
        // The splitter's verdict on each record, from its own strict pass or not, is JSONCheck's.
        let check = JSONCheck.check(r)
        precondition(f.invalid == check.problem && f.nonUTF8 == check.nonUTF8, "verdict differs from JSONCheck")
        r.withUnsafeBytes { b in
            let json = RawJSON(b)
            if let t = f.eventTime { _ = Timestamp.parseISO8601(UnsafeRawBufferPointer(rebasing: b[t])) }
            for m in f.members {
                precondition(m.key.upperBound <= b.count && m.value.upperBound <= b.count, "member outside its record")
                _ = json.value(of: m)
            }
            _ = json.lookup([.key("userIdentity"), .key("arn")])
            _ = json.lookup([.key("resources"), .index(0), .key("ARN")])
            _ = json.topLevel([Array("eventTime".utf8), Array("eventID".utf8)])
            if case .object(let o)? = json.root {
                json.forEachMember(of: o) { k, esc, v in
                    _ = json.keyEquals(k, escaped: esc, Array("eventName".utf8))
                    if case .string = v { _ = json.string(v) }
                    if case .number = v { _ = json.number(v) }
                    if case .array(let a) = v { json.forEachElement(of: a) { _ in } }
                    return true
                }
            }
        }
    }
    return 0
}
