import DocketPostgres
import DocketWire
import Foundation
import XCTest

final class JobVerbTests: JobStoreTestCase {
    func testEnqueueReserveAckAndInspect() throws {
        let payload: [UInt8] = [0, 1, 2, 255, 0, 10, 13]
        var first = PostgresNewJob(queue: "email", payload: payload)
        first.key = Array("order-1".utf8)
        let answers = try enqueue([first, PostgresNewJob(queue: "email", payload: Array("two".utf8))])
        XCTAssertEqual(answers.map(\.duplicate), [false, false])
        XCTAssertLessThan(answers[0].id, answers[1].id)

        let job = try XCTUnwrap(try reserve(["email"]))
        XCTAssertEqual(job.id, answers[0].id)
        XCTAssertEqual(job.queue, "email")
        XCTAssertEqual(job.attempt, 1)
        XCTAssertEqual(job.payload, payload)
        XCTAssertEqual(job.leaseMilliseconds, 30_000)
        XCTAssertGreaterThan(job.delivery, 0)
        let active = try XCTUnwrap(try inspect(job.id))
        XCTAssertEqual(active.state, "active")
        XCTAssertEqual(active.leaseOwner, "owner-1")
        XCTAssertEqual(active.leaseExpiresAt, job.leaseExpiresAt)

        XCTAssertNoThrow(try ack(job.hold(), result: Array("sent".utf8)).get())
        let done = try XCTUnwrap(try inspect(job.id))
        XCTAssertEqual(done.state, "completed")
        XCTAssertEqual(done.result, Array("sent".utf8))
        XCTAssertNotNil(done.finishedAt)
        XCTAssertNil(done.leaseOwner)
        XCTAssertEqual(done.payloadBytes, payload.count)

        // The second job gets a new delivery number; nothing else is left.
        let second = try XCTUnwrap(try reserve(["email"]))
        XCTAssertEqual(second.id, answers[1].id)
        XCTAssertGreaterThan(second.delivery, job.delivery)
        XCTAssertNil(try reserve(["email"]))
        XCTAssertNil(try inspect(999_999))
    }

    /// Several owners in one call: the first named gets the job that runs first, each at most
    /// one, in the order and under the conditions of one RESERVE each; a queue with limits is
    /// claimed from one job at a time, so the limits hold within the call.
    func testOneCallReservesForSeveralOwnersInOrder() throws {
        let low = try enqueue("many", "low") { $0.priority = 5 }
        let high = try enqueue("many", "high") { $0.priority = -5 }
        let later = try enqueue("other", "later")
        let owners = ["w1", "w2", "w3", "w4"]
        let got: [PostgresReservation?] = try transaction { connection, done in
            store.reserve(queues: ["many", "other"], owners: owners, on: connection, completion: done)
        }.get()
        XCTAssertEqual(got.map { $0?.id }, [high, low, later, nil])
        XCTAssertEqual(got.compactMap { $0?.attempt }, [1, 1, 1])
        XCTAssertEqual(Set(got.compactMap { $0?.delivery }).count, 3, "a delivery number each")
        for (owner, job) in zip(owners, got) {
            guard let job else { continue }
            XCTAssertNoThrow(try ack(job.hold(owner: owner)).get(), "\(owner) holds job \(job.id)")
        }

        var settings = PostgresQueueSettings()
        settings.rate = .init(limit: 2, windowMilliseconds: 10_000)
        _ = try transaction { connection, done in store.setSettings(settings, queue: "capped", on: connection, completion: done) }.get()
        for index in 0..<4 { _ = try enqueue("capped", "\(index)") }
        let capped: [PostgresReservation?] = try transaction { connection, done in
            store.reserve(queues: ["capped"], owners: owners, on: connection, completion: done)
        }.get()
        XCTAssertEqual(capped.map { $0 != nil }, [true, true, false, false], "the rate holds within one call")
    }

    /// The INSPECT document has the LMDB engine's fields, in its order and formats.
    func testInspectDocumentMatchesTheEngine() throws {
        let id = try enqueue("docs", "hello") {
            $0.key = Array("k\"1".utf8)
            $0.group = Array("tenant".utf8)
            $0.priority = -5
            $0.backoff = .fixed(milliseconds: 2000)
            $0.leaseMilliseconds = 5000
        }
        let record = try XCTUnwrap(try inspect(id))
        let json = record.json
        let parsed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let engineFields = [
            "id", "queue", "state", "priority", "attempts", "max_attempts", "backoff", "jitter", "lease_ms", "key", "group",
            "enqueued_at", "run_at", "started_at", "finished_at", "progress", "progress_note", "last_error", "failed_attempts", "result",
            "payload_bytes", "expires_at",
        ]
        XCTAssertEqual(Set(parsed.keys), Set(engineFields))
        // In the engine's order.
        let positions = engineFields.map { json.range(of: "\"\($0)\":")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted())
        XCTAssertTrue(json.hasPrefix("{\"id\":\(id),\"queue\":\"docs\",\"state\":\"waiting\",\"priority\":-5,\"attempts\":0,\"max_attempts\":3,"))
        XCTAssertTrue(json.contains("\"backoff\":\"fixed:2000ms\",\"jitter\":0.0,\"lease_ms\":5000,\"key\":\"k\\\"1\",\"group\":\"tenant\","))
        XCTAssertTrue(json.contains("\"started_at\":null,\"finished_at\":null,\"progress\":0,\"progress_note\":null,\"last_error\":null,\"failed_attempts\":[],\"result\":null,\"payload_bytes\":5,\"expires_at\":null}"))
    }

    /// after=: blocked until the parents complete; a parent's death kills the child (and its
    /// children) unless it runs anyway; PARENTS reads the outcomes; `@n` names a row of the call.
    func testChildrenWaitForTheirParents() throws {
        let first = try enqueue("p")
        let second = try enqueue("p")
        var child = PostgresNewJob(queue: "c", payload: [])
        child.parents = [String(first), String(second)]
        var grandchild = PostgresNewJob(queue: "g", payload: [])
        grandchild.parents = ["@1"]
        var stubborn = PostgresNewJob(queue: "s", payload: [])
        stubborn.parents = [String(second)]
        stubborn.runsIfParentDies = true
        let made = try enqueue([child, grandchild, stubborn])
        XCTAssertEqual(made.map(\.state), ["blocked", "blocked", "blocked"])
        XCTAssertEqual(made[1].parents, [UInt64(made[0].id)])
        let one = try XCTUnwrap(try reserve(["p"]))
        XCTAssertNoThrow(try ack(one.hold(), result: Array("r1".utf8)).get())
        XCTAssertEqual(try inspect(made[0].id)?.state, "blocked")
        let two = try XCTUnwrap(try reserve(["p"]))
        _ = try fail(two.hold(), .never, reason: "broken").get()
        XCTAssertEqual(try inspect(made[0].id)?.lastError, Array("parent \(second) dead".utf8))
        XCTAssertEqual(try inspect(made[1].id)?.lastError, Array("parent \(made[0].id) dead".utf8))
        XCTAssertEqual(try inspect(made[2].id)?.state, "waiting")
        XCTAssertEqual(try inspect(first)?.children, [UInt64(made[0].id)])
        let parents = try transaction { connection, done in store.parents(of: made[0].id, on: connection, completion: done) }.get()
        XCTAssertEqual(parents?.map(\.state), ["completed", "dead"])
        XCTAssertEqual(parents?.first?.result, Array("r1".utf8))
    }

    /// PARENTS brings outcomes only while those before hold less than the budget; the later
    /// parents with an outcome come without it, marked, and those without one as they are.
    func testParentsOutcomesStopAtTheBudget() throws {
        var parents: [Int64] = []
        for index in 0..<4 {
            let id = try enqueue("p")
            parents.append(id)
            let held = try XCTUnwrap(try reserve(["p"]))
            // The third has no result.
            XCTAssertNoThrow(try ack(held.hold(), result: index == 2 ? nil : Array(repeating: UInt8(ascii: "r"), count: 1000)).get())
        }
        var child = PostgresNewJob(queue: "c", payload: [])
        child.parents = parents.map(String.init)
        let made = try enqueue([child])
        func read(budget: Int) throws -> [ParentView] {
            try XCTUnwrap(try transaction { connection, done in store.parents(of: made[0].id, budget: budget, on: connection, completion: done) }.get())
        }
        let cut = try read(budget: 1500)
        XCTAssertEqual(cut.map(\.id), parents.map(UInt64.init), "every parent is listed")
        XCTAssertEqual(cut.map { $0.result?.count }, [1000, 1000, nil, nil])
        XCTAssertEqual(cut.map(\.outcomeWithheld), [false, false, false, true])
        XCTAssertEqual(try read(budget: .max).map(\.outcomeWithheld), [false, false, false, false])
        XCTAssertEqual(
            ParentView.array(cut, budget: ReplyBudget(bytes: .max)).components(separatedBy: "\"truncated\":true").count, 2,
            "the withheld outcome is marked, however large the server's own budget")
    }

