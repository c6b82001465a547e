/// The job store's tables and functions, in the `docket` schema, versioned.
///
/// `migrate(on:)` brings any database to `PostgresSchema.version` in one transaction: it takes
/// an advisory lock (several docketd processes may start at once), creates the schema and its
/// `meta` table if missing, reads the `schema_version` row, and runs every migration above it,
/// in order. Running it again changes nothing. A database at a newer version than this build
/// knows is refused (SQLSTATE 55000), never rewritten.
///
/// Conventions: times are unix milliseconds (`bigint`), as in the rest of Docket, and come from
/// the database's clock (`docket.now_ms()`), so every docketd sharing the database agrees on
/// them. Byte strings that clients send (payloads, keys, groups, results, errors, notes) are
/// `bytea`: nothing requires them to be UTF-8. A job is `waiting`, `active`, `completed` or
/// `dead` (or `blocked`, see `version5`); a waiting job whose `run_at` is still ahead is what the protocol calls `delayed`
/// (no step has to move it: claims simply look at `run_at`).
public enum PostgresSchema {
    /// The version this build creates and works with.
    public static let version = migrations.count

    /// Notifications about queues go to this channel (payload: the queue name), sent by the
    /// transaction that made a job of the queue runnable, and so only once it has committed.
    public static let channel = "docket_jobs"

    /// How long a docketd session may sit inside a transaction without sending anything.
    /// A docketd stops there only between the two steps of a commit (reading results, then
    /// numbering their events), for milliseconds; one that is paused there (SIGSTOP, a stalled
    /// VM, a long swap-in) would otherwise keep the rows it locked (a queue's row under a rate
    /// limit or concurrency cap, its event counters, the jobs it claimed) locked for as long as
    /// it is paused, and every other docketd's claims of those queues would wait as long, with
    /// the paused node never taken for dead (taking its jobs back needs those rows too).
    public static let idleInTransactionMilliseconds = 5000

    /// Sets up a new session for docketd (see `idleInTransactionMilliseconds`): a database or
    /// role setting would apply otherwise, none by default. Sends nothing before the
    /// connection's next `commit()`.
    ///
    /// The other timeouts a session can have are turned off for docketd's (`sessionTimeoutsOff`):
    /// a DBA's default for the database or role, meant for people's queries, would cancel a
    /// transaction that carries a whole pass of many clients' commands, and cancel it again every
    /// time it is sent (measured: under `statement_timeout = 300ms`, the FAIL of a job heading a
    /// 3,000-job chain, whose death settles the chain in 2-3 s on a debug build, answered
    /// UNAVAILABLE on every try, and the job could never die), or close a connection that is
    /// idle between passes (`idle_session_timeout = 1s`: both connections made again every
    /// second). How long docketd waits is its own `--store-timeout`, and how long a statement
    /// may run is bounded by its own limits (`--max-flow-depth`, batch sizes).
    public static func configureSession(on connection: PostgresConnection) {
        connection.execute("SET idle_in_transaction_session_timeout = \(idleInTransactionMilliseconds)") { _ in }
        connection.execute(sessionTimeoutsOff) { _ in }
    }

    /// Read from `pg_settings`, which lists only what the server knows: `idle_session_timeout`
    /// came in PostgreSQL 14 and `transaction_timeout` in 17, and naming an unknown one in a SET
    /// would fail the session's first transaction on an older server.
    static let sessionTimeoutsOff = """
        SELECT set_config(name, '0', false) FROM pg_settings
        WHERE name IN ('statement_timeout', 'lock_timeout', 'idle_session_timeout', 'transaction_timeout')
        """

    /// Brings the database to `version`. Sends nothing before the connection's next `commit()`.
    public static func migrate(on connection: PostgresConnection, completion: @escaping (Result<Void, PostgresError>) -> Void) {
        connection.execute(migrationStatement) { result in completion(result.map { _ in () }) }
    }

    /// The migrations, oldest first: never edit one that has shipped, add the next.
    static let migrations: [String] = [version1, version2, version3, version4, version5, version6, version7, version8, version9, version10, version11, version12, version13, version14, version15, version16, version17, version18, version19, version20, version21, version22, version23, version24, version25, version26, version27, version28, version29, version30, version31]

    /// Notifications about schedules go to this channel (payload: the schedule's name), so
    /// every docketd sharing the database reloads them.
    public static let schedulesChannel = "docket_schedules"

    /// Schedules (SCHEDULE): docketd keeps the definition as it wrote it (`record`, which the
    /// database does not read) with the latest tick handled and whether it is paused. A tick's
    /// job carries the key `<name>@<tick>`, so processes firing the same tick make one job.
    static let version2 = """
        CREATE TABLE docket.schedules (
            name text PRIMARY KEY,
            record bytea NOT NULL,
            last_tick bigint NOT NULL,
            paused boolean NOT NULL DEFAULT false
        );
        """

