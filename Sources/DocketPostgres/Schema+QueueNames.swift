extension PostgresSchema {
    /// Version 29: QUEUES, STATS and the dashboard's snapshot no longer read every job.
    ///
    /// Which queues exist was `SELECT DISTINCT queue FROM docket.jobs` (no index has `queue`
    /// alone, so every job was read: with 1,000,000 jobs in 100,000 queues a QUEUES page of 10
    /// read them all), and STATS counted every job. Now:
    ///
    /// - `queue_names` holds, in byte order (as QUEUES pages), every name a job or a queue's
    ///   settings ever had; triggers add the new ones, `ON CONFLICT DO NOTHING` (a name already
    ///   there takes no lock, so producers of one queue do not wait on each other). A name is
    ///   listed while its queue has settings or a job, which the indexes of each state answer
    ///   (`live_queue_name`), so a page costs the names it passes over. Names are never removed:
    ///   a delete racing an enqueue of the same queue could lose a name that has jobs.
    /// - `job_count` holds the number of jobs as of its last fold, `job_count_changes` what
    ///   statements added or deleted since: each appends a row (appends never wait on each
    ///   other, where one hot counter row would serialise every producer), and a docketd folds
    ///   them in about once a second (`fold_job_count`), skipping the fold while another holds
    ///   the row, so it never waits either.
    static let version29 = """
        CREATE TABLE docket.queue_names (name text COLLATE "C" PRIMARY KEY);
        INSERT INTO docket.queue_names (name)
            SELECT q.name FROM docket.queues q UNION SELECT DISTINCT j.queue FROM docket.jobs j;

        CREATE FUNCTION docket.name_queues() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            -- In order: two transactions naming the same new queues take them in turn.
            IF TG_TABLE_NAME = 'jobs' THEN
                INSERT INTO docket.queue_names (name) SELECT DISTINCT n.queue FROM named n ORDER BY 1 ON CONFLICT DO NOTHING;
            ELSE
                INSERT INTO docket.queue_names (name) SELECT DISTINCT n.name FROM named n ORDER BY 1 ON CONFLICT DO NOTHING;
            END IF;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER jobs_name_queues AFTER INSERT ON docket.jobs REFERENCING NEW TABLE AS named
            FOR EACH STATEMENT EXECUTE FUNCTION docket.name_queues();
        CREATE TRIGGER queues_name_queues AFTER INSERT ON docket.queues REFERENCING NEW TABLE AS named
            FOR EACH STATEMENT EXECUTE FUNCTION docket.name_queues();

        -- Whether a queue exists: it has settings or a job, one index lookup each (every state
        -- has an index led by the queue). Compared in the columns' own collation, which their
        -- indexes are in (the name may come in byte order, from queue_names). The waiting job
        -- is asked for in `jobs_ready`'s order: as an EXISTS (which drops any order) the planner
        -- may take `jobs_due`, all waiting jobs by run time, and read other queues' jobs until
        -- one of this queue comes, as it does when few queues share the table.
        CREATE FUNCTION docket.live_queue_name(p_name text) RETURNS boolean
        LANGUAGE sql STABLE AS $f$
            SELECT EXISTS (SELECT 1 FROM docket.queues q WHERE q.name = p_name COLLATE "default")
                OR (SELECT j.id FROM docket.jobs j WHERE j.queue = p_name COLLATE "default" AND j.state = 'waiting'
                    ORDER BY j.priority, j.run_at, j.place LIMIT 1) IS NOT NULL
                OR EXISTS (SELECT 1 FROM docket.jobs j WHERE j.queue = p_name COLLATE "default" AND j.state = 'active')
                OR EXISTS (SELECT 1 FROM docket.jobs j WHERE j.queue = p_name COLLATE "default" AND j.state IN ('completed', 'dead'))
                OR EXISTS (SELECT 1 FROM docket.jobs j WHERE j.queue = p_name COLLATE "default" AND j.state = 'blocked')
        $f$;

        CREATE TABLE docket.job_count (one boolean PRIMARY KEY DEFAULT true CHECK (one), jobs bigint NOT NULL);
        CREATE TABLE docket.job_count_changes (change bigint NOT NULL);
        CREATE FUNCTION docket.count_job_changes() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_change bigint := (SELECT count(*) FROM changed);
        BEGIN
            IF v_change <> 0 THEN
                INSERT INTO docket.job_count_changes (change) VALUES (CASE WHEN TG_OP = 'INSERT' THEN v_change ELSE -v_change END);
            END IF;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER jobs_count_inserts AFTER INSERT ON docket.jobs REFERENCING NEW TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION docket.count_job_changes();
        CREATE TRIGGER jobs_count_deletes AFTER DELETE ON docket.jobs REFERENCING OLD TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION docket.count_job_changes();
        -- Counted after the triggers exist: writers wait for this transaction from here on.
        INSERT INTO docket.job_count (jobs) SELECT count(*) FROM docket.jobs;

        CREATE FUNCTION docket.fold_job_count() RETURNS void
        LANGUAGE sql AS $f$
            WITH base AS (SELECT c.one FROM docket.job_count c FOR UPDATE SKIP LOCKED),
                 folded AS (DELETE FROM docket.job_count_changes WHERE EXISTS (SELECT 1 FROM base) RETURNING change)
            UPDATE docket.job_count SET jobs = jobs + (SELECT coalesce(sum(f.change), 0) FROM folded f)
            WHERE EXISTS (SELECT 1 FROM base)
        $f$;
        """
}
