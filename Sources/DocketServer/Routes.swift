import DocketEngine
import DocketTLS
import DocketWire
import Glibc

/// A route address: `nats://[user:password@]host[:port]` (or `nats-route://`, or a bare
/// `host:port`); the port defaults to 6222, nats-server's.
public struct RouteURL: Sendable, Equatable, Hashable {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?

    public init?(_ text: String) {
        var rest = Substring(text).trimmingBlanks()
        for scheme in ["nats-route://", "nats://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        guard !rest.contains("://"), !rest.contains("/"), let authority = Authority(rest, defaultPort: 6222, ports: -1...65535) else { return nil }
        host = authority.host
        // -1 is nats-server's "any port", as 0; either only where the node listens (`list` refuses them).
        port = max(authority.port, 0)
        user = authority.user
        password = authority.password
    }

    /// Comma-separated addresses; nil if any is malformed.
    public static func list(_ text: String) -> [RouteURL]? {
        let items = text.split(separator: ",").map { RouteURL(String($0)) }
        guard !items.isEmpty, items.allSatisfy({ $0 != nil && $0!.port != 0 }) else { return nil }
        return items.compactMap { $0 }
    }

    /// `host:port`, without credentials, for logs and INFO.
    public var display: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public struct RouteCredentials: Sendable, Equatable {
    public var user: String
    public var password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }
}

/// What a route connection knows of its peer and holds for it.
final class RouteLink {
    /// The solicitor that made it; nil for a route the peer made to us.
    let solicitor: RouteSolicitor?
    var peerID: String?
    var peerName = ""
    /// Where the peer's clients connect (its INFO's `connect_urls`), and those of the nodes it
    /// has routes to (`peer_connect_urls`): a node just joining is announced to clients before
    /// every node has its own route to it.
    var clientURLs: [String] = []
    var peerClientURLs: [String] = []
    /// Where the peer takes routes (`route_url`), and the routes it has (`routes`).
    var routeURL: String?
    var isEstablished = false
    /// Subscriptions that stand for the peer's interest, by what it announced.
    var interest: [RouteInterestKey: Subscription] = [:]
    var nextSid = 1
    /// The fan-out of the last message sent to it for its plain interest: one copy per message,
    /// however many of its subscriptions match.
    var lastFanOut: UInt64 = 0
    var messagesIn = 0
    var messagesOut = 0
    /// The peer sent `-ERR`: it refused the route, or is about to close it.
    var peerRefused = false
    /// The log has said the peer named an account this node lacks.
    var warnedOfUnknownAccount = false

    init(solicitor: RouteSolicitor?) { self.solicitor = solicitor }
}

struct RouteInterestKey: Hashable {
    let account: String
    let subject: [UInt8]
    let queue: [UInt8]?
}

/// Makes (and remakes) a route to one address.
final class RouteSolicitor {
    var url: RouteURL
    /// Configured (retried for as long as the node runs) or learnt from a peer (tried until it
    /// fails, as nats-server's implicit routes); a reload that configures a learnt one makes it
    /// configured.
    var isExplicit: Bool
    /// The node at the address, once it has said who it is.
    var peerID: String?
    /// The address is this node's own: never tried again.
    var isSelf = false
    var connection: Connection?
    var isConnecting = false
    var socketFD: Int32 = -1
    /// Where its current attempt's socket is bound (`getsockname`): a connection this node's
    /// route listener accepts from there is the attempt itself.
    var localAddress: (host: String, port: Int)?
    var connectEvent: OpaquePointer?
    var retryTimer: OpaquePointer?
    /// The wait before the next attempt: from 100 ms, doubled after each failure up to a second
    /// (nats-server's route reconnect delay); back to 100 ms once a route is up.
    var delayMilliseconds = 100
    static let longestDelayMilliseconds = 1000
    var isStopped = false
    weak var server: Server?
    /// Whether the node at the address was routed to when last looked (`noteRouteStates`), and
    /// since when (monotonic ms): what `/healthz` tells of the route. Down from the start.
    var wasUp = false
    var stateChangedAt = monotonicMilliseconds()
    /// Why the last attempt failed or the route closed; nil once it is up.
    var lastError: String?

    init(url: RouteURL, isExplicit: Bool) {
        self.url = url
        self.isExplicit = isExplicit
    }

    /// Whether a connection from `host`:`port` is this solicitor's attempt in progress (its
    /// socket holds that port, so no other can).
    func isDialling(from host: String, port: Int) -> Bool {
        guard isConnecting || connection != nil, let local = localAddress else { return false }
        return local.port == port && unmapped(local.host) == unmapped(host)
    }

    /// An IPv4 address as a dual-stack listener shows it (`::ffff:127.0.0.1`), as itself.
    private func unmapped(_ host: String) -> Substring {
        host.hasPrefix("::ffff:") ? host.dropFirst(7) : Substring(host)
    }
}

/// The node's routes: its listener, its solicitors, and the interest of its own clients that
/// it announces to every peer.
final class RouteTable {
    var listener: Listener?
    var acceptEvent: OpaquePointer?
    var pingTimer: OpaquePointer?
    var solicitors: [RouteSolicitor] = []
    /// Every route connection, established or not, by connection id.
    var links: [UInt64: Connection] = [:]
    /// The established route to each peer.
    var byPeer: [String: Connection] = [:]
    /// How many client subscriptions want each (account, subject, queue).
    var localInterest: [RouteInterestKey: Int] = [:]
    /// What this node's listener advertises (`host:port`), if it listens.
    var advertisedURL: String?
    /// Counts changes of the other nodes' client addresses, so that a client whose INFO is
    /// behind gets a new one.
    var clientURLsVersion = 0
    var announcedClientURLs: [String] = []
    /// `--max-route-peers`, lowered to a share of the open file limit.
    var maxPeers = Int.max
    /// `cluster { tls }`: routes this node takes (it verifies the peer's certificate) and
    /// routes it makes (it verifies the peer's certificate and its name, and shows its own).
    var acceptTLS: TLSContext?
    var connectTLS: TLSContext?

