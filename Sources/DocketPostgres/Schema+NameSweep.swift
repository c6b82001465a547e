extension PostgresSchema {
    /// Version 31: names of queues that no longer exist are removed, so QUEUES pages and the
    /// dashboard's snapshot stop passing over them.
    ///
    /// A name could not simply be deleted once its queue had no job and no settings: an ENQ of
    /// that queue still in flight (its job invisible until it commits) found the name there and
    /// took no lock on it (`ON CONFLICT DO NOTHING`), so a delete in between left a queue with
    /// a job and no name. Now the statements that name queues hold, until they commit, a shared
    /// advisory lock on each name's bucket (one of 64, so that a batch of many queues holds at
    /// most 64 locks: the lock table has room for 64 a connection by default); shared locks do
    /// not wait on each other, so producers still never wait on one another. The sweep takes a
    /// bucket's lock exclusively, without waiting (`pg_try_advisory_lock`), and only then
    /// looks for a job or settings, in a statement of its own (a snapshot taken after the
    /// lock): a transaction that named the queue before has committed and is seen, and one
    /// that names it after waits for the sweep and then inserts the name afresh. A bucket that
    /// is in use is left for a later sweep.
    ///
    /// The candidates are the queues the count's fold found not to exist (`emptied_names`,
    /// version 30), and at this migration every name with no queue; a sweep looks at
    /// `p_limit` at most.
    static let version31 = """
        INSERT INTO docket.emptied_names (name)
            SELECT n.name FROM docket.queue_names n WHERE NOT EXISTS (SELECT 1 FROM docket.queue_jobs q WHERE q.name = n.name COLLATE "default")
            ON CONFLICT DO NOTHING;

        -- The advisory lock key of a queue name's bucket.
        CREATE FUNCTION docket.name_bucket(p_name text) RETURNS integer
        LANGUAGE sql IMMUTABLE AS $f$ SELECT hashtext(p_name) & 63 $f$;

        CREATE OR REPLACE FUNCTION docket.name_queues() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            IF TG_TABLE_NAME = 'jobs' THEN
                PERFORM pg_advisory_xact_lock_shared(1685021549, b.bucket)
                FROM (SELECT DISTINCT docket.name_bucket(n.queue) AS bucket FROM named n ORDER BY 1) b;
                -- In order: two transactions naming the same new queues take them in turn.
                INSERT INTO docket.queue_names (name) SELECT DISTINCT n.queue FROM named n ORDER BY 1 ON CONFLICT DO NOTHING;
            ELSE
                PERFORM pg_advisory_xact_lock_shared(1685021549, b.bucket)
                FROM (SELECT DISTINCT docket.name_bucket(n.name) AS bucket FROM named n ORDER BY 1) b;
                INSERT INTO docket.queue_names (name) SELECT DISTINCT n.name FROM named n ORDER BY 1 ON CONFLICT DO NOTHING;
            END IF;
            RETURN NULL;
        END
        $f$;

        -- Removes the names of up to p_limit candidates whose queue has no job and no settings;
        -- how many it removed. Candidates whose bucket is in use stay for the next sweep. Each
        -- bucket is held for one name's look and delete only (a session lock, let go at once):
        -- held to the commit, a sweep of many names would hold up every producer. A producer
        -- that comes after the delete and before the commit waits on the deleted row of the
        -- name (its insert conflicts with it) and inserts the name once the sweep commits.
        CREATE FUNCTION docket.sweep_queue_names(p_limit integer) RETURNS integer
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_name text;
            v_held integer;
            v_removed integer := 0;
        BEGIN
            FOR v_name IN SELECT e.name FROM docket.emptied_names e ORDER BY e.name LIMIT p_limit LOOP
                v_held := docket.name_bucket(v_name);
                CONTINUE WHEN NOT pg_try_advisory_lock(1685021549, v_held);
                BEGIN
                    -- A statement of its own: its snapshot is taken with the bucket held.
                    IF NOT docket.live_queue_name(v_name) THEN
                        DELETE FROM docket.queue_names n WHERE n.name = v_name COLLATE "C";
                        v_removed := v_removed + 1;
                    END IF;
                    DELETE FROM docket.emptied_names e WHERE e.name = v_name COLLATE "C";
                    PERFORM pg_advisory_unlock(1685021549, v_held);
                EXCEPTION WHEN OTHERS THEN
                    PERFORM pg_advisory_unlock(1685021549, v_held);
                    RAISE;
                END;
            END LOOP;
            RETURN v_removed;
        END
        $f$;
        """
}
