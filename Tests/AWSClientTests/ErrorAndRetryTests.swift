import AWSClient
import AWSFormats
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite struct ErrorMappingTests {
    @Test(arguments: [
        ("ThrottlingException", 400, AWSError.Code.throttled), ("Throttling", 400, .throttled), ("SlowDown", 503, .throttled),
        ("RequestLimitExceeded", 400, .throttled), ("TooManyRequestsException", 429, .throttled),
        ("ResourceNotFoundException", 400, .notFound), ("NoSuchKey", 404, .notFound), ("NoSuchBucket", 404, .notFound),
        ("AWS.SimpleQueueService.NonExistentQueue", 400, .notFound), ("QueueDoesNotExist", 400, .notFound),
        ("ResourceAlreadyExistsException", 400, .alreadyExists), ("InvalidParameterException", 400, .client),
        ("ServiceUnavailableException", 503, .server), ("InternalError", 500, .server),
    ])
    func typesAndStatuses(type: String, status: Int, code: AWSError.Code) {
        let e = AWSError.classify(type: type, status: status, message: "m")
        #expect(e.code == code)
        #expect(e.awsType == type && e.status == status)
        #expect(e.isRetryable == (code == .throttled || code == .server))
    }

    @Test func bodiesAndHeaders() {
        let json = AWSError.fromResponse(
            status: 400, headers: [], body: Array(#"{"__type":"com.amazonaws.logs#ThrottlingException","message":"Rate exceeded"}"#.utf8))
        #expect(json.code == .throttled && json.awsType == "ThrottlingException" && json.message == "Rate exceeded")
        let xml = AWSError.fromResponse(status: 503, headers: [], body: Array("<Error><Code>SlowDown</Code><Message>slow</Message></Error>".utf8))
        #expect(xml.code == .throttled && xml.awsType == "SlowDown")
        // SQS's JSON protocol sends its legacy code in a header; it wins over the JSON type.
        let sqs = AWSError.fromResponse(
            status: 400, headers: [("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender")],
            body: Array(#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"gone"}"#.utf8))
        #expect(sqs.code == .notFound && sqs.awsType == "AWS.SimpleQueueService.NonExistentQueue")
        let bare = AWSError.fromResponse(status: 502, headers: [], body: Array("<html>Bad Gateway</html>".utf8))
        #expect(bare.code == .server && bare.awsType == nil && bare.isRetryable)
        #expect(AWSError.fromResponse(status: 429, headers: [], body: []).code == .throttled)
        #expect(AWSError.fromResponse(status: 403, headers: [("x-amzn-ErrorType", "AccessDeniedException:http://x")], body: []).awsType == "AccessDeniedException")
    }

    @Test func motosRealErrors() async throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        _ = try moto.boto3("boto3.client('s3').create_bucket(Bucket='errs')")
        try await withClients(moto) { (c: Clients) async throws in
            await #expect {
                _ = try await c.logs.getLogEvents(
                    group: "missing", stream: "s", startMs: nil, endMs: nil, startFromHead: true, nextToken: nil, limit: nil)
            } throws: { e in
                let e = e as! AWSError
                return e.code == .notFound && e.awsType == "ResourceNotFoundException" && e.status == 400 && !e.isRetryable
            }
            let path = tempDir("errs") + "/x"
            await #expect { _ = try await c.s3.getObject(bucket: "errs", key: "no/such key", to: path, maxBytes: 10) } throws: { e in
                let e = e as! AWSError
                return e.code == .notFound && e.awsType == "NoSuchKey" && e.status == 404
            }
            #expect(!FileManager.default.fileExists(atPath: path))
            await #expect { _ = try await c.s3.listObjectsV2(bucket: "nosuchbucket", prefix: "") } throws: {
                ($0 as! AWSError).code == .notFound && ($0 as! AWSError).awsType == "NoSuchBucket"
            }
            await #expect {
                _ = try await c.sqs.receiveMessages(
                    queueURL: moto.endpoint + "/123456789012/nosuchqueue", max: 1, waitSeconds: 0, visibilityTimeout: nil)
            } throws: { ($0 as! AWSError).code == .notFound }
            try await c.logs.createLogGroup("g")
            await #expect {
                _ = try await c.logs.filterLogEvents(group: "g", streams: nil, startMs: nil, endMs: nil, pattern: nil, nextToken: nil, limit: 100_000)
            } throws: { e in
                let e = e as! AWSError
                return e.code == .client && e.awsType == "InvalidParameterException" && e.status == 400 && !e.isRetryable
            }
            await #expect {
                _ = try await c.logs.putLogEvents(group: "g", stream: "nostream", events: [LogEventIn(timestampMs: 1, message: "m")])
            } throws: { ($0 as! AWSError).code == .notFound }
        }
    }
}

