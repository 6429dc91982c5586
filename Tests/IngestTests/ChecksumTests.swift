import Gzip
import Testing

/// The ledger's file fingerprint must stay the CRC-32 it always was (ledgers written before keep
/// their values): libdeflate's against the standard check value and a bit-by-bit CRC-32.
@Suite struct ChecksumTests {
    /// CRC-32 (reflected polynomial 0xEDB88320) one bit at a time: slow and obviously right.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    @Test func standardCRC32() {
        #expect(Checksum.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(Checksum.crc32([]) == 0)
        var rng = SystemRandomNumberGenerator()
        for n in [1, 7, 8, 15, 16, 63, 64, 65, 255, 256, 1000, 4097, 65_536, 1 << 20] {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(Checksum.crc32(bytes) == Self.reference(bytes), "\(n) bytes")
        }
    }
}
