import DocketPostgres
import DocketTestSupport
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class ConnectionTests: PostgresTestCase {
    func testConnectsAndAnswersInText() throws {
        let connection = try connect()
        XCTAssertGreaterThanOrEqual(connection.interest.socket, 0)
        XCTAssertTrue(connection.interest.read)
        let result = try connection.run(
            "SELECT 1::int AS one, NULL::text AS nothing, '\\x00ff41'::bytea AS bytes, $1::text AS echoed, true AS yes",
            [.text("héllo")], on: loop)
        XCTAssertEqual(result.columns, ["one", "nothing", "bytes", "echoed", "yes"])
        XCTAssertEqual(result.rows.count, 1)
        let row = result.rows[0]
        XCTAssertEqual(row.int(0), 1)
        XCTAssertNil(row[1])
        XCTAssertEqual(row.bytes(2), [0, 255, 65])
        XCTAssertEqual(row.string(3), "héllo")
        XCTAssertEqual(row.bool(4), true)
    }

    /// A server that says nothing while it owes an answer is taken for lost by `closeIfSilent`
    /// (libpq would wait for TCP, hours): the statement in flight fails as a lost connection
    /// (its outcome unknown), and the failure says why. A connection owing nothing is left
    /// alone however long it is quiet, and one that hears from the server starts counting again.
    func testASilentServerIsTakenForLost() throws {
        let connection = try connect()
        let clock = { Int64(Date().timeIntervalSince1970 * 1000) }
        loop.idle(seconds: 0.3)
        for _ in 0..<3 {
            XCTAssertFalse(connection.closeIfSilent(longerThan: 100, now: clock()), "owes nothing")
            loop.idle(seconds: 0.15)
        }
        // Answers that come, however slowly, keep it open.
        let quick = try connection.run("SELECT pg_sleep(0.05)", on: loop)
        XCTAssertEqual(quick.rows.count, 1)

        var outcome: Result<PostgresResult, PostgresError>?
        connection.query("SELECT pg_sleep(5)") { outcome = $0 }
        var closed = false
        loop.run(timeout: 4) {
            closed = connection.closeIfSilent(longerThan: 500, now: clock())
            return closed || outcome != nil
        }
        XCTAssertTrue(closed)
        loop.run(timeout: 2) { outcome != nil }
        guard case .failure(let error) = outcome else { return XCTFail("\(String(describing: outcome))") }
        XCTAssertEqual(error.kind, .connection)
        XCTAssertTrue(error.message.contains("no answer from the database"), error.message)
        XCTAssertEqual(connection.state, .closed)
    }

    /// An owner that gives a connection up because of something it knows (another connection
    /// to the same server found silent) passes the reason on: the statement in flight fails as
    /// a lost connection saying so, and one never sent fails as closed, saying so too. Closed
    /// without a reason, the in-flight one only says it was closed.
    func testAnOwnerClosingWithAReasonTellsTheUnanswered() throws {
        let connection = try connect()
        var inFlight: Result<PostgresResult, PostgresError>?
        var unsent: Result<PostgresResult, PostgresError>?
        connection.query("SELECT pg_sleep(5)") { inFlight = $0 }
        loop.idle(seconds: 0.2)
        connection.execute("SELECT 'not sent'") { unsent = $0 }
        connection.close(because: "no answer from the database for 2 s (the server stopped answering)")
        loop.run(timeout: 2) { inFlight != nil && unsent != nil }
        XCTAssertEqual(inFlight?.failure?.kind, .connection)
        XCTAssertEqual(inFlight?.failure?.message, "no answer from the database for 2 s (the server stopped answering)")
        XCTAssertEqual(unsent?.failure?.kind, .closed)
        XCTAssertTrue(unsent?.failure?.message.contains("no answer from the database for 2 s") == true, "\(String(describing: unsent))")

        let other = try connect()
        var plain: Result<PostgresResult, PostgresError>?
        other.query("SELECT pg_sleep(5)") { plain = $0 }
        loop.idle(seconds: 0.2)
        other.close()
        loop.run(timeout: 2) { plain != nil }
        XCTAssertEqual(plain?.failure?.kind, .connection)
        XCTAssertEqual(plain?.failure?.message, "the connection was closed before the answer came")
    }

    /// A server that accepts the TCP connection and never answers: the connection being made is
    /// taken for lost too (libpq's `connect_timeout` does not apply to a non-blocking connect).
    func testAServerThatNeverAnswersTheConnectIsTakenForLost() throws {
        let (listener, port) = try LoopbackListener.open(backlog: 4)
        defer { Glibc.close(listener) }
        let connection = PostgresConnection("host=127.0.0.1 port=\(port) user=nobody dbname=nothing connect_timeout=1")
        loop.add(connection)
        connection.start()
        let clock = { Int64(Date().timeIntervalSince1970 * 1000) }
        var closed = false
        loop.run(timeout: 4) {
            closed = connection.closeIfSilent(longerThan: 500, now: clock())
            return closed || connection.state == .closed
        }
        XCTAssertTrue(closed, "\(String(describing: connection.failure))")
        XCTAssertEqual(connection.state, .closed)
        XCTAssertTrue(connection.failure?.message.contains("no connection to the database within") == true, "\(String(describing: connection.failure))")
    }

    func testBinaryParametersAndArraysRoundTrip() throws {
        let connection = try connect()
        let everyByte = [UInt8](0...255)
        let bytes = try connection.run("SELECT $1::bytea, length($1::bytea)", [.binary(everyByte)], on: loop)
        XCTAssertEqual(bytes.rows[0].bytes(0), everyByte)
        XCTAssertEqual(bytes.rows[0].int(1), 256)
        let empty = try connection.run("SELECT $1::bytea = ''::bytea", [.binary([])], on: loop)
        XCTAssertEqual(empty.rows[0].bool(0), true)

        let arrays = try connection.run(
            """
            SELECT i, b, t, x, d, n FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::int[], $5::float8[])
                WITH ORDINALITY AS a(i, b, t, x, d, n) ORDER BY n
            """,
            [
                .bigintArray([1, nil, -9_000_000_000]), .byteaArray([[0, 1], nil, []]), .textArray(["a", "ß", nil]),
                .intArray([7, 8, nil]), .doubleArray([0.25, nil, 1]),
            ], on: loop)
        XCTAssertEqual(arrays.rows.map { $0.int64(0) }, [1, nil, -9_000_000_000])
        XCTAssertEqual(arrays.rows.map { $0.bytes(1) }, [[0, 1], nil, []])
        XCTAssertEqual(arrays.rows.map { $0.string(2) }, ["a", "ß", nil])
        XCTAssertEqual(arrays.rows.map { $0.int(3) }, [7, 8, nil])
        XCTAssertEqual(arrays.rows.map { $0.double(4) }, [0.25, nil, 1])
        let none = try connection.run("SELECT cardinality($1::bigint[])", [.bigintArray([])], on: loop)
        XCTAssertEqual(none.rows[0].int(0), 0)
    }

    /// Hundreds of transactions are sent before the first answer comes back (pipeline mode),
    /// and the answers come back in order.
    func testManyQueriesInFlightAnswerInOrder() throws {
        let connection = try connect()
        let count = 500
        var answers: [Int] = []
        var failures: [PostgresError] = []
        for index in 0..<count {
            connection.query("SELECT $1::int", [.int(index)]) { result in
                switch result {
                case .success(let rows): answers.append(rows.rows[0].int(0) ?? -1)
                case .failure(let error): failures.append(error)
                }
            }
        }
        // Everything was handed to libpq in the calls above: all of it is in flight at once.
        XCTAssertEqual(connection.pendingStatements, count)
        XCTAssertTrue(answers.isEmpty)
        loop.run { answers.count + failures.count == count }
        XCTAssertEqual(failures, [])
        XCTAssertEqual(answers, Array(0..<count))
        XCTAssertEqual(connection.pendingStatements, 0)
    }

    /// Statements executed together commit together: one failure takes the whole transaction
    /// back, and the connection goes on with the next one.
    func testAFailedStatementRollsBackItsTransaction() throws {
        let connection = try connect()
        _ = try connection.run("CREATE TABLE t (v int PRIMARY KEY)", on: loop)
        var outcomes: [Result<PostgresResult, PostgresError>] = []
        var committed: Result<Void, PostgresError>?
        connection.execute("INSERT INTO t VALUES (1)") { outcomes.append($0) }
        connection.execute("INSERT INTO t VALUES (1)") { outcomes.append($0) }
        connection.execute("INSERT INTO t VALUES (2)") { outcomes.append($0) }
        connection.commit { committed = $0 }
        var next: Result<PostgresResult, PostgresError>?
        connection.query("INSERT INTO t VALUES (3) RETURNING v") { next = $0 }
        loop.run { next != nil }
        XCTAssertEqual(outcomes.count, 3)
        XCTAssertEqual(outcomes[0].failure?.kind, .rolledBack)
        XCTAssertEqual(outcomes[0].failure?.sqlState, "23505")
        XCTAssertEqual(outcomes[1].failure?.kind, .server)
        XCTAssertEqual(outcomes[1].failure?.sqlState, "23505")
        XCTAssertEqual(outcomes[2].failure?.kind, .aborted)
        XCTAssertEqual(committed?.failure?.sqlState, "23505")
        XCTAssertEqual(try next?.get().rows[0].int(0), 3)
        let rows = try connection.run("SELECT v FROM t ORDER BY v", on: loop)
        XCTAssertEqual(rows.rows.map { $0.int(0) }, [3])
    }

    /// A statement is parsed once per connection: its `Parse` goes in a segment of its own, so
    /// a transaction that fails around its first use cannot undo it, and SQL that does not parse
    /// fails with its own error every time. Past the limit, statements go unprepared.
    func testStatementsArePreparedOnceAndFailWithTheirOwnErrors() throws {
        let connection = try connect()
        let preparedCount = "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1::text"
        for value in 0..<3 {
            XCTAssertEqual(try connection.run("SELECT $1::int + 1", [.int(value)], on: loop).rows[0].int(0), value + 1)
        }
        XCTAssertEqual(try connection.run(preparedCount, [.text("SELECT $1::int + 1")], on: loop).rows[0].int(0), 1)

        // First used after a statement that fails: the transaction fails, the preparation stays.
        _ = try connection.run("CREATE TABLE t (v int PRIMARY KEY)", on: loop)
        var outcomes: [Result<PostgresResult, PostgresError>] = []
        connection.execute("INSERT INTO t VALUES (1), (1)") { outcomes.append($0) }
        connection.execute("SELECT 40 + $1::int", [.int(2)]) { outcomes.append($0) }
        var committed: Result<Void, PostgresError>?
        connection.commit { committed = $0 }
        loop.run { committed != nil }
        XCTAssertEqual(outcomes.map { $0.failure?.kind }, [.server, .aborted])
        XCTAssertEqual(try connection.run("SELECT 40 + $1::int", [.int(2)], on: loop).rows[0].int(0), 42)
        XCTAssertEqual(try connection.run(preparedCount, [.text("SELECT 40 + $1::int")], on: loop).rows[0].int(0), 1)

        // SQL that does not parse: its own error, the first time and after.
        for _ in 0..<2 {
            XCTAssertThrowsError(try connection.run("SELEC 1", on: loop)) { error in
                XCTAssertEqual((error as? PostgresError)?.sqlState, "42601")
            }
        }
        XCTAssertEqual(try connection.run("SELECT 1", on: loop).rows[0].int(0), 1)

        // A Parse that fails while another is pending: the next statement still gets a name of
        // its own (a name is never given twice).
        var answered = 0
        connection.query("SELEC 2") { _ in answered += 1 }
        connection.query("SELECT 2::int") { _ in answered += 1 }
        loop.run { answered == 2 }
        XCTAssertEqual(try connection.run("SELECT 3::int", on: loop).rows[0].int(0), 3)
        XCTAssertEqual(try connection.run(preparedCount, [.text("SELECT 3::int")], on: loop).rows[0].int(0), 1)

        // More distinct statements than the limit: all answered, at most the limit prepared.
        for index in 0..<(PostgresConnection.preparedLimit + 10) {
            XCTAssertEqual(try connection.run("SELECT \(index)::int", on: loop).rows[0].int(0), index)
        }
        let total = try connection.run("SELECT count(*) FROM pg_prepared_statements", on: loop).rows[0].int(0)
        XCTAssertEqual(total, PostgresConnection.preparedLimit)
    }

    /// Two connections lock two rows in opposite orders: the server breaks the deadlock by
    /// failing one transaction (40P01), which its connection sends again by itself; both
    /// callers see only success. With no resends allowed, the victim's failure is told.
    func testADeadlockVictimIsSentAgain() throws {
        let first = try connect()
        let second = try connect()
        _ = try first.run("CREATE TABLE r (id int PRIMARY KEY, v int)", on: loop)
        _ = try first.run("INSERT INTO r VALUES (1, 0), (2, 0)", on: loop)
        // The test cluster's user is a superuser: the deadlock is found in 0.1 s, not 1 s.
        for connection in [first, second] { _ = try connection.run("SET deadlock_timeout = '100ms'", on: loop) }
        func crossing(_ resendLimit: Int) -> [Result<Void, PostgresError>] {
            first.resendLimit = resendLimit
            second.resendLimit = resendLimit
            var outcomes: [Result<Void, PostgresError>] = []
            for (connection, order) in [(first, [1, 2]), (second, [2, 1])] {
                connection.execute("UPDATE r SET v = v + 1 WHERE id = \(order[0])") { _ in }
                connection.execute("SELECT pg_sleep(0.3)") { _ in }
                connection.execute("UPDATE r SET v = v + 1 WHERE id = \(order[1])") { _ in }
                connection.commit { outcomes.append($0) }
            }
            loop.run(timeout: 20) { outcomes.count == 2 }
            return outcomes
        }
        let resent = first.resentTransactions + second.resentTransactions
        XCTAssertTrue(crossing(3).allSatisfy { (try? $0.get()) != nil })
        // Sent again at once, the victim may take its first row back before the winner wakes
        // to take it, and the two cross again (seen on a loaded machine): what the limit is for.
        let resends = first.resentTransactions + second.resentTransactions - resent
        XCTAssertTrue((1...3).contains(resends), "\(resends) resends")
        XCTAssertEqual(try first.run("SELECT sum(v) FROM r", on: loop).rows[0].int(0), 4, "both transactions counted once")
        let told = crossing(0)
        XCTAssertEqual(told.compactMap { $0.failure?.sqlState }, ["40P01"])
    }

    /// A two-step commit: the statements' completions run before the commit, told so; the
    /// finishing statements see what they did, in the same transaction; another connection
    /// sees nothing of it until it commits; a transaction committed meanwhile runs after it.
    func testATwoStepCommitTellsResultsBeforeCommitting() throws {
        let connection = try connect()
        let other = try connect()
        _ = try connection.run("CREATE TABLE s (v int PRIMARY KEY)", on: loop)
        var steps: [String] = []
        var seenElsewhere: Int?
        connection.execute("INSERT INTO s VALUES (1) RETURNING v") { result in
            steps.append("inserted \((try? result.get().rows[0].int(0)).flatMap { $0 } ?? -1), uncommitted: \(connection.isTellingUncommittedResults)")
            // A later transaction, asked for now: it must not run inside this one.
            connection.query("SELECT count(*) FROM s") { steps.append("after: \((try? $0.get().rows[0].int(0)).flatMap { $0 } ?? -1)") }
        }
        connection.commit(finishing: {
            steps.append("finishing")
            // Held open in the database: another connection does not see the row yet.
            seenElsewhere = try? other.run("SELECT count(*) FROM s", on: self.loop).rows[0].int(0)
            return [PostgresStatement("SELECT count(*) FROM s") { steps.append("counted \((try? $0.get().rows[0].int(0)).flatMap { $0 } ?? -1)") }]
        }) { steps.append("committed: \((try? $0.get()) != nil)") }
        loop.run { steps.count == 5 }
        XCTAssertEqual(steps, ["inserted 1, uncommitted: true", "finishing", "counted 1", "committed: true", "after: 1"])
        XCTAssertEqual(seenElsewhere, 0)
        XCTAssertFalse(connection.isTellingUncommittedResults)
        XCTAssertEqual(try other.run("SELECT count(*) FROM s", on: loop).rows[0].int(0), 1)
    }

    /// A failure in the first step rolls the transaction back as a whole one's does, without
    /// finishing it; a failure in the finishing statements rolls back what the first step did
    /// (its completions ran already) and fails the commit. Either way the connection goes on.
    func testATwoStepCommitThatFailsRollsBackAndGoesOn() throws {
        let connection = try connect()
        _ = try connection.run("CREATE TABLE f (v int PRIMARY KEY)", on: loop)
        _ = try connection.run("INSERT INTO f VALUES (1)", on: loop)

        var first: [Result<PostgresResult, PostgresError>] = []
        var finished = false
        var committed: Result<Void, PostgresError>?
        connection.execute("INSERT INTO f VALUES (2)") { first.append($0) }
        connection.execute("INSERT INTO f VALUES (1)") { first.append($0) }
        connection.commit(finishing: {
            finished = true
            return []
        }) { committed = $0 }
        var next: Result<PostgresResult, PostgresError>?
        connection.query("INSERT INTO f VALUES (3) RETURNING v") { next = $0 }
        loop.run { next != nil }
        XCTAssertFalse(finished)
        XCTAssertEqual(first.map { $0.failure?.kind }, [.rolledBack, .server])
        XCTAssertEqual(committed?.failure?.sqlState, "23505")
        XCTAssertEqual(try next?.get().rows[0].int(0), 3)

        var told: Result<PostgresResult, PostgresError>?
        var finishing: Result<PostgresResult, PostgresError>?
        committed = nil
        next = nil
        connection.execute("INSERT INTO f VALUES (4)") { told = $0 }
        connection.commit(finishing: {
            [PostgresStatement("INSERT INTO f VALUES (1)") { finishing = $0 }]
        }) { committed = $0 }
        connection.query("INSERT INTO f VALUES (5) RETURNING v") { next = $0 }
        loop.run { next != nil }
        XCTAssertNotNil(try told?.get(), "told before the commit")
        XCTAssertEqual(finishing?.failure?.sqlState, "23505")
        XCTAssertEqual(committed?.failure?.sqlState, "23505")
        XCTAssertEqual(try next?.get().rows[0].int(0), 5, "the next transaction ran outside the failed block")
        XCTAssertEqual(try connection.run("SELECT v FROM f ORDER BY v", on: loop).rows.map { $0.int(0) }, [1, 3, 5])
    }

    /// The connection is lost while a two-step transaction is open in the database: the
    /// finishing statements and the commit fail, and nothing of it was committed.
    func testATwoStepCommitCutOffBetweenItsStepsFails() throws {
        let victim = try connect()
        let admin = try connect()
        _ = try admin.run("CREATE TABLE c (v int)", on: loop)
        let pid = try XCTUnwrap(try victim.run("SELECT pg_backend_pid()", on: loop).rows[0].int(0))
        var finishing: Result<PostgresResult, PostgresError>?
        var committed: Result<Void, PostgresError>?
        victim.execute("INSERT INTO c VALUES (1)") { _ in
            // Between the steps: the server ends the connection before the commit is sent.
            _ = try? admin.run("SELECT pg_terminate_backend($1::int)", [.int(pid)], on: self.loop)
            self.loop.run(timeout: 5) { victim.state == .closed }
        }
        victim.commit(finishing: { [PostgresStatement("SELECT 1") { finishing = $0 }] }) { committed = $0 }
        loop.run(timeout: 10) { committed != nil }
        XCTAssertNotNil(finishing?.failure)
        XCTAssertNotNil(committed?.failure)
        XCTAssertEqual(try admin.run("SELECT count(*) FROM c", on: loop).rows[0].int(0), 0)
    }

    /// A transaction whose commit fails (a deferred constraint) fails every statement of it.
    func testACommitThatFailsFailsEveryStatement() throws {
        let connection = try connect()
        _ = try connection.run("CREATE TABLE d (v int UNIQUE DEFERRABLE INITIALLY DEFERRED)", on: loop)
        var outcomes: [Result<PostgresResult, PostgresError>] = []
        var committed: Result<Void, PostgresError>?
        connection.execute("INSERT INTO d VALUES (1)") { outcomes.append($0) }
        connection.execute("INSERT INTO d VALUES (1)") { outcomes.append($0) }
        connection.commit { committed = $0 }
        loop.run { committed != nil }
        XCTAssertEqual(outcomes.map { $0.failure?.kind }, [.rolledBack, .rolledBack])
        XCTAssertEqual(committed?.failure?.sqlState, "23505")
        XCTAssertEqual(try connection.run("SELECT count(*) FROM d", on: loop).rows[0].int(0), 0)
    }

    func testListenNotifyArrivesAfterCommit() throws {
        let listener = try connect()
        let sender = try connect()
        var heard: [PostgresNotification] = []
        listener.onNotification = { heard.append($0) }
        _ = try listener.run("LISTEN docket_test", on: loop)
        let pid = try listener.run("SELECT pg_backend_pid()", on: loop).rows[0].int(0)

        // A NOTIFY in a transaction that is still open is not heard.
        var first: Result<PostgresResult, PostgresError>?
        sender.execute("SELECT pg_notify('docket_test', 'one')") { first = $0 }
        loop.idle(seconds: 0.1)
        XCTAssertNil(first)
        XCTAssertTrue(heard.isEmpty)
        sender.execute("SELECT pg_notify('docket_test', 'two')") { _ in }
        sender.commit()
        loop.run { heard.count == 2 }
        XCTAssertEqual(heard.map(\.payload), ["one", "two"])
        XCTAssertEqual(heard.first?.channel, "docket_test")
        XCTAssertNotEqual(heard.first?.senderPID, Int32(pid ?? 0))
    }

    /// The server ends the connection (pg_terminate_backend): every query still waiting fails
    /// with a connection error, the state says closed, and later queries fail at once.
    func testConnectionLossFailsEveryPendingQuery() throws {
        let victim = try connect()
        let admin = try connect()
        var states: [PostgresConnection.State] = []
        victim.onStateChange = { states.append($0) }
        var interests: [PostgresConnection.Interest] = []
        victim.onInterestChange = { interests.append($0) }
        let pid = try XCTUnwrap(try victim.run("SELECT pg_backend_pid()", on: loop).rows[0].int(0))

        var outcomes: [Result<PostgresResult, PostgresError>] = []
        victim.query("SELECT pg_sleep(20)") { outcomes.append($0) }
        for index in 0..<5 { victim.query("SELECT \(index)") { outcomes.append($0) } }
        victim.execute("SELECT 'never committed'") { outcomes.append($0) }
        loop.idle(seconds: 0.2)
        XCTAssertTrue(outcomes.isEmpty)

        let terminated = try admin.run("SELECT pg_terminate_backend($1::int)", [.int(pid)], on: loop)
        XCTAssertEqual(terminated.rows[0].bool(0), true)
        loop.run(timeout: 10) { outcomes.count == 7 }
        XCTAssertEqual(outcomes.prefix(6).map { $0.failure?.kind }, Array(repeating: .connection, count: 6))
        XCTAssertEqual(outcomes.last?.failure?.kind, .closed)
        XCTAssertEqual(victim.state, .closed)
        XCTAssertEqual(states, [.closed])
        XCTAssertEqual(victim.interest, .none)
        XCTAssertEqual(interests.last, PostgresConnection.Interest.none)
        XCTAssertNotNil(victim.failure)

        var late: Result<PostgresResult, PostgresError>?
        victim.query("SELECT 1") { late = $0 }
        XCTAssertEqual(late?.failure?.kind, .closed)
        // The other connection is untouched.
        XCTAssertEqual(try admin.run("SELECT 2", on: loop).rows[0].int(0), 2)
    }

    /// More than the socket takes at once: the connection asks to be told when it can write,
    /// and finishes sending from `socketWritable()`.
    func testLargeStatementsGoOutThroughWriteInterest() throws {
        let connection = try connect()
        var wantedWrite = false
        connection.onInterestChange = { if $0.write { wantedWrite = true } }
        var big = [UInt8](repeating: 0x5a, count: 6 << 20)
        for index in stride(from: 0, to: big.count, by: 997) { big[index] = UInt8(truncatingIfNeeded: index) }
        var answers: [Result<PostgresResult, PostgresError>] = []
        // The backend reads nothing while it sleeps, so the socket holds only what the receive
        // window of a new connection takes: without the pause a backend reading as fast as the
        // writes came (the window here grows to 32 MiB) once took all 12 MiB at once in CI.
        var slept = false
        connection.query("SELECT pg_sleep(0.3)") { _ in slept = true }
        for _ in 0..<2 {
            connection.query("SELECT length($1::bytea), md5($1::bytea)", [.binary(big)]) { answers.append($0) }
        }
        XCTAssertTrue(connection.interest.write)
        loop.run(timeout: 30) { answers.count == 2 }
        XCTAssertTrue(slept && wantedWrite)
        XCTAssertFalse(connection.interest.write)
        for answer in answers { XCTAssertEqual(try answer.get().rows[0].int(0), big.count) }
        let echoed = try connection.run("SELECT $1::bytea", [.binary(Array(big.prefix(1 << 20)))], on: loop)
        XCTAssertEqual(echoed.rows[0].bytes(0), Array(big.prefix(1 << 20)))
    }

    /// Which connection strings name a host libpq would resolve by blocking, and the port.
    func testHostToResolve() {
        let url = PostgresConnection.hostToResolve("postgres://u@db.internal/x")
        XCTAssertEqual(url?.host, "db.internal")
        XCTAssertEqual(url?.port, 5432)
        let keywords = PostgresConnection.hostToResolve("host=localhost port=6000 dbname=x")
        XCTAssertEqual(keywords?.host, "localhost")
        XCTAssertEqual(keywords?.port, 6000)
        for numeric in [
            "host=127.0.0.1 dbname=x", "postgres://u@[::1]:5432/x", "host=/var/run/postgresql", "host=db hostaddr=10.0.0.1",
            "host=a,b dbname=x", "dbname=x", "postgres://u@db:70000/x", "this is = not parseable '",
        ] {
            XCTAssertNil(PostgresConnection.hostToResolve(numeric), numeric)
        }
    }

    /// A host name with its addresses given: libpq connects to them and never looks the name up
    /// (the name here resolves nowhere), and an address that refuses is followed by the next.
    func testConnectsToTheAddressesItIsGiven() throws {
        let conninfo = server.conninfo(database: database).replacingOccurrences(of: "host=127.0.0.1", with: "host=docket-unresolvable.invalid")
        // Nothing listens on 127.0.0.2 (the test cluster listens on 127.0.0.1 only).
        let connection = PostgresConnection(conninfo, hostAddresses: ["127.0.0.2", "127.0.0.1"])
        loop.add(connection)
        connection.start()
        defer { connection.close() }
        try loop.ready(connection)
        XCTAssertEqual(try connection.run("SELECT 1", on: loop).rows[0].int(0), 1)
    }

    func testConnectingToNothingFails() throws {
        let connection = loop.connect("host=127.0.0.1 port=1 user=docket dbname=none connect_timeout=5")
        var outcome: Result<PostgresResult, PostgresError>?
        connection.query("SELECT 1") { outcome = $0 }
        loop.run { connection.state == .closed }
        loop.run { outcome != nil }
        XCTAssertEqual(connection.failure?.kind, .connection)
        XCTAssertEqual(outcome?.failure?.kind, .closed)
    }

    /// Statements executed while connecting go out once the connection is ready.
    func testStatementsWaitForTheConnection() throws {
        let connection = loop.connect(server.conninfo(database: database))
        XCTAssertEqual(connection.state, .connecting)
        var answer: Result<PostgresResult, PostgresError>?
        connection.query("SELECT 42") { answer = $0 }
        loop.run { answer != nil }
        XCTAssertEqual(try answer?.get().rows[0].int(0), 42)
        connection.close()
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