    func testDuplicateKeysAnswerTheExistingJob() throws {
        func keyed(_ queue: String, _ key: String) -> PostgresNewJob {
            var job = PostgresNewJob(queue: queue, payload: [])
            job.key = Array(key.utf8)
            return job
        }
        // Within one call: the second of two equal keys is a duplicate of the first.
        let batch = try enqueue([keyed("q", "a"), keyed("q", "a"), keyed("q", "b"), keyed("other", "a")])
        XCTAssertEqual(batch.map(\.duplicate), [false, true, false, false])
        XCTAssertEqual(batch[1].id, batch[0].id)
        XCTAssertNotEqual(batch[3].id, batch[0].id)
        // Later, and in any state while the job is kept.
        XCTAssertEqual(try enqueue([keyed("q", "a")]), [PostgresEnqueued(id: batch[0].id, duplicate: true, maxAttempts: 3, runAt: batch[0].runAt)])
        let job = try XCTUnwrap(try reserve(["q"]))
        XCTAssertNoThrow(try ack(job.hold()).get())
        XCTAssertEqual(
            try enqueue([keyed("q", "a")]),
            [PostgresEnqueued(id: batch[0].id, duplicate: true, maxAttempts: 3, runAt: batch[0].runAt, state: "completed")])
        // Once the job is deleted the key is free again.
        let deleted: Result<String, PostgresJobError> = try transaction { connection, done in
            store.delete(batch[0].id, on: connection, completion: done)
        }
        XCTAssertEqual(try deleted.get(), "q", "the deleted job's queue")
        let fresh = try enqueue([keyed("q", "a")])
        XCTAssertFalse(fresh[0].duplicate)
        XCTAssertGreaterThan(fresh[0].id, batch[3].id)
        let again: Result<String, PostgresJobError> = try transaction { connection, done in
            store.delete(batch[0].id, on: connection, completion: done)
        }
        XCTAssertEqual(again.failure, .notFound(batch[0].id))
    }

    /// Two transactions enqueue the same key at once: one creates it, the other is told it is a
    /// duplicate of that job, never an error.
    func testConcurrentDuplicateKeysAcrossConnections() throws {
        let other = try connect()
        var job = PostgresNewJob(queue: "q", payload: [])
        job.key = Array("same".utf8)
        var answers: [Result<[PostgresEnqueued], PostgresError>] = []
        for connection in [db!, other] {
            store.enqueue([job], on: connection) { answers.append($0) }
            connection.commit()
        }
        loop.run { answers.count == 2 }
        let results = try answers.map { try $0.get()[0] }
        XCTAssertEqual(results[0].id, results[1].id)
        XCTAssertEqual(results.map(\.duplicate).sorted { !$0 && $1 }, [false, true])
    }

    func testDelaysAndRunTimes() throws {
        try setNow(1_000_000)
        let delayed = try enqueue("later", "d") { $0.delayMilliseconds = 5000 }
        let at = try enqueue("later", "a") { $0.runAtMilliseconds = 1_003_000 }
        XCTAssertNil(try reserve(["later"]))
        XCTAssertEqual(try inspect(delayed)?.state, "delayed")
        XCTAssertEqual(try inspect(delayed)?.runAt, 1_005_000)
        let deadline: Int64? = try transaction { connection, done in store.nextDeadline(on: connection, completion: done) }.get()
        XCTAssertEqual(deadline, 1_003_000)
        try setNow(1_003_000)
        XCTAssertEqual(try reserve(["later"])?.id, at)
        XCTAssertNil(try reserve(["later"]))
        try setNow(1_005_000)
        XCTAssertEqual(try inspect(delayed)?.state, "waiting")
        XCTAssertEqual(try reserve(["later"])?.id, delayed)
    }

    /// The children a parent's end releases are kept for `number_events` only in a transaction
    /// opened for numbering, and taken there, in order: a thousand children of one parent are
    /// a thousand rows, not a value rebuilt per child; a transaction that numbers nothing
    /// keeps nothing.
    func testSettledChildrenAreKeptOnlyForTheNumbering() throws {
        let parent = try enqueue("p")
        let children = try enqueue((0..<1000).map { _ in
            var child = PostgresNewJob(queue: "c", payload: [])
            child.parents = [String(parent)]
            return child
        })
        let job = try XCTUnwrap(try reserve(["p"]))
        let numbers: Result<PostgresJobStore.EventNumbers, PostgresError> = try loop.wait { done in
            db.execute(store.eventNumberingOpening())
            store.ack(job.hold(), result: nil, on: db) { _ in }
            db.execute(store.eventNumbering([("p", 1)], completion: done))
            db.commit()
        }
        let told = try numbers.get()
        XCTAssertEqual(told.settled.count, 1000)
        XCTAssertEqual(told.last, ["p": 1, "c": 1000])
        XCTAssertEqual(told.settled.first?.child.contains("\"id\": \(children[0].id)"), true, "\(told.settled.first?.child ?? "")")
        XCTAssertTrue(told.settled.allSatisfy { $0.queue == "c" && $0.child.contains("unblocked") })
        XCTAssertEqual(try db.run("SELECT count(*) FROM docket.settled_children", on: loop).rows[0].int(0), 0)

        // Without the opening, nothing is kept.
        let other = try enqueue("p")
        var orphan = PostgresNewJob(queue: "c", payload: [])
        orphan.parents = [String(other)]
        _ = try enqueue([orphan])
        let second = try XCTUnwrap(try reserve(["p"]))
        XCTAssertNoThrow(try ack(second.hold()).get())
        XCTAssertEqual(try db.run("SELECT count(*) FROM docket.settled_children", on: loop).rows[0].int(0), 0)
    }

    /// Delayed jobs that come due are handed out once, to tell `waiting`: not before their
    /// time, not when claimed or promoted meanwhile, and one another transaction holds locked
    /// is left for the next look.
    func testDueJobsAreHandedOutOnce() throws {
        try setNow(2_000_000)
        let claimed = try enqueue("due", "a") { $0.delayMilliseconds = 1000 }
        let told = try enqueue("due", "b") { $0.delayMilliseconds = 1000 }
        let locked = try enqueue("due", "c") { $0.delayMilliseconds = 1000 }
        let now = try enqueue("due", "n")
        func takeDue() throws -> [Int64] {
            try transaction { connection, done in store.takeDue(on: connection, completion: done) }.get().map(\.id)
        }
        XCTAssertEqual(try takeDue(), [], "nothing due yet, and a job due at once is no delayed job")
        try setNow(2_001_000)
        _ = try reserve(["due"])  // the job that was never delayed
        // Another connection holds one job's row; a claim takes another.
        let other = try connect()
        try setNow(2_001_000, on: [other])
        _ = try other.run("BEGIN", on: loop)
        _ = try other.run("SELECT id FROM docket.jobs WHERE id = $1::bigint FOR UPDATE", [.int(Int(locked))], on: loop)
        XCTAssertEqual(try reserve(["due"])?.id, claimed)
        XCTAssertEqual(try takeDue(), [told], "the claimed one is not told; the locked one waits")
        _ = try other.run("ROLLBACK", on: loop)
        XCTAssertEqual(try takeDue(), [locked])
        XCTAssertEqual(try takeDue(), [], "each once")
        XCTAssertEqual(try db.run("SELECT count(*) FROM docket.due_untold", on: loop).rows[0].int(0), 0)
        _ = now
    }

