import CloudTrail
import Crypto

/// CloudWatch Logs' PutLogEvents limits, as AWS documents them.
package enum PutLogEventsLimits {
    /// Events in one call.
    package static let maxEvents = 10_000
    /// Bytes in one call: every event's UTF-8 message plus ``eventOverhead``.
    package static let maxBatchBytes = 1_048_576
    /// What CloudWatch adds to each event's message when it counts a batch's or an event's size.
    package static let eventOverhead = 26
    /// One event, message plus overhead.
    package static let maxEventBytes = 262_144
    /// The longest message (UTF-8 bytes) one event can carry.
    package static let maxMessageBytes = maxEventBytes - eventOverhead
    /// Newest minus oldest timestamp in one call (24 h; exactly 24 h is allowed).
    package static let maxSpanMs: Int64 = 86_400_000
}

/// One stored record made ready for PutLogEvents: its message as CloudWatch takes it (a string).
package struct PreparedEvent: Sendable, Equatable {
    package var timestampMs: Int64
    package var message: String
    /// The message's UTF-8 bytes plus the 26-byte overhead: what the event costs in a batch.
    package var size: Int
    /// The record was too large for one event and is sent as a reference event instead.
    package var isReference: Bool
    /// The record held bytes that are not UTF-8; they are sent as U+FFFD.
    package var replacedInvalidUTF8: Bool

    package init(timestampMs: Int64, message: String, isReference: Bool = false, replacedInvalidUTF8: Bool = false) {
        self.timestampMs = timestampMs
        self.message = message
        self.size = message.utf8.count + PutLogEventsLimits.eventOverhead
        self.isReference = isReference
        self.replacedInvalidUTF8 = replacedInvalidUTF8
    }
}

/// Turns a stream's stored records into PutLogEvents batches that honour every CloudWatch limit.
///
/// Pure: records in, events and batch boundaries out. A batch is always a contiguous run of the
/// input (so a checkpoint is a position in it), sorted by time only when it is sent.
package enum LogBatching {
    /// The record as one event: its bytes as a string (bytes that are not UTF-8 become U+FFFD, as
    /// `trailwatch logs` shows them), or, when that is longer than one event may be, a reference
    /// event naming the record (``referenceMessage(record:file:)``).
    package static func prepare(timestampMs: Int64, record: UnsafeRawBufferPointer, file: String) -> PreparedEvent {
        var replaced = false
        let text: String
        if let valid = String(validating: record, as: UTF8.self) {
            text = valid
        } else {
            text = String(decoding: record, as: UTF8.self)
            replaced = true
        }
        if text.utf8.count <= PutLogEventsLimits.maxMessageBytes {
            return PreparedEvent(timestampMs: timestampMs, message: text, replacedInvalidUTF8: replaced)
        }
        return PreparedEvent(
            timestampMs: timestampMs, message: referenceMessage(record: record, file: file), isReference: true,
            replacedInvalidUTF8: replaced)
    }

    /// Convenience over ``prepare(timestampMs:record:file:)`` for an array.
    package static func prepare(timestampMs: Int64, record: [UInt8], file: String) -> PreparedEvent {
        record.withUnsafeBytes { prepare(timestampMs: timestampMs, record: $0, file: file) }
    }

    /// The fields a reference event copies from the record it stands for (as found; missing ones are left out).
    package static let referenceFields = ["eventID", "eventTime", "eventSource", "eventName", "awsRegion", "recipientAccountId"]

    /// A small JSON object standing for a record too large for one event: the record's identifying
    /// fields, and `trailwatchTruncated` with its size, SHA-256 and the ledger key of the file that
    /// delivered it (the whole record stays in the local store, and in the bucket).
    package static func referenceMessage(record: UnsafeRawBufferPointer, file: String) -> String {
        var w = JSONObjectWriter(capacity: 512)
        let raw = RawJSON(record)
        if let values = raw.topLevel(referenceFields.map { Array($0.utf8) }) {
            for (name, v) in zip(referenceFields, values) {
                if let s = raw.string(v) { w.add(name, s) }
            }
        }
        let digest = SHA256.hash(data: record).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
        var t = JSONObjectWriter(capacity: 160)
        t.add("bytes", Int64(record.count))
        t.add("sha256", digest)
        t.add("file", file)
        w.addRaw("trailwatchTruncated", bytes: t.bytes)
        return w.text
    }

    /// The end (exclusive) of the batch that starts at `start`: the longest run of `events` from
    /// there that fits in one call (≤ 10,000 events, ≤ 1,048,576 bytes, newest minus oldest ≤ 24 h).
    /// Never empty while events remain: a prepared event always fits alone.
    package static func batchEnd(_ events: [PreparedEvent], from start: Int) -> Int {
        var count = 0
        var bytes = 0
        var oldest = Int64.max
        var newest = Int64.min
        var i = start
        let end = events.count
        while i < end {
            let e = events[i]
            let lo = min(oldest, e.timestampMs)
            let hi = max(newest, e.timestampMs)
            if count > 0 {
                if count + 1 > PutLogEventsLimits.maxEvents || bytes + e.size > PutLogEventsLimits.maxBatchBytes
                    || hi &- lo > PutLogEventsLimits.maxSpanMs
                { break }
            }
            count += 1
            bytes += e.size
            oldest = lo
            newest = hi
            i += 1
        }
        return i
    }

    /// Every batch of `events`, in order, as ranges of positions.
    package static func batches(_ events: [PreparedEvent]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        while start < events.count {
            let end = batchEnd(events, from: start)
            out.append(start..<end)
            start = end
        }
        return out
    }

    /// A batch as PutLogEvents wants it: in ascending time order (equal times keep their order).
    package static func sortedForPut(_ events: some Collection<PreparedEvent>) -> [PreparedEvent] {
        events.enumerated().sorted { ($0.element.timestampMs, $0.offset) < ($1.element.timestampMs, $1.offset) }.map(\.element)
    }

    /// A digest of a batch's events (time and message of each, in order), kept with an in-flight
    /// batch so that the batch read back after a crash is known to be the one that was sent.
    package static func digest(_ events: some Collection<PreparedEvent>) -> String {
        var h = SHA256()
        for e in events {
            withUnsafeBytes(of: e.timestampMs.littleEndian) { h.update(bufferPointer: $0) }
            withUnsafeBytes(of: Int64(e.message.utf8.count).littleEndian) { h.update(bufferPointer: $0) }
            h.update(data: Array(e.message.utf8))
        }
        return h.finalize().map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
    }

    /// What identifies an event when a batch is reconciled with what CloudWatch holds: its
    /// top-level `eventID` (a reference event carries its record's), else the whole message.
    package static func identity(of message: String) -> String {
        Array(message.utf8).withUnsafeBytes { b -> String in
            let raw = RawJSON(b)
            if let v = raw.topLevel([Array("eventID".utf8)])?.first, let id = raw.string(v) { return "id:" + id }
            return "message:" + message
        }
    }
}
