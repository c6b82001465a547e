import DocketTestSupport
import Foundation
@testable import docket_bench

#if canImport(Glibc)
import Glibc
#endif

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
