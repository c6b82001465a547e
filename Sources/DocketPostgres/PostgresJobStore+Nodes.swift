/// The nodes sharing the database (see `PostgresSchema.version6`): each says it is alive, and
/// takes back the jobs of the ones that stopped saying so.
extension PostgresJobStore {
    /// Marks `node` alive; once it has been alive for `timeoutMilliseconds`, ends the attempts
    /// of the jobs held by nodes silent for longer than that (as `lost`: each follows its retry
    /// policy; each attempt names its node) and forgets those nodes. A timeout of 0 only marks
    /// `node` alive.
    public func heartbeat(
        node: String, timeoutMilliseconds: Int, on connection: PostgresConnection,
        completion: @escaping (Result<[PostgresEndedAttempt], PostgresError>) -> Void
    ) {
        connection.execute(
            """
            SELECT id, queue, outcome, retry_ms, attempts, max_attempts, NULL::bigint, node
            FROM docket.node_heartbeat($1::text, $2::bigint, $3::integer)
            """, [.text(node), .int(timeoutMilliseconds), .int(defaults.keepDead)]
        ) { result in
            completion(result.map(Self.endedAttempts))
        }
    }

    /// A node stopping on purpose leaves the list (its connections' jobs were given back as
    /// they closed).
    public func leave(node: String, on connection: PostgresConnection, completion: @escaping (Result<Void, PostgresError>) -> Void) {
        connection.execute("DELETE FROM docket.nodes WHERE id = $1::text", [.text(node)]) { result in
            completion(result.map { _ in () })
        }
    }

    /// The nodes that said they were alive within `timeoutMilliseconds`: their ids and how long
    /// ago each last did, oldest start first.
    public func liveNodes(
        timeoutMilliseconds: Int, on connection: PostgresConnection,
        completion: @escaping (Result<[(id: String, heartbeatAgoMilliseconds: Int)], PostgresError>) -> Void
    ) {
        connection.execute(
            """
            SELECT id, docket.now_ms() - heartbeat_at FROM docket.nodes
            WHERE heartbeat_at >= docket.now_ms() - $1::bigint ORDER BY started_at, id
            """, [.int(timeoutMilliseconds)]
        ) { result in
            completion(result.map { rows in rows.rows.map { (id: $0.string(0) ?? "", heartbeatAgoMilliseconds: $0.int(1) ?? 0) } })
        }
    }
}
