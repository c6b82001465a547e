extension PostgresSchema {
    /// Version 25: jobs that end together take their places in the embedded store's order, and
    /// retention keeps the dead jobs that died last, as the embedded store does.
    ///
    /// A statement that ends many jobs at once gave them places (`docket.places`, versions 23
    /// and 24) in the order PostgreSQL happened to update the rows: `expire_due` (jobs whose
    /// expiry came together) and the end of attempts (leases that ran out together, a worker's
    /// connection closed). The embedded store ends such jobs one by one: expiries by their time,
    /// then by id; leases by their end, then in the order they were handed out (`delivery`
    /// here); a closed connection's jobs by id. The places, and so the order the retried jobs
    /// run in and the order DEAD lists the dead, differed. Each statement now draws the places
    /// in that order and sets them itself (the triggers then leave them), and answers its rows
    /// in that order, which is the order their events go out in.
    ///
    /// Retention of dead jobs deleted the oldest by `finished_at`, then by id: of jobs that died
    /// in one millisecond it kept those with the highest ids, while the embedded store keeps
    /// those that died last (its history is in death order), and DEAD lists them by their
    /// places. It now orders by the place a job took as it died. Completed jobs take no place
    /// as they complete; their history is trimmed as before.
    ///
    /// `retain` is version 5's, `expire_due` version 5's and `end_attempts_without_history`
    /// version 1's `end_attempts`, each with the order above.
    static let version25 = """
        -- p_count new places, in ascending order: given to rows in a chosen order, they keep it
        -- (the rows of one UPDATE drawing them would get them in the order they are updated).
        CREATE FUNCTION docket.draw_places(p_count integer) RETURNS bigint[]
        LANGUAGE sql VOLATILE AS $f$
            SELECT array_agg(s.place ORDER BY s.place)
            FROM (SELECT nextval('docket.places') AS place FROM generate_series(1, p_count)) s
        $f$;

        CREATE OR REPLACE FUNCTION docket.retain(p_queue text, p_state text, p_keep_default integer) RETURNS bigint
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_now bigint := docket.now_ms();
            v_keep integer;
            v_count bigint;
        BEGIN
            SELECT CASE WHEN p_state = 'completed' THEN q.keep_completed ELSE q.keep_dead END INTO v_keep
            FROM docket.queues q WHERE q.name = p_queue;
            v_keep := greatest(coalesce(v_keep, p_keep_default), 1);
            IF v_keep > 100 AND EXISTS (SELECT 1 FROM docket.retention r
                                        WHERE r.queue = p_queue AND r.state = p_state AND r.at > v_now - 100) THEN
                RETURN 0;
            END IF;
            IF NOT pg_try_advisory_xact_lock(1685021547, hashtext(p_queue)) THEN
                RETURN 0;
            END IF;
            IF p_state = 'completed' THEN
                DELETE FROM docket.jobs d WHERE d.id IN (
                    SELECT j.id FROM docket.jobs j WHERE j.queue = p_queue AND j.state = 'completed'
                    ORDER BY j.finished_at DESC, j.id DESC OFFSET v_keep)
                  AND coalesce(d.key_until, 0) <= v_now
                  AND NOT (d.has_children AND EXISTS (
                    SELECT 1 FROM docket.jobs c WHERE c.parents @> ARRAY[d.id] AND c.state NOT IN ('completed', 'dead')));
            ELSE
                -- Jobs of older versions that died without a place keep their id as one.
                DELETE FROM docket.jobs d WHERE d.id IN (
                    SELECT j.id FROM docket.jobs j WHERE j.queue = p_queue AND j.state = 'dead'
                    ORDER BY j.finished_at DESC, coalesce(j.place, j.id) DESC OFFSET v_keep)
                  AND coalesce(d.key_until, 0) <= v_now
                  AND NOT (d.has_children AND EXISTS (
                    SELECT 1 FROM docket.jobs c WHERE c.parents @> ARRAY[d.id] AND c.state NOT IN ('completed', 'dead')));
            END IF;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            INSERT INTO docket.retention AS r (queue, state, at) VALUES (p_queue, p_state, v_now)
            ON CONFLICT (queue, state) DO UPDATE SET at = excluded.at;
            RETURN v_count;
        END
        $f$;

        CREATE OR REPLACE FUNCTION docket.expire_due(p_limit integer, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, attempts integer, max_attempts integer, expires_at bigint, grp bytea)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_ids bigint[];
            v_places bigint[];
        BEGIN
            SELECT array_agg(j.id ORDER BY j.expires_at, j.id) INTO v_ids FROM (
                SELECT j.id, j.expires_at FROM docket.jobs j WHERE j.state IN ('waiting', 'blocked') AND j.expires_at <= v_now
                ORDER BY j.expires_at, j.id LIMIT p_limit FOR UPDATE SKIP LOCKED) AS j;
            IF v_ids IS NULL THEN
                RETURN;
            END IF;
            v_places := docket.draw_places(cardinality(v_ids));
            RETURN QUERY
            WITH expired AS (
                UPDATE docket.jobs j
                SET state = 'dead', finished_at = v_now, place = u.place,
                    last_error = convert_to('expired: not started by ' || j.expires_at || ' (unix ms)', 'UTF8')
                FROM unnest(v_ids, v_places) AS u(id, place)
                WHERE j.id = u.id
                RETURNING j.id, j.queue, j.attempts, j.max_attempts, j.expires_at, j.grp, j.place
            )
            SELECT e.id, e.queue, e.attempts, e.max_attempts, e.expires_at, e.grp FROM expired e ORDER BY e.place;
            PERFORM docket.tell_watchers(v_ids);
            PERFORM docket.retain(x.queue, 'dead', p_keep_dead)
            FROM (SELECT DISTINCT j.queue FROM docket.jobs j WHERE j.id = ANY(v_ids)) AS x;
        END
        $f$;

        CREATE OR REPLACE FUNCTION docket.end_attempts_without_history(p_ids bigint[], p_cause text, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, outcome text, retry_ms bigint, attempts integer, max_attempts integer)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_ids bigint[];
            v_places bigint[];
            v_row record;
        BEGIN
            -- Leases that ran out: by their end, then as they were handed out; a lost worker's
            -- jobs by id.
            SELECT array_agg(j.id ORDER BY CASE WHEN p_cause = 'stalled' THEN j.lease_expires_at END,
                                           CASE WHEN p_cause = 'stalled' THEN j.delivery END, j.id)
                INTO v_ids
            FROM docket.jobs j WHERE j.id = ANY(p_ids) AND j.state = 'active';
            IF v_ids IS NULL THEN
                RETURN;
            END IF;
            v_places := docket.draw_places(cardinality(v_ids));
            FOR v_row IN
                WITH target AS (
                    SELECT j.id, u.place, j.attempts >= j.max_attempts AS dead,
                           docket.retry_wait_ms(j.backoff_kind, j.backoff_base_ms, j.backoff_cap_ms, j.jitter, j.attempts) AS wait
                    FROM unnest(v_ids, v_places) AS u(id, place) JOIN docket.jobs j ON j.id = u.id
                ), ended AS (
                    UPDATE docket.jobs j
                    SET state = CASE WHEN t.dead THEN 'dead' ELSE 'waiting' END,
                        run_at = CASE WHEN t.dead THEN j.run_at ELSE v_now + t.wait END,
                        finished_at = CASE WHEN t.dead THEN v_now END,
                        lease_owner = NULL, lease_expires_at = NULL, place = t.place,
                        last_error = convert_to(CASE WHEN p_cause = 'stalled' THEN 'stalled: lease of ' || j.lease_ms || ' ms expired'
                                                     ELSE 'worker lost: connection closed' END, 'UTF8')
                    FROM target t WHERE j.id = t.id AND j.state = 'active'
                    RETURNING j.id, j.queue, CASE WHEN t.dead THEN 'dead' ELSE 'retry' END AS outcome,
                              CASE WHEN t.dead THEN NULL ELSE t.wait END AS retry_ms, j.attempts, j.max_attempts, t.place
                )
                SELECT * FROM ended e ORDER BY e.place
            LOOP
                id := v_row.id;
                queue := v_row.queue;
                outcome := v_row.outcome;
                retry_ms := v_row.retry_ms;
                attempts := v_row.attempts;
                max_attempts := v_row.max_attempts;
                RETURN NEXT;
                IF v_row.outcome = 'retry' AND v_row.retry_ms <= 0 THEN
                    PERFORM pg_notify('docket_jobs', v_row.queue);
                END IF;
            END LOOP;
            PERFORM docket.tell_watchers(p_ids);
            PERFORM docket.retain(x.queue, 'dead', p_keep_dead)
            FROM (SELECT DISTINCT j.queue FROM docket.jobs j WHERE j.id = ANY(p_ids) AND j.state = 'dead') AS x;
        END
        $f$;
        """
}
