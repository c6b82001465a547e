import DocketTLS

/// The TLS contexts docketd makes from certificate and key files, at start and again at SIGHUP
/// (certificates are rotated, by Let's Encrypt every 60 to 90 days, by cert-manager, by
/// short-lived internal CAs, and clients must not be dropped for it). A reload makes each
/// context again from the files its settings name, read afresh; new handshakes use it and the
/// connections already up keep the session they have (OpenSSL counts the old context's users),
/// as nats-server's reload does.
///
/// Each context succeeds or fails on its own: one whose files cannot be read or do not match
/// keeps the context it had, and the log says which file and why. Refusing all for one broken
/// file would hold back the port whose certificate is about to expire for a fault on another
/// port's, and each port's files are independent of the others'.
///
/// What a reload does not change: whether a port has TLS at all, and its rules (`verify`,
/// `verify_and_map`, `handshake_first`, `timeout`, `allow_non_tls`). Turning TLS on or off
/// would change what INFO promises clients already connected and, for monitoring, http against
/// https; requiring client certificates from now on would leave the connections admitted
/// without one in, which is not what the operator asked for. Those take a restart, and the
/// reload's log line lists them (`restartOnlyDifferences`).
extension Server {
    /// The cluster listener's context (it verifies the peer) and the one for routes this node
    /// makes (it verifies the peer and its name, and shows the same certificate).
    static func routeTLSContexts(_ settings: TLSSettings) throws -> (accept: TLSContext, connect: TLSContext) {
        let accept = try tlsContext(settings, for: "cluster.tls")
        do {
            return (accept, try TLSContext.client(caFile: settings.caFile, certificate: settings.certificateFile, key: settings.keyFile))
        } catch {
            throw ServerError("cluster.tls: \(error)")
        }
    }

    /// The nats cluster link's context (`docket.cluster_tls`).
    static func clusterLinkTLSContext(_ settings: ClusterTLSSettings) throws -> TLSContext {
        do {
            return try TLSContext.client(caFile: settings.caFile, certificate: settings.certificateFile, key: settings.keyFile)
        } catch {
            throw ServerError("cluster TLS: \(error)")
        }
    }

    /// SIGHUP: makes every TLS context again from `new`'s files where its rules are unchanged,
    /// and takes `new`'s file names for those made; returns what was reloaded, for the log line.
    func reloadTLSContexts(_ new: ServerConfig) -> [String] {
        var reloaded: [String] = []
        if let next = reloadable(config.tls, new.tls), let context = remake("the client port", next.keyFile, { try Self.tlsContext(next, for: "tls") }) {
            tlsContext = context
            monitoring?.tlsContext = context  // HTTPS with the client port's certificate
            config.tls = next
            reloaded.append(monitoring == nil ? "the client port" : "the client and monitoring ports")
        }
        if let next = reloadable(config.webSocket?.tls, new.webSocket?.tls), webSocketListener != nil,
            let context = remake("the websocket port", next.keyFile, { try Self.tlsContext(next, for: "websocket.tls") })
        {
            webSocketTLSContext = context
            config.webSocket?.tls = next
            reloaded.append("the websocket port")
        }
        if let next = reloadable(config.routeTLS, new.routeTLS), let routeTable,
            let contexts = remake("the cluster's routes", next.keyFile, { try Self.routeTLSContexts(next) })
        {
            (routeTable.acceptTLS, routeTable.connectTLS) = (contexts.accept, contexts.connect)
            config.routeTLS = next
            reloaded.append("the cluster's routes")
        }
        if let old = config.clusterTLS, let next = new.clusterTLS, old.carriesFiles || next.carriesFiles, let cluster,
            let context = remake("the nats cluster link", next.keyFile, { try Self.clusterLinkTLSContext(next) })
        {
            cluster.useTLSContext(context)
            config.clusterTLS = next
            reloaded.append("the nats cluster link")
        }
        return reloaded
    }

    /// `new`, when a reload may apply it over `old`: both have TLS, with the same rules.
    private func reloadable(_ old: TLSSettings?, _ new: TLSSettings?) -> TLSSettings? {
        guard let old, let new, old.withoutFiles == new.withoutFiles else { return nil }
        return new
    }

    /// What `make` made, its new key file checked as at start; nil, logged, when it failed.
    private func remake<Made>(_ what: String, _ keyFile: String?, _ make: () throws -> Made) -> Made? {
        let made: Made
        do {
            made = try make()
        } catch {
            log.error("SIGHUP: \(error); \(what) keeps the certificates it had")
            return nil
        }
        if let keyFile, let warning = Self.exposedKeyWarning(keyFile) { log.warn(warning) }
        return made
    }
}

extension TLSSettings {
    /// These settings without the files they name: what only a restart changes.
    var withoutFiles: TLSSettings {
        var rules = self
        (rules.certificateFile, rules.keyFile, rules.caFile) = ("", "", nil)
        return rules
    }
}

extension WebSocketSettings {
    /// These settings without the TLS files: what only a restart changes.
    var withoutTLSFiles: WebSocketSettings {
        var rules = self
        rules.tls = tls?.withoutFiles
        return rules
    }
}

extension ClusterTLSSettings {
    /// Nothing but whether the link has TLS settings at all: all of them are files.
    var withoutFiles: ClusterTLSSettings { ClusterTLSSettings() }

    /// Whether a reload has a file to read again (else the link uses the system's CAs).
    var carriesFiles: Bool { caFile != nil || certificateFile != nil }
}
