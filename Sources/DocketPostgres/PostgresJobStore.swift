import DocketWire

/// The job verbs, each decided by the database in one statement (the functions of
/// `PostgresSchema`), so several docketd processes can share one set of queues.
///
/// A verb only adds its statement to the connection's open transaction: the owner batches as
/// many verbs as it likes (all the commands of one loop pass, say) and sends them with one
/// `connection.commit()`: one round trip, one commit, and every completion runs after that
/// commit, so a success is durable. If any statement of the batch fails, they all do
/// (`PostgresJobError.database`); the verbs are written so that an ordinary refusal
/// (NOT_FOUND, NOT_HELD, a duplicate key) is an answer, never an error that would take the
/// rest of the batch down with it.
///
/// Wake-ups: a transaction that makes a job runnable now (ENQ, a retry without delay, a
/// RETRY, a RESUME, …) sends `NOTIFY docket_jobs, '<queue>'`, delivered after it commits; a
/// connection that has run `LISTEN docket_jobs` hears it through `onNotification`. Delayed
/// jobs and expiring leases are found by time: `nextDeadline` says when to look again
/// (`recoverExpiredLeases` at lease ends; a RESERVE again when a delay runs out).
///
/// Rate limits, group rates and concurrency caps are exact across processes (see
/// `docket.reserve`); retention (`keep_completed`, `keep_dead`) runs with the verb that
/// finishes a job. What the LMDB engine does that this store does not do yet: the queue totals
/// and per-minute rates.
public struct PostgresJobStore: Sendable {
    public var defaults: PostgresJobDefaults

    public init(defaults: PostgresJobDefaults = PostgresJobDefaults()) {
        self.defaults = defaults
    }

    // MARK: Producing

    /// A schedule's ticks that a statement takes for itself before making their jobs: the
    /// schedule's stored last tick moves to `through` only if it is still before `from`.
    public struct TickClaim: Sendable {
        public var schedule: String
        public var from: Int64
        public var through: Int64

        public init(schedule: String, from: Int64, through: Int64) {
            self.schedule = schedule
            self.from = from
            self.through = through
        }
    }

    /// ENQ for many jobs in one statement; answers in the order of `jobs`. With `claim`, the
    /// jobs are made only if the statement claims the schedule's ticks (no answers if another
    /// process handled them first), in the same transaction, so a tick makes its job at most
    /// once across every docketd on the database, even once retention forgot the job's key.
    ///
    /// Jobs with parents are given their depth in their flow, and with `maxFlowDepth` one
    /// deeper than that refuses them all: `PostgresError.flowTooDeep` says which and how deep.
    public func enqueue(
        _ jobs: [PostgresNewJob], claiming claim: TickClaim? = nil, maxFlowDepth: Int = Int(Int32.max), on connection: PostgresConnection,
        completion: @escaping (Result<[PostgresEnqueued], PostgresError>) -> Void
    ) {
        let backoffs = jobs.map { $0.backoff?.columns }
        let fallback = defaults.backoff.columns
        // An `at=` already past by the database's clock is dropped: the job runs now, behind the
        // jobs already waiting, as on the embedded store (claims take the oldest run time first,
        // so one kept would go ahead of them all).
        let runAt = jobs.contains { $0.runAtMilliseconds != nil } ? Self.futureRunTimes : "$5::bigint[]"
        // Jobs with parents go through `docket.enqueue_flow`, which bounds their depth (its
        // parameter is the last); the others (a schedule's ticks among them) need no depth.
        let bounded = claim == nil && jobs.contains { $0.parents != nil }
        // With a claim the queues come from its row: the function then depends on the row, so
        // it runs once per row of the claim (none: not at all) whatever plan the join takes.
        let enqueue = """
            docket.\(bounded ? "enqueue_flow($25::integer, " : "enqueue(")\(claim == nil ? "$1::text[]" : "claim.queues"), $2::bytea[], $3::integer[], $4::bigint[], \(runAt),
                $6::integer[], $7::text[], $8::bigint[], $9::bigint[], $10::float8[], $11::bigint[], $12::bytea[], $13::bytea[],
                $14::integer, $15::text, $16::bigint, $17::bigint, $18::bigint, $19::bigint[], $20::bigint[], $21::text[], $22::boolean[],
                $23::bigint[], $24::boolean[])
            """
        let columns = "ord, id, duplicate, replaced, max_attempts, run_at, state, parents\(bounded ? ", too_deep" : "")"
        var claimParameters: [PostgresValue] = []
        var statement = "SELECT \(columns) FROM \(enqueue)"
        if let claim {
            statement = """
                WITH claim AS (
                    UPDATE docket.schedules SET last_tick = $25::bigint WHERE name = $26::text AND last_tick < $27::bigint
                    RETURNING $1::text[] AS queues
                )
                SELECT e.ord, e.id, e.duplicate, e.replaced, e.max_attempts, e.run_at, e.state, e.parents
                FROM claim, LATERAL \(enqueue) AS e
                """
            claimParameters = [.int(Int(claim.through)), .text(claim.schedule), .int(Int(claim.from))]
        }
        let parameters: [PostgresValue] = [
            .textArray(jobs.map(\.queue)), .byteaArray(jobs.map(\.payload)), .intArray(jobs.map { Int32($0.priority) }),
            .bigintArray(jobs.map { $0.delayMilliseconds.map(Int64.init) }), .bigintArray(jobs.map(\.runAtMilliseconds)),
            .intArray(jobs.map { $0.maxAttempts.map(Int32.init) }), .textArray(backoffs.map { $0?.kind }),
            .bigintArray(backoffs.map { $0?.base }), .bigintArray(backoffs.map { $0?.cap }), .doubleArray(jobs.map(\.jitter)),
            .bigintArray(jobs.map { $0.leaseMilliseconds.map(Int64.init) }), .byteaArray(jobs.map(\.key)),
            .byteaArray(jobs.map(\.group)), .int(defaults.maxAttempts), .text(fallback.kind), .text(String(fallback.base)),
            .text(String(fallback.cap)), .int(defaults.leaseMilliseconds),
            .bigintArray(jobs.map { $0.ttlMilliseconds.map(Int64.init) }), .bigintArray(jobs.map(\.expiresAtMilliseconds)),
            .textArray(jobs.map { $0.parents?.joined(separator: ",") }), .boolArray(jobs.map(\.runsIfParentDies)),
            .bigintArray(jobs.map { $0.keyTTLMilliseconds.map(Int64.init) }), .boolArray(jobs.map(\.replace)),
        ]
        if bounded { claimParameters = [.int(Int(clamping: min(maxFlowDepth, Int(Int32.max))))] }
        connection.execute(statement, parameters + claimParameters) { result in
            completion(
                result.flatMap { rows in
                    var answers: [PostgresEnqueued] = []
                    for row in rows.rows {
                        if bounded, let depth = row.int(8) {
                            return .failure(PostgresError(
                                .server, "job \(row.int(0) ?? 0) would be \(depth) deep in its flow",
                                flowTooDeep: PostgresError.FlowTooDeep(job: row.int(0) ?? 0, depth: depth)))
                        }
                        guard let id = row.int64(1) else {
                            // The job holding the key went away between the insert and the lookup.
                            return .failure(PostgresError(.server, "a job with this key was deleted meanwhile; enqueue again"))
                        }
                        answers.append(
                            PostgresEnqueued(
                                id: id, duplicate: row.bool(2) ?? false, maxAttempts: row.int(4) ?? 0, runAt: row.int64(5) ?? 0,
                                state: row.string(6) ?? "waiting", parents: row.string(7).map { $0.split(separator: ",").compactMap { UInt64($0) } },
                                replaced: row.bool(3) ?? false))
                    }
                    return .success(answers)
                })
        }
    }

