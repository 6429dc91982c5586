import CloudTrail
import Testing

/// Inputs the fuzzer (fuzz/Splitter) found, kept as regression tests.
@Suite struct SplitterFuzzRegressionTests {
    /// A malformed record after a good one: its keyless value was reported with the previous
    /// record's key range, past the end of its own bytes (readers of members would read beyond it).
    @Test func aMalformedRecordNeverCarriesTheKeyOfThePreviousOne() throws {
        let good = #"{"eventVersion":"1.09","eventTime":"2024-03-01T10:00:00Z","eventID":"0","eest"# + "\u{7}"
            + #"{"x":1]-}:"v\u00e9\n"},"n":1.5e3,"bb:true,"z":null}"#
        let doc = #"{"Records":["# + good + #",{&eventVersion:aws::1]}"#
        var s = RecordSplitter()
        var records: [(Int, [TopMember])] = []
        try? Array(doc.utf8).withUnsafeBytes { b in
            try s.feed(b) { _, bytes, fields in records.append((bytes.count, fields.members)) }
        }
        #expect(records.count == 2, "both records reach the reader (the precondition of the bug)")
        #expect(records.last?.1.isEmpty == false, "the second record has a member")
        for (count, members) in records {
            for m in members {
                #expect(m.key.upperBound <= count && m.value.upperBound <= count, "member \(m.key) / \(m.value) outside a record of \(count) bytes")
            }
        }
    }
}

/// Timestamps with huge numbers are not timestamps (nil), never an overflow.
@Suite struct HostileTimestampTests {
    @Test func hugeYearsAndFractionsAreRejectedOrParsed() {
        #expect(Timestamp.parseISO8601("99999999999999999999-03-01T10:00:00Z") == nil)
        #expect(Timestamp.parseISO8601("2024-99999999999999999999-01T10:00:00Z") == nil)
        #expect(Timestamp.parseISO8601("9999-12-31T23:59:59." + String(repeating: "9", count: 40) + "Z") == Timestamp.parseISO8601("9999-12-31T23:59:59.999Z"))
        #expect(Timestamp.parseISO8601("0000-01-01T00:00:00Z") != nil)
        #expect(Timestamp.parseCompact("99999999T9999Z") == nil)
        #expect(Timestamp.parseCompactSeconds("99991231T235960Z") != nil, "a leap second is accepted")
    }
}