    /// A claim takes no delayed job that came due after its transaction looked for due jobs
    /// (it would start without its `waiting` event): the next look tells it, then a claim takes
    /// it. A look that hit its limit bounds the claims at what it took. A transaction that did
    /// not look (nobody listening) claims a due job at once.
    func testClaimsTakeNoJobThatCameDueAfterTheLook() throws {
        try setNow(3_000_000)
        let first = try enqueue("bound", "a") { $0.delayMilliseconds = 1000 }
        let second = try enqueue("bound", "b") { $0.delayMilliseconds = 1000 }
        let third = try enqueue("bound", "c") { $0.delayMilliseconds = 2000 }
        func clock(_ milliseconds: Int, _ connection: PostgresConnection) {
            connection.execute("SELECT set_config('docket.test_now_ms', $1::text, false)", [.text(String(milliseconds))]) { _ in }
        }
        typealias Pass = (told: [Int64], one: Int64?, many: [Int64?])
        func pass(lookingAt look: Int, limit: Int = 1000, claimingAt claim: Int) throws -> Pass {
            try transaction { connection, done in
                var told: [Int64] = [-1]
                var one: Int64? = -1
                clock(look, connection)
                store.takeDue(limit: limit, on: connection) { told = (try? $0.get().map(\.id)) ?? [-2] }
                clock(claim, connection)
                store.reserve(queues: ["bound"], owner: "o1", on: connection) { one = (try? $0.get())?.map(\.id) ?? nil }
                store.reserve(queues: ["bound"], owners: ["o2", "o3"], on: connection) { many in
                    done((told, one, ((try? many.get()) ?? []).map { $0?.id }))
                }
            }
        }
        let early = try pass(lookingAt: 3_000_500, claimingAt: 3_001_500)
        XCTAssertEqual(early.told, [], "nothing was due when it looked")
        XCTAssertNil(early.one, "came due after the look: not claimed in that transaction")
        XCTAssertEqual(early.many, [nil, nil])
        // A look limited to one job bounds the claims before the run time it stopped at: job b,
        // due at the same time as a, was not looked at.
        let limited = try pass(lookingAt: 3_001_500, limit: 1, claimingAt: 3_001_500)
        XCTAssertEqual(limited.told, [first])
        XCTAssertNil(limited.one)
        XCTAssertEqual(limited.many, [nil, nil])
        let next = try pass(lookingAt: 3_001_500, claimingAt: 3_001_500)
        XCTAssertEqual(next.told, [second])
        XCTAssertEqual(next.one, first)
        XCTAssertEqual(next.many, [second, nil])
        // No look in the transaction: a claim takes a due job at once (and later looks forget it).
        try setNow(3_002_500)
        XCTAssertEqual(try reserve(["bound"])?.id, third)
        XCTAssertEqual(try transaction { connection, done in store.takeDue(on: connection) { done((try? $0.get().map(\.id)) ?? [-1]) } }, [])
    }

    /// The real clock, not a test one: a short delay passes by itself.
    func testADelayPassesOnTheRealClock() throws {
        let id = try enqueue("real", "x") { $0.delayMilliseconds = 300 }
        XCTAssertNil(try reserve(["real"]))
        loop.idle(seconds: 0.35)
        XCTAssertEqual(try reserve(["real"])?.id, id)
    }

    func testPriorityThenAgeThenQueueOrder() throws {
        try setNow(2_000_000)
        let low = try enqueue("p") { $0.priority = 5 }
        let normal1 = try enqueue("p")
        let urgent = try enqueue("p") { $0.priority = -3 }
        let normal2 = try enqueue("p")
        let order = try (0..<4).map { _ in try XCTUnwrap(try reserve(["p"])).id }
        XCTAssertEqual(order, [urgent, normal1, normal2, low])

        // Several queues: the first listed that has a job, whatever the other's priorities.
        let inA = try enqueue("a") { $0.priority = -100 }
        let inB = try enqueue("b") { $0.priority = 100 }
        XCTAssertEqual(try reserve(["missing", "b", "a"])?.id, inB)
        XCTAssertEqual(try reserve(["missing", "b", "a"])?.id, inA)
        XCTAssertNil(try reserve(["missing", "b", "a"]))
    }

    /// A job that goes back in line within the millisecond the others became runnable in goes
    /// behind them (its id is older: ordered by id it went first); one handed back without its
    /// attempt counted keeps its place. Both claims, one by one and several at once, agree.
    func testJobsBackInLineGoBehindThoseOfTheirMillisecond() throws {
        try setNow(2_500_000)
        let first = try enqueue("line", "first")
        let second = try enqueue("line", "second")
        let taken = try XCTUnwrap(try reserve(["line"]))
        XCTAssertEqual(taken.id, first)
        _ = try fail(taken.hold(), .after(milliseconds: 0)).get()
        let third = try enqueue("line", "third")
        let claimed: [PostgresReservation?] = try transaction { connection, done in
            store.reserve(queues: ["line"], owners: ["w1", "w2", "w3"], on: connection, completion: done)
        }.get()
        XCTAssertEqual(claimed.map { $0?.id }, [second, first, third])

        let handedBack = try enqueue("back", "handed back")
        let behind = try enqueue("back", "behind")
        let out = try XCTUnwrap(try reserve(["back"]))
        XCTAssertEqual(out.id, handedBack)
        let given: Bool = try transaction { connection, done in store.giveBack(out.hold(), on: connection, completion: done) }.get()
        XCTAssertTrue(given)
        XCTAssertEqual(try reserve(["back"])?.id, handedBack)
        XCTAssertEqual(try reserve(["back"])?.id, behind)
    }

    func testFailRetriesWithBackoffThenDies() throws {
        let start: Int64 = 3_000_000
        try setNow(start)
        let id = try enqueue("flaky") {
            $0.maxAttempts = 3
            $0.backoff = .exponential(baseMilliseconds: 1000, capMilliseconds: 1500)
        }
        let first = try XCTUnwrap(try reserve(["flaky"]))
        XCTAssertEqual(try fail(first.hold(), reason: "boom 1").get(), .retry(afterMilliseconds: 1000))
        XCTAssertEqual(try inspect(id)?.state, "delayed")
        XCTAssertEqual(try inspect(id)?.lastError, Array("boom 1".utf8))
        XCTAssertNil(try reserve(["flaky"]))
        try setNow(start + 1000)
        let second = try XCTUnwrap(try reserve(["flaky"]))
        XCTAssertEqual(second.attempt, 2)
        // 1000 × 2 = 2000, capped at 1500.
        XCTAssertEqual(try fail(second.hold()).get(), .retry(afterMilliseconds: 1500))
        try setNow(start + 2500)
        let third = try XCTUnwrap(try reserve(["flaky"]))
        XCTAssertEqual(third.attempt, 3)
        XCTAssertEqual(try fail(third.hold(), reason: "boom 3").get(), .dead)
        let dead = try XCTUnwrap(try inspect(id))
        XCTAssertEqual(dead.state, "dead")
        XCTAssertEqual(dead.attempts, 3)
        XCTAssertEqual(dead.finishedAt, start + 2500)
        XCTAssertEqual(dead.lastError, Array("boom 3".utf8))
        // The attempt history: each FAIL with its times and reason (none given for the second).
        XCTAssertEqual(
            dead.failedAttempts,
            [
                FailedAttempt(attempt: 1, startedAt: start, endedAt: start, error: Array("boom 1".utf8)),
                FailedAttempt(attempt: 2, startedAt: start + 1000, endedAt: start + 1000, error: nil),
                FailedAttempt(attempt: 3, startedAt: start + 2500, endedAt: start + 2500, error: Array("boom 3".utf8)),
            ])
        let listed: [PostgresJobRecord] = try transaction { connection, done in
            store.deadJobs(queue: "flaky", on: connection, completion: done)
        }.get()
        XCTAssertEqual(listed.map(\.id), [id])

        // RETRY brings it back with its attempts reset; a second RETRY is refused.
        typealias Retried = Result<(queue: String, maxAttempts: Int), PostgresJobError>
        let retried: Retried = try transaction { connection, done in store.retry(id, on: connection, completion: done) }
        XCTAssertEqual(try retried.get().queue, "flaky")
        let notDead: Retried = try transaction { connection, done in store.retry(id, on: connection, completion: done) }
        XCTAssertEqual(notDead.failure, .notDead(id, state: "waiting"))
        let missing: Retried = try transaction { connection, done in store.retry(424_242, on: connection, completion: done) }
        XCTAssertEqual(missing.failure, .notFound(424_242))
        let again = try XCTUnwrap(try reserve(["flaky"]))
        XCTAssertEqual(again.attempt, 1)

        // retry=no: dead at once, attempts left or not; retry=<duration> overrides the backoff.
        XCTAssertEqual(try fail(again.hold(), .never).get(), .dead)
        let revived: [(id: Int64, maxAttempts: Int)] = try transaction { connection, done in
            store.retryAll(queue: "flaky", on: connection, completion: done)
        }.get()
        XCTAssertEqual(revived.map(\.id), [id])
        let once = try XCTUnwrap(try reserve(["flaky"]))
        XCTAssertEqual(try fail(once.hold(), .after(milliseconds: 0)).get(), .retry(afterMilliseconds: 0))
        XCTAssertEqual(try reserve(["flaky"])?.id, id)
    }

