/// Hexadecimal text: CloudTrail writes digests, signatures and eventIDs in hex, and JSON escapes
/// characters as `\uXXXX`; every module reads hex through this one decoder.
package enum Base16 {
    /// The value of one ASCII hex digit (either case), nil for any other byte.
    @inline(__always) package static func digit(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x61...0x66: return b - 0x61 + 10
        case 0x41...0x46: return b - 0x41 + 10
        default: return nil
        }
    }

    /// The bytes `text` spells, two hex digits (either case) a byte; nil when it holds anything
    /// else or an odd number of digits.
    package static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let u = Array(text.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = digit(u[i]), let lo = digit(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// URL percent-decoding (`%XX` a byte), as S3 keys, query strings and SigV4 canonical forms use
    /// it: `+` becomes a space when `plusIsSpace` (form encoding, S3 event keys). A `%` not followed
    /// by two hex digits stays as it is, or makes the result nil when `strict`.
    package static func percentDecode(_ text: some StringProtocol, plusIsSpace: Bool, strict: Bool = false) -> [UInt8]? {
        let u = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(u.count)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "%") {
                if i + 2 < u.count, let hi = digit(u[i + 1]), let lo = digit(u[i + 2]) {
                    out.append(hi << 4 | lo)
                    i += 3
                    continue
                }
                if strict { return nil }
            }
            out.append(plusIsSpace && u[i] == UInt8(ascii: "+") ? 0x20 : u[i])
            i += 1
        }
        return out
    }
}
