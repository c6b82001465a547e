extension PostgresSchema {
    /// Version 12: `settle_children` as in version 5, and it tells, after commit, what became of
    /// each child it settled: one notification per child on `docket_settled`, a JSON object
    /// (`id`, `queue`, `event`: `unblocked`, `expired` or `dead`, `state`, `run_at`,
    /// `max_attempts`, `error`). Version 15 keeps the same objects in the transaction instead.
    static let version12 = """
        CREATE OR REPLACE FUNCTION docket.settle_children() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_now bigint := docket.now_ms();
            v_parent bigint;
            v_completed boolean;
            v_why bytea;
            v_wake text[];
            v_dead bigint[];
            v_killed bigint[];
            v_settled bigint[];
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
                   coalesce(array_agg(r.id) FILTER (WHERE r.state = 'dead'), '{}'),
                   coalesce(array_agg(r.id) FILTER (WHERE r.state <> 'blocked'), '{}')
                INTO v_wake, v_dead, v_settled
            FROM released r;
            WITH killed AS (
                UPDATE docket.jobs c SET state = 'dead', finished_at = v_now, last_error = v_why
                WHERE c.parents @> ARRAY[v_parent] AND c.state = 'blocked' AND NOT v_completed AND NOT c.runs_if_parent_dies
                RETURNING c.id
            )
            SELECT coalesce(array_agg(k.id), '{}') INTO v_killed FROM killed k;
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
            RETURN NULL;
        END
        $f$;
        """
}
