import DocketWire

/// LIST, PURGE and PROMOTE: browsing and bulk repair, one statement each.
extension PostgresJobStore {
    /// LIST: up to `limit` of the queue's jobs in `state` after `cursor`, in that state's order
    /// (`JobListState`), each with its own cursor, and whether more follow them. Keyset paging on the
    /// jobs' indexes: a page costs the page, and stays in place while jobs come and go.
    /// Rows stop once those before them hold `budget` bytes of strings (`Self.recordBytes`): a
    /// reply of that size could not show more, and a page of jobs with megabytes of error
    /// each would otherwise all travel here first.
    public func list(
        queue: String, state: JobListState, after cursor: JobListCursor?, limit: Int, budget: Int = .max, on connection: PostgresConnection,
        completion: @escaping (Result<(records: [PostgresJobRecord], cursors: [JobListCursor], more: Bool), PostgresError>) -> Void
    ) {
        // The sort key's three parts as columns, in the order JobListState.sortKey gives them.
        let (filter, keyParts, order): (String, [String], String)
        switch state {
        case .waiting:
            (filter, keyParts, order) = ("state = 'waiting' AND run_at <= docket.now_ms()", ["priority", "run_at", "place"], "priority, run_at, place")
        case .delayed:
            (filter, keyParts, order) = ("state = 'waiting' AND run_at > docket.now_ms()", ["0::bigint", "run_at", "id"], "run_at, id")
        case .blocked:
            (filter, keyParts, order) = ("state = 'blocked'", ["0::bigint", "enqueued_at", "id"], "enqueued_at, id")
        case .active:
            (filter, keyParts, order) = ("state = 'active'", ["0::bigint", "coalesce(started_at, 0)", "id"], "started_at, id")
        case .completed, .dead:
            (filter, keyParts, order) = (
                "state = '\(state.rawValue)'", ["0::bigint", "-coalesce(finished_at, 0)", "-id"], "finished_at DESC, id DESC"
            )
        }
        let key = keyParts.joined(separator: ", ")
        var parameters: [PostgresValue] = [.text(queue), .int(limit + 1)]
        var after = ""
        if let cursor {
            // The key as the index has it (priority is an integer there), so the index serves the seek.
            after = " AND (\(key)) > ($3::\(state == .waiting ? "integer" : "bigint"), $4::bigint, $5::bigint)"
            // Priorities fit an integer; a cursor's first part beyond that range orders the same
            // against every row when clamped to it (a client may send any cursor).
            let first = state == .waiting ? Int64(clamping: Int32(clamping: cursor.first)) : cursor.first
            parameters += [.text(String(first)), .text(String(cursor.second)), .text(String(cursor.third))]
        }
        parameters.append(.int(budget))
        let keyColumns = keyParts.enumerated().map { "\($1) AS k\($0 + 1)" }.joined(separator: ", ")
        let page = """
            SELECT \(Self.listedColumns), \(keyColumns), \(Self.recordBytes) AS bytes
            FROM docket.jobs WHERE queue = $1::text AND \(filter)\(after) ORDER BY \(order) LIMIT $2::integer
            """
        connection.execute(
            Self.withinBudget(page, order: "k1, k2, k3", budget: "$\(parameters.count)::bigint"), parameters
        ) { result in
            completion(
                result.map { rows in
                    let page = rows.rows.prefix(limit)
                    let columns = Self.recordColumnCount
                    let cursors = page.map { JobListCursor($0.int64(columns) ?? 0, $0.int64(columns + 1) ?? 0, $0.int64(columns + 2) ?? 0) }
                    // How many rows the page had before the budget cut it.
                    let seen = rows.rows.first?.int(columns + 5) ?? 0
                    return (page.map(Self.record), cursors, seen > limit || page.count < min(seen, limit))
                })
        }
    }

