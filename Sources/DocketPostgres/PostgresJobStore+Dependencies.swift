import DocketWire

/// What dependencies need besides ENQ's `parents`: the parents' outcomes (PARENTS), and which
/// named jobs exist (an `after=` naming an unknown job is refused before anything is enqueued).
extension PostgresJobStore {
    /// PARENTS: each parent of job `id` in the order of its `after=`, or nil if there is no such job.
    /// Outcomes stop once those of the parents before hold `budget` bytes: the later parents
    /// come without theirs (`outcomeWithheld`), as a reply that size would show them anyway.
    public func parents(
        of id: Int64, budget: Int = .max, on connection: PostgresConnection,
        completion: @escaping (Result<[ParentView]?, PostgresError>) -> Void
    ) {
        connection.execute(
            """
            SELECT found, pid, queue, state, CASE WHEN before <= $2::bigint THEN result END,
                   CASE WHEN before <= $2::bigint THEN last_error END,
                   before > $2::bigint AND (result IS NOT NULL OR last_error IS NOT NULL)
            FROM (
                SELECT c.id IS NOT NULL AS found, u.pid, u.k, p.queue,
                       CASE WHEN p.state = 'waiting' AND p.run_at > docket.now_ms() THEN 'delayed' ELSE p.state END AS state,
                       p.result, p.last_error,
                       coalesce(sum(coalesce(octet_length(p.result), 0) + coalesce(octet_length(p.last_error), 0))
                           OVER (ORDER BY u.k ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
                FROM (SELECT 1) AS one
                LEFT JOIN docket.jobs c ON c.id = $1::bigint
                LEFT JOIN LATERAL unnest(c.parents) WITH ORDINALITY AS u(pid, k) ON true
                LEFT JOIN docket.jobs p ON p.id = u.pid
            ) parents
            ORDER BY k
            """, [.int(Int(id)), .int(budget)]
        ) { result in
            completion(
                result.map { rows in
                    guard rows.rows.first?.bool(0) == true else { return nil }
                    return rows.rows.compactMap { row in
                        guard let parent = row.int64(1) else { return nil }
                        var view = ParentView(
                            id: UInt64(parent), queue: row.string(2), state: row.string(3), result: row.bytes(4), lastError: row.bytes(5))
                        view.outcomeWithheld = row.bool(6) == true
                        return view
                    }
                })
        }
    }

    /// The queue of each of `ids` that exists.
    public func queues(ofJobs ids: [Int64], on connection: PostgresConnection, completion: @escaping (Result<[Int64: String], PostgresError>) -> Void) {
        connection.execute("SELECT id, queue FROM docket.jobs WHERE id = ANY($1::bigint[])", [.bigintArray(ids)]) { result in
            completion(
                result.map { rows in
                    var found: [Int64: String] = [:]
                    for row in rows.rows { if let id = row.int64(0), let queue = row.string(1) { found[id] = queue } }
                    return found
                })
        }
    }

    /// Up to `limit` of the children of job `id` above `after`, by id, and whether more follow;
    /// nil if there is no such job. The index on `parents` finds them all (it keeps no order),
    /// and only the page is sorted out of them.
    public func children(
        of id: Int64, after: Int64, limit: Int, on connection: PostgresConnection,
        completion: @escaping (Result<(ids: [UInt64], more: Bool)?, PostgresError>) -> Void
    ) {
        connection.execute(
            """
            SELECT EXISTS (SELECT 1 FROM docket.jobs WHERE id = $1::bigint),
                   (SELECT string_agg(x.id::text, ',' ORDER BY x.id)
                    FROM (SELECT c.id FROM docket.jobs c WHERE c.parents @> ARRAY[$1::bigint] AND c.id > $2::bigint
                          ORDER BY c.id LIMIT $3::integer + 1) x)
            """, [.int(Int(id)), .int(Int(after)), .int(limit)]
        ) { result in
            completion(
                result.map { rows in
                    guard let row = rows.rows.first, row.bool(0) == true else { return nil }
                    let ids = (row.string(1) ?? "").split(separator: ",").compactMap { UInt64($0) }
                    return (Array(ids.prefix(limit)), ids.count > limit)
                })
        }
    }
}
