import DocketPostgres
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The smallest event loop that drives `PostgresConnection`s: poll(2) on each connection's
/// `interest`, then `socketReadable()` / `socketWritable()`. Stands in for docketd's libevent
/// loop. Every wait is bounded: a loop that runs out of time fails the test.
final class PollLoop {
    private var connections: [PostgresConnection] = []

    func add(_ connection: PostgresConnection) {
        connections.append(connection)
    }

    /// A connection to the test cluster, started and registered, not yet ready.
    func connect(_ conninfo: String) -> PostgresConnection {
        let connection = PostgresConnection(conninfo)
        add(connection)
        connection.start()
        return connection
    }

    /// Turns the loop until `done` says so; false (and a test failure) after `timeout` seconds.
    @discardableResult
    func run(timeout: Double = 15, file: StaticString = #filePath, line: UInt = #line, until done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !done() {
            guard Date() < deadline else {
                XCTFail("the loop timed out after \(timeout) s", file: file, line: line)
                return false
            }
            turn(milliseconds: 20)
        }
        return true
    }

    /// Runs the loop for a while whatever happens (to show that something does not happen).
    func idle(seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline { turn(milliseconds: 10) }
    }

    /// Starts an asynchronous call and turns the loop until it answers.
    func wait<T>(
        timeout: Double = 15, file: StaticString = #filePath, line: UInt = #line,
        _ start: (@escaping (T) -> Void) -> Void
    ) throws -> T {
        var answer: T?
        start { answer = $0 }
        run(timeout: timeout, file: file, line: line) { answer != nil }
        guard let answer else { throw LoopTimeout() }
        return answer
    }

    /// Turns the loop until the connection is ready (or fails the test).
    func ready(_ connection: PostgresConnection, file: StaticString = #filePath, line: UInt = #line) throws {
        run(file: file, line: line) { connection.state != .connecting }
        guard connection.state == .ready else {
            XCTFail("not connected: \(connection.failure.map { "\($0)" } ?? "\(connection.state)")", file: file, line: line)
            throw LoopTimeout()
        }
    }

    private func turn(milliseconds: Int32) {
        let watched = connections.filter { $0.interest.socket >= 0 && ($0.interest.read || $0.interest.write) }
        var fds = watched.map { connection -> pollfd in
            var events: Int16 = 0
            if connection.interest.read { events |= Int16(POLLIN) }
            if connection.interest.write { events |= Int16(POLLOUT) }
            return pollfd(fd: connection.interest.socket, events: events, revents: 0)
        }
        guard !fds.isEmpty else {
            usleep(UInt32(milliseconds) * 1000)
            return
        }
        let ready = poll(&fds, nfds_t(fds.count), milliseconds)
        guard ready > 0 else { return }
        for (index, connection) in watched.enumerated() {
            let events = Int32(fds[index].revents)
            guard events != 0, connection.interest.socket == fds[index].fd else { continue }
            let trouble = events & (Int32(POLLERR) | Int32(POLLHUP)) != 0
            if connection.interest.write && (events & Int32(POLLOUT) != 0 || trouble) { connection.socketWritable() }
            if connection.interest.read && (events & Int32(POLLIN) != 0 || trouble) { connection.socketReadable() }
        }
    }
}

struct LoopTimeout: Error {}

extension PostgresConnection {
    /// One statement as its own transaction, answered through `loop`.
    func run(_ sql: String, _ parameters: [PostgresValue] = [], on loop: PollLoop, file: StaticString = #filePath, line: UInt = #line)
        throws -> PostgresResult
    {
        let answer: Result<PostgresResult, PostgresError> = try loop.wait(file: file, line: line) { done in
            query(sql, parameters, completion: done)
        }
        return try answer.get()
    }
}