    // MARK: Consuming

    /// RESERVE without waiting: the next job of the first of `queues` that has one it may
    /// start, or nil. Waiting is the owner's: try again when a notification names one of the
    /// queues, or when `nextDeadline` comes.
    public func reserve(
        queues: [String], owner: String, on connection: PostgresConnection,
        completion: @escaping (Result<PostgresReservation?, PostgresError>) -> Void
    ) {
        connection.execute(
            "SELECT \(Self.reservationColumns) FROM docket.reserve($1::text[], $2::text)", [.textArray(queues), .text(owner)]
        ) { result in
            completion(result.map { rows in rows.rows.first.map { Self.reservation($0, from: 0) } })
        }
    }

    /// RESERVE for several owners taking from the same `queues`, in one statement: element i of
    /// the answer is what `owners[i]` got (nil: nothing), jobs handed out in the order the owners
    /// are given (see `PostgresSchema.version8`).
    public func reserve(
        queues: [String], owners: [String], on connection: PostgresConnection,
        completion: @escaping (Result<[PostgresReservation?], PostgresError>) -> Void
    ) {
        connection.execute(
            "SELECT ord, \(Self.reservationColumns) FROM docket.reserve_many($1::text[], $2::text[])", [.textArray(queues), .textArray(owners)]
        ) { result in
            completion(
                result.map { rows in
                    var answers = [PostgresReservation?](repeating: nil, count: owners.count)
                    for row in rows.rows {
                        guard let ord = row.int(0), (1...owners.count).contains(ord) else { continue }
                        answers[ord - 1] = Self.reservation(row, from: 1)
                    }
                    return answers
                })
        }
    }

    /// The run times of `enqueue`'s fifth parameter, those already past made null.
    static let futureRunTimes = "(SELECT array_agg(CASE WHEN u.r > docket.now_ms() THEN u.r END ORDER BY u.k) FROM unnest($5::bigint[]) WITH ORDINALITY AS u(r, k))"

    static let reservationColumns = "id, queue, attempt, delivery, lease_ms, lease_expires_at, payload, grp, max_attempts, wait_ms"

    /// A reservation from `reservationColumns`, starting at column `first`.
    static func reservation(_ row: PostgresRow, from first: Int) -> PostgresReservation {
        PostgresReservation(
            id: row.int64(first) ?? 0, queue: row.string(first + 1) ?? "", attempt: row.int(first + 2) ?? 0,
            delivery: row.int64(first + 3) ?? 0, leaseMilliseconds: row.int(first + 4) ?? 0, leaseExpiresAt: row.int64(first + 5) ?? 0,
            payload: row.bytes(first + 6) ?? [], group: row.bytes(first + 7), maxAttempts: row.int(first + 8) ?? 0,
            waitMilliseconds: row.int(first + 9) ?? 0)
    }

