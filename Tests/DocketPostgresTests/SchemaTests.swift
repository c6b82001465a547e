@testable import DocketPostgres
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
        XCTAssertEqual(tables.rows.map { $0.string(0) }, [
            "activity", "due_untold", "emptied_names", "event_seqs", "group_holds", "job_changes", "job_count", "jobs", "meta", "nodes", "queue_jobs", "queue_names", "queues",
            "retention", "routes", "schedules", "settled_children", "starts", "watches",
        ])
        let keyIndex = try connection.run("SELECT indexdef FROM pg_indexes WHERE schemaname = 'docket' AND indexname = 'jobs_key'", on: loop)
        XCTAssertEqual(keyIndex.rows.first?.string(0)?.contains("UNIQUE"), true)
        XCTAssertEqual(keyIndex.rows.first?.string(0)?.contains("WHERE (key IS NOT NULL)"), true)
    }

    func testADatabaseFromANewerVersionIsRefused() throws {
        let connection = try connect()
        try migrate(connection)
        _ = try connection.run("UPDATE docket.meta SET value = '99' WHERE key = 'schema_version'", on: loop)
        var refused: Result<Void, PostgresError>?
        PostgresSchema.migrate(on: connection) { refused = $0 }
        connection.commit()
        loop.run { refused != nil }
        XCTAssertEqual(refused?.failure?.sqlState, "55000")
        XCTAssertEqual(refused?.failure?.message.contains("version 99"), true)
    }
    /// `settle_children` looks a job's children up in `jobs_children` once per job it settles.
    /// With GIN's pending list on, the entries of a burst of ENQs `after=` were read through at
    /// every look (a 10,000-deep chain's death ran past `--store-timeout`); now a look reads a
    /// few pages, however many flow jobs came just before.
    func testLookingUpChildrenAfterABurstOfFlowJobsReadsFewPages() throws {
        let connection = try connect()
        try migrate(connection)
        _ = try connection.run(
            """
            INSERT INTO docket.jobs (queue, state, run_at, max_attempts, backoff_kind, backoff_base_ms, backoff_cap_ms, lease_ms,
                                     payload, enqueued_at, parents)
            SELECT 'kids', 'waiting', 0, 3, 'exp', 1000, 3600000, 30000, '\\x', 0, ARRAY[(g % 100)::bigint]
            FROM generate_series(1, 50000) AS g
            """, on: loop)
        _ = try connection.run("SET enable_seqscan = off", on: loop)
        let plan = try connection.run(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM docket.jobs WHERE parents @> ARRAY[-1::bigint]", on: loop)
        let text = try XCTUnwrap(plan.rows.first?.string(0))
        // The index scan's pages: "Shared Hit Blocks" and "Shared Read Blocks" of its node.
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        func pages(_ node: [String: Any]) -> Int? {
            if node["Index Name"] as? String == "jobs_children" {
                return (node["Shared Hit Blocks"] as? Int ?? 0) + (node["Shared Read Blocks"] as? Int ?? 0)
            }
            for child in node["Plans"] as? [[String: Any]] ?? [] { if let found = pages(child) { return found } }
            return nil
        }
        let read = try XCTUnwrap(json.first?["Plan"] as? [String: Any]).flatMap(pages)
        XCTAssertNotNil(read, text)
        XCTAssertLessThan(read ?? .max, 20, "a look for children read \(read ?? 0) pages of jobs_children")
    }
    /// A queue's state (QUEUE, each queue of a QUEUES page) reads the queue's own jobs through
    /// the state indexes: it filtered every job by queue, which no index serves, so an empty
    /// queue's state beside 200,000 jobs took 68 ms, and a QUEUES page beside a million 166 s.
    func testAQueuesStateReadsNoOtherQueuesJobs() throws {
        let connection = try connect()
        try migrate(connection)
        _ = try connection.run(
            """
            INSERT INTO docket.jobs (queue, state, run_at, max_attempts, backoff_kind, backoff_base_ms, backoff_cap_ms, lease_ms,
                                     payload, enqueued_at, finished_at)
            SELECT 'big', CASE WHEN g % 2 = 0 THEN 'waiting' ELSE 'completed' END, CASE WHEN g % 4 = 0 THEN 0 ELSE 9e15::bigint END,
                   3, 'exp', 1000, 3600000, 30000, '\\x', 0, CASE WHEN g % 2 = 0 THEN NULL ELSE g END
            FROM generate_series(1, 40000) AS g
            """, on: loop)
        _ = try connection.run("ANALYZE docket.jobs", on: loop)
        // The scans of docket.jobs this transaction made, as its own statistics count them.
        _ = try connection.run(
            """
            CREATE FUNCTION pg_temp.scans_for(p_queue text) RETURNS text LANGUAGE plpgsql AS $f$
            DECLARE v_state text; v_before bigint;
            BEGIN
                SELECT seq_scan INTO v_before FROM pg_stat_xact_user_tables WHERE relid = 'docket.jobs'::regclass;
                SELECT concat_ws(',', waiting, delayed, completed) INTO v_state FROM docket.queue_state(p_queue);
                RETURN v_state || ' ' || (SELECT seq_scan - v_before FROM pg_stat_xact_user_tables WHERE relid = 'docket.jobs'::regclass);
            END $f$
            """, on: loop)
        let empty = try connection.run("SELECT pg_temp.scans_for('empty')", on: loop)
        XCTAssertEqual(empty.rows.first?.string(0), "0,0,0 0", "counts, then sequential scans of docket.jobs")
        // The queue's own counts are what they were (reading half the table, a scan is fair).
        let big = try connection.run("SELECT pg_temp.scans_for('big')", on: loop)
        XCTAssertEqual(big.rows.first?.string(0)?.hasPrefix("10000,10000,20000 "), true)
    }

    /// Version 22 gives the jobs of a database from before it their depth in their flow: one
    /// more than their deepest unfinished parent's, oldest first.
    func testFlowDepthsOfJobsFromBeforeAreWorkedOut() throws {
        let connection = try connect()
        try migrate(connection)
        _ = try connection.run("DROP FUNCTION docket.enqueue_flow", on: loop)
        _ = try connection.run("ALTER TABLE docket.jobs DROP COLUMN flow_depth", on: loop)
        _ = try connection.run(
            """
            INSERT INTO docket.jobs (id, queue, state, run_at, max_attempts, backoff_kind, backoff_base_ms, backoff_cap_ms, lease_ms,
                                     payload, enqueued_at, parents)
            SELECT g.id, 'q', g.state, 0, 3, 'exp', 1000, 3600000, 30000, '\\x', 0, g.parents
            FROM (VALUES (1001, 'waiting', NULL::bigint[]), (1002, 'blocked', ARRAY[1001::bigint]),
                         (1003, 'blocked', ARRAY[1001::bigint, 1002]), (1004, 'completed', NULL), (1005, 'blocked', ARRAY[1004::bigint]))
                AS g(id, state, parents)
            """, on: loop)
        // Version 22 alone again: the versions after it are in place and cannot run twice.
        _ = try connection.run("DO $version22$ BEGIN\n\(PostgresSchema.version22)\nEND $version22$", on: loop)
        let depths = try connection.run("SELECT id, flow_depth FROM docket.jobs WHERE id > 1000 ORDER BY id", on: loop)
        XCTAssertEqual(depths.rows.map { $0.int(1) }, [1, 2, 3, 1, 1])
    }

    /// A claim reads the next job of a queue from `jobs_ready` in the claim order (priority,
    /// run time, place), without sorting the queue's waiting jobs, however many there are.
    func testTheClaimOrderIsTheReadyIndexOrder() throws {
        let connection = try connect()
        try migrate(connection)
        _ = try connection.run(
            """
            INSERT INTO docket.jobs (queue, state, priority, run_at, max_attempts, backoff_kind, backoff_base_ms, backoff_cap_ms,
                                     lease_ms, payload, enqueued_at)
            SELECT 'many', 'waiting', g % 3, g / 10, 3, 'exp', 1000, 3600000, 30000, '\\x', 0
            FROM generate_series(1, 20000) AS g
            """, on: loop)
        _ = try connection.run("ANALYZE docket.jobs", on: loop)
        let plan = try connection.run(
            """
            EXPLAIN SELECT j.id FROM docket.jobs j
            WHERE j.queue = 'many' AND j.state = 'waiting' AND j.run_at <= 1000000
            ORDER BY j.priority, j.run_at, j.place LIMIT 1 FOR UPDATE SKIP LOCKED
            """, on: loop)
        let text = plan.rows.compactMap { $0.string(0) }.joined(separator: "\n")
        XCTAssertTrue(text.contains("Index Scan using jobs_ready"), text)
        XCTAssertFalse(text.contains("Sort"), text)
    }

    /// Brings the database of `connection` to the current version.
    private func migrate(_ connection: PostgresConnection) throws {
        var migrated: Result<Void, PostgresError>?
        PostgresSchema.migrate(on: connection) { migrated = $0 }
        connection.commit()
        loop.run { migrated != nil }
        try migrated?.get()
    }
}
