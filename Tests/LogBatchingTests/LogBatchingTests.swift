import Crypto
import Foundation
import LogBatching
import Testing

/// A CloudTrail-like record whose UTF-8 message is exactly `bytes` long.
func record(id: String, bytes: Int, pad: UInt8 = UInt8(ascii: "x")) -> [UInt8] {
    let head = Array(#"{"eventVersion":"1.08","eventTime":"2024-03-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","awsRegion":"us-east-1","recipientAccountId":"111122223333","eventID":"\#(id)","pad":""#.utf8)
    let tail = Array(#""}"#.utf8)
    precondition(bytes >= head.count + tail.count)
    return head + [UInt8](repeating: pad, count: bytes - head.count - tail.count) + tail
}

/// Events of `size` bytes each (message + 26), at the given times.
func events(_ times: [Int64], size: Int = 100) -> [PreparedEvent] {
    times.enumerated().map { i, t in
        // A message unique to its place, padded to the size wanted.
        let text = Array("\(i)".utf8)
        let length = size - PutLogEventsLimits.eventOverhead
        precondition(length >= text.count)
        return LogBatching.prepare(
            timestampMs: t, record: text + [UInt8](repeating: UInt8(ascii: "x"), count: length - text.count), file: "b/k")
    }
}

@Suite struct LogBatchingTests {
    @Test func countLimitExactlyAtAndOnePast() {
        let at = events(Array(repeating: 1000, count: 10_000), size: 80)
        #expect(LogBatching.batches(at) == [0..<10_000])
        let past = events(Array(repeating: 1000, count: 10_001), size: 80)
        #expect(LogBatching.batches(past) == [0..<10_000, 10_000..<10_001])
    }

    @Test func byteLimitExactlyAtAndOnePast() {
        // 4 events of 262,144 bytes each (message 262,118 + 26) are exactly 1,048,576.
        let big = PutLogEventsLimits.maxEventBytes
        let at = events([1, 2, 3, 4], size: big)
        #expect(at.allSatisfy { $0.size == big && !$0.isReference })
        #expect(at.map(\.size).reduce(0, +) == PutLogEventsLimits.maxBatchBytes)
        #expect(LogBatching.batches(at) == [0..<4])
        // One byte more in the last event: it goes into the next batch.
        var past = at
        past[3] = events([4], size: big - 1)[0]
        past.append(events([5], size: 28)[0])  // smallest: 2-byte message
        // 3 × 262,144 + 262,143 + 28 = 1,048,575 + 28 > limit.
        #expect(LogBatching.batches(past) == [0..<4, 4..<5])
        var exactly = at
        exactly[3] = events([4], size: big - 28)[0]
        exactly.append(events([5], size: 28)[0])
        #expect(exactly.map(\.size).reduce(0, +) == PutLogEventsLimits.maxBatchBytes)
        #expect(LogBatching.batches(exactly) == [0..<5])
    }

    @Test func spanLimitExactlyAtAndOnePast() {
        let day = PutLogEventsLimits.maxSpanMs
        #expect(LogBatching.batches(events([0, day / 2, day])) == [0..<3])
        #expect(LogBatching.batches(events([0, day / 2, day + 1])) == [0..<2, 2..<3])
        // The span counts from the oldest event, whatever the order: a later, older event widens it.
        #expect(LogBatching.batches(events([day, 1, 0, day + 1])) == [0..<3, 3..<4])
        // A file spanning three days goes out in several batches, each within 24 h, nothing lost.
        let times = (0..<100).map { Int64($0) * 3 * day / 100 }
        let ranges = LogBatching.batches(events(times))
        #expect(ranges.count > 1)
        #expect(ranges.map(\.count).reduce(0, +) == 100)
        for r in ranges { #expect(times[r].max()! - times[r].min()! <= day) }
    }

    @Test func eventSizeExactlyAtAndOnePast() {
        let max = PutLogEventsLimits.maxMessageBytes
        #expect(max == 262_118)
        let at = LogBatching.prepare(timestampMs: 5, record: record(id: "a", bytes: max), file: "bucket/AWSLogs/x.json.gz")
        #expect(!at.isReference)
        #expect(at.message.utf8.count == max)
        #expect(at.size == PutLogEventsLimits.maxEventBytes)
        let past = LogBatching.prepare(timestampMs: 5, record: record(id: "b", bytes: max + 1), file: "bucket/AWSLogs/x.json.gz")
        #expect(past.isReference)
        #expect(past.timestampMs == 5)
        #expect(past.size < 1024)
    }

    @Test func referenceEventNamesTheRecord() throws {
        let bytes = record(id: "ref-1", bytes: 300_000)
        let e = LogBatching.prepare(timestampMs: 7, record: bytes, file: "bucket/AWSLogs/111122223333/f.json.gz")
        #expect(e.isReference)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(e.message.utf8)) as? [String: Any])
        #expect(json["eventID"] as? String == "ref-1")
        #expect(json["eventTime"] as? String == "2024-03-01T00:00:00Z")
        #expect(json["eventSource"] as? String == "s3.amazonaws.com")
        #expect(json["eventName"] as? String == "PutObject")
        #expect(json["awsRegion"] as? String == "us-east-1")
        #expect(json["recipientAccountId"] as? String == "111122223333")
        let t = try #require(json["trailwatchTruncated"] as? [String: Any])
        #expect(t["bytes"] as? Int == 300_000)
        let expected = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        #expect(t["sha256"] as? String == expected)
        #expect(t["file"] as? String == "bucket/AWSLogs/111122223333/f.json.gz")
        #expect(LogBatching.identity(of: e.message) == "id:ref-1")
    }

    @Test func referenceOfARecordThatIsNotJSONKeepsWhatItFinds() throws {
        let bytes = [UInt8](repeating: UInt8(ascii: "z"), count: 270_000)
        let e = LogBatching.prepare(timestampMs: 1, record: bytes, file: "f")
        #expect(e.isReference)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(e.message.utf8)) as? [String: Any])
        #expect(json["eventID"] == nil)
        #expect((json["trailwatchTruncated"] as? [String: Any])?["bytes"] as? Int == 270_000)
    }

    @Test func invalidUTF8BecomesReplacementCharacterAndCountsAfterIt() {
        // 0xFF is never UTF-8: one byte in, three bytes (U+FFFD) out; the size counts the latter.
        let bytes = Array(#"{"eventID":"u","x":""#.utf8) + [0xFF] + Array(#""}"#.utf8)
        let e = LogBatching.prepare(timestampMs: 1, record: bytes, file: "f")
        #expect(e.replacedInvalidUTF8)
        #expect(e.message.contains("\u{FFFD}"))
        #expect(e.size == bytes.count + 2 + 26)
        let ok = LogBatching.prepare(timestampMs: 1, record: Array(#"{"a":"é"}"#.utf8), file: "f")
        #expect(!ok.replacedInvalidUTF8)
        // Right at the limit in bytes but past it once replaced: a reference event.
        let max = PutLogEventsLimits.maxMessageBytes
        let edge = record(id: "r", bytes: max - 1) + [0xFF]
        let r = LogBatching.prepare(timestampMs: 1, record: edge, file: "f")
        #expect(r.isReference && r.replacedInvalidUTF8)
    }

    @Test func sortedForPutIsAscendingAndStable() {
        let es = events([30, 10, 20, 10, 5])
        let sorted = LogBatching.sortedForPut(es)
        #expect(sorted.map(\.timestampMs) == [5, 10, 10, 20, 30])
        // Equal times keep input order (e1 before e3).
        #expect(sorted[1].message == es[1].message && sorted[2].message == es[3].message)
    }

    @Test func digestChangesWithContentAndOrder() {
        let es = events([1, 2, 3])
        #expect(LogBatching.digest(es) == LogBatching.digest(events([1, 2, 3])))
        #expect(LogBatching.digest(es) != LogBatching.digest(Array(es.reversed())))
        #expect(LogBatching.digest(es) != LogBatching.digest(events([1, 2, 4])))
    }

    @Test func identityIsTheEventIDElseTheMessage() {
        #expect(LogBatching.identity(of: #"{"eventID":"abc","x":1}"#) == "id:abc")
        #expect(LogBatching.identity(of: "not json") == "message:not json")
    }
}
