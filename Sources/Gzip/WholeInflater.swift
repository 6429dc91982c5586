import CLibdeflate

/// Whole-buffer gzip decompression over libdeflate: about twice zlib's speed, for inputs whose
/// inflated size is known and bounded.
///
/// libdeflate inflates in one call into an output buffer allocated up front, so the caller must
/// know the size: ``claimedSize(_:)`` reads it from the gzip trailer. That figure is written by
/// whoever made the file (size mod 2^32, so a bomb or a damaged file may claim anything): it is
/// only a hint. ``inflate(_:claimedSize:limit:)`` allocates exactly the claimed bytes, never more
/// than `limit`, and fails when the data does not inflate to exactly that, or when more input
/// follows the first gzip member; the caller then inflates with the streaming ``Inflater``,
/// which accepts every valid file (several members, trailing zero padding) and names the fault of
/// an invalid one precisely.
///
/// Memory: the compressed input plus `claimedSize` bytes (at most `limit`), plus libdeflate's
/// decompressor state (about 10 KB).
public final class WholeInflater {
    // libdeflate's decompressor is a plain heap block with no thread affinity; one instance is
    // used by one caller at a time (the class is not Sendable).
    private let decompressor: OpaquePointer

    public init() throws(GzipError) {
        guard let d = libdeflate_alloc_decompressor() else {
            throw GzipError(code: .resources, detail: "libdeflate could not allocate a decompressor")
        }
        decompressor = d
    }

    deinit { libdeflate_free_decompressor(decompressor) }

    /// The inflated size a gzip file claims in its trailer (ISIZE, the last 4 bytes: the size of
    /// the last member mod 2^32), or nil when the input is too short to be gzip. Untrusted.
    public static func claimedSize(_ input: UnsafeRawBufferPointer) -> Int? {
        // 10-byte header + at least 2 bytes of deflate data + 8-byte trailer.
        guard input.count >= 20, input[0] == 0x1F, input[1] == 0x8B else { return nil }
        let n = input.count
        return Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
    }

    /// Inflates `input`, which must be exactly one gzip member inflating to exactly `claimedSize`
    /// bytes (the CRC-32 and ISIZE in its trailer are checked).
    ///
    /// Throws ``GzipError/Code/tooLarge`` without inflating when `claimedSize` exceeds `limit`;
    /// ``GzipError/Code/notWhole`` when the data inflates to more or fewer bytes than claimed or
    /// more input follows the member; ``GzipError/Code/corrupt`` when libdeflate rejects the data
    /// (damaged, truncated, or a checksum mismatch). Every failure means: inflate with
    /// ``Inflater`` instead, for a file that may still be valid or for the precise fault.
    public func inflate(_ input: UnsafeRawBufferPointer, claimedSize: Int, limit: Int) throws(GzipError) -> [UInt8] {
        guard claimedSize >= 0, claimedSize <= limit else {
            throw GzipError(code: .tooLarge, detail: "claims to inflate to \(claimedSize) bytes, over the \(limit)-byte limit")
        }
        guard let base = input.baseAddress, !input.isEmpty else {
            throw GzipError(code: .truncated, detail: "truncated gzip (no complete header or data)")
        }
        var result = LIBDEFLATE_SUCCESS
        var consumed = 0
        var produced = 0
        // Capacity at least 1 so the output pointer is never null, even for a claimed empty member.
        let out = [UInt8](unsafeUninitializedCapacity: max(claimedSize, 1)) { buffer, initialized in
            result = libdeflate_gzip_decompress_ex(
                decompressor, base, input.count, buffer.baseAddress!, claimedSize, &consumed, &produced)
            initialized = result == LIBDEFLATE_SUCCESS ? produced : 0
        }
        switch result {
        case LIBDEFLATE_SUCCESS:
            guard produced == claimedSize else {
                throw GzipError(code: .notWhole, detail: "inflates to \(produced) bytes, not the \(claimedSize) claimed")
            }
            guard consumed == input.count else {
                throw GzipError(code: .notWhole, detail: "\(input.count - consumed) bytes follow the first gzip member")
            }
            return out
        case LIBDEFLATE_INSUFFICIENT_SPACE:
            throw GzipError(code: .notWhole, detail: "inflates to more than the \(claimedSize) bytes claimed")
        case LIBDEFLATE_SHORT_OUTPUT:
            throw GzipError(code: .notWhole, detail: "inflates to fewer than the \(claimedSize) bytes claimed")
        default:
            throw GzipError(code: .corrupt, detail: "corrupt gzip (libdeflate: bad data)")
        }
    }
}