    /// ACK without reading the table again: the benchmark (BENCHMARKS.md, "Jobs on PostgreSQL")
    /// found version 1's final join to `docket.jobs` planned, once and for good, while the
    /// table was nearly empty: a sequential scan of every job for every ACK, slower the more
    /// jobs were kept. Now the rows the UPDATE completed answer `ok` from its own RETURNING;
    /// only refused ones (rare) are looked up, one by one, and the queues to trim come from
    /// the same RETURNING instead of a second search by id.
    static let version4 = """
        CREATE OR REPLACE FUNCTION docket.ack(p_id bigint[], p_owner text[], p_attempt integer[], p_result bytea[], p_keep_completed integer)
        RETURNS TABLE (ord integer, outcome text, state text, attempts integer, held boolean)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_done bigint[];
            v_queues text[];
        BEGIN
            WITH input AS (
                SELECT * FROM unnest(p_id, p_owner, p_attempt, p_result) WITH ORDINALITY AS i(id, owner, attempt, result, ord)
            ), first AS (
                SELECT DISTINCT ON (i.id) i.* FROM input i ORDER BY i.id, i.ord
            ), done AS (
                UPDATE docket.jobs j
                SET state = 'completed', result = f.result, finished_at = v_now, lease_owner = NULL, lease_expires_at = NULL
                FROM first f
                WHERE j.id = f.id AND j.state = 'active' AND j.lease_owner = f.owner AND (f.attempt IS NULL OR j.attempts = f.attempt)
                RETURNING f.ord, j.queue
            )
            SELECT coalesce(array_agg(d.ord), '{}'), coalesce(array_agg(DISTINCT d.queue), '{}') INTO v_done, v_queues FROM done d;
            RETURN QUERY
            SELECT i.ord::integer,
                   CASE WHEN i.ord = ANY(v_done) THEN 'ok' WHEN b.state IS NULL THEN 'not_found' ELSE 'not_held' END,
                   b.state, b.attempts, coalesce(b.state = 'active' AND b.lease_owner = i.owner, false)
            FROM unnest(p_id, p_owner) WITH ORDINALITY AS i(id, owner, ord)
            LEFT JOIN LATERAL (
                SELECT j.state, j.attempts, j.lease_owner FROM docket.jobs j WHERE j.id = i.id AND NOT (i.ord = ANY(v_done))
            ) b ON true
            ORDER BY i.ord;
            PERFORM docket.tell_watchers(p_id);
            PERFORM docket.retain(q, 'completed', p_keep_completed) FROM unnest(v_queues) AS q;
        END
        $f$;
        """

    /// Expiry (`ttl=`, `expires=`): a job not started by `expires_at` is not run; `expire_due`
    /// makes such jobs dead (docketd calls it before its claims and at the earliest expiry).
    static let version3 = """
        ALTER TABLE docket.jobs ADD COLUMN expires_at bigint;
        CREATE INDEX jobs_expiring ON docket.jobs (expires_at) WHERE state = 'waiting' AND expires_at IS NOT NULL;

        DROP FUNCTION docket.enqueue(text[], bytea[], integer[], bigint[], bigint[], integer[], text[], bigint[], bigint[],
            double precision[], bigint[], bytea[], bytea[], integer, text, bigint, bigint, bigint);
        CREATE FUNCTION docket.enqueue(
            p_queue text[], p_payload bytea[], p_priority integer[], p_delay_ms bigint[], p_run_at bigint[],
            p_max_attempts integer[], p_backoff_kind text[], p_backoff_base bigint[], p_backoff_cap bigint[],
            p_jitter double precision[], p_lease_ms bigint[], p_key bytea[], p_group bytea[],
            d_max_attempts integer, d_backoff_kind text, d_backoff_base bigint, d_backoff_cap bigint, d_lease_ms bigint,
            p_ttl_ms bigint[], p_expires_at bigint[])
        RETURNS TABLE (ord integer, id bigint, duplicate boolean, max_attempts integer, run_at bigint)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_ord bigint[];
            v_id bigint[];
            v_new boolean[];
        BEGIN
            -- Ids are drawn first, so each input row knows its id whether or not it is inserted.
            WITH input AS (
                SELECT * FROM unnest(p_queue, p_payload, p_priority, p_delay_ms, p_run_at, p_max_attempts, p_backoff_kind,
                                     p_backoff_base, p_backoff_cap, p_jitter, p_lease_ms, p_key, p_group, p_ttl_ms, p_expires_at)
                    WITH ORDINALITY AS i(queue, payload, priority, delay_ms, run_at, max_attempts, backoff_kind,
                                         backoff_base, backoff_cap, jitter, lease_ms, key, grp, ttl_ms, expires_at, ord)
            ), numbered AS (
                SELECT i.*, nextval('docket.jobs_id_seq') AS new_id FROM input i
            ), inserted AS (
                INSERT INTO docket.jobs AS j (id, queue, state, priority, run_at, max_attempts, backoff_kind, backoff_base_ms,
                                              backoff_cap_ms, jitter, lease_ms, key, grp, payload, enqueued_at, expires_at)
                SELECT n.new_id, n.queue, 'waiting', coalesce(n.priority, 0), coalesce(n.run_at, v_now + n.delay_ms, v_now),
                       coalesce(n.max_attempts, q.max_attempts, d_max_attempts),
                       CASE WHEN n.backoff_kind IS NOT NULL THEN n.backoff_kind WHEN q.backoff_kind IS NOT NULL THEN q.backoff_kind ELSE d_backoff_kind END,
                       CASE WHEN n.backoff_kind IS NOT NULL THEN n.backoff_base WHEN q.backoff_kind IS NOT NULL THEN q.backoff_base_ms ELSE d_backoff_base END,
                       CASE WHEN n.backoff_kind IS NOT NULL THEN n.backoff_cap WHEN q.backoff_kind IS NOT NULL THEN q.backoff_cap_ms ELSE d_backoff_cap END,
                       coalesce(n.jitter, q.jitter, 0), coalesce(n.lease_ms, q.lease_ms, d_lease_ms),
                       n.key, n.grp, n.payload, v_now, coalesce(n.expires_at, v_now + n.ttl_ms)
                FROM numbered n LEFT JOIN docket.queues q ON q.name = n.queue
                ORDER BY n.ord
                ON CONFLICT (queue, key) WHERE key IS NOT NULL DO NOTHING
                RETURNING j.id
            )
            SELECT array_agg(n.ord ORDER BY n.ord), array_agg(n.new_id ORDER BY n.ord), array_agg(ins.id IS NOT NULL ORDER BY n.ord)
                INTO v_ord, v_id, v_new
            FROM numbered n LEFT JOIN inserted ins ON ins.id = n.new_id;

            -- Jobs that are runnable now wake the queue's workers, once this commits.
            PERFORM pg_notify('docket_jobs', w.queue)
            FROM (SELECT DISTINCT p_queue[r.ord] AS queue FROM unnest(v_ord, v_new) AS r(ord, new)
                  WHERE r.new AND coalesce(p_run_at[r.ord], v_now + p_delay_ms[r.ord], v_now) <= v_now) AS w;

            -- A statement of its own: a key another transaction committed while this one waited
            -- on it is visible only to a later statement.
            -- The job's attempts and run time come back for its `enqueued` event.
            RETURN QUERY
            SELECT r.ord::integer, x.id, NOT r.new, x.max_attempts, x.run_at
            FROM unnest(v_ord, v_id, v_new) AS r(ord, id, new)
            LEFT JOIN LATERAL (
                SELECT j.id, j.max_attempts, j.run_at FROM docket.jobs j WHERE r.new AND j.id = r.id
                UNION ALL
                SELECT j.id, j.max_attempts, j.run_at FROM docket.jobs j
                WHERE NOT r.new AND j.queue = p_queue[r.ord] AND j.key = p_key[r.ord]
            ) AS x ON true
            ORDER BY r.ord;
        END
        $f$;

        -- Waiting (or delayed) jobs whose expiry has come, at most p_limit: dead, "expired".
        CREATE FUNCTION docket.expire_due(p_limit integer, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, attempts integer, max_attempts integer, expires_at bigint, grp bytea)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_ids bigint[];
        BEGIN
            SELECT array_agg(j.id) INTO v_ids FROM (
                SELECT j.id FROM docket.jobs j WHERE j.state = 'waiting' AND j.expires_at <= v_now
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

        -- The next time something is due by time alone, expiries included now.
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
                (SELECT min(j.expires_at) FROM docket.jobs j WHERE j.state = 'waiting' AND j.expires_at IS NOT NULL));
        END
        $f$;
        """

