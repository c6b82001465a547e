import DocketPostgres
import Foundation
import XCTest

/// A test database with the job schema, a store, and helpers that send one transaction and
/// turn the loop until it has committed.
class JobStoreTestCase: PostgresTestCase {
    var store = PostgresJobStore()
    /// The main connection, migrated.
    var db: PostgresConnection!

    override func setUpWithError() throws {
        try super.setUpWithError()
        db = try connect()
        try migrate(db)
    }

    func migrate(_ connection: PostgresConnection) throws {
        let result: Result<Void, PostgresError> = try loop.wait { done in
            PostgresSchema.migrate(on: connection, completion: done)
            connection.commit()
        }
        try result.get()
    }

    /// Runs `body` (which adds statements) as one transaction on `connection` and waits for it.
    func transaction<T>(
        on connection: PostgresConnection? = nil, file: StaticString = #filePath, line: UInt = #line,
        _ body: (PostgresConnection, @escaping (T) -> Void) -> Void
    ) throws -> T {
        let connection = connection ?? db!
        return try loop.wait(file: file, line: line) { done in
            body(connection, done)
            connection.commit()
        }
    }

    /// Moves the database clock, as every later statement on these connections sees it.
    func setNow(_ milliseconds: Int64, on connections: [PostgresConnection]? = nil) throws {
        for connection in connections ?? [db] {
            _ = try connection.run("SELECT set_config('docket.test_now_ms', $1::text, false)", [.text(String(milliseconds))], on: loop)
        }
    }

    // Synchronous versions of the verbs, for tests that need one at a time.

    func enqueue(_ jobs: [PostgresNewJob], on connection: PostgresConnection? = nil) throws -> [PostgresEnqueued] {
        try transaction(on: connection) { connection, done in store.enqueue(jobs, on: connection, completion: done) }.get()
    }

    func enqueue(_ queue: String, _ payload: String = "", configure: (inout PostgresNewJob) -> Void = { _ in }) throws -> Int64 {
        var job = PostgresNewJob(queue: queue, payload: Array(payload.utf8))
        configure(&job)
        return try enqueue([job])[0].id
    }

    func reserve(_ queues: [String], owner: String = "owner-1", on connection: PostgresConnection? = nil) throws -> PostgresReservation? {
        try transaction(on: connection) { connection, done in
            store.reserve(queues: queues, owner: owner, on: connection, completion: done)
        }.get()
    }

    func ack(_ hold: PostgresHold, result: [UInt8]? = nil) throws -> Result<Void, PostgresJobError> {
        try transaction { connection, done in store.ack(hold, result: result, on: connection, completion: done) }
    }

    func fail(_ hold: PostgresHold, _ choice: PostgresFailChoice = .policy, reason: String? = nil) throws
        -> Result<PostgresFailOutcome, PostgresJobError>
    {
        try transaction { connection, done in
            store.fail(hold, choice: choice, reason: reason.map { Array($0.utf8) }, on: connection, completion: done)
        }
    }

    func inspect(_ id: Int64) throws -> PostgresJobRecord? {
        try transaction { connection, done in store.inspect(id, on: connection, completion: done) }.get()
    }

    func recover() throws -> [PostgresEndedAttempt] {
        try transaction { connection, done in store.recoverExpiredLeases(on: connection, completion: done) }.get()
    }
}

extension PostgresReservation {
    func hold(owner: String = "owner-1", attempt: Int? = nil) -> PostgresHold {
        PostgresHold(id: id, owner: owner, attempt: attempt ?? self.attempt)
    }
}
