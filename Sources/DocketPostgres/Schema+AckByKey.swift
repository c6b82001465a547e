extension PostgresSchema {
    /// Version 14: `docket.ack` finds its jobs by primary key. Its `UPDATE … FROM unnest(…)`
    /// was planned from the statistics of a nearly empty table as a hash join over a bitmap scan
    /// of the partial index of active jobs (`jobs_holders`), whose dead entries pile up between
    /// vacuums, so every ACK of 16 jobs read all of them (4,480 index entries and 271 heap pages
    /// in one auto_explain sample). Now the only index the statement can use is the primary key:
    /// its jobs are named by `id = ANY(…)`, and the state is tested in a form that does not match
    /// the partial indexes' `state = 'active'`.
    static let version14 = """
        CREATE OR REPLACE FUNCTION docket.ack(p_id bigint[], p_owner text[], p_attempt integer[], p_result bytea[], p_keep_completed integer)
        RETURNS TABLE (ord integer, outcome text, state text, attempts integer, held boolean)
        LANGUAGE plpgsql SET enable_seqscan = off AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_done bigint[];
            v_queues text[];
        BEGIN
            WITH input AS (
                SELECT * FROM unnest(p_id, p_owner, p_attempt, p_result) WITH ORDINALITY AS i(id, owner, attempt, result, ord)
            ), first AS (
                SELECT DISTINCT ON (i.id) i.* FROM input i ORDER BY i.id, i.ord
            ), done AS (
                UPDATE docket.jobs j
                SET state = 'completed', result = f.result, finished_at = v_now, lease_owner = NULL, lease_expires_at = NULL
                FROM first f
                WHERE j.id = ANY(p_id) AND j.id = f.id AND j.state || '' = 'active' AND j.lease_owner = f.owner
                    AND (f.attempt IS NULL OR j.attempts = f.attempt)
                RETURNING f.ord, j.queue
            )
            SELECT coalesce(array_agg(d.ord), '{}'), coalesce(array_agg(DISTINCT d.queue), '{}') INTO v_done, v_queues FROM done d;
            RETURN QUERY
            SELECT i.ord::integer,
                   CASE WHEN i.ord = ANY(v_done) THEN 'ok' WHEN b.state IS NULL THEN 'not_found' ELSE 'not_held' END,
                   b.state, b.attempts, coalesce(b.state = 'active' AND b.lease_owner = i.owner, false)
            FROM unnest(p_id, p_owner) WITH ORDINALITY AS i(id, owner, ord)
            LEFT JOIN LATERAL (
                SELECT j.state, j.attempts, j.lease_owner FROM docket.jobs j WHERE j.id = i.id AND NOT (i.ord = ANY(v_done))
            ) b ON true
            ORDER BY i.ord;
            PERFORM docket.tell_watchers(p_id);
            PERFORM docket.retain(q, 'completed', p_keep_completed) FROM unnest(v_queues) AS q;
        END
        $f$;
        """
}