    /// One statement (a `DO` block) that runs the missing migrations.
    static var migrationStatement: String {
        var text = """
            DO $migrate$
            DECLARE
                v_version integer;
            BEGIN
                -- Docket's own lock number ("docket" in ASCII): processes starting together take turns.
                PERFORM pg_advisory_xact_lock(110111099107101116);
                CREATE SCHEMA IF NOT EXISTS docket;
                CREATE TABLE IF NOT EXISTS docket.meta (key text PRIMARY KEY, value text NOT NULL);
                SELECT value::integer INTO v_version FROM docket.meta WHERE key = 'schema_version';
                v_version := coalesce(v_version, 0);
                IF v_version > \(version) THEN
                    RAISE EXCEPTION 'the docket schema is at version %, newer than this docketd knows (%)', v_version, \(version)
                        USING ERRCODE = '55000';
                END IF;

            """
        for (index, migration) in migrations.enumerated() {
            text += "    IF v_version < \(index + 1) THEN\n\(migration)\n    END IF;\n"
        }
        text += """
                INSERT INTO docket.meta (key, value) VALUES ('schema_version', '\(version)')
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
            END
            $migrate$
            """
        return text
    }

    static let version1 = """
        CREATE SEQUENCE docket.deliveries;

        -- A queue's settings, once any is set (a queue without a row has the defaults).
        CREATE TABLE docket.queues (
            name text PRIMARY KEY,
            paused boolean NOT NULL DEFAULT false,
            rate_limit integer,
            rate_window_ms bigint,
            group_rate_limit integer,
            group_rate_window_ms bigint,
            concurrency integer,
            max_attempts integer,
            backoff_kind text CHECK (backoff_kind IN ('fixed', 'exp')),
            backoff_base_ms bigint,
            backoff_cap_ms bigint,
            jitter double precision,
            lease_ms bigint,
            keep_completed integer,
            keep_dead integer,
            -- A throttle (FAIL throttle=): nothing of the queue starts before this time.
            held_until bigint NOT NULL DEFAULT 0
        );

        CREATE TABLE docket.jobs (
            id bigserial PRIMARY KEY,
            queue text NOT NULL,
            state text NOT NULL CHECK (state IN ('waiting', 'active', 'completed', 'dead')),
            priority integer NOT NULL DEFAULT 0,
            -- Runnable from this time on; ahead of now, the job is delayed.
            run_at bigint NOT NULL,
            -- Runs started so far: the current one included while active. It is the fencing
            -- token: ACK, FAIL, PROGRESS and TOUCH name it, and a stale one is refused.
            attempts integer NOT NULL DEFAULT 0,
            max_attempts integer NOT NULL,
            backoff_kind text NOT NULL CHECK (backoff_kind IN ('fixed', 'exp')),
            backoff_base_ms bigint NOT NULL,
            backoff_cap_ms bigint NOT NULL,
            jitter double precision NOT NULL DEFAULT 0,
            lease_ms bigint NOT NULL,
            -- While active: who holds it, until when, and the number of this hand-out (unique
            -- for the life of the database).
            lease_owner text,
            lease_expires_at bigint,
            delivery bigint,
            key bytea,
            grp bytea,
            payload bytea NOT NULL,
            result bytea,
            last_error bytea,
            progress integer NOT NULL DEFAULT 0,
            progress_note bytea,
            enqueued_at bigint NOT NULL,
            started_at bigint,
            finished_at bigint
        );
        -- An idempotency key names one job of its queue for as long as the job is kept.
        CREATE UNIQUE INDEX jobs_key ON docket.jobs (queue, key) WHERE key IS NOT NULL;
        -- The claim order.
        CREATE INDEX jobs_ready ON docket.jobs (queue, priority, run_at, id) WHERE state = 'waiting';
        -- When the next delayed job comes due.
        CREATE INDEX jobs_due ON docket.jobs (run_at) WHERE state = 'waiting';
        CREATE INDEX jobs_leases ON docket.jobs (lease_expires_at) WHERE state = 'active';
        CREATE INDEX jobs_active ON docket.jobs (queue) WHERE state = 'active';
        CREATE INDEX jobs_holders ON docket.jobs (lease_owner) WHERE state = 'active';
        CREATE INDEX jobs_finished ON docket.jobs (queue, state, finished_at, id) WHERE state IN ('completed', 'dead');

        -- Start times of the queues that have a rate, for exact sliding windows.
        CREATE TABLE docket.starts (
            queue text NOT NULL,
            grp bytea,
            at bigint NOT NULL
        );
        CREATE INDEX starts_by_queue ON docket.starts (queue, at);
        CREATE INDEX starts_by_group ON docket.starts (queue, grp, at) WHERE grp IS NOT NULL;

        CREATE TABLE docket.routes (
            id bigserial PRIMARY KEY,
            pattern text NOT NULL,
            queue text NOT NULL,
            rule text NOT NULL,
            owner text,
            created_at bigint NOT NULL
        );

        -- Now, in unix milliseconds, by the database's clock. Tests may set docket.test_now_ms
        -- in their session to move time by hand.
        CREATE FUNCTION docket.now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS $f$
            SELECT coalesce(nullif(current_setting('docket.test_now_ms', true), '')::bigint,
                            (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
        $f$;

        -- The wait before the retry that follows failed attempt number p_attempts:
        -- fixed, or base x 2^(attempt-1) up to the cap; jitter takes up to that fraction off.
        CREATE FUNCTION docket.retry_wait_ms(p_kind text, p_base bigint, p_cap bigint, p_jitter double precision, p_attempts integer)
        RETURNS bigint LANGUAGE sql VOLATILE AS $f$
            SELECT w - floor(w * p_jitter * random())::bigint
            FROM (SELECT CASE WHEN p_kind = 'fixed' THEN p_base
                         ELSE least(p_cap::numeric, p_base::numeric * power(2::numeric, least(greatest(p_attempts - 1, 0), 40)))::bigint
                         END AS w) AS wait
        $f$;

        -- Group throttles (FAIL throttle= scope=group): the group's jobs start nothing before
        -- `until`. A hold that has ended is inert; the group's next throttle reuses its row.
        CREATE TABLE docket.group_holds (
            queue text NOT NULL,
            grp bytea NOT NULL,
            until bigint NOT NULL,
            PRIMARY KEY (queue, grp)
        );

        -- WAIT: who waits for which job's outcome (a docketd process, say).
        CREATE TABLE docket.watches (
            job_id bigint NOT NULL,
            watcher text NOT NULL,
            PRIMARY KEY (job_id, watcher)
        );

        -- When retention last trimmed each queue's completed or dead jobs.
        CREATE TABLE docket.retention (
            queue text NOT NULL,
            state text NOT NULL,
            at bigint NOT NULL,
            PRIMARY KEY (queue, state)
        );

        -- Tells the watchers of those of p_ids that are finished (completed, dead) or gone:
        -- NOTIFY docket_outcomes, '<id>', and their watches end. Called by every verb that
        -- finishes or deletes a job, after the change, in its transaction.
        CREATE FUNCTION docket.tell_watchers(p_ids bigint[]) RETURNS void
        LANGUAGE plpgsql AS $f$
        BEGIN
            PERFORM pg_notify('docket_outcomes', x.job_id::text)
            FROM (SELECT DISTINCT w.job_id FROM docket.watches w LEFT JOIN docket.jobs j ON j.id = w.job_id
                  WHERE w.job_id = ANY(p_ids) AND (j.id IS NULL OR j.state IN ('completed', 'dead'))) AS x;
            DELETE FROM docket.watches w WHERE w.job_id = ANY(p_ids)
                AND NOT EXISTS (SELECT 1 FROM docket.jobs j WHERE j.id = w.job_id AND j.state NOT IN ('completed', 'dead'));
        END
        $f$;

        -- WAIT: starts watching a job and answers its state (NULL: no such job; completed or
        -- dead: answered at once, nothing is watched). The read locks the job row FOR SHARE, so
        -- no outcome is missed: a transaction finishing the job either commits first (and this
        -- read, which waits for it, sees the outcome) or waits for this one to commit (and then
        -- sees the watch and notifies).
        CREATE FUNCTION docket.watch(p_id bigint, p_watcher text) RETURNS text
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_state text;
        BEGIN
            INSERT INTO docket.watches (job_id, watcher) VALUES (p_id, p_watcher) ON CONFLICT DO NOTHING;
            SELECT CASE WHEN j.state = 'waiting' AND j.run_at > docket.now_ms() THEN 'delayed' ELSE j.state END INTO v_state
            FROM docket.jobs j WHERE j.id = p_id FOR SHARE;
            IF v_state IS NULL OR v_state IN ('completed', 'dead') THEN
                DELETE FROM docket.watches w WHERE w.job_id = p_id AND w.watcher = p_watcher;
            END IF;
            RETURN v_state;
        END
        $f$;

        -- DEL: answers whether the job existed; its watchers hear that it is gone.
        CREATE FUNCTION docket.delete_job(p_id bigint) RETURNS boolean
        LANGUAGE plpgsql AS $f$
        BEGIN
            DELETE FROM docket.jobs j WHERE j.id = p_id;
            IF NOT FOUND THEN
                RETURN false;
            END IF;
            PERFORM docket.tell_watchers(ARRAY[p_id]);
            RETURN true;
        END
        $f$;

        -- Retention: keeps the newest p_keep_default (or the queue's keep_completed / keep_dead)
        -- finished jobs of one state, deleting older ones; never the newest one, so the job that
        -- just finished stays readable. Answers how many went. A trim reads `keep` index entries,
        -- so a history longer than 100 is trimmed at most every 100 ms (between trims it can run
        -- over its bound by what finishes meanwhile); a shorter one at every finish. It never waits: when another transaction is
        -- trimming the queue (two ACK batches deleting the same old rows in different orders
        -- would deadlock), this one leaves it to that one. (Each state is spelled out so the
        -- partial index serves it.)
        CREATE FUNCTION docket.retain(p_queue text, p_state text, p_keep_default integer) RETURNS bigint
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_now bigint := docket.now_ms();
            v_keep integer;
            v_count bigint;
        BEGIN
            SELECT CASE WHEN p_state = 'completed' THEN q.keep_completed ELSE q.keep_dead END INTO v_keep
            FROM docket.queues q WHERE q.name = p_queue;
            v_keep := greatest(coalesce(v_keep, p_keep_default), 1);
            -- A short history is trimmed exactly, every time: reading a hundred index entries
            -- costs less than skipping them would save.
            IF v_keep > 100 AND EXISTS (SELECT 1 FROM docket.retention r
                                        WHERE r.queue = p_queue AND r.state = p_state AND r.at > v_now - 100) THEN
                RETURN 0;
            END IF;
            IF NOT pg_try_advisory_xact_lock(1685021547, hashtext(p_queue)) THEN
                RETURN 0;
            END IF;
            IF p_state = 'completed' THEN
                DELETE FROM docket.jobs WHERE id IN (
                    SELECT j.id FROM docket.jobs j WHERE j.queue = p_queue AND j.state = 'completed'
                    ORDER BY j.finished_at DESC, j.id DESC OFFSET v_keep);
            ELSE
                DELETE FROM docket.jobs WHERE id IN (
                    SELECT j.id FROM docket.jobs j WHERE j.queue = p_queue AND j.state = 'dead'
                    ORDER BY j.finished_at DESC, j.id DESC OFFSET v_keep);
            END IF;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            INSERT INTO docket.retention AS r (queue, state, at) VALUES (p_queue, p_state, v_now)
            ON CONFLICT (queue, state) DO UPDATE SET at = excluded.at;
            RETURN v_count;
        END
        $f$;

        -- ENQ, for many jobs at once (one row per array index). A job whose key its queue
        -- already knows is not created: its row answers the existing job's id, duplicate.
        CREATE FUNCTION docket.enqueue(
            p_queue text[], p_payload bytea[], p_priority integer[], p_delay_ms bigint[], p_run_at bigint[],
            p_max_attempts integer[], p_backoff_kind text[], p_backoff_base bigint[], p_backoff_cap bigint[],
            p_jitter double precision[], p_lease_ms bigint[], p_key bytea[], p_group bytea[],
            d_max_attempts integer, d_backoff_kind text, d_backoff_base bigint, d_backoff_cap bigint, d_lease_ms bigint)
        RETURNS TABLE (ord integer, id bigint, duplicate boolean, max_attempts integer, run_at bigint)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_ord bigint[];
            v_id bigint[];
            v_new boolean[];
        BEGIN
            -- Ids are drawn first, so each input row knows its id whether or not it is inserted.
            WITH input AS (
                SELECT * FROM unnest(p_queue, p_payload, p_priority, p_delay_ms, p_run_at, p_max_attempts, p_backoff_kind,
                                     p_backoff_base, p_backoff_cap, p_jitter, p_lease_ms, p_key, p_group)
                    WITH ORDINALITY AS i(queue, payload, priority, delay_ms, run_at, max_attempts, backoff_kind,
                                         backoff_base, backoff_cap, jitter, lease_ms, key, grp, ord)
            ), numbered AS (
                SELECT i.*, nextval('docket.jobs_id_seq') AS new_id FROM input i
            ), inserted AS (
                INSERT INTO docket.jobs AS j (id, queue, state, priority, run_at, max_attempts, backoff_kind, backoff_base_ms,
                                              backoff_cap_ms, jitter, lease_ms, key, grp, payload, enqueued_at)
                SELECT n.new_id, n.queue, 'waiting', coalesce(n.priority, 0), coalesce(n.run_at, v_now + n.delay_ms, v_now),
                       coalesce(n.max_attempts, q.max_attempts, d_max_attempts),
                       CASE WHEN n.backoff_kind IS NOT NULL THEN n.backoff_kind WHEN q.backoff_kind IS NOT NULL THEN q.backoff_kind ELSE d_backoff_kind END,
                       CASE WHEN n.backoff_kind IS NOT NULL THEN n.backoff_base WHEN q.backoff_kind IS NOT NULL THEN q.backoff_base_ms ELSE d_backoff_base END,
                       CASE WHEN n.backoff_kind IS NOT NULL THEN n.backoff_cap WHEN q.backoff_kind IS NOT NULL THEN q.backoff_cap_ms ELSE d_backoff_cap END,
                       coalesce(n.jitter, q.jitter, 0), coalesce(n.lease_ms, q.lease_ms, d_lease_ms),
                       n.key, n.grp, n.payload, v_now
                FROM numbered n LEFT JOIN docket.queues q ON q.name = n.queue
                ORDER BY n.ord
                ON CONFLICT (queue, key) WHERE key IS NOT NULL DO NOTHING
                RETURNING j.id
            )
            SELECT array_agg(n.ord ORDER BY n.ord), array_agg(n.new_id ORDER BY n.ord), array_agg(ins.id IS NOT NULL ORDER BY n.ord)
                INTO v_ord, v_id, v_new
            FROM numbered n LEFT JOIN inserted ins ON ins.id = n.new_id;

            -- Jobs that are runnable now wake the queue's workers, once this commits.
            PERFORM pg_notify('docket_jobs', w.queue)
            FROM (SELECT DISTINCT p_queue[r.ord] AS queue FROM unnest(v_ord, v_new) AS r(ord, new)
                  WHERE r.new AND coalesce(p_run_at[r.ord], v_now + p_delay_ms[r.ord], v_now) <= v_now) AS w;

            -- A statement of its own: a key another transaction committed while this one waited
            -- on it is visible only to a later statement.
            -- The job's attempts and run time come back for its `enqueued` event.
            RETURN QUERY
            SELECT r.ord::integer, x.id, NOT r.new, x.max_attempts, x.run_at
            FROM unnest(v_ord, v_id, v_new) AS r(ord, id, new)
            LEFT JOIN LATERAL (
                SELECT j.id, j.max_attempts, j.run_at FROM docket.jobs j WHERE r.new AND j.id = r.id
                UNION ALL
                SELECT j.id, j.max_attempts, j.run_at FROM docket.jobs j
                WHERE NOT r.new AND j.queue = p_queue[r.ord] AND j.key = p_key[r.ord]
            ) AS x ON true
            ORDER BY r.ord;
        END
        $f$;

        -- RESERVE: the next job of the first listed queue that has one it may start (lowest
        -- priority value, then oldest run_at, then id), claimed with SKIP LOCKED so concurrent
        -- claimers never wait for each other nor get the same job. Paused and throttled queues
        -- are passed over. A queue with a concurrency cap, a rate or a group rate takes a lock
        -- on its settings row first, so those limits hold exactly however many processes claim:
        -- rates count the starts in the start log over the window (sliding, exact), and jobs of
        -- a group over its group rate step aside for other groups' jobs.
        -- Jobs of a throttled group step aside the same way.
        CREATE FUNCTION docket.reserve(p_queues text[], p_owner text)
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
                WHERE j.queue = v_queue AND j.state = 'waiting' AND j.run_at <= v_now
                    AND (v_settings.group_rate_limit IS NULL OR j.grp IS NULL
                         OR (SELECT count(*) FROM docket.starts s
                             WHERE s.queue = v_queue AND s.grp = j.grp AND s.at > v_now - v_settings.group_rate_window_ms)
                            < v_settings.group_rate_limit)
                    AND (j.grp IS NULL
                         OR NOT EXISTS (SELECT 1 FROM docket.group_holds h WHERE h.queue = v_queue AND h.grp = j.grp AND h.until > v_now))
                ORDER BY j.priority, j.run_at, j.id
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

        -- ACK, for many jobs at once. Each row: ok, not_found or not_held, with what the job
        -- was before (its state, its attempt, whether p_owner held it) for the refusal's message.
        -- Only the first ACK of a job in one call can succeed.
        CREATE FUNCTION docket.ack(p_id bigint[], p_owner text[], p_attempt integer[], p_result bytea[], p_keep_completed integer)
        RETURNS TABLE (ord integer, outcome text, state text, attempts integer, held boolean)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
        BEGIN
            RETURN QUERY
            WITH input AS (
                SELECT * FROM unnest(p_id, p_owner, p_attempt, p_result) WITH ORDINALITY AS i(id, owner, attempt, result, ord)
            ), first AS (
                SELECT DISTINCT ON (i.id) i.* FROM input i ORDER BY i.id, i.ord
            ), done AS (
                UPDATE docket.jobs j
                SET state = 'completed', result = f.result, finished_at = v_now, lease_owner = NULL, lease_expires_at = NULL
                FROM first f
                WHERE j.id = f.id AND j.state = 'active' AND j.lease_owner = f.owner AND (f.attempt IS NULL OR j.attempts = f.attempt)
                RETURNING j.id, f.ord
            )
            SELECT i.ord::integer,
                   CASE WHEN d.ord = i.ord THEN 'ok' WHEN b.id IS NULL THEN 'not_found' ELSE 'not_held' END,
                   b.state, b.attempts, coalesce(b.state = 'active' AND b.lease_owner = i.owner, false)
            FROM input i LEFT JOIN done d ON d.id = i.id LEFT JOIN docket.jobs b ON b.id = i.id
            ORDER BY i.ord;
            PERFORM docket.tell_watchers(p_id);
            PERFORM docket.retain(x.queue, 'completed', p_keep_completed)
            FROM (SELECT DISTINCT j.queue FROM docket.jobs j WHERE j.id = ANY(p_id) AND j.state = 'completed') AS x;
        END
        $f$;

        -- FAIL: the attempt ends; the job runs again after p_retry_ms (or its backoff) while it
        -- has attempts left, else (or with p_never) it is dead.
        CREATE FUNCTION docket.fail(p_id bigint, p_owner text, p_attempt integer, p_retry_ms bigint, p_never boolean, p_reason bytea,
                                    p_keep_dead integer)
        RETURNS TABLE (outcome text, retry_ms bigint, state text, attempts integer, held boolean)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_job docket.jobs;
            v_wait bigint;
        BEGIN
            SELECT * INTO v_job FROM docket.jobs j WHERE j.id = p_id FOR UPDATE;
            IF NOT FOUND THEN
                RETURN QUERY SELECT 'not_found', NULL::bigint, NULL::text, NULL::integer, false;
                RETURN;
            END IF;
            IF v_job.state <> 'active' OR v_job.lease_owner IS DISTINCT FROM p_owner
                OR (p_attempt IS NOT NULL AND v_job.attempts <> p_attempt) THEN
                RETURN QUERY SELECT 'not_held', NULL::bigint, v_job.state, v_job.attempts,
                                    coalesce(v_job.state = 'active' AND v_job.lease_owner = p_owner, false);
                RETURN;
            END IF;
            IF p_never OR v_job.attempts >= v_job.max_attempts THEN
                UPDATE docket.jobs j
                SET state = 'dead', finished_at = v_now, lease_owner = NULL, lease_expires_at = NULL,
                    last_error = coalesce(p_reason, j.last_error)
                WHERE j.id = p_id;
                PERFORM docket.tell_watchers(ARRAY[p_id]);
                PERFORM docket.retain(v_job.queue, 'dead', p_keep_dead);
                RETURN QUERY SELECT 'dead', NULL::bigint, 'dead'::text, v_job.attempts, true;
                RETURN;
            END IF;
            v_wait := coalesce(p_retry_ms,
                docket.retry_wait_ms(v_job.backoff_kind, v_job.backoff_base_ms, v_job.backoff_cap_ms, v_job.jitter, v_job.attempts));
            UPDATE docket.jobs j
            SET state = 'waiting', run_at = v_now + v_wait, lease_owner = NULL, lease_expires_at = NULL,
                last_error = coalesce(p_reason, j.last_error)
            WHERE j.id = p_id;
            IF v_wait <= 0 THEN
                PERFORM pg_notify('docket_jobs', v_job.queue);
            END IF;
            RETURN QUERY SELECT 'retry', v_wait, 'waiting'::text, v_job.attempts, true;
        END
        $f$;

        -- PROGRESS (p_progress given) and TOUCH: the lease starts again from now.
        CREATE FUNCTION docket.heartbeat(p_id bigint, p_owner text, p_attempt integer, p_progress integer, p_note bytea)
        RETURNS TABLE (outcome text, state text, attempts integer, held boolean, lease_expires_at bigint)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_until bigint;
        BEGIN
            UPDATE docket.jobs j
            SET lease_expires_at = v_now + j.lease_ms,
                progress = coalesce(p_progress, j.progress),
                progress_note = CASE WHEN p_progress IS NOT NULL AND p_note IS NOT NULL THEN p_note ELSE j.progress_note END
            WHERE j.id = p_id AND j.state = 'active' AND j.lease_owner = p_owner AND (p_attempt IS NULL OR j.attempts = p_attempt)
            RETURNING j.lease_expires_at INTO v_until;
            IF FOUND THEN
                RETURN QUERY SELECT 'ok', 'active'::text, NULL::integer, true, v_until;
                RETURN;
            END IF;
            RETURN QUERY
            SELECT CASE WHEN b.id IS NULL THEN 'not_found' ELSE 'not_held' END, b.state, b.attempts,
                   coalesce(b.state = 'active' AND b.lease_owner = p_owner, false), NULL::bigint
            FROM (SELECT 1) AS one LEFT JOIN docket.jobs b ON b.id = p_id;
        END
        $f$;

        -- Ends the current attempt of active jobs whose worker is gone (p_cause 'stalled': the
        -- lease expired; 'lost': the connection closed): a failed attempt, which follows the
        -- retry policy (a backoff, or dead once no attempt is left).
        CREATE FUNCTION docket.end_attempts(p_ids bigint[], p_cause text, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, outcome text, retry_ms bigint, attempts integer, max_attempts integer)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_row record;
        BEGIN
            FOR v_row IN
                WITH target AS (
                    SELECT j.id, j.attempts >= j.max_attempts AS dead,
                           docket.retry_wait_ms(j.backoff_kind, j.backoff_base_ms, j.backoff_cap_ms, j.jitter, j.attempts) AS wait
                    FROM docket.jobs j WHERE j.id = ANY(p_ids) AND j.state = 'active'
                )
                UPDATE docket.jobs j
                SET state = CASE WHEN t.dead THEN 'dead' ELSE 'waiting' END,
                    run_at = CASE WHEN t.dead THEN j.run_at ELSE v_now + t.wait END,
                    finished_at = CASE WHEN t.dead THEN v_now END,
                    lease_owner = NULL, lease_expires_at = NULL,
                    last_error = convert_to(CASE WHEN p_cause = 'stalled' THEN 'stalled: lease of ' || j.lease_ms || ' ms expired'
                                                 ELSE 'worker lost: connection closed' END, 'UTF8')
                FROM target t WHERE j.id = t.id
                RETURNING j.id, j.queue, CASE WHEN t.dead THEN 'dead' ELSE 'retry' END AS outcome,
                          CASE WHEN t.dead THEN NULL ELSE t.wait END AS retry_ms, j.attempts, j.max_attempts
            LOOP
                id := v_row.id;
                queue := v_row.queue;
                outcome := v_row.outcome;
                retry_ms := v_row.retry_ms;
                attempts := v_row.attempts;
                max_attempts := v_row.max_attempts;
                RETURN NEXT;
                IF v_row.outcome = 'retry' AND v_row.retry_ms <= 0 THEN
                    PERFORM pg_notify('docket_jobs', v_row.queue);
                END IF;
            END LOOP;
            PERFORM docket.tell_watchers(p_ids);
            PERFORM docket.retain(x.queue, 'dead', p_keep_dead)
            FROM (SELECT DISTINCT j.queue FROM docket.jobs j WHERE j.id = ANY(p_ids) AND j.state = 'dead') AS x;
        END
        $f$;

        -- Leases that ran out: up to p_limit of them, skipping jobs another transaction holds.
        CREATE FUNCTION docket.recover_expired(p_limit integer, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, outcome text, retry_ms bigint, attempts integer, max_attempts integer)
        LANGUAGE sql AS $f$
            SELECT * FROM docket.end_attempts(ARRAY(
                SELECT j.id FROM docket.jobs j
                WHERE j.state = 'active' AND j.lease_expires_at <= docket.now_ms()
                ORDER BY j.lease_expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED), 'stalled', p_keep_dead)
        $f$;

        -- Everything the owners held (their connections closed).
        CREATE FUNCTION docket.release(p_owners text[], p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, outcome text, retry_ms bigint, attempts integer, max_attempts integer)
        LANGUAGE sql AS $f$
            SELECT * FROM docket.end_attempts(ARRAY(
                SELECT j.id FROM docket.jobs j WHERE j.state = 'active' AND j.lease_owner = ANY(p_owners) FOR UPDATE), 'lost', p_keep_dead)
        $f$;

        -- FAIL throttle=<ms>: the worker hit a downstream limit. The job waits again in its old
        -- place (run_at unchanged) without using up an attempt, and nothing of its queue (or,
        -- with p_group_only, of its group) starts before now + p_ms (a hold only moves later).
        -- Outcomes: ok, not_found, not_held, no_group (p_group_only for a job without a group).
        CREATE FUNCTION docket.throttle(p_id bigint, p_owner text, p_attempt integer, p_ms bigint, p_group_only boolean, p_reason bytea)
        RETURNS TABLE (outcome text, state text, attempts integer, held boolean, held_until bigint)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_job docket.jobs;
            v_until bigint;
        BEGIN
            SELECT * INTO v_job FROM docket.jobs j WHERE j.id = p_id FOR UPDATE;
            IF NOT FOUND THEN
                RETURN QUERY SELECT 'not_found', NULL::text, NULL::integer, false, NULL::bigint;
                RETURN;
            END IF;
            IF v_job.state <> 'active' OR v_job.lease_owner IS DISTINCT FROM p_owner
                OR (p_attempt IS NOT NULL AND v_job.attempts <> p_attempt) THEN
                RETURN QUERY SELECT 'not_held', v_job.state, v_job.attempts,
                                    coalesce(v_job.state = 'active' AND v_job.lease_owner = p_owner, false), NULL::bigint;
                RETURN;
            END IF;
            IF p_group_only AND v_job.grp IS NULL THEN
                RETURN QUERY SELECT 'no_group', v_job.state, v_job.attempts, true, NULL::bigint;
                RETURN;
            END IF;
            UPDATE docket.jobs j
            SET state = 'waiting', attempts = j.attempts - 1, lease_owner = NULL, lease_expires_at = NULL,
                last_error = coalesce(p_reason, j.last_error)
            WHERE j.id = p_id;
            IF p_group_only THEN
                INSERT INTO docket.group_holds AS h (queue, grp, until) VALUES (v_job.queue, v_job.grp, v_now + p_ms)
                ON CONFLICT (queue, grp) DO UPDATE SET until = greatest(h.until, excluded.until)
                RETURNING h.until INTO v_until;
            ELSE
                INSERT INTO docket.queues AS q (name, held_until) VALUES (v_job.queue, v_now + p_ms)
                ON CONFLICT (name) DO UPDATE SET held_until = greatest(q.held_until, excluded.held_until)
                RETURNING q.held_until INTO v_until;
            END IF;
            RETURN QUERY SELECT 'ok', 'waiting'::text, v_job.attempts - 1, true, v_until;
        END
        $f$;

        -- A hand-out that never reached its worker (the requester went away before the JOB was
        -- sent): waiting again in its old place, the attempt not counted. Answers whether it was.
        CREATE FUNCTION docket.give_back(p_id bigint, p_owner text, p_attempt integer) RETURNS boolean
        LANGUAGE plpgsql AS $f$
        BEGIN
            UPDATE docket.jobs j
            SET state = 'waiting', attempts = j.attempts - 1, lease_owner = NULL, lease_expires_at = NULL, started_at = NULL
            WHERE j.id = p_id AND j.state = 'active' AND j.lease_owner = p_owner AND j.attempts = p_attempt;
            IF NOT FOUND THEN
                RETURN false;
            END IF;
            PERFORM pg_notify('docket_jobs', j.queue) FROM docket.jobs j WHERE j.id = p_id;
            RETURN true;
        END
        $f$;

        -- What a queue document needs beyond the settings: jobs per state, the longest wait,
        -- the hold, and the starts in the current rate window.
        CREATE FUNCTION docket.queue_state(p_queue text)
        RETURNS TABLE (waiting bigint, delayed bigint, active bigint, completed bigint, dead bigint, oldest_waiting_since bigint,
                       held_until bigint, rate_window_starts bigint, now_ms bigint)
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
                   v_now
            FROM docket.jobs j WHERE j.queue = p_queue;
        END
        $f$;

        -- The next time something is due by time alone: a delayed job's run time, a lease's end,
        -- a throttle's end, or (a hint: the owner tries again then) the moment the oldest start in
        -- a full rate window leaves it.
        CREATE FUNCTION docket.next_deadline() RETURNS bigint
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
                 WHERE s.at + greatest(coalesce(q.rate_window_ms, 0), coalesce(q.group_rate_window_ms, 0)) > v_now));
        END
        $f$;

        -- RETRY <id>: a dead job runs again with its attempts reset. Answers the state it had
        -- (NULL: no such job).
        CREATE FUNCTION docket.retry(p_id bigint) RETURNS text
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_state text;
            v_queue text;
        BEGIN
            SELECT j.state, j.queue INTO v_state, v_queue FROM docket.jobs j WHERE j.id = p_id FOR UPDATE;
            IF v_state = 'dead' THEN
                UPDATE docket.jobs j SET state = 'waiting', attempts = 0, finished_at = NULL, run_at = docket.now_ms()
                WHERE j.id = p_id;
                PERFORM pg_notify('docket_jobs', v_queue);
            END IF;
            RETURN v_state;
        END
        $f$;

        -- RETRY queue=<q>: every dead job of the queue; answers how many.
        CREATE FUNCTION docket.retry_queue(p_queue text) RETURNS bigint
        LANGUAGE plpgsql AS $f$
        DECLARE
            v_count bigint;
        BEGIN
            UPDATE docket.jobs j SET state = 'waiting', attempts = 0, finished_at = NULL, run_at = docket.now_ms()
            WHERE j.queue = p_queue AND j.state = 'dead';
            GET DIAGNOSTICS v_count = ROW_COUNT;
            IF v_count > 0 THEN
                PERFORM pg_notify('docket_jobs', p_queue);
            END IF;
            RETURN v_count;
        END
        $f$;
        """
}
