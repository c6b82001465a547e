import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A loopback port nobody listens on now.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw HarnessError("bind() failed") }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw HarnessError("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// nats-server processes joined in one cluster on loopback, for the tests of docketd nodes
/// that share events through it (`--cluster-nats`). Stopped when released.
public final class NATSCluster {
    public struct Node {
        public let process: ChildProcess
        public let clientPort: Int
        public var url: String { "nats://127.0.0.1:\(clientPort)" }
    }

    public private(set) var nodes: [Node] = []

    /// The nats-server binary, if installed (Debian puts it in /usr/sbin).
    public static var binary: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/usr/local/bin"]
        return directories.map { "\($0)/nats-server" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts `count` servers, each routing to all the others, and waits until each accepts
    /// clients and sees the others as routes. `arguments` go to every server (TLS flags, say).
    public init(count: Int, arguments: [String] = []) throws {
        guard let binary = Self.binary else { throw HarnessError("nats-server is not installed") }
        let clientPorts = try (0..<count).map { _ in try freeLoopbackPort() }
        let clusterPorts = try (0..<count).map { _ in try freeLoopbackPort() }
        for index in 0..<count {
            let routes = clusterPorts.enumerated().filter { $0.offset != index }.map { "nats://127.0.0.1:\($0.element)" }
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "-a", "127.0.0.1", "-p", String(clientPorts[index]), "-m", "0",
                "--cluster_name", "docket-test", "--cluster", "nats://127.0.0.1:\(clusterPorts[index])",
                "--routes", routes.joined(separator: ","),
            ] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            nodes.append(Node(process: process, clientPort: clientPorts[index]))
        }
        // Each must accept clients, and the routes must be up before a test relies on them.
        let deadline = Date().addingTimeInterval(15)
        for node in nodes {
            while (try? LineClient(port: node.clientPort)) == nil {
                guard Date() < deadline, node.process.isRunning else { throw HarnessError("nats-server did not start on \(node.clientPort)") }
                usleep(20_000)
            }
        }
        usleep(500_000)
    }

    /// Kills one server at once (SIGKILL), as a crash would.
    public func kill(_ index: Int) {
        nodes[index].process.killAndAwaitExit()
    }

    deinit {
        for node in nodes { node.process.killAndAwaitExit() }
    }
}
