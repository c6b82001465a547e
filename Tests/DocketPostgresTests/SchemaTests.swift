import DocketPostgres
import Foundation
import XCTest

final class SchemaTests: PostgresTestCase {
    func testMigrationCreatesTheSchemaOnceAndRecordsItsVersion() throws {
        let connection = try connect()
        let other = try connect()
        // Two processes starting at once: the advisory lock makes them take turns.
        var outcomes: [Result<Void, PostgresError>] = []
        for each in [connection, other] {
            PostgresSchema.migrate(on: each) { outcomes.append($0) }
            each.commit()
        }
        loop.run { outcomes.count == 2 }
        for outcome in outcomes { XCTAssertNoThrow(try outcome.get()) }

        // And again: nothing to do.
        var again: Result<Void, PostgresError>?
        PostgresSchema.migrate(on: connection) { again = $0 }
        connection.commit()
        loop.run { again != nil }
        XCTAssertNoThrow(try again?.get())

        let version = try connection.run("SELECT value FROM docket.meta WHERE key = 'schema_version'", on: loop)
        XCTAssertEqual(version.rows.first?.string(0), String(PostgresSchema.version))
        let tables = try connection.run(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'docket' ORDER BY table_name", on: loop)
        XCTAssertEqual(tables.rows.map { $0.string(0) }, ["activity", "due_untold", "event_seqs", "group_holds", "jobs", "meta", "nodes", "queues", "retention", "routes", "schedules", "settled_children", "starts", "watches"])
        let keyIndex = try connection.run("SELECT indexdef FROM pg_indexes WHERE schemaname = 'docket' AND indexname = 'jobs_key'", on: loop)
        XCTAssertEqual(keyIndex.rows.first?.string(0)?.contains("UNIQUE"), true)
        XCTAssertEqual(keyIndex.rows.first?.string(0)?.contains("WHERE (key IS NOT NULL)"), true)
    }

    func testADatabaseFromANewerVersionIsRefused() throws {
        let connection = try connect()
        var first: Result<Void, PostgresError>?
        PostgresSchema.migrate(on: connection) { first = $0 }
        connection.commit()
        loop.run { first != nil }
        _ = try connection.run("UPDATE docket.meta SET value = '99' WHERE key = 'schema_version'", on: loop)
        var refused: Result<Void, PostgresError>?
        PostgresSchema.migrate(on: connection) { refused = $0 }
        connection.commit()
        loop.run { refused != nil }
        XCTAssertEqual(refused?.failure?.sqlState, "55000")
        XCTAssertEqual(refused?.failure?.message.contains("version 99"), true)
    }
}
