import Foundation

/// A real docketd child process on a free loopback port with its own temporary data directory.
public final class DocketdProcess: @unchecked Sendable {
    public let process = ChildProcess()
    public let port: Int
    public let dataDirectory: URL
    public let log: LogCollector
    private let ownsDirectory: Bool
    /// Signalled when the server's standard error reaches its end: its exit does not mean the
    /// log reader has every line (on a loaded machine, the last ones came after the test read
    /// `log.text`, and a test checking the last words of a server that stopped itself failed).
    private let logEnded = DispatchSemaphore(value: 0)
    private var logIsComplete = false

    /// Where the docketd binary built next to the tests is.
    public static let binary: URL = builtBinary("docketd", environment: "DOCKETD")

    /// The `docket` command-line tool built next to the tests.
    public static let docketBinary: URL = builtBinary("docket", environment: "DOCKET_CLI")

    /// A product binary of this package: `$environment` if set, else next to the test bundle
    /// (whatever the scratch path).
    public static func builtBinary(_ name: String, environment: String) -> URL {
        if let path = ProcessInfo.processInfo.environment[environment] { return URL(fileURLWithPath: path) }
        var candidates: [URL] = []
        for argument in CommandLine.arguments where argument.contains(".xctest") {
            candidates.append(URL(fileURLWithPath: argument).deletingLastPathComponent())
        }
        candidates.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        candidates.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in candidates {
            let binary = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        }
        fatalError("\(name) binary not found next to the tests; set \(environment)")
    }

    /// With `DOCKET_TEST_STORE=postgres`, a server given no `--store` keeps its jobs in a new
    /// database of the suite's PostgreSQL cluster (the same one when it restarts on the same
    /// data directory), so a suite written for the embedded store runs on PostgreSQL unchanged.
    public static var storeUnderTest: String { ProcessInfo.processInfo.environment["DOCKET_TEST_STORE"] ?? "lmdb" }

    nonisolated(unsafe) private static var databases: [String: String] = [:]
    private static let databasesLock = NSLock()

    private static func storeFlags(_ flags: [String], _ dataDirectory: URL) throws -> [String] {
        guard storeUnderTest == "postgres", !flags.contains(where: { $0 == "--store" || $0.hasPrefix("--store=") }) else { return [] }
        let postgres = try TestPostgres.shared.get()
        databasesLock.lock()
        defer { databasesLock.unlock() }
        if let known = databases[dataDirectory.path] { return ["--store", known] }
        let conninfo = postgres.conninfo(database: try postgres.createDatabase(prefix: "client"))
        databases[dataDirectory.path] = conninfo
        return ["--store", conninfo]
    }

    /// The server's process id.
    public var pid: Int32 { process.processIdentifier }

