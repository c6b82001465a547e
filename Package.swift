// swift-tools-version:6.0
// Docket: a job and event server. Dependencies point one way:
//   DocketWire (pure bytes) <- DocketEngine (subjects, subscriptions; no I/O)
//   <- DocketStore (LMDB) / DocketTLS (OpenSSL) / DocketServer (libevent) <- docketd (thin executable)
import PackageDescription

/// The per-message path (parser, buffers, fan-out) accesses class properties millions of times
/// a second; Swift's dynamic exclusivity checks on them cost over half the server's CPU in
/// profiles. The server is single-threaded and debug builds (all tests) keep the checks, so
/// release builds of the hot modules drop them.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

/// The store's checksums (CRC-32C) use SSE 4.2's `crc32` instruction on x86-64, which the
/// compiler emits only for a module built for it: such builds need an x86-64-v2 CPU (2008 on).
#if arch(x86_64)
    let storeSettings: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-msse4.2"])]
#else
    let storeSettings: [SwiftSetting] = []
#endif

let package = Package(
    name: "Docket",
    products: [
        .executable(name: "docketd", targets: ["docketd"]),
        .executable(name: "docket-bench", targets: ["docket-bench"]),
        .executable(name: "docket", targets: ["docket"]),
        .library(name: "DocketClient", targets: ["DocketClient"]),
        .library(name: "DocketWire", targets: ["DocketWire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Each C library is imported by exactly one Swift module (their fd_set definitions clash).
        .systemLibrary(
            name: "CLibevent", path: "Sources/CLibevent", pkgConfig: "libevent",
            providers: [.apt(["libevent-dev"])]),
        .systemLibrary(
            name: "CLMDB", path: "Sources/CLMDB", pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(
            name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CCrypt", path: "Sources/CCrypt", pkgConfig: "libcrypt",
            providers: [.apt(["libcrypt-dev"])]),
        .systemLibrary(
            name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .target(name: "DocketWire", swiftSettings: hotPath),
        // bcrypt password hashes (libcrypt), checked off the event loop.
        .target(name: "DocketPasswords", dependencies: ["CCrypt"]),
        // TLS for the server, the Swift client and the benchmark: the one module that sees OpenSSL.
        .target(name: "DocketTLS", dependencies: ["COpenSSL"]),
        // Raw deflate (zlib) for WebSocket's permessage-deflate: the one module that sees zlib.
        .target(name: "DocketDeflate", dependencies: ["CZlib"]),
        .target(name: "DocketEngine", dependencies: ["DocketWire"], swiftSettings: hotPath),
        .target(name: "DocketStore", dependencies: ["CLMDB"], swiftSettings: storeSettings),
        // Cron and fixed-interval schedules in IANA time zones: pure time arithmetic, no clock;
        // its only I/O is reading zone files.
        .target(name: "DocketSchedule"),
        // The job store on PostgreSQL: an asynchronous libpq connection driven by its owner's
        // event loop, the versioned schema, and every job verb as SQL (issue #13).
        .target(name: "DocketPostgres", dependencies: ["CLibPQ", "DocketWire"]),
        .target(
            name: "DocketServer",
            dependencies: [
                "DocketWire", "DocketEngine", "DocketStore", "DocketPostgres", "DocketSchedule", "DocketTLS", "DocketPasswords", "DocketDashboard",
                "DocketDeflate",
                "CLibevent",
            ],
            swiftSettings: hotPath),
        // The operators' web page, served from the binary: assets/ are the sources, Assets.swift
        // their embedded copy (scripts/embed-dashboard.py writes it).
        .target(name: "DocketDashboard", exclude: ["assets"]),
        .executableTarget(
            name: "docketd",
            dependencies: [
                "DocketServer",
                "DocketPasswords",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The Swift client library (TLS through DocketTLS) and the `docket` command-line tool built on it.
        .target(name: "DocketClient", dependencies: ["DocketWire", "DocketTLS"]),
        .executableTarget(
            name: "docket",
            dependencies: [
                "DocketClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Native load generator: the same client against docketd and its peers; through
        // DocketPostgres (libpq) it also runs the SKIP LOCKED baseline on PostgreSQL itself.
        .executableTarget(
            name: "docket-bench",
            dependencies: [
                "DocketWire",
                "DocketTLS",
                "DocketPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "DocketWireTests", dependencies: ["DocketWire"]),
        .testTarget(name: "DocketDeflateTests", dependencies: ["DocketDeflate"]),
        .testTarget(name: "DocketEngineTests", dependencies: ["DocketEngine", "DocketWire", "DocketTestSupport"]),
        .testTarget(name: "DocketStoreTests", dependencies: ["DocketStore", "DocketTestSupport"]),
        .testTarget(name: "DocketScheduleTests", dependencies: ["DocketSchedule", "DocketTestSupport"]),
        .testTarget(name: "DocketPostgresTests", dependencies: ["DocketPostgres", "DocketWire", "DocketTestSupport"]),
        .testTarget(name: "DocketBenchTests", dependencies: ["docket-bench", "docketd", "DocketTLS", "DocketTestSupport"]),
        .testTarget(
            name: "DocketClientTests", dependencies: ["DocketClient", "DocketWire", "DocketTLS", "docketd", "docket", "DocketTestSupport"],
            exclude: ["conformance-gaps.txt"]),
        // Integration tests spawn the real docketd binary; depending on it makes SwiftPM build it.
        // Starts a real docketd on port 0 with a temporary data directory, and talks to it over
        // TCP: shared by every test target that needs a live server.
        .target(name: "DocketTestSupport", path: "Tests/DocketTestSupport"),
        .testTarget(
            name: "DocketServerTests",
            dependencies: [
                "docketd", "DocketServer", "DocketStore", "DocketPostgres", "DocketPasswords", "DocketTLS", "DocketDeflate", "DocketWire",
                "DocketTestSupport",
            ]),
    ]
)