    /// DEAD and LIST fetch rows only while those before them hold less than the reply's
    /// budget: a thousand jobs with megabytes of error each never travel whole.
    func testListingsStopFetchingAtTheBudget() throws {
        var ids: [Int64] = []
        for index in 0..<5 {
            let id = try enqueue("heavy") { $0.maxAttempts = 1 }
            ids.append(id)
            let held = try XCTUnwrap(try reserve(["heavy"]))
            XCTAssertEqual(held.id, id)
            XCTAssertEqual(try fail(held.hold(), reason: String(repeating: Character(String(index)), count: 1000)).get(), .dead)
        }
        func dead(budget: Int) throws -> [Int64] {
            let records: [PostgresJobRecord] = try transaction { connection, done in
                store.deadJobs(queue: "heavy", budget: budget, on: connection, completion: done)
            }.get()
            return records.map(\.id)
        }
        // Bytes before each: 0, 1000, 2000, 3000, 4000.
        XCTAssertEqual(try dead(budget: 2500), Array(ids.prefix(3)))
        XCTAssertEqual(try dead(budget: 0), [ids[0]], "the first always comes")
        XCTAssertEqual(try dead(budget: .max), ids)

        typealias Page = (records: [PostgresJobRecord], cursors: [JobListCursor], more: Bool)
        func list(after: JobListCursor? = nil, limit: Int, budget: Int) throws -> (ids: [Int64], last: JobListCursor?, more: Bool) {
            let page: Page = try transaction { connection, done in
                store.list(queue: "heavy", state: .dead, after: after, limit: limit, budget: budget, on: connection, completion: done)
            }.get()
            return (page.records.map(\.id), page.cursors.last, page.more)
        }
        // Newest death first.
        let newest = Array(ids.reversed())
        let cut = try list(limit: 10, budget: 2500)
        XCTAssertEqual(cut.ids, Array(newest.prefix(3)))
        XCTAssertTrue(cut.more, "the budget left jobs out")
        let rest = try list(after: cut.last, limit: 10, budget: 2500)
        XCTAssertEqual(rest.ids, Array(newest.suffix(2)))
        XCTAssertFalse(rest.more)
        let whole = try list(limit: 10, budget: .max)
        XCTAssertEqual(whole.ids, newest)
        XCTAssertFalse(whole.more)
        let limited = try list(limit: 3, budget: .max)
        XCTAssertEqual(limited.ids, Array(newest.prefix(3)))
        XCTAssertTrue(limited.more)
    }

    func testJitterTakesUpToItsFractionOff() throws {
        var now: Int64 = 4_000_000
        try setNow(now)
        let id = try enqueue("jitter") {
            $0.backoff = .fixed(milliseconds: 10_000)
            $0.jitter = 0.5
            $0.maxAttempts = 10
        }
        for _ in 0..<5 {
            let job = try XCTUnwrap(try reserve(["jitter"]))
            guard case .retry(let wait) = try fail(job.hold()).get() else { return XCTFail("not retried") }
            XCTAssertTrue((5000...10_000).contains(wait), "\(wait)")
            try setNow(now + Int64(wait) - 1)
            XCTAssertEqual(try inspect(id)?.state, "delayed")
            now += Int64(wait)
            try setNow(now)
            XCTAssertEqual(try inspect(id)?.state, "waiting")
        }
    }

    /// A worker whose lease ran out, and whose job went out again (here to the same owner, the
    /// normal case for `$DOCKET.API` users sharing a connection), cannot ACK the old attempt.
    func testAStaleAttemptIsRefused() throws {
        try setNow(5_000_000)
        let id = try enqueue("fenced", "x") {
            $0.leaseMilliseconds = 1000
            $0.backoff = .fixed(milliseconds: 0)
        }
        let first = try XCTUnwrap(try reserve(["fenced"]))
        try setNow(5_001_001)
        XCTAssertEqual(try recover(), [PostgresEndedAttempt(id: id, queue: "fenced", outcome: .retry(afterMilliseconds: 0), attempt: 1, maxAttempts: 3, leaseMilliseconds: 1000)])
        let second = try XCTUnwrap(try reserve(["fenced"]))
        XCTAssertEqual(second.attempt, 2)

        let stale = try ack(first.hold())
        XCTAssertEqual(stale.failure, .staleAttempt(id, attempt: 1, current: 2))
        XCTAssertEqual(stale.failure?.code, "NOT_HELD")
        XCTAssertEqual(
            stale.failure?.message, "job \(id) is on attempt 2, not 1: the lease of attempt 1 ended and the job was handed out again")
        let staleTouch: Result<Int64, PostgresJobError> = try transaction { connection, done in
            store.touch(first.hold(), on: connection, completion: done)
        }
        XCTAssertEqual(staleTouch.failure, .staleAttempt(id, attempt: 1, current: 2))
        XCTAssertEqual(try fail(first.hold()).failure, .staleAttempt(id, attempt: 1, current: 2))
        // Another holder, or no such job.
        XCTAssertEqual(try ack(second.hold(owner: "someone-else")).failure, .notHeld(id))
        XCTAssertEqual(try ack(PostgresHold(id: 777_777, owner: "owner-1", attempt: 1)).failure, .notFound(777_777))
        // Nothing the refusals did changed the job: the current attempt completes.
        XCTAssertEqual(try inspect(id)?.state, "active")
        XCTAssertNoThrow(try ack(second.hold()).get())
        // Without attempt=, whatever attempt the owner holds; after completion, not held.
        XCTAssertEqual(try ack(PostgresHold(id: id, owner: "owner-1")).failure, .notHeld(id))
    }

    /// Each failed attempt keeps the first 1,024 bytes of its error; `last_error` the whole.
    func testTheHistoryKeepsTheFirstKiBOfEachError() throws {
        let id = try enqueue("long") { $0.maxAttempts = 1 }
        let job = try XCTUnwrap(try reserve(["long"]))
        XCTAssertEqual(try fail(job.hold(), reason: String(repeating: "y", count: 3000)).get(), .dead)
        let dead = try XCTUnwrap(try inspect(id))
        XCTAssertEqual(dead.lastError?.count, 3000)
        XCTAssertEqual(dead.failedAttempts?.map { $0.error }, [Array(repeating: UInt8(ascii: "y"), count: FailedAttempt.errorBytesKept)])
        // Clipped where it is stored, not only where it is read (two hex digits a byte).
        let stored = try db.run("SELECT length(failed_attempts->0->>'error') FROM docket.jobs WHERE id = $1::bigint", [.int(Int(id))], on: loop)
        XCTAssertEqual(stored.rows.first?.int(0), 2 * FailedAttempt.errorBytesKept)
    }

    func testExpiredLeasesReturnAsFailedAttempts() throws {
        let start: Int64 = 6_000_000
        try setNow(start)
        let id = try enqueue("stall", "x") {
            $0.leaseMilliseconds = 1000
            $0.maxAttempts = 2
            $0.backoff = .fixed(milliseconds: 500)
        }
        let first = try XCTUnwrap(try reserve(["stall"]))
        XCTAssertEqual(first.leaseExpiresAt, start + 1000)
        // A heartbeat moves the lease on; PROGRESS records where the worker is.
        try setNow(start + 800)
        let touched: Int64 = try transaction { connection, done in store.touch(first.hold(), on: connection, completion: done) }.get()
        XCTAssertEqual(touched, start + 1800)
        try setNow(start + 1500)
        XCTAssertEqual(try recover(), [])
        let progressed: Int64 = try transaction { connection, done in
            store.progress(first.hold(), percent: 40, note: Array("halfway".utf8), on: connection, completion: done)
        }.get()
        XCTAssertEqual(progressed, start + 2500)
        let during = try XCTUnwrap(try inspect(id))
        XCTAssertEqual(during.progress, 40)
        XCTAssertEqual(during.progressNote, Array("halfway".utf8))

        try setNow(start + 2500)
        XCTAssertEqual(try recover(), [PostgresEndedAttempt(id: id, queue: "stall", outcome: .retry(afterMilliseconds: 500), attempt: 1, maxAttempts: 2, leaseMilliseconds: 1000)])
        let back = try XCTUnwrap(try inspect(id))
        XCTAssertEqual(back.state, "delayed")
        XCTAssertEqual(
            back.failedAttempts, [FailedAttempt(attempt: 1, startedAt: start, endedAt: start + 2500, error: Array("stalled: lease of 1000 ms expired".utf8))])
        XCTAssertEqual(back.attempts, 1)
        XCTAssertEqual(back.lastError, Array("stalled: lease of 1000 ms expired".utf8))
        XCTAssertNil(back.leaseOwner)
        XCTAssertEqual(try ack(first.hold()).failure, .notHeld(id))

        // The last attempt stalls too: dead.
        try setNow(start + 3000)
        let second = try XCTUnwrap(try reserve(["stall"]))
        XCTAssertEqual(second.attempt, 2)
        XCTAssertEqual(try inspect(id)?.progress, 0)
        try setNow(start + 4000)
        XCTAssertEqual(try recover(), [PostgresEndedAttempt(id: id, queue: "stall", outcome: .dead, attempt: 2, maxAttempts: 2, leaseMilliseconds: 1000)])
        XCTAssertEqual(try inspect(id)?.state, "dead")
    }

