import DocketEngine
import DocketWire
import Glibc

/// What the monitoring endpoint serves.
extension Server {
    /// The monitoring port's limits, from the configuration (and the open file limit).
    func monitoringLimits() -> MonitoringServer.Limits {
        var limits = MonitoringServer.Limits()
        limits.maxHeadBytes = config.httpMaxHeadBytes
        limits.idleMilliseconds = config.httpIdleMilliseconds
        // Refused connections waiting for their client's close may double it.
        limits.maxConnections = descriptorShare(config.httpMaxConnections, "--http-max-connections", per: "server", parts: 16)
        limits.maxBodyBytes = config.httpMaxBodyBytes
        limits.maxStreamBacklog = config.httpMaxStreamBacklogBytes
        return limits
    }

    /// Serves the monitoring port bound at start (`listener`) on the loop.
    func startMonitoring(listener: Listener, limits: MonitoringServer.Limits) -> MonitoringServer {
        let json = "application/json"
        let server = MonitoringServer(
            loop: loop, listener: listener, limits: limits, backoff: acceptBackoff!,
            authorize: monitoringAuthorization, tlsContext: tlsContext,
            routes: [
                "/healthz": (json, { [unowned self] reader, query throws(MonitoringServer.BadQuery) in
                    healthDocument(try HealthQuery(query), detailed: Self.readsEveryQueue(reader))
                }),
                // Anyone gets what INFO tells every client that connects; the counters need read
                // on every queue (nats-server's harnesses poll /varz until it answers 200).
                "/varz": (json, { [unowned self] reader, _ in Self.readsEveryQueue(reader) ? varzDocument() : publicVarzDocument() }),
                "/connz": (json, { [unowned self] reader, query throws(MonitoringServer.BadQuery) in
                    Self.readsEveryQueue(reader) ? connectionsDocument(try ConnectionsQuery(query)) : nil
                }),
                // As nats-server's: the subscription counts, and with `subs=1` the subscriptions a page
                // at a time; `/routez` the routes to the other docketd nodes of its cluster, if any.
                "/subsz": (json, { [unowned self] reader, query throws(MonitoringServer.BadQuery) in
                    Self.readsEveryQueue(reader) ? try subscriptionsDocument(query) : nil
                }),
                "/subscriptionsz": (json, { [unowned self] reader, query throws(MonitoringServer.BadQuery) in
                    Self.readsEveryQueue(reader) ? try subscriptionsDocument(query) : nil
                }),
                "/routez": (json, { [unowned self] reader, _ in Self.readsEveryQueue(reader) ? routezDocument() : nil }),
                "/queues": (json, { [unowned self] reader, query throws(MonitoringServer.BadQuery) in
                    switch reader {
                    case .everyone: return try queuesPage(QueuesQuery(query), readableBy: nil)
                    case .anonymous: return nil
                    case .user(let principal): return try queuesPage(QueuesQuery(query), readableBy: principal.permissions)
                    }
                }),
            ],
            slicedRoutes: [
                "/metrics": ("text/plain; version=0.0.4; charset=utf-8", { [unowned self] reader in Self.readsEveryQueue(reader) ? metricsExposition() : nil })
            ])
        // Asked once the document was made from the same query: it parses.
        server.isUnavailable = { [unowned self] query in (try? HealthQuery(query)).map { healthProblem($0) != nil } ?? false }
        return server
    }

    /// The monitoring port's check of a request's `Authorization` header: the client port's
    /// users, when there are any. Wrong credentials are failed logins, logged as the client
    /// port's are: a guesser may try either port. Made again at each reload, from its users.
    var monitoringAuthorization: MonitoringServer.Authorize? {
        guard let authenticator = config.authenticator else { return nil }
        return { [unowned self] header, peer, done in
            let verdict = authenticator.verdict(httpAuthorization: header)
            // `peer` is host:port (an IPv6 host in brackets): the host is what takes turns.
            let host = peer.lastIndex(of: ":").map { String(peer[..<$0]) } ?? peer
            let check = settle(verdict, from: host) { [unowned self] principal in
                if principal == nil { warnFailedLogin("\(peer) - monitoring - Authorization Violation: the credentials are wrong") }
                done(principal)
            }
            guard let check else { return nil }
            return { [weak self] in self?.cancelPasswordCheck(check) }
        }
    }

