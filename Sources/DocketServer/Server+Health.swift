import DocketWire

/// What `/healthz` says: whether the node can serve, and how it stands with the rest of its
/// cluster.
///
/// A node cut off from its peers still serves its own clients (and, on PostgreSQL, jobs), so a
/// route or cluster link that is down is reported, not a 503: a load balancer must not take
/// away the one node its clients can still reach. Who wants "every peer reachable" asks for it
/// (`?cluster=true`), as nats-server's `/healthz?js-enabled-only=true` narrows what it checks.
extension Server {
    /// A `/healthz` query: `cluster=true` makes a configured route that is down, or a
    /// `--cluster-nats` link that is down, a 503 as an unreachable store is.
    struct HealthQuery {
        var requiresCluster = false

        init(_ query: [String: String]) throws(MonitoringServer.BadQuery) {
            guard let text = query["cluster"] else { return }
            guard let value = Server.goBool(text) else {
                throw .init(message: "invalid cluster: \(text) (true or false)")
            }
            requiresCluster = value
        }
    }

    /// A query flag as nats-server reads one (Go's `strconv.ParseBool`); nil if it is neither.
    static func goBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": true
        case "0", "f", "F", "false", "FALSE", "False": false
        default: nil
        }
    }

    /// `/healthz`: ok, or (503) why not: with jobs in PostgreSQL, whether it can be reached;
    /// with `?cluster=true`, whether every configured route and the cluster link are up. Each
    /// configured route and the cluster link are listed with their state and since when. The
    /// details (libpq's text names the database's host, port and user; routes name addresses)
    /// are shown only when the monitoring port has no users: with users, /healthz answers
    /// anyone without looking at credentials (a probe must never get a 401), so it gives the
    /// status alone, and /varz has the rest for its readers.
    func healthDocument(_ query: HealthQuery, detailed: Bool) -> String {
        guard postgres != nil || cluster != nil || routeTable != nil else { return #"{"status":"ok"}"# }
        let problem = healthProblem(query)
        var writer = JSONObjectWriter()
        writer.add("status", problem == nil ? "ok" : "unavailable")
        guard detailed else { return writer.result }
        if let postgres {
            writer.add("store", "postgres")
            if !postgres.isAvailable { writer.add("error", postgres.lastFailure ?? "not connected") }
        }
        if let problem, postgres?.isAvailable ?? true { writer.add("error", problem) }
        if routeTable != nil { writer.add("routes", json: routeHealthList()) }
        if let cluster {
            writer.add(
                "cluster",
                json: cluster.document { link in
                    link.add("state", cluster.isConnected ? "up" : "down")
                    link.add("since", wallTime(ofMonotonic: cluster.stateChangedAt))
                })
        }
        return writer.result
    }

    /// Why `/healthz` answers 503 to `query`; nil when it answers 200.
    func healthProblem(_ query: HealthQuery) -> String? {
        if let postgres, !postgres.isAvailable { return "the job store is unreachable" }
        guard query.requiresCluster else { return nil }
        if let cluster, !cluster.isConnected { return "the cluster link is down" }
        noteRouteStates()
        let down = configuredRoutes.filter { !$0.isSelf && !$0.wasUp }.map(\.url.display)
        return down.isEmpty ? nil : "route\(down.count == 1 ? "" : "s") down: " + down.joined(separator: ", ")
    }

    /// Each configured route: its address, `up` (with the node it reaches), `down` (with why,
    /// when known) or `self` (the address is this node's own), and since when.
    private func routeHealthList() -> [UInt8] {
        noteRouteStates()
        var list: [UInt8] = [UInt8(ascii: "[")]
        for (index, solicitor) in configuredRoutes.enumerated() {
            var route = JSONObjectWriter()
            route.add("url", solicitor.url.display)
            route.add("state", solicitor.isSelf ? "self" : solicitor.wasUp ? "up" : "down")
            route.add("since", wallTime(ofMonotonic: solicitor.stateChangedAt))
            if solicitor.wasUp, let peer = solicitor.peerID, let link = routeTable?.byPeer[peer]?.route {
                route.add("remote_id", peer)
                route.add("remote_name", link.peerName)
            } else if !solicitor.isSelf, let error = solicitor.lastError {
                route.add("error", error)
            }
            if index > 0 { list.append(UInt8(ascii: ",")) }
            list.append(contentsOf: route.resultBytes)
        }
        list.append(UInt8(ascii: "]"))
        return list
    }

    /// The routes the configuration names (not those learnt from peers), in its order.
    private var configuredRoutes: [RouteSolicitor] { routeTable?.solicitors.filter(\.isExplicit) ?? [] }

    /// A monotonic instant (`monotonicMilliseconds`) as an RFC 3339 time on the server's clock.
    private func wallTime(ofMonotonic instant: Int) -> String {
        Self.rfc3339(milliseconds: clock.now() - Int64(monotonicMilliseconds() - instant))
    }
}
