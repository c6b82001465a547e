extension PostgresSchema {
    /// The docketd processes (nodes) that share the database, so that the jobs held by one that
    /// died are worked elsewhere long before their leases would end.
    ///
    /// Every node calls `docket.node_heartbeat` a few times per node timeout: it marks itself
    /// alive and, once it has itself been alive for a whole timeout, takes back the jobs held by
    /// the nodes whose heartbeat is older than the timeout (their attempts end as `lost`, as if
    /// their workers' connections had closed) and forgets those nodes. The "alive for a whole
    /// timeout" rule is what keeps a database outage from looking like every other node's death:
    /// after one, each node's `alive_since` starts again, and no node judges the others until
    /// they have all had a timeout's worth of chances to say they are back. Times are the
    /// database's clock, never a node's, so clock skew between machines does not matter.
    /// A lease owner is `<node id>:<connection>`, and node ids hold no colon.
    static let version6 = """
        CREATE TABLE docket.nodes (
            id text PRIMARY KEY,
            started_at bigint NOT NULL,
            alive_since bigint NOT NULL,
            heartbeat_at bigint NOT NULL
        );

        CREATE FUNCTION docket.node_heartbeat(p_node text, p_timeout_ms bigint, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, outcome text, retry_ms bigint, attempts integer, max_attempts integer)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_alive_since bigint;
            v_dead text[];
        BEGIN
            INSERT INTO docket.nodes AS n (id, started_at, alive_since, heartbeat_at) VALUES (p_node, v_now, v_now, v_now)
            ON CONFLICT (id) DO UPDATE
                SET heartbeat_at = v_now,
                    alive_since = CASE WHEN n.heartbeat_at < v_now - p_timeout_ms THEN v_now ELSE n.alive_since END
            RETURNING n.alive_since INTO v_alive_since;
            IF p_timeout_ms <= 0 OR v_alive_since > v_now - p_timeout_ms THEN
                RETURN;
            END IF;
            WITH gone AS (
                DELETE FROM docket.nodes n WHERE n.heartbeat_at < v_now - p_timeout_ms AND n.id <> p_node RETURNING n.id
            )
            SELECT array_agg(gone.id) INTO v_dead FROM gone;
            IF v_dead IS NULL THEN
                RETURN;
            END IF;
            RETURN QUERY SELECT * FROM docket.end_attempts(ARRAY(
                SELECT j.id FROM docket.jobs j
                WHERE j.state = 'active' AND split_part(j.lease_owner, ':', 1) = ANY(v_dead)
                FOR UPDATE), 'lost', p_keep_dead);
        END
        $f$;
        """
}
