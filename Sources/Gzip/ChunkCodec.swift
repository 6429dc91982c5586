import CLibdeflate

/// Raw deflate of small in-memory pieces with libdeflate at its fastest level, for bytes a
/// process packs for itself (a query server keeping inflated records compactly): compressing is
/// several times slower than inflating, so it is worth it only for data read many times.
///
/// ``decompress(_:size:)`` is given the exact size the piece had; data that does not inflate to
/// exactly that many bytes is an error, never a larger allocation. Memory: libdeflate's
/// compressor state (a few hundred KB, allocated on the first ``compress(_:)``) and its
/// decompressor state (about 10 KB).
public final class ChunkCodec {
    // libdeflate's states are plain heap blocks with no thread affinity; one instance is used by
    // one caller at a time (the class is not Sendable).
    private var compressor: OpaquePointer?
    private let decompressor: OpaquePointer
    /// Output room for ``compress(_:)``, reused.
    private var scratch: [UInt8] = []

    public init() throws(GzipError) {
        guard let d = libdeflate_alloc_decompressor() else {
            throw GzipError(code: .resources, detail: "libdeflate could not allocate a decompressor")
        }
        decompressor = d
    }

    deinit {
        if let compressor { libdeflate_free_compressor(compressor) }
        libdeflate_free_decompressor(decompressor)
    }

    /// `input` as raw deflate (level 1), or nil when it would not be smaller than `input` (the
    /// caller keeps the bytes as they are).
    public func compress(_ input: UnsafeRawBufferPointer) throws(GzipError) -> [UInt8]? {
        guard let base = input.baseAddress, !input.isEmpty else { return nil }
        if compressor == nil {
            guard let c = libdeflate_alloc_compressor(1) else {
                throw GzipError(code: .resources, detail: "libdeflate could not allocate a compressor")
            }
            compressor = c
        }
        // Only output smaller than the input is of use: libdeflate returns 0 when it does not fit.
        let room = input.count - 1
        guard room > 0 else { return nil }
        if scratch.count < room { scratch = [UInt8](repeating: 0, count: room) }
        let produced = scratch.withUnsafeMutableBytes {
            libdeflate_deflate_compress(compressor, base, input.count, $0.baseAddress!, room)
        }
        // A copy of exactly the bytes produced: the caller keeps it, and an array's capacity is
        // memory held too.
        return produced > 0 ? [UInt8](unsafeUninitializedCapacity: produced) { buffer, initialized in
            scratch.withUnsafeBytes { buffer.baseAddress!.initialize(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: produced) }
            initialized = produced
        } : nil
    }

    /// Inflates raw deflate `input` that must hold exactly `size` bytes; throws
    /// ``GzipError/Code/corrupt`` otherwise (damaged data, more or fewer bytes).
    public func decompress(_ input: UnsafeRawBufferPointer, size: Int) throws(GzipError) -> [UInt8] {
        guard size > 0 else { return [] }
        guard let base = input.baseAddress, !input.isEmpty else {
            throw GzipError(code: .corrupt, detail: "empty deflate data for \(size) bytes")
        }
        var result = LIBDEFLATE_SUCCESS
        let out = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            // With no actual-size pointer, libdeflate succeeds only on exactly `size` bytes.
            result = libdeflate_deflate_decompress(decompressor, base, input.count, buffer.baseAddress!, size, nil)
            initialized = result == LIBDEFLATE_SUCCESS ? size : 0
        }
        guard result == LIBDEFLATE_SUCCESS else {
            throw GzipError(code: .corrupt, detail: "deflate data does not inflate to \(size) bytes (libdeflate: \(result.rawValue))")
        }
        return out
    }
}
