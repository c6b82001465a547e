extension PostgresSchema {
    /// Version 20: only `settle_children`'s own changes count as settled children, and a child
    /// it kills is counted in its queue's `dead` total whether or not anyone listens.
    ///
    /// `jobs_keep_settled_children` kept every job leaving `blocked`, so a blocked job whose
    /// `ttl=` ran out (`expire_due`, which docketd reports itself) was kept as a settled child
    /// too: with lifecycle events listened to, it was published `expired` twice and counted as
    /// two deaths. And the children settled while nobody listened were kept by nobody, so their
    /// deaths never reached the totals (the embedded store counts them). `settle_children` sets
    /// `docket.settling` while its loop changes children (version 19): only a change made then
    /// is a settled child, and when no docketd numbers the transaction's events (one that does
    /// counts the deaths as it publishes them), the database counts its death itself.
    static let version20 = """
        DROP TRIGGER jobs_keep_settled_children ON docket.jobs;
        CREATE TRIGGER jobs_keep_settled_children AFTER UPDATE OF state ON docket.jobs FOR EACH ROW
            WHEN (OLD.state = 'blocked' AND NEW.state <> 'blocked' AND current_setting('docket.settling', true) = 'on')
            EXECUTE FUNCTION docket.keep_settled_child();

        CREATE FUNCTION docket.count_settled_death() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            INSERT INTO docket.activity AS a (queue, second, dead) VALUES (NEW.queue, docket.now_ms() / 1000, 1)
            ON CONFLICT (queue, second) DO UPDATE SET dead = a.dead + 1;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER jobs_count_settled_deaths AFTER UPDATE OF state ON docket.jobs FOR EACH ROW
            WHEN (OLD.state = 'blocked' AND NEW.state = 'dead' AND current_setting('docket.settling', true) = 'on'
                  AND coalesce(current_setting('docket.numbering', true), '') <> 'on')
            EXECUTE FUNCTION docket.count_settled_death();
        """
}