    var established: [Connection] { byPeer.values.sorted { $0.id < $1.id } }
}

extension Server {
    // MARK: Starting and stopping

    /// Binds the route port, when the configuration has one.
    func bindRoutes() throws -> Listener? {
        guard let listen = config.routeListen else { return nil }
        let listener = try Listener(host: listen.host, port: listen.port)
        let host = listener.boundHost.contains(":") ? "[\(listener.boundHost)]" : listener.boundHost
        log.info("Listening for route connections on \(host):\(listener.boundPort)")
        return listener
    }

    /// Accepts routes on `listener` (from `bindRoutes`), and solicits the configured ones.
    func startRoutes(_ listener: Listener?) throws {
        guard config.routeListen != nil || !config.routes.isEmpty else { return }
        if config.clusterNATS != nil {
            throw ServerError("--cluster (routes between docketd nodes) and --cluster-nats (a nats-server cluster) are two ways to one end: choose one")
        }
        let table = RouteTable()
        routeTable = table
        table.maxPeers = descriptorShare(config.maxRoutePeers, "--max-route-peers", per: "server", parts: 8)
        if let tls = config.routeTLS {
            (table.acceptTLS, table.connectTLS) = try Self.routeTLSContexts(tls)
        }
        if let listener {
            table.listener = listener
            let event = loop.makeEvent(fd: listener.fd, flags: EventLoop.read | EventLoop.persist, context: self, callback: routeAcceptCallback)
            EventLoop.add(event)
            // Paused with the other listeners when descriptors run out, not retried at once.
            acceptBackoff?.register(event)
            table.acceptEvent = event
            let host = listener.boundHost.contains(":") ? "[\(listener.boundHost)]" : listener.boundHost
            table.advertisedURL = "\(host):\(listener.boundPort)"
            if let advertise = config.clusterAdvertise {
                guard let (routeHost, routePort) = Advertisement.parse(advertise, defaultPort: listener.boundPort) else {
                    throw ServerError("--cluster-advertise must be host[:port], not \(advertise)")
                }
                table.advertisedURL = Advertisement.hostPort(routeHost, routePort)
            }
            if !config.clusterName.isEmpty { log.info("Cluster name is \(config.clusterName)") }
            // Route TLS verifies every peer's certificate against the cluster's CA: a login too.
            if config.routeCredentials == nil && config.routeTLS == nil && !Self.isLoopback(listener.boundHost) {
                log.warn("Routes need no credentials (cluster { authorization { user, password } } or cluster { tls }): anyone who reaches \(host):\(listener.boundPort) can publish in every account")
            }
        }
        let timer = loop.makeEvent(fd: -1, flags: EventLoop.persist, context: self, callback: routePingCallback)
        EventLoop.add(timer, timeoutMilliseconds: config.routePingIntervalMilliseconds)
        table.pingTimer = timer
        for url in config.routes { solicit(RouteSolicitor(url: url, isExplicit: true)) }
    }

    /// Closes every route and stops making new ones: the peers tell their clients at once, so
    /// that they move to another node.
    func stopRoutes() {
        guard let table = routeTable else { return }
        if let event = table.acceptEvent {
            acceptBackoff?.unregister(event)
            EventLoop.free(event)
        }
        table.acceptEvent = nil
        if let timer = table.pingTimer { EventLoop.free(timer) }
        table.pingTimer = nil
        table.listener?.close()
        table.listener = nil
        for solicitor in table.solicitors { stopSoliciting(solicitor) }
        for connection in Array(table.links.values) { close(connection, reason: "Server Shutdown") }
    }

    /// A reload's `routes`: the new ones are made, the removed ones closed and not made again
    /// (as nats-server's reload does). The listener, the cluster's name and its credentials
    /// change only at a restart.
    func reloadRoutes(_ urls: [RouteURL]) {
        guard let table = routeTable else { return }
        let old = config.routes
        config.routes = urls
        for url in old where !urls.contains(url) {
            guard let solicitor = table.solicitors.first(where: { $0.isExplicit && $0.url == url }) else { continue }
            log.info("SIGHUP: removed route \(url.display)")
            let connection = solicitor.connection
            // Stopped first, so that the close makes no new attempt. A route the other node
            // made stays: it is that node's to remove.
            forget(solicitor)
            if let connection { close(connection, reason: "Route Removed") }
        }
        for url in urls where !old.contains(url) {
            log.info("SIGHUP: added route \(url.display)")
            if let learnt = table.solicitors.first(where: { $0.url.host == url.host && $0.url.port == url.port }) {
                // Already known from a peer: kept for as long as the node runs from now on.
                learnt.isExplicit = true
                learnt.url = url
                continue
            }
            solicit(RouteSolicitor(url: url, isExplicit: true))
        }
    }

    /// A reload's `cluster { ping_interval, ping_max }`: the next ping goes out one new interval
    /// from now, and a route is stale after the new count of unanswered ones. TCP keepalive,
    /// set from them as a route opens, changes for the routes opened from now on.
    func reloadRoutePings(interval: Int, maxOutstanding: Int) {
        guard interval != config.routePingIntervalMilliseconds || maxOutstanding != config.routeMaxPingsOutstanding else { return }
        config.routePingIntervalMilliseconds = interval
        config.routeMaxPingsOutstanding = maxOutstanding
        guard let timer = routeTable?.pingTimer else { return }
        EventLoop.add(timer, timeoutMilliseconds: interval)
        log.info("SIGHUP: routes are pinged every \(interval) ms, and stale after \(maxOutstanding) unanswered")
    }

