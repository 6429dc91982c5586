import CloudTrail

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
    /// Encodes entries; timestamps as the change in whole seconds from the previous record
    /// (records are nearly sorted), with the flags folded into the same varint.
    ///
    /// Per entry: `zigzag(Δseconds) << 5 | hasMillis << 4 | irregularGap << 3 | flags`, then the
    /// milliseconds if any, the gap from the previous record's end if it is not the usual one
    /// byte (a comma), then the length.
    package static func encode(_ entries: [BlockEntry], base: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.count * 4 + 8)
        putVarint(&out, UInt64(entries.count))
        var previousEnd = -1
        var previousSecond = floorDiv(base, 1000)
        for e in entries {
            let second = floorDiv(e.timestamp, 1000)
            let millis = e.timestamp - second * 1000
            let gap = e.offset - previousEnd
            var head = zigzag(second - previousSecond) << 5 | UInt64(e.flags & 7)
            if millis != 0 { head |= 16 }
            if gap != 1 { head |= 8 }
            putVarint(&out, head)
            if millis != 0 { putVarint(&out, UInt64(millis)) }
            if gap != 1 { putVarint(&out, zigzag(Int64(gap))) }
            putVarint(&out, UInt64(e.length))
            previousEnd = e.offset + e.length
            previousSecond = second
        }
        return out
    }

    /// Decodes what ``encode(_:base:)`` wrote; nil if the bytes are damaged.
    package static func decode(_ bytes: UnsafeRawBufferPointer, base: Int64) -> [BlockEntry]? {
        var i = 0
        guard let count = getVarint(bytes, &i), count < 1 << 32 else { return nil }
        var out: [BlockEntry] = []
        out.reserveCapacity(Int(count))
        var previousEnd = -1
        var second = floorDiv(base, 1000)
        for _ in 0..<count {
            guard let head = getVarint(bytes, &i) else { return nil }
            second += unzigzag(head >> 5)
            var millis: Int64 = 0
            if head & 16 != 0 {
                guard let m = getVarint(bytes, &i) else { return nil }
                millis = Int64(m)
            }
            var gap = 1
            if head & 8 != 0 {
                guard let g = getVarint(bytes, &i) else { return nil }
                gap = Int(unzigzag(g))
            }
            guard let len = getVarint(bytes, &i) else { return nil }
            let offset = previousEnd + gap
            out.append(BlockEntry(timestamp: second * 1000 + millis, offset: offset, length: Int(len), flags: UInt8(head & 7)))
            previousEnd = offset + Int(len)
        }
        return i == bytes.count ? out : nil
    }

    @inline(__always) static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }

    package static func decode(_ bytes: [UInt8], base: Int64) -> [BlockEntry]? {
        bytes.withUnsafeBytes { decode($0, base: base) }
    }

    @inline(__always) static func zigzag(_ v: Int64) -> UInt64 { Varint.zigzag(v) }
    @inline(__always) static func unzigzag(_ v: UInt64) -> Int64 { Varint.unzigzag(v) }
    @inline(__always) static func putVarint(_ out: inout [UInt8], _ v: UInt64) { Varint.put(&out, v) }
    @inline(__always) static func getVarint(_ b: UnsafeRawBufferPointer, _ i: inout Int) -> UInt64? { Varint.get(b, &i) }
}