    func testAClosedConnectionsJobsAreReleased() throws {
        try setNow(7_000_000)
        let id = try enqueue("lost") { $0.backoff = .fixed(milliseconds: 0) }
        let other = try enqueue("lost")
        _ = try XCTUnwrap(try reserve(["lost"], owner: "proc-a:7"))
        _ = try XCTUnwrap(try reserve(["lost"], owner: "proc-a:8"))
        let released: [PostgresEndedAttempt] = try transaction { connection, done in
            store.release(owners: ["proc-a:7"], on: connection, completion: done)
        }.get()
        XCTAssertEqual(released, [PostgresEndedAttempt(id: id, queue: "lost", outcome: .retry(afterMilliseconds: 0), attempt: 1, maxAttempts: 3)])
        XCTAssertEqual(try inspect(id)?.lastError, Array("worker lost: connection closed".utf8))
        XCTAssertEqual(try inspect(other)?.state, "active")
        XCTAssertEqual(try reserve(["lost"], owner: "proc-b:1")?.attempt, 2)
    }

    /// Claims from several connections at once never hand one job to two of them.
    func testConcurrentClaimsNeverShareAJob() throws {
        let total = 300
        _ = try enqueue((0..<total).map { PostgresNewJob(queue: "race", payload: Array("job-\($0)".utf8)) })
        let workers = try (0..<3).map { _ in try connect() }
        var claims: [[Int64]] = Array(repeating: [], count: workers.count)
        var empty = Array(repeating: false, count: workers.count)
        var failures: [PostgresError] = []
        var outstanding = 0

        // Each worker keeps four transactions of three claims each in flight, and sends another
        // as each one commits, until the queue answers empty.
        func send(_ index: Int) {
            outstanding += 1
            for _ in 0..<3 {
                store.reserve(queues: ["race"], owner: "worker-\(index)", on: workers[index]) { result in
                    switch result {
                    case .success(let job?): claims[index].append(job.id)
                    case .success(nil): empty[index] = true
                    case .failure(let error): failures.append(error)
                    }
                }
            }
            workers[index].commit { _ in
                outstanding -= 1
                if !empty[index] && failures.isEmpty { send(index) }
            }
        }
        for index in workers.indices { for _ in 0..<4 { send(index) } }
        loop.run(timeout: 30) { outstanding == 0 }
        XCTAssertEqual(failures, [])
        let all = claims.flatMap { $0 }
        XCTAssertEqual(all.count, total)
        XCTAssertEqual(Set(all).count, total, "a job was claimed twice")
        // The work was shared, not taken by one connection while the others waited.
        for (index, list) in claims.enumerated() { XCTAssertGreaterThan(list.count, 0, "worker \(index) got nothing") }

        // And the ACKs of all of them, in one statement.
        var holds: [(hold: PostgresHold, result: [UInt8]?)] = []
        for (index, list) in claims.enumerated() {
            for id in list { holds.append((PostgresHold(id: id, owner: "worker-\(index)", attempt: 1), nil)) }
        }
        let acked: [Result<Void, PostgresJobError>] = try transaction { connection, done in
            store.ack(holds, on: connection, completion: done)
        }.get()
        XCTAssertEqual(acked.filter { (try? $0.get()) == nil }.count, 0)
        let counts = try transaction { connection, done in store.state(queue: "race", on: connection, completion: done) }.get().counts
        XCTAssertEqual(counts, ["waiting": 0, "delayed": 0, "active": 0, "completed": total, "dead": 0, "blocked": 0])
    }

    /// Many verbs share one transaction: one round trip and one commit, every answer after it,
    /// and per-job refusals that do not disturb the others.
    func testVerbsBatchedInOneTransaction() throws {
        let ids = try enqueue((0..<3).map { PostgresNewJob(queue: "batch", payload: [UInt8($0)]) }).map(\.id)
        var reservations: [PostgresReservation] = []
        var events: [String] = []
        for _ in 0..<3 {
            store.reserve(queues: ["batch"], owner: "w", on: db) { result in
                events.append("reserve")
                if case .success(let job?) = result { reservations.append(job) }
            }
        }
        var enqueued: [PostgresEnqueued] = []
        store.enqueue([PostgresNewJob(queue: "batch", payload: [9])], on: db) { result in
            events.append("enqueue")
            enqueued = (try? result.get()) ?? []
        }
        var committed = false
        db.commit { _ in
            events.append("commit")
            committed = true
        }
        loop.run { committed }
        XCTAssertEqual(events, ["reserve", "reserve", "reserve", "enqueue", "commit"])
        XCTAssertEqual(reservations.map(\.id), ids)

        // One ACK statement for all: a duplicate, a stranger's job, a missing job among them.
        let holds: [(hold: PostgresHold, result: [UInt8]?)] = [
            (reservations[0].hold(owner: "w"), [1]), (reservations[1].hold(owner: "w"), nil), (reservations[0].hold(owner: "w"), nil),
            (reservations[2].hold(owner: "intruder"), nil), (PostgresHold(id: 31_337, owner: "w"), nil),
        ]
        let acked: [Result<Void, PostgresJobError>] = try transaction { connection, done in store.ack(holds, on: connection, completion: done) }.get()
        XCTAssertNoThrow(try acked[0].get())
        XCTAssertNoThrow(try acked[1].get())
        XCTAssertEqual(acked[2].failure, .notHeld(reservations[0].id))
        XCTAssertEqual(acked[3].failure, .notHeld(reservations[2].id))
        XCTAssertEqual(acked[4].failure, .notFound(31_337))
        XCTAssertEqual(try inspect(reservations[0].id)?.result, [1])

        // A statement that fails takes its whole transaction back: the ENQ beside it never happened.
        var outcome: Result<[PostgresEnqueued], PostgresError>?
        store.enqueue([PostgresNewJob(queue: "batch", payload: [7])], on: db) { outcome = $0 }
        db.execute("SELECT 1 / 0") { _ in }
        db.commit()
        loop.run { outcome != nil }
        XCTAssertEqual(outcome?.failure?.kind, .rolledBack)
        let counts = try transaction { connection, done in store.state(queue: "batch", on: connection, completion: done) }.get().counts
        XCTAssertEqual(counts["waiting"], 1)  // the one enqueued with the reserves, nothing more
        XCTAssertEqual(enqueued.count, 1)
    }

    /// Workers hear about runnable jobs through LISTEN, only once the change has committed.
    func testNotificationsWakeListenersAfterCommit() throws {
        let listener = try connect()
        var heard: [String] = []
        listener.onNotification = { notification in
            if notification.channel == PostgresSchema.channel { heard.append(notification.payload) }
        }
        _ = try listener.run("LISTEN \(PostgresSchema.channel)", on: loop)
        try setNow(8_000_000)

        var enqueued = false
        store.enqueue([PostgresNewJob(queue: "wake", payload: [])], on: db) { _ in enqueued = true }
        loop.idle(seconds: 0.1)
        XCTAssertTrue(heard.isEmpty, "heard before commit")
        db.commit()
        loop.run { enqueued && heard == ["wake"] }

        // A delayed job wakes nobody (the owner's timer finds it); a retry without delay does.
        _ = try enqueue("quiet") { $0.delayMilliseconds = 60_000 }
        let job = try enqueue("again") { $0.backoff = .fixed(milliseconds: 0) }
        loop.run { heard.count == 2 }
        XCTAssertEqual(heard, ["wake", "again"])
        let reserved = try XCTUnwrap(try reserve(["again"]))
        XCTAssertEqual(reserved.id, job)
        XCTAssertEqual(try fail(reserved.hold()).get(), .retry(afterMilliseconds: 0))
        loop.run { heard.count == 3 }
        XCTAssertEqual(heard.last, "again")
        loop.idle(seconds: 0.1)
        XCTAssertFalse(heard.contains("quiet"))
    }