    /// ACK for many jobs in one statement (with their results); answers in order.
    public func ack(
        _ holds: [(hold: PostgresHold, result: [UInt8]?)], on connection: PostgresConnection,
        completion: @escaping (Result<[Result<Void, PostgresJobError>], PostgresError>) -> Void
    ) {
        connection.execute(
            "SELECT ord, outcome, state, attempts, held FROM docket.ack($1::bigint[], $2::text[], $3::integer[], $4::bytea[], $5::integer)",
            [
                .bigintArray(holds.map(\.hold.id)), .textArray(holds.map(\.hold.owner)),
                .intArray(holds.map { $0.hold.attempt.map(Int32.init) }), .byteaArray(holds.map(\.result)), .int(defaults.keepCompleted),
            ]
        ) { result in
            completion(
                result.map { rows in
                    zip(holds, rows.rows).map { item, row in
                        row.string(1) == "ok"
                            ? .success(())
                            : .failure(Self.refusal(row.string(1), item.hold, held: row.bool(4) ?? false, current: row.int(3)))
                    }
                })
        }
    }

    /// ACK of one job.
    public func ack(
        _ hold: PostgresHold, result: [UInt8]? = nil, on connection: PostgresConnection,
        completion: @escaping (Result<Void, PostgresJobError>) -> Void
    ) {
        ack([(hold, result)], on: connection) { answer in
            switch answer {
            case .success(let outcomes): completion(outcomes.first ?? .failure(.notFound(hold.id)))
            case .failure(let error): completion(.failure(.database(error)))
            }
        }
    }

    /// FAIL: retry after the backoff (or `choice`'s delay) while attempts are left, else dead.
    public func fail(
        _ hold: PostgresHold, choice: PostgresFailChoice = .policy, reason: [UInt8]? = nil, on connection: PostgresConnection,
        completion: @escaping (Result<PostgresFailOutcome, PostgresJobError>) -> Void
    ) {
        var retry: Int?
        if case .after(let milliseconds) = choice { retry = milliseconds }
        connection.execute(
            """
            SELECT outcome, retry_ms, state, attempts, held
            FROM docket.fail($1::bigint, $2::text, $3::integer, $4::bigint, $5::boolean, $6::bytea, $7::integer)
            """,
            [
                .int(Int(hold.id)), .text(hold.owner), .int(hold.attempt), .int(retry), .text(choice == .never ? "true" : "false"),
                .bytes(reason), .int(defaults.keepDead),
            ]
        ) { result in
            switch result {
            case .failure(let error): completion(.failure(.database(error)))
            case .success(let rows):
                let row = rows.rows.first
                switch row?.string(0) {
                case "retry": completion(.success(.retry(afterMilliseconds: row?.int(1) ?? 0)))
                case "dead": completion(.success(.dead))
                default: completion(.failure(Self.refusal(row?.string(0), hold, held: row?.bool(4) ?? false, current: row?.int(3))))
                }
            }
        }
    }

    /// PROGRESS: records the percentage (and note) and renews the lease. Answers the lease's new end.
    public func progress(
        _ hold: PostgresHold, percent: Int, note: [UInt8]? = nil, on connection: PostgresConnection,
        completion: @escaping (Result<Int64, PostgresJobError>) -> Void
    ) {
        heartbeat(hold, percent: percent, note: note, on: connection, completion: completion)
    }

    /// TOUCH: renews the lease. Answers the lease's new end.
    public func touch(_ hold: PostgresHold, on connection: PostgresConnection, completion: @escaping (Result<Int64, PostgresJobError>) -> Void) {
        heartbeat(hold, percent: nil, note: nil, on: connection, completion: completion)
    }

    private func heartbeat(
        _ hold: PostgresHold, percent: Int?, note: [UInt8]?, on connection: PostgresConnection,
        completion: @escaping (Result<Int64, PostgresJobError>) -> Void
    ) {
        connection.execute(
            "SELECT outcome, state, attempts, held, lease_expires_at FROM docket.heartbeat($1::bigint, $2::text, $3::integer, $4::integer, $5::bytea)",
            [.int(Int(hold.id)), .text(hold.owner), .int(hold.attempt), .int(percent), .bytes(note)]
        ) { result in
            switch result {
            case .failure(let error): completion(.failure(.database(error)))
            case .success(let rows):
                let row = rows.rows.first
                if row?.string(0) == "ok", let until = row?.int64(4) {
                    completion(.success(until))
                } else {
                    completion(.failure(Self.refusal(row?.string(0), hold, held: row?.bool(3) ?? false, current: row?.int(2))))
                }
            }
        }
    }

    /// Undoes a hand-out that never reached its worker: the job waits again in its old place
    /// and the attempt is not counted. Answers whether it was still held so.
    public func giveBack(_ hold: PostgresHold, on connection: PostgresConnection, completion: @escaping (Result<Bool, PostgresError>) -> Void) {
        connection.execute(
            "SELECT docket.give_back($1::bigint, $2::text, $3::integer)", [.int(Int(hold.id)), .text(hold.owner), .int(hold.attempt ?? 0)]
        ) { result in
            completion(result.map { $0.rows.first?.bool(0) ?? false })
        }
    }

    /// Ends the attempts whose lease ran out (at most `limit`; call again while it returns that
    /// many): each counts as a failed attempt and follows the retry policy.
    public func recoverExpiredLeases(
        limit: Int = 1000, on connection: PostgresConnection,
        completion: @escaping (Result<[PostgresEndedAttempt], PostgresError>) -> Void
    ) {
        connection.execute(
            // The lease as the statement began (the function's changes are not seen here, and
            // retention may delete the job): its `stalled` event says it, as the last error does.
            """
            SELECT e.id, e.queue, e.outcome, e.retry_ms, e.attempts, e.max_attempts, (SELECT j.lease_ms FROM docket.jobs j WHERE j.id = e.id)
            FROM docket.recover_expired($1::integer, $2::integer) AS e
            """, [.int(limit), .int(defaults.keepDead)]
        ) { result in
            completion(result.map(Self.endedAttempts))
        }
    }

