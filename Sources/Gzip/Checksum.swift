import CZlib

/// zlib's CRC-32: a cheap fingerprint of a delivered file's bytes, kept in the ledger so a file
/// rewritten in place with the same content (a copy that only changed its mtime) is told apart
/// from one with new content.
public enum Checksum {
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { p in
            var crc = CZlib.crc32(0, nil, 0)
            var off = 0
            // zlib takes a 32-bit length: feed large inputs in pieces.
            while off < p.count {
                let n = min(p.count - off, 1 << 30)
                crc = CZlib.crc32(crc, p.baseAddress!.advanced(by: off).assumingMemoryBound(to: Bytef.self), uInt(n))
                off += n
            }
            return UInt32(crc)
        }
    }
}
