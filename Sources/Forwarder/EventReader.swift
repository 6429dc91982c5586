import LogBatching
import LogStore

/// Reads a stream's stored records in forwarding order from a checkpoint, each prepared as an
/// event with the position just after it; one block in memory at a time.
struct EventReader {
    let store: AccountStore
    let streamID: Int64
    /// The first record to read is the one at this position.
    let from: ForwardPosition
    /// Nothing past this position is read (a batch's end when it is read back), nil: to the end.
    let until: ForwardPosition?
    private var block: ForwardBlock?
    private var index = 0
    private var queue: [Int64] = []
    private var done = false
    /// Just past the last block read to its end: everything before it was read.
    private(set) var tail: ForwardPosition?

    init(store: AccountStore, streamID: Int64, from: ForwardPosition, until: ForwardPosition? = nil) {
        self.store = store
        self.streamID = streamID
        self.from = from
        self.until = until
    }

    /// The next record as an event and the position after it; nil at the end.
    mutating func next() throws -> (event: PreparedEvent, end: ForwardPosition)? {
        while true {
            if let b = block, index < b.entries.count {
                let end = ForwardPosition(block: b.id, next: index + 1)
                if let until, end > until {
                    done = true
                    block = nil
                    return nil
                }
                let e = b.entries[index]
                index += 1
                let event = b.raw.withUnsafeBytes { raw in
                    LogBatching.prepare(
                        timestampMs: e.timestamp, record: UnsafeRawBufferPointer(rebasing: raw[e.offset..<(e.offset + e.length)]),
                        file: b.file)
                }
                return (event, end)
            }
            if let b = block {
                tail = ForwardPosition(block: b.id, next: b.entries.count)
                block = nil
            }
            if done { return nil }
            if queue.isEmpty {
                queue = try store.forwardBlockIDs(streamID: streamID, from: tail ?? from, limit: 16)
                if queue.isEmpty {
                    done = true
                    return nil
                }
            }
            let id = queue.removeFirst()
            if let until, id > until.block {
                done = true
                return nil
            }
            guard let b = try store.forwardBlock(id) else { continue }
            block = b
            index = id == from.block ? from.next : 0
        }
    }
}
