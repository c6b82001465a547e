extension PostgresSchema {
    /// Version 11: RETRY queue=<q> answers which jobs it revived (oldest first), so docketd can
    /// publish a `retried` event for each, as the embedded store does; `retry_queue` stays for
    /// a docketd of version 10 sharing the database.
    static let version11 = """
        CREATE FUNCTION docket.retry_queue_jobs(p_queue text)
        RETURNS TABLE (id bigint, max_attempts integer)
        LANGUAGE plpgsql AS $f$
        BEGIN
            RETURN QUERY
            WITH revived AS (
                UPDATE docket.jobs j SET state = 'waiting', attempts = 0, finished_at = NULL, run_at = docket.now_ms()
                WHERE j.queue = p_queue AND j.state = 'dead'
                RETURNING j.id, j.max_attempts
            )
            SELECT r.id, r.max_attempts FROM revived r ORDER BY r.id;
            IF FOUND THEN
                PERFORM pg_notify('docket_jobs', p_queue);
            END IF;
        END
        $f$;
        """
}