@Suite struct RetryPolicyTests {
    final class Log: Sendable {
        let delays = Mutex<[Double]>([])
        let calls = Mutex(0)
        let retried = Mutex<[AWSError.Code]>([])
    }

    func policy(_ log: Log, attempts: Int = 8) -> RetryPolicy {
        RetryPolicy(
            attempts: attempts, sleep: { d in log.delays.withLock { $0.append(d) } }, random: { $0 * 0.5 },
            onRetry: { e, _ in log.retried.withLock { $0.append(e.code) } })
    }

    @Test func backsOffExponentiallyWithJitterThenSucceeds() async throws {
        let log = Log()
        let failures: [AWSError.Code] = [.throttled, .server, .network]
        let value = try await policy(log).run { () async throws -> Int in
            let n = log.calls.withLock { $0 += 1; return $0 }
            if n <= failures.count { throw AWSError(failures[n - 1], "fail \(n)") }
            return 42
        }
        #expect(value == 42)
        #expect(log.calls.withLock { $0 } == 4)
        #expect(log.delays.withLock { $0 } == [0.05, 0.1, 0.2])
        #expect(log.retried.withLock { $0 } == failures)
    }

    @Test func givesUpAfterEightAttemptsAndCapsTheBound() async throws {
        let log = Log()
        await #expect { () async throws in
            _ = try await policy(log).run { () async throws -> Int in
                log.calls.withLock { $0 += 1 }
                throw AWSError(.throttled, "slow down")
            }
        } throws: { ($0 as! AWSError).code == .throttled }
        #expect(log.calls.withLock { $0 } == 8)
        #expect(log.delays.withLock { $0 } == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4].map { $0 * 0.5 })
        let p = RetryPolicy()
        #expect(p.bound(retry: 0) == 0.1)
        #expect(p.bound(retry: 7) == 12.8)
        #expect(p.bound(retry: 8) == 20)
        #expect(p.bound(retry: 60) == 20)
    }

    @Test func doesNotRetryWhatIsNotRetryable() async throws {
        for error: any Error in [AWSError(.notFound, "gone"), AWSError(.client, "bad"), AWSError(.credentials, "none"), CancellationError()] {
            let log = Log()
            await #expect(throws: (any Error).self) {
                _ = try await policy(log).run { () async throws -> Int in
                    log.calls.withLock { $0 += 1 }
                    throw error
                }
            }
            #expect(log.calls.withLock { $0 } == 1)
            #expect(log.delays.withLock { $0 }.isEmpty)
        }
    }
}

@Suite struct QueueURLTests {
    @Test func regionOfAQueueURL() {
        #expect(SQSClient.region(ofQueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/trail") == "eu-west-1")
        #expect(SQSClient.region(ofQueueURL: "https://ap-south-1.queue.amazonaws.com/123456789012/trail") == "ap-south-1")
        #expect(SQSClient.region(ofQueueURL: "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/trail") == "cn-north-1")
        #expect(SQSClient.region(ofQueueURL: "http://127.0.0.1:5000/123456789012/trail") == nil)
        #expect(SQSClient.region(ofQueueURL: "https://queue.amazonaws.com/123456789012/trail") == nil)
        #expect(SQSClient.region(ofQueueURL: "not a url") == nil)
    }
}
