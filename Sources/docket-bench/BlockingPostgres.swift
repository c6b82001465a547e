import DocketPostgres

#if canImport(Glibc)
import Glibc
#endif

/// One `PostgresConnection` used one statement at a time, for the few things a run asks of
/// PostgreSQL outside its measured traffic: making and dropping databases, the table of the
/// SKIP LOCKED baseline, filling it, reading the server's counters. It drives the connection
/// with poll(2) on the calling thread until the answer comes or `deadline` passes.
final class BlockingPostgres {
    let connection: PostgresConnection

    /// Connects to `conninfo`; throws unless the connection is ready by `deadline`.
    init(_ conninfo: String, deadline: UInt64) throws {
        connection = PostgresConnection(conninfo)
        connection.start()
        try drive(until: { connection.state != .connecting }, deadline: deadline, doing: "connecting to PostgreSQL")
        guard connection.state == .ready else {
            throw BenchError("connecting to PostgreSQL: \(connection.failure?.message ?? "closed")")
        }
    }

    deinit { connection.close() }

    /// Runs `sql` as a transaction of its own and returns its rows.
    @discardableResult
    func query(_ sql: String, _ parameters: [PostgresValue] = [], deadline: UInt64) throws -> PostgresResult {
        var outcome: Result<PostgresResult, PostgresError>?
        connection.query(sql, parameters) { outcome = $0 }
        try drive(until: { outcome != nil }, deadline: deadline, doing: sql)
        switch outcome! {
        case .success(let result): return result
        case .failure(let error): throw BenchError("PostgreSQL: \(error.message) (in: \(sql.prefix(80)))")
        }
    }

    /// Runs several statements, each a transaction of its own, sent together; waits for all.
    func pipeline(_ statements: [(String, [PostgresValue])], deadline: UInt64) throws {
        var answered = 0
        var failure: PostgresError?
        for (sql, parameters) in statements {
            connection.query(sql, parameters) { result in
                answered += 1
                if case .failure(let error) = result, failure == nil { failure = error }
            }
        }
        try drive(until: { answered == statements.count }, deadline: deadline, doing: "\(statements.count) statements")
        if let failure { throw BenchError("PostgreSQL: \(failure.message)") }
    }

    /// Serves the connection until `done` holds (checked after every call into it).
    private func drive(until done: () -> Bool, deadline: UInt64, doing what: String) throws {
        while !done() {
            let interest = connection.interest
            guard interest.socket >= 0 else {
                throw BenchError("PostgreSQL connection lost (\(what)): \(connection.failure?.message ?? "closed")")
            }
            let now = MonotonicClock.now()
            guard now < deadline else { throw BenchError("PostgreSQL did not answer within --timeout (\(what))") }
            var descriptor = pollfd(
                fd: interest.socket, events: (interest.read ? Int16(POLLIN) : 0) | (interest.write ? Int16(POLLOUT) : 0),
                revents: 0)
            let wait = Int32(min(50, (deadline - now) / 1_000_000 + 1))
            let ready = poll(&descriptor, 1, wait)
            if ready < 0 {
                if errno == EINTR { continue }
                throw BenchError.system("poll")
            }
            guard ready > 0 else { continue }
            PostgresPoll.serve(connection, revents: descriptor.revents)
        }
    }
}

enum PostgresPoll {
    /// Tells `connection` what poll(2) saw on its socket.
    static func serve(_ connection: PostgresConnection, revents: Int16) {
        if revents & Int16(POLLOUT) != 0 { connection.socketWritable() }
        if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { connection.socketReadable() }
    }

    /// The poll(2) events `connection` wants now.
    static func events(_ connection: PostgresConnection) -> (socket: Int32, events: Int16) {
        let interest = connection.interest
        return (interest.socket, (interest.read ? Int16(POLLIN) : 0) | (interest.write ? Int16(POLLOUT) : 0))
    }
}