    func testPauseConcurrencyAndRateHoldAcrossConnections() throws {
        let other = try connect()
        let start: Int64 = 9_000_000
        try setNow(start, on: [db, other])
        _ = try enqueue((0..<8).map { _ in PostgresNewJob(queue: "limited", payload: []) })

        var settings = PostgresQueueSettings()
        settings.concurrency = 2
        _ = try transaction { connection, done in store.setSettings(settings, queue: "limited", on: connection, completion: done) }.get()
        let a = try XCTUnwrap(try reserve(["limited"], owner: "a"))
        _ = try XCTUnwrap(try reserve(["limited"], owner: "b", on: other))
        XCTAssertNil(try reserve(["limited"], owner: "c", on: other), "the concurrency cap let a third job start")
        XCTAssertNoThrow(try ack(a.hold(owner: "a")).get())
        XCTAssertNotNil(try reserve(["limited"], owner: "c", on: other))

        // A rate: 2 starts per 10 s, whoever starts them.
        settings.concurrency = nil
        settings.rate = .init(limit: 2, windowMilliseconds: 10_000)
        _ = try transaction { connection, done in store.setSettings(settings, queue: "limited", on: connection, completion: done) }.get()
        XCTAssertEqual(
            try transaction { connection, done in store.settings(queue: "limited", on: connection, completion: done) }.get(), settings)
        try setNow(start + 1000, on: [db, other])
        XCTAssertNotNil(try reserve(["limited"], owner: "a"))
        try setNow(start + 2000, on: [db, other])
        XCTAssertNotNil(try reserve(["limited"], owner: "b", on: other))
        try setNow(start + 5000, on: [db, other])
        XCTAssertNil(try reserve(["limited"], owner: "a"), "the rate let a third start in the window")
        XCTAssertNil(try reserve(["limited"], owner: "b", on: other))
        try setNow(start + 11_001, on: [db, other])
        XCTAssertNotNil(try reserve(["limited"], owner: "a"))
        XCTAssertNil(try reserve(["limited"], owner: "b", on: other))

        // Paused: nothing starts; resumed: it does.
        try setNow(start + 30_000, on: [db, other])
        _ = try transaction { connection, done in store.setPaused(true, queue: "limited", on: connection, completion: done) }.get()
        XCTAssertNil(try reserve(["limited"]))
        _ = try transaction { connection, done in store.setPaused(false, queue: "limited", on: connection, completion: done) }.get()
        XCTAssertNotNil(try reserve(["limited"]))
    }

    /// Not a benchmark (debug build, fsync off, one 2-core machine), a sample for the record:
    /// the job cycle with verbs batched the way docketd would batch them.
    func testThroughputSample() throws {
        let total = 3000
        let started = Date()
        for chunk in 0..<30 {
            store.enqueue((0..<100).map { PostgresNewJob(queue: "bulk", payload: Array("job-\(chunk)-\($0)".utf8)) }, on: db) { _ in }
            if chunk % 5 == 4 { db.commit() }
        }
        var enqueued = false
        db.commit { _ in enqueued = true }
        loop.run(timeout: 60) { enqueued }
        let enqueuedAt = Date()

        // Three connections, each with transactions of 25 claims and the ACKs of its last ones.
        let workers = try (0..<3).map { _ in try connect() }
        var done = 0
        var held: [[PostgresHold]] = Array(repeating: [], count: workers.count)
        var finished = Array(repeating: false, count: workers.count)
        func cycle(_ index: Int) {
            let acks = held[index].map { (hold: $0, result: [UInt8]?.none) }
            held[index].removeAll()
            if !acks.isEmpty { store.ack(acks, on: workers[index]) { result in done += ((try? result.get()) ?? []).count } }
            var empty = false
            for _ in 0..<25 {
                store.reserve(queues: ["bulk"], owner: "w\(index)", on: workers[index]) { result in
                    if case .success(let job?) = result { held[index].append(job.hold(owner: "w\(index)")) } else { empty = true }
                }
            }
            workers[index].commit { _ in
                if empty && held[index].isEmpty { finished[index] = true } else { cycle(index) }
            }
        }
        for index in workers.indices { cycle(index) }
        loop.run(timeout: 60) { finished.allSatisfy { $0 } }
        let cycled = Date()
        XCTAssertEqual(done, total)
        let enqueueRate = Double(total) / enqueuedAt.timeIntervalSince(started)
        let cycleRate = Double(total) / cycled.timeIntervalSince(enqueuedAt)
        print("throughput sample: enqueue \(Int(enqueueRate)) jobs/s (100 per statement), reserve+ack \(Int(cycleRate)) jobs/s (3 connections)")
    }

    func testQueueDefaultsApplyToNewJobs() throws {
        var settings = PostgresQueueSettings()
        settings.maxAttempts = 7
        settings.backoff = .fixed(milliseconds: 250)
        settings.leaseMilliseconds = 4000
        settings.jitter = 0.25
        _ = try transaction { connection, done in store.setSettings(settings, queue: "tuned", on: connection, completion: done) }.get()
        let plain = try XCTUnwrap(try inspect(try enqueue("tuned")))
        XCTAssertEqual(plain.maxAttempts, 7)
        XCTAssertEqual(plain.backoff, .fixed(milliseconds: 250))
        XCTAssertEqual(plain.leaseMilliseconds, 4000)
        XCTAssertEqual(plain.jitter, 0.25)
        let own = try XCTUnwrap(try inspect(try enqueue("tuned") { $0.maxAttempts = 1; $0.backoff = .exponential(baseMilliseconds: 10, capMilliseconds: 20) }))
        XCTAssertEqual(own.maxAttempts, 1)
        XCTAssertEqual(own.backoff, .exponential(baseMilliseconds: 10, capMilliseconds: 20))
        let untuned = try XCTUnwrap(try inspect(try enqueue("plain")))
        XCTAssertEqual(untuned.maxAttempts, 3)
        XCTAssertEqual(untuned.backoff, .default)
        XCTAssertEqual(untuned.leaseMilliseconds, 30_000)
    }
}

final class JobPolicyTests: JobStoreTestCase {
    func testRetentionKeepsTheNewestFinishedJobs() throws {
        store.defaults.keepCompleted = 3
        store.defaults.keepDead = 2
        try setNow(10_000_000)
        let ids = try enqueue((0..<5).map { PostgresNewJob(queue: "kept", payload: [UInt8($0)]) }).map(\.id)
        // Steps of 100 ms: a queue's history is trimmed at most that often.
        for step in 0..<5 {
            try setNow(10_000_000 + Int64(step) * 100)
            let job = try XCTUnwrap(try reserve(["kept"]))
            XCTAssertNoThrow(try ack(job.hold()).get())
        }
        var remaining = try ids.map { try inspect($0)?.id }
        XCTAssertEqual(remaining, [nil, nil, ids[2], ids[3], ids[4]])

        // Dead jobs by their own count, and a queue's own setting wins over the default.
        var settings = PostgresQueueSettings()
        settings.keepDead = 1
        _ = try transaction { connection, done in store.setSettings(settings, queue: "kept", on: connection, completion: done) }.get()
        let doomed = try enqueue((0..<3).map { _ in PostgresNewJob(queue: "kept", payload: []) }).map(\.id)
        for step in 0..<3 {
            try setNow(10_001_000 + Int64(step) * 100)
            let job = try XCTUnwrap(try reserve(["kept"]))
            XCTAssertEqual(try fail(job.hold(), .never).get(), .dead)
        }
        remaining = try doomed.map { try inspect($0)?.id }
        XCTAssertEqual(remaining, [nil, nil, doomed[2]])
        XCTAssertNotNil(try inspect(ids[4]), "dead-job retention touched completed jobs")

        // A short history is trimmed at every finish, however close together.
        let burst = try enqueue((0..<4).map { _ in PostgresNewJob(queue: "kept", payload: []) }).map(\.id)
        try setNow(10_002_000)
        for _ in 0..<4 {
            let job = try XCTUnwrap(try reserve(["kept"]))
            XCTAssertNoThrow(try ack(job.hold()).get())
        }
        XCTAssertEqual(try burst.map { try inspect($0)?.id }, [nil, burst[1], burst[2], burst[3]])

        // A long one at most every 100 ms: within 100 ms of a trim finished jobs pile up, and
        // the next trim catches up.
        var long = PostgresQueueSettings()
        long.keepCompleted = 101
        _ = try transaction { connection, done in store.setSettings(long, queue: "long", on: connection, completion: done) }.get()
        let many = try enqueue((0..<103).map { _ in PostgresNewJob(queue: "long", payload: []) }).map(\.id)
        try setNow(10_003_000)
        for _ in many {
            let job = try XCTUnwrap(try reserve(["long"]))
            XCTAssertNoThrow(try ack(job.hold()).get())
        }
        XCTAssertEqual(try many.prefix(3).map { try inspect($0)?.id }, Array(many.prefix(3)))
        try setNow(10_003_100)
        let last = try enqueue("long")
        let job = try XCTUnwrap(try reserve(["long"]))
        XCTAssertNoThrow(try ack(job.hold()).get())
        XCTAssertEqual(try (many.prefix(4) + [last]).map { try inspect($0)?.id }, [nil, nil, nil, many[3], last])
    }