    /// Makes dead ("expired") the waiting and delayed jobs whose expiry has come, at most
    /// `limit` (call again while it returns that many): before claims, so no job starts after
    /// its expiry, and at the earliest expiry.
    public func expireDue(
        limit: Int = 1000, on connection: PostgresConnection, completion: @escaping (Result<[PostgresExpiredJob], PostgresError>) -> Void
    ) {
        connection.execute(
            "SELECT id, queue, attempts, max_attempts, expires_at, grp FROM docket.expire_due($1::integer, $2::integer)",
            [.int(limit), .int(defaults.keepDead)]
        ) { result in
            completion(
                result.map { rows in
                    rows.rows.map { row in
                        PostgresExpiredJob(
                            id: row.int64(0) ?? 0, queue: row.string(1) ?? "", attempts: row.int(2) ?? 0, maxAttempts: row.int(3) ?? 0,
                            expiresAt: row.int64(4) ?? 0, group: row.bytes(5))
                    }
                })
        }
    }

    /// Adds one docketd's counts to the database's, which every docketd reads for QUEUE
    /// `totals` and `rates` (schema version 17).
    public func addActivity(
        _ rows: [PostgresActivity], on connection: PostgresConnection, completion: @escaping (Result<Void, PostgresError>) -> Void
    ) {
        var parameters: [PostgresValue] = [.textArray(rows.map(\.queue)), .bigintArray(rows.map(\.second))]
        for kind in PostgresActivity.kinds.indices { parameters.append(.bigintArray(rows.map { Int64($0.counts[kind]) })) }
        connection.execute(
            """
            SELECT docket.add_activity($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
                                       $7::bigint[], $8::bigint[], $9::bigint[])
            """, parameters
        ) { completion($0.map { _ in () }) }
    }

    /// A queue's counts as every docketd has added them: its totals, and its last minute up
    /// to `second` (unix seconds).
    public func activity(
        queue: String, second: Int64, on connection: PostgresConnection,
        completion: @escaping (Result<PostgresQueueActivity, PostgresError>) -> Void
    ) {
        connection.execute("SELECT * FROM docket.queue_activity($1::text, $2::bigint)", [.text(queue), .int(Int(second))]) { result in
            completion(
                result.map { rows in
                    let row = rows.rows.first
                    let totals = PostgresQueueActivity.totalNames.count
                    let values = (0..<(totals + 4)).map { row?.int64($0) ?? 0 }
                    return PostgresQueueActivity(totals: Array(values[0..<totals]), lastMinute: Array(values[totals...]))
                })
        }
    }

    /// When the queue's rate window next lets a job start (unix ms), if it holds the queue:
    /// its `limit`-th most recent start, plus the window (nil with no rate, or fewer starts).
    public func rateOpening(queue: String, on connection: PostgresConnection, completion: @escaping (Result<Int64?, PostgresError>) -> Void) {
        connection.execute(
            """
            SELECT s.at + q.rate_window_ms FROM docket.queues q,
                LATERAL (SELECT s.at FROM docket.starts s WHERE s.queue = q.name AND s.at > docket.now_ms() - q.rate_window_ms
                         ORDER BY s.at DESC OFFSET q.rate_limit - 1 LIMIT 1) AS s
            WHERE q.name = $1::text AND q.rate_limit IS NOT NULL
            """, [.text(queue)]
        ) { result in
            completion(result.map { $0.rows.first?.int64(0) })
        }
    }

    /// Delayed jobs that came due since they were noted, at most `limit` (schema version 16):
    /// the ones still waiting, to publish `waiting` for.
    public func takeDue(
        limit: Int = 1000, on connection: PostgresConnection, completion: @escaping (Result<[PostgresDueJob], PostgresError>) -> Void
    ) {
        connection.execute("SELECT id, queue, attempts, max_attempts, grp FROM docket.take_due($1::integer)", [.int(limit)]) { result in
            completion(result.map { $0.rows.map(Self.dueJob) })
        }
    }

    static func dueJob(_ row: PostgresRow) -> PostgresDueJob {
        PostgresDueJob(id: row.int64(0) ?? 0, queue: row.string(1) ?? "", attempts: row.int(2) ?? 0, maxAttempts: row.int(3) ?? 0, group: row.bytes(4))
    }

    /// Ends the attempts held by `owners` (connections that closed, or a docketd shutting
    /// down): failed attempts, as "worker lost".
    public func release(
        owners: [String], on connection: PostgresConnection,
        completion: @escaping (Result<[PostgresEndedAttempt], PostgresError>) -> Void
    ) {
        connection.execute(
            "SELECT id, queue, outcome, retry_ms, attempts, max_attempts FROM docket.release($1::text[], $2::integer)", [.textArray(owners), .int(defaults.keepDead)]
        ) { result in
            completion(result.map(Self.endedAttempts))
        }
    }

    // MARK: Inspection and repair

    public func inspect(_ id: Int64, on connection: PostgresConnection, completion: @escaping (Result<PostgresJobRecord?, PostgresError>) -> Void) {
        connection.execute("SELECT \(Self.recordColumns), failed_attempts FROM docket.jobs WHERE id = $1::bigint", [.int(Int(id))]) {
            result in
            completion(
                result.map {
                    $0.rows.first.map { row in
                        var record = Self.record(row)
                        record.view.failedAttempts = Self.failedAttempts(row.string(Self.recordColumnCount))
                        return record
                    }
                })
        }
    }

