extension PostgresJobStore {
    /// Takes a run of `count` event numbers for each queue (each queue named once), in the open
    /// transaction; answers each queue's last number, once that transaction has committed.
    public func takeEventSequences(
        _ counts: [(queue: String, count: Int)], on connection: PostgresConnection,
        completion: @escaping (Result<[String: Int64], PostgresError>) -> Void
    ) {
        connection.execute(
            "SELECT queue, last FROM docket.take_event_seqs($1::text[], $2::bigint[])",
            [.textArray(counts.map(\.queue)), .bigintArray(counts.map { Int64($0.count) })]
        ) { result in
            completion(
                result.map { rows in
                    var last: [String: Int64] = [:]
                    for row in rows.rows { if let queue = row.string(0), let seq = row.int64(1) { last[queue] = seq } }
                    return last
                })
        }
    }
}
