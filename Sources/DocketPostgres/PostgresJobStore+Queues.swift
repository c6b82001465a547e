/// Which queues exist and how many jobs there are (QUEUES, STATS, the dashboard), from what
/// schema versions 29 and 30 keep: a page costs the names it passes over, a count no job read
/// and no lookup per queue.
extension PostgresJobStore {
    /// Up to $2 names of queues, those after $1 in byte order (as the embedded store sorts: the
    /// database's collation, en-US say, would put `a` before `B` and skip `_` and `-`).
    public static let queueNamesPage = """
        SELECT n.name FROM docket.queue_names n WHERE n.name > $1::text AND docket.live_queue_name(n.name)
        ORDER BY n.name LIMIT $2::integer
        """

    /// The number of jobs, and of queues: the counts folded in and the changes since (schema
    /// version 30), whatever the number of queues.
    public static let jobAndQueueCounts = "SELECT c.jobs, c.queues FROM docket.job_and_queue_counts() c"

    /// Names of queues that sort after `after`, `limit` at most, in byte order.
    public func queueNames(
        after: String = "", limit: Int = Int(Int32.max), on connection: PostgresConnection,
        completion: @escaping (Result<[String], PostgresError>) -> Void
    ) {
        connection.execute(Self.queueNamesPage, [.text(after), .int(min(limit, Int(Int32.max)))]) { result in
            completion(result.map { $0.rows.compactMap { $0.string(0) } })
        }
    }

    /// How many jobs there are, and queues.
    public func counts(on connection: PostgresConnection, completion: @escaping (Result<(jobs: Int, queues: Int), PostgresError>) -> Void) {
        connection.execute(Self.jobAndQueueCounts) { result in
            completion(result.map { (jobs: $0.rows.first?.int(0) ?? 0, queues: $0.rows.first?.int(1) ?? 0) })
        }
    }

    /// Names of queues that no longer exist one sweep removes at most (schema version 31):
    /// about 0.2 ms each, in the transaction of a loop pass, so a sweep holds up the commands
    /// sent after it by some tens of milliseconds at most. 100,000 names go in about 8 minutes.
    public static let namesSweptAtOnce = 200

    /// Adds the changes statements made to the numbers of jobs and queues to them, so that they
    /// do not pile up (nothing when another docketd is doing it), and removes the names of
    /// queues that no longer exist.
    public func foldJobCount(on connection: PostgresConnection) {
        connection.execute("SELECT docket.fold_job_count()") { _ in }
        connection.execute("SELECT docket.sweep_queue_names(\(Self.namesSweptAtOnce))") { _ in }
    }
}
