extension PostgresJobStore {
    /// Each queue's last event number, and the children a transaction settled (their queue and
    /// what `settle_children` kept of them, JSON), in the order they were settled.
    public struct EventNumbers {
        public var last: [String: Int64] = [:]
        public var settled: [(queue: String, child: String)] = []
    }

    /// The statement that opens a transaction whose events `eventNumbering` will number: while
    /// it is on, the children the transaction settles are kept for that.
    public func eventNumberingOpening() -> PostgresStatement {
        PostgresStatement("SELECT set_config('docket.numbering', 'on', true)") { _ in }
    }

    /// A statement that numbers one transaction's lifecycle events just before it commits
    /// (`PostgresSchema.version15`): `counts` made by docketd per queue (each queue named once),
    /// plus the children the transaction settled. Once it has committed, `completion` has each
    /// queue's last number and the settled children, in the order they were settled.
    public func eventNumbering(
        _ counts: [(queue: String, count: Int)],
        completion: @escaping (Result<EventNumbers, PostgresError>) -> Void
    ) -> PostgresStatement {
        PostgresStatement(
            "SELECT queue, last, settled FROM docket.number_events($1::text[], $2::bigint[])",
            [.textArray(counts.map(\.queue)), .bigintArray(counts.map { Int64($0.count) })]
        ) { result in
            completion(
                result.map { rows in
                    var numbers = EventNumbers()
                    for row in rows.rows {
                        guard let queue = row.string(0) else { continue }
                        if let child = row.string(2) {
                            numbers.settled.append((queue, child))
                        } else if let seq = row.int64(1) {
                            numbers.last[queue] = seq
                        }
                    }
                    return numbers
                })
        }
    }
}
