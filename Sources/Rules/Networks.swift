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

    public func contains(_ a: IPBytes) -> Bool {
        guard a.count == bytes.count else { return false }
        return withUnsafeBytes(of: a.storage) { contains(UnsafeRawBufferPointer(rebasing: $0[0..<a.count])) }
    }

    public func contains(_ addr: [UInt8]) -> Bool { addr.withUnsafeBytes { contains($0) } }

    func contains(_ addr: UnsafeRawBufferPointer) -> Bool {
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

/// An address's bytes without a heap allocation (4 or 16 used).
public struct IPBytes: Sendable {
    var storage: (UInt64, UInt64) = (0, 0)
    public var count: Int = 0
}

/// Address literals: IPv4 dotted quads (no leading zeros, as Python's ipaddress) and IPv6 via inet_pton.
public enum IPAddress {
    /// 4 or 16 bytes, or nil when `text` is not an address literal (e.g. `ec2.amazonaws.com`, `AWS Internal`).
    /// Parses without allocating for IPv4 (the common case); IPv6 goes through inet_pton.
    public static func parse(_ text: UnsafeRawBufferPointer) -> IPBytes? {
        guard !text.isEmpty, text.count <= 45 else { return nil }
        if !text.contains(0x3A) {
            var out = IPBytes()
            var value = 0, digits = 0, parts = 0
            var leadingZero = false
            var raw: UInt32 = 0
            for b in text {
                if b == 0x2E {
                    guard digits > 0, parts < 3 else { return nil }
                    raw = raw << 8 | UInt32(value)
                    parts += 1
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
            guard digits > 0, parts == 3 else { return nil }
            raw = raw << 8 | UInt32(value)
            withUnsafeMutableBytes(of: &out.storage) { p in
                p[0] = UInt8(raw >> 24)
                p[1] = UInt8(raw >> 16 & 0xFF)
                p[2] = UInt8(raw >> 8 & 0xFF)
                p[3] = UInt8(raw & 0xFF)
            }
            out.count = 4
            return out
        }
        guard let v6 = parse(Array(text)) else { return nil }
        var out = IPBytes()
        withUnsafeMutableBytes(of: &out.storage) { p in for i in 0..<16 { p[i] = v6[i] } }
        out.count = 16
        return out
    }

    public static func parse(_ text: [UInt8]) -> [UInt8]? {
        guard !text.isEmpty, text.count <= 45 else { return nil }
        if text.contains(0x3A) {
            var buf = [UInt8](repeating: 0, count: 16)
            var cstr = text.map { CChar(bitPattern: $0) }
            cstr.append(0)
            let ok = buf.withUnsafeMutableBytes { inet_pton(AF_INET6, cstr, $0.baseAddress) }
            return ok == 1 ? buf : nil
        }
        guard let v4 = text.withUnsafeBytes({ parse($0) }) else { return nil }
        return withUnsafeBytes(of: v4.storage) { Array($0.prefix(4)) }
    }
}