    private func stopSoliciting(_ solicitor: RouteSolicitor) {
        solicitor.isStopped = true
        if let event = solicitor.retryTimer { EventLoop.free(event) }
        solicitor.retryTimer = nil
        abandonConnect(solicitor)
    }

    private func abandonConnect(_ solicitor: RouteSolicitor) {
        if let event = solicitor.connectEvent { EventLoop.free(event) }
        solicitor.connectEvent = nil
        if solicitor.socketFD >= 0 { Glibc.close(solicitor.socketFD) }
        solicitor.socketFD = -1
        solicitor.isConnecting = false
    }

    // MARK: Making routes

    fileprivate func solicit(_ solicitor: RouteSolicitor) {
        guard let table = routeTable else { return }
        solicitor.server = self
        if !table.solicitors.contains(where: { $0 === solicitor }) { table.solicitors.append(solicitor) }
        attempt(solicitor)
    }

    fileprivate func attempt(_ solicitor: RouteSolicitor) {
        guard !solicitor.isStopped, !solicitor.isSelf, !solicitor.isConnecting, solicitor.connection == nil, !shuttingDown else { return }
        // Already routed to that node (through its own route to us): nothing to make.
        if let peer = solicitor.peerID, routeTable?.byPeer[peer] != nil { return retryLater(solicitor) }
        solicitor.isConnecting = true
        loop.resolve(solicitor.url.host, port: solicitor.url.port) { [weak self, weak solicitor] result in
            guard let self, let solicitor, !solicitor.isStopped else { return }
            switch result {
            case .failure(let error):
                solicitor.isConnecting = false
                self.routeAttemptFailed(solicitor, "cannot resolve \(solicitor.url.host): \(error)")
            case .success(let addresses):
                self.open(solicitor, at: addresses[0])
            }
        }
    }

    private func open(_ solicitor: RouteSolicitor, at address: SocketAddress) {
        let fd: Int32
        switch address.startConnect() {
        case .failure(let why):
            solicitor.isConnecting = false
            return routeAttemptFailed(solicitor, why.description)
        case .success(let socketFD): fd = socketFD
        }
        solicitor.socketFD = fd
        solicitor.localAddress = Listener.address(of: fd, peer: false)
        let event = loop.makeEvent(fd: fd, flags: EventLoop.write, context: solicitor, callback: routeConnectCallback)
        solicitor.connectEvent = event
        EventLoop.add(event, timeoutMilliseconds: 2000)
    }

    fileprivate func connectFinished(_ solicitor: RouteSolicitor, timedOut: Bool) {
        let fd = solicitor.socketFD
        guard fd >= 0 else { return }
        var failure: String?
        if timedOut {
            failure = "no answer within 2 s"
        } else {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 { error = errno }
            if error != 0 { failure = String(cString: strerror(error)) }
        }
        if let event = solicitor.connectEvent { EventLoop.free(event) }
        solicitor.connectEvent = nil
        solicitor.isConnecting = false
        solicitor.socketFD = -1
        if let failure {
            Glibc.close(fd)
            return routeAttemptFailed(solicitor, failure)
        }
        let (host, port) = Listener.address(of: fd, peer: true) ?? (solicitor.url.host, solicitor.url.port)
        let connection = openRoute(fd: fd, host: host, port: port, link: RouteLink(solicitor: solicitor))
        solicitor.connection = connection
        if let context = routeTable?.connectTLS, let settings = config.routeTLS {
            // This node speaks first: its CONNECT and INFO wait for the handshake.
            guard startTLS(connection, context, settings, serverName: solicitor.url.host) else { return }
            connection.sawTLSRecord = true
            return advanceHandshake(connection)
        }
        routeReady(connection)
    }

    /// A route's first words, once its transport is ready (at once, or after TLS's handshake):
    /// the solicitor's credentials, if any, then this node's INFO.
    func routeReady(_ connection: Connection) {
        guard let link = connection.route else { return }
        if let solicitor = link.solicitor,
            let credentials = solicitor.url.user.map({ RouteCredentials(user: $0, password: solicitor.url.password ?? "") }) ?? config.routeCredentials
        {
            var connect = JSONObjectWriter()
            connect.add("user", credentials.user)
            connect.add("pass", credentials.password)
            connection.output.append("CONNECT ")
            connection.output.append(string: connect.result)
            connection.output.append("\r\n")
        }
        sendRouteInfo(connection)
    }

    private func routeAttemptFailed(_ solicitor: RouteSolicitor, _ why: String) {
        log.debug("Route to \(solicitor.url.display): \(why)")
        solicitor.lastError = why
        guard solicitor.isExplicit else {
            // A route learnt from a peer: the peer will tell again if the node comes back.
            forget(solicitor)
            return
        }
        retryLater(solicitor)
    }

    private func retryLater(_ solicitor: RouteSolicitor) {
        guard !solicitor.isStopped, !shuttingDown else { return }
        if solicitor.retryTimer == nil {
            solicitor.retryTimer = loop.makeEvent(fd: -1, flags: 0, context: solicitor, callback: routeRetryCallback)
        }
        if let timer = solicitor.retryTimer { EventLoop.add(timer, timeoutMilliseconds: solicitor.delayMilliseconds) }
        solicitor.delayMilliseconds = min(solicitor.delayMilliseconds * 2, RouteSolicitor.longestDelayMilliseconds)
    }