    /// `127.0.0.1:<port>`, for clients.
    public var address: String { "127.0.0.1:\(port)" }

    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Starts docketd and waits until it logs `Server is ready`. `port` 0 picks a free port;
    /// give a stopped server's `port` and `dataDirectory` to restart it where clients knew it.
    /// `shell`: commands run before docketd in the same shell (`ulimit -n 64;`), for limits a
    /// test must set on the server process itself.
    /// `environment`: variables set for it beside the test process's own.
    public init(_ flags: [String] = [], dataDirectory: URL? = nil, port: Int = 0, shell: String? = nil, environment: [String: String] = [:]) throws {
        if let dataDirectory {
            self.dataDirectory = dataDirectory
            ownsDirectory = false
        } else {
            self.dataDirectory = FileManager.default.temporaryDirectory
                .appendingPathComponent("docket-test-\(UUID().uuidString)")
            ownsDirectory = true
        }
        let log = LogCollector()
        self.log = log
        let arguments = ["--port", String(port), "--data-dir", self.dataDirectory.path] + (try Self.storeFlags(flags, self.dataDirectory)) + flags
        // Credentials a developer exported for clients would make every test server require them.
        process.environment = ProcessInfo.processInfo.environment.filter { !["DOCKET_USER", "DOCKET_PASS", "DOCKET_TOKEN"].contains($0.key) }
            .merging(environment) { $1 }
        if let shell {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", shell + " exec " + ([Self.binary.path] + arguments).map { "'\($0)'" }.joined(separator: " ")]
        } else {
            process.executableURL = Self.binary
            process.arguments = arguments
        }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        log.collect(from: pipe.fileHandleForReading, signallingAtItsEnd: logEnded)
        try process.run()
        // Our copy of the write end must go, or the pipe never reaches its end.
        try? pipe.fileHandleForWriting.close()
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

    /// Runs docketd with `arguments` to its end, for start-ups that must fail: the exit status
    /// and everything it wrote to standard error. Killed after `timeout` (status -9).
    /// `environment`: variables set for it beside the test process's own.
    public static func runToExit(
        _ arguments: [String], executable: URL = binary, timeout: TimeInterval = 10, environment: [String: String] = [:]
    ) throws -> (status: Int32, output: String) {
        let process = ChildProcess()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        let log = LogCollector()
        let drained = DispatchSemaphore(value: 0)
        log.collect(from: pipe.fileHandleForReading, signallingAtItsEnd: drained)
        try process.run()
        // Our copy of the write end must go, or the pipe never reaches its end.
        try? pipe.fileHandleForWriting.close()
        guard let status = process.awaitExit(timeout: timeout) else {
            process.killAndAwaitExit()
            return (-9, log.text)
        }
        // Everything the process wrote, to the end of the pipe: a fixed pause lost the last
        // lines on a loaded machine.
        _ = drained.wait(timeout: .now() + 5)
        return (status, log.text)
    }

    /// The monitoring port, when started with `-m`/`--http-port`.
    public var httpPort: Int? {
        guard let line = log.lines.first(where: { $0.contains("Listening for monitoring connections on") }) else { return nil }
        return Int(line.split(separator: ":").last ?? "")
    }

    /// A GET on the monitoring port (`-m`): the status code and the body.
    public func httpGet(_ path: String) throws -> (status: Int, body: String) {
        guard let port = httpPort else { throw HarnessError("docketd has no monitoring port (-m)") }
        let client = try LineClient(port: port)
        try client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let answer = String(decoding: try client.readUntilClosed(), as: UTF8.self)
        let statusLine = answer.prefix { $0 != "\r" }.split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]), let blank = answer.range(of: "\r\n\r\n") else {
            throw HarnessError("not an HTTP answer: \(answer)")
        }
        return (status, String(answer[blank.upperBound...]))
    }

    /// The WebSocket port, when started with `--websocket-port` or a `websocket { }` block.
    public var webSocketPort: Int? {
        guard let line = log.lines.first(where: { $0.contains("Listening for websocket clients on") }) else { return nil }
        return Int(line.split(separator: ":").last ?? "")
    }

    /// Sends SIGTERM and waits for exit (SIGKILL after `timeout`); returns the exit status.
    @discardableResult
    public func stop(timeout: TimeInterval = 10) -> Int32 {
        process.terminate()
        return waitForExit(timeout: timeout)
    }

    /// Kills the server with SIGKILL, as a crash would.
    public func crash() {
        process.killAndAwaitExit()
    }

    public func waitForExit(timeout: TimeInterval) -> Int32 {
        var status: Int32 = -9
        if let exited = process.awaitExit(timeout: timeout) {
            status = exited
        } else {
            // A child can inherit a blocked SIGTERM from the test runner; SIGKILL always works.
            process.killAndAwaitExit()
        }
        if !logIsComplete { logIsComplete = logEnded.wait(timeout: .now() + 5) == .success }
        return status
    }

    public func client() throws -> LineClient { try LineClient(port: port) }

    /// A new docketd on this one's port and data directory (this one must have stopped).
    /// Binding can fail for a moment while the old listener's port is released: it retries.
    public func restart(_ flags: [String] = []) throws -> DocketdProcess {
        let deadline = Date().addingTimeInterval(10)
        while true {
            do {
                return try DocketdProcess(flags, dataDirectory: dataDirectory, port: port)
            } catch {
                if Date() >= deadline { throw error }
                usleep(100_000)
            }
        }
    }

    deinit {
        process.killAndAwaitExit()
        if ownsDirectory { try? FileManager.default.removeItem(at: dataDirectory) }
    }
}

/// Collects a child's stderr lines, thread-safely.
public final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()

    public func append(_ data: Data) {
        lock.lock()
        buffer.append(data)
        lock.unlock()
    }

    public var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: buffer, as: UTF8.self)
    }

    public var lines: [String] { text.split(separator: "\n").map(String.init) }

    /// Appends everything read from `handle` until its end, then signals `ended`; on a thread
    /// of its own, blocked in read(2). Foundation's `readabilityHandler` now and then never saw
    /// the end of a pipe whose writer had exited: one `swift test` run in ten left a stopped
    /// server's `stop()` waiting its full 5 s for the end of a log already read, holding a
    /// thread of the cooperative pool all that time.
    public func collect(from handle: FileHandle, signallingAtItsEnd ended: DispatchSemaphore) {
        let thread = Thread { [self] in
            let descriptor = handle.fileDescriptor
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    append(Data(chunk[0..<count]))
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            // The handle was kept until here: its descriptor closes with it.
            withExtendedLifetime(handle) {}
            ended.signal()
        }
        thread.name = "docketd log"
        thread.start()
    }

    /// The first line containing `needle`, waiting up to `timeout` while `condition` holds.
    public func waitForLine(containing needle: String, timeout: TimeInterval, while condition: () -> Bool = { true }) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && condition() {
            if let line = lines.first(where: { $0.contains(needle) }) { return line }
            usleep(5_000)
        }
        return nil
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