    /// Server-wide documents name every queue and client: they need the read right on all queues.
    private static func readsEveryQueue(_ reader: MonitoringServer.Reader) -> Bool {
        switch reader {
        case .everyone: return true
        case .anonymous: return false
        case .user(let principal): return principal.permissions?.mayReadEveryQueue ?? true
        }
    }

    /// `/varz` for readers who may not see the counters: the server's identity and limits, as
    /// INFO gives them to any client that connects.
    func publicVarzDocument() -> String {
        var writer = JSONObjectWriter()
        addIdentity(to: &writer)
        return writer.result
    }

    /// `/varz` for readers who may see everything: what the public one says, the fields NATS
    /// tooling reads from nats-server's (nats-top, prometheus-nats-exporter, surveyor), and the
    /// server's counters as STATS gives them.
    func varzDocument() -> String {
        var writer = JSONObjectWriter()
        addIdentity(to: &writer)
        let uptime = monotonicMilliseconds() - startedAt
        let now = clock.now()
        writer.add("now", Self.rfc3339(milliseconds: now))
        writer.add("start", Self.rfc3339(milliseconds: now - Int64(uptime)))
        writer.add("uptime", Self.goDuration(milliseconds: uptime))
        writer.add("mem", Self.residentBytes())
        writer.add("cores", Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        writer.add("max_connections", config.maxConnections)
        writer.add("max_subscriptions", config.maxSubscriptions)
        writer.add("max_subscription_memory", config.maxSubscriptionMemory)
        writer.add("subscription_memory", subscriptionMemory)
        writer.add("max_control_line", config.maxControlLine)
        writer.add("max_pending", config.maxPending)
        writer.add("ping_interval", config.pingIntervalMilliseconds * 1_000_000)
        writer.add("ping_max", config.maxPingsOutstanding)
        writer.add("http_port", monitoring?.boundPort ?? 0)
        // nats-top shows cpu; exporters read the rest. cpu as ps reads it: CPU time over the
        // process's life, in percent of one core.
        writer.add("cpu", Self.lifetimeCPUPercent(uptimeMilliseconds: uptime))
        writer.add("http_host", config.host)
        writer.add("https_port", config.tls == nil ? 0 : monitoring?.boundPort ?? 0)
        writer.add("auth_timeout", Double(config.authTimeoutMilliseconds) / 1000)
        writer.add("write_deadline", config.writeDeadlineMilliseconds * 1_000_000)
        addRouteVarz(to: &writer)
        writer.add("leafnodes", 0)
        addCounters(to: &writer)
        if let cluster { writer.add("cluster", json: cluster.document) }
        if let postgres {
            // What /healthz tells only readers of the counters, for servers with users.
            writer.add("store", "postgres")
            writer.add("store_available", postgres.isAvailable)
            if !postgres.isAvailable { writer.add("store_error", postgres.lastFailure ?? "not connected") }
        }
        return writer.result
    }

    /// `2026-12-05T11:43:04.123Z`.
    static func rfc3339(milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = String(milliseconds % 1000 + 1000).dropFirst()
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }

    /// A duration as nats-server writes `uptime`: `1d2h3m4s`, `5m0s`, `12s`.
    static func goDuration(milliseconds: Int) -> String {
        var rest = milliseconds / 1000
        let days = rest / 86_400
        rest %= 86_400
        let (hours, minutes, seconds) = (rest / 3600, rest % 3600 / 60, rest % 60)
        if days > 0 { return "\(days)d\(hours)h\(minutes)m\(seconds)s" }
        if hours > 0 { return "\(hours)h\(minutes)m\(seconds)s" }
        if minutes > 0 { return "\(minutes)m\(seconds)s" }
        return "\(seconds)s"
    }

    /// CPU time (user and system) over `uptimeMilliseconds`, in percent of one core, to 0.01.
    static func lifetimeCPUPercent(uptimeMilliseconds: Int) -> Double {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0, uptimeMilliseconds > 0 else { return 0 }
        let micros = (Int(usage.ru_utime.tv_sec) + Int(usage.ru_stime.tv_sec)) * 1_000_000 + Int(usage.ru_utime.tv_usec) + Int(usage.ru_stime.tv_usec)
        let percent = Double(micros) / 10 / Double(uptimeMilliseconds)
        return (percent * 100).rounded() / 100
    }

    /// The process's resident memory in bytes (`/proc/self/statm`), 0 where it cannot be read.
    static func residentBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return 0 }
        let fields = buffer[..<count].split(separator: 0x20)
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The most queues one `/queues` (or `/api/overview`) answer lists, and how many when `limit=`
    /// is absent: with 9,000 queues, all of them made 5.6 MB, built in 0.44 s on the loop that
    /// serves every client.
    static let queuesPage = 1024

