// libFuzzer target: the gzip readers (scripts/fuzz.sh builds it). Input: the first byte picks the
// streaming input chunk size; the rest is the compressed file. The streaming zlib reader and the
// whole-buffer libdeflate reader must agree: whatever libdeflate inflates whole (exactly the size
// the trailer claims), zlib inflates to the same bytes. Also checks that gzip then gunzip gives any
// input back.
import Gzip

struct TooBig: Error {}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let chunk = (Int(data[0]) + 1) * 16
    let keep = 1 << 20
    var streamed: [UInt8]? = nil
    do {
        let inflater = try Inflater(chunkSize: 4096)
        var out: [UInt8] = []
        var at = 0
        while at < input.count {
            let end = min(at + chunk, input.count)
            try inflater.inflate(UnsafeRawBufferPointer(rebasing: input[at..<end])) { piece in
                precondition(piece.count <= 4096, "a piece larger than the chunk size")
                out.append(contentsOf: piece)
                if out.count > keep { throw TooBig() }  // a bomb: enough seen
            }
            at = end
        }
        try inflater.finish()
        precondition(out.count == inflater.totalOut)
        streamed = out
    } catch {}
    if let claimed = WholeInflater.claimedSize(input), let whole = try? WholeInflater().inflate(input, claimedSize: claimed, limit: keep) {
        precondition(whole.count == claimed, "libdeflate returned other than the claimed size")
        precondition(streamed == whole, "libdeflate inflated what zlib refused, or to other bytes")
    }
    let plain = Array(input)
    let back = try? Inflater.inflateAll(Deflater.gzip(plain))
    precondition(back == plain, "gzip round trip lost bytes")
    return 0
}
