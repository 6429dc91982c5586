import CloudTrail

/// The timestamps SigV4 uses: `X-Amz-Date`'s ISO 8601 basic format (`20150830T123600Z`) and the
/// HTTP `Date` header's IMF-fixdate (`Sun, 30 Aug 2015 12:36:00 GMT`), as whole seconds since 1970.
package enum AmzDate {
    /// Formats epoch seconds as `YYYYMMDDTHHMMSSZ`.
    package static func format(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rem = seconds - days * 86400
        let (y, m, d) = Timestamp.civilFromDays(days)
        return pad(y, 4) + pad(m, 2) + pad(d, 2) + "T" + pad(rem / 3600, 2) + pad(rem / 60 % 60, 2) + pad(rem % 60, 2) + "Z"
    }

    /// Parses `YYYYMMDDTHHMMSSZ` exactly (16 characters), nil for anything else.
    package static func parse(_ text: String) -> Int64? {
        let u = Array(text.utf8)
        guard u.count == 16, u[8] == UInt8(ascii: "T"), u[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for b in u[range] {
                guard (0x30...0x39).contains(b) else { return nil }
                v = v * 10 + Int64(b - 0x30)
            }
            return v
        }
        guard let y = number(0..<4), let mo = number(4..<6), let d = number(6..<8),
            let h = number(9..<11), let mi = number(11..<13), let s = number(13..<15)
        else { return nil }
        return make(y, mo, d, h, mi, s)
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Parses an HTTP `Date` in IMF-fixdate form (`Sun, 30 Aug 2015 12:36:00 GMT`), nil otherwise.
    package static func parseHTTPDate(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT",
            let d = Int64(parts[1]), let y = Int64(parts[3]), parts[3].count == 4,
            let mo = months.firstIndex(of: String(parts[2]))
        else { return nil }
        let t = parts[4].split(separator: ":")
        guard t.count == 3, t.allSatisfy({ $0.count == 2 }), let h = Int64(t[0]), let mi = Int64(t[1]), let s = Int64(t[2]) else {
            return nil
        }
        return make(y, Int64(mo + 1), d, h, mi, s)
    }

    private static func make(_ y: Int64, _ mo: Int64, _ d: Int64, _ h: Int64, _ mi: Int64, _ s: Int64) -> Int64? {
        guard (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60 else { return nil }
        return Timestamp.daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