    /// What a `/queues` query asks for: the queues whose names sort after `after=` (by bytes; none:
    /// from the first), at most `limit=` of them (1 to `queuesPage`; none: `queuesPage`). The last
    /// name of a full page is the next page's `after=`: a name cursor, which a queue made or
    /// deleted between two pages does not shift as an offset would.
    struct QueuesQuery {
        var after: [UInt8] = []
        var limit = Server.queuesPage

        init(_ query: [String: String]) throws(MonitoringServer.BadQuery) {
            after = Array((query["after"] ?? "").utf8)
            if let text = query["limit"], !text.isEmpty {
                guard let limit = Int(text), (1...Server.queuesPage).contains(limit) else {
                    throw .init(message: "invalid limit: \(text) (1 to \(Server.queuesPage))")
                }
                self.limit = limit
            }
        }
    }

    /// `/queues`: one page of the queues the reader may read, by name, as a JSON array (each as
    /// QUEUE shows it). nil permissions: every queue.
    func queuesPage(_ query: QueuesQuery, readableBy permissions: Permissions?) -> String {
        "[" + queueDocuments(in: queueDirectory, after: query.after, limit: query.limit, readableBy: permissions).joined(separator: ",") + "]"
    }

    /// The documents of up to `limit` queues of `directory` the reader may read, those whose
    /// names sort after `after` (by bytes), by name: `/queues` and, on the embedded store, QUEUES.
    /// Costs the queues it passes over, never the whole directory.
    func queueDocuments(in directory: QueueDirectory, after: [UInt8], limit: Int, readableBy permissions: Permissions?) -> [String] {
        var documents: [String] = []
        var index = directory.firstIndex(after: after)
        while index < directory.count && documents.count < limit {
            if Self.may(read: directory.name(index), permissions) { documents.append(directory.document(index)) }
            index += 1
        }
        return documents
    }

    /// The queues by name. With jobs in PostgreSQL, the queues as last read: the monitoring
    /// port cannot wait for the database.
    var queueDirectory: QueueDirectory { postgres.map { QueueDirectory(snapshot: $0.snapshot) } ?? QueueDirectory(engine: engine) }

    /// Whether a reader with `permissions` may read the queue (nil: every right).
    static func may(read queue: String, _ permissions: Permissions?) -> Bool {
        permissions.map { $0.may(.read, queue: Array(queue.utf8)) } ?? true
    }

    /// The most `/connz` (and `/subsz?subs=1`) entries in one answer: nats-server's default,
    /// and here also the most a `limit=` gets. The document is built in one step on the loop
    /// that serves every client, and `limit=100000000` listed them all: 200,000 subscriptions
    /// made 13.8 MB and held every other client 3.8 s (debug build). `limit` in the answer says
    /// what was used, so a reader pages on with `offset=`.
    static let connectionsPage = 1024

    /// A paging number (`offset=`, `limit=` of `/connz`, `/subsz` and `/api/overview`) as
    /// nats-server's `decodeInt` reads it: none or empty is nil, a whole number (a sign allowed)
    /// is itself, and anything else is a `400`: taken as the default, `limit=1O` would silently
    /// answer the first page.
    static func pageNumber(_ query: [String: String], _ name: String) throws(MonitoringServer.BadQuery) -> Int? {
        guard let text = query[name], !text.isEmpty else { return nil }
        guard let number = Int(text) else { throw .init(message: "invalid \(name): \(text) (a whole number)") }
        return number
    }

