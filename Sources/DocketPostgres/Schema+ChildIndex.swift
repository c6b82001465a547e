extension PostgresSchema {
    /// Version 21: the index that finds a job's children (`jobs_children`, GIN on `parents`)
    /// takes new entries at once instead of in its pending list.
    ///
    /// With GIN's default `fastupdate`, the entries of recent ENQs `after=` wait in a pending
    /// list that every search reads through until a vacuum merges it; a burst of flow jobs
    /// filled it with tens of thousands. `settle_children` searches the index once per job it
    /// settles, so each step of a death spreading down a chain cost about 4 ms: with 100,000
    /// children enqueued under one parent, the FAIL of the head of a 10,000-deep chain ran past
    /// `--store-timeout` (30 s), the database was taken for lost, and the lease's end failed it
    /// again, every time. Searches now cost a few pages; an ENQ with `after=` writes its entry
    /// into the index itself.
    static let version21 = """
        ALTER INDEX docket.jobs_children SET (fastupdate = off);
        PERFORM gin_clean_pending_list('docket.jobs_children'::regclass);
        """
}