    /// `page` (a query whose columns are a record's, then its sort key, then `bytes`: see
    /// `recordBytes`) cut before the first row that the rows ahead of it, in `order`, bring to
    /// more than `budget` bytes; the first row always stays. Each row gets the bytes before it
    /// and how many rows the page had (`before`, `seen`: the last two columns).
    static func withinBudget(_ page: String, order: String, budget: String) -> String {
        """
        SELECT * FROM (
            SELECT page.*, coalesce(sum(page.bytes) OVER (ORDER BY \(order) ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before,
                count(*) OVER () AS seen
            FROM (\(page)) page
        ) sized WHERE before <= \(budget) ORDER BY \(order)
        """
    }

    /// PURGE: deletes the queue's jobs in `state` (not active), only those that entered it
    /// (enqueued, or finished) more than `olderThan` ms ago if given; answers how many went.
    /// Their watchers hear they are gone.
    public func purge(
        queue: String, state: JobListState, olderThan: Int?, on connection: PostgresConnection,
        completion: @escaping (Result<Int, PostgresError>) -> Void
    ) {
        let filter: String
        switch state {
        case .waiting: filter = "state = 'waiting' AND run_at <= docket.now_ms() AND ($2::bigint IS NULL OR enqueued_at < docket.now_ms() - $2::bigint)"
        case .delayed: filter = "state = 'waiting' AND run_at > docket.now_ms() AND ($2::bigint IS NULL OR enqueued_at < docket.now_ms() - $2::bigint)"
        case .blocked: filter = "state = 'blocked' AND ($2::bigint IS NULL OR enqueued_at < docket.now_ms() - $2::bigint)"
        case .active: return completion(.success(0))
        case .completed, .dead:
            filter = "state = '\(state.rawValue)' AND ($2::bigint IS NULL OR finished_at < docket.now_ms() - $2::bigint)"
        }
        deleting(on: connection)
        defer { deleting(false, on: connection) }
        connection.execute(
            """
            WITH gone AS (DELETE FROM docket.jobs WHERE queue = $1::text AND \(filter) RETURNING id)
            SELECT count(*), docket.tell_watchers(array_agg(id)) FROM gone
            """, [.text(queue), .int(olderThan)]
        ) { result in
            completion(result.map { $0.rows.first?.int(0) ?? 0 })
        }
    }

    /// PROMOTE: a delayed job waits from now on, and its queue's workers are woken.
    public func promote(_ id: Int64, on connection: PostgresConnection, completion: @escaping (Result<PostgresDueJob, PostgresJobError>) -> Void) {
        connection.execute(
            """
            WITH target AS (
                SELECT id, queue, CASE WHEN state = 'waiting' AND run_at > docket.now_ms() THEN 'delayed' ELSE state END AS state
                FROM docket.jobs WHERE id = $1::bigint FOR UPDATE
            ), moved AS (
                UPDATE docket.jobs j SET run_at = docket.now_ms() FROM target t WHERE j.id = t.id AND t.state = 'delayed'
                RETURNING j.id, j.queue, j.attempts, j.max_attempts, j.grp
            ), told AS (
                DELETE FROM docket.due_untold d WHERE d.id IN (SELECT m.id FROM moved m)
            )
            SELECT t.state, m.id, m.queue, m.attempts, m.max_attempts, m.grp, (SELECT pg_notify('docket_jobs', queue) FROM moved)
            FROM target t LEFT JOIN moved m ON true
            """, [.int(Int(id))]
        ) { result in
            switch result {
            case .failure(let error): completion(.failure(.database(error)))
            case .success(let rows):
                guard let row = rows.rows.first, let state = row.string(0) else { return completion(.failure(.notFound(id))) }
                guard state == "delayed" else { return completion(.failure(.notDelayed(id, state: state))) }
                completion(
                    .success(
                        PostgresDueJob(
                            id: id, queue: row.string(2) ?? "", attempts: row.int(3) ?? 0, maxAttempts: row.int(4) ?? 0, group: row.bytes(5))))
            }
        }
    }
}