    func testThrottleHoldsTheQueueWithoutUsingAnAttempt() throws {
        let start: Int64 = 11_000_000
        try setNow(start)
        let first = try enqueue("api")
        let second = try enqueue("api")
        let job = try XCTUnwrap(try reserve(["api"]))
        XCTAssertEqual(job.id, first)
        let held: Int64 = try transaction { connection, done in
            store.throttle(job.hold(), milliseconds: 5000, reason: Array("429".utf8), on: connection, completion: done)
        }.get()
        XCTAssertEqual(held, start + 5000)
        let record = try XCTUnwrap(try inspect(first))
        XCTAssertEqual(record.state, "waiting")
        XCTAssertEqual(record.attempts, 0)
        XCTAssertEqual(record.lastError, Array("429".utf8))
        XCTAssertNil(try reserve(["api"]))
        let deadline: Int64? = try transaction { connection, done in store.nextDeadline(on: connection, completion: done) }.get()
        XCTAssertEqual(deadline, start + 5000)
        // A throttle of an attempt no longer held is refused.
        let stale: Result<Int64, PostgresJobError> = try transaction { connection, done in
            store.throttle(job.hold(), milliseconds: 1, on: connection, completion: done)
        }
        XCTAssertEqual(stale.failure, .notHeld(first))
        try setNow(start + 5000)
        // Back in its old place, ahead of the job enqueued after it, on its first attempt again.
        let again = try XCTUnwrap(try reserve(["api"]))
        XCTAssertEqual(again.id, first)
        XCTAssertEqual(again.attempt, 1)
        XCTAssertEqual(try reserve(["api"])?.id, second)
    }

    func testGroupThrottleHoldsOnlyThatGroup() throws {
        let start: Int64 = 17_000_000
        try setNow(start)
        func job(_ group: String?) -> PostgresNewJob {
            var job = PostgresNewJob(queue: "g", payload: [])
            job.group = group.map { Array($0.utf8) }
            return job
        }
        let ids = try enqueue([job("a"), job("b"), job("a"), job(nil)]).map(\.id)
        let first = try XCTUnwrap(try reserve(["g"]))
        XCTAssertEqual(first.id, ids[0])
        let until: Int64 = try transaction { connection, done in
            store.throttle(first.hold(), milliseconds: 5000, groupOnly: true, on: connection, completion: done)
        }.get()
        XCTAssertEqual(until, start + 5000)
        XCTAssertEqual(try reserve(["g"])?.id, ids[1], "group a was not held")
        let ungrouped = try XCTUnwrap(try reserve(["g"]))
        XCTAssertEqual(ungrouped.id, ids[3])
        XCTAssertNil(try reserve(["g"]))
        let refused: Result<Int64, PostgresJobError> = try transaction { connection, done in
            store.throttle(ungrouped.hold(), milliseconds: 5000, groupOnly: true, on: connection, completion: done)
        }
        XCTAssertEqual(refused.failure, .noGroup(ids[3]))
        XCTAssertEqual(refused.failure?.code, "BAD_OPTION")
        let deadline: Int64? = try transaction { connection, done in store.nextDeadline(on: connection, completion: done) }.get()
        XCTAssertEqual(deadline, start + 5000)
        try setNow(start + 5000)
        let again = try XCTUnwrap(try reserve(["g"]))
        XCTAssertEqual(again.id, ids[0])
        XCTAssertEqual(again.attempt, 1)
        XCTAssertEqual(try reserve(["g"])?.id, ids[2])
    }

    /// A group over its rate steps aside; other groups' jobs go ahead; the window slides.
    func testGroupRateLetsOtherGroupsThrough() throws {
        let start: Int64 = 12_000_000
        try setNow(start)
        var settings = PostgresQueueSettings()
        settings.groupRate = .init(limit: 1, windowMilliseconds: 10_000)
        _ = try transaction { connection, done in store.setSettings(settings, queue: "tenants", on: connection, completion: done) }.get()
        func job(_ group: String?) -> PostgresNewJob {
            var job = PostgresNewJob(queue: "tenants", payload: [])
            job.group = group.map { Array($0.utf8) }
            return job
        }
        let ids = try enqueue([job("a"), job("a"), job("b"), job(nil), job("a")]).map(\.id)
        XCTAssertEqual(try reserve(["tenants"])?.id, ids[0])
        XCTAssertEqual(try reserve(["tenants"])?.id, ids[2], "group a's second job did not step aside")
        XCTAssertEqual(try reserve(["tenants"])?.id, ids[3])
        XCTAssertNil(try reserve(["tenants"]))
        let deadline: Int64? = try transaction { connection, done in store.nextDeadline(on: connection, completion: done) }.get()
        XCTAssertEqual(deadline, start + 10_000)
        try setNow(start + 10_001)
        XCTAssertEqual(try reserve(["tenants"])?.id, ids[1])
        XCTAssertNil(try reserve(["tenants"]))
    }

    func testEmptyBatchesAnswerNothing() throws {
        XCTAssertEqual(try enqueue([]), [])
        let acked: [Result<Void, PostgresJobError>] = try transaction { connection, done in store.ack([], on: connection, completion: done) }.get()
        XCTAssertTrue(acked.isEmpty)
        XCTAssertNil(try reserve([]))
        let released: [PostgresEndedAttempt] = try transaction { connection, done in
            store.release(owners: [], on: connection, completion: done)
        }.get()
        XCTAssertEqual(released, [])
    }

    /// A docketd that dies (here: its connection is cut) leaves its jobs active until their
    /// leases end; a new connection carries on, and the job comes back as a failed attempt.
    func testAfterALostConnectionANewOneCarriesOn() throws {
        let admin = try connect()
        let doomed = try connect()
        try setNow(15_000_000, on: [db, doomed])
        let id = try enqueue("survive") {
            $0.leaseMilliseconds = 2000
            $0.backoff = .fixed(milliseconds: 0)
        }
        let job = try XCTUnwrap(try reserve(["survive"], owner: "dead-process:1", on: doomed))
        let pid = try XCTUnwrap(try doomed.run("SELECT pg_backend_pid()", on: loop).rows[0].int(0))
        // A batch in flight when the connection goes: its outcome is unknown to the sender.
        var outcome: Result<Void, PostgresJobError>?
        store.ack(job.hold(owner: "dead-process:1"), on: doomed) { outcome = $0 }
        _ = try admin.run("SELECT pg_terminate_backend($1::int)", [.int(pid)], on: loop)
        doomed.commit()
        loop.run { outcome != nil }
        guard case .database(let error)? = outcome?.failure else { return XCTFail("\(String(describing: outcome))") }
        XCTAssertTrue([.connection, .closed].contains(error.kind))
        XCTAssertEqual(doomed.state, .closed)

        let fresh = try connect()
        try migrate(fresh)
        try setNow(15_001_000, on: [fresh])
        XCTAssertEqual(try inspect(id)?.state, "active")
        XCTAssertNil(try reserve(["survive"], owner: "new-process:1", on: fresh))
        try setNow(15_002_000, on: [fresh, db])
        let recovered: [PostgresEndedAttempt] = try transaction(on: fresh) { connection, done in
            store.recoverExpiredLeases(on: connection, completion: done)
        }.get()
        XCTAssertEqual(recovered, [PostgresEndedAttempt(id: id, queue: "survive", outcome: .retry(afterMilliseconds: 0), attempt: 1, maxAttempts: 3, leaseMilliseconds: 2000)])
        let again = try XCTUnwrap(try reserve(["survive"], owner: "new-process:1", on: fresh))
        XCTAssertEqual(again.attempt, 2)
        XCTAssertNoThrow(try ack(again.hold(owner: "new-process:1")).get())
    }

    func testGiveBackUndoesAHandOut() throws {
        try setNow(13_000_000)
        let first = try enqueue("undo")
        _ = try enqueue("undo")
        let job = try XCTUnwrap(try reserve(["undo"]))
        let given: Bool = try transaction { connection, done in store.giveBack(job.hold(), on: connection, completion: done) }.get()
        XCTAssertTrue(given)
        let twice: Bool = try transaction { connection, done in store.giveBack(job.hold(), on: connection, completion: done) }.get()
        XCTAssertFalse(twice)
        let record = try XCTUnwrap(try inspect(first))
        XCTAssertEqual(record.state, "waiting")
        XCTAssertEqual(record.attempts, 0)
        XCTAssertNil(record.startedAt)
        let again = try XCTUnwrap(try reserve(["undo"]))
        XCTAssertEqual(again.id, first)
        XCTAssertEqual(again.attempt, 1)
    }

