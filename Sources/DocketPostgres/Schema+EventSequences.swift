extension PostgresSchema {
    /// Lifecycle event numbers (`seq`) shared by every docketd on the database: one counter per
    /// queue. A docketd numbers the events it is about to publish by taking a run of numbers per
    /// queue (`take_event_seqs`) in the transaction after the one that made them true, so a
    /// queue's events are numbered 1, 2, 3… across all nodes, without gaps or repeats, in the
    /// order the nodes take them (nearly always, but not by guarantee, the order of the changes).
    static let version10 = """
        CREATE TABLE docket.event_seqs (
            queue text PRIMARY KEY,
            seq bigint NOT NULL
        );
        -- For each queue, the last number of the run of p_counts[i] numbers taken.
        CREATE FUNCTION docket.take_event_seqs(p_queues text[], p_counts bigint[])
        RETURNS TABLE (queue text, last bigint)
        LANGUAGE sql AS $f$
            INSERT INTO docket.event_seqs AS s (queue, seq)
            SELECT q, n FROM unnest(p_queues, p_counts) AS t(q, n)
            ON CONFLICT ON CONSTRAINT event_seqs_pkey DO UPDATE SET seq = s.seq + excluded.seq
            RETURNING s.queue, s.seq
        $f$;
        """
}