    /// The first `limit` bytes of a job's payload and its whole size, for people looking at it
    /// (the dashboard); nil when no job has the id.
    public func payload(
        _ id: Int64, limit: Int, on connection: PostgresConnection,
        completion: @escaping (Result<(bytes: [UInt8], total: Int)?, PostgresError>) -> Void
    ) {
        connection.execute(
            "SELECT substring(payload from 1 for $2::integer), octet_length(payload) FROM docket.jobs WHERE id = $1::bigint",
            [.int(Int(id)), .int(limit)]
        ) { result in
            completion(result.map { $0.rows.first.map { row in (row.bytes(0) ?? [], row.int(1) ?? 0) } })
        }
    }

    /// DEAD: the queue's dead jobs, oldest death first (those of one millisecond in the order
    /// they took their places as they died, schema version 24), stopping once those before a job hold
    /// `budget` bytes of strings (as `list`).
    public func deadJobs(
        queue: String, limit: Int = 100, budget: Int = .max, on connection: PostgresConnection,
        completion: @escaping (Result<[PostgresJobRecord], PostgresError>) -> Void
    ) {
        let page = """
            SELECT \(Self.listedColumns), finished_at AS k1, coalesce(place, id) AS k2, \(Self.recordBytes) AS bytes
            FROM docket.jobs WHERE queue = $1::text AND state = 'dead' ORDER BY finished_at, coalesce(place, id) LIMIT $2::bigint
            """
        connection.execute(Self.withinBudget(page, order: "k1, k2", budget: "$3::bigint"), [.text(queue), .int(limit), .int(budget)]) { result in
            completion(result.map { $0.rows.map(Self.record) })
        }
    }

    /// DEL: forgets a job in any state (its watchers hear it is gone).
    /// Deletes a job; its queue.
    public func delete(_ id: Int64, on connection: PostgresConnection, completion: @escaping (Result<String, PostgresJobError>) -> Void) {
        deleting(on: connection)
        defer { deleting(false, on: connection) }
        connection.execute("SELECT j.queue, docket.delete_job(j.id) FROM docket.jobs j WHERE j.id = $1::bigint", [.int(Int(id))]) { result in
            switch result {
            case .failure(let error): completion(.failure(.database(error)))
            case .success(let rows):
                guard let row = rows.rows.first, row.bool(1) == true, let queue = row.string(0) else { return completion(.failure(.notFound(id))) }
                completion(.success(queue))
            }
        }
    }

    /// Marks the statements between as a DEL or PURGE's own deletes, which retention's count of
    /// removed jobs leaves out (schema version 17).
    func deleting(_ on: Bool = true, on connection: PostgresConnection) {
        connection.execute("SELECT set_config('docket.deleting', $1::text, true)", [.text(on ? "on" : "")]) { _ in }
    }

    // MARK: Outcomes (WAIT)

    /// Outcomes go to this channel (payload: the job id) once a watched job is completed, dead
    /// or deleted: the owner then reads it with `inspect` (nil: deleted, NOT_FOUND).
    public static let outcomesChannel = "docket_outcomes"

    /// WAIT: answers the job's state now. For a job that is not finished, `watcher` (one per
    /// docketd process is enough, whatever number of its connections wait) is told through
    /// `outcomesChannel` when it is, with no window in which an outcome can be missed. Timeouts
    /// are the owner's; `unwatch` when nobody of the process waits any more.
    public func watch(
        _ id: Int64, watcher: String, on connection: PostgresConnection,
        completion: @escaping (Result<PostgresWatchStart, PostgresError>) -> Void
    ) {
        connection.execute("SELECT docket.watch($1::bigint, $2::text)", [.int(Int(id)), .text(watcher)]) { result in
            completion(
                result.map { rows in
                    switch rows.rows.first?.string(0) {
                    case nil: return .notFound
                    case "completed": return .finished(state: "completed")
                    case "dead": return .finished(state: "dead")
                    case let state?: return .watching(state: state)
                    }
                })
        }
    }

    public func unwatch(_ id: Int64, watcher: String, on connection: PostgresConnection, completion: @escaping (Result<Void, PostgresError>) -> Void) {
        connection.execute(
            "DELETE FROM docket.watches WHERE job_id = $1::bigint AND watcher = $2::text", [.int(Int(id)), .text(watcher)]
        ) { result in completion(result.map { _ in () }) }
    }

    /// RETRY <id>: a dead job runs again, its attempts reset.
    /// Answers the job's queue and attempt budget, for its `retried` event.
    public func retry(
        _ id: Int64, on connection: PostgresConnection, completion: @escaping (Result<(queue: String, maxAttempts: Int), PostgresJobError>) -> Void
    ) {
        // A waiting job whose run time is ahead is delayed, as the refusal says on the embedded store.
        connection.execute(
            "SELECT docket.retry(j.id), j.queue, j.max_attempts, j.run_at > docket.now_ms() FROM docket.jobs j WHERE j.id = $1::bigint", [.int(Int(id))]
        ) {
            result in
            switch result {
            case .failure(let error): completion(.failure(.database(error)))
            case .success(let rows):
                let row = rows.rows.first
                switch row?.string(0) {
                case nil: completion(.failure(.notFound(id)))
                case "dead": completion(.success((row?.string(1) ?? "", row?.int(2) ?? 0)))
                case "waiting" where row?.bool(3) == true: completion(.failure(.notDead(id, state: "delayed")))
                case let state?: completion(.failure(.notDead(id, state: state)))
                }
            }
        }
    }

