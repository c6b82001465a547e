import DocketWire

/// SIGHUP, as in nats-server: the configuration is read again and what can change while clients
/// are connected takes effect at once: who may log in, on the monitoring port too, and with
/// which rights (users, passwords, permissions, the token, `no_auth_user`), the log level and
/// file, the login deadline, and
/// the routes to other docketd nodes (`cluster { routes }`: new ones are made, removed ones
/// closed), the PostgreSQL store's connection string when it names the same database (a
/// new password: the connections made from then on use it), and every TLS certificate, key and
/// CA file, read again for the handshakes made from then on (`Server+TLSContexts.swift`: each
/// context on its own, an old one kept when its new files do not load), the routes' ping
/// interval and allowance, and `min_disk_free`. The rest (ports, the store, TLS on or off and
/// its rules, the other limits, accounts, the cluster's listener, name and credentials) takes
/// effect at the next start, and the log says which of it differs.
///
/// Connected clients are judged by the new rules as if they had just logged in: one whose user
/// is gone, whose password or token changed, or who logged in without credentials that are now
/// required, is closed with `Authorization Violation`; the others keep their connection with
/// their new rights, and a subscription those rights no longer allow ends.
extension Server {
    func reloadConfiguration() {
        guard let configurationSource else {
            return log.warn("SIGHUP: this server has no configuration to read again; restart it to apply changes")
        }
        let new: ServerConfig
        do {
            new = try configurationSource()
        } catch {
            return log.error("SIGHUP: the configuration was not reloaded, the server goes on as it was: \(error)")
        }
        if new.accountNames != config.accountNames || accountAssignments(new) != accountAssignments(config) {
            return log.error("SIGHUP: the configuration was not reloaded: its accounts changed, which takes a restart (each account is a subject space of its own)")
        }
        let old = config
        config.authenticator = new.authenticator
        credentialsGeneration += 1
        // The monitoring port's check captured the old users: without this, it went on taking
        // the old passwords and refusing the new ones.
        monitoring?.authorize = monitoringAuthorization
        config.authTimeoutMilliseconds = new.authTimeoutMilliseconds
        config.logLevel = new.logLevel
        log.level = new.logLevel
        if new.logFile != old.logFile, let file = new.logFile {
            do {
                try LogFile.redirectStandardError(to: file)
                config.logFile = file
            } catch {
                log.error("SIGHUP: \(error); the log goes on where it went")
            }
        }
        do {
            try startPasswordCheckerIfNeeded()
        } catch {
            log.error("SIGHUP: \(error): logins with hashed passwords are refused until a restart")
        }
        let routesChanged = routeTable != nil && new.routes != old.routes
        if routesChanged { reloadRoutes(new.routes) }
        let certificates = reloadTLSContexts(new)
        // Both are read where they act (each ping tick, each admission): they apply at once.
        reloadRoutePings(interval: new.routePingIntervalMilliseconds, maxOutstanding: new.routeMaxPingsOutstanding)
        reloadMinDiskFree(new.minDiskFreeBytes)
        var closed = 0
        for connection in Array(connections.values) where !connection.isClosed && connection.closeReason == nil {
            if !readmit(connection, old: old.authenticator) { closed += 1 }
        }
        var storeChanged = false
        if let store = new.postgresStore, store != old.postgresStore, let postgres, postgres.connectWith(store) {
            config.postgresStore = store
            storeChanged = true
        }
        let pending = Self.restartOnlyDifferences(config, new)
        log.info(
            "SIGHUP: reloaded users, permissions, the token, the log level and the login deadline"
                + (routesChanged ? ", and the routes" : "")
                + (certificates.isEmpty ? "" : ", and the TLS certificates of \(certificates.joined(separator: ", "))")
                + (storeChanged ? ", and the store's connection settings (used by the database connections made from now on; the open ones go on until they close)" : "")
                + (closed > 0 ? "; closed \(closed) connection(s) the new credentials no longer admit" : "")
                + (pending.isEmpty ? "" : "; changed but applied only at the next start: \(pending.joined(separator: ", "))"))
    }

    /// Applies the new rules to one connection; false when they close it.
    private func readmit(_ connection: Connection, old: Authenticator?) -> Bool {
        guard connection.isAuthenticated else { return true }  // its CONNECT meets the new rules
        guard let authenticator = config.authenticator else {
            if connection.principal != nil { connection.principal = nil }
            forgetPublishVerdicts(connection)
            return true
        }
        guard let proved = connection.principal, let principal = readmitted(proved, connection, judgedBy: old) else {
            log.warn("\(connection.label) - Authorization Violation: its credentials no longer hold after a configuration reload")
            protocolError(connection, ProtocolError(.authorizationViolation))
            return false
        }
        connection.principal = principal
        forgetPublishVerdicts(connection)
        for subscription in Array(connection.subscriptions.values) {
            let admission = principal.permissions?.admit(subscription: subscription.subject, queue: subscription.queue) ?? .granted
            if admission == .refused {
                log.info("\(connection.label) - subscription to \"\(String(decoding: subscription.subject, as: UTF8.self))\" ended: its new permissions do not allow it")
                removeSubscription(subscription, of: connection)
            } else {
                subscription.isFiltered = admission == .filtered
            }
        }
        return true
    }

