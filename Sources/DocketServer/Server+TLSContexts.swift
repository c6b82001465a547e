import DocketTLS
import Glibc

/// The TLS contexts docketd makes from certificate and key files, at start and again at SIGHUP
/// (certificates are rotated, by Let's Encrypt every 60 to 90 days, by cert-manager, by
/// short-lived internal CAs, and clients must not be dropped for it). A reload makes each
/// context again from the files its settings name, read afresh; new handshakes use it and the
/// connections already up keep the session they have (OpenSSL counts the old context's users),
/// as nats-server's reload does.
///
/// A context whose files hold the same bytes as when it was made is left as it is, and the
/// reload's log line does not name it: a SIGHUP sent for another setting neither rebuilds every
/// context nor claims that certificates were reloaded.
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

    /// The names under which `tlsFilesMadeFrom` keeps each context's files, and the log names it.
    private enum TLSContextName {
        static let client = "the client port"
        static let webSocket = "the websocket port"
        static let routes = "the cluster's routes"
        static let clusterLink = "the nats cluster link"
    }

    /// Notes what the files of the contexts `config` asks for hold, before `start` makes them.
    func rememberTLSFiles() {
        let files: [(String, [String?]?)] = [
            (TLSContextName.client, config.tls.map(\.files)),
            (TLSContextName.webSocket, config.webSocket?.tls.map(\.files)),
            (TLSContextName.routes, config.routeTLS.map(\.files)),
            (TLSContextName.clusterLink, config.clusterTLS.map(\.files)),
        ]
        for case let (name, paths?) in files { tlsFilesMadeFrom[name] = paths.map(Self.fileContents) }
    }

    /// SIGHUP: makes every TLS context again from `new`'s files where its rules are unchanged and
    /// its files changed, and takes `new`'s file names for those made; returns what was reloaded,
    /// for the log line.
    func reloadTLSContexts(_ new: ServerConfig) -> [String] {
        var reloaded: [String] = []
        if let next = reloadable(config.tls, new.tls),
            let context = remake(TLSContextName.client, next.files, next.keyFile, { try Self.tlsContext(next, for: "tls") })
        {
            tlsContext = context
            monitoring?.tlsContext = context  // HTTPS with the client port's certificate
            config.tls = next
            reloaded.append(monitoring == nil ? "the client port" : "the client and monitoring ports")
        }
        if let next = reloadable(config.webSocket?.tls, new.webSocket?.tls), webSocketListener != nil,
            let context = remake(TLSContextName.webSocket, next.files, next.keyFile, { try Self.tlsContext(next, for: "websocket.tls") })
        {
            webSocketTLSContext = context
            config.webSocket?.tls = next
            reloaded.append(TLSContextName.webSocket)
        }
        if let next = reloadable(config.routeTLS, new.routeTLS), let routeTable,
            let contexts = remake(TLSContextName.routes, next.files, next.keyFile, { try Self.routeTLSContexts(next) })
        {
            (routeTable.acceptTLS, routeTable.connectTLS) = (contexts.accept, contexts.connect)
            config.routeTLS = next
            reloaded.append(TLSContextName.routes)
        }
        if let old = config.clusterTLS, let next = new.clusterTLS, old.carriesFiles || next.carriesFiles, let cluster,
            let context = remake(TLSContextName.clusterLink, next.files, next.keyFile, { try Self.clusterLinkTLSContext(next) })
        {
            cluster.useTLSContext(context)
            config.clusterTLS = next
            reloaded.append(TLSContextName.clusterLink)
        }
        return reloaded
    }

    /// `new`, when a reload may apply it over `old`: both have TLS, with the same rules.
    private func reloadable(_ old: TLSSettings?, _ new: TLSSettings?) -> TLSSettings? {
        guard let old, let new, old.withoutFiles == new.withoutFiles else { return nil }
        return new
    }

    /// What `make` made, its new key file checked as at start; nil when `files` hold what they
    /// held when the context `what` was last made, or, logged, when it failed (it is tried again
    /// at the next reload, whatever the files hold then).
    private func remake<Made>(_ what: String, _ files: [String?], _ keyFile: String?, _ make: () throws -> Made) -> Made? {
        let contents = files.map(Self.fileContents)
        guard contents != tlsFilesMadeFrom[what] else { return nil }
        let made: Made
        do {
            made = try make()
        } catch {
            tlsFilesMadeFrom[what] = nil
            log.error("SIGHUP: \(error); \(what) keeps the certificates it had")
            return nil
        }
        tlsFilesMadeFrom[what] = contents
        if let keyFile, let warning = Self.exposedKeyWarning(keyFile) { log.warn(warning) }
        return made
    }

    /// The bytes of the file at `path` (certificates and keys: a few KiB), nil when there is no
    /// path or it cannot be read (the context's own loading then says why).
    static func fileContents(_ path: String?) -> [UInt8]? {
        guard let path else { return nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? contents : nil }
            contents += chunk[..<count]
        }
    }
}

extension TLSSettings {
    /// The files a context is made from.
    var files: [String?] { [certificateFile, keyFile, caFile] }

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

    /// The files the link's context is made from.
    var files: [String?] { [certificateFile, keyFile, caFile] }

    /// Whether a reload has a file to read again (else the link uses the system's CAs).
    var carriesFiles: Bool { caFile != nil || certificateFile != nil }
}
