// libFuzzer target: the CloudWatch filter-pattern parser and evaluator (scripts/fuzz.sh builds it).
// Input: a pattern, optionally followed by a NUL byte and a record to evaluate it on.
import CloudTrail
import FilterPattern

let sample = Array(#"{"eventVersion":"1.09","eventTime":"2024-03-01T10:00:00Z","eventName":"ConsoleLogin","userIdentity":{"type":"Root","arn":"arn:aws:iam::123456789012:root"},"errorCode":"AccessDenied","resources":[{"ARN":"arn:aws:s3:::a"}],"n":42,"ok":true,"x":null}"#.utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    let cut = input.firstIndex(of: 0) ?? size
    let text = String(decoding: UnsafeBufferPointer(rebasing: input[0..<cut]), as: UTF8.self)
    let pattern: FilterPattern
    do {
        pattern = try FilterPattern(text)
    } catch {
        // An error points inside the pattern (or just past its end).
        precondition(error.offset >= 0 && error.offset <= max(text.unicodeScalars.count, FilterPattern.Limits.length), "\(error)")
        return 0
    }
    _ = pattern.matches(sample)
    _ = pattern.selectorPaths
    _ = pattern.requiredValues(of: [.key("eventName")])
    if cut < size {
        _ = pattern.matches(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: input[(cut + 1)...])))
    }
    return 0
}