    /// RETRY queue=<q>: every dead job of the queue; answers the jobs revived (id and
    /// `max_attempts`), oldest first.
    public func retryAll(
        queue: String, on connection: PostgresConnection, completion: @escaping (Result<[(id: Int64, maxAttempts: Int)], PostgresError>) -> Void
    ) {
        connection.execute("SELECT id, max_attempts FROM docket.retry_queue_jobs($1::text)", [.text(queue)]) { result in
            completion(result.map { $0.rows.map { (id: $0.int64(0) ?? 0, maxAttempts: $0.int(1) ?? 0) } })
        }
    }

    /// A queue's jobs per state, longest wait, throttle and rate window (a queue never used
    /// reads as empty).
    public func state(queue: String, on connection: PostgresConnection, completion: @escaping (Result<PostgresQueueState, PostgresError>) -> Void) {
        connection.execute(
            """
            SELECT waiting, delayed, active, completed, dead, oldest_waiting_since, held_until, rate_window_starts, now_ms, blocked
            FROM docket.queue_state($1::text)
            """, [.text(queue)]
        ) { result in
            completion(
                result.map { rows in
                    let row = rows.rows.first ?? PostgresRow(Array(repeating: nil, count: 10))
                    var counts: [String: Int] = [:]
                    for (index, name) in ["waiting", "delayed", "active", "completed", "dead"].enumerated() { counts[name] = row.int(index) ?? 0 }
                    counts["blocked"] = row.int(9) ?? 0
                    return PostgresQueueState(
                        counts: counts, oldestWaitingSince: row.int64(5), heldUntil: row.int64(6), rateWindowStarts: row.int(7),
                        now: row.int64(8) ?? 0)
                })
        }
    }

    /// When something is next due by time alone (a delayed job's run time, a lease's end, a
    /// throttle's end, a full rate window's oldest start leaving it), unix ms by the database's
    /// clock, or nil: the owner's timer for `reserve` retries and `recoverExpiredLeases`.
    public func nextDeadline(on connection: PostgresConnection, completion: @escaping (Result<Int64?, PostgresError>) -> Void) {
        connection.execute("SELECT docket.next_deadline()") { result in
            completion(result.map { $0.rows.first?.int64(0) })
        }
    }

    /// FAIL throttle=<ms>: the job waits again in its old place without using up an attempt,
    /// and its queue (or, with `groupOnly`, its group) starts nothing for `milliseconds`.
    /// Answers the hold's end.
    public func throttle(
        _ hold: PostgresHold, milliseconds: Int, groupOnly: Bool = false, reason: [UInt8]? = nil, on connection: PostgresConnection,
        completion: @escaping (Result<Int64, PostgresJobError>) -> Void
    ) {
        connection.execute(
            """
            SELECT outcome, state, attempts, held, held_until
            FROM docket.throttle($1::bigint, $2::text, $3::integer, $4::bigint, $5::boolean, $6::bytea)
            """,
            [.int(Int(hold.id)), .text(hold.owner), .int(hold.attempt), .int(milliseconds), .text(groupOnly ? "true" : "false"), .bytes(reason)]
        ) { result in
            switch result {
            case .failure(let error): completion(.failure(.database(error)))
            case .success(let rows):
                let row = rows.rows.first
                if row?.string(0) == "ok", let until = row?.int64(4) {
                    completion(.success(until))
                } else if row?.string(0) == "no_group" {
                    completion(.failure(.noGroup(hold.id)))
                } else {
                    completion(.failure(Self.refusal(row?.string(0), hold, held: row?.bool(3) ?? false, current: row?.int(2))))
                }
            }
        }
    }

    // MARK: Routes

    /// Notifications about routes go to this channel (payload: the route id), so every docketd
    /// sharing the database can reload them.
    public static let routesChannel = "docket_routes"

    /// ROUTE: stores a route; answers its id (never handed out twice).
    public func addRoute(
        pattern: String, queue: String, rule: String, owner: String?, on connection: PostgresConnection,
        completion: @escaping (Result<Int64, PostgresError>) -> Void
    ) {
        connection.execute(
            """
            WITH added AS (
                INSERT INTO docket.routes (pattern, queue, rule, owner, created_at)
                VALUES ($1::text, $2::text, $3::text, $4::text, docket.now_ms()) RETURNING id
            )
            SELECT id, pg_notify('docket_routes', id::text) FROM added
            """, [.text(pattern), .text(queue), .text(rule), .string(owner)]
        ) { result in
            completion(result.map { $0.rows.first?.int64(0) ?? 0 })
        }
    }

    /// UNROUTE: answers whether the route existed.
    public func removeRoute(_ id: Int64, on connection: PostgresConnection, completion: @escaping (Result<Bool, PostgresError>) -> Void) {
        connection.execute(
            """
            WITH removed AS (DELETE FROM docket.routes WHERE id = $1::bigint RETURNING id)
            SELECT id, pg_notify('docket_routes', id::text) FROM removed
            """, [.int(Int(id))]
        ) { result in
            completion(result.map { !$0.rows.isEmpty })
        }
    }

