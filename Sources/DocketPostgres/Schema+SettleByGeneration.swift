extension PostgresSchema {
    /// Version 24: `settle_children` settles a flow one generation at a time, each with a few
    /// set-based statements, instead of one parent at a time.
    ///
    /// Version 19's loop ran two searches of the child index, two updates and a notification
    /// query for every job that died with children of its own, and each child it settled ran
    /// `keep_settled_child` (version 20), two inserts of its own: the FAIL of a root with
    /// 10,000 children, each with one child, took 4.6 to 7.3 s in one transaction
    /// (`--max-flow-depth` bounds a chain's length, not a tree's width). Now each round finds
    /// every blocked child of the jobs that just finished in one statement, counts how many
    /// of its parents are among them, settles them with two updates, and keeps their events
    /// and the queues' `dead` totals with one insert each; the children that died with
    /// children of their own are the next generation. A death costs as many rounds as the
    /// tree is deep (about 0.5 ms each: a chain of 5,000 in 2.5 s, as before), each linear in
    /// its generation (about 40 µs a job: that root's FAIL in 0.8 s).
    ///
    /// What each child becomes is as before: a child under `on_parent_dead=run` (or of a job
    /// that completed) counts its finished parents off at once and is released at zero; any
    /// other dies, `parent <id> dead` (or `deleted`, in the first generation of a DEL or PURGE)
    /// naming the oldest of its parents in the generation. A generation's events are kept
    /// released children first, then the dead, each oldest first. The `docket_settled`
    /// notifications (version 12), which nothing has listened to since version 15, are no
    /// longer sent.
    ///
    /// And a job takes a place (`docket.places`, version 23) as it dies, so DEAD lists the jobs
    /// of one millisecond in the order they died, as the embedded store does, not by id, and
    /// RETRY `queue=` revives them in that order.
    static let version24 = """
        DROP TRIGGER jobs_keep_settled_children ON docket.jobs;
        DROP FUNCTION docket.keep_settled_child();

        -- What settle_children keeps of the children p_ids it just settled, oldest first, for
        -- number_events (what version 20's trigger kept of each), and the dead among them in
        -- their queues' totals. Joined with the ids rather than `= ANY`: a plan made once
        -- cannot know the array is short, and may test it against every dead job.
        CREATE FUNCTION docket.keep_settled(p_ids bigint[], p_now bigint) RETURNS void
        LANGUAGE plpgsql AS $f$
        BEGIN
            IF current_setting('docket.numbering', true) = 'on' THEN
                INSERT INTO docket.settled_children (xact, child)
                SELECT pg_current_xact_id(), jsonb_build_object(
                    'id', j.id, 'queue', j.queue,
                    'event', CASE WHEN j.state <> 'dead' THEN 'unblocked'
                                  WHEN convert_from(j.last_error, 'UTF8') LIKE 'expired:%' THEN 'expired'
                                  ELSE 'dead' END,
                    'state', j.state, 'run_at', j.run_at, 'max_attempts', j.max_attempts,
                    'error', CASE WHEN j.state = 'dead' THEN convert_from(j.last_error, 'UTF8') END,
                    'group', encode(j.grp, 'hex'))
                FROM unnest(p_ids) AS u(id) JOIN docket.jobs j ON j.id = u.id ORDER BY j.id;
            END IF;
            INSERT INTO docket.activity AS a (queue, second, dead)
            SELECT j.queue, p_now / 1000, count(*) FROM unnest(p_ids) AS u(id) JOIN docket.jobs j ON j.id = u.id
            WHERE j.state = 'dead' GROUP BY j.queue
            ON CONFLICT (queue, second) DO UPDATE SET dead = a.dead + excluded.dead;
        END
        $f$;

        CREATE OR REPLACE FUNCTION docket.settle_children() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_now bigint := docket.now_ms();
            v_generation bigint[];
            v_completed boolean;
            v_deleted boolean;
            v_children bigint[];
            v_finished integer[];
            v_first bigint[];
            v_wake text[];
            v_dead bigint[];
            v_released bigint[];
            v_next bigint[];
            v_killed bigint[];
        BEGIN
            IF current_setting('docket.settling', true) = 'on' THEN
                RETURN NULL;
            END IF;
            PERFORM set_config('docket.settling', 'on', true);
            IF TG_OP = 'DELETE' THEN
                v_generation := ARRAY[OLD.id];
                v_completed := false;
                v_deleted := true;
            ELSE
                v_generation := ARRAY[NEW.id];
                v_completed := NEW.state = 'completed';
                v_deleted := false;
            END IF;
            WHILE cardinality(v_generation) > 0 LOOP
                -- Every blocked child of the generation, oldest first, with how many of its
                -- parents are in it and the oldest of those: one search of the index per
                -- parent, in one statement (a single search with the whole generation, `&&`,
                -- costs GIN time in the product of its keys and the children it finds).
                SELECT coalesce(array_agg(h.id ORDER BY h.id), '{}'), array_agg(h.finished ORDER BY h.id),
                       array_agg(h.first ORDER BY h.id)
                    INTO v_children, v_finished, v_first
                FROM (
                    SELECT c.id, count(*)::integer AS finished, min(g.id) AS first
                    FROM unnest(v_generation) AS g(id)
                    -- OFFSET 0 keeps it a search per parent: joined flat, the planner may
                    -- compare every parent with every job instead.
                    CROSS JOIN LATERAL (
                        SELECT c.id FROM docket.jobs c WHERE c.parents @> ARRAY[g.id] AND c.state = 'blocked' OFFSET 0
                    ) c
                    GROUP BY c.id
                ) h;
                EXIT WHEN cardinality(v_children) = 0;
                -- Fewer parents to wait for; the last one releases the child as it was enqueued
                -- (delayed while its run_at is ahead), or lets it expire if its expiry passed.
                WITH released AS (
                    UPDATE docket.jobs c
                    SET pending_parents = c.pending_parents - h.finished,
                        state = CASE WHEN c.pending_parents > h.finished THEN 'blocked' WHEN c.expires_at <= v_now THEN 'dead' ELSE 'waiting' END,
                        run_at = CASE WHEN c.pending_parents > h.finished THEN c.run_at ELSE greatest(c.run_at, v_now) END,
                        finished_at = CASE WHEN c.pending_parents <= h.finished AND c.expires_at <= v_now THEN v_now ELSE c.finished_at END,
                        place = CASE WHEN c.pending_parents <= h.finished AND c.expires_at <= v_now THEN nextval('docket.places') ELSE c.place END,
                        last_error = CASE WHEN c.pending_parents <= h.finished AND c.expires_at <= v_now
                                          THEN convert_to('expired: not started by ' || c.expires_at || ' (unix ms)', 'UTF8')
                                          ELSE c.last_error END
                    FROM unnest(v_children, v_finished) AS h(id, finished)
                    WHERE c.id = h.id AND (v_completed OR c.runs_if_parent_dies)
                    RETURNING c.id, c.queue, c.state, c.run_at, c.has_children
                )
                SELECT coalesce(array_agg(DISTINCT r.queue) FILTER (WHERE r.state = 'waiting' AND r.run_at <= v_now), '{}'),
                       coalesce(array_agg(r.id) FILTER (WHERE r.state = 'dead'), '{}'),
                       coalesce(array_agg(r.id) FILTER (WHERE r.state <> 'blocked'), '{}'),
                       coalesce(array_agg(r.id) FILTER (WHERE r.state = 'dead' AND r.has_children), '{}')
                    INTO v_wake, v_dead, v_released, v_next
                FROM released r;
                WITH killed AS (
                    UPDATE docket.jobs c
                    SET state = 'dead', finished_at = v_now, place = nextval('docket.places'),
                        last_error = convert_to('parent ' || h.first || CASE WHEN v_deleted THEN ' deleted' ELSE ' dead' END, 'UTF8')
                    FROM unnest(v_children, v_first) AS h(id, first)
                    WHERE c.id = h.id AND NOT v_completed AND NOT c.runs_if_parent_dies
                    RETURNING c.id, c.has_children
                )
                SELECT coalesce(array_agg(k.id), '{}'), v_next || coalesce(array_agg(k.id) FILTER (WHERE k.has_children), '{}')
                    INTO v_killed, v_next
                FROM killed k;
                PERFORM docket.keep_settled(v_released, v_now);
                PERFORM docket.keep_settled(v_killed, v_now);
                PERFORM pg_notify('docket_jobs', q) FROM unnest(v_wake) AS q;
                IF cardinality(v_dead) + cardinality(v_killed) > 0 THEN
                    PERFORM docket.tell_watchers(v_dead || v_killed);
                END IF;
                -- Only jobs with children of their own make the next generation: a wide
                -- tree's leaves are not searched for children they do not have.
                v_generation := v_next;
                v_completed := false;
                v_deleted := false;
            END LOOP;
            PERFORM set_config('docket.settling', '', true);
            RETURN NULL;
        END
        $f$;
        -- A generation's search and updates go through the indexes, whatever the planner guesses
        -- of the table's size, with plans made once per session: planned again for each
        -- generation's arrays, a chain of 5,000 took twice version 19's time.
        ALTER FUNCTION docket.settle_children() SET enable_seqscan = off;
        ALTER FUNCTION docket.settle_children() SET plan_cache_mode = force_generic_plan;
        ALTER FUNCTION docket.keep_settled(bigint[], bigint) SET plan_cache_mode = force_generic_plan;
        -- A job takes a place as it dies, so DEAD lists those of one millisecond in the order
        -- they died, as the embedded store does (the database knows only the millisecond).
        -- settle_children gives its children theirs itself, in the order it settles them.
        CREATE TRIGGER jobs_take_place_at_death BEFORE UPDATE OF state ON docket.jobs
        FOR EACH ROW
        WHEN (NEW.state = 'dead' AND OLD.state <> 'dead' AND NEW.place IS NOT DISTINCT FROM OLD.place)
        EXECUTE FUNCTION docket.take_place();
        -- RETRY queue= as in version 23, reviving the jobs of one millisecond in the order they
        -- died (their places), not by id, as the embedded store revives its history.
        CREATE OR REPLACE FUNCTION docket.retry_queue_jobs(p_queue text)
        RETURNS TABLE (id bigint, max_attempts integer)
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_ids bigint[];
            v_places bigint[];
        BEGIN
            SELECT array_agg(d.id ORDER BY d.finished_at, d.died) INTO v_ids
            FROM (SELECT j.id, j.finished_at, coalesce(j.place, j.id) AS died FROM docket.jobs j
                  WHERE j.queue = p_queue AND j.state = 'dead' FOR UPDATE) d;
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
                RETURNING j.id, j.max_attempts, j.place
            )
            -- In that order too, which their `retried` events follow.
            SELECT r.id, r.max_attempts FROM revived r ORDER BY r.place;
            PERFORM pg_notify('docket_jobs', p_queue);
        END
        $f$;
        -- Its own updates do not call it again only to return at once (20 µs a child).
        DROP TRIGGER jobs_settle_children ON docket.jobs;
        CREATE TRIGGER jobs_settle_children AFTER UPDATE OF state ON docket.jobs FOR EACH ROW
            WHEN (NEW.has_children AND NEW.state IN ('completed', 'dead') AND OLD.state NOT IN ('completed', 'dead')
                  AND current_setting('docket.settling', true) IS DISTINCT FROM 'on')
            EXECUTE FUNCTION docket.settle_children();
        """
}
