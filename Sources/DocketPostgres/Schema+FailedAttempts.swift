extension PostgresSchema {
    /// A job's attempt history (INSPECT's `failed_attempts`): every attempt that ended without
    /// completing the job, the last `FailedAttempt.kept` (10) of them, oldest first, in
    /// `docket.jobs.failed_attempts` as a JSON array of `{"attempt", "started_at", "ended_at",
    /// "error"}` with the error's first 1,024 bytes (`FailedAttempt.errorBytesKept`) in hex
    /// (nothing requires them to be UTF-8).
    ///
    /// FAIL and the ends of attempts whose worker went (`docket.end_attempts`: a lease run out,
    /// a closed connection, a dead node) record it. Rather than rewrite those functions, the
    /// version 1 ones carry on under a new name and the functions of the old names call them,
    /// then add the attempt: one more row update, on the failure paths only, so ENQ, RESERVE
    /// and ACK cost what they did.
    static let version7 = """
        ALTER TABLE docket.jobs ADD COLUMN failed_attempts jsonb;

        -- p_log with one more attempt, the oldest dropped past 10.
        CREATE FUNCTION docket.with_failed_attempt(p_log jsonb, p_attempt integer, p_started bigint, p_ended bigint, p_error bytea)
        RETURNS jsonb LANGUAGE sql IMMUTABLE AS $f$
            SELECT jsonb_agg(e ORDER BY n)
            FROM (
                SELECT e, n
                FROM jsonb_array_elements(coalesce(p_log, '[]'::jsonb)
                         || jsonb_build_array(jsonb_build_object('attempt', p_attempt, 'started_at', p_started, 'ended_at', p_ended,
                                                                 'error', encode(substring(p_error from 1 for 1024), 'hex'))))
                     WITH ORDINALITY AS x(e, n)
                ORDER BY n DESC LIMIT 10
            ) AS kept
        $f$;

        ALTER FUNCTION docket.fail(bigint, text, integer, bigint, boolean, bytea, integer) RENAME TO fail_without_history;
        ALTER FUNCTION docket.end_attempts(bigint[], text, integer) RENAME TO end_attempts_without_history;

        CREATE FUNCTION docket.fail(p_id bigint, p_owner text, p_attempt integer, p_retry_ms bigint, p_never boolean, p_reason bytea,
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
            END IF;
            RETURN QUERY SELECT v_row.outcome, v_row.retry_ms, v_row.state, v_row.attempts, v_row.held;
        END
        $f$;

        CREATE FUNCTION docket.end_attempts(p_ids bigint[], p_cause text, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, outcome text, retry_ms bigint, attempts integer, max_attempts integer)
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_row record;
            v_ended bigint[] := '{}';
        BEGIN
            FOR v_row IN SELECT * FROM docket.end_attempts_without_history(p_ids, p_cause, p_keep_dead) LOOP
                id := v_row.id;
                queue := v_row.queue;
                outcome := v_row.outcome;
                retry_ms := v_row.retry_ms;
                attempts := v_row.attempts;
                max_attempts := v_row.max_attempts;
                v_ended := v_ended || v_row.id;
                RETURN NEXT;
            END LOOP;
            UPDATE docket.jobs j
            SET failed_attempts = docket.with_failed_attempt(j.failed_attempts, j.attempts, j.started_at, docket.now_ms(), j.last_error)
            WHERE j.id = ANY(v_ended);
        END
        $f$;
        """
}
