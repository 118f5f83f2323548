// swift-tools-version: 6.1
//
// dbmirror: the Swift half. The layout follows the data:
//   PendingDecoder  decode the queue's row encoding (pure Swift, no libpq)
//   CLibPQ / LibPQ  libpq as a system library, and a small Swift wrapper over it
//   ReplayEngine    read the queue (snapshots), plan the apply, apply to slaves
//   Replayer        the `dbmirror` command
import PackageDescription

let package = Package(
    name: "dbmirror",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dbmirror", targets: ["Replayer"]),
        .library(name: "PendingDecoder", targets: ["PendingDecoder"]),
        .library(name: "ReplayEngine", targets: ["ReplayEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        .target(name: "PendingDecoder"),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(
            name: "LibPQ",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ReplayEngine",
            dependencies: [
                "PendingDecoder",
                "LibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "Replayer",
            dependencies: [
                "ReplayEngine",
                "LibPQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "DecoderBenchmark",
            dependencies: ["PendingDecoder"],
            path: "Benchmarks/DecoderBenchmark"
        ),
        .testTarget(
            name: "PendingDecoderTests",
            dependencies: [
                "PendingDecoder",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "ReplayEngineTests",
            dependencies: [
                "ReplayEngine",
                "LibPQ",
                "PendingDecoder",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
