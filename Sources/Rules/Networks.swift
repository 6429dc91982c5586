import Glibc

/// An IPv4 or IPv6 network (CIDR), matched against address literals.
public struct Network: Sendable, Hashable {
    public var bytes: [UInt8]  // 4 or 16
    public var prefix: Int

    /// Parses `10.0.0.0/8`, `2001:db8::/32`, or a single address.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let addr = IPAddress.parse(Array(parts[0].utf8)) else { return nil }
        let maxPrefix = addr.count * 8
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0, p <= maxPrefix else { return nil }
            prefix = p
        } else {
            prefix = maxPrefix
        }
        bytes = addr
    }

    public func contains(_ addr: [UInt8]) -> Bool {
        guard addr.count == bytes.count else { return false }
        var bits = prefix
        var i = 0
        while bits >= 8 {
            if addr[i] != bytes[i] { return false }
            bits -= 8
            i += 1
        }
        if bits > 0 {
            let mask = UInt8(0xFF) << (8 - bits)
            return addr[i] & mask == bytes[i] & mask
        }
        return true
    }
}

/// Address literals: IPv4 dotted quads (no leading zeros, as Python's ipaddress) and IPv6 via inet_pton.
public enum IPAddress {
    /// 4 or 16 bytes, or nil when `text` is not an address literal (e.g. `ec2.amazonaws.com`, `AWS Internal`).
    public static func parse(_ text: [UInt8]) -> [UInt8]? {
        guard !text.isEmpty, text.count <= 45 else { return nil }
        if text.contains(0x3A) {
            var buf = [UInt8](repeating: 0, count: 16)
            var cstr = text.map { CChar(bitPattern: $0) }
            cstr.append(0)
            let ok = buf.withUnsafeMutableBytes { inet_pton(AF_INET6, cstr, $0.baseAddress) }
            return ok == 1 ? buf : nil
        }
        var out: [UInt8] = []
        var value = 0
        var digits = 0
        var leadingZero = false
        for b in text {
            if b == 0x2E {
                guard digits > 0, out.count < 3 else { return nil }
                out.append(UInt8(value))
                value = 0
                digits = 0
                leadingZero = false
                continue
            }
            guard b >= 0x30 && b <= 0x39 else { return nil }
            if digits == 0 && b == 0x30 { leadingZero = true } else if leadingZero { return nil }
            value = value * 10 + Int(b - 0x30)
            digits += 1
            guard value <= 255, digits <= 3 else { return nil }
        }
        guard digits > 0, out.count == 3 else { return nil }
        out.append(UInt8(value))
        return out
    }
}
