extension PostgresSchema {
    /// Version 23: the ready order by place (`readyPlaces`) and freed slots told to every node
    /// (`freedSlots`, in Schema+FreedSlots.swift).
    static let version23 = readyPlaces + freedSlots

    /// Version 23, first part: waiting jobs that became runnable in the same millisecond run in the order
    /// they took their place in line, as on the embedded store, not by id.
    ///
    /// The claim order was `priority, run_at, id`. A job that goes back in line (FAIL with a
    /// retry, a worker lost or a lease ended, RETRY of a dead job, a child its parents
    /// released, PROMOTE, ENQ `replace=true` of a delayed job) has an older id than the jobs
    /// already waiting, so when its new `run_at` was their millisecond it went ahead of them;
    /// the embedded store puts it behind them (`Job.readySequence`). Each job now has a
    /// `place` from the sequence `docket.places`, taken when it is inserted and again whenever
    /// it goes back in line, and claims and LIST order by `priority, run_at, place`.
    ///
    /// The trigger hands out the new places, so that every statement that puts a job back in
    /// line (in `fail`, `end_attempts`, `retry`, the release of children, ENQ's replace and
    /// PROMOTE) gives one without being written again; it fires only on the rare updates that
    /// do (a claim or an ACK fails its WHEN, which calls nothing). A job handed back without its attempt counted (FAIL
    /// `throttle=`, a JOB that never reached its worker) keeps its place, as on the embedded
    /// store: its `attempts` went down. A statement that sets `place` itself keeps its own:
    /// RETRY `queue=` gives its jobs places in the order they died, as the embedded store
    /// revives them, which one UPDATE's row order would not.
    ///
    /// Jobs of older versions keep `place = id` while waiting or active (the order they had);
    /// the others get a place when they next go in line. `reserve` and `reserve_many` are as in
    /// version 18 with the new order; `retry_queue_jobs` as in version 11 with the places.
    static let readyPlaces = """
        CREATE SEQUENCE docket.places;
        PERFORM setval('docket.places', greatest((SELECT max(id) FROM docket.jobs), 1));
        ALTER TABLE docket.jobs ADD COLUMN place bigint;
        ALTER TABLE docket.jobs ALTER COLUMN place SET DEFAULT nextval('docket.places');
        UPDATE docket.jobs SET place = id WHERE state IN ('waiting', 'active');

        DROP INDEX docket.jobs_ready;
        CREATE INDEX jobs_ready ON docket.jobs (queue, priority, run_at, place) WHERE state = 'waiting';

        CREATE FUNCTION docket.take_place() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            NEW.place := nextval('docket.places');
            RETURN NEW;
        END
        $f$;

        CREATE TRIGGER jobs_take_place BEFORE UPDATE OF state, run_at ON docket.jobs
        FOR EACH ROW
        WHEN (NEW.state = 'waiting' AND (OLD.state <> 'waiting' OR NEW.run_at <> OLD.run_at)
              AND NOT (OLD.state = 'active' AND NEW.attempts < OLD.attempts)
              AND NEW.place IS NOT DISTINCT FROM OLD.place)
        EXECUTE FUNCTION docket.take_place();

        CREATE OR REPLACE FUNCTION docket.retry_queue_jobs(p_queue text)
        RETURNS TABLE (id bigint, max_attempts integer)
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_ids bigint[];
            v_places bigint[];
        BEGIN
            SELECT array_agg(d.id ORDER BY d.finished_at, d.id) INTO v_ids
            FROM (SELECT j.id, j.finished_at FROM docket.jobs j WHERE j.queue = p_queue AND j.state = 'dead' FOR UPDATE) d;
            IF v_ids IS NULL THEN
                RETURN;
            END IF;
            SELECT array_agg(s.place ORDER BY s.place) INTO v_places
            FROM (SELECT nextval('docket.places') AS place FROM generate_series(1, cardinality(v_ids))) s;
            RETURN QUERY
            WITH revived AS (
                UPDATE docket.jobs j SET state = 'waiting', attempts = 0, finished_at = NULL, run_at = docket.now_ms(), place = u.place
                FROM unnest(v_ids, v_places) AS u(id, place)
                WHERE j.id = u.id
                RETURNING j.id, j.max_attempts
            )
            SELECT r.id, r.max_attempts FROM revived r ORDER BY r.id;
            PERFORM pg_notify('docket_jobs', p_queue);
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
                ORDER BY j.priority, j.run_at, j.place
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
                SELECT array_agg(c.id ORDER BY c.priority, c.run_at, c.place) INTO v_ids
                FROM (
                    SELECT j.id, j.priority, j.run_at, j.place FROM docket.jobs j
                    WHERE j.queue = v_queue AND j.state = 'waiting' AND j.run_at <= v_due_by
                        AND (j.grp IS NULL
                             OR NOT EXISTS (SELECT 1 FROM docket.group_holds h WHERE h.queue = v_queue AND h.grp = j.grp AND h.until > v_now))
                    ORDER BY j.priority, j.run_at, j.place
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
