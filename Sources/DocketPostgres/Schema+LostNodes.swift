extension PostgresSchema {
    /// Version 27: a job taken back from a node that stopped heartbeating says so. Its attempt
    /// ended as a closed connection's does, and its error read `worker lost: connection closed`
    /// though no connection closed; it now reads `worker lost: its node <id> stopped answering`
    /// (the node's id is its server id, as `/varz` and INFO give it). A closed connection keeps
    /// its text.
    ///
    /// `end_attempts_without_history` (version 25's) is wrapped rather than written again: the
    /// cause `node <id>` ends the attempts as `lost` does, then rewrites their error, before
    /// `end_attempts` records the attempt in the job's history from that error. Its callers pass
    /// only active jobs they have locked, so every one of `p_ids` is one whose attempt it ended.
    /// `node_heartbeat` (version 6's) passes that cause, one node at a time, and names the node
    /// in a column of its own so that docketd's `lost` event says what the job says.
    static let version27 = """
        ALTER FUNCTION docket.end_attempts_without_history(bigint[], text, integer) RENAME TO end_attempts_as_lost_or_stalled;

        CREATE FUNCTION docket.end_attempts_without_history(p_ids bigint[], p_cause text, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, outcome text, retry_ms bigint, attempts integer, max_attempts integer)
        LANGUAGE plpgsql AS $f$
        BEGIN
            IF p_cause NOT LIKE 'node %' THEN
                RETURN QUERY SELECT * FROM docket.end_attempts_as_lost_or_stalled(p_ids, p_cause, p_keep_dead);
                RETURN;
            END IF;
            RETURN QUERY SELECT * FROM docket.end_attempts_as_lost_or_stalled(p_ids, 'lost', p_keep_dead);
            UPDATE docket.jobs j
            SET last_error = convert_to('worker lost: its node ' || substr(p_cause, 6) || ' stopped answering', 'UTF8')
            WHERE j.id = ANY(p_ids);
        END
        $f$;

        DROP FUNCTION docket.node_heartbeat(text, bigint, integer);

        CREATE FUNCTION docket.node_heartbeat(p_node text, p_timeout_ms bigint, p_keep_dead integer)
        RETURNS TABLE (id bigint, queue text, outcome text, retry_ms bigint, attempts integer, max_attempts integer, node text)
        LANGUAGE plpgsql AS $f$
        #variable_conflict use_column
        DECLARE
            v_now bigint := docket.now_ms();
            v_alive_since bigint;
            v_dead text[];
            v_gone text;
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
            SELECT array_agg(gone.id ORDER BY gone.id) INTO v_dead FROM gone;
            FOREACH v_gone IN ARRAY coalesce(v_dead, '{}') LOOP
                RETURN QUERY SELECT e.*, v_gone FROM docket.end_attempts(ARRAY(
                    SELECT j.id FROM docket.jobs j
                    WHERE j.state = 'active' AND split_part(j.lease_owner, ':', 1) = v_gone
                    FOR UPDATE), 'node ' || v_gone, p_keep_dead) AS e;
            END LOOP;
        END
        $f$;
        """
}
