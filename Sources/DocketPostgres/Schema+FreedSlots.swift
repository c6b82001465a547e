extension PostgresSchema {
    /// Version 23, second part: a job of a queue under `concurrency=` that stops being active
    /// (ACK, FAIL, an attempt ended by a lost worker or an expired lease) notifies the queue,
    /// so a RESERVE waiting for the slot on another docketd tries at once; it waited for its
    /// next poll, up to a second. The docketd that freed the slot wakes its own waiters itself.
    ///
    /// The notification is sent once per transaction and queue, and only for queues with a
    /// cap: an ACK pays one look at `docket.queues` per queue it finished jobs of (by primary
    /// key, beside the one `retain` makes), nothing per job. `ack` is version 14's with that
    /// look added (it is the hot path: no extra call around it); `fail` and `end_attempts` are
    /// version 7's wrappers with it added.
    static let freedSlots = """
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
            PERFORM pg_notify('docket_jobs', q.name) FROM docket.queues q WHERE q.name = ANY(v_queues) AND q.concurrency IS NOT NULL;
        END
        $f$;

        CREATE OR REPLACE FUNCTION docket.fail(p_id bigint, p_owner text, p_attempt integer, p_retry_ms bigint, p_never boolean, p_reason bytea,
                                               p_keep_dead integer)
        RETURNS TABLE (outcome text, retry_ms bigint, state text, attempts integer, held boolean)
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_row record;
        BEGIN
            SELECT * INTO v_row FROM docket.fail_without_history(p_id, p_owner, p_attempt, p_retry_ms, p_never, p_reason, p_keep_dead);
            IF v_row.outcome IN ('retry', 'dead') THEN
                UPDATE docket.jobs j
                SET failed_attempts = docket.with_failed_attempt(j.failed_attempts, j.attempts, j.started_at, docket.now_ms(), p_reason)
                WHERE j.id = p_id;
                PERFORM pg_notify('docket_jobs', q.name)
                FROM docket.jobs j JOIN docket.queues q ON q.name = j.queue WHERE j.id = p_id AND q.concurrency IS NOT NULL;
            END IF;
            RETURN QUERY SELECT v_row.outcome, v_row.retry_ms, v_row.state, v_row.attempts, v_row.held;
        END
        $f$;

        CREATE OR REPLACE FUNCTION docket.end_attempts(p_ids bigint[], p_cause text, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, outcome text, retry_ms bigint, attempts integer, max_attempts integer)
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_row record;
            v_ended bigint[] := '{}';
            v_queues text[] := '{}';
        BEGIN
            FOR v_row IN SELECT * FROM docket.end_attempts_without_history(p_ids, p_cause, p_keep_dead) LOOP
                id := v_row.id;
                queue := v_row.queue;
                outcome := v_row.outcome;
                retry_ms := v_row.retry_ms;
                attempts := v_row.attempts;
                max_attempts := v_row.max_attempts;
                v_ended := v_ended || v_row.id;
                v_queues := v_queues || v_row.queue;
                RETURN NEXT;
            END LOOP;
            UPDATE docket.jobs j
            SET failed_attempts = docket.with_failed_attempt(j.failed_attempts, j.attempts, j.started_at, docket.now_ms(), j.last_error)
            WHERE j.id = ANY(v_ended);
            PERFORM pg_notify('docket_jobs', q.name) FROM docket.queues q WHERE q.name = ANY(v_queues) AND q.concurrency IS NOT NULL;
        END
        $f$;
        """
}
