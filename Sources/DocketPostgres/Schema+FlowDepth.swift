extension PostgresSchema {
    /// Version 22: each job keeps its depth in its flow (`flow_depth`), and ENQs with parents go
    /// through `docket.enqueue_flow`, which refuses a job deeper than the server allows.
    ///
    /// A death or completion spreads down a flow one job at a time (`settle_children`, version
    /// 19), about 0.4 ms per step inside one transaction: a chain of 75,000 jobs, each `after=`
    /// the one before, ran past `--store-timeout` and the database was taken for lost. A job's
    /// depth is one more than the deepest of its parents still unfinished when it is enqueued
    /// (a finished parent has settled its children already), or, for a parent of the same
    /// call (a BATCH's `#n`, or the job its key found), that parent's depth whatever its state;
    /// 1 without parents. The embedded store counts the same way (`JobEngine.flowDepth`).
    ///
    /// The jobs are enqueued in a block of their own: a job too deep undoes the whole call
    /// (ids drawn stay drawn, notifications go with it) and the answer is one row naming it,
    /// so the connection's transaction, which carries other clients' commands, goes on.
    /// Jobs still waiting for parents are given their depth here, oldest first.
    static let version22 = """
        ALTER TABLE docket.jobs ADD COLUMN flow_depth integer NOT NULL DEFAULT 1;
        DECLARE
            r record;
        BEGIN
            FOR r IN SELECT j.id, j.parents FROM docket.jobs j
                     WHERE j.parents IS NOT NULL AND j.state NOT IN ('completed', 'dead') ORDER BY j.id LOOP
                UPDATE docket.jobs c
                SET flow_depth = 1 + coalesce((SELECT max(p.flow_depth) FROM docket.jobs p
                                               WHERE p.id = ANY(r.parents) AND p.state NOT IN ('completed', 'dead')), 0)
                WHERE c.id = r.id;
            END LOOP;
        END;

        CREATE FUNCTION docket.enqueue_flow(
            p_max_depth integer,
            p_queue text[], p_payload bytea[], p_priority integer[], p_delay_ms bigint[], p_run_at bigint[],
            p_max_attempts integer[], p_backoff_kind text[], p_backoff_base bigint[], p_backoff_cap bigint[],
            p_jitter double precision[], p_lease_ms bigint[], p_key bytea[], p_group bytea[],
            d_max_attempts integer, d_backoff_kind text, d_backoff_base bigint, d_backoff_cap bigint, d_lease_ms bigint,
            p_ttl_ms bigint[], p_expires_at bigint[], p_parents text[], p_runs boolean[], p_key_ttl_ms bigint[], p_replace boolean[])
        RETURNS TABLE (ord integer, id bigint, duplicate boolean, replaced boolean, max_attempts integer, run_at bigint, state text,
                       parents text, too_deep integer)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_ord integer[];
            v_id bigint[];
            v_duplicate boolean[];
            v_replaced boolean[];
            v_max_attempts integer[];
            v_run_at bigint[];
            v_state text[];
            v_parents text[];
            v_depth integer;
            v_row integer := 0;
        BEGIN
            BEGIN
                SELECT array_agg(e.ord ORDER BY e.ord), array_agg(e.id ORDER BY e.ord), array_agg(e.duplicate ORDER BY e.ord),
                       array_agg(e.replaced ORDER BY e.ord), array_agg(e.max_attempts ORDER BY e.ord),
                       array_agg(e.run_at ORDER BY e.ord), array_agg(e.state ORDER BY e.ord), array_agg(e.parents ORDER BY e.ord)
                    INTO v_ord, v_id, v_duplicate, v_replaced, v_max_attempts, v_run_at, v_state, v_parents
                FROM docket.enqueue(p_queue, p_payload, p_priority, p_delay_ms, p_run_at, p_max_attempts, p_backoff_kind,
                                    p_backoff_base, p_backoff_cap, p_jitter, p_lease_ms, p_key, p_group, d_max_attempts,
                                    d_backoff_kind, d_backoff_base, d_backoff_cap, d_lease_ms, p_ttl_ms, p_expires_at,
                                    p_parents, p_runs, p_key_ttl_ms, p_replace) AS e;
                -- In order: a `#n` parent has its depth before its children ask for it.
                FOR i IN 1..coalesce(cardinality(v_ord), 0) LOOP
                    CONTINUE WHEN v_id[i] IS NULL OR v_duplicate[i] OR v_replaced[i] OR v_parents[i] IS NULL OR v_parents[i] = '';
                    SELECT 1 + coalesce(max(p.flow_depth) FILTER (WHERE p.id = ANY(v_id) OR p.state NOT IN ('completed', 'dead')), 0)
                        INTO v_depth
                    FROM docket.jobs p WHERE p.id = ANY(string_to_array(v_parents[i], ',')::bigint[]);
                    IF v_depth > p_max_depth THEN
                        v_row := i;
                        RAISE EXCEPTION 'too deep' USING ERRCODE = 'DKT01';
                    END IF;
                    UPDATE docket.jobs j SET flow_depth = v_depth WHERE j.id = v_id[i];
                END LOOP;
            EXCEPTION WHEN SQLSTATE 'DKT01' THEN
                RETURN QUERY SELECT v_row, NULL::bigint, false, false, NULL::integer, NULL::bigint, NULL::text, NULL::text, v_depth;
                RETURN;
            END;
            RETURN QUERY
            SELECT u.o, u.i, u.d, u.r, u.m, u.a, u.s, u.p, NULL::integer
            FROM unnest(v_ord, v_id, v_duplicate, v_replaced, v_max_attempts, v_run_at, v_state, v_parents) AS u(o, i, d, r, m, a, s, p)
            ORDER BY u.o;
        END
        $f$;
        ALTER FUNCTION docket.enqueue_flow SET enable_seqscan = off;
        """
}
