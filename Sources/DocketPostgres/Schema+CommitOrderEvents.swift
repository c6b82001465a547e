extension PostgresSchema {
    /// Version 15: lifecycle events numbered in the transaction that made them true, so a
    /// queue's `seq` follows the order the changes committed in, across every docketd.
    ///
    /// A docketd that publishes events commits in two steps (`PostgresConnection.commit
    /// (finishing:)`): once it has read what its statements did, it takes the numbers for the
    /// events they made with `number_events`, then commits. The counter rows stay locked until
    /// that commit, so a change that commits later on any node takes later numbers. The
    /// children a parent's end settles are counted and told there too: a trigger keeps them for
    /// the transaction (`docket.settled_children`); version 12's notifications of them, which
    /// come after the commit, are no longer listened to.
    static let version15 = """
        -- A child leaving 'blocked' (its last parent completed, or it expired meanwhile, or it
        -- died with its parent: settle_children's changes) is kept, in the JSON settle_children
        -- notifies, for number_events in the same transaction (a notification would come only
        -- after the commit); only while that transaction numbers its events (a docketd sets
        -- docket.numbering at its start), so nothing is kept that nobody takes. A row each,
        -- not a growing value: a parent with thousands of children costs linear time.
        -- An expired child's error is settle_children's 'expired: …'.
        CREATE TABLE docket.settled_children (
            xact xid8 NOT NULL,
            n bigserial,
            child jsonb NOT NULL
        );
        CREATE INDEX settled_children_xact ON docket.settled_children (xact, n);
        CREATE FUNCTION docket.keep_settled_child() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            IF current_setting('docket.numbering', true) = 'on' THEN
                INSERT INTO docket.settled_children (xact, child) VALUES (pg_current_xact_id(), jsonb_build_object(
                    'id', NEW.id, 'queue', NEW.queue,
                    'event', CASE WHEN NEW.state <> 'dead' THEN 'unblocked'
                                  WHEN convert_from(NEW.last_error, 'UTF8') LIKE 'expired:%' THEN 'expired'
                                  ELSE 'dead' END,
                    'state', NEW.state, 'run_at', NEW.run_at, 'max_attempts', NEW.max_attempts,
                    'error', CASE WHEN NEW.state = 'dead' THEN convert_from(NEW.last_error, 'UTF8') END));
            END IF;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER jobs_keep_settled_children AFTER UPDATE OF state ON docket.jobs FOR EACH ROW
            WHEN (OLD.state = 'blocked' AND NEW.state <> 'blocked')
            EXECUTE FUNCTION docket.keep_settled_child();

        -- The numbers for one transaction's events, taken just before it commits: each queue's
        -- last number (p_counts[i] events of p_queues[i], plus the children settled in this
        -- transaction), then each settled child (its queue, and JSON as the trigger kept it), in order.
        CREATE FUNCTION docket.number_events(p_queues text[], p_counts bigint[])
        RETURNS TABLE (queue text, last bigint, settled text)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        BEGIN
            -- plpgsql rather than sql: its plans are kept for the session, and this runs per commit.
            RETURN QUERY
            WITH settled AS (
                DELETE FROM docket.settled_children s WHERE s.xact = pg_current_xact_id() RETURNING s.n, s.child
            ), wanted AS (
                SELECT w.q, sum(w.n)::bigint AS n
                FROM (SELECT t.q, t.n FROM unnest(p_queues, p_counts) AS t(q, n)
                      UNION ALL SELECT e.child->>'queue', 1 FROM settled AS e) AS w
                GROUP BY w.q
            ), taken AS (
                -- In name order: two nodes numbering the same queues lock them in one order.
                INSERT INTO docket.event_seqs AS c (queue, seq)
                SELECT w.q, w.n FROM wanted w ORDER BY w.q
                ON CONFLICT ON CONSTRAINT event_seqs_pkey DO UPDATE SET seq = c.seq + excluded.seq
                RETURNING c.queue, c.seq
            )
            SELECT t.queue, t.seq, NULL::text FROM taken t
            UNION ALL
            SELECT s.child->>'queue', NULL::bigint, s.child::text FROM (SELECT e.child, e.n FROM settled e ORDER BY e.n) AS s;
        END
        $f$;
        """
}
