import Foundation
import Testing
import TestSupport

/// The whole path beyond one host, with the real binary and moto as S3, SQS and CloudWatch Logs:
/// a simulated organization uploaded to S3 with notifications into SQS; two trailwatch hosts share
/// the queue by shard, take the files from S3 and forward every event to CloudWatch Logs, where
/// boto3 reads each back exactly once, in its account's group and its region's stream.
@Suite(.serialized) struct OrganizationE2ETests {
    @Test func twoHostsFromS3ToCloudWatchEveryEventOnceBurstOnce() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let queue = try S3SourceE2ETests.setUp(moto)
        // Yesterday, 22:00–23:00 UTC (and the burst at 23:40): recent enough for CloudWatch's 14 days.
        let yesterday = Date().addingTimeInterval(-86_400)
        let day = String(ISO8601DateFormatter().string(from: yesterday).prefix(10))
        let local = try S3SourceE2ETests.simulate(accounts: 4, hours: 1, start: day + "T22:00:00Z")
        let files = try S3SourceE2ETests.upload(moto, local)
        let truth = try S3SourceE2ETests.truth(moto, local)
        try #require(files > 20 && truth.count >= 4)
        let states = [tempDir("state1"), tempDir("state2")], alerts = [tempDir("a1") + "/a.jsonl", tempDir("a2") + "/a.jsonl"]
        let hosts = try (0..<2).map {
            try S3SourceE2ETests.run(
                moto, queue, state: states[$0], alerts: alerts[$0], extra: ["--shard", "\($0 + 1)/2", "--store", "cloudwatch"])
        }
        defer { for h in hosts where h.process.isRunning { h.signal(SIGKILL) } }
        let expected = truth.values.reduce(0, +)
        // Every file taken, the queue empty, and every event forwarded (CloudWatch holds all of them).
        #expect(
            eventually(timeout: 240, interval: 1) {
                states.map(S3SourceE2ETests.ledgerDone).reduce(0, +) == files && (try? S3SourceE2ETests.queued(moto, queue)) == 0
                    && ((try? cloudEvents(moto).events.values.reduce(0, +)) ?? 0) >= expected
            }, "\(hosts[0].stderr.suffix(1500))\n\(hosts[1].stderr.suffix(1500))")
        for h in hosts {
            h.signal(SIGTERM)
            #expect(h.wait(timeout: 60) == 0)
        }
        let cloud = try cloudEvents(moto).events
        #expect(cloud.values.allSatisfy { $0 == 1 }, "an event twice in CloudWatch: \(cloud.filter { $0.value > 1 }.prefix(5))")
        // What each host stored is what CloudWatch holds, group by group, stream by stream, eventID by eventID.
        let stored = try states.map { try localEvents(state: $0) }
        #expect(Set(stored[0].keys).isDisjoint(with: stored[1].keys), "an event on both hosts")
        #expect(stored[0].merging(stored[1]) { $0 + $1 } == cloud)
        // And that is the uploaded organization: per account and stream, every distinct eventID once.
        var perStream: [String: Int] = [:]
        for key in cloud.keys {
            let f = key.split(separator: "\t")
            perStream[String(f[0].split(separator: "-").last!) + "/" + f[1], default: 0] += 1
        }
        #expect(perStream == truth)
        #expect(alerts.map { S3SourceE2ETests.bursts($0).count }.reduce(0, +) == 1, "the burst alerted once overall")
    }
}
