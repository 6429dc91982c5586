/// Where each event of a stored block lies in the block's uncompressed bytes, and its timestamp.
///
/// Encoded per block as varints (about 6 bytes an event) so the index costs little next to the
/// delivered `.json.gz` it describes.
package struct BlockEntry: Sendable, Equatable {
    /// Event timestamp, epoch ms.
    package var timestamp: Int64
    /// Offset of the record in the uncompressed stream.
    package var offset: Int
    /// Length of the record in bytes.
    package var length: Int
    /// Flags: ``duplicate`` (another copy is already stored: hidden from queries), ``oversized``, ``missingFields``.
    package var flags: UInt8

    package static let duplicate: UInt8 = 1
    package static let oversized: UInt8 = 2
    package static let missingFields: UInt8 = 4

    package init(timestamp: Int64, offset: Int, length: Int, flags: UInt8 = 0) {
        self.timestamp = timestamp
        self.offset = offset
        self.length = length
        self.flags = flags
    }

    package var isDuplicate: Bool { flags & Self.duplicate != 0 }
}

package enum BlockIndex {
    /// Encodes entries relative to `base` (the block's smallest timestamp).
    package static func encode(_ entries: [BlockEntry], base: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.count * 7 + 8)
        putVarint(&out, UInt64(entries.count))
        var previousEnd = 0
        for e in entries {
            out.append(e.flags)
            putVarint(&out, zigzag(e.timestamp - base))
            putVarint(&out, zigzag(Int64(e.offset - previousEnd)))
            putVarint(&out, UInt64(e.length))
            previousEnd = e.offset + e.length
        }
        return out
    }

    /// Decodes what ``encode(_:base:)`` wrote; nil if the bytes are damaged.
    package static func decode(_ bytes: UnsafeRawBufferPointer, base: Int64) -> [BlockEntry]? {
        var i = 0
        guard let count = getVarint(bytes, &i), count < 1 << 32 else { return nil }
        var out: [BlockEntry] = []
        out.reserveCapacity(Int(count))
        var previousEnd = 0
        for _ in 0..<count {
            guard i < bytes.count else { return nil }
            let flags = bytes[i]
            i += 1
            guard let dt = getVarint(bytes, &i), let doff = getVarint(bytes, &i), let len = getVarint(bytes, &i) else {
                return nil
            }
            let offset = previousEnd + Int(unzigzag(doff))
            out.append(BlockEntry(timestamp: base + unzigzag(dt), offset: offset, length: Int(len), flags: flags))
            previousEnd = offset + Int(len)
        }
        return out
    }

    package static func decode(_ bytes: [UInt8], base: Int64) -> [BlockEntry]? {
        bytes.withUnsafeBytes { decode($0, base: base) }
    }

    @inline(__always) static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inline(__always) static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    @inline(__always) static func putVarint(_ out: inout [UInt8], _ v: UInt64) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    @inline(__always) static func getVarint(_ b: UnsafeRawBufferPointer, _ i: inout Int) -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count {
            let x = b[i]
            i += 1
            v |= UInt64(x & 0x7F) << shift
            if x < 0x80 { return v }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }
}
