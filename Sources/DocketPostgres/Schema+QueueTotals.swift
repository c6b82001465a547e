extension PostgresSchema {
    /// Version 17: QUEUE `totals` and `rates` kept in the database, for every docketd on it and
    /// across restarts, as the embedded store keeps them. Each docketd counts what it does per
    /// queue and second and adds it once a second (`add_activity`); retention's removals are
    /// counted by a trigger; the last two minutes stay
    /// per second (for the per-second rates of the last minute), older seconds are folded
    /// into the queue's row for second 0.
    static let version17 = """
        CREATE TABLE docket.activity (
            queue text NOT NULL,
            second bigint NOT NULL,
            enqueued bigint NOT NULL DEFAULT 0,
            started bigint NOT NULL DEFAULT 0,
            completed bigint NOT NULL DEFAULT 0,
            failed bigint NOT NULL DEFAULT 0,
            dead bigint NOT NULL DEFAULT 0,
            throttled bigint NOT NULL DEFAULT 0,
            deleted bigint NOT NULL DEFAULT 0,
            removed bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (queue, second)
        );

        -- Jobs retention deletes are counted as removed, by the database itself (the trims run
        -- inside the verbs). DEL and PURGE set docket.deleting around their own deletes: those
        -- docketd counts as deleted.
        CREATE FUNCTION docket.count_removed() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            IF coalesce(current_setting('docket.deleting', true), '') = '' THEN
                INSERT INTO docket.activity AS a (queue, second, removed)
                SELECT g.queue, docket.now_ms() / 1000, count(*) FROM gone g GROUP BY g.queue ORDER BY g.queue
                ON CONFLICT (queue, second) DO UPDATE SET removed = a.removed + excluded.removed;
            END IF;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER jobs_count_removed AFTER DELETE ON docket.jobs REFERENCING OLD TABLE AS gone
            FOR EACH STATEMENT EXECUTE FUNCTION docket.count_removed();

        CREATE FUNCTION docket.add_activity(
            p_queue text[], p_second bigint[], p_enqueued bigint[], p_started bigint[], p_completed bigint[],
            p_failed bigint[], p_dead bigint[], p_throttled bigint[], p_deleted bigint[])
        RETURNS void
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_cutoff bigint := docket.now_ms() / 1000 - 120;
        BEGIN
            INSERT INTO docket.activity AS a (queue, second, enqueued, started, completed, failed, dead, throttled, deleted)
            SELECT u.q, u.s, sum(u.e), sum(u.st), sum(u.c), sum(u.f), sum(u.d), sum(u.t), sum(u.x)
            FROM unnest(p_queue, p_second, p_enqueued, p_started, p_completed, p_failed, p_dead, p_throttled, p_deleted)
                AS u(q, s, e, st, c, f, d, t, x)
            GROUP BY u.q, u.s ORDER BY u.q, u.s
            ON CONFLICT (queue, second) DO UPDATE SET
                enqueued = a.enqueued + excluded.enqueued, started = a.started + excluded.started,
                completed = a.completed + excluded.completed, failed = a.failed + excluded.failed,
                dead = a.dead + excluded.dead, throttled = a.throttled + excluded.throttled, deleted = a.deleted + excluded.deleted;
            -- The seconds these queues left behind go into their second-0 rows.
            WITH old AS (
                DELETE FROM docket.activity o
                WHERE o.queue = ANY(p_queue) AND o.second > 0 AND o.second < v_cutoff
                RETURNING o.*
            )
            INSERT INTO docket.activity AS a (queue, second, enqueued, started, completed, failed, dead, throttled, deleted, removed)
            SELECT o.queue, 0, sum(o.enqueued), sum(o.started), sum(o.completed), sum(o.failed), sum(o.dead), sum(o.throttled),
                   sum(o.deleted), sum(o.removed)
            FROM old o GROUP BY o.queue ORDER BY o.queue
            ON CONFLICT (queue, second) DO UPDATE SET
                enqueued = a.enqueued + excluded.enqueued, started = a.started + excluded.started,
                completed = a.completed + excluded.completed, failed = a.failed + excluded.failed,
                dead = a.dead + excluded.dead, throttled = a.throttled + excluded.throttled, deleted = a.deleted + excluded.deleted, removed = a.removed + excluded.removed;
        END
        $f$;

        -- A queue's totals, and its counts of the 60 seconds up to p_second (for per-second rates).
        CREATE FUNCTION docket.queue_activity(p_queue text, p_second bigint)
        RETURNS TABLE (enqueued bigint, started bigint, completed bigint, failed bigint, dead bigint, throttled bigint, deleted bigint,
                       removed bigint, started_last_minute bigint, completed_last_minute bigint, failed_last_minute bigint, dead_last_minute bigint)
        LANGUAGE sql STABLE AS $f$
            SELECT coalesce(sum(a.enqueued), 0)::bigint, coalesce(sum(a.started), 0)::bigint, coalesce(sum(a.completed), 0)::bigint,
                   coalesce(sum(a.failed), 0)::bigint, coalesce(sum(a.dead), 0)::bigint, coalesce(sum(a.throttled), 0)::bigint,
                   coalesce(sum(a.deleted), 0)::bigint, coalesce(sum(a.removed), 0)::bigint,
                   coalesce(sum(a.started) FILTER (WHERE a.second > p_second - 60 AND a.second <= p_second), 0)::bigint,
                   coalesce(sum(a.completed) FILTER (WHERE a.second > p_second - 60 AND a.second <= p_second), 0)::bigint,
                   coalesce(sum(a.failed) FILTER (WHERE a.second > p_second - 60 AND a.second <= p_second), 0)::bigint,
                   coalesce(sum(a.dead) FILTER (WHERE a.second > p_second - 60 AND a.second <= p_second), 0)::bigint
            FROM docket.activity a WHERE a.queue = p_queue
        $f$;
        """
}
