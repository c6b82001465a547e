extension PostgresSchema {
    /// Version 26: a parent that died and runs again (RETRY, RETRY queue=) is one its children
    /// under `on_parent_dead=run` wait for once more.
    ///
    /// Such a child counts a parent's death as that parent's end (`pending_parents` one less,
    /// `settle_children`). Retried, the parent later completed and was counted a second time,
    /// so the child ran before its other parents had finished (found by the kill -9 torture:
    /// a child of three parents handed out while one still waited for its retry). The
    /// embedded store had the same fault and now adds the count back as it revives a job,
    /// which is also what its restart recounts from the parents' states.
    static let version26 = """
        CREATE FUNCTION docket.recount_revived_parent() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            UPDATE docket.jobs c SET pending_parents = c.pending_parents + 1
            WHERE c.parents @> ARRAY[NEW.id] AND c.state = 'blocked' AND c.runs_if_parent_dies;
            RETURN NULL;
        END
        $f$;
        CREATE TRIGGER jobs_recount_revived_parent AFTER UPDATE OF state ON docket.jobs FOR EACH ROW
            WHEN (NEW.has_children AND OLD.state = 'dead' AND NEW.state <> 'dead')
            EXECUTE FUNCTION docket.recount_revived_parent();
        """
}
