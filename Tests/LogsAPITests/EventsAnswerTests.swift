import CloudTrail
import Foundation
import LogStore
import Testing

@testable import LogsAPI

@Suite struct EventsAnswerTests {
    /// Events with awkward messages, stream names and ids: quotes, backslashes, control bytes,
    /// multi-byte text and bytes that are not UTF-8.
    func awkwardEvents() -> [LogEvent] {
        let messages: [[UInt8]] = [
            Array(#"{"eventID":"a","s":"\"x\\y\"","n":1}"#.utf8), [], Array("tab\tnew\nline\r".utf8), (0..<32).map { UInt8($0) },
            Array("ünïcödé ✓ 𝄞".utf8), [0x41, 0xC3, 0x22, 0xFF, 0x5C], [0xED, 0xA0, 0x80, 0x0A],
        ]
        return messages.enumerated().map { i, m in
            LogEvent(
                timestamp: 1_709_251_200_000 + Int64(i), ingestionTime: -Int64(i), logStreamName: i % 2 == 0 ? "s\"\\\u{1}ü" : "plain",
                eventId: String(repeating: "0", count: 51) + String(i), message: m)
        }
    }

    /// The answers GetLogEvents and FilterLogEvents wrote before they were written straight into
    /// bytes (a string per event, joined, through JSONObjectWriter): the same bytes, event for event.
    @Test func answersAreTheBytesTheStringBuiltAnswersWere() throws {
        for events in [[], Array(awkwardEvents().prefix(1)), awkwardEvents()] {
            var get = EventsAnswer(events: events)
            var filter = EventsAnswer(events: events)
            var getItems: [String] = []
            var filterItems: [String] = []
            for e in events {
                get.event {
                    $0.number("timestamp", e.timestamp)
                    $0.text("message", e.message)
                    $0.number("ingestionTime", e.ingestionTime)
                }
                getItems.append(
                    "{\"timestamp\":\(e.timestamp),\"message\":\(JSONObjectWriter.quote(e.message)),\"ingestionTime\":\(e.ingestionTime)}")
                filter.event {
                    $0.string("logStreamName", e.logStreamName)
                    $0.number("timestamp", e.timestamp)
                    $0.text("message", e.message)
                    $0.number("ingestionTime", e.ingestionTime)
                    $0.string("eventId", e.eventId)
                }
                filterItems.append(
                    "{\"logStreamName\":\(JSONObjectWriter.quote(e.logStreamName)),\"timestamp\":\(e.timestamp),"
                        + "\"message\":\(JSONObjectWriter.quote(e.message)),\"ingestionTime\":\(e.ingestionTime),"
                        + "\"eventId\":\(JSONObjectWriter.quote(e.eventId))}")
            }
            get.endEvents()
            get.string("nextForwardToken", "f/1\"/s")
            get.string("nextBackwardToken", "b/2/s")
            var oldGet = JSONObjectWriter()
            oldGet.addRaw("events", "[" + getItems.joined(separator: ",") + "]")
            oldGet.add("nextForwardToken", "f/1\"/s")
            oldGet.add("nextBackwardToken", "b/2/s")
            #expect(get.finish() == Array(oldGet.text.utf8))

            filter.endEvents()
            filter.raw("searchedLogStreams", "[]")
            filter.string("nextToken", "tok")
            var oldFilter = JSONObjectWriter()
            oldFilter.addRaw("events", "[" + filterItems.joined(separator: ",") + "]")
            oldFilter.addRaw("searchedLogStreams", "[]")
            oldFilter.add("nextToken", "tok")
            let bytes = filter.finish()
            #expect(bytes == Array(oldFilter.text.utf8))
            // And an independent parser reads each message back as its text.
            let o = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            let parsed = try #require(o["events"] as? [[String: Any]])
            #expect(parsed.map { $0["message"] as? String } == events.map { String(decoding: $0.message, as: UTF8.self) })
            #expect(parsed.map { $0["logStreamName"] as? String } == events.map(\.logStreamName))
        }
        // Precondition: the awkward events hold bytes that are not UTF-8.
        #expect(awkwardEvents().contains { String(validating: $0.message, as: UTF8.self) == nil })
    }
}
