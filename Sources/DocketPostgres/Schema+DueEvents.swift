extension PostgresSchema {
    /// Version 16: `waiting` events for delayed jobs that come due. In the database a delayed job
    /// is a waiting one whose `run_at` is ahead: nothing happens to it when that time comes, so
    /// a trigger notes each job that became delayed (`docket.due_untold`), and docketd takes the
    /// due ones (`docket.take_due`) in its tick and ahead of its claims, and publishes `waiting`
    /// for those still waiting. The job rows are locked for share meanwhile, so a claim on
    /// another node commits after the `waiting` it follows, or (claimed first) the job is not
    /// told at all; a job another transaction holds locked is looked at again next time.
    static let version16 = """
        CREATE TABLE docket.due_untold (
            id bigint PRIMARY KEY,
            run_at bigint NOT NULL
        );
        CREATE INDEX due_untold_run_at ON docket.due_untold (run_at);
        INSERT INTO docket.due_untold (id, run_at)
            SELECT j.id, j.run_at FROM docket.jobs j WHERE j.state = 'waiting' AND j.run_at > docket.now_ms();

        CREATE FUNCTION docket.note_delayed() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            INSERT INTO docket.due_untold AS d (id, run_at) VALUES (NEW.id, NEW.run_at)
            ON CONFLICT (id) DO UPDATE SET run_at = excluded.run_at;
            RETURN NULL;
        END
        $f$;
        -- docket.now_ms() written out: a SQL function in a trigger's WHEN runs as a query per row.
        CREATE TRIGGER jobs_note_delayed AFTER INSERT OR UPDATE OF state, run_at ON docket.jobs FOR EACH ROW
            WHEN (NEW.state = 'waiting' AND NEW.run_at > coalesce(nullif(current_setting('docket.test_now_ms', true), '')::bigint,
                                                                  (extract(epoch FROM clock_timestamp()) * 1000)::bigint))
            EXECUTE FUNCTION docket.note_delayed();

        -- Delayed jobs that came due, at most p_limit, oldest first: each noted job still waiting
        -- with the run time it was noted with (not claimed, promoted or delayed anew since).
        CREATE FUNCTION docket.take_due(p_limit integer)
        RETURNS TABLE (id bigint, queue text, attempts integer, max_attempts integer, grp bytea)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        BEGIN
            -- plpgsql rather than sql: its plans are kept for the session, and this runs per pass.
            RETURN QUERY
            WITH due AS (
                SELECT u.id, u.run_at FROM docket.due_untold u WHERE u.run_at <= docket.now_ms()
                ORDER BY u.run_at LIMIT p_limit FOR UPDATE SKIP LOCKED
            ), told AS (
                SELECT j.id, j.queue, j.attempts, j.max_attempts, j.grp, due.run_at
                FROM due JOIN docket.jobs j ON j.id = due.id
                WHERE j.state = 'waiting' AND j.run_at = due.run_at
                FOR SHARE OF j SKIP LOCKED
            ), forgotten AS (
                -- Told, or no longer delayed to that time (claimed, promoted, delayed anew,
                -- deleted). A job locked by another transaction just now is left for next time.
                DELETE FROM docket.due_untold d USING due
                WHERE d.id = due.id
                  AND (d.id IN (SELECT t.id FROM told t)
                       OR NOT EXISTS (SELECT 1 FROM docket.jobs j WHERE j.id = d.id AND j.state = 'waiting' AND j.run_at = d.run_at))
            )
            SELECT t.id, t.queue, t.attempts, t.max_attempts, t.grp FROM told t ORDER BY t.run_at, t.id;
        END
        $f$;
        """
}