    /// ROUTES: every route, by id.
    public func routes(on connection: PostgresConnection, completion: @escaping (Result<[PostgresRoute], PostgresError>) -> Void) {
        connection.execute("SELECT id, pattern, queue, rule, owner FROM docket.routes ORDER BY id") { result in
            completion(
                result.map { rows in
                    rows.rows.map { row in
                        PostgresRoute(
                            id: row.int64(0) ?? 0, pattern: row.string(1) ?? "", queue: row.string(2) ?? "", rule: row.string(3) ?? "",
                            owner: row.string(4))
                    }
                })
        }
    }

    // MARK: Queue settings

    /// Replaces a queue's settings (QUEUE <q> k=v…); a change that may let jobs start wakes workers.
    public func setSettings(
        _ settings: PostgresQueueSettings, queue: String, on connection: PostgresConnection,
        completion: @escaping (Result<Void, PostgresError>) -> Void
    ) {
        connection.execute(setSettingsStatement(settings, queue: queue) { result in completion(result.map { _ in () }) })
    }

    /// `setSettings` as a statement, for a transaction's `finishing`.
    public func setSettingsStatement(
        _ settings: PostgresQueueSettings, queue: String, completion: @escaping PostgresConnection.Completion
    ) -> PostgresStatement {
        let backoff = settings.backoff?.columns
        return PostgresStatement(
            """
            WITH saved AS (
                INSERT INTO docket.queues AS q (name, paused, rate_limit, rate_window_ms, group_rate_limit, group_rate_window_ms,
                    concurrency, max_attempts, backoff_kind, backoff_base_ms, backoff_cap_ms, jitter, lease_ms, keep_completed, keep_dead)
                VALUES ($1::text, $2::boolean, $3::integer, $4::bigint, $5::integer, $6::bigint, $7::integer, $8::integer, $9::text,
                    $10::bigint, $11::bigint, $12::float8, $13::bigint, $14::integer, $15::integer)
                ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, rate_limit = excluded.rate_limit,
                    rate_window_ms = excluded.rate_window_ms, group_rate_limit = excluded.group_rate_limit,
                    group_rate_window_ms = excluded.group_rate_window_ms, concurrency = excluded.concurrency,
                    max_attempts = excluded.max_attempts, backoff_kind = excluded.backoff_kind,
                    backoff_base_ms = excluded.backoff_base_ms, backoff_cap_ms = excluded.backoff_cap_ms, jitter = excluded.jitter,
                    lease_ms = excluded.lease_ms, keep_completed = excluded.keep_completed, keep_dead = excluded.keep_dead
                RETURNING q.name, q.paused
            )
            SELECT pg_notify('docket_jobs', name) FROM saved WHERE NOT paused
            """,
            [
                .text(queue), .text(settings.paused ? "true" : "false"), .int(settings.rate?.limit),
                .int(settings.rate?.windowMilliseconds), .int(settings.groupRate?.limit), .int(settings.groupRate?.windowMilliseconds),
                .int(settings.concurrency), .int(settings.maxAttempts), .string(backoff?.kind), .string(backoff.map { String($0.base) }),
                .string(backoff.map { String($0.cap) }), .string(settings.jitter.map { String($0) }), .int(settings.leaseMilliseconds),
                .int(settings.keepCompleted), .int(settings.keepDead),
            ], completion: completion)
    }

    /// PAUSE (true) and RESUME (false); RESUME wakes the queue's workers.
    public func setPaused(
        _ paused: Bool, queue: String, on connection: PostgresConnection, completion: @escaping (Result<Void, PostgresError>) -> Void
    ) {
        connection.execute(
            """
            WITH saved AS (
                INSERT INTO docket.queues AS q (name, paused) VALUES ($1::text, $2::boolean)
                ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
                RETURNING q.name, q.paused
            )
            SELECT pg_notify('docket_jobs', name) FROM saved WHERE NOT paused
            """, [.text(queue), .text(paused ? "true" : "false")]
        ) { result in completion(result.map { _ in () }) }
    }

    /// A queue's settings (the defaults for a queue that has none stored).
    /// `locking`: the queue's row is made if missing and locked until the transaction ends, so
    /// that a change written in the same transaction loses no concurrent one.
    public func settings(
        queue: String, locking: Bool = false, on connection: PostgresConnection,
        completion: @escaping (Result<PostgresQueueSettings, PostgresError>) -> Void
    ) {
        if locking {
            connection.execute("INSERT INTO docket.queues (name) VALUES ($1::text) ON CONFLICT (name) DO NOTHING", [.text(queue)]) { _ in }
        }
        connection.execute(
            """
            SELECT paused, rate_limit, rate_window_ms, group_rate_limit, group_rate_window_ms, concurrency, max_attempts,
                   backoff_kind, backoff_base_ms, backoff_cap_ms, jitter, lease_ms, keep_completed, keep_dead
            FROM docket.queues WHERE name = $1::text
            """ + (locking ? " FOR UPDATE" : ""), [.text(queue)]
        ) { result in
            completion(
                result.map { rows in
                    var settings = PostgresQueueSettings()
                    guard let row = rows.rows.first else { return settings }
                    settings.paused = row.bool(0) ?? false
                    if let limit = row.int(1), let window = row.int(2) { settings.rate = .init(limit: limit, windowMilliseconds: window) }
                    if let limit = row.int(3), let window = row.int(4) { settings.groupRate = .init(limit: limit, windowMilliseconds: window) }
                    settings.concurrency = row.int(5)
                    settings.maxAttempts = row.int(6)
                    settings.backoff = PostgresBackoff(kind: row.string(7), base: row.int(8), cap: row.int(9))
                    settings.jitter = row.double(10)
                    settings.leaseMilliseconds = row.int(11)
                    settings.keepCompleted = row.int(12)
                    settings.keepDead = row.int(13)
                    return settings
                })
        }
    }

