// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Tollgate",
    products: [
        .executable(name: "tollgate", targets: ["tollgate"])
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // epoll, accept4 and getrandom, which Swift's Glibc module leaves out (Linux only; in libc, nothing to link).
        .systemLibrary(name: "CLinux"),
        // HTTP/2 framing, HPACK, flow control and stream state (RFC 9113); only the HTTP2 target imports it.
        .systemLibrary(
            name: "CNGHTTP2",
            pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"])]
        ),
        .target(name: "TollgateCore"),
        .target(name: "HTTP1", dependencies: ["TollgateCore"]),
        .target(name: "HTTP2", dependencies: ["CNGHTTP2", "TollgateCore", "HTTP1"]),
        .target(name: "TollgateConfig", dependencies: ["TollgateCore", .product(name: "Yams", package: "Yams")]),
        .target(name: "TollgatePolicy", dependencies: ["TollgateCore", "TollgateConfig"]),
        .target(name: "TollgateRouting", dependencies: ["TollgateCore", "TollgateConfig"]),
        .target(name: "TollgateTLS", dependencies: ["COpenSSL", "TollgateCore"]),
        .target(
            name: "TollgatePlanner",
            dependencies: ["TollgateCore", "HTTP1", "TollgateConfig", "TollgatePolicy", "TollgateRouting"]),
        .target(
            name: "TollgateServer",
            dependencies: [
                "CLinux", "TollgateCore", "HTTP1", "TollgateConfig", "TollgatePolicy", "TollgateRouting", "TollgateTLS",
                "TollgatePlanner", "HTTP2",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "tollgate",
            dependencies: [
                "TollgateServer", "TollgateConfig", "TollgateTLS", "TollgateCore", "HTTP1",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TollgateCoreTests", dependencies: ["TollgateCore"]),
        .testTarget(name: "TollgateTLSTests", dependencies: ["TollgateTLS", "TollgateCore"]),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1"]),
        // The tests pair the server session with an nghttp2 client session, so they import the library too.
        .testTarget(name: "HTTP2Tests", dependencies: ["HTTP2", "CNGHTTP2", "TollgateCore"]),
        .testTarget(
            name: "TollgatePlannerTests",
            dependencies: [
                "TollgatePlanner", "HTTP1", "TollgateConfig", "TollgateRouting", "TollgatePolicy", "TollgateCore",
            ]),
        .testTarget(name: "TollgateConfigTests", dependencies: ["TollgateConfig"]),
        .testTarget(name: "TollgatePolicyTests", dependencies: ["TollgatePolicy", "TollgateConfig"]),
        .testTarget(name: "TollgateRoutingTests", dependencies: ["TollgateRouting", "TollgateConfig"]),
        .testTarget(
            name: "TollgateServerTests",
            dependencies: [
                "TollgateServer", "TollgateConfig", "TollgateCore", "TollgatePolicy", "TollgateRouting", "TollgateTLS",
            ]
        ),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport"]),
    ]
)

// Fuzz targets exist only when scripts/fuzz asks for them (TOLLGATE_FUZZ=1, with the sanitizers and its own
// scratch path), so the ordinary build and test never compile them or need the fuzzer flags.
if Context.environment["TOLLGATE_FUZZ"] != nil {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzRequestDecoder", ["HTTP1", "TollgateCore"]),
        ("FuzzResponseDecoder", ["HTTP1", "TollgateCore"]),
        ("FuzzConfigLoader", ["TollgateConfig"]),
        ("FuzzCertificate", ["TollgateTLS", "TollgateCore"]),
        ("FuzzPathNormalizer", ["TollgateCore"]),
    ]
    for target in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: target.name, dependencies: target.dependencies + ["FuzzSupport"],
                path: "Fuzz/Sources/\(target.name)"))
        package.products.append(.executable(name: target.name, targets: [target.name]))
    }
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["HTTP1"], path: "Fuzz/Sources/FuzzSupport"))
}
