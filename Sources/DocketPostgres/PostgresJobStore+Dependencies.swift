import DocketWire

/// What dependencies need besides ENQ's `parents`: the parents' outcomes (PARENTS), and which
/// named jobs exist (an `after=` naming an unknown job is refused before anything is enqueued).
extension PostgresJobStore {
    /// PARENTS: each parent of job `id` in the order of its `after=`, or nil if there is no such job.
    public func parents(
        of id: Int64, on connection: PostgresConnection, completion: @escaping (Result<[ParentView]?, PostgresError>) -> Void
    ) {
        connection.execute(
            """
            SELECT c.id IS NOT NULL, u.pid, p.queue,
                   CASE WHEN p.state = 'waiting' AND p.run_at > docket.now_ms() THEN 'delayed' ELSE p.state END, p.result, p.last_error
            FROM (SELECT 1) AS one
            LEFT JOIN docket.jobs c ON c.id = $1::bigint
            LEFT JOIN LATERAL unnest(c.parents) WITH ORDINALITY AS u(pid, k) ON true
            LEFT JOIN docket.jobs p ON p.id = u.pid
            ORDER BY u.k
            """, [.int(Int(id))]
        ) { result in
            completion(
                result.map { rows in
                    guard rows.rows.first?.bool(0) == true else { return nil }
                    return rows.rows.compactMap { row in
                        guard let parent = row.int64(1) else { return nil }
                        return ParentView(
                            id: UInt64(parent), queue: row.string(2), state: row.string(3), result: row.bytes(4), lastError: row.bytes(5))
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
}
