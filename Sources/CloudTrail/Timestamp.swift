/// UTC timestamps as CloudTrail writes them, converted to and from epoch milliseconds without Foundation.
public enum Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (CloudTrail's `eventTime`) into epoch milliseconds.
    public static func parseISO8601(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        let n = bytes.count
        guard n >= 20 else { return nil }
        func d(_ i: Int) -> Int64? {
            let b = bytes[i]
            return b >= 0x30 && b <= 0x39 ? Int64(b - 0x30) : nil
        }
        func num(_ from: Int, _ len: Int) -> Int64? {
            var v: Int64 = 0
            for i in from..<(from + len) {
                guard let x = d(i) else { return nil }
                v = v * 10 + x
            }
            return v
        }
        guard bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54 || bytes[10] == 0x20, bytes[13] == 0x3A,
            bytes[16] == 0x3A,
            let y = num(0, 4), let mo = num(5, 2), let da = num(8, 2), let h = num(11, 2), let mi = num(14, 2),
            let s = num(17, 2)
        else { return nil }
        var ms: Int64 = 0
        var i = 19
        if i < n, bytes[i] == 0x2E {
            i += 1
            var scale: Int64 = 100
            while i < n, let x = d(i) {
                ms += x * scale
                scale /= 10
                i += 1
            }
        }
        guard i < n, bytes[i] == 0x5A || bytes[i] == 0x7A, i == n - 1 else {
            // Accept an explicit +00:00 offset too.
            if i + 6 == n, bytes[i] == 0x2B, bytes[i + 1] == 0x30, bytes[i + 2] == 0x30, bytes[i + 4] == 0x30,
                bytes[i + 5] == 0x30
            {
                return make(y, mo, da, h, mi, s, ms)
            }
            return nil
        }
        return make(y, mo, da, h, mi, s, ms)
    }

    public static func parseISO8601(_ s: String) -> Int64? {
        var s = s
        return s.withUTF8 { parseISO8601(UnsafeRawBufferPointer($0)) }
    }

    /// Parses the `YYYYMMDDTHHmmZ` of a log file name.
    public static func parseCompact(_ s: String) -> Int64? {
        let u = Array(s.utf8)
        guard u.count == 14, u[8] == 0x54, u[13] == 0x5A else { return nil }
        return compactParts(u, hasSeconds: false)
    }

    /// Parses the `YYYYMMDDTHHmmssZ` of a digest file name.
    public static func parseCompactSeconds(_ s: String) -> Int64? {
        let u = Array(s.utf8)
        guard u.count == 16, u[8] == 0x54, u[15] == 0x5A else { return nil }
        return compactParts(u, hasSeconds: true)
    }

    private static func compactParts(_ u: [UInt8], hasSeconds: Bool) -> Int64? {
        func num(_ from: Int, _ len: Int) -> Int64? {
            var v: Int64 = 0
            for i in from..<(from + len) {
                guard u[i] >= 0x30, u[i] <= 0x39 else { return nil }
                v = v * 10 + Int64(u[i] - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(4, 2), let d = num(6, 2), let h = num(9, 2), let mi = num(11, 2)
        else { return nil }
        let s = hasSeconds ? num(13, 2) : 0
        guard let s else { return nil }
        return make(y, mo, d, h, mi, s, 0)
    }

    static func make(_ y: Int64, _ mo: Int64, _ d: Int64, _ h: Int64, _ mi: Int64, _ s: Int64, _ ms: Int64) -> Int64? {
        guard (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        return (daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000 + ms
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    public static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The civil date of a day count since 1970-01-01.
    public static func civilFromDays(_ z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SSZ` (or with `.fff` when `millis`).
    public static func formatISO8601(_ ms: Int64, millis: Bool = false) -> String {
        let secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let rem = secs - days * 86400
        let (y, m, d) = civilFromDays(days)
        if y >= 0 && y <= 9999 {
            // Digit by digit into one buffer (an alert storm formats a time per alert).
            return String(unsafeUninitializedCapacity: millis ? 24 : 20) { b in
                func two(_ v: Int64, _ i: Int) {
                    b[i] = 0x30 + UInt8(v / 10)
                    b[i + 1] = 0x30 + UInt8(v % 10)
                }
                two(y / 100, 0)
                two(y % 100, 2)
                two(m, 5)
                two(d, 8)
                two(rem / 3600, 11)
                two(rem / 60 % 60, 14)
                two(rem % 60, 17)
                (b[4], b[7], b[10], b[13], b[16]) = (0x2D, 0x2D, 0x54, 0x3A, 0x3A)
                guard millis else {
                    b[19] = 0x5A
                    return 20
                }
                let f = ms - secs * 1000
                b[19] = 0x2E
                b[20] = 0x30 + UInt8(f / 100)
                two(f % 100, 21)
                b[23] = 0x5A
                return 24
            }
        }
        var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2))"
        if millis { out += ".\(pad(ms - secs * 1000, 3))" }
        return out + "Z"
    }

    /// Formats epoch milliseconds as the `YYYYMMDDTHHmmZ` of a log file name.
    public static func formatCompact(_ ms: Int64) -> String {
        let iso = formatISO8601(ms)
        let u = Array(iso.utf8)
        var out: [UInt8] = []
        for r in [0..<4, 5..<7, 8..<10] { out += u[r] }
        out.append(0x54)
        for r in [11..<13, 14..<16] { out += u[r] }
        out.append(0x5A)
        return String(decoding: out, as: UTF8.self)
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
