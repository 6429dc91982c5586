import CloudTrail

/// Learns where calls come from: counts records' `sourceIPAddress` by network (IPv4 /24 and
/// IPv6 /48 by default) and writes lines for `known-networks.list`, busiest first, each with a
/// comment giving its calls, addresses and first/last event time. Values that are not address
/// literals (`ec2.amazonaws.com`, `AWS Internal`) are counted apart and never listed.
///
/// Memory: one entry per network seen (and a capped set of addresses per network).
public struct NetworkTally: Sendable {
    public struct Entry: Sendable, Equatable {
        public var network: Network
        public var calls: Int
        public var first: Int64
        public var last: Int64
        /// Distinct addresses seen in the network (counted up to ``NetworkTally/maxAddresses``).
        public var addresses: Int { seen.count }
        var seen: Set<[UInt8]>
    }

    /// Distinct addresses remembered per network (the count stops there: "256+").
    public static let maxAddresses = 256

    public let ipv4Prefix: Int
    public let ipv6Prefix: Int
    public private(set) var entries: [[UInt8]: Entry] = [:]
    /// Records read, and those whose source is not an address literal (service names) or missing.
    public private(set) var records = 0
    public private(set) var notAddresses = 0

    public init(ipv4Prefix: Int = 24, ipv6Prefix: Int = 48) {
        self.ipv4Prefix = max(0, min(32, ipv4Prefix))
        self.ipv6Prefix = max(0, min(128, ipv6Prefix))
    }

    /// Counts one record (its bytes as delivered) at event time `time` (ms).
    public mutating func add(record bytes: UnsafeRawBufferPointer, time: Int64) {
        records += 1
        let json = RawJSON(bytes)
        guard let top = json.topLevel([Array("sourceIPAddress".utf8)]), case .string(let r, false)? = top[0],
            let address = IPAddress.parse(Array(json.slice(r)))
        else {
            notAddresses += 1
            return
        }
        add(address: address, time: time)
    }

    /// Counts one call from `address` (4 or 16 bytes).
    public mutating func add(address: [UInt8], time: Int64) {
        let prefix = address.count == 4 ? ipv4Prefix : ipv6Prefix
        let masked = Self.mask(address, prefix: prefix)
        if var e = entries[masked] {
            e.calls += 1
            e.first = min(e.first, time)
            e.last = max(e.last, time)
            if e.seen.count < Self.maxAddresses { e.seen.insert(address) }
            entries[masked] = e
        } else {
            entries[masked] = Entry(network: Network(bytes: masked, prefix: prefix), calls: 1, first: time, last: time, seen: [address])
        }
    }

    static func mask(_ a: [UInt8], prefix: Int) -> [UInt8] {
        var out = a
        for i in out.indices {
            let keep = max(0, min(8, prefix - i * 8))
            out[i] &= keep == 0 ? 0 : UInt8(0xFF) << (8 - keep)
        }
        return out
    }

    /// Networks with at least `minCalls` calls, busiest first (then IPv4 before IPv6, by address).
    public func suggestions(minCalls: Int = 1) -> [Entry] {
        entries.values.filter { $0.calls >= minCalls }.sorted {
            if $0.calls != $1.calls { return $0.calls > $1.calls }
            if $0.network.bytes.count != $1.network.bytes.count { return $0.network.bytes.count < $1.network.bytes.count }
            return $0.network.bytes.lexicographicallyPrecedes($1.network.bytes)
        }
    }

    /// One `known-networks.list` line: the CIDR, padded, then a comment with the counts.
    public static func line(_ e: Entry) -> String {
        let cidr = e.network.text
        let pad = String(repeating: " ", count: max(1, 24 - cidr.count))
        let addresses = e.addresses >= maxAddresses ? "\(maxAddresses)+ addresses" : (e.addresses == 1 ? "1 address" : "\(e.addresses) addresses")
        return "\(cidr)\(pad)# \(e.calls) calls, \(addresses), \(Timestamp.formatISO8601(e.first)) .. \(Timestamp.formatISO8601(e.last))"
    }
}

extension Network {
    /// A network from its (already masked) address bytes and prefix length.
    public init(bytes: [UInt8], prefix: Int) {
        self.bytes = bytes
        self.prefix = prefix
    }

    /// The CIDR as written in a list: `203.0.113.0/24`, `2001:db8:cafe::/48`.
    public var text: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") + "/\(prefix)" }
        // IPv6: eight groups, the longest run (two or more) of zero groups written as "::".
        let groups = stride(from: 0, to: 16, by: 2).map { Int(bytes[$0]) << 8 | Int(bytes[$0 + 1]) }
        var best = (start: -1, count: 0)
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else {
                i += 1
                continue
            }
            var j = i
            while j < 8 && groups[j] == 0 { j += 1 }
            if j - i > best.count { best = (i, j - i) }
            i = j
        }
        func hex(_ g: ArraySlice<Int>) -> String { g.map { String($0, radix: 16) }.joined(separator: ":") }
        let body = best.count >= 2 ? hex(groups[..<best.start]) + "::" + hex(groups[(best.start + best.count)...]) : hex(groups[...])
        return body + "/\(prefix)"
    }
}
