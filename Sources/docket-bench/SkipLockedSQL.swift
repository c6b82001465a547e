/// The SKIP LOCKED baseline's table and statements: the textbook job queue on PostgreSQL, one
/// row per job, claimed with `SELECT … FOR UPDATE SKIP LOCKED LIMIT 1`.
struct SkipLockedSQL: Sendable, Equatable {
    /// The table, named after `--queue` (quoted: a queue name may hold `-`).
    let table: String

    init(queue: String) {
        precondition(!queue.contains("\""))
        table = "\"\(queue)\""
    }

    /// The table and the partial index the claim reads: waiting jobs in id order.
    var create: [String] {
        [
            "CREATE TABLE \(table) (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'waiting', payload text NOT NULL)",
            "CREATE INDEX \(String(table.dropLast()))_waiting\" ON \(table) (id) WHERE state = 'waiting'",
        ]
    }

    /// A producer's enqueue, one job per transaction (autocommit).
    var insert: String { "INSERT INTO \(table) (payload) VALUES ($1)" }

    /// The untimed fill of a drain run: many jobs per statement (`$1` a text[]).
    var insertMany: String { "INSERT INTO \(table) (payload) SELECT unnest($1::text[])" }

    /// A worker's claim, in a transaction of its own: BEGIN; this; `activate`; COMMIT.
    var claim: String { "SELECT id, payload FROM \(table) WHERE state = 'waiting' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1" }

    var activate: String { "UPDATE \(table) SET state = 'active' WHERE id = $1" }

    /// A worker's ack: a transaction of its own (autocommit).
    var complete: String { "UPDATE \(table) SET state = 'completed' WHERE id = $1" }
}
