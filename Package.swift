// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "trailwatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "trailwatch", targets: ["trailwatch"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.11.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibdeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CXattr"),
        .target(name: "Posix", dependencies: ["CXattr"], swiftSettings: strict),
        .target(name: "CloudTrail", swiftSettings: strict),
        .target(name: "FilterPattern", dependencies: ["CloudTrail"], swiftSettings: strict),
        .target(name: "Gzip", dependencies: ["CZlib", "CLibdeflate"], swiftSettings: strict),
        .target(name: "AlertModel", dependencies: ["CloudTrail"], swiftSettings: strict),
        .target(name: "Rules", dependencies: ["CloudTrail", "FilterPattern", "AlertModel"], swiftSettings: strict),
        .target(
            name: "Integrity",
            dependencies: [
                "CloudTrail", "Gzip",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SigV4", dependencies: ["CloudTrail", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .target(name: "Access", swiftSettings: strict),
        // AWS wire formats (no I/O, no package dependency: the fuzzers compile it directly with CloudTrail).
        .target(name: "AWSFormats", dependencies: ["CloudTrail"], swiftSettings: strict),
        // A small AWS client: credentials chain, S3, SQS, CloudWatch Logs over async-http-client.
        .target(
            name: "AWSClient",
            dependencies: [
                "AWSFormats", "SigV4", "Posix",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .target(
            name: "APIAuth", dependencies: ["Access", "SigV4", "LogsAPI", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(name: "Alerts", dependencies: ["AlertModel", "Systemd", "Posix"], swiftSettings: strict),
        .target(
            name: "LogStore",
            dependencies: [
                "CloudTrail", "FilterPattern", "Gzip", "Posix", "AlertModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Ingest",
            dependencies: [
                "CloudTrail", "Gzip", "LogStore", "Posix", "Rules", "AlertModel", "Alerts", "Integrity",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Systemd",
            dependencies: ["CSystemd", "Posix", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "Simulator",
            dependencies: ["CloudTrail", "Gzip", "Posix", "Integrity", .product(name: "_CryptoExtras", package: "swift-crypto")],
            swiftSettings: strict),
        // S3 event notifications (direct, SNS, EventBridge) and the shard function: pure, fuzzed directly.
        .target(name: "S3Notifications", dependencies: ["CloudTrail"], swiftSettings: strict),
        // The S3/SQS source: downloads a bucket's log files into a cache root the watcher takes.
        .target(
            name: "S3Source",
            dependencies: ["AWSClient", "AWSFormats", "S3Notifications", "CloudTrail", "Ingest", "LogStore", "Posix", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(
            name: "LogsAPI",
            dependencies: [
                "LogStore", "FilterPattern", "CloudTrail", "Posix",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "trailwatch",
            dependencies: [
                "CloudTrail", "FilterPattern", "Gzip", "LogStore", "Ingest", "Integrity", "Posix", "Rules", "AlertModel", "Alerts", "Systemd", "Simulator", "LogsAPI", "Access", "SigV4", "APIAuth",
                "AWSClient", "S3Notifications", "S3Source", "Forwarder",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LogBatching", dependencies: ["CloudTrail", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .target(
            name: "Forwarder",
            dependencies: ["AWSClient", "LogBatching", "LogStore", "Posix", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // Helpers shared by the test targets (only test targets depend on it).
        .target(name: "TestSupport", dependencies: ["Gzip"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "CloudTrailTests", dependencies: ["CloudTrail", "Gzip"], exclude: ["Fixtures"]),
        .testTarget(name: "SigV4Tests", dependencies: ["SigV4", "TestSupport"], exclude: ["Fixtures", "Interop"]),
        .testTarget(name: "AccessTests", dependencies: ["Access"]),
        .testTarget(name: "AWSFormatsTests", dependencies: ["AWSFormats"]),
        .testTarget(
            name: "AWSClientTests", dependencies: ["AWSClient", "AWSFormats", "SigV4", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "FilterPatternTests", dependencies: ["FilterPattern", "CloudTrail"]),
        .testTarget(name: "IntegrityTests", dependencies: ["Integrity", "CloudTrail", "Gzip"], exclude: ["Interop"]),
        .testTarget(name: "RulesTests", dependencies: ["Rules", "CloudTrail", "AlertModel", "Alerts", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "LogStoreTests",
            dependencies: ["LogStore", "CloudTrail", "Gzip", "AlertModel", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "IngestTests",
            dependencies: [
                "Ingest", "LogStore", "CloudTrail", "Gzip", "Simulator", "AlertModel", "Alerts", "Rules", "Integrity", "Posix", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "LogsAPITests", dependencies: ["LogsAPI", "LogStore", "CloudTrail", "Posix"]),
        .testTarget(name: "S3NotificationsTests", dependencies: ["S3Notifications"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["trailwatch", "CloudTrail", "Gzip", "Simulator", "LogStore", "Systemd", "TestSupport", "LogsAPI"],
            exclude: ["Fixtures", "Interop"]),
        .testTarget(name: "LogBatchingTests", dependencies: ["LogBatching"]),
        .testTarget(
            name: "ForwarderTests",
            dependencies: [
                "Forwarder", "AWSClient", "LogBatching", "LogStore", "CloudTrail", "Gzip", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)
