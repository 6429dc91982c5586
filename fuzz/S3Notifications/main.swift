// libFuzzer target: SQS message bodies as S3 notifications (direct, SNS, EventBridge), and the
// shard parser (scripts/fuzz.sh builds it). Input: a message body.
import S3Notifications

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        switch try S3Notifications.parse(body) {
        case .objects(let refs, _):
            // What comes out can name a local file: a checked bucket and a safe key, an unquoted ETag.
            precondition(!refs.isEmpty)
            for r in refs {
                precondition(S3Notifications.isValidBucketName(r.bucket), r.bucket)
                precondition(S3Notifications.isSafeKey(r.key), r.key)
                precondition(r.size.map { $0 >= 0 } ?? true)
                if let e = r.etag { precondition(S3Notifications.normalizeETag(e) == e || e.hasPrefix("W/") || e.hasPrefix("\""), e) }
            }
        case .ignore(let reason):
            precondition(!reason.isEmpty)
        }
    } catch {
        precondition(!error.message.isEmpty)
        _ = error.description
    }
    if size <= 16, let shard = try? Shard.parse(String(decoding: body, as: UTF8.self)) {
        precondition(shard.count >= 1 && (1...shard.count).contains(shard.index))
        precondition((try? Shard.parse(shard.description)) == shard)
    }
    return 0
}