    /// A flag (`auth=`, `subs=`) as nats-server's `decodeBool` reads it: none or empty is nil,
    /// Go's true and false words are themselves, and anything else (`auth=yes`) is a `400`
    /// rather than a silent false.
    static func queryFlag(_ query: [String: String], _ name: String) throws(MonitoringServer.BadQuery) -> Bool? {
        guard let text = query[name], !text.isEmpty else { return nil }
        guard let flag = goBool(text) else { throw .init(message: "invalid \(name): \(text) (true or false)") }
        return flag
    }

    /// What a `/connz` query asks for, read as nats-server reads it: `sort=`, `cid=`, `state=`,
    /// `offset=`, `limit=` (0 or none: 1024; at most 1024), `subs=` (`1`: subjects, `detail`: each
    /// subscription), `auth=`. An option it cannot answer is a `400`, as nats-server's.
    struct ConnectionsQuery {
        enum Order: String {
            case cid, start, subs, pending
            case msgsTo = "msgs_to", msgsFrom = "msgs_from", bytesTo = "bytes_to", bytesFrom = "bytes_from"
            case uptime, stop, reason, idle, last
        }
        enum Subscriptions { case none, subjects, detail }

        var order = Order.cid
        var cid: UInt64?
        /// Closed connections are not kept: `state=closed` lists none.
        var closedOnly = false
        var offset = 0
        var limit = Server.connectionsPage
        var subscriptions = Subscriptions.none
        var showsUsers = false

        init() {}

        init(_ query: [String: String]) throws(MonitoringServer.BadQuery) {
            showsUsers = try Server.queryFlag(query, "auth") ?? false
            offset = max(0, try Server.pageNumber(query, "offset") ?? 0)
            if let limit = try Server.pageNumber(query, "limit"), limit > 0 { self.limit = min(limit, Server.connectionsPage) }
            switch query["subs"] ?? "" {
            case "detail": subscriptions = .detail
            default: subscriptions = try Server.queryFlag(query, "subs") == true ? .subjects : .none
            }
            switch query["state"] ?? "open" {
            case "", "open", "all", "any": closedOnly = false
            case "closed": closedOnly = true
            case let state: throw .init(message: "invalid connection state: \(state)")
            }
            if let text = query["cid"], !text.isEmpty {
                guard let cid = UInt64(text) else { throw .init(message: "invalid cid: \(text)") }
                self.cid = cid
            }
            if let text = query["sort"], !text.isEmpty {
                guard let order = Order(rawValue: text.lowercased()) else { throw .init(message: "invalid sorting option: \(text)") }
                switch order {
                case .stop, .reason:
                    guard closedOnly else { throw .init(message: "sort by \(text) only valid on closed connections") }
                case .idle, .last:
                    // nats-server's last_activity: docketd does not stamp every command with the time.
                    throw .init(message: "sort by \(text) is not supported: docketd does not keep each connection's last activity")
                default: break
                }
                self.order = order
            }
        }
    }

