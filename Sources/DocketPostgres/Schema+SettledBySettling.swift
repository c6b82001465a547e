extension PostgresSchema {
    /// Version 20: only the children `settle_children` settles are kept for the numbering.
    /// Version 15's trigger kept every job leaving `blocked`, so also one an ENQ made dead or
    /// waiting at once (its parents already dead, or all completed), and a blocked job that
    /// `expire_due` made dead: docketd tells those itself, so their events came twice (two
    /// `dead`, two `expired`, an `unblocked` the embedded store never sends) and the queue's
    /// `dead` total counted them twice. `settle_children` sets `docket.settling` while it works,
    /// and the row triggers of its updates run then; the others' run without it. And a child
    /// that dies with its parent is counted in the queue's `dead` total here, at once (docketd
    /// heard of it only when it numbered events, after the rest of the transaction, and never
    /// when nobody listened). The kept JSON also has the job's group (hex), which its events carry.
    static let version20 = """
        CREATE OR REPLACE FUNCTION docket.keep_settled_child() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            IF current_setting('docket.numbering', true) = 'on' AND current_setting('docket.settling', true) = 'on' THEN
                INSERT INTO docket.settled_children (xact, child) VALUES (pg_current_xact_id(), jsonb_build_object(
                    'id', NEW.id, 'queue', NEW.queue,
                    'event', CASE WHEN NEW.state <> 'dead' THEN 'unblocked'
                                  WHEN convert_from(NEW.last_error, 'UTF8') LIKE 'expired:%' THEN 'expired'
                                  ELSE 'dead' END,
                    'state', NEW.state, 'run_at', NEW.run_at, 'max_attempts', NEW.max_attempts,
                    'error', CASE WHEN NEW.state = 'dead' THEN convert_from(NEW.last_error, 'UTF8') END,
                    'group', encode(NEW.grp, 'hex')));
            END IF;
            IF current_setting('docket.settling', true) = 'on' AND NEW.state = 'dead' THEN
                -- Counted here, in the queue's totals, at once: its docketd hears of it only when
                -- it numbers events, at the end of the transaction (after a QUEUE in it has
                -- read the totals), or not at all.
                INSERT INTO docket.activity AS a (queue, second, dead) VALUES (NEW.queue, docket.now_ms() / 1000, 1)
                ON CONFLICT (queue, second) DO UPDATE SET dead = a.dead + 1;
            END IF;
            RETURN NULL;
        END
        $f$;
        """
}
