import Foundation
@testable import docket_bench

#if canImport(Glibc)
import Glibc
#endif

/// A real docketd child process on a free loopback port with its own temporary data directory,
/// as the server tests start it (Tests/DocketServerTests/DocketdProcess.swift).
final class DocketdProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let dataDirectory: URL
    let log: LogCollector

    var pid: Int32 { process.processIdentifier }

    /// The docketd built next to the tests: SwiftPM builds it because the test target depends
    /// on it. DOCKETD overrides.
    static let binary: URL = {
        if let path = ProcessInfo.processInfo.environment["DOCKETD"] { return URL(fileURLWithPath: path) }
        var candidates: [URL] = []
        for argument in CommandLine.arguments where argument.contains(".xctest") {
            candidates.append(URL(fileURLWithPath: argument).deletingLastPathComponent())
        }
        candidates.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        for directory in candidates {
            let binary = directory.appendingPathComponent("docketd")
            if FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        }
        fatalError("docketd binary not found next to the tests; set DOCKETD")
    }()

    /// Starts docketd and waits until it logs `Server is ready`.
    init(_ flags: [String] = []) throws {
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-bench-test-\(UUID().uuidString)")
        let log = LogCollector()
        self.log = log
        process.executableURL = Self.binary
        process.arguments = ["--port", "0", "--data-dir", dataDirectory.path] + flags
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
        }
        try process.run()
        let process = self.process
        guard log.waitForLine(containing: "Server is ready", timeout: 10, while: { process.isRunning }) != nil,
              let listening = log.lines.first(where: { $0.contains("Listening for client connections on") }),
              let port = Int(listening.split(separator: ":").last ?? "")
        else {
            process.terminate()
            throw HarnessError("docketd did not become ready:\n\(log.text)")
        }
        self.port = port
    }

    /// Sends SIGTERM and waits for exit (SIGKILL after `timeout`); returns the exit status.
    @discardableResult
    func stop(timeout: TimeInterval = 10) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { usleep(5_000) }
            return -9
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dataDirectory)
    }
}

/// Collects a child's stderr lines, thread-safely.
final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()

    func append(_ data: Data) {
        lock.lock()
        buffer.append(data)
        lock.unlock()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: buffer, as: UTF8.self)
    }

    var lines: [String] { text.split(separator: "\n").map(String.init) }

    /// The first line containing `needle`, waiting up to `timeout` while `condition` holds.
    func waitForLine(containing needle: String, timeout: TimeInterval, while condition: () -> Bool = { true }) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && condition() {
            if let line = lines.first(where: { $0.contains(needle) }) { return line }
            usleep(5_000)
        }
        return nil
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A peer server (beanstalkd, Redis, nats-server) for the optional smoke tests: started on a
/// free loopback port when its binary is installed, stopped by its process id. It is spawned
/// through the tool's own `ServerProcess`, which gives it an empty signal mask: the test runner
/// may block SIGTERM, and unlike docketd these servers do not unblock it themselves.
final class PeerProcess: @unchecked Sendable {
    let server: ServerProcess
    let port: Int
    private let directory: URL

    var pid: Int32 { server.pid }

    /// The binary's path if it is installed (nats-server lives in /usr/sbin on Debian).
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts `name` with `arguments`, where PORT and DIR stand for the port and a new
    /// temporary directory, and waits until the port accepts connections.
    init(_ name: String, _ arguments: [String]) throws {
        guard let binary = Self.find(name) else { throw HarnessError("\(name) is not installed") }
        let port = try freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-bench-peer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.port = port
        self.directory = directory
        server = try ServerProcess(executable: binary, arguments: arguments.map {
            $0.replacingOccurrences(of: "PORT", with: "\(port)").replacingOccurrences(of: "DIR", with: directory.path)
        })
        let deadline = Date().addingTimeInterval(10)
        while !canConnect(port: port) {
            guard server.isRunning, Date() < deadline else {
                server.stop(timeoutSeconds: 5)
                throw HarnessError("\(name) did not start listening on port \(port): \(server.log.map(\.text))")
            }
            usleep(10_000)
        }
    }

    deinit {
        server.stop(timeoutSeconds: 5)
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A loopback port nothing listens on right now.
func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw HarnessError("socket failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw HarnessError("bind failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func canConnect(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    address.sin_port = in_port_t(UInt16(port)).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// A socket listening on a free loopback port that never accepts: the kernel completes
/// connections to it, which is all a `Connection` needs to exist in unit tests.
final class SilentListener {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw HarnessError("bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}