    /// NATS-style `/connz`: one entry per client connection, sorted and paged as nats-server's
    /// (`total` counts them all). With `auth=true`, as nats-server, who each logged-in
    /// connection is: `authorized_user` (an NKEY user's public key; never a secret, so a token
    /// login shows as `[REDACTED]`) and `account` (unless the global one).
    func connectionsDocument(_ query: ConnectionsQuery = .init()) -> String {
        let showsUsers = query.showsUsers
        let now = monotonicMilliseconds()
        let (offset, limit) = (query.offset, query.cid == nil ? query.limit : 1)
        var listed = query.closedOnly ? [] : Array(connections.values)
        if let cid = query.cid { listed = listed.filter { $0.id == cid } }
        // Largest first for the counts, newest first for uptime (as nats-server); ties by cid.
        func key(_ connection: Connection) -> Int {
            switch query.order {
            case .subs: return connection.subscriptions.count
            case .pending: return connection.output.readableCount + (connection.webSocket?.wire.readableCount ?? 0)
            case .msgsTo: return connection.messagesOut
            case .msgsFrom: return connection.messagesIn
            case .bytesTo: return connection.bytesOut
            case .bytesFrom: return connection.bytesIn
            case .uptime: return -(now - connection.openedAt)
            case .cid, .start, .stop, .reason, .idle, .last: return 0
            }
        }
        let sorted = listed.sorted { (key($0), $1.id) > (key($1), $0.id) }
        let page = sorted.dropFirst(offset).prefix(limit)
        let wallNow = clock.now()
        let entries = page.map { connection -> String in
            var entry = JSONObjectWriter()
            entry.add("cid", Int(connection.id))
            // As nats-server's /connz: the kind of peer, and how a client reached the server.
            entry.add("kind", "Client")
            entry.add("type", connection.webSocket == nil ? "nats" : "websocket")
            entry.add("ip", connection.remoteHost)
            entry.add("port", connection.remotePort)
            entry.add("start", Self.rfc3339(milliseconds: wallNow - Int64(now - connection.openedAt)))
            entry.add("uptime", Self.goDuration(milliseconds: now - connection.openedAt))
            entry.add("name", connection.options.name)
            entry.add("lang", connection.options.lang)
            entry.add("version", connection.options.version)
            entry.add("uptime_ms", now - connection.openedAt)
            entry.add("subscriptions", connection.subscriptions.count)
            entry.add("pending_bytes", connection.output.readableCount + (connection.webSocket?.wire.readableCount ?? 0))
            entry.add("in_msgs", connection.messagesIn)
            entry.add("out_msgs", connection.messagesOut)
            entry.add("in_bytes", connection.bytesIn)
            entry.add("out_bytes", connection.bytesOut)
            entry.add("held_jobs", connection.heldJobs.count)
            entry.add("waiting_for_job", connection.waiter != nil)
            switch query.subscriptions {
            case .none: break
            case .subjects:
                let subjects = connection.subscriptions.values.sorted { $0.sid.lexicographicallyPrecedes($1.sid) }
                    .map { JSONObjectWriter.quote(String(decoding: $0.subject, as: UTF8.self)) }
                entry.add("subscriptions_list", json: "[" + subjects.joined(separator: ",") + "]")
            case .detail:
                entry.add("subscriptions_list_detail", json: "[" + subscriptionEntries(of: connection).joined(separator: ",") + "]")
            }
            if showsUsers, connection.isAuthenticated, let principal = connection.principal {
                if case .token? = config.authenticator?.credentials {
                    entry.add("authorized_user", "[REDACTED]")
                } else {
                    entry.add("authorized_user", principal.name)
                }
                if let account = principal.account { entry.add("account", account) }
            }
            return entry.result
        }
        var document = JSONObjectWriter()
        document.add("server_id", serverID)
        document.add("now", Self.rfc3339(milliseconds: wallNow))
        document.add("num_connections", entries.count)
        document.add("total", sorted.count)
        document.add("offset", offset)
        document.add("limit", limit)
        document.add("connections", json: "[" + entries.joined(separator: ",") + "]")
        return document.result
    }

