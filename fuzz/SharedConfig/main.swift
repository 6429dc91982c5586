// libFuzzer target: the AWS shared credentials/config file parser (scripts/fuzz.sh builds it).
// Input: a credentials or config file.
import AWSFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for kind in [AWSSharedConfigFile.Kind.credentials, .config] {
        do {
            let file = try AWSSharedConfigFile.parse(text, path: "config", kind: kind)
            precondition(file.sections.count <= AWSSharedConfigFile.maxSections)
            for (name, keys) in file.sections {
                precondition(!name.isEmpty && keys.count <= AWSSharedConfigFile.maxKeysPerSection, name)
                // Keys are lowercased and trimmed; values carry no surrounding whitespace.
                for (k, v) in keys {
                    precondition(!k.isEmpty && k == k.lowercased(), k)
                    precondition(v.first != " " && v.last != " ", v)
                }
            }
            _ = file.profile("default")
        } catch {
            // Every error names the file, and a line of it when one is at fault.
            precondition(error.source == "config" && error.line >= 0, "\(error)")
            _ = error.description
        }
    }
    return 0
}
