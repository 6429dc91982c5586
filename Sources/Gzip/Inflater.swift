import CZlib

/// Why a gzip stream could not be inflated.
public struct GzipError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The bytes are not gzip, or are damaged.
        case corrupt
        /// The stream ended before the gzip trailer: possibly a file still being written.
        case truncated
        /// zlib could not allocate its state.
        case resources
        /// The output would exceed the caller's limit (a gzip bomb).
        case tooLarge
        /// ``WholeInflater`` could not inflate the buffer in one piece: it does not inflate to the
        /// size its trailer claims, or more gzip members follow. Not a verdict on the file: inflate
        /// it with ``Inflater``.
        case notWhole
    }
    public var code: Code
    public var detail: String
    public var description: String { detail }
}

/// Streaming gzip decompression over zlib, one member after another, with bounded memory.
///
/// Feed compressed chunks with ``inflate(_:sink:)``; output arrives in pieces of at most
/// ``chunkSize`` bytes. Call ``finish()`` at the end of input to learn whether the stream was complete.
public final class Inflater {
    private var stream = z_stream()
    private var output: [UInt8]
    private var atMemberEnd = false
    private var sawAnyMember = false
    public let chunkSize: Int
    /// Total uncompressed bytes produced.
    public private(set) var totalOut: Int = 0

    public init(chunkSize: Int = 256 * 1024) throws {
        self.chunkSize = chunkSize
        output = [UInt8](repeating: 0, count: chunkSize)
        let rc = trailwatch_inflateInit2(&stream, 15 + 16)
        guard rc == Z_OK else { throw GzipError(code: .resources, detail: "inflateInit2 failed (\(rc))") }
    }

    deinit { inflateEnd(&stream) }

    /// Inflates `input`, calling `sink` with each piece of output.
    public func inflate(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !input.isEmpty else { return }
        var offset = 0
        while offset < input.count {
            if atMemberEnd {
                // Another gzip member may follow (as `gzip -dc` accepts); trailing zero padding is ignored.
                let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
                if rest.allSatisfy({ $0 == 0 }) { return }
                guard rest[0] == 0x1F else {
                    throw GzipError(code: .corrupt, detail: "data after the end of the gzip stream")
                }
                inflateReset(&stream)
                atMemberEnd = false
            }
            let base = input.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self)
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(min(input.count - offset, Int(UInt32.max)))
            let before = Int(stream.avail_in)
            var rc: Int32 = Z_OK
            repeat {
                let produced: Int = output.withUnsafeMutableBytes { out in
                    stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(out.count)
                    rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return out.count - Int(stream.avail_out)
                }
                switch rc {
                case Z_OK, Z_STREAM_END, Z_BUF_ERROR: break
                case Z_NEED_DICT, Z_DATA_ERROR:
                    let msg = stream.msg.map { String(cString: $0) } ?? "invalid data"
                    throw GzipError(code: .corrupt, detail: "corrupt gzip: \(msg)")
                case Z_MEM_ERROR: throw GzipError(code: .resources, detail: "zlib out of memory")
                default: throw GzipError(code: .corrupt, detail: "zlib error \(rc)")
                }
                if produced > 0 {
                    totalOut += produced
                    try output.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
                }
                if rc == Z_STREAM_END {
                    atMemberEnd = true
                    sawAnyMember = true
                    break
                }
                if rc == Z_BUF_ERROR && produced == 0 { break }
            } while stream.avail_in > 0 || stream.avail_out == 0
            offset += before - Int(stream.avail_in)
            if !atMemberEnd && stream.avail_in == 0 { break }
        }
    }

    /// Ends the input; throws ``GzipError/Code/truncated`` if the last member was incomplete.
    public func finish() throws {
        guard atMemberEnd else {
            throw GzipError(
                code: .truncated,
                detail: totalOut == 0 && !sawAnyMember
                    ? "truncated gzip (no complete header or data)" : "truncated gzip after \(totalOut) bytes")
        }
    }

    /// Inflates a whole buffer in one call; `expectedSize` reserves the output up front. Output
    /// past `limit` bytes throws ``GzipError/Code/tooLarge`` (memory stays bounded by the limit).
    public static func inflateAll(_ input: UnsafeRawBufferPointer, expectedSize: Int = 0, limit: Int = .max) throws -> [UInt8] {
        let inf = try Inflater()
        var out: [UInt8] = []
        out.reserveCapacity(min(expectedSize, limit))
        try inf.inflate(input) {
            guard out.count + $0.count <= limit else { throw GzipError(code: .tooLarge, detail: "inflates to more than \(limit) bytes") }
            out.append(contentsOf: $0)
        }
        try inf.finish()
        return out
    }

    public static func inflateAll(_ input: [UInt8], expectedSize: Int = 0, limit: Int = .max) throws -> [UInt8] {
        try input.withUnsafeBytes { try inflateAll($0, expectedSize: expectedSize, limit: limit) }
    }
}

/// Streaming gzip compression over zlib, for the simulator and for tests.
public final class Deflater {
    private var stream = z_stream()
    private var output = [UInt8](repeating: 0, count: 128 * 1024)

    public init(level: Int32 = 6) throws {
        let rc = trailwatch_deflateInit2(&stream, level, 15 + 16)
        guard rc == Z_OK else { throw GzipError(code: .resources, detail: "deflateInit2 failed (\(rc))") }
    }

    deinit { deflateEnd(&stream) }

    /// Compresses `input`; `sink` receives compressed pieces.
    public func deflate(_ input: UnsafeRawBufferPointer, finish: Bool = false, sink: (UnsafeRawBufferPointer) -> Void) {
        let flush = finish ? Z_FINISH : Z_NO_FLUSH
        stream.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self)) }
        stream.avail_in = uInt(input.count)
        var rc: Int32 = Z_OK
        repeat {
            let produced: Int = output.withUnsafeMutableBytes { out in
                stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                rc = CZlib.deflate(&stream, flush)
                return out.count - Int(stream.avail_out)
            }
            if produced > 0 { output.withUnsafeBytes { sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
        } while stream.avail_out == 0 || (finish && rc != Z_STREAM_END)
    }

    /// Compresses `prefix`, `piece` repeated `count` times, then `suffix`, into one gzip member,
    /// streaming: a large, highly compressible file (a test's gzip bomb) is never built whole.
    public static func gzip(prefix: [UInt8], repeating piece: [UInt8], count: Int, suffix: [UInt8], level: Int32 = 9) -> [UInt8] {
        let d = try! Deflater(level: level)
        var out: [UInt8] = []
        prefix.withUnsafeBytes { d.deflate($0) { out.append(contentsOf: $0) } }
        for _ in 0..<count { piece.withUnsafeBytes { d.deflate($0) { out.append(contentsOf: $0) } } }
        suffix.withUnsafeBytes { d.deflate($0, finish: true) { out.append(contentsOf: $0) } }
        return out
    }

    /// Compresses a whole buffer into one gzip member.
    public static func gzip(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        // deflateInit2 fails only when zlib cannot allocate its state.
        let d = try! Deflater(level: level)
        var out: [UInt8] = []
        input.withUnsafeBytes { d.deflate($0, finish: true) { out.append(contentsOf: $0) } }
        return out
    }
}
