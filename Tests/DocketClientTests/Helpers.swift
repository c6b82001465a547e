import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// Starts a docketd for one test and stops it afterwards (SIGKILL if it hangs).
func withServer<T>(_ flags: [String] = [], _ body: (DocketdProcess) throws -> T) throws -> T {
    let server = try DocketdProcess(flags)
    defer { server.stop(timeout: 5) }
    return try body(server)
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
@discardableResult
func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}

/// The error `body` throws (nil if it succeeds).
func failure(_ body: () throws(DocketError) -> Void) -> DocketError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

/// A value shared between threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    var current: Value { withLock { $0 } }
}

/// Runs `body` on a new thread.
func background(_ body: @escaping @Sendable () -> Void) {
    Thread.detachNewThread(body)
}

/// Collects events of a queue from a subscription of their own.
final class EventLog: @unchecked Sendable {
    let connection: DocketConnection
    private let events = Locked<[JobEvent]>([])

    init(_ server: DocketdProcess, queue: String) throws {
        connection = try DocketConnection(server.address)
        let events = self.events
        try connection.subscribe("$JOB.\(queue).>") { message in
            if let event = JobEvent(message) { events.withLock { $0.append(event) } }
        }
        try connection.flush()
    }

    var all: [JobEvent] { events.current }

    func of(_ id: UInt64) -> [JobEvent] { all.filter { $0.id == id } }

    /// Waits until an event matches; returns it.
    @discardableResult
    func wait(timeout: TimeInterval = 10, for match: (JobEvent) -> Bool) -> JobEvent? {
        var found: JobEvent?
        eventually(timeout: timeout) {
            found = all.first(where: match)
            return found != nil
        }
        return found
    }

    func close() { connection.close() }
}

/// A run of the `docket` command-line tool, its output going to temporary files.
final class CLIRun: @unchecked Sendable {
    let process = ChildProcess()
    private let directory: URL
    private let outURL: URL
    private let errURL: URL

    init(_ arguments: [String], server: DocketdProcess, stdin: String? = nil, environment: [String: String] = [:]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        outURL = directory.appendingPathComponent("stdout")
        errURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.executableURL = DocketdProcess.docketBinary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["DOCKET_SERVER"] = server.address
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.currentDirectoryURL = directory
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        if let stdin {
            let inURL = directory.appendingPathComponent("stdin")
            _ = FileManager.default.createFile(atPath: inURL.path, contents: Data(stdin.utf8))
            process.standardInput = try FileHandle(forReadingFrom: inURL)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
    }

    deinit {
        process.killAndAwaitExit()
        try? FileManager.default.removeItem(at: directory)
    }

    var stdout: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    func signal(_ number: Int32) { process.signal(number) }

    /// Waits for the exit status; nil (after a SIGKILL) if it takes longer than `timeout`.
    func exitStatus(timeout: TimeInterval = 10) -> Int32? {
        if let status = process.awaitExit(timeout: timeout) { return status }
        process.killAndAwaitExit()
        return nil
    }
}

/// Runs `docket <arguments>` to the end: (exit status, stdout, stderr).
func docket(_ arguments: String..., server: DocketdProcess, stdin: String? = nil) throws -> (Int32?, String, String) {
    let run = try CLIRun(arguments, server: server, stdin: stdin)
    let status = run.exitStatus(timeout: 10)
    return (status, run.stdout, run.stderr)
}

extension JSONValue {
    var int: Int? { numberValue.map { Int($0) } }
}

func parseJSON(_ text: String) -> JSONValue? { JSONValue.parse(text) }
