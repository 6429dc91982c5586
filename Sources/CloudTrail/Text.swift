/// Small string helpers shared by the modules (no Foundation needed).
extension StringProtocol {
    /// Without leading and trailing spaces, tabs and line breaks.
    public var trimmedWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation needed).
    public func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        if let b = target.utf8.first, target.utf8.count == 1, b < 0x20 && b != 0x0A && b != 0x0D || b == 0x7F {
            return replacingAll(control: b, with: replacement)
        }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }

    /// ``replacingAll(_:with:)`` of a control character other than CR and LF: always a character
    /// of its own (nothing combines with it), so matching its byte is matching the character.
    private func replacingAll(control: UInt8, with replacement: String) -> String {
        var s = self
        return s.withUTF8 { p -> String in
            guard p.firstIndex(of: control) != nil else { return self }
            var out: [UInt8] = []
            out.reserveCapacity(p.count + 16)
            var run = 0
            for i in 0..<p.count where p[i] == control {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: p[run..<i]))
                out.append(contentsOf: replacement.utf8)
                run = i + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: p[run..<p.count]))
            return String(decoding: out, as: UTF8.self)
        }
    }
}
