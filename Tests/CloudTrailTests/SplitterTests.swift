import CloudTrail
import Foundation
import Testing

func split(_ text: String, chunk: Int) throws -> (records: [String], offsets: [Int]) {
    var s = RecordSplitter()
    var records: [String] = []
    var offsets: [Int] = []
    let bytes = Array(text.utf8)
    var i = 0
    while i < bytes.count {
        let end = min(bytes.count, i + chunk)
        try bytes[i..<end].withUnsafeBytes { p in
            try s.feed(p) { off, rec in
                records.append(String(decoding: rec, as: UTF8.self))
                offsets.append(off)
            }
        }
        i = end
    }
    try s.finish()
    return (records, offsets)
}

struct FalcoVector: Decodable {
    var test_name: String
    var payload: String
    var expected_records: [String]
}

@Suite struct SplitterTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test func falcoVectorsAtEveryChunkSize() throws {
        let lines = try String(contentsOf: Self.fixtures.appendingPathComponent("falco-records-splitter-vectors.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == 5)
        for line in lines {
            let v = try JSONDecoder().decode(FalcoVector.self, from: Data(line.utf8))
            for chunk in [1, 2, 3, 7, 64, 100_000] {
                var got: [String] = []
                var s = RecordSplitter()
                var thrown: RecordSplitter.Failure? = nil
                do {
                    let bytes = Array(v.payload.utf8)
                    var i = 0
                    while i < bytes.count {
                        let end = min(bytes.count, i + chunk)
                        try bytes[i..<end].withUnsafeBytes { p in
                            try s.feed(p) { _, rec in got.append(String(decoding: rec, as: UTF8.self)) }
                        }
                        i = end
                    }
                    try s.finish()
                } catch let e as RecordSplitter.Failure {
                    thrown = e
                }
                #expect(got == v.expected_records, "\(v.test_name) at chunk \(chunk)")
                if v.test_name.contains("incomplete") {
                    #expect(thrown?.code == .truncated, "\(v.test_name) must report the truncation")
                } else {
                    #expect(thrown == nil, "\(v.test_name): \(String(describing: thrown))")
                }
            }
        }
    }

    @Test func offsetsPointAtTheOriginalBytes() throws {
        let doc = #"  {"Records": [ {"a":"x\"}"} ,{"b":[1,{"c":2}]}], "Extra": {"d":[]}, "n": 5}  "#
        let (records, offsets) = try split(doc, chunk: 3)
        #expect(records == [#"{"a":"x\"}"}"#, #"{"b":[1,{"c":2}]}"#])
        let u = Array(doc.utf8)
        for (r, o) in zip(records, offsets) {
            #expect(String(decoding: u[o..<(o + r.utf8.count)], as: UTF8.self) == r)
        }
    }

    @Test func reportsWhatIsWrong() {
        func code(_ text: String) -> RecordSplitter.Failure.Code? {
            do {
                _ = try split(text, chunk: 5)
                return nil
            } catch let e as RecordSplitter.Failure {
                return e.code
            } catch {
                return nil
            }
        }
        #expect(code("not json at all") == .notJSON)
        #expect(code("") == .notJSON)
        #expect(code(#"{"Other":[1,2]}"#) == .noRecords)
        #expect(code(#"{"Records":{"a":1}}"#) == .noRecords)
        #expect(code(#"{"Records":[{"a":1}]"#) == .truncated)
        #expect(code(#"{"Records":[{"a":1} {"b":2}]}"#) == .malformed)
        #expect(code(#"{"Records":[]} trailing"#) == .malformed)
        #expect(code(#"[1,2,3]"#) == .notJSON)
    }

    @Test func skipsNonObjectElements() throws {
        var s = RecordSplitter()
        var got: [String] = []
        let doc = Array(#"{"Records":[null,{"a":1},"str",42,{"b":"]"}]}"#.utf8)
        try doc.withUnsafeBytes { p in try s.feed(p) { _, r in got.append(String(decoding: r, as: UTF8.self)) } }
        try s.finish()
        #expect(got == [#"{"a":1}"#, #"{"b":"]"}"#])
        #expect(s.nonObjectElements == 3)
    }
}

@Suite struct RecordInfoTests {
    @Test func readsEventTimeAndID() {
        let rec = Array(#"{"eventVersion":"1.09","userIdentity":{"eventID":"decoy","eventTime":"1999-01-01T00:00:00Z"},"eventTime":"2025-03-14T09:26:53Z","eventID":"5b6f2f0e-1c4e-4c59-9f34-0d7c2e9b8a11"}"#.utf8)
        let info = rec.withUnsafeBytes { RecordInfo.read($0) }
        #expect(info?.eventTime == Timestamp.parseISO8601("2025-03-14T09:26:53Z"))
        #expect(info?.eventKey == EventKey(Array("5b6f2f0e-1c4e-4c59-9f34-0d7c2e9b8a11".utf8)))
        #expect(info?.eventKey == EventKey(Array("5B6F2F0E-1C4E-4C59-9F34-0D7C2E9B8A11".utf8)))
    }

    @Test func guidPacksExactlyOtherIdsHash() {
        let a = EventKey(Array("00000000-0000-0000-0000-000000000001".utf8))
        #expect(a.high == 0 && a.low == 1)
        let b = EventKey(Array("1".utf8))
        let c = EventKey(Array("2".utf8))
        #expect(b != c)
        #expect(b == EventKey(Array("1".utf8)))
    }

    /// The contiguous fast path packs exactly what the per-byte path packs, and refuses (hashes)
    /// the same ids: a non-hex byte at any digit place, or a missing dash.
    @Test func guidFastPathMatchesByteByBytePath() {
        let guid = Array("5b6f2F0E-1c4e-4C59-9f34-0d7c2e9b8a1f".utf8)
        var ids = [guid, Array("00000000-0000-0000-0000-000000000000".utf8), Array("FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF".utf8)]
        for i in guid.indices {
            for bad: UInt8 in [0x2F, 0x3A, 0x40, 0x47, 0x60, 0x67, 0x2D, 0x00, 0xC3] where bad != guid[i] {
                var id = guid
                id[i] = bad
                ids.append(id)
            }
        }
        for id in ids {
            let fast = EventKey(id)  // an Array: contiguous
            let slow = EventKey(id.lazy.map { $0 })  // not contiguous: byte by byte
            #expect(fast == slow, "\(String(decoding: id, as: UTF8.self))")
        }
        #expect(ids.count > 300, "every digit place and dash tried with bad bytes")
        #expect(EventKey(guid) == EventKey(high: 0x5b6f_2f0e_1c4e_4c59, low: Int64(bitPattern: 0x9f34_0d7c_2e9b_8a1f)))
    }

    @Test func missingFieldsAndBrokenRecords() {
        let none = Array(#"{"eventName":"X"}"#.utf8).withUnsafeBytes { RecordInfo.read($0) }
        #expect(none == RecordInfo(eventTime: nil, eventKey: nil))
        let broken = Array(#"{"eventName":"X", "eventTime": }"#.utf8).withUnsafeBytes { RecordInfo.read($0) }
        #expect(broken == nil)
    }

    @Test func rawJSONPaths() {
        let rec = Array(#"{"a":{"b":[10,{"c":"d\u00e9"}],"t":true,"n":null},"e":"x\"y"}"#.utf8)
        rec.withUnsafeBytes { p in
            let j = RawJSON(p)
            #expect(j.string(j.lookup([.key("a"), .key("b"), .index(1), .key("c")])) == "dé")
            #expect(j.number(j.lookup([.key("a"), .key("b"), .index(0)])) == 10)
            #expect(j.lookup([.key("a"), .key("t")]) == .bool(true))
            #expect(j.lookup([.key("a"), .key("n")]) == .null)
            #expect(j.lookup([.key("a"), .key("missing")]) == nil)
            #expect(j.lookup([.key("a"), .key("b"), .index(5)]) == nil)
            #expect(j.string(j.lookup([.key("e")])) == "x\"y")
        }
    }
}

@Suite struct OnePassFieldTests {
    /// Records where a naive search would pick the wrong eventTime/eventID.
    static let tricky = [
        #"{"userIdentity":{"eventID":"nested-1","eventTime":"1999-01-01T00:00:00Z"},"eventTime":"2025-03-14T09:26:53Z","eventID":"5b6f2f0e-1c4e-4c59-9f34-0d7c2e9b8a11"}"#,
        #"{"requestParameters":{"items":[{"eventID":"x"}],"s":"\"eventID\":\"fake\""},"eventID":"id-\"quoted\"","eventTime":"2025-01-01T00:00:00Z"}"#,
        #"{"eventID" : "spaced" , "eventTime" :"2025-01-01T00:00:01Z"}"#,
        #"{"eventTime":12345,"eventID":null,"other":"eventID"}"#,
        #"{"addendum":{"originalEventID":"o"},"a":[1,[2,{"eventID":"deep"}]],"eventID":"after-arrays"}"#,
        #"{"eventIDs":"not-it","xeventID":"no","eventID":"yes"}"#,
        #"{}"#,
    ]

    @Test func splitterFieldsEqualAFullParse() throws {
        let doc = "{\"Records\":[" + Self.tricky.joined(separator: ",") + "]}"
        let bytes = Array(doc.utf8)
        for chunk in [1, 2, 5, 13, 4096] {
            var s = RecordSplitter()
            var n = 0
            var i = 0
            while i < bytes.count {
                let end = min(bytes.count, i + chunk)
                try bytes[i..<end].withUnsafeBytes { p in
                    try s.feed(p) { _, rec, fields in
                        let fast = RecordInfo.from(rec, fields: fields)
                        let full = RecordInfo.read(rec)
                        #expect(fast == full, "record \(n) at chunk \(chunk): \(String(decoding: rec, as: UTF8.self))")
                        n += 1
                    }
                }
                i = end
            }
            try s.finish()
            #expect(n == Self.tricky.count)
        }
    }
}

@Suite struct TopMemberTests {
    @Test func splitterMembersEqualAFullParse() throws {
        let records = OnePassFieldTests.tricky + [
            #"{"a":1,"b":-2.5e3 ,"c":true,"d":false,"e":null,"f":{"x":[1,{"y":"}"}]},"g":[],"h":"s\"t","i\"j":0}"#,
            #"{ "sp" : "x" , "n" :  7  }"#,
        ]
        let doc = Array(("{\"Records\":[" + records.joined(separator: ",") + "]}").utf8)
        for chunk in [1, 3, 7, 4096] {
            var s = RecordSplitter()
            var n = 0
            var i = 0
            while i < doc.count {
                let end = min(doc.count, i + chunk)
                try doc[i..<end].withUnsafeBytes { p in
                    try s.feed(p) { _, rec, fields in
                        let json = RawJSON(rec)
                        var expected: [(String, RawJSON.Value)] = []
                        if case .object(let r)? = json.root {
                            json.forEachMember(of: r) { k, _, v in
                                expected.append((String(decoding: json.slice(k), as: UTF8.self), v))
                                return true
                            }
                        }
                        let got = fields.members.map { (String(decoding: json.slice($0.key), as: UTF8.self), json.value(of: $0)!) }
                        #expect(got.map(\.0) == expected.map(\.0), "record \(n) chunk \(chunk)")
                        #expect(got.map(\.1) == expected.map(\.1), "record \(n) chunk \(chunk)")
                        n += 1
                    }
                }
                i = end
            }
            try s.finish()
            #expect(n == records.count)
        }
    }
}
