extension PostgresSchema {
    /// Dependencies (ENQ `after=`, PARENTS, BATCH), decided in the database like every other job
    /// decision.
    ///
    /// A job enqueued after others keeps their ids (`parents`) and is `blocked` while
    /// `pending_parents` of them have not finished. Its parents are marked `has_children`, and
    /// a trigger on such a parent settles its blocked children when it completes (one fewer to
    /// wait for; released at zero), dies or is deleted unfinished (the children die with it,
    /// unless they run anyway), which fires the trigger again for their own children. The
    /// enqueue locks every parent row it names before it reads their states, so a parent
    /// finishing in another transaction either committed first (and is read finished) or waits
    /// for the enqueue to commit (and then finds the child). Retention keeps a finished parent
    /// while a child of it has not finished, so the child can read its outcome.
    static let version5 = """
        ALTER TABLE docket.jobs DROP CONSTRAINT jobs_state_check;
        ALTER TABLE docket.jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ('waiting', 'active', 'completed', 'dead', 'blocked'));
        ALTER TABLE docket.jobs
            ADD COLUMN parents bigint[],
            ADD COLUMN runs_if_parent_dies boolean NOT NULL DEFAULT false,
            ADD COLUMN pending_parents integer NOT NULL DEFAULT 0,
            ADD COLUMN has_children boolean NOT NULL DEFAULT false,
            -- The key is remembered at least until then (ENQ key_ttl=), the job kept or not.
            ADD COLUMN key_until bigint;
        CREATE INDEX jobs_children ON docket.jobs USING gin (parents) WHERE parents IS NOT NULL;
        DROP INDEX docket.jobs_expiring;
        CREATE INDEX jobs_expiring ON docket.jobs (expires_at) WHERE state IN ('waiting', 'blocked') AND expires_at IS NOT NULL;

        CREATE FUNCTION docket.settle_children() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_now bigint := docket.now_ms();
            v_parent bigint;
            v_completed boolean;
            v_why bytea;
            v_wake text[];
            v_dead bigint[];
            v_killed bigint[];
        BEGIN
            IF TG_OP = 'DELETE' THEN
                v_parent := OLD.id;
                v_completed := false;
                v_why := convert_to('parent ' || OLD.id || ' deleted', 'UTF8');
            ELSE
                v_parent := NEW.id;
                v_completed := NEW.state = 'completed';
                v_why := convert_to('parent ' || NEW.id || ' dead', 'UTF8');
            END IF;
            -- One parent fewer to wait for; the last one releases the child as it was enqueued
            -- (delayed while its run_at is ahead), or lets it expire if its expiry passed.
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
                RETURNING c.id, c.queue, c.state, c.run_at
            )
            SELECT coalesce(array_agg(DISTINCT r.queue) FILTER (WHERE r.state = 'waiting' AND r.run_at <= v_now), '{}'),
                   coalesce(array_agg(r.id) FILTER (WHERE r.state = 'dead'), '{}')
                INTO v_wake, v_dead
            FROM released r;
            WITH killed AS (
                UPDATE docket.jobs c SET state = 'dead', finished_at = v_now, last_error = v_why
                WHERE c.parents @> ARRAY[v_parent] AND c.state = 'blocked' AND NOT v_completed AND NOT c.runs_if_parent_dies
                RETURNING c.id
            )
            SELECT coalesce(array_agg(k.id), '{}') INTO v_killed FROM killed k;
            PERFORM pg_notify('docket_jobs', q) FROM unnest(v_wake) AS q;
            IF cardinality(v_dead) + cardinality(v_killed) > 0 THEN
                PERFORM docket.tell_watchers(v_dead || v_killed);
            END IF;
            RETURN NULL;
        END
        $f$;

        CREATE TRIGGER jobs_settle_children AFTER UPDATE OF state ON docket.jobs FOR EACH ROW
            WHEN (NEW.has_children AND NEW.state IN ('completed', 'dead') AND OLD.state NOT IN ('completed', 'dead'))
            EXECUTE FUNCTION docket.settle_children();
        CREATE TRIGGER jobs_settle_orphans AFTER DELETE ON docket.jobs FOR EACH ROW
            WHEN (OLD.has_children AND OLD.state NOT IN ('completed', 'dead'))
            EXECUTE FUNCTION docket.settle_children();

        DROP FUNCTION docket.enqueue(text[], bytea[], integer[], bigint[], bigint[], integer[], text[], bigint[], bigint[],
            double precision[], bigint[], bytea[], bytea[], integer, text, bigint, bigint, bigint, bigint[], bigint[]);
        -- ENQ for many jobs at once, in four steps. (1) Every row draws an id, so a later row
        -- can name an earlier one as its parent: p_parents holds each job's `after=` list,
        -- comma-separated, of job ids and `@<n>` for the job of row n of this call (a BATCH's
        -- `#n`). (2) A row with p_replace whose key names a job still waiting gives that job its
        -- payload and run time instead (debounce). (3) The other rows are inserted; one whose
        -- key is known is a duplicate. (4) Parents that turned out to be another job (a
        -- duplicate, a replaced one) are corrected, the parents are locked, and each child
        -- counts what it still waits for (see this migration's comment).
        CREATE FUNCTION docket.enqueue(
            p_queue text[], p_payload bytea[], p_priority integer[], p_delay_ms bigint[], p_run_at bigint[],
            p_max_attempts integer[], p_backoff_kind text[], p_backoff_base bigint[], p_backoff_cap bigint[],
            p_jitter double precision[], p_lease_ms bigint[], p_key bytea[], p_group bytea[],
            d_max_attempts integer, d_backoff_kind text, d_backoff_base bigint, d_backoff_cap bigint, d_lease_ms bigint,
            p_ttl_ms bigint[], p_expires_at bigint[], p_parents text[], p_runs boolean[], p_key_ttl_ms bigint[], p_replace boolean[])
        RETURNS TABLE (ord integer, id bigint, duplicate boolean, replaced boolean, max_attempts integer, run_at bigint, state text,
                       parents text)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_count integer := cardinality(p_queue);
            v_drawn bigint[];
            v_replaced bigint[];
            v_new boolean[];
            v_final bigint[];
            v_children bigint[];
        BEGIN
            SELECT array_agg(nextval('docket.jobs_id_seq')) INTO v_drawn FROM generate_series(1, v_count);
            v_replaced := array_fill(NULL::bigint, ARRAY[v_count]);
            IF true = ANY(p_replace) THEN
                WITH targets AS (
                    SELECT DISTINCT ON (j.id) r.ord, j.id FROM unnest(p_queue, p_key, p_replace) WITH ORDINALITY AS r(queue, key, replace, ord)
                    JOIN docket.jobs j ON j.queue = r.queue AND j.key = r.key AND j.state = 'waiting'
                    WHERE r.replace ORDER BY j.id, r.ord DESC
                ), changed AS (
                    UPDATE docket.jobs j
                    -- A waiting job that stays waiting keeps its place in line.
                    SET payload = p_payload[t.ord],
                        run_at = CASE WHEN coalesce(p_run_at[t.ord], v_now + p_delay_ms[t.ord], v_now) > v_now
                                      THEN coalesce(p_run_at[t.ord], v_now + p_delay_ms[t.ord])
                                      ELSE least(j.run_at, v_now) END,
                        key_until = CASE WHEN p_key_ttl_ms[t.ord] IS NULL THEN j.key_until
                                         ELSE greatest(coalesce(j.key_until, 0), v_now + p_key_ttl_ms[t.ord]) END
                    FROM targets t WHERE j.id = t.id
                    RETURNING t.ord, j.id
                )
                SELECT array_agg(c.id ORDER BY g.i) INTO v_replaced
                FROM generate_series(1, v_count) AS g(i) LEFT JOIN changed c ON c.ord = g.i;
            END IF;

            WITH input AS (
                SELECT * FROM unnest(p_queue, p_payload, p_priority, p_delay_ms, p_run_at, p_max_attempts, p_backoff_kind,
                                     p_backoff_base, p_backoff_cap, p_jitter, p_lease_ms, p_key, p_group, p_ttl_ms, p_expires_at,
                                     p_parents, p_runs, p_key_ttl_ms, v_drawn, v_replaced)
                    WITH ORDINALITY AS i(queue, payload, priority, delay_ms, run_at, max_attempts, backoff_kind,
                                         backoff_base, backoff_cap, jitter, lease_ms, key, grp, ttl_ms, expires_at, parent_list,
                                         runs, key_ttl_ms, new_id, replaced_id, ord)
            ), resolved AS (
                SELECT n.*, (
                    SELECT array_agg(CASE WHEN left(t.token, 1) = '@' THEN v_drawn[substr(t.token, 2)::integer] ELSE t.token::bigint END
                                     ORDER BY t.k)
                    FROM unnest(string_to_array(n.parent_list, ',')) WITH ORDINALITY AS t(token, k)
                ) AS parent_ids
                FROM input n WHERE n.replaced_id IS NULL
            ), inserted AS (
                INSERT INTO docket.jobs AS j (id, queue, state, priority, run_at, max_attempts, backoff_kind, backoff_base_ms,
                                              backoff_cap_ms, jitter, lease_ms, key, grp, payload, enqueued_at, expires_at,
                                              parents, runs_if_parent_dies, pending_parents, key_until)
                SELECT n.new_id, n.queue, CASE WHEN n.parent_ids IS NULL THEN 'waiting' ELSE 'blocked' END,
                       coalesce(n.priority, 0), coalesce(n.run_at, v_now + n.delay_ms, v_now),
                       coalesce(n.max_attempts, q.max_attempts, d_max_attempts),
                       CASE WHEN n.backoff_kind IS NOT NULL THEN n.backoff_kind WHEN q.backoff_kind IS NOT NULL THEN q.backoff_kind ELSE d_backoff_kind END,
                       CASE WHEN n.backoff_kind IS NOT NULL THEN n.backoff_base WHEN q.backoff_kind IS NOT NULL THEN q.backoff_base_ms ELSE d_backoff_base END,
                       CASE WHEN n.backoff_kind IS NOT NULL THEN n.backoff_cap WHEN q.backoff_kind IS NOT NULL THEN q.backoff_cap_ms ELSE d_backoff_cap END,
                       coalesce(n.jitter, q.jitter, 0), coalesce(n.lease_ms, q.lease_ms, d_lease_ms),
                       n.key, n.grp, n.payload, v_now, coalesce(n.expires_at, v_now + n.ttl_ms),
                       n.parent_ids, coalesce(n.runs, false), coalesce(cardinality(n.parent_ids), 0),
                       CASE WHEN n.key IS NOT NULL THEN v_now + n.key_ttl_ms END
                FROM resolved n LEFT JOIN docket.queues q ON q.name = n.queue
                ORDER BY n.ord
                ON CONFLICT (queue, key) WHERE key IS NOT NULL DO NOTHING
                RETURNING j.id, j.parents
            )
            SELECT array_agg(ins.id IS NOT NULL ORDER BY g.i), array_agg(ins.id) FILTER (WHERE ins.parents IS NOT NULL)
                INTO v_new, v_children
            FROM generate_series(1, v_count) AS g(i) LEFT JOIN inserted ins ON ins.id = v_drawn[g.i];

            -- A statement of its own: a key another transaction committed while this one waited
            -- on it is visible only to a later statement.
            SELECT array_agg(coalesce(v_replaced[g.i], CASE WHEN v_new[g.i] THEN v_drawn[g.i] END,
                                      (SELECT j.id FROM docket.jobs j WHERE j.queue = p_queue[g.i] AND j.key = p_key[g.i]))
                             ORDER BY g.i)
                INTO v_final
            FROM generate_series(1, v_count) AS g(i);

            IF v_children IS NOT NULL THEN
                -- A parent named `@n` whose row did not insert a job is the job that row found.
                IF v_final IS DISTINCT FROM v_drawn THEN
                    UPDATE docket.jobs c
                    SET parents = (SELECT array_agg(coalesce(v_final[array_position(v_drawn, u.pid)], u.pid) ORDER BY u.k)
                                   FROM unnest(c.parents) WITH ORDINALITY AS u(pid, k))
                    WHERE c.id = ANY(v_children);
                END IF;
                -- Lock the parents first, then count what each child still waits for. A parent
                -- gone meanwhile counts as deleted.
                PERFORM 1 FROM docket.jobs p
                WHERE p.id IN (SELECT DISTINCT u.pid FROM docket.jobs c, unnest(c.parents) AS u(pid) WHERE c.id = ANY(v_children))
                ORDER BY p.id FOR NO KEY UPDATE;
                UPDATE docket.jobs p SET has_children = true
                WHERE p.id IN (SELECT DISTINCT u.pid FROM docket.jobs c, unnest(c.parents) AS u(pid) WHERE c.id = ANY(v_children))
                  AND NOT p.has_children;
                UPDATE docket.jobs c
                SET pending_parents = x.pending,
                    state = CASE WHEN x.killer IS NOT NULL THEN 'dead' WHEN x.pending > 0 THEN 'blocked' ELSE 'waiting' END,
                    finished_at = CASE WHEN x.killer IS NOT NULL THEN v_now END,
                    last_error = CASE WHEN x.killer IS NOT NULL THEN convert_to(x.killer, 'UTF8') END
                FROM (
                    SELECT c2.id,
                           count(*) FILTER (WHERE p.state IS NOT NULL AND p.state NOT IN ('completed', 'dead')) AS pending,
                           (array_agg(CASE WHEN p.id IS NULL THEN 'parent ' || u.pid || ' deleted' ELSE 'parent ' || u.pid || ' dead' END
                                      ORDER BY u.k)
                               FILTER (WHERE NOT c2.runs_if_parent_dies AND (p.id IS NULL OR p.state = 'dead')))[1] AS killer
                    FROM docket.jobs c2
                    CROSS JOIN LATERAL unnest(c2.parents) WITH ORDINALITY AS u(pid, k)
                    LEFT JOIN docket.jobs p ON p.id = u.pid
                    WHERE c2.id = ANY(v_children)
                    GROUP BY c2.id
                ) x
                WHERE c.id = x.id;
            END IF;

            -- Jobs that are runnable now wake the queue's workers, once this commits (a blocked
            -- one too: a wake-up that finds nothing costs one claim).
            PERFORM pg_notify('docket_jobs', w.queue)
            FROM (SELECT DISTINCT p_queue[g.i] AS queue FROM generate_series(1, v_count) AS g(i)
                  WHERE (v_new[g.i] OR v_replaced[g.i] IS NOT NULL)
                    AND coalesce(p_run_at[g.i], v_now + p_delay_ms[g.i], v_now) <= v_now) AS w;

            RETURN QUERY
            SELECT g.i, j.id, NOT v_new[g.i] AND v_replaced[g.i] IS NULL, v_replaced[g.i] IS NOT NULL, j.max_attempts, j.run_at,
                   j.state, array_to_string(j.parents, ',')
            FROM generate_series(1, v_count) AS g(i)
            LEFT JOIN docket.jobs j ON j.id = v_final[g.i]
            ORDER BY g.i;
        END
        $f$;

        -- Retention as before, except that a finished job a child still needs (one of its
        -- children has not finished), or whose key is still to be remembered, stays; a later
        -- trim of its queue takes it.
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
                DELETE FROM docket.jobs d WHERE d.id IN (
                    SELECT j.id FROM docket.jobs j WHERE j.queue = p_queue AND j.state = 'dead'
                    ORDER BY j.finished_at DESC, j.id DESC OFFSET v_keep)
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

        -- Expiry as before, blocked jobs included: a job not started by its expiry is not run,
        -- whether or not its parents have finished.
        CREATE OR REPLACE FUNCTION docket.expire_due(p_limit integer, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, attempts integer, max_attempts integer, expires_at bigint, grp bytea)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_ids bigint[];
        BEGIN
            SELECT array_agg(j.id) INTO v_ids FROM (
                SELECT j.id FROM docket.jobs j WHERE j.state IN ('waiting', 'blocked') AND j.expires_at <= v_now
                ORDER BY j.expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED) AS j;
            IF v_ids IS NULL THEN
                RETURN;
            END IF;
            RETURN QUERY
            UPDATE docket.jobs j
            SET state = 'dead', finished_at = v_now,
                last_error = convert_to('expired: not started by ' || j.expires_at || ' (unix ms)', 'UTF8')
            WHERE j.id = ANY(v_ids)
            RETURNING j.id, j.queue, j.attempts, j.max_attempts, j.expires_at, j.grp;
            PERFORM docket.tell_watchers(v_ids);
            PERFORM docket.retain(x.queue, 'dead', p_keep_dead)
            FROM (SELECT DISTINCT j.queue FROM docket.jobs j WHERE j.id = ANY(v_ids)) AS x;
        END
        $f$;

        CREATE OR REPLACE FUNCTION docket.next_deadline() RETURNS bigint
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_now bigint := docket.now_ms();
        BEGIN
            RETURN least(
                (SELECT min(j.run_at) FROM docket.jobs j WHERE j.state = 'waiting' AND j.run_at > v_now),
                (SELECT min(j.lease_expires_at) FROM docket.jobs j WHERE j.state = 'active'),
                (SELECT min(q.held_until) FROM docket.queues q WHERE q.held_until > v_now),
                (SELECT min(h.until) FROM docket.group_holds h WHERE h.until > v_now),
                (SELECT min(s.at + greatest(coalesce(q.rate_window_ms, 0), coalesce(q.group_rate_window_ms, 0)))
                 FROM docket.starts s JOIN docket.queues q ON q.name = s.queue
                 WHERE s.at + greatest(coalesce(q.rate_window_ms, 0), coalesce(q.group_rate_window_ms, 0)) > v_now),
                (SELECT min(j.expires_at) FROM docket.jobs j WHERE j.state IN ('waiting', 'blocked') AND j.expires_at IS NOT NULL));
        END
        $f$;

        DROP FUNCTION docket.queue_state(text);
        CREATE FUNCTION docket.queue_state(p_queue text)
        RETURNS TABLE (waiting bigint, delayed bigint, active bigint, completed bigint, dead bigint, oldest_waiting_since bigint,
                       held_until bigint, rate_window_starts bigint, now_ms bigint, blocked bigint)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
        BEGIN
            RETURN QUERY
            SELECT count(*) FILTER (WHERE j.state = 'waiting' AND j.run_at <= v_now),
                   count(*) FILTER (WHERE j.state = 'waiting' AND j.run_at > v_now),
                   count(*) FILTER (WHERE j.state = 'active'),
                   count(*) FILTER (WHERE j.state = 'completed'),
                   count(*) FILTER (WHERE j.state = 'dead'),
                   min(greatest(j.run_at, j.enqueued_at)) FILTER (WHERE j.state = 'waiting' AND j.run_at <= v_now),
                   (SELECT nullif(q.held_until, 0) FROM docket.queues q WHERE q.name = p_queue AND q.held_until > v_now),
                   (SELECT CASE WHEN q.rate_limit IS NOT NULL THEN
                               (SELECT count(*) FROM docket.starts s WHERE s.queue = p_queue AND s.at > v_now - q.rate_window_ms) END
                    FROM docket.queues q WHERE q.name = p_queue),
                   v_now,
                   count(*) FILTER (WHERE j.state = 'blocked')
            FROM docket.jobs j WHERE j.queue = p_queue;
        END
        $f$;
        """
}
