extension PostgresSchema {
    /// Version 30: STATS counts queues without a lookup per queue.
    ///
    /// Version 29 counted the names in `queue_names` whose queue has settings or a job, five
    /// index lookups per name: 1.3-1.5 s at 100,000 queues. Now the number of queues is kept
    /// as the number of jobs is, and folded in by the same step:
    ///
    /// - The log of changes (`job_changes`, which replaces `job_count_changes`) says which queue
    ///   each statement's inserts and deletes were in: one row per statement and queue, appended,
    ///   so producers still never wait on each other. A queue's first settings append a row of 0,
    ///   which marks the queue as one whose existence may have changed.
    /// - `queue_jobs` holds, as of the last fold, each existing queue's number of jobs and
    ///   whether it exists (it has a job or settings; settings are never removed), and
    ///   `job_count.queues` how many exist. The fold adds each queue's changes to its row,
    ///   decides again whether it exists, and adds the difference to `job_count.queues`; a queue
    ///   that no longer exists loses its row, and its name goes into `emptied_names`, for
    ///   version 31's sweep.
    /// - A count adds to the folded ones what the changes not folded yet make of the queues
    ///   they name: its cost is the changes of the last second or so, not the number of queues.
    static let version30 = """
        -- Writers of jobs and settings wait for this transaction: the counts made below are of
        -- the tables as the new log starts, nothing counted twice or missed.
        LOCK TABLE docket.jobs, docket.queues IN SHARE ROW EXCLUSIVE MODE;
        CREATE TABLE docket.job_changes (queue text NOT NULL, change bigint NOT NULL);
        CREATE TABLE docket.queue_jobs (name text PRIMARY KEY, jobs bigint NOT NULL, live boolean NOT NULL);
        -- The queues a fold found not to exist, whose names may go (see version 31).
        CREATE TABLE docket.emptied_names (name text COLLATE "C" PRIMARY KEY);
        ALTER TABLE docket.job_count ADD COLUMN queues bigint NOT NULL DEFAULT 0;

        CREATE OR REPLACE FUNCTION docket.count_job_changes() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            INSERT INTO docket.job_changes (queue, change)
            SELECT c.queue, CASE WHEN TG_OP = 'INSERT' THEN count(*) ELSE -count(*) END FROM changed c GROUP BY c.queue;
            RETURN NULL;
        END
        $f$;
        CREATE FUNCTION docket.count_settings() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            INSERT INTO docket.job_changes (queue, change) SELECT n.name, 0 FROM named n;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER queues_count_settings AFTER INSERT ON docket.queues REFERENCING NEW TABLE AS named
            FOR EACH STATEMENT EXECUTE FUNCTION docket.count_settings();

        DROP TABLE docket.job_count_changes;
        INSERT INTO docket.queue_jobs (name, jobs, live)
            SELECT coalesce(j.queue, s.name), coalesce(j.jobs, 0), true
            FROM (SELECT queue, count(*) AS jobs FROM docket.jobs GROUP BY queue) j
            FULL JOIN docket.queues s ON s.name = j.queue;
        UPDATE docket.job_count SET jobs = (SELECT count(*) FROM docket.jobs), queues = (SELECT count(*) FROM docket.queue_jobs);

        -- A queue exists while it has a job or settings.
        CREATE FUNCTION docket.queue_exists(p_name text, p_jobs bigint) RETURNS boolean
        LANGUAGE sql STABLE AS $f$
            SELECT p_jobs > 0 OR EXISTS (SELECT 1 FROM docket.queues s WHERE s.name = p_name)
        $f$;

        -- One statement: one snapshot, so the changes it folds and the settings it sees agree
        -- (a change committed after it started stays in the log for the next fold).
        CREATE OR REPLACE FUNCTION docket.fold_job_count() RETURNS void
        LANGUAGE sql AS $f$
            WITH base AS (SELECT c.one FROM docket.job_count c FOR UPDATE SKIP LOCKED),
                 folded AS (DELETE FROM docket.job_changes WHERE EXISTS (SELECT 1 FROM base) RETURNING queue, change),
                 per AS (SELECT f.queue, sum(f.change)::bigint AS change FROM folded f GROUP BY f.queue),
                 next AS (
                     SELECT p.queue, coalesce(q.jobs, 0) + p.change AS jobs, coalesce(q.live, false) AS was,
                            docket.queue_exists(p.queue, coalesce(q.jobs, 0) + p.change) AS live
                     FROM per p LEFT JOIN docket.queue_jobs q ON q.name = p.queue
                 ),
                 kept AS (
                     INSERT INTO docket.queue_jobs AS q (name, jobs, live)
                     SELECT n.queue, n.jobs, true FROM next n WHERE n.live ORDER BY n.queue
                     ON CONFLICT (name) DO UPDATE SET jobs = excluded.jobs, live = true
                 ),
                 gone AS (DELETE FROM docket.queue_jobs q USING next n WHERE q.name = n.queue AND NOT n.live),
                 -- Made and emptied between two folds too: such a queue never had a row.
                 noted AS (INSERT INTO docket.emptied_names (name) SELECT n.queue FROM next n WHERE NOT n.live ORDER BY 1 ON CONFLICT DO NOTHING)
            UPDATE docket.job_count
            SET jobs = jobs + (SELECT coalesce(sum(p.change), 0) FROM per p),
                queues = queues + (SELECT coalesce(sum(n.live::integer - n.was::integer), 0) FROM next n)
            WHERE EXISTS (SELECT 1 FROM base)
        $f$;

        -- The number of jobs, and of queues: the folded counts and what the changes since make
        -- of them.
        CREATE FUNCTION docket.job_and_queue_counts() RETURNS TABLE (jobs bigint, queues bigint)
        LANGUAGE sql STABLE AS $f$
            WITH per AS (SELECT x.queue, sum(x.change)::bigint AS change FROM docket.job_changes x GROUP BY x.queue),
                 moved AS (
                     SELECT p.change, docket.queue_exists(p.queue, coalesce(q.jobs, 0) + p.change)::integer
                                      - coalesce(q.live, false)::integer AS queues
                     FROM per p LEFT JOIN docket.queue_jobs q ON q.name = p.queue
                 )
            SELECT c.jobs + (SELECT coalesce(sum(m.change), 0) FROM moved m)::bigint,
                   c.queues + (SELECT coalesce(sum(m.queues), 0) FROM moved m)::bigint
            FROM docket.job_count c
        $f$;
        """
}
