extension PostgresSchema {
    /// Version 19: `settle_children` as in version 12, but a death spreads down the tree in a
    /// loop of the call the parent's change fired, instead of by the trigger firing again for
    /// each child it kills. Each nested trigger call took a share of PostgreSQL's stack
    /// (`max_stack_depth`, 2 MB by default): a chain of 3,000 jobs, each `after=` the one
    /// before, made the FAIL, DEL or expiry of its first job fail with `stack depth limit
    /// exceeded`, every time, so that job could never end (its lease ran out and the same
    /// failure came back). The embedded store settles with a loop too, so both take any depth.
    ///
    /// While the loop runs, `docket.settling` is `on` for the transaction, and the calls its
    /// own changes fire return at once: the loop settles the children of each job it kills
    /// (or that expires as it is released) itself.
    static let version19 = """
        CREATE OR REPLACE FUNCTION docket.settle_children() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_now bigint := docket.now_ms();
            v_parents bigint[];
            v_next integer := 1;
            v_parent bigint;
            v_completed boolean;
            v_why bytea;
            v_wake text[];
            v_dead bigint[];
            v_killed bigint[];
            v_settled bigint[];
            v_spread bigint[];
        BEGIN
            IF current_setting('docket.settling', true) = 'on' THEN
                RETURN NULL;
            END IF;
            PERFORM set_config('docket.settling', 'on', true);
            IF TG_OP = 'DELETE' THEN
                v_parents := ARRAY[OLD.id];
                v_completed := false;
                v_why := convert_to('parent ' || OLD.id || ' deleted', 'UTF8');
            ELSE
                v_parents := ARRAY[NEW.id];
                v_completed := NEW.state = 'completed';
                v_why := convert_to('parent ' || NEW.id || ' dead', 'UTF8');
            END IF;
            WHILE v_next <= cardinality(v_parents) LOOP
                v_parent := v_parents[v_next];
                IF v_next > 1 THEN
                    -- Every job after the first was killed or expired here: a dead parent.
                    v_completed := false;
                    v_why := convert_to('parent ' || v_parent || ' dead', 'UTF8');
                END IF;
                -- One parent fewer to wait for; the last one releases the child as it was
                -- enqueued (delayed while its run_at is ahead), or lets it expire if its expiry
                -- passed.
                WITH released AS (
                    UPDATE docket.jobs c
                    SET pending_parents = c.pending_parents - 1,
                        state = CASE WHEN c.pending_parents > 1 THEN 'blocked' WHEN c.expires_at <= v_now THEN 'dead' ELSE 'waiting' END,
                        run_at = CASE WHEN c.pending_parents > 1 THEN c.run_at ELSE greatest(c.run_at, v_now) END,
                        finished_at = CASE WHEN c.pending_parents <= 1 AND c.expires_at <= v_now THEN v_now ELSE c.finished_at END,
                        last_error = CASE WHEN c.pending_parents <= 1 AND c.expires_at <= v_now
                                          THEN convert_to('expired: not started by ' || c.expires_at || ' (unix ms)', 'UTF8')
                                          ELSE c.last_error END
                    WHERE c.parents @> ARRAY[v_parent] AND c.state = 'blocked' AND (v_completed OR c.runs_if_parent_dies)
                    RETURNING c.id, c.queue, c.state, c.run_at, c.has_children
                )
                SELECT coalesce(array_agg(DISTINCT r.queue) FILTER (WHERE r.state = 'waiting' AND r.run_at <= v_now), '{}'),
                       coalesce(array_agg(r.id) FILTER (WHERE r.state = 'dead'), '{}'),
                       coalesce(array_agg(r.id) FILTER (WHERE r.state <> 'blocked'), '{}'),
                       coalesce(array_agg(r.id) FILTER (WHERE r.state = 'dead' AND r.has_children), '{}')
                    INTO v_wake, v_dead, v_settled, v_spread
                FROM released r;
                WITH killed AS (
                    UPDATE docket.jobs c SET state = 'dead', finished_at = v_now, last_error = v_why
                    WHERE c.parents @> ARRAY[v_parent] AND c.state = 'blocked' AND NOT v_completed AND NOT c.runs_if_parent_dies
                    RETURNING c.id, c.has_children
                )
                SELECT coalesce(array_agg(k.id), '{}'), v_spread || coalesce(array_agg(k.id) FILTER (WHERE k.has_children), '{}')
                    INTO v_killed, v_spread
                FROM killed k;
                IF cardinality(v_settled) + cardinality(v_killed) > 0 THEN
                    PERFORM pg_notify('docket_settled', json_build_object(
                                'id', j.id, 'queue', j.queue,
                                'event', CASE WHEN j.id = ANY(v_killed) THEN 'dead' WHEN j.state = 'dead' THEN 'expired' ELSE 'unblocked' END,
                                'state', j.state, 'run_at', j.run_at, 'max_attempts', j.max_attempts,
                                'error', CASE WHEN j.state = 'dead' THEN convert_from(j.last_error, 'UTF8') END)::text)
                    FROM docket.jobs j WHERE j.id = ANY(v_settled || v_killed);
                END IF;
                PERFORM pg_notify('docket_jobs', q) FROM unnest(v_wake) AS q;
                IF cardinality(v_dead) + cardinality(v_killed) > 0 THEN
                    PERFORM docket.tell_watchers(v_dead || v_killed);
                END IF;
                -- Only jobs with children of their own spread further: a wide tree's leaves
                -- are not copied into the list.
                v_parents := v_parents || v_spread;
                v_next := v_next + 1;
            END LOOP;
            PERFORM set_config('docket.settling', '', true);
            RETURN NULL;
        END
        $f$;
        """
}