    private func forget(_ solicitor: RouteSolicitor) {
        stopSoliciting(solicitor)
        routeTable?.solicitors.removeAll { $0 === solicitor }
    }

    /// Takes the routes waiting on the route listener, at most `acceptsPerPass` of them.
    fileprivate func acceptRoutes() {
        guard let listener = routeTable?.listener else { return }
        for _ in 0..<Self.acceptsPerPass {
            let fd: Int32
            switch listener.acceptOne() {
            case .none: return
            case .outOfDescriptors:
                // Without this the listener stays readable and the loop spins at full CPU for
                // as long as routes wait in its backlog.
                acceptBackoff?.outOfDescriptors(listener: listener, refusal: Array("-ERR 'Out Of File Descriptors'\r\n".utf8))
                return
            case .accepted(let accepted): fd = accepted
            }
            let (host, port) = Listener.address(of: fd, peer: true) ?? ("?", 0)
            if let solicitor = routeTable?.solicitors.first(where: { $0.isDialling(from: host, port: port) }) {
                Glibc.close(fd)
                recogniseSelf(solicitor)
                continue
            }
            let connection = openRoute(fd: fd, host: host, port: port, link: RouteLink(solicitor: nil))
            waitToLogIn(connection, on: routeLogins)
            // A peer has the auth timeout to log in (with credentials) and say who it is: the
            // route port has no connection limit, so a silent socket must not stay.
            connection.isAuthenticated = config.routeCredentials == nil
            armAuthenticationTimer(connection)
            if let context = routeTable?.acceptTLS, let settings = config.routeTLS {
                // Nothing in clear: the peer's handshake comes first, this node's INFO after it.
                _ = startTLS(connection, context, settings)
                continue
            }
            routeReady(connection)
        }
    }

    /// A route this node makes reached its own route listener: the address is this node's, and
    /// is not tried again. Known from the sockets, before TLS or INFO: a certificate that does
    /// not name the address dialled (the node is named otherwise to its peers) made every
    /// attempt fail its handshake, a warning each time, for as long as the node ran.
    private func recogniseSelf(_ solicitor: RouteSolicitor) {
        solicitor.isSelf = true
        stopSoliciting(solicitor)
        if let connection = solicitor.connection { endAfterOwedReplies(connection, reason: "a route to this node itself") }
        log.info("Route to \(solicitor.url.display) reaches this node itself: not tried again")
    }

    private func openRoute(fd: Int32, host: String, port: Int, link: RouteLink) -> Connection {
        let pingSeconds = (config.routePingIntervalMilliseconds + 999) / 1000
        Listener.keepAlive(fd, idleSeconds: pingSeconds, intervalSeconds: pingSeconds, probes: config.routeMaxPingsOutstanding)
        let connection = Connection(server: self, id: nextConnectionID, fd: fd, remoteHost: host, remotePort: port, now: monotonicMilliseconds())
        nextConnectionID += 1
        connection.route = link
        connection.sentConnect = true
        routeTable?.links[connection.id] = connection
        registerEvents(connection)
        log.debug("\(connection.label) - Route connection created (\(link.solicitor == nil ? "accepted" : "solicited"))")
        return connection
    }

    /// This node as a route peer sees it.
    private func sendRouteInfo(_ connection: Connection) {
        var info = JSONObjectWriter()
        info.add("server_id", serverID)
        info.add("server_name", config.serverName.isEmpty ? serverID : config.serverName)
        info.add("version", Self.natsCompatibleVersion)
        info.add("docket_version", Self.version)
        if !config.clusterName.isEmpty { info.add("cluster", config.clusterName) }
        info.add("auth_required", config.routeCredentials != nil)
        info.add("max_payload", config.maxPayload)
        info.add("connect_urls", json: Self.jsonArray(ownClientURLs))
        if let url = routeTable?.advertisedURL { info.add("route_url", url) }
        let established = routeTable?.established ?? []
        info.add("routes", json: Self.jsonArray(established.compactMap { $0.route?.routeURL }))
        info.add("peer_connect_urls", json: Self.jsonArray(established.filter { $0 !== connection }.flatMap { $0.route?.clientURLs ?? [] }))
        connection.output.append("INFO ")
        connection.output.append(string: info.result)
        connection.output.append("\r\n")
        queueFlush(connection)
    }

    static func jsonArray(_ items: [String]) -> [UInt8] {
        Array(("[" + items.map(JSONObjectWriter.quote).joined(separator: ",") + "]").utf8)
    }

    /// Where this node's clients connect, as other nodes tell their clients.
    /// None with `no_advertise`.
    var ownClientURLs: [String] { advertisedPort != 0 && !config.noAdvertise ? advertisedClientURLs : [] }

    /// Every other node's client addresses, for clients' INFO (`connect_urls`).
    var clusterClientURLs: [String] {
        guard let table = routeTable else { return [] }
        var seen = Set(ownClientURLs)
        var urls: [String] = []
        for connection in table.established {
            for url in connection.route?.clientURLs ?? [] where seen.insert(url).inserted { urls.append(url) }
        }
        for connection in table.established {
            for url in connection.route?.peerClientURLs ?? [] where seen.insert(url).inserted { urls.append(url) }
        }
        return urls
    }

    // MARK: A route's input

