// libFuzzer target: the streaming gzip reader (scripts/fuzz.sh builds it). Input: the first byte
// picks the input chunk size; the rest is the compressed file. Also checks that whatever the input
// is, gzip then gunzip gives it back.
import Gzip

struct TooBig: Error {}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let chunk = (Int(data[0]) + 1) * 16
    do {
        let inflater = try Inflater(chunkSize: 4096)
        var total = 0
        var at = 0
        while at < input.count {
            let end = min(at + chunk, input.count)
            try inflater.inflate(UnsafeRawBufferPointer(rebasing: input[at..<end])) { piece in
                precondition(piece.count <= 4096, "a piece larger than the chunk size")
                total += piece.count
                if total > 64 << 20 { throw TooBig() }  // a bomb: enough seen
            }
            at = end
        }
        try inflater.finish()
        precondition(total == inflater.totalOut)
    } catch {}
    let plain = Array(input)
    let back = try? Inflater.inflateAll(Deflater.gzip(plain))
    precondition(back == plain, "gzip round trip lost bytes")
    return 0
}
