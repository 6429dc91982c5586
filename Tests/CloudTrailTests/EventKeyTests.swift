import CloudTrail
import Testing

/// The eventID packing reads eight hex digits at a time: it must give what reading them one by
/// one gives, for every byte value at every place.
@Suite struct EventKeyTests {
    @Test func everyByteAtEveryPlacePacksAsTheByteByBytePath() {
        let guid = Array("5b6f2F0E-1c4e-4C59-9f34-0d7c2e9b8a1f".utf8)
        var tried = 0
        var packed = 0
        for i in guid.indices {
            for b in 0...255 {
                var id = guid
                id[i] = UInt8(b)
                let fast = EventKey(id)  // an Array: contiguous, eight digits at a time
                let slow = EventKey(id.lazy.map { $0 })  // not contiguous: byte by byte
                #expect(fast == slow, "byte 0x\(String(b, radix: 16)) at \(i)")
                tried += 1
                let text = String(decoding: id, as: UTF8.self)
                let isGUID = id.count == 36 && id.indices.allSatisfy { [8, 13, 18, 23].contains($0) ? id[$0] == 0x2D : Character(UnicodeScalar(id[$0])).isHexDigit }
                if isGUID {
                    let hex = text.filter { $0 != "-" }
                    let expected = EventKey(
                        high: Int64(bitPattern: UInt64(hex.prefix(16), radix: 16)!), low: Int64(bitPattern: UInt64(hex.suffix(16), radix: 16)!))
                    #expect(fast == expected, "\(text)")
                    packed += 1
                }
            }
        }
        #expect(tried == 36 * 256)
        // 22 hex digits per digit place (0-9, a-f, A-F), one dash per dash place.
        #expect(packed == 32 * 22 + 4)
    }

    @Test func digitsLandInOrder() {
        for k in 0..<32 {
            for d in Array("0123456789abcdefABCDEF".utf8) {
                var digits = Array(repeating: UInt8(ascii: "0"), count: 32)
                digits[k] = d
                var id: [UInt8] = []
                for (n, r) in [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].enumerated() {
                    if n > 0 { id.append(0x2D) }
                    id += digits[r]
                }
                let value = UInt64(String(decoding: [d], as: UTF8.self), radix: 16)!
                let key = EventKey(id)
                let shifted: UInt64 = value << UInt64(60 - 4 * (k % 16))
                let expected: (UInt64, UInt64) = k < 16 ? (shifted, 0) : (0, shifted)
                #expect(UInt64(bitPattern: key.high) == expected.0 && UInt64(bitPattern: key.low) == expected.1, "digit \(k)")
            }
        }
    }
}