    func processRoute(_ connection: Connection) {
        guard let link = connection.route else { return }
        let bytes = connection.input.readableBytes
        var position = 0
        parsing: while !connection.isClosed, connection.closeReason == nil {
            // A peer's backlog takes turns with the clients as a client's does (`workPerTurn`,
            // counted the same way): one wake-up of RS+/RS- pairs was tens of thousands of
            // subscription changes, and held every client's PING 31 ms at the median.
            if connection.workThisTurn >= Self.workPerTurn, connection.readEvent != nil, !shuttingDown {
                return deferRest(of: connection, from: position)
            }
            let deliveryWorkBefore = stats.deliveryWork
            // As `units(of:)` weighs a client's: a message or PING is one, an interest change
            // `stateCommandUnits`, an INFO more (`routeInfoUnits`).
            var lineUnits = 1
            defer {
                connection.workThisTurn += lineUnits + stats.deliveryWork - deliveryWorkBefore
            }
            switch RouteParser.parse(bytes, from: position, maxControlLine: max(config.maxControlLine, 64 << 10), maxPayload: config.maxPayload) {
            case .incomplete:
                break parsing
            case .failure(let why):
                return routeProtocolError(connection, why)
            case .op(let op, let next):
                position = next
                if !connection.isAuthenticated {
                    guard case .connect(let json) = op else {
                        return refuseRoute(connection, "a route that has not logged in sent something else first")
                    }
                    let document = JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[json]))
                    guard let expected = config.routeCredentials, document?["user"]?.stringValue == expected.user,
                        Authenticator.equal(document?["pass"]?.stringValue ?? "", expected.password)
                    else { return refuseRoute(connection, "wrong route credentials") }
                    connection.isAuthenticated = true
                    continue
                }
                switch op {
                case .ping:
                    connection.output.append("PONG\r\n")
                    queueFlush(connection)
                case .pong:
                    connection.pingsOutstanding = 0
                case .connect:
                    break  // credentials we did not ask for
                case .error(let text):
                    link.peerRefused = true
                    log.warn("\(connection.label) - Route peer says: \(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[text]), as: UTF8.self))")
                case .info(let json):
                    lineUnits = Self.stateCommandUnits + Self.routeInfoUnits
                    guard let document = JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[json])) else {
                        return routeProtocolError(connection, "an INFO that is not JSON")
                    }
                    peerInfo(connection, link, document)
                case .interest(let added, let account, let subject, let queue):
                    lineUnits = Self.stateCommandUnits
                    guard link.isEstablished else { return routeProtocolError(connection, "interest before INFO") }
                    peerInterest(connection, link, added: added, account: bytes[account], subject: Array(bytes[subject]), queue: queue.map { Array(bytes[$0]) })
                case .message(let account, let subject, let reply, let queue, let headerCount, let message):
                    guard link.isEstablished else { return routeProtocolError(connection, "a message before INFO") }
                    // Checked on the way in, as a client's PUB is: a hostile peer's wildcard or
                    // empty-token subject would reach clients as nats-server never sends one.
                    guard Subject.isValidLiteral(UnsafeRawBufferPointer(rebasing: bytes[subject])) else {
                        return routeProtocolError(connection, "a message on the invalid subject \(quoted(bytes[subject]))")
                    }
                    if let reply, !Subject.isValidLiteral(UnsafeRawBufferPointer(rebasing: bytes[reply])) {
                        return routeProtocolError(connection, "a message with the invalid reply subject \(quoted(bytes[reply]))")
                    }
                    link.messagesIn += 1
                    guard let space = accounts[String(decoding: UnsafeRawBufferPointer(rebasing: bytes[account]), as: UTF8.self)] else { continue }
                    deliverFromAnotherNode(
                        in: space, UnsafeRawBufferPointer(rebasing: bytes[subject]), reply.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) },
                        queue: queue.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }, headerCount, UnsafeRawBufferPointer(rebasing: bytes[message]))
                }
            }
        }
        // A route that is ending had its input dropped: nothing is left to consume.
        if connection.closeReason == nil && !connection.isClosed { connection.input.consume(position) }
    }

    /// The work of a route INFO beyond a state-changing line's (see `workPerTurn`): some 12 µs
    /// here, six times an interest change, mostly its JSON made into a document and the peer's
    /// addresses compared, whatever its length. Counted as a plain line, a turn of them (an INFO
    /// flood from a peer) held every client's PING 8-16 ms at the median; a peer sends one only
    /// when its cluster changes.
    static let routeInfoUnits = 6 * stateCommandUnits

    /// The peer broke the route protocol: it is told, the log says how, and the route ends.
    private func routeProtocolError(_ connection: Connection, _ why: String) {
        log.error("\(connection.label) - Route protocol error: \(why)")
        connection.output.append("-ERR 'Route Protocol Error'\r\n")
        endAfterOwedReplies(connection, reason: "Route Protocol Error: \(why)")
    }

    /// Peer bytes for the log: at most 64 of them, control bytes escaped.
    private func quoted(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes.prefix(64)), as: UTF8.self)
        return "\"" + text.unicodeScalars.map { $0.value < 0x20 || $0 == "\"" ? $0.escaped(asASCII: true) : String($0) }.joined()
            + (bytes.count > 64 ? "…" : "") + "\""
    }

    /// Refuses a connection to the route port that has not logged in. Logged once per interval
    /// with a count, as a client's refusals before login: anyone who reaches the port can
    /// cause one per connection.
    private func refuseRoute(_ connection: Connection, _ why: String) {
        warnRefusedBeforeLogin(.routeRefused, "\(connection.label) - Route refused: \(why)")
        connection.output.append("-ERR 'Authorization Violation'\r\n")
        endAfterOwedReplies(connection, reason: "Route refused: \(why)")
    }

    private func peerInfo(_ connection: Connection, _ link: RouteLink, _ info: JSONValue) {
        guard let table = routeTable, let peerID = info["server_id"]?.stringValue, !peerID.isEmpty else {
            return routeProtocolError(connection, "an INFO without server_id")
        }
        if link.isEstablished, peerID != link.peerID {
            return routeProtocolError(connection, "an INFO naming another node (\(peerID), not \(link.peerID ?? "?"))")
        }
        link.clientURLs = (info["connect_urls"]?.arrayValue ?? []).compactMap(\.stringValue)
        link.peerClientURLs = (info["peer_connect_urls"]?.arrayValue ?? []).compactMap(\.stringValue)
        link.routeURL = info["route_url"]?.stringValue.map { Advertisement.peerRouteURL($0, remoteHost: connection.remoteHost) } ?? link.routeURL
        link.peerName = info["server_name"]?.stringValue ?? peerID
        let peerRoutes = (info["routes"]?.arrayValue ?? []).compactMap(\.stringValue)
        if link.isEstablished {
            // An update: the peer's clients' addresses or its routes changed.
            announceClusterToClients()
            learnRoutes(peerRoutes)
            return
        }
        if peerID == serverID {
            // One of the configured routes is this node's own address.
            link.solicitor?.isSelf = true
            link.solicitor.map { stopSoliciting($0) }
            return endAfterOwedReplies(connection, reason: "a route to this node itself")
        }
        let peerCluster = info["cluster"]?.stringValue ?? ""
        if !config.clusterName.isEmpty && !peerCluster.isEmpty && peerCluster != config.clusterName {
            log.error("\(connection.label) - Route refused: the node is in cluster '\(peerCluster)', this one in '\(config.clusterName)'")
            connection.output.append("-ERR 'Cluster Name Conflict'\r\n")
            return endAfterOwedReplies(connection, reason: "Cluster Name Conflict")
        }
        link.peerID = peerID
        link.solicitor?.peerID = peerID
        if let existing = table.byPeer[peerID], existing !== connection {
            // Both nodes made a route to each other: both keep the one made by the node whose id
            // sorts first, so that they agree without a word.
            let existingMaker = existing.route?.solicitor == nil ? peerID : serverID
            let newMaker = link.solicitor == nil ? peerID : serverID
            let keepNew = existingMaker == newMaker ? true : newMaker < existingMaker
            let loser = keepNew ? existing : connection
            log.debug("\(loser.label) - Duplicate route to \(peerID): closed")
            if keepNew {
                table.byPeer[peerID] = nil
                existing.route?.isEstablished = false
            }
            endAfterOwedReplies(loser, reason: "Duplicate Route")
            if !keepNew { return }
        }
        // A node the configuration names is always taken; past the bound, no other.
        if link.solicitor?.isExplicit != true, table.byPeer[peerID] == nil,
            table.byPeer.values.count(where: { $0.route?.solicitor?.isExplicit != true }) >= table.maxPeers
        {
            warnRefusedBeforeLogin(
                .routeRefused, "\(connection.label) - Route refused: this node has routes with \(table.maxPeers) other nodes (--max-route-peers)")
            connection.output.append("-ERR 'Maximum Route Peers Exceeded'\r\n")
            return endAfterOwedReplies(connection, reason: "Maximum Route Peers Exceeded")
        }
        link.isEstablished = true
        loggedIn(connection)
        link.solicitor?.delayMilliseconds = 100
        if let timer = connection.authTimer { EventLoop.free(timer) }
        connection.authTimer = nil
        table.byPeer[peerID] = connection
        noteRouteStates()
        log.info("\(connection.label) - Route connection created with \(link.peerName)\(link.routeURL.map { " (\($0))" } ?? "")")
        // Everything this node's clients want, so that the peer sends it here.
        for (key, _) in table.localInterest {
            connection.output.appendRouteInterest(added: true, account: Array(key.account.utf8), subject: key.subject, queue: key.queue)
        }
        queueFlush(connection)
        // The other peers learn of this one (and may route to it), clients of its address.
        for other in table.established where other !== connection { sendRouteInfo(other) }
        announceClusterToClients()
        learnRoutes(peerRoutes)
    }

    /// Routes to nodes a peer knows and this node does not yet.
    private func learnRoutes(_ urls: [String]) {
        guard let table = routeTable else { return }
        for text in urls {
            guard let url = RouteURL(text), url.port != 0, text != table.advertisedURL else { continue }
            if table.solicitors.contains(where: { $0.url.host == url.host && $0.url.port == url.port }) { continue }
            if table.established.contains(where: { $0.route?.routeURL == text }) { continue }
            // A peer's INFO may list any number of addresses: no more are tried than may be kept.
            guard table.solicitors.count(where: { !$0.isExplicit }) < table.maxPeers else { return }
            // It logs in with this node's cluster authorization, as nats-server's discovered
            // routes do (`routeReady`); only a node without one borrows the credentials of its
            // first configured route that has some.
            var learnt = url
            if config.routeCredentials == nil, let own = config.routes.first(where: { $0.user != nil }) {
                learnt.user = own.user
                learnt.password = own.password
            }
            solicit(RouteSolicitor(url: learnt, isExplicit: false))
        }
    }

    private func peerInterest(_ connection: Connection, _ link: RouteLink, added: Bool, account: Slice<UnsafeRawBufferPointer>, subject: [UInt8], queue: [UInt8]?) {
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: account), as: UTF8.self)
        guard Subject.isValidFilter(subject) else {
            return subject.withUnsafeBytes { routeProtocolError(connection, "interest in the invalid subject \(quoted($0[...]))") }
        }
        guard let space = accounts[name] else {
            // The nodes' accounts differ: the peer's clients there hear nothing from this node.
            // Said once per route, however many such lines come.
            if !link.warnedOfUnknownAccount {
                link.warnedOfUnknownAccount = true
                log.warn("\(connection.label) - Route from \(link.peerName) wants subjects of account \(quoted(account)), which this node does not have (the nodes must have the same accounts)")
            }
            return
        }
        let key = RouteInterestKey(account: name, subject: subject, queue: queue)
        if added {
            guard link.interest[key] == nil else { return }
            let bound = config.maxRouteSubscriptions
            // Dropping the interest would lose the peer's clients' messages without a word: past
            // either bound the route ends, loudly, on both nodes.
            if bound > 0 && link.interest.count >= bound {
                return refuseInterest(of: connection, link, "its interest is over \(bound) subscriptions (--max-route-subscriptions)")
            }
            // The sid carries the account (`<account> <n>`): a delivery finds it without a lookup.
            let sid = Array("\(name) \(link.nextSid)".utf8)
            link.nextSid += 1
            let subscription = Subscription(owner: connection, subject: subject, queue: queue, sid: sid)
            guard hasSubscriptionMemory(for: subscription) else {
                return refuseInterest(of: connection, link, "subscriptions would take more than the \(config.maxSubscriptionMemory) bytes --max-subscription-memory allows")
            }
            addSubscriptionMemory(subscription)
            space.index.insert(subscription)
            connection.subscriptions[sid] = subscription
            link.interest[key] = subscription
            noteLifecycleInterest(subscription, added: true)
        } else if let subscription = link.interest.removeValue(forKey: key) {
            removeSubscription(subscription, of: connection)
        }
    }

    /// Ends a route whose peer announced interest past a bound (`why` names it).
    private func refuseInterest(of connection: Connection, _ link: RouteLink, _ why: String) {
        log.error("\(connection.label) - Route from \(link.peerName) closed: \(why)")
        connection.output.append("-ERR 'Maximum Route Subscriptions Exceeded'\r\n")
        endAfterOwedReplies(connection, reason: "Maximum Route Subscriptions Exceeded")
    }

    // MARK: What the routes are told

    /// A client subscription began or ended: the first for its subject and queue group is
    /// announced to every peer, and so is the end of the last.
    func clientInterestChanged(_ subscription: Subscription, in account: Account, added: Bool) {
        guard let table = routeTable else { return }
        let key = RouteInterestKey(account: account.name, subject: subscription.subject, queue: subscription.queue)
        let count = table.localInterest[key] ?? 0
        if added {
            table.localInterest[key] = count + 1
            guard count == 0 else { return }
        } else {
            guard count > 0 else { return }
            table.localInterest[key] = count > 1 ? count - 1 : nil
            guard count == 1 else { return }
        }
        let accountName = Array(account.name.utf8)
        for connection in table.byPeer.values {
            connection.output.appendRouteInterest(added: added, account: accountName, subject: subscription.subject, queue: subscription.queue)
            queueFlush(connection)
        }
    }

    /// One message for a peer: for its plain interest (once per message), or for one member of
    /// a queue group there. False if it was not sent (already sent for this message).
    func deliverToRoute(
        _ link: RouteLink, _ target: Connection, _ subscription: Subscription, _ subject: UnsafeRawBufferPointer,
        _ reply: UnsafeRawBufferPointer?, _ message: UnsafeRawBufferPointer, _ headerCount: Int?
    ) -> Bool {
        if subscription.queue == nil {
            guard link.lastFanOut != fanOutSerial else { return false }
            link.lastFanOut = fanOutSerial
        }
        // What the peer would refuse, and end the route for: a client's reply subject that is
        // no subject, or a header block that is not one (neither is checked on a client's PUB,
        // as nats-server does not). The client's own node delivers it; the others do not.
        let replyIsValid = reply.map(Subject.isValidLiteral) ?? true
        guard replyIsValid, headerCount.map({ RouteParser.isHeaderBlock(UnsafeRawBufferPointer(rebasing: message[..<$0])) }) ?? true else {
            if let count = unroutableMessages.occurred(at: monotonicMilliseconds()) {
                log.warn(
                    "A message on \(String(decoding: subject.prefix(64), as: UTF8.self)) was not sent to the other nodes: "
                        + (replyIsValid ? "its header block is not NATS/1.0 headers" : "its reply subject is invalid")
                        + (count > 1 ? " (\(count) such messages since the last such line)" : ""))
            }
            return false
        }
        let sid = subscription.sid
        let account = sid[..<(sid.firstIndex(of: Byte.space) ?? sid.endIndex)]
        account.withUnsafeBytes { account in
            target.output.appendRouteMessage(
                account: account, subject: subject, reply: reply, queue: subscription.queue, headerCount: headerCount, message: message)
        }
        link.messagesOut += 1
        stats.messagesOut += 1
        stats.payloadBytesOut += message.count
        if target.output.readableCount > maxRoutePending {
            slowConsumer(target, reason: "route output over \(maxRoutePending) bytes")
        } else {
            queueFlush(target)
        }
        return true
    }

    /// Clients learn where the other nodes are (`connect_urls` in an INFO of its own), as
    /// nats-server tells them, so that they can move when their node goes.
    func announceClusterToClients() {
        // A node going down says nothing of its routes closing: its clients are about to move,
        // and an INFO without the other nodes would make them forget where to.
        guard let table = routeTable, !shuttingDown else { return }
        let urls = clusterClientURLs
        guard !config.noAdvertise, urls != table.announcedClientURLs else { return }
        table.announcedClientURLs = urls
        table.clientURLsVersion += 1
        // The others get theirs after their first PONG.
        for connection in connections.values where connection.sentFirstPong {
            sendClusterInfo(connection)
        }
    }

    /// A new INFO for a client that takes them, in order with its replies.
    func sendClusterInfo(_ connection: Connection) {
        guard let table = routeTable, connection.isAuthenticated, connection.closeReason == nil, connection.isTransportReady,
            connection.webSocket == nil, connection.options.protocolVersion >= 1
        else { return }
        connection.clusterURLsSeen = table.clientURLsVersion
        let output = replies(for: connection)
        output.append("INFO ")
        output.append(string: infoJSON(for: connection))
        output.append("\r\n")
    }

    // MARK: A route ends

    func routeClosed(_ connection: Connection, reason: String) {
        guard let table = routeTable, let link = connection.route else { return }
        table.links[connection.id] = nil
        link.interest.removeAll()
        if let peer = link.peerID, table.byPeer[peer] === connection {
            table.byPeer[peer] = nil
            noteRouteStates()
            log.info("\(connection.label) - Route connection closed: \(reason)")
            announceClusterToClients()
            for other in table.established { sendRouteInfo(other) }
        }
        if let solicitor = link.solicitor {
            solicitor.connection = nil
            if !solicitor.wasUp { solicitor.lastError = reason }
            // A route the peer refused (its cluster name, credentials or limits differ) is tried
            // once a second, not at once: it takes a change on one node to succeed.
            if link.peerRefused { solicitor.delayMilliseconds = RouteSolicitor.longestDelayMilliseconds }
            if solicitor.isExplicit || reason == "Duplicate Route" {
                retryLater(solicitor)
            } else {
                forget(solicitor)
            }
        }
    }

    /// Pings each route every `--route-ping-interval`; one that stops answering is closed.
    fileprivate func pingRoutes() {
        guard let table = routeTable else { return }
        for connection in Array(table.links.values) where connection.closeReason == nil {
            if connection.pingsOutstanding >= config.routeMaxPingsOutstanding {
                log.warn("\(connection.label) - Stale Route Connection - Closing")
                endAfterOwedReplies(connection, reason: "Stale Connection")
                continue
            }
            connection.pingsOutstanding += 1
            connection.output.append("PING\r\n")
            queueFlush(connection)
        }
    }

    /// Bytes a route may have unwritten before it is cut off as a slow consumer: a route
    /// carries many clients' messages, so at least 64 MiB whatever a client's limit.
    var maxRoutePending: Int { max(config.maxPending, 64 << 20) }

    /// Notes, for `/healthz`, each route whose node became reachable or unreachable since it
    /// was last looked at, and when. A route is up while its node is routed to, by this route or
    /// by the one that node made here (of two, the nodes keep one).
    func noteRouteStates() {
        guard let table = routeTable else { return }
        for solicitor in table.solicitors {
            let isUp = solicitor.peerID.map { table.byPeer[$0] != nil } ?? false
            guard isUp != solicitor.wasUp else { continue }
            solicitor.wasUp = isUp
            solicitor.stateChangedAt = monotonicMilliseconds()
            if isUp { solicitor.lastError = nil }
        }
    }

    /// NATS-style `/routez`: the routes to the other docketd nodes (none without a cluster).
    /// `/varz`'s route counts, and in a cluster of docketd nodes what nats-server's has: every
    /// node's client addresses (`connect_urls`, this node's first) and the `cluster` block.
    func addRouteVarz(to writer: inout JSONObjectWriter) {
        let established = routeTable?.byPeer.count ?? 0
        writer.add("routes", established)
        writer.add("remotes", established)
        guard let table = routeTable else { return }
        writer.add("connect_urls", json: Self.jsonArray(ownClientURLs + clusterClientURLs))
        var cluster = JSONObjectWriter()
        if !config.clusterName.isEmpty { cluster.add("name", config.clusterName) }
        if let listener = table.listener {
            cluster.add("addr", listener.boundHost)
            cluster.add("cluster_port", listener.boundPort)
        }
        cluster.add("urls", json: Self.jsonArray(config.routes.map(\.display)))
        writer.add("cluster", json: cluster.result)
    }

    func routezDocument() -> String {
        var writer = JSONObjectWriter()
        writer.add("server_id", serverID)
        writer.add("now", Self.rfc3339(milliseconds: clock.now()))
        writer.add("num_routes", routeTable?.byPeer.count ?? 0)
        var routes: [[UInt8]] = []
        for connection in routeTable?.established ?? [] {
            guard let link = connection.route else { continue }
            var route = JSONObjectWriter()
            route.add("rid", Int(connection.id))
            route.add("remote_id", link.peerID ?? "")
            route.add("remote_name", link.peerName)
            route.add("did_solicit", link.solicitor != nil)
            route.add("ip", connection.remoteHost)
            route.add("port", connection.remotePort)
            route.add("route_url", link.routeURL)
            route.add("pending_size", connection.output.readableCount)
            route.add("in_msgs", link.messagesIn)
            route.add("out_msgs", link.messagesOut)
            route.add("subscriptions", link.interest.count)
            routes.append(route.resultBytes)
        }
        var list: [UInt8] = [UInt8(ascii: "[")]
        for (index, route) in routes.enumerated() {
            if index > 0 { list.append(UInt8(ascii: ",")) }
            list.append(contentsOf: route)
        }
        list.append(UInt8(ascii: "]"))
        writer.add("routes", json: list)
        return writer.result
    }
}

private func routePingCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().pingRoutes()
}

private func routeAcceptCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().acceptRoutes()
}

private func routeConnectCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let solicitor = Unmanaged<RouteSolicitor>.fromOpaque(context!).takeUnretainedValue()
    solicitor.server?.connectFinished(solicitor, timedOut: Int32(what) & EventLoop.timeout != 0)
}

private func routeRetryCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let solicitor = Unmanaged<RouteSolicitor>.fromOpaque(context!).takeUnretainedValue()
    solicitor.server?.attempt(solicitor)
}
