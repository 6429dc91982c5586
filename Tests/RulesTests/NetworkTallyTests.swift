import Rules
import Testing

@Suite struct NetworkTallyTests {
    func tally(_ ips: [String], v4: Int = 24, v6: Int = 48) -> NetworkTally {
        var t = NetworkTally(ipv4Prefix: v4, ipv6Prefix: v6)
        for (n, ip) in ips.enumerated() {
            let record = Array(#"{"eventTime":"2024-03-01T10:00:00Z","sourceIPAddress":"\#(ip)","eventName":"X"}"#.utf8)
            record.withUnsafeBytes { t.add(record: $0, time: 1_709_287_200_000 + Int64(n) * 1000) }
        }
        return t
    }

    @Test func groupsAddressesIntoNetworksAndSkipsServiceNames() {
        let t = tally(["203.0.113.77", "203.0.127.1", "203.0.128.1", "ec2.amazonaws.com", "AWS Internal", "253.252.51.07"], v4: 20)
        #expect(t.records == 6 && t.notAddresses == 3)
        #expect(t.suggestions().map(\.network.text) == ["203.0.112.0/20", "203.0.128.0/20"])
        #expect(t.suggestions().first?.calls == 2 && t.suggestions().first?.addresses == 2)
    }

    @Test func writesIPv6NetworksAsTheListDoes() {
        let cases: [(String, Int, String)] = [
            ("2001:db8:0:1::5", 64, "2001:db8:0:1::/64"), ("2001:db8::1", 48, "2001:db8::/48"), ("::1", 128, "::1/128"),
            ("fe80::1", 16, "fe80::/16"), ("2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"), ("2001:0:0:1:0:0:0:1", 128, "2001:0:0:1::1/128"),
        ]
        for (ip, prefix, text) in cases {
            let t = tally([ip], v6: prefix)
            #expect(t.suggestions().map(\.network.text) == [text], "\(ip)/\(prefix)")
            // What it prints reads back as a network containing the address.
            let n = Network(text)
            #expect(n != nil && n!.contains(IPAddress.parse(Array(ip.utf8))!), "\(text)")
        }
    }

    @Test func aLineIsAListEntryWithItsCounts() {
        let t = tally(["198.51.100.7", "198.51.100.7", "198.51.100.9"])
        let line = NetworkTally.line(t.suggestions()[0])
        #expect(line == "198.51.100.0/24         # 3 calls, 2 addresses, 2024-03-01T10:00:00Z .. 2024-03-01T10:00:02Z")
    }
}