    // MARK: Decoding

    /// How many columns `recordColumns` names.
    static let recordColumnCount = 30

    static let recordColumns = recordColumns(children: """
        (SELECT string_agg(x.id::text, ',' ORDER BY x.id)
         FROM (SELECT c.id FROM docket.jobs c WHERE jobs.has_children AND c.parents @> ARRAY[jobs.id]
               ORDER BY c.id LIMIT \(JobView.shownChildren + 1)) x)
        """)

    /// `recordColumns` without the children, which LIST and DEAD do not show (as on the embedded
    /// store): searched for every row, they were most of the cost of a page of parents.
    static let listedColumns = recordColumns(children: "NULL::text")

    private static func recordColumns(children: String) -> String {
        """
        id, queue, CASE WHEN state = 'waiting' AND run_at > docket.now_ms() THEN 'delayed' ELSE state END, priority, attempts,
        max_attempts, backoff_kind, backoff_base_ms, backoff_cap_ms, jitter, lease_ms, key, grp, enqueued_at, run_at, started_at,
        finished_at, progress, progress_note, last_error, result, octet_length(payload), lease_owner, lease_expires_at, delivery,
        expires_at, array_to_string(parents, ','), runs_if_parent_dies, \(children), key_until
        """
    }

    /// The bytes of a job's row that may each be as large as a payload (its key, group,
    /// progress note, error and result): what a reply's budget weighs before rows are fetched.
    static let recordBytes = """
        coalesce(octet_length(key), 0) + coalesce(octet_length(grp), 0) + coalesce(octet_length(progress_note), 0)
            + coalesce(octet_length(last_error), 0) + coalesce(octet_length(result), 0)
        """

    static func record(_ row: PostgresRow) -> PostgresJobRecord {
        var view = JobView(
            id: UInt64(row.int64(0) ?? 0), queue: row.string(1) ?? "", state: row.string(2) ?? "", priority: row.int(3) ?? 0,
            attempts: row.int(4) ?? 0, maxAttempts: row.int(5) ?? 0,
            backoff: (PostgresBackoff(kind: row.string(6), base: row.int(7), cap: row.int(8)) ?? .default).wire,
            jitter: row.double(9) ?? 0, leaseMilliseconds: row.int(10) ?? 0, key: row.bytes(11), group: row.bytes(12),
            enqueuedAt: row.int64(13) ?? 0, runAt: row.int64(14) ?? 0, startedAt: row.int64(15), finishedAt: row.int64(16),
            progress: row.int(17) ?? 0, progressNote: row.bytes(18), lastError: row.bytes(19), result: row.bytes(20),
            payloadBytes: row.int(21) ?? 0, expiresAt: row.int64(25))
        func ids(_ text: String?) -> [UInt64]? { text.map { $0.split(separator: ",").compactMap { UInt64($0) } } }
        if let parents = ids(row.string(26)) {
            view.parents = parents
            view.parentDeathPolicy = row.bool(27) == true ? .run : .fail
        }
        // One more than INSPECT shows was read, to tell that there are more.
        if let children = ids(row.string(28)) {
            view.children = Array(children.prefix(JobView.shownChildren))
            view.childrenTruncated = children.count > JobView.shownChildren
        }
        view.keyUntil = row.int64(29)
        return PostgresJobRecord(view: view, leaseOwner: row.string(22), leaseExpiresAt: row.int64(23), delivery: row.int64(24))
    }

    /// `docket.jobs.failed_attempts` (see `PostgresSchema.version7`) as INSPECT shows it.
    static func failedAttempts(_ text: String?) -> [FailedAttempt] {
        guard let text, case .array(let entries)? = JSONValue.parse(text) else { return [] }
        return entries.compactMap { entry in
            guard let attempt = entry["attempt"]?.intValue, let ended = entry["ended_at"]?.int64Value else { return nil }
            return FailedAttempt(
                attempt: attempt, startedAt: entry["started_at"]?.int64Value, endedAt: ended,
                error: entry["error"]?.stringValue.flatMap(Self.hexBytes))
        }
    }

    /// The bytes of PostgreSQL's `encode(…, 'hex')`; nil if it is not that.
    public static func hexBytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    static func endedAttempts(_ rows: PostgresResult) -> [PostgresEndedAttempt] {
        rows.rows.map { row in
            PostgresEndedAttempt(
                id: row.int64(0) ?? 0, queue: row.string(1) ?? "",
                outcome: row.string(2) == "dead" ? .dead : .retry(afterMilliseconds: row.int(3) ?? 0), attempt: row.int(4) ?? 0,
                maxAttempts: row.int(5) ?? 0, leaseMilliseconds: row.values.count > 6 ? row.int64(6) : nil,
                lostNode: row.values.count > 7 ? row.string(7) : nil)
        }
    }

    /// The refusal a verb's row describes: not found, held in another attempt, or not held.
    static func refusal(_ outcome: String?, _ hold: PostgresHold, held: Bool, current: Int?) -> PostgresJobError {
        if outcome == "not_found" { return .notFound(hold.id) }
        if held, let attempt = hold.attempt, let current, attempt != current {
            return .staleAttempt(hold.id, attempt: attempt, current: current)
        }
        return .notHeld(hold.id)
    }
}
