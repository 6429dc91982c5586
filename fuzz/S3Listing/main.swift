// libFuzzer target: the XML reader under the ListObjectsV2 result and error-body parsers
// (scripts/fuzz.sh builds it). Input: an S3 response body.
import AWSFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for encoded in [false, true] {
        do {
            let r = try S3ListResult.parse(bytes, urlEncoded: encoded)
            // What parsed has its checked shape.
            precondition(r.objects.count + r.commonPrefixes.count <= S3ListResult.maxEntries)
            precondition(r.objects.allSatisfy { !$0.key.isEmpty && $0.size >= 0 })
            precondition(!r.isTruncated || r.nextContinuationToken?.isEmpty == false)
        } catch {
            // Every error names the response and says why.
            precondition(error.source == "ListObjectsV2 response" && !error.reason.isEmpty, "\(error)")
        }
    }
    if let e = AWSXMLErrorBody.parse(bytes) { precondition(!e.code.isEmpty) }
    if let tree = try? XMLElement.parse(bytes, source: "fuzz") {
        // Depth is bounded, so walking the tree recursively is safe.
        func depth(_ e: XMLElement) -> Int { 1 + (e.children.map(depth).max() ?? 0) }
        precondition(depth(tree) <= XMLElement.maxDepth)
    }
    return 0
}
