extension PostgresSchema {
    /// RESERVE for several waiting workers in one call: `docket.reserve_many(queues, owners)`
    /// hands the i-th job it claims to the i-th owner (`ord`), so the workers that asked first get
    /// the jobs that run first. One statement claims a whole batch from a queue without limits,
    /// in the order and with the same conditions as `docket.reserve` (waiting, due, its group not
    /// held; `FOR UPDATE SKIP LOCKED`); a queue with a rate, group rate or concurrency cap is
    /// claimed from one job at a time through `docket.reserve`, whose lock on the queue's row
    /// keeps those limits exact. docketd sends one call for the RESERVEs of a loop pass that name
    /// the same queues, instead of one call each: the benchmark's workers keep up to 8 RESERVEs
    /// pipelined (BENCHMARKS.md, "Jobs on PostgreSQL").
    static let version8 = """
        CREATE FUNCTION docket.reserve_many(p_queues text[], p_owners text[])
        RETURNS TABLE (ord integer, id bigint, queue text, attempt integer, delivery bigint, lease_ms bigint, lease_expires_at bigint,
                       payload bytea, grp bytea, max_attempts integer, wait_ms bigint)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_next integer := 1;
            v_count integer := coalesce(cardinality(p_owners), 0);
            v_queue text;
            v_settings docket.queues;
            v_now bigint;
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
                CONTINUE WHEN v_settings.paused IS TRUE OR coalesce(v_settings.held_until, 0) > v_now;
                SELECT array_agg(c.id ORDER BY c.priority, c.run_at, c.id) INTO v_ids
                FROM (
                    SELECT j.id, j.priority, j.run_at FROM docket.jobs j
                    WHERE j.queue = v_queue AND j.state = 'waiting' AND j.run_at <= v_now
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

    /// No sequential scans in the claim and the ACK (`enable_seqscan = off` while they run).
    /// PL/pgSQL keeps a generic plan per statement after a few calls, costed with the table as
    /// it was then; for a store that started empty, joining `docket.jobs` to the ids given was a
    /// hash join over a sequential scan of the whole table, so once it held 10,000 jobs a claim
    /// of 16 jobs took 1.5 ms and an ACK 2.3 ms (pg_stat_statements). Every statement of the two
    /// has an index to go by, and with sequential scans ruled out the cached plans use them
    /// whatever the table's size when they were made. (Planning every call instead,
    /// `plan_cache_mode = force_custom_plan`, fixed the cycles but made a drain of a full table
    /// 45 % slower; `id = ANY(ids)` shapes, 20 % slower.)
    static let version9 = """
        ALTER FUNCTION docket.reserve_many(text[], text[]) SET enable_seqscan = off;
        ALTER FUNCTION docket.ack(bigint[], text[], integer[], bytea[], integer) SET enable_seqscan = off;
        """

    /// Version 13: `docket.enqueue`'s last statement joins `docket.jobs` to the ids of the call;
    /// planned while a run's store was nearly empty, it hashed the whole table for every ENQ
    /// batch (a sequential scan, and with those ruled out a full scan of the primary key), so
    /// ENQ slowed down as the table grew: 1.1-2.3 ms for 64 jobs with a few thousand held
    /// (auto_explain). Without sequential scans, hash and merge joins, the only plan left is a
    /// lookup by primary key per row. Measured A/B (30,000 jobs, enqueue only, medians of 3):
    /// 7,739 → 26,523 jobs/s. (The same for `docket.ack` made every nested statement of it a
    /// nested loop and the cycle collapsed, so it is not done there.)
    static let version13 = """
        ALTER FUNCTION docket.enqueue SET enable_seqscan = off;
        ALTER FUNCTION docket.enqueue SET enable_hashjoin = off;
        ALTER FUNCTION docket.enqueue SET enable_mergejoin = off;
        """
}
