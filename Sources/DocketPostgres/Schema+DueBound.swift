extension PostgresSchema {
    /// Version 18: a claim takes no delayed job that came due after the look for due jobs its
    /// transaction made. docketd looks (`docket.take_due`, its `waiting` events) just before a
    /// pass's claims, but the claims read the clock again, so a delayed job coming due in
    /// between was claimed without its `waiting` event. `take_due` now leaves, for the rest of
    /// its transaction, the time up to which it looked (`docket.due_told_until`: its clock, or,
    /// when it hit its limit, just before the last run time it took: jobs due at that time may
    /// be left for the next look), and `docket.reserve` and
    /// `docket.reserve_many` claim only jobs due by then. Such a job is claimed by the next
    /// pass, after its event. Transactions that did not look (nobody listening) claim as before.
    /// Otherwise the three functions are as in versions 1, 8 and 16.
    static let version18 = """
        CREATE FUNCTION docket.due_by(p_now bigint) RETURNS bigint
        LANGUAGE sql STABLE AS $f$
            SELECT least(p_now, coalesce(nullif(current_setting('docket.due_told_until', true), '')::bigint, p_now))
        $f$;

        CREATE OR REPLACE FUNCTION docket.take_due(p_limit integer)
        RETURNS TABLE (id bigint, queue text, attempts integer, max_attempts integer, grp bytea)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_ids bigint[];
            v_runs bigint[];
        BEGIN
            SELECT coalesce(array_agg(u.id ORDER BY u.run_at, u.id), '{}'), coalesce(array_agg(u.run_at ORDER BY u.run_at, u.id), '{}')
            INTO v_ids, v_runs
            FROM (SELECT u.id, u.run_at FROM docket.due_untold u WHERE u.run_at <= v_now
                  ORDER BY u.run_at, u.id LIMIT p_limit FOR UPDATE SKIP LOCKED) u;
            PERFORM set_config('docket.due_told_until',
                (CASE WHEN cardinality(v_ids) >= p_limit THEN v_runs[cardinality(v_runs)] - 1 ELSE v_now END)::text, true);
            RETURN QUERY
            WITH due AS (
                SELECT d.id, d.run_at FROM unnest(v_ids, v_runs) AS d(id, run_at)
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

        CREATE OR REPLACE FUNCTION docket.reserve(p_queues text[], p_owner text)
        RETURNS TABLE (id bigint, queue text, attempt integer, delivery bigint, lease_ms bigint, lease_expires_at bigint,
                       payload bytea, grp bytea, max_attempts integer, wait_ms bigint)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint;
            v_queue text;
            v_settings docket.queues;
            v_id bigint;
        BEGIN
            FOREACH v_queue IN ARRAY p_queues LOOP
                v_now := docket.now_ms();
                v_settings := NULL;
                SELECT * INTO v_settings FROM docket.queues q WHERE q.name = v_queue;
                IF v_settings.concurrency IS NOT NULL OR v_settings.rate_limit IS NOT NULL OR v_settings.group_rate_limit IS NOT NULL THEN
                    SELECT * INTO v_settings FROM docket.queues q WHERE q.name = v_queue FOR UPDATE;
                    v_now := docket.now_ms();
                END IF;
                CONTINUE WHEN v_settings.paused IS TRUE OR coalesce(v_settings.held_until, 0) > v_now;
                CONTINUE WHEN v_settings.concurrency IS NOT NULL
                    AND (SELECT count(*) FROM docket.jobs j WHERE j.queue = v_queue AND j.state = 'active') >= v_settings.concurrency;
                CONTINUE WHEN v_settings.rate_limit IS NOT NULL
                    AND (SELECT count(*) FROM docket.starts s WHERE s.queue = v_queue AND s.at > v_now - v_settings.rate_window_ms)
                        >= v_settings.rate_limit;
                SELECT j.id INTO v_id FROM docket.jobs j
                WHERE j.queue = v_queue AND j.state = 'waiting' AND j.run_at <= docket.due_by(v_now)
                    AND (v_settings.group_rate_limit IS NULL OR j.grp IS NULL
                         OR (SELECT count(*) FROM docket.starts s
                             WHERE s.queue = v_queue AND s.grp = j.grp AND s.at > v_now - v_settings.group_rate_window_ms)
                            < v_settings.group_rate_limit)
                    AND (j.grp IS NULL
                         OR NOT EXISTS (SELECT 1 FROM docket.group_holds h WHERE h.queue = v_queue AND h.grp = j.grp AND h.until > v_now))
                ORDER BY j.priority, j.run_at, j.id
                LIMIT 1 FOR UPDATE SKIP LOCKED;
                CONTINUE WHEN v_id IS NULL;
                IF v_settings.rate_limit IS NOT NULL OR v_settings.group_rate_limit IS NOT NULL THEN
                    DELETE FROM docket.starts s WHERE s.queue = v_queue
                        AND s.at <= v_now - greatest(coalesce(v_settings.rate_window_ms, 0), coalesce(v_settings.group_rate_window_ms, 0));
                    INSERT INTO docket.starts (queue, grp, at) SELECT v_queue, j.grp, v_now FROM docket.jobs j WHERE j.id = v_id;
                END IF;
                RETURN QUERY
                UPDATE docket.jobs j
                SET state = 'active', attempts = j.attempts + 1, lease_owner = p_owner, lease_expires_at = v_now + j.lease_ms,
                    delivery = nextval('docket.deliveries'), started_at = v_now, progress = 0, progress_note = NULL
                WHERE j.id = v_id
                RETURNING j.id, j.queue, j.attempts, j.delivery, j.lease_ms, j.lease_expires_at, j.payload, j.grp, j.max_attempts,
                          greatest(v_now - j.run_at, 0);
                RETURN;
            END LOOP;
        END
        $f$;

        CREATE OR REPLACE FUNCTION docket.reserve_many(p_queues text[], p_owners text[])
        RETURNS TABLE (ord integer, id bigint, queue text, attempt integer, delivery bigint, lease_ms bigint, lease_expires_at bigint,
                       payload bytea, grp bytea, max_attempts integer, wait_ms bigint)
        LANGUAGE plpgsql SET enable_seqscan = off AS $f$
        #variable_conflict use_column
        DECLARE
            v_next integer := 1;
            v_count integer := coalesce(cardinality(p_owners), 0);
            v_queue text;
            v_settings docket.queues;
            v_now bigint;
            v_due_by bigint;
            v_ids bigint[];
            v_row record;
        BEGIN
            FOREACH v_queue IN ARRAY p_queues LOOP
                EXIT WHEN v_next > v_count;
                v_settings := NULL;
                SELECT * INTO v_settings FROM docket.queues q WHERE q.name = v_queue;
                IF v_settings.concurrency IS NOT NULL OR v_settings.rate_limit IS NOT NULL OR v_settings.group_rate_limit IS NOT NULL THEN
                    WHILE v_next <= v_count LOOP
                        SELECT * INTO v_row FROM docket.reserve(ARRAY[v_queue], p_owners[v_next]);
                        EXIT WHEN v_row.id IS NULL;
                        ord := v_next;
                        id := v_row.id;
                        queue := v_row.queue;
                        attempt := v_row.attempt;
                        delivery := v_row.delivery;
                        lease_ms := v_row.lease_ms;
                        lease_expires_at := v_row.lease_expires_at;
                        payload := v_row.payload;
                        grp := v_row.grp;
                        max_attempts := v_row.max_attempts;
                        wait_ms := v_row.wait_ms;
                        RETURN NEXT;
                        v_next := v_next + 1;
                    END LOOP;
                    CONTINUE;
                END IF;
                v_now := docket.now_ms();
                v_due_by := docket.due_by(v_now);
                CONTINUE WHEN v_settings.paused IS TRUE OR coalesce(v_settings.held_until, 0) > v_now;
                SELECT array_agg(c.id ORDER BY c.priority, c.run_at, c.id) INTO v_ids
                FROM (
                    SELECT j.id, j.priority, j.run_at FROM docket.jobs j
                    WHERE j.queue = v_queue AND j.state = 'waiting' AND j.run_at <= v_due_by
                        AND (j.grp IS NULL
                             OR NOT EXISTS (SELECT 1 FROM docket.group_holds h WHERE h.queue = v_queue AND h.grp = j.grp AND h.until > v_now))
                    ORDER BY j.priority, j.run_at, j.id
                    LIMIT v_count - v_next + 1 FOR UPDATE SKIP LOCKED
                ) AS c;
                CONTINUE WHEN v_ids IS NULL;
                RETURN QUERY
                UPDATE docket.jobs j
                SET state = 'active', attempts = j.attempts + 1, lease_owner = p_owners[v_next + p.k::integer - 1],
                    lease_expires_at = v_now + j.lease_ms, delivery = nextval('docket.deliveries'), started_at = v_now,
                    progress = 0, progress_note = NULL
                FROM unnest(v_ids) WITH ORDINALITY AS p(job, k)
                WHERE j.id = p.job
                RETURNING (v_next + p.k::integer - 1), j.id, j.queue, j.attempts, j.delivery, j.lease_ms, j.lease_expires_at, j.payload,
                          j.grp, j.max_attempts, greatest(v_now - j.run_at, 0);
                v_next := v_next + cardinality(v_ids);
            END LOOP;
        END
        $f$;
        """
}
