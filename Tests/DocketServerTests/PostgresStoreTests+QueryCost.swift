import DocketPostgres
import DocketTestSupport
import Foundation
import Testing

/// What the statements behind QUEUES and STATS read on PostgreSQL (schema version 29): the
/// names and counts they answer come from what the server keeps, not from every job. Measured
/// in rows of `docket.jobs` a statement reads (`pg_stat_xact_user_tables`, this transaction's
/// own counts, functions' reads included), with a queue of many jobs beside a few small ones,
/// on the database of a real docketd that made them, once analyzed (as autovacuum does once a
/// table has grown: without statistics the planner takes a new table for one of a page, and
/// any index for as good as another).
extension PostgresStoreTests {
    static let manyJobs = 400

    /// A docketd on a fresh database holding `manyJobs` jobs in `many`, one each in `a` and
    /// `c`, and `b` paused with none: four queues.
    func filled(_ cluster: TestPostgres, _ flags: [String] = []) throws -> (DocketdProcess, LineClient, String) {
        let (server, database) = try docketd(on: cluster, flags)
        let client = try server.client()
        _ = try client.handshake()
        try client.send(String(repeating: "ENQ many 1\r\nx\r\n", count: Self.manyJobs) + "ENQ a 1\r\nx\r\nENQ c 1\r\nx\r\nPAUSE b\r\n")
        for _ in 0..<(Self.manyJobs + 2) { #expect(try client.readLine().hasPrefix("+OK ")) }
        #expect(try client.readLine() == "+OK")
        return (server, client, database)
    }

    /// The rows of docket.jobs (or, given no `table`, of every table of the `docket` schema)
    /// that `statement` (run as prepared with `arguments`) reads.
    func jobRowsRead(
        _ cluster: TestPostgres, _ database: String, _ statement: String, types: String = "", arguments: String = "",
        table: String? = "docket.jobs"
    ) throws -> Int {
        let call = types.isEmpty ? "EXECUTE measured" : "EXECUTE measured(\(arguments))"
        let output = try cluster.psql(
            database,
            """
            ANALYZE docket.jobs;
            ANALYZE docket.queue_names;
            BEGIN;
            PREPARE measured\(types.isEmpty ? "" : "(\(types))") AS \(statement);
            \(call);
            SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0) FROM pg_stat_xact_user_tables
            WHERE \(table.map { "relid = '\($0)'::regclass" } ?? "schemaname = 'docket'");
            COMMIT;
            """)
        return try #require(Int(output.split(separator: "\n").last.map(String.init) ?? ""), "psql printed \(output)")
    }

    @Test func aPageOfQueuesReadsNoJobOfTheQueuesItPassesOver() throws {
        guard let cluster = try cluster() else { return }
        let (server, client, database) = try filled(cluster)
        let page = try #require(client.document("QUEUES limit=3") as? [[String: Any]])
        #expect(page.compactMap { $0["queue"] as? String } == ["a", "b", "c"])
        let rest = try #require(client.document("QUEUES after=c") as? [[String: Any]])
        #expect(rest.compactMap { $0["queue"] as? String } == ["many"])

        // A page of three: a handful of index lookups, none of `many`'s jobs.
        let read = try jobRowsRead(cluster, database, PostgresJobStore.queueNamesPage, types: "text, integer", arguments: "'', 3")
        #expect(read < 20, "a page of 3 queue names read \(read) rows of docket.jobs")
        #expect(server.stop() == 0)
    }

    @Test func statsCountsJobsAndQueuesWithoutReadingThem() throws {
        guard let cluster = try cluster() else { return }
        let (server, client, database) = try filled(cluster)
        let stats = try client.object("STATS")
        #expect(stats["jobs"] as? Int == Self.manyJobs + 2)
        #expect(stats["queues"] as? Int == 4)

        let read = try jobRowsRead(cluster, database, PostgresJobStore.jobAndQueueCounts)
        #expect(read < 20, "counting jobs and queues read \(read) rows of docket.jobs")
        #expect(server.stop() == 0)
    }

    /// STATS counts queues without looking each one up (schema version 30): once the changes
    /// are folded in, it reads a few rows of the whole schema however many queues there are.
    @Test func statsReadsAFewRowsHoweverManyQueuesThereAre() throws {
        guard let cluster = try cluster() else { return }
        let (server, client, database) = try filled(cluster)
        let queues = 300
        try client.send((0..<queues).map { "ENQ q\($0) 1\r\nx\r\n" }.joined())
        for _ in 0..<queues { #expect(try client.readLine().hasPrefix("+OK ")) }
        try waitForTheFold(cluster, database)
        let stats = try client.object("STATS")
        #expect(stats["queues"] as? Int == 4 + queues)

        let read = try jobRowsRead(cluster, database, PostgresJobStore.jobAndQueueCounts, table: nil)
        #expect(read < 20, "counting jobs and \(4 + queues) queues read \(read) rows")
        #expect(server.stop() == 0)
    }

    /// Waits until docketd (about once a second) has folded the changes into the counts.
    func waitForTheFold(_ cluster: TestPostgres, _ database: String) throws {
        let deadline = Date().addingTimeInterval(30)
        while try cluster.psql(database, "SELECT count(*) FROM docket.job_changes").trimmingCharacters(in: .whitespacesAndNewlines) != "0" {
            try #require(Date() < deadline, "the counts' changes were not folded in 30 s")
            usleep(50_000)
        }
    }

    /// STATS' job count follows every way jobs come and go: ENQ, retention's trims (inside
    /// ACK), DEL, PURGE, a queue emptied (no longer counted as a queue); before the changes are
    /// folded into the count and after.
    @Test func statsCountsWhatTheTableHoldsThroughEveryChange() throws {
        guard let cluster = try cluster() else { return }
        let (server, client, database) = try filled(cluster, ["--keep-completed", "2"])
        func expectCounted(_ when: String) throws {
            let stats = try client.object("STATS")
            // A queue exists while it has a job or settings.
            let table = try cluster.psql(
                database,
                "SELECT count(*), (SELECT count(*) FROM (SELECT queue FROM docket.jobs UNION SELECT name FROM docket.queues) q) FROM docket.jobs")
            let counts = table.split(separator: "|").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            #expect(stats["jobs"] as? Int == counts.first, "\(when): STATS \(stats["jobs"] ?? "nil"), table \(table)")
            #expect(stats["queues"] as? Int == counts.last, "\(when): STATS \(stats["queues"] ?? "nil"), table \(table)")
        }
        for _ in 0..<5 {
            try client.line("RESERVE many timeout=0")
            let id = try #require(client.readMessage().0.split(separator: " ").dropFirst().first)
            try client.line("ACK \(id)")
            #expect(try client.readLine() == "+OK")
        }
        try client.line("DEL \(Self.manyJobs + 1)")  // the job of `a`
        #expect(try client.readLine() == "+OK")
        try client.line("PURGE many state=waiting")
        #expect(try client.readLine().hasPrefix("+OK"))
        try expectCounted("unfolded")

        // docketd folds the changes into the count about once a second.
        try waitForTheFold(cluster, database)
        try expectCounted("folded")
        try client.send("ENQ d 1\r\nx\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))
        try expectCounted("after another ENQ")

        // An emptied queue given settings exists again; one made and emptied between two folds
        // does not.
        try client.send("PAUSE a\r\nENQ e 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK")
        let e = try #require(client.readLine().split(separator: " ").dropFirst().first)
        try client.line("DEL \(e)")
        #expect(try client.readLine() == "+OK")
        try expectCounted("settings and a queue emptied, unfolded")
        try waitForTheFold(cluster, database)
        try expectCounted("settings and a queue emptied, folded")
        #expect(server.stop() == 0)
    }
}

extension PostgresStoreTests {
    /// The dashboard's snapshot reads its queues a chunk at a time, so that clients' commands
    /// go between the chunks rather than after every queue's statements (at 100,000 queues a
    /// QUEUE waited 16 s); it still reads every queue, as `/varz` shows.
    @Test func theDashboardsSnapshotReadsEveryQueueAChunkAtATime() throws {
        guard let cluster = try cluster() else { return }
        let (server, _) = try docketd(on: cluster, ["-m", "0"])
        let client = try server.client()
        _ = try client.handshake()
        let queues = 600  // two chunks and some
        try client.send((0..<queues).map { "ENQ q\($0) 1\r\nx\r\n" }.joined())
        for _ in 0..<queues { #expect(try client.readLine().hasPrefix("+OK ")) }
        let deadline = Date().addingTimeInterval(60)
        var varz: [String: Any] = [:]
        while varz["queues"] as? Int != queues {
            try #require(Date() < deadline, "no snapshot of \(queues) queues in 60 s: \(varz["queues"] ?? "nil")")
            usleep(100_000)
            varz = try #require(JSONSerialization.jsonObject(with: Data(server.httpGet("/varz").body.utf8)) as? [String: Any])
        }
        #expect(varz["jobs"] as? Int == queues)
        #expect(server.stop() == 0)
    }
}

extension PostgresStoreTests {
    /// The names of queues that no longer exist are removed (schema version 31): docketd
    /// sweeps them after the fold that saw the queue go.
    @Test func anEmptiedQueueLosesItsName() throws {
        guard let cluster = try cluster() else { return }
        let (server, client, database) = try filled(cluster)
        try client.send("ENQ z 1\r\nx\r\n")
        let id = try #require(client.readLine().split(separator: " ").dropFirst().first)
        #expect(try cluster.psql(database, "SELECT count(*) FROM docket.queue_names WHERE name = 'z'").hasPrefix("1"))
        try client.line("DEL \(id)")
        #expect(try client.readLine() == "+OK")
        let deadline = Date().addingTimeInterval(30)
        while try cluster.psql(database, "SELECT string_agg(name, ',' ORDER BY name) FROM docket.queue_names")
            .trimmingCharacters(in: .whitespacesAndNewlines) != "a,b,c,many"
        {
            try #require(Date() < deadline, "z's name was not removed in 30 s")
            usleep(50_000)
        }
        #expect(server.stop() == 0)
    }

    /// A sweep never removes the name of a queue that a transaction not yet committed is
    /// adding a job to. The sweep cannot see that job, and the transaction found the name
    /// there and took no lock on it: without the bucket locks the sweep removed it, and once
    /// the job committed its queue had a job and no name, never listed by QUEUES.
    @Test func aSweepLeavesTheNameOfAQueueAJobIsBeingAddedTo() throws {
        guard let cluster = try cluster() else { return }
        let (server, _, database) = try filled(cluster)
        #expect(server.stop() == 0)  // no sweep but this test's from here on
        // x and y emptied, their names still there, as a fold leaves them.
        _ = try cluster.psql(
            database,
            "INSERT INTO docket.queue_names VALUES ('x'), ('y'); INSERT INTO docket.emptied_names VALUES ('x'), ('y')")
        let committed = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            _ = try? cluster.psql(
                database,
                """
                BEGIN;
                INSERT INTO docket.jobs (queue, state, run_at, max_attempts, backoff_kind, backoff_base_ms, backoff_cap_ms, lease_ms, payload, enqueued_at)
                VALUES ('x', 'waiting', 0, 3, 'exp', 1000, 3600000, 30000, '\\x', 0);
                SELECT pg_sleep(3);
                COMMIT;
                """)
            committed.signal()
        }
        // The job is in, not committed, while the transaction sleeps.
        let deadline = Date().addingTimeInterval(30)
        while try cluster.psql(database, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
            .trimmingCharacters(in: .whitespacesAndNewlines) != "1"
        {
            try #require(Date() < deadline, "the transaction adding a job to x did not start in 30 s")
            usleep(20_000)
        }
        let removed = try cluster.psql(database, "SELECT docket.sweep_queue_names(100)")
        #expect(removed.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "the sweep removed \(removed) names")
        #expect(committed.wait(timeout: .now() + 60) == .success)
        let names = try cluster.psql(database, "SELECT string_agg(name, ',' ORDER BY name) FROM docket.queue_names")
        #expect(names.trimmingCharacters(in: .whitespacesAndNewlines) == "a,b,c,many,x")
        #expect(try cluster.psql(database, "SELECT count(*) FROM docket.jobs WHERE queue = 'x'").hasPrefix("1"))
        // x stays a candidate (its bucket was in use): the next sweep finds it has a job.
        #expect(try cluster.psql(database, "SELECT docket.sweep_queue_names(100)").hasPrefix("0"))
        #expect(try cluster.psql(database, "SELECT count(*) FROM docket.emptied_names").hasPrefix("0"))
    }
}