    func testQueueStateForTheQueueDocument() throws {
        let start: Int64 = 14_000_000
        try setNow(start)
        let never = try transaction { connection, done in store.state(queue: "nobody", on: connection, completion: done) }.get()
        XCTAssertEqual(never, PostgresQueueState(
            counts: ["waiting": 0, "delayed": 0, "active": 0, "completed": 0, "dead": 0, "blocked": 0], oldestWaitingSince: nil, heldUntil: nil,
            rateWindowStarts: nil, now: start))

        var settings = PostgresQueueSettings()
        settings.rate = .init(limit: 10, windowMilliseconds: 60_000)
        _ = try transaction { connection, done in store.setSettings(settings, queue: "doc", on: connection, completion: done) }.get()
        _ = try enqueue("doc")
        try setNow(start + 100)
        _ = try enqueue("doc")
        _ = try enqueue("doc") { $0.delayMilliseconds = 10_000 }
        let running = try XCTUnwrap(try reserve(["doc"]))
        _ = try transaction { connection, done in
            store.throttle(running.hold(), milliseconds: 3000, on: connection, completion: done)
        }.get()
        try setNow(start + 1000)
        let state = try transaction { connection, done in store.state(queue: "doc", on: connection, completion: done) }.get()
        XCTAssertEqual(state.counts, ["waiting": 2, "delayed": 1, "active": 0, "completed": 0, "dead": 0, "blocked": 0])
        XCTAssertEqual(state.oldestWaitingSince, start)
        XCTAssertEqual(state.heldUntil, start + 3100)
        XCTAssertEqual(state.rateWindowStarts, 1)
        XCTAssertEqual(state.now, start + 1000)
    }

    func testRoutesAreStoredWithIdsNeverReused() throws {
        let listener = try connect()
        var heard: [String] = []
        listener.onNotification = { if $0.channel == PostgresJobStore.routesChannel { heard.append($0.payload) } }
        _ = try listener.run("LISTEN \(PostgresJobStore.routesChannel)", on: loop)
        let first: Int64 = try transaction { connection, done in
            store.addRoute(pattern: "orders.>", queue: "orders", rule: "pri=1", owner: "alice", on: connection, completion: done)
        }.get()
        let second: Int64 = try transaction { connection, done in
            store.addRoute(pattern: "audit.*", queue: "audit", rule: "", owner: nil, on: connection, completion: done)
        }.get()
        let removed: Bool = try transaction { connection, done in store.removeRoute(second, on: connection, completion: done) }.get()
        XCTAssertTrue(removed)
        let again: Bool = try transaction { connection, done in store.removeRoute(second, on: connection, completion: done) }.get()
        XCTAssertFalse(again)
        let third: Int64 = try transaction { connection, done in
            store.addRoute(pattern: "audit.*", queue: "audit", rule: "", owner: nil, on: connection, completion: done)
        }.get()
        XCTAssertGreaterThan(third, second)
        let all: [PostgresRoute] = try transaction { connection, done in store.routes(on: connection, completion: done) }.get()
        XCTAssertEqual(all, [
            PostgresRoute(id: first, pattern: "orders.>", queue: "orders", rule: "pri=1", owner: "alice"),
            PostgresRoute(id: third, pattern: "audit.*", queue: "audit", rule: "", owner: nil),
        ])
        loop.run { heard.count == 4 }
        XCTAssertEqual(heard, [first, second, second, third].map { String($0) })
    }
}

final class WaitTests: JobStoreTestCase {
    var heard: [Int64] = []

    /// A connection listening for outcomes, as each docketd's would.
    func listen() throws -> PostgresConnection {
        let listener = try connect()
        listener.onNotification = { [unowned self] notification in
            if notification.channel == PostgresJobStore.outcomesChannel, let id = Int64(notification.payload) { heard.append(id) }
        }
        _ = try listener.run("LISTEN \(PostgresJobStore.outcomesChannel)", on: loop)
        return listener
    }

    func watch(_ id: Int64, _ watcher: String = "proc-a", on connection: PostgresConnection? = nil) throws -> PostgresWatchStart {
        try transaction(on: connection) { connection, done in store.watch(id, watcher: watcher, on: connection, completion: done) }.get()
    }

    func watches() throws -> Int {
        try XCTUnwrap(try db.run("SELECT count(*) FROM docket.watches", on: loop).rows[0].int(0))
    }

    func testWatchersHearEveryOutcome() throws {
        _ = try listen()
        try setNow(16_000_000)
        // Completed.
        let completed = try enqueue("w")
        XCTAssertEqual(try watch(completed), .watching(state: "waiting"))
        let job = try XCTUnwrap(try reserve(["w"]))
        XCTAssertEqual(try watch(completed, "proc-b"), .watching(state: "active"))
        XCTAssertNoThrow(try ack(job.hold()).get())
        loop.run { heard == [completed] }
        XCTAssertEqual(try watches(), 0)
        XCTAssertEqual(try watch(completed), .finished(state: "completed"))
        XCTAssertEqual(try watches(), 0)

        // Dead, through FAIL and through a lease that ran out.
        let failed = try enqueue("w") { $0.maxAttempts = 1 }
        let stalled = try enqueue("w") {
            $0.maxAttempts = 1
            $0.leaseMilliseconds = 1000
        }
        XCTAssertEqual(try watch(failed), .watching(state: "waiting"))
        XCTAssertEqual(try watch(stalled), .watching(state: "waiting"))
        let first = try XCTUnwrap(try reserve(["w"]))
        let second = try XCTUnwrap(try reserve(["w"]))
        XCTAssertEqual([first.id, second.id], [failed, stalled])
        XCTAssertEqual(try fail(first.hold()).get(), .dead)
        try setNow(16_001_000)
        XCTAssertEqual(try recover().map(\.outcome), [.dead])
        loop.run { heard.count == 3 }
        XCTAssertEqual(heard, [completed, failed, stalled])

        // Deleted: the watcher hears, and finds nothing.
        let deleted = try enqueue("w") { $0.delayMilliseconds = 60_000 }
        XCTAssertEqual(try watch(deleted), .watching(state: "delayed"))
        let removed: Result<String, PostgresJobError> = try transaction { connection, done in store.delete(deleted, on: connection, completion: done) }
        XCTAssertNoThrow(try removed.get())
        loop.run { heard.count == 4 }
        XCTAssertEqual(heard.last, deleted)
        XCTAssertEqual(try watch(deleted), .notFound)

        // Nobody waits any more: nothing is said.
        let quiet = try enqueue("w")
        XCTAssertEqual(try watch(quiet), .watching(state: "waiting"))
        _ = try transaction { connection, done in store.unwatch(quiet, watcher: "proc-a", on: connection, completion: done) }.get()
        let last = try XCTUnwrap(try reserve(["w"]))
        XCTAssertNoThrow(try ack(last.hold()).get())
        loop.idle(seconds: 0.2)
        XCTAssertEqual(heard.count, 4)
        XCTAssertEqual(try watches(), 0)
    }

    /// The two interleavings that could lose an outcome, forced with explicit transactions held
    /// open: the watch must either see the outcome or be seen by its maker.
    func testNoOutcomeIsMissedWhileAWatchStarts() throws {
        _ = try listen()
        let finisher = try connect()
        let watcher = try connect()
        let first = try enqueue("race")
        let second = try enqueue("race")
        let one = try XCTUnwrap(try reserve(["race"]))
        let two = try XCTUnwrap(try reserve(["race"]))

        // The finisher has completed the job but not committed when the watch starts: the watch
        // waits for it, and sees the outcome.
        var acked: Result<Void, PostgresJobError>?
        finisher.execute("BEGIN") { _ in }
        store.ack(one.hold(), on: finisher) { acked = $0 }
        finisher.commit()
        loop.run { acked != nil }
        var started: Result<PostgresWatchStart, PostgresError>?
        store.watch(first, watcher: "proc-w", on: watcher) { started = $0 }
        watcher.commit()
        loop.idle(seconds: 0.2)
        XCTAssertNil(started, "the watch did not wait for the finishing transaction")
        _ = try finisher.run("COMMIT", on: loop)
        loop.run { started != nil }
        XCTAssertEqual(try started?.get(), .finished(state: "completed"))

        // The watch has started but not committed when the job finishes: the finisher waits
        // for it, then sees the watch and tells it.
        var watching: Result<PostgresWatchStart, PostgresError>?
        watcher.execute("BEGIN") { _ in }
        store.watch(second, watcher: "proc-w", on: watcher) { watching = $0 }
        watcher.commit()
        loop.run { watching != nil }
        XCTAssertEqual(try watching?.get(), .watching(state: "active"))
        var finished: Result<Void, PostgresJobError>?
        store.ack(two.hold(), on: finisher) { finished = $0 }
        finisher.commit()
        loop.idle(seconds: 0.2)
        XCTAssertNil(finished, "the ACK did not wait for the watch")
        _ = try watcher.run("COMMIT", on: loop)
        loop.run { finished != nil && heard == [second] }
        XCTAssertNoThrow(try finished?.get())
        XCTAssertEqual(try watches(), 0)
    }
}