    /// NATS-style `/subsz`: how many subscriptions, the subject cache, and (with `subs=1`, as
    /// nats-server) the subscriptions themselves by connection, paged like `/connz`. docketd
    /// does not count matches per publish (that is the message path), so nats-server's
    /// `num_matches`, `cache_hit_rate` and fanout figures are left out rather than made up.
    func subscriptionsDocument(_ query: [String: String] = [:]) throws(MonitoringServer.BadQuery) -> String {
        // Read before `subs=` is looked at, as nats-server's: a bad page is a 400 either way.
        let listsSubscriptions = query["subs"] == "detail" ? true : try Self.queryFlag(query, "subs") ?? false
        let offset = max(0, try Self.pageNumber(query, "offset") ?? 0)
        let limit = min(try Self.pageNumber(query, "limit").flatMap { $0 > 0 ? $0 : nil } ?? Self.connectionsPage, Self.connectionsPage)
        var document = JSONObjectWriter()
        document.add("server_id", serverID)
        document.add("now", Self.rfc3339(milliseconds: clock.now()))
        document.add("num_subscriptions", subscriptionCount)
        document.add("num_cache", allAccounts.reduce(0) { $0 + $1.index.cachedSubjects })
        document.add("num_inserts", allAccounts.reduce(0) { $0 + $1.index.insertions })
        document.add("num_removes", allAccounts.reduce(0) { $0 + $1.index.removals })
        guard listsSubscriptions else { return document.result }
        var total = 0
        var entries: [String] = []
        for connection in connections.values.sorted(by: { $0.id < $1.id }) {
            let count = connection.subscriptions.count
            defer { total += count }
            // Only the connections the page reaches into are described.
            guard total + count > offset, entries.count < limit else { continue }
            let described = subscriptionEntries(of: connection)
            entries += described.dropFirst(max(0, offset - total)).prefix(limit - entries.count)
        }
        document.add("total", total)
        document.add("offset", offset)
        document.add("limit", limit)
        document.add("subscriptions_list", json: "[" + entries.joined(separator: ",") + "]")
        return document.result
    }

    /// A connection's subscriptions by sid, as `/subsz?subs=1` and `/connz?subs=detail` list them.
    private func subscriptionEntries(of connection: Connection) -> [String] {
        connection.subscriptions.values.sorted { $0.sid.lexicographicallyPrecedes($1.sid) }.map { subscription in
            var entry = JSONObjectWriter()
            entry.add("account", connection.account.name)
            entry.add("subject", String(decoding: subscription.subject, as: UTF8.self))
            if let group = subscription.queue { entry.add("qgroup", String(decoding: group, as: UTF8.self)) }
            entry.add("sid", String(decoding: subscription.sid, as: UTF8.self))
            entry.add("msgs", subscription.delivered)
            if subscription.maxMessages > 0 { entry.add("max", subscription.maxMessages) }
            entry.add("cid", Int(connection.id))
            return entry.result
        }
    }

