// libFuzzer target: the access file parser, and removing each principal it finds from the text
// (scripts/fuzz.sh builds it). Input: an access file.
import Access

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let file: AccessFile
    do { file = try AccessFile.parse(text, path: "access") } catch {
        // Every error names the file, and a line of it (or none, for the whole file).
        precondition(error.path == "access" && error.line >= 0, "\(error)")
        _ = error.description
        return 0
    }
    for p in file.principals {
        // What parsed has its checked shape, and its stanza can be taken out again.
        precondition(AccessFile.isValidName(p.name) && AccessFile.isValidKeyId(p.accessKeyId), "\(p.name)")
        let (rest, removed) = try! AccessFile.removing(p.name, from: text, path: "access")
        precondition(removed.name == p.name, "\(p.name)")
        precondition(try! AccessFile.parse(rest, path: "access").principal(named: p.name) == nil, "\(p.name)")
    }
    return 0
}