    /// Who `proved` (admitted under `old`) is under the credentials in force now; nil if they no
    /// longer admit it. A client's password is not kept, so "still admitted" means the configured
    /// entry it proved is unchanged; a user identified by its certificate is matched again.
    func readmitted(_ proved: Principal, _ connection: Connection, judgedBy old: Authenticator?) -> Principal? {
        guard let authenticator = config.authenticator else { return nil }
        if let identities = connection.certificateIdentities {
            guard case .proved(let mapped) = authenticator.verdict(certificate: identities) else { return nil }
            return mapped
        }
        if let jwt = connection.userJWT {
            // Judged again as a login would be, but for the nonce it signed then.
            return authenticator.readmit(jwt: jwt)
        }
        if connection.isNoAuthUser {
            // It proved nothing: it stays only while no_auth_user still names its user.
            return authenticator.noAuthUser == proved.name ? authenticator.principal(named: proved.name) : nil
        }
        guard let secret = old?.secret(of: proved.name), secret == authenticator.secret(of: proved.name) else {
            return nil
        }
        return authenticator.principal(named: proved.name)
    }

    private func forgetPublishVerdicts(_ connection: Connection) {
        connection.publishVerdicts.removeAll()
        connection.lastPublishVerdict = nil
    }

    private func accountAssignments(_ config: ServerConfig) -> [String: String] {
        guard case .users(let users)? = config.authenticator?.credentials else { return [:] }
        return Dictionary(users.compactMap { user in user.account.map { (user.name, $0) } }, uniquingKeysWith: { first, _ in first })
    }

    /// The settings a reload does not apply that differ between the two configurations.
    static func restartOnlyDifferences(_ old: ServerConfig, _ new: ServerConfig) -> [String] {
        var names: [String] = []
        func note<T: Equatable>(_ name: String, _ path: KeyPath<ServerConfig, T>) {
            if old[keyPath: path] != new[keyPath: path] { names.append(name) }
        }
        note("listen address", \.host)
        note("port", \.port)
        note("data_dir", \.dataDirectory)
        note("store", \.postgresStore)
        note("sync", \.syncMode)
        note("max_store", \.maxStoreBytes)
        note("max_payload", \.maxPayload)
        note("max_control_line", \.maxControlLine)
        note("max_pending", \.maxPending)
        note("max_pending_total", \.maxPendingTotal)
        note("max_connections", \.maxConnections)
        note("max_connecting", \.maxConnecting)
        note("descriptor_reserve", \.descriptorReserve)
        note("refusal_drain", \.refusalDrainBytes)
        note("refusal_linger", \.refusalLingerMilliseconds)
        note("max_refusals_lingering", \.maxRefusalsLingering)
        note("shutdown_grace", \.shutdownGraceMilliseconds)
        note("http_max_header", \.httpMaxHeadBytes)
        note("http_idle_timeout", \.httpIdleMilliseconds)
        note("http_max_connections", \.httpMaxConnections)
        note("metrics_max_queues", \.metricsMaxQueues)
        note("http_max_body", \.httpMaxBodyBytes)
        note("http_max_stream_backlog", \.httpMaxStreamBacklogBytes)
        note("max_subscriptions", \.maxSubscriptions)
        note("max_subscription_memory", \.maxSubscriptionMemory)
        note("ping_interval", \.pingIntervalMilliseconds)
        note("ping_max", \.maxPingsOutstanding)
        note("write_deadline", \.writeDeadlineMilliseconds)
        note("http_port", \.httpPort)
        // TLS's files are read again at a reload; whether a port has TLS, and its rules, are not.
        note("tls", \.tls?.withoutFiles)
        note("websocket", \.webSocket?.withoutTLSFiles)
        note("keep_completed", \.keepCompleted)
        note("keep_dead", \.keepDead)
        note("max_queues", \.maxQueues)
        note("max_flow_depth", \.maxFlowDepth)
        note("server_name", \.serverName)
        note("cluster listen", \.routeListen)
        note("cluster name", \.clusterName)
        note("cluster authorization", \.routeCredentials)
        note("cluster tls", \.routeTLS?.withoutFiles)
        note("docket.cluster_tls", \.clusterTLS?.withoutFiles)
        note("client_advertise", \.clientAdvertise)
        note("cluster advertise", \.clusterAdvertise)
        note("cluster no_advertise", \.noAdvertise)
        note("max_route_subscriptions", \.maxRouteSubscriptions)
        note("pid_file", \.pidFile)
        note("ports_file_dir", \.portsFileDirectory)
        note("max_route_peers", \.maxRoutePeers)
        note("max_schedules", \.maxSchedules)
        note("max_routes", \.maxRoutes)
        note("max_batch", \.maxBatch)
        note("max_batch_bytes", \.maxBatchBytes)
        note("max_checkpoint_backlog", \.maxCheckpointBacklog)
        note("max_waiting_requests", \.maxWaitingRequests)
        note("lame_duck_duration", \.lameDuckDurationMilliseconds)
        note("lame_duck_grace_period", \.lameDuckGraceMilliseconds)
        note("node_timeout", \.nodeTimeoutMilliseconds)
        note("store_timeout", \.storeTimeoutMilliseconds)
        note("cluster_nats", \.clusterNATS)
        note("cluster_max_pending", \.clusterMaxPending)
        note("cluster_ping_interval", \.clusterPingIntervalMilliseconds)
        // Routes change at a reload, but only where the node was started with a cluster.
        if old.routeListen == nil && old.routes.isEmpty { note("cluster routes", \.routes) }
        return names
    }
}