    /// Prometheus text exposition format, version 0.0.4, written as bytes: with 10,000 queues
    /// it is some 27 MB, and a line of interpolated strings each (a `Double` printed for every
    /// bucket of every queue) took 1.3 s. The values are read now and written a slice at a
    /// time (`SlicedDocument`): in one step, even as bytes, it held every client 0.10-0.12 s.
    func metricsExposition() -> SlicedDocument {
        let text = MetricsText()
        text.family("docket_uptime_seconds", "gauge", "Seconds since the server started.")
        text.sample("docket_uptime_seconds", Double(monotonicMilliseconds() - startedAt) / 1000)
        let scalars: [(String, String, String, Int)] = [
            ("docket_connections", "gauge", "Client connections open now.", connections.count),
            ("docket_connections_total", "counter", "Client connections accepted since start.", stats.totalConnections),
            ("docket_subscriptions", "gauge", "Subscriptions held now.", subscriptionCount),
            ("docket_slow_consumers_total", "counter", "Connections cut off for not reading.", stats.slowConsumers),
            ("docket_messages_received_total", "counter", "Messages published by clients.", stats.messagesIn),
            ("docket_messages_delivered_total", "counter", "Messages delivered to subscriptions.", stats.messagesOut),
            ("docket_received_bytes_total", "counter", "Bytes read from clients.", stats.bytesIn),
            ("docket_sent_bytes_total", "counter", "Bytes written to clients.", stats.bytesOut),
            ("docket_store_commits_total", "counter", "Store transactions committed (one per loop pass with changes).", stats.commits),
            ("docket_store_used_bytes", "gauge", "Bytes the job store holds.", dataDirectory?.usedBytes ?? 0),
            ("docket_store_capacity_bytes", "gauge", "Most bytes the job store may hold.", dataDirectory?.capacityBytes ?? 0),
        ]
        for (name, type, help, value) in scalars {
            text.family(name, type, help)
            text.sample(name, value)
        }
        // With the commit count, the mean time a durable reply waits for the store.
        text.family("docket_store_commit_seconds_total", "counter", "Time from submitting each commit to its completion, summed.")
        text.sample("docket_store_commit_seconds_total", Double(stats.commitMicroseconds) / 1_000_000)
        let document = SlicedDocument(text)
        let states = [JobState.waiting, .delayed, .active, .completed, .dead]
        let everyQueue = postgres?.snapshot.queues.count ?? engine.queuesByName.count
        let listed = min(everyQueue, config.metricsMaxQueues)
        text.family("docket_metrics_queues_omitted", "gauge", "Queues without series of their own here (past --metrics-max-queues, by name).")
        text.sample("docket_metrics_queues_omitted", everyQueue - listed)

        if let postgres {
            // Totals, pause flags and histograms are the embedded engine's; on PostgreSQL the
            // counts per state as last read (every two seconds).
            let queues = Array(postgres.snapshot.queues.prefix(listed))
            document.append(.init(head: { $0.family("docket_jobs", "gauge", "Jobs per queue and state.") }, rows: queues.count) { text, index in
                let label = MetricsText.queueLabel(queues[index].name)
                for state in states { text.sample("docket_jobs", label, state: state.name, queues[index].counts[state.name] ?? 0) }
            })
            let (available, resent) = (postgres.isAvailable, postgres.resentTransactions)
            document.append(.init(head: { text in
                text.family("docket_store_available", "gauge", "1 while the PostgreSQL job store can be reached.")
                text.sample("docket_store_available", available ? 1 : 0)
                text.family(
                    "docket_store_resent_transactions_total", "counter",
                    "Transactions PostgreSQL gave up to break a deadlock (or a serialization failure) that docketd sent again.")
                text.sample("docket_store_resent_transactions_total", resent)
            }))
            return document
        }
        // The first by name: the same queues scrape after scrape while the queues stay, where
        // the busiest would come and go as series.
        let queues = Array(engine.queuesByName.prefix(listed))
        let labels = queues.map { MetricsText.queueLabel($0.name) }
        let counts = queues.map(\.counts)
        document.append(.init(head: { $0.family("docket_jobs", "gauge", "Jobs per queue and state.") }, rows: queues.count) { text, index in
            for state in states { text.sample("docket_jobs", labels[index], state: state.name, counts[index][Int(state.rawValue)]) }
        })
        let totals: [(String, String, (JobQueue) -> Int)] = [
            ("enqueued", "Jobs enqueued", { $0.enqueuedTotal }),
            ("started", "Job attempts started", { $0.startedTotal }),
            ("completed", "Jobs completed", { $0.completedTotal }),
            ("failed", "Job attempts failed (FAIL, lease expiry, worker lost)", { $0.failedTotal }),
            ("dead", "Jobs that ended dead", { $0.deadTotal }),
            ("throttled", "Jobs returned by a throttle", { $0.throttledTotal }),
            ("removed", "Finished jobs removed by retention", { $0.removedTotal }),
            ("deleted", "Jobs removed by DEL", { $0.deletedTotal }),
        ]
        for (name, help, value) in totals {
            let family = "docket_jobs_\(name)_total"
            let values = queues.map(value)
            document.append(.init(head: { $0.family(family, "counter", "\(help), over the queue's life (kept across restarts).") }, rows: queues.count) {
                $0.sample(family, labels[$1], values[$1])
            })
        }
        let paused = queues.map { $0.config.paused ? 1 : 0 }
        document.append(.init(head: { $0.family("docket_queue_paused", "gauge", "1 if the queue is paused.") }, rows: queues.count) {
            $0.sample("docket_queue_paused", labels[$1], paused[$1])
        })
        let histograms = [
            ("docket_job_wait_seconds", "Time from a job becoming runnable to its start.", queues.map(\.waitHistogram)),
            ("docket_job_run_seconds", "Time from a job's start to its ACK, FAIL or loss.", queues.map(\.runHistogram)),
        ]
        for (name, help, values) in histograms {
            let bucket = Array((name + "_bucket{").utf8)
            document.append(.init(head: { $0.family(name, "histogram", help) }, rows: queues.count) {
                $0.histogram(name, bucket: bucket, values[$1], labels[$1])
            })
        }
        return document
    }
}
