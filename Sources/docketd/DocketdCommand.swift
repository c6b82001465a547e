import ArgumentParser
import DocketPasswords
import DocketServer
import DocketStore
import DocketWire

#if canImport(Glibc)
import Glibc
#endif

/// The docketd command line. Every option can also come from an environment variable
/// (`DOCKET_PORT`, …); a flag on the command line wins.
struct DocketdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docketd",
        abstract: "Docket: a job and event server that speaks the NATS core client protocol.",
        discussion: """
            Durations read like 250ms, 30s, 5m or 2h; sizes like 4096, 64KiB or 1MiB. Each option \
            can also be set with the environment variable shown in its help; a flag wins over the \
            variable.
            """,
        version: Server.version)

    @Option(name: [.customShort("c"), .customLong("config")], help: "A configuration file in nats-server's format (port, listen, http_port, limits, authorization { token | user, password, timeout }, and Docket's own settings in a docket { } block); flags on the command line win over it (DOCKET_CONFIG).")
    var configFile = env("DOCKET_CONFIG")

    @Option(name: [.customShort("a"), .customLong("addr")], help: "The address to listen on (DOCKET_ADDR).")
    var host = env("DOCKET_ADDR") ?? "127.0.0.1"

    @Option(name: .shortAndLong, help: "The TCP port to listen on; 0 picks a free port and logs it (DOCKET_PORT).")
    var port = Int(env("DOCKET_PORT") ?? "") ?? 4222

    @Option(name: [.customShort("d"), .customLong("data-dir")], help: "The directory for durable state, created if missing (DOCKET_DATA_DIR).")
    var dataDirectory = env("DOCKET_DATA_DIR") ?? "./docket-data"

    @Option(help: "Where jobs are kept: lmdb (the data directory; the default) or PostgreSQL, given as a connection string: postgres://user@host:port/db or 'host=… dbname=…' (DOCKET_STORE).")
    var store = env("DOCKET_STORE") ?? "lmdb"

    @Option(
        help: ArgumentHelp(
            "With a PostgreSQL store: how long another docketd sharing the database may go silent before the jobs it holds are taken back and worked elsewhere; 0 waits for their leases (DOCKET_NODE_TIMEOUT).",
            valueName: "duration"))
    var nodeTimeout = env("DOCKET_NODE_TIMEOUT") ?? "15s"

    @Option(
        help: ArgumentHelp(
            "With a PostgreSQL store: how long a database connection may go without an answer it waits for (or while connecting) before it is taken for lost and made again, its job commands answered UNAVAILABLE; 0 leaves it to TCP (DOCKET_STORE_TIMEOUT).",
            valueName: "duration"))
    var storeTimeout = env("DOCKET_STORE_TIMEOUT") ?? "30s"

    @Option(
        help: ArgumentHelp(
            "A nats-server cluster to share messages and job events with other docketd nodes: nats://[user:pass@]host:port or tls://…, comma-separated (DOCKET_CLUSTER_NATS).",
            valueName: "urls"))
    var clusterNats = env("DOCKET_CLUSTER_NATS") ?? ""

    @Option(
        name: .customLong("cluster-tlscacert"),
        help: "CA certificates, PEM, that the cluster's nats-server certificates must chain to; makes every cluster connection TLS (DOCKET_CLUSTER_TLSCACERT).")
    var clusterTLSCACertificate = env("DOCKET_CLUSTER_TLSCACERT")

    @Option(
        name: .customLong("cluster-tlscert"),
        help: "A client certificate chain, PEM, for cluster nats-servers that verify clients; makes every cluster connection TLS (DOCKET_CLUSTER_TLSCERT).")
    var clusterTLSCertificate = env("DOCKET_CLUSTER_TLSCERT")

    @Option(name: .customLong("cluster-tlskey"), help: "The private key of --cluster-tlscert, PEM (DOCKET_CLUSTER_TLSKEY).")
    var clusterTLSKey = env("DOCKET_CLUSTER_TLSKEY")

    @Option(help: "Bytes of messages the cluster link may hold while it is down or behind; more are dropped (DOCKET_CLUSTER_MAX_PENDING).")
    var clusterMaxPending = env("DOCKET_CLUSTER_MAX_PENDING") ?? "64MiB"

    @Option(
        help: ArgumentHelp(
            "How often the cluster link pings its nats-server; three unanswered and the link is taken for lost and made again, 1s to 1h (DOCKET_CLUSTER_PING_INTERVAL).",
            valueName: "duration"))
    var clusterPingInterval = env("DOCKET_CLUSTER_PING_INTERVAL") ?? "5s"

    @Option(
        name: .customLong("cluster"),
        help: ArgumentHelp(
            "Where to take routes from the other docketd nodes of a cluster, as nats-server's --cluster: nats://host:port (DOCKET_CLUSTER).",
            valueName: "url"))
    var clusterListen = env("DOCKET_CLUSTER") ?? ""

    @Option(
        help: ArgumentHelp(
            "The other docketd nodes to route to: nats://[user:pass@]host:port, comma-separated; the rest of the cluster is learnt from them (DOCKET_ROUTES).",
            valueName: "urls"))
    var routes = env("DOCKET_ROUTES") ?? ""

    @Option(help: "The cluster's name; routes to a node of another cluster are refused (DOCKET_CLUSTER_NAME).")
    var clusterName = env("DOCKET_CLUSTER_NAME") ?? ""

    @Option(
        help: ArgumentHelp(
            "Where clients on other machines reach this node, told to the other nodes' clients in connect_urls; default: the client listener's address, or each interface's when it listens on all (DOCKET_CLIENT_ADVERTISE).",
            valueName: "host[:port]"))
    var clientAdvertise = env("DOCKET_CLIENT_ADVERTISE")

    @Option(
        help: ArgumentHelp(
            "Where the other nodes reach this node's route port, as they tell each other; default: the route listener's address, or, when it listens on all interfaces, the address each node sees the route come from (DOCKET_CLUSTER_ADVERTISE).",
            valueName: "host[:port]"))
    var clusterAdvertise = env("DOCKET_CLUSTER_ADVERTISE")

    @Flag(help: "Tell no client of this node (the other nodes' clients) or of the other nodes (this node's clients) in connect_urls, as nats-server's no_advertise; DOCKET_NO_ADVERTISE=1 too.")
    var noAdvertise = false

    @Option(
        help:
            "The most subscriptions a route from another docketd node may hold for its clients' interest (one per distinct account, subject and queue); one more closes the route. 0 for no limit (DOCKET_MAX_ROUTE_SUBSCRIPTIONS)."
    )
    var maxRouteSubscriptions = Int(env("DOCKET_MAX_ROUTE_SUBSCRIPTIONS") ?? "") ?? 1_000_000

    @Option(
        help: ArgumentHelp(
            "How often each route to another docketd node is pinged (DOCKET_ROUTE_PING_INTERVAL).", valueName: "duration"))
    var routePingInterval = env("DOCKET_ROUTE_PING_INTERVAL") ?? "30s"

    @Option(help: "Unanswered pings before a route is closed as stale (DOCKET_ROUTE_MAX_PINGS_OUT).")
    var routeMaxPingsOut = Int(env("DOCKET_ROUTE_MAX_PINGS_OUT") ?? "") ?? 2

    @Option(name: [.customShort("n"), .customLong("name")], help: "The server name reported to clients; the server id if empty (DOCKET_NAME).")
    var serverName = env("DOCKET_NAME") ?? ""

    @Option(help: "The largest message payload a client may publish, headers included (DOCKET_MAX_PAYLOAD).")
    var maxPayload = env("DOCKET_MAX_PAYLOAD") ?? "1MiB"

    @Option(help: "The longest protocol control line, line ending not counted (DOCKET_MAX_CONTROL_LINE).")
    var maxControlLine = env("DOCKET_MAX_CONTROL_LINE") ?? "4096"

    @Option(help: "The most client connections served at once (DOCKET_MAX_CONNECTIONS).")
    var maxConnections = Int(env("DOCKET_MAX_CONNECTIONS") ?? "") ?? 65_536

    @Option(help: "How long a connection closed with an error (maximum connections, a failed login) stays half-open, what its client still sends read and dropped, so that the client reads the error rather than a reset; 0 closes at once (DOCKET_REFUSAL_LINGER).")
    var refusalLinger = env("DOCKET_REFUSAL_LINGER") ?? "2s"

    @Option(help: "The most bytes read and dropped from such a connection before it is closed anyway; 0 closes it at its first byte (DOCKET_REFUSAL_DRAIN).")
    var refusalDrain = env("DOCKET_REFUSAL_DRAIN") ?? "64KiB"

    @Option(help: "The most such connections kept half-open at once; past it, the oldest is closed (DOCKET_MAX_REFUSALS_LINGERING).")
    var maxRefusalsLingering = Int(env("DOCKET_MAX_REFUSALS_LINGERING") ?? "") ?? 1024

    @Option(help: "The most connections each port (client, WebSocket, route) holds that have not logged in yet; past it, the one that has waited longest is closed to make room (DOCKET_MAX_CONNECTING).")
    var maxConnecting = Int(env("DOCKET_MAX_CONNECTING") ?? "") ?? 65_536

    @Option(help: "The descriptors connections that have not logged in may not take: once fewer are free, each one accepted closes the one that has waited longest on the port with the most waiting; an eighth of the open file limit at most (DOCKET_DESCRIPTOR_RESERVE).")
    var descriptorReserve = Int(env("DOCKET_DESCRIPTOR_RESERVE") ?? "") ?? 1024

    @Option(help: "The most other docketd nodes this node holds routes with at once, besides those --routes names; one more is refused, and an eighth of the open file limit at most (DOCKET_MAX_ROUTE_PEERS).")
    var maxRoutePeers = Int(env("DOCKET_MAX_ROUTE_PEERS") ?? "") ?? 128

    @Option(help: "The most subscriptions one connection may hold; 0 for no limit (DOCKET_MAX_SUBSCRIPTIONS).")
    var maxSubscriptions = Int(env("DOCKET_MAX_SUBSCRIPTIONS") ?? "") ?? 0

    @Option(help: "The most memory all subscriptions together may take (subjects, queue names, sids and 512 bytes each); past it a SUB is refused (DOCKET_MAX_SUBSCRIPTION_MEMORY).")
    var maxSubscriptionMemory = env("DOCKET_MAX_SUBSCRIPTION_MEMORY") ?? "1GiB"

    @Option(help: "The most output a connection may have waiting before it is cut off as a slow consumer (DOCKET_MAX_PENDING).")
    var maxPending = env("DOCKET_MAX_PENDING") ?? "64MiB"

    @Option(help: "The most output all clients together may have waiting; past it, the ones with the most are cut off as slow consumers (DOCKET_MAX_PENDING_TOTAL).")
    var maxPendingTotal = env("DOCKET_MAX_PENDING_TOTAL") ?? "1GiB"

    @Option(help: "How long a client's socket may take no output before it is cut off as a slow consumer (DOCKET_WRITE_DEADLINE).")
    var writeDeadline = env("DOCKET_WRITE_DEADLINE") ?? "10s"

    @Option(help: "How often the server pings each client (DOCKET_PING_INTERVAL).")
    var pingInterval = env("DOCKET_PING_INTERVAL") ?? "2m"

    @Option(help: "Unanswered pings after which a client is closed as stale (DOCKET_MAX_PINGS_OUT).")
    var maxPingsOut = Int(env("DOCKET_MAX_PINGS_OUT") ?? "") ?? 2

    @Option(help: "How long shutdown waits for clients to take what they are owed (DOCKET_SHUTDOWN_GRACE).")
    var shutdownGrace = env("DOCKET_SHUTDOWN_GRACE") ?? "5s"

    @Option(help: "Lame duck mode (SIGUSR2): how long after telling clients to move before closing them (DOCKET_LAME_DUCK_GRACE_PERIOD).")
    var lameDuckGracePeriod = env("DOCKET_LAME_DUCK_GRACE_PERIOD") ?? "10s"

    @Option(help: "Lame duck mode: the time over which clients are closed, a few at a time, before the server stops (DOCKET_LAME_DUCK_DURATION).")
    var lameDuckDuration = env("DOCKET_LAME_DUCK_DURATION") ?? "2m"

    @Option(help: "When a change counts as done: always (fsync before every reply that promises durability) or none (no fsync before a reply; checkpoints flushed every 100 ms, so an OS crash or power loss loses about the last tenth of a second) (DOCKET_SYNC).")
    var sync = env("DOCKET_SYNC") ?? "always"

    @Option(help: "The most the job store may hold; ENQ is refused at 90% (DOCKET_MAX_STORE).")
    var maxStore = env("DOCKET_MAX_STORE") ?? "1GiB"

    @Option(help: "Room the data directory's disk keeps for finishing jobs: ENQ is refused while less is free; with 0, only a job the disk has no room for at all (DOCKET_MIN_DISK_FREE).")
    var minDiskFree = env("DOCKET_MIN_DISK_FREE") ?? "64MiB"

    @Option(help: "The most queues that may exist at once; a command that would make another is refused (DOCKET_MAX_QUEUES).")
    var maxQueues = Int(env("DOCKET_MAX_QUEUES") ?? "") ?? 10_000

    @Option(help: "The most schedules that may exist at once; a SCHEDULE that would make another is refused (DOCKET_MAX_SCHEDULES).")
    var maxSchedules = Int(env("DOCKET_MAX_SCHEDULES") ?? "") ?? 10_000

    @Option(help: "The most routes that may exist at once; a ROUTE that would make another is refused (DOCKET_MAX_ROUTES).")
    var maxRoutes = Int(env("DOCKET_MAX_ROUTES") ?? "") ?? 1_000

    @Option(help: "The most jobs a chain of jobs, each after= the one before, may hold while they are unfinished; an ENQ whose job would be deeper is refused (DOCKET_MAX_FLOW_DEPTH).")
    var maxFlowDepth = Int(env("DOCKET_MAX_FLOW_DEPTH") ?? "") ?? 5_000

    @Option(help: "The most ENQs one BATCH may hold (DOCKET_MAX_BATCH).")
    var maxBatch = Int(env("DOCKET_MAX_BATCH") ?? "") ?? 1000

    @Option(help: "The most payload bytes one BATCH may hold, its ENQs together (DOCKET_MAX_BATCH_BYTES).")
    var maxBatchBytes = env("DOCKET_MAX_BATCH_BYTES") ?? "16MiB"

    @Option(help: "How far the write-ahead log may run ahead of its checkpoints into data.mdb before commands that make jobs (ENQ, a BATCH's ENQs, $DOCKET.API ENQs, routed publishes) wait for them (DOCKET_MAX_CHECKPOINT_BACKLOG).")
    var maxCheckpointBacklog = env("DOCKET_MAX_CHECKPOINT_BACKLOG") ?? "16MiB"

    @Option(help: "The most $DOCKET.API RESERVE and WAIT requests one connection may have waiting (DOCKET_MAX_WAITING_REQUESTS).")
    var maxWaitingRequests = Int(env("DOCKET_MAX_WAITING_REQUESTS") ?? "") ?? 1024

    @Option(help: "Completed jobs kept per queue for inspection; older ones are deleted (DOCKET_KEEP_COMPLETED).")
    var keepCompleted = Int(env("DOCKET_KEEP_COMPLETED") ?? "") ?? 1000

    @Option(help: "Dead jobs kept per queue; older ones are deleted (DOCKET_KEEP_DEAD).")
    var keepDead = Int(env("DOCKET_KEEP_DEAD") ?? "") ?? 10_000

    @Option(name: [.customShort("m"), .customLong("http-port")], help: "Serve monitoring over HTTP on this port (8222 is the usual one; 0 picks a free port): /varz, /connz, /subsz, /routez, /healthz, /queues, /metrics. Off when not given (DOCKET_HTTP_PORT).")
    var httpPort: Int?

    @Option(help: "Require clients to authenticate with this token (CONNECT auth_token), as nats-server's --auth (DOCKET_TOKEN).")
    var auth = env("DOCKET_TOKEN")

    @Option(help: "Require clients to authenticate as this user (CONNECT user/pass); needs --pass, as nats-server's --user (DOCKET_USER).")
    var user = env("DOCKET_USER")

    @Option(help: "The password for --user (DOCKET_PASS).")
    var pass = env("DOCKET_PASS")

    @Option(help: "How long a client may take to send its CONNECT when authentication is required (DOCKET_AUTH_TIMEOUT).")
    var authTimeout = env("DOCKET_AUTH_TIMEOUT") ?? "2s"

    @Flag(name: .customLong("tls"), help: "Require TLS on the client port (and HTTPS on the monitoring port), as nats-server's --tls; needs --tlscert and --tlskey.")
    var tls = false

    @Option(name: .customLong("tlscert"), help: "The server's certificate chain, PEM (DOCKET_TLSCERT).")
    var tlsCertificate = env("DOCKET_TLSCERT")

    @Option(name: .customLong("tlskey"), help: "The server certificate's private key, PEM (DOCKET_TLSKEY).")
    var tlsKey = env("DOCKET_TLSKEY")

    @Option(name: .customLong("tlscacert"), help: "CA certificates, PEM, that client certificates must chain to (DOCKET_TLSCACERT).")
    var tlsCACertificate = env("DOCKET_TLSCACERT")

    @Flag(name: .customLong("tlsverify"), help: "Mutual TLS: every client must present a certificate that verifies against --tlscacert; implies --tls.")
    var tlsVerify = false

    @Flag(name: .customLong("tls-handshake-first"), help: "Start TLS before sending INFO (nats-server's handshake_first) instead of upgrading after it.")
    var tlsHandshakeFirst = false

    @Option(name: .customLong("tls-timeout"), help: "How long a client may take to complete the TLS handshake (DOCKET_TLS_TIMEOUT).")
    var tlsTimeout = env("DOCKET_TLS_TIMEOUT") ?? "2s"

    @Option(help: "Serve NATS over WebSocket on this port too (0 picks a free port and logs it), as nats-server's websocket { port }: wss:// with --tlscert and --tlskey, else it needs --websocket-no-tls (DOCKET_WEBSOCKET_PORT).")
    var websocketPort: Int?

    @Flag(help: "Plain ws:// on --websocket-port, without TLS (nats-server's websocket { no_tls: true }).")
    var websocketNoTls = false

    @Flag(help: "Offer permessage-deflate compression to WebSocket clients that ask for it (nats-server's websocket { compression: true }).")
    var websocketCompression = false

    @Option(help: "How long a WebSocket client may take from connecting to a complete upgrade, TLS included, before it is closed (DOCKET_WEBSOCKET_HANDSHAKE_TIMEOUT).")
    var websocketHandshakeTimeout = env("DOCKET_WEBSOCKET_HANDSHAKE_TIMEOUT") ?? "2s"

    @Option(help: "The longest WebSocket upgrade request head (request line and headers) read; past it, 431 and close (DOCKET_WEBSOCKET_MAX_HEADER).")
    var websocketMaxHeader = env("DOCKET_WEBSOCKET_MAX_HEADER") ?? "8KiB"

    @Option(help: "The longest HTTP request head (request line and headers) the monitoring port reads; past it, 431 (DOCKET_HTTP_MAX_HEADER).")
    var httpMaxHeader = env("DOCKET_HTTP_MAX_HEADER") ?? "8KiB"

    @Option(help: "How long after connecting a monitoring connection may take to send its whole request before it is closed (DOCKET_HTTP_IDLE_TIMEOUT).")
    var httpIdleTimeout = env("DOCKET_HTTP_IDLE_TIMEOUT") ?? "10s"

    @Option(help: "The most monitoring connections open at once; past it, the oldest one still sending its request makes room, else 503 (DOCKET_HTTP_MAX_CONNECTIONS).")
    var httpMaxConnections = Int(env("DOCKET_HTTP_MAX_CONNECTIONS") ?? "") ?? 256

    @Option(help: "The most queues /metrics gives series of their own, the first by name; docket_metrics_queues_omitted counts the rest; 0: none (DOCKET_METRICS_MAX_QUEUES).")
    var metricsMaxQueues = Int(env("DOCKET_METRICS_MAX_QUEUES") ?? "") ?? 1_000

    @Option(help: "The largest request body the monitoring port reads (the dashboard's changes); past it, 413 (DOCKET_HTTP_MAX_BODY).")
    var httpMaxBody = env("DOCKET_HTTP_MAX_BODY") ?? "64KiB"

    @Option(
        help: "How far a dashboard's live event stream may fall behind (bytes written, not yet sent) before it is closed (DOCKET_HTTP_MAX_STREAM_BACKLOG).")
    var httpMaxStreamBacklog = env("DOCKET_HTTP_MAX_STREAM_BACKLOG") ?? "1MiB"

    @Flag(
        help: """
            Let the dashboard change things (pause, settings, purge, retry, delete) for anyone who reaches the monitoring \
            port, even when it listens beyond loopback and the server has no users (DOCKET_HTTP_ADMIN=1). With users, \
            their admin rights decide; without either, only a loopback-bound dashboard may change anything.
            """)
    var httpAdmin = false

    @Flag(help: "Read a password from standard input, print its bcrypt hash (for a configuration file's password or token) and exit.")
    var hashPassword = false

    @Option(name: .customLong("signal"), help: "Send a running docketd a signal and exit, as nats-server's --signal (-sl): stop (SIGKILL), quit (SIGINT), term (SIGTERM), reopen (SIGUSR1: the log file), reload (SIGHUP: the configuration), ldm (SIGUSR2: lame duck mode); as <command>=<pid or pid file>, or alone when one docketd runs.")
    var signal: String?

    @Flag(help: "Start even though the write-ahead log is damaged, data.mdb is lost beside it, or records in data.mdb fail their checksums: keep every valid batch and record, log each one dropped, and mark jobs whose payload was lost dead. Without it such a start is refused with a message naming the damage.")
    var salvage = false

    @Option(help: "The least severe log level written: trace, debug, info, warn or error (DOCKET_LOG_LEVEL).")
    var logLevel = env("DOCKET_LOG_LEVEL") ?? "info"

    @Flag(name: [.customShort("D"), .customLong("debug")], help: "Log at debug level, as nats-server's -D.")
    var debug = false

    @Flag(name: [.customShort("V"), .customLong("trace")], help: "Log at trace level, as nats-server's -V (-DV: both).")
    var trace = false

    @Option(name: [.customShort("l"), .customLong("log")], help: "Append the log to this file instead of standard error, as nats-server's -l; SIGUSR1 reopens it, for log rotation (DOCKET_LOG_FILE).")
    var logFile = env("DOCKET_LOG_FILE")

    @Option(name: [.customShort("P"), .customLong("pid")], help: "Write the process id to this file once every listener is bound, as nats-server's -P; removed at a clean exit if it still holds this process id (DOCKET_PID_FILE).")
    var pidFile = env("DOCKET_PID_FILE")

    @Option(name: .customLong("ports-file-dir"), help: "Write <executable>_<pid>.ports here once every listener is bound: the URLs of each (nats, monitoring, cluster, websocket), as nats-server's --ports_file_dir; removed at a clean exit (DOCKET_PORTS_FILE_DIR).")
    var portsFileDirectory = env("DOCKET_PORTS_FILE_DIR")

    func validate() throws {
        if let signal {
            do { _ = try SignalCommand.parse(signal) } catch { throw ValidationError("\(error)") }
            return
        }
        _ = try makeConfig()
    }

    func makeConfig() throws -> ServerConfig { try makeConfigReporting().config }

    /// The PostgreSQL connection string `--store` names, "" for the embedded store, nil for
    /// neither.
    /// 0, or long enough that a node busy for a moment is not taken for dead: 3 s at least.
    static func nodeTimeout(_ text: String) -> Int? {
        guard let milliseconds = Units.milliseconds(text), milliseconds == 0 || (3000...86_400_000).contains(milliseconds) else { return nil }
        return milliseconds
    }
    static let nodeTimeoutRule = "must be 0 (wait for the leases) or a duration from 3s to 24h, so that a busy node is not taken for dead."

    /// 0, or 1 s to 1 h: a statement may take a while on a big table.
    static func storeTimeout(_ text: String) -> Int? {
        guard let milliseconds = Units.milliseconds(text), milliseconds == 0 || (1000...3_600_000).contains(milliseconds) else { return nil }
        return milliseconds
    }
    static let storeTimeoutRule = "must be 0 (leave it to TCP) or a duration from 1s to 1h."

    /// `--cluster-ping-interval` in milliseconds: under a second a busy nats-server's late PONG
    /// would break a sound link; past an hour a silent one is not noticed for hours.
    static func clusterPingInterval(_ text: String) -> Int? {
        guard let value = Units.milliseconds(text), (1_000...3_600_000).contains(value) else { return nil }
        return value
    }
    static let clusterPingIntervalRule = "must be a duration from 1s to 1h."

    static func postgresStore(_ text: String) -> String? {
        if text.isEmpty || text == "lmdb" { return "" }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") || text.contains("=") else { return nil }
        return text
    }

    /// The settings, and the configuration file's keys that were read but change nothing.
    func makeConfigReporting() throws -> (config: ServerConfig, ignored: [String]) {
        var ignoredConfigKeys: [String] = []
        try Self.checkVariables()
        var config = ServerConfig()
        config.host = host
        guard (0...65535).contains(port) else { throw ValidationError("\(Self.origin("--port")) must be between 0 and 65535.") }
        config.port = port
        config.dataDirectory = dataDirectory
        guard let postgresStore = Self.postgresStore(store) else {
            throw ValidationError("\(Self.origin("--store")) must be lmdb or a PostgreSQL connection string (postgres://… or key=value …), not \(store).")
        }
        config.postgresStore = postgresStore.isEmpty ? nil : postgresStore
        guard let nodeTimeout = Self.nodeTimeout(nodeTimeout) else { throw ValidationError("\(Self.origin("--node-timeout")) \(Self.nodeTimeoutRule)") }
        config.nodeTimeoutMilliseconds = nodeTimeout
        guard let storeTimeout = Self.storeTimeout(storeTimeout) else { throw ValidationError("\(Self.origin("--store-timeout")) \(Self.storeTimeoutRule)") }
        config.storeTimeoutMilliseconds = storeTimeout
        if !clusterNats.isEmpty {
            guard let addresses = ClusterLink.addresses(clusterNats) else {
                throw ValidationError("--cluster-nats must be nats://[user:pass@]host[:port] or tls://… addresses, comma-separated, not \(clusterNats).")
            }
            config.clusterNATS = addresses
        }
        if clusterTLSCACertificate != nil || clusterTLSCertificate != nil || clusterTLSKey != nil {
            guard (clusterTLSCertificate == nil) == (clusterTLSKey == nil) else {
                throw ValidationError("--cluster-tlscert and --cluster-tlskey go together.")
            }
            config.clusterTLS = ClusterTLSSettings(caFile: clusterTLSCACertificate, certificateFile: clusterTLSCertificate, keyFile: clusterTLSKey)
        }
        config.clusterMaxPending = try size(clusterMaxPending, "--cluster-max-pending")
        guard let clusterPingInterval = Self.clusterPingInterval(clusterPingInterval) else {
            throw ValidationError("\(Self.origin("--cluster-ping-interval")) \(Self.clusterPingIntervalRule)")
        }
        config.clusterPingIntervalMilliseconds = clusterPingInterval
        if !clusterListen.isEmpty {
            guard let url = RouteURL(clusterListen), url.user == nil else {
                throw ValidationError("--cluster must be nats://host:port, not \(clusterListen).")
            }
            config.routeListen = url
        }
        if !routes.isEmpty {
            guard let urls = RouteURL.list(routes) else {
                throw ValidationError("--routes must be nats://[user:pass@]host:port addresses, comma-separated, not \(routes).")
            }
            config.routes = urls
        }
        config.clusterName = clusterName
        config.clientAdvertise = clientAdvertise
        config.clusterAdvertise = clusterAdvertise
        config.noAdvertise = noAdvertise || env("DOCKET_NO_ADVERTISE") == "1"
        guard maxRouteSubscriptions >= 0 else { throw ValidationError("\(Self.origin("--max-route-subscriptions")) must not be negative.") }
        config.maxRouteSubscriptions = maxRouteSubscriptions
        config.routePingIntervalMilliseconds = try duration(routePingInterval, "--route-ping-interval")
        config.routeMaxPingsOutstanding = try count(routeMaxPingsOut, "--route-max-pings-out")
        config.serverName = serverName
        config.maxPayload = try size(maxPayload, "--max-payload")
        config.maxControlLine = try size(maxControlLine, "--max-control-line")
        config.maxPending = try size(maxPending, "--max-pending")
        config.maxPendingTotal = try size(maxPendingTotal, "--max-pending-total")
        config.maxSubscriptionMemory = try size(maxSubscriptionMemory, "--max-subscription-memory")
        config.maxConnections = try count(maxConnections, "--max-connections")
        guard let linger = Units.milliseconds(refusalLinger), linger >= 0 else {
            throw ValidationError("\(Self.origin("--refusal-linger")) must be a duration, like 500ms or 2s, or 0 to close at once.")
        }
        config.refusalLingerMilliseconds = linger
        config.refusalDrainBytes = try size(refusalDrain, "--refusal-drain")
        guard maxRefusalsLingering >= 0 else { throw ValidationError("\(Self.origin("--max-refusals-lingering")) must be 0 or more.") }
        config.maxRefusalsLingering = maxRefusalsLingering
        guard maxConnecting > 0 else { throw ValidationError("\(Self.origin("--max-connecting")) must be at least 1.") }
        config.maxConnecting = maxConnecting
        guard descriptorReserve > 0 else { throw ValidationError("\(Self.origin("--descriptor-reserve")) must be at least 1.") }
        config.descriptorReserve = descriptorReserve
        guard maxRoutePeers > 0 else { throw ValidationError("\(Self.origin("--max-route-peers")) must be at least 1.") }
        config.maxRoutePeers = maxRoutePeers
        config.maxSubscriptions = try count(maxSubscriptions, "--max-subscriptions")
        config.writeDeadlineMilliseconds = try duration(writeDeadline, "--write-deadline")
        config.pingIntervalMilliseconds = try duration(pingInterval, "--ping-interval")
        config.maxPingsOutstanding = try count(maxPingsOut, "--max-pings-out")
        config.shutdownGraceMilliseconds = try duration(shutdownGrace, "--shutdown-grace")
        config.lameDuckGraceMilliseconds = try duration(lameDuckGracePeriod, "--lame-duck-grace-period")
        config.lameDuckDurationMilliseconds = try duration(lameDuckDuration, "--lame-duck-duration")
        guard let mode = SyncMode(rawValue: sync) else { throw ValidationError("\(Self.origin("--sync")) must be always or none.") }
        config.syncMode = mode
        guard let store = Units.bytes(maxStore), store >= 1 << 20, store <= 1 << 40 else {
            throw ValidationError("\(Self.origin("--max-store")) must be a size from 1MiB to 1TiB, like 512MiB or 4GiB.")
        }
        config.maxStoreBytes = store
        guard let room = minDiskFree == "0" ? 0 : Units.bytes(minDiskFree), room <= 1 << 40 else {
            throw ValidationError("\(Self.origin("--min-disk-free")) must be 0 or a size up to 1TiB, like 64MiB or 1GiB.")
        }
        config.minDiskFreeBytes = room
        // One at a time, each named with its variable (`origin`): a value from the environment
        // was refused in words that named neither.
        for (flag, kept) in [("--keep-completed", keepCompleted), ("--keep-dead", keepDead)] where !(0...QueueSettings.maxKept).contains(kept) {
            throw ValidationError("\(Self.origin(flag)) must be from 0 to \(QueueSettings.maxKept).")
        }
        let counts = [
            ("--max-queues", maxQueues), ("--max-schedules", maxSchedules), ("--max-routes", maxRoutes),
            ("--max-flow-depth", maxFlowDepth), ("--max-waiting-requests", maxWaitingRequests),
        ]
        for (flag, count) in counts where count < 1 { throw ValidationError("\(Self.origin(flag)) must be at least 1.") }
        config.maxSchedules = maxSchedules
        config.maxRoutes = maxRoutes
        config.maxFlowDepth = maxFlowDepth
        guard maxBatch > 0 else { throw ValidationError("\(Self.origin("--max-batch")) must be at least 1.") }
        config.maxBatch = maxBatch
        config.maxBatchBytes = try size(maxBatchBytes, "--max-batch-bytes")
        config.maxCheckpointBacklog = try size(maxCheckpointBacklog, "--max-checkpoint-backlog")
        config.salvage = salvage
        switch (auth, user, pass) {
        case (nil, nil, nil): break
        case (let token?, nil, nil):
            guard !token.isEmpty else { throw ValidationError("--auth must not be empty.") }
            config.requireToken(token)
        case (nil, let name?, let password?):
            guard !name.isEmpty, !password.isEmpty else { throw ValidationError("--user and --pass must not be empty.") }
            config.requireUser(name, password: password)
        case (nil, _, _):
            throw ValidationError("--user and --pass go together.")
        default:
            throw ValidationError("Use either --auth (a token) or --user with --pass, not both.")
        }
        config.authTimeoutMilliseconds = try duration(authTimeout, "--auth-timeout")
        if tls || tlsVerify || tlsHandshakeFirst || tlsCertificate != nil || tlsKey != nil {
            guard let tlsCertificate, let tlsKey else { throw ValidationError("TLS needs --tlscert and --tlskey.") }
            var settings = TLSSettings(certificateFile: tlsCertificate, keyFile: tlsKey)
            settings.caFile = tlsCACertificate
            settings.verifyClients = tlsVerify
            guard !tlsVerify || tlsCACertificate != nil else { throw ValidationError("--tlsverify needs --tlscacert.") }
            settings.handshakeFirst = tlsHandshakeFirst
            settings.timeoutMilliseconds = try duration(tlsTimeout, "--tls-timeout")
            config.tls = settings
        }
        let websocketPort = self.websocketPort ?? Int(env("DOCKET_WEBSOCKET_PORT") ?? "")
        if let websocketPort {
            guard (0...65535).contains(websocketPort) else { throw ValidationError("\(Self.origin("--websocket-port")) must be between 0 and 65535.") }
            guard websocketPort != port || port == 0 else { throw ValidationError("\(Self.origin("--websocket-port")) must differ from --port.") }
            guard config.tls != nil || websocketNoTls else {
                throw ValidationError("\(Self.origin("--websocket-port")) needs TLS (--tlscert and --tlskey, used for wss:// too) or --websocket-no-tls for plain ws://.")
            }
            var settings = WebSocketSettings(port: websocketPort)
            if !websocketNoTls, var tls = config.tls {
                // The same certificate; a WebSocket client cannot start TLS after INFO.
                tls.handshakeFirst = false
                tls.allowsPlainText = false
                settings.tls = tls
            }
            settings.compression = websocketCompression
            config.webSocket = settings
        }
        let websocketHandshakeTimeout = try duration(websocketHandshakeTimeout, "--websocket-handshake-timeout")
        let websocketMaxHead = try size(websocketMaxHeader, "--websocket-max-header")
        config.webSocket?.handshakeTimeoutMilliseconds = websocketHandshakeTimeout
        config.webSocket?.maxHeadBytes = websocketMaxHead
        config.httpMaxHeadBytes = try size(httpMaxHeader, "--http-max-header")
        config.httpIdleMilliseconds = try duration(httpIdleTimeout, "--http-idle-timeout")
        guard httpMaxConnections > 0 else { throw ValidationError("\(Self.origin("--http-max-connections")) must be at least 1.") }
        config.httpMaxConnections = httpMaxConnections
        guard metricsMaxQueues >= 0 else { throw ValidationError("\(Self.origin("--metrics-max-queues")) must not be negative.") }
        config.metricsMaxQueues = metricsMaxQueues
        config.httpMaxBodyBytes = try size(httpMaxBody, "--http-max-body")
        config.httpMaxStreamBacklogBytes = try size(httpMaxStreamBacklog, "--http-max-stream-backlog")
        config.httpAdmin = httpAdmin || env("DOCKET_HTTP_ADMIN") == "1"
        config.maxQueues = maxQueues
        config.maxWaitingRequests = maxWaitingRequests
        config.keepCompleted = keepCompleted
        config.keepDead = keepDead
        guard let level = LogLevel(name: logLevel) else {
            throw ValidationError("\(Self.origin("--log-level")) must be one of trace, debug, info, warn, error.")
        }
        config.logLevel = trace ? .trace : debug ? .debug : level
        if let logFile {
            guard !logFile.isEmpty else { throw ValidationError("--log must name a file.") }
            config.logFile = logFile
        }
        if let pidFile {
            guard !pidFile.isEmpty else { throw ValidationError("--pid must name a file.") }
            config.pidFile = pidFile
        }
        if let portsFileDirectory {
            guard !portsFileDirectory.isEmpty else { throw ValidationError("--ports-file-dir must name a directory.") }
            config.portsFileDirectory = portsFileDirectory
        }
        let httpPort = self.httpPort ?? Int(env("DOCKET_HTTP_PORT") ?? "")
        if let httpPort {
            guard (0...65535).contains(httpPort) else { throw ValidationError("\(Self.origin("--http-port")) must be between 0 and 65535.") }
            guard httpPort != port || port == 0 else { throw ValidationError("\(Self.origin("--http-port")) must differ from --port.") }
        }
        config.httpPort = httpPort
        if let configFile {
            do {
                var settings = try ConfigFileSettings(path: configFile, given: Self.given)
                try settings.apply(to: &config)
                ignoredConfigKeys = settings.ignored
                if Self.given("--tls-timeout"), config.tls != nil {
                    config.tls!.timeoutMilliseconds = try duration(tlsTimeout, "--tls-timeout")
                }
                // The file's websocket block may come after the flags that tune it.
                if Self.given("--websocket-handshake-timeout") { config.webSocket?.handshakeTimeoutMilliseconds = websocketHandshakeTimeout }
                if Self.given("--websocket-max-header") { config.webSocket?.maxHeadBytes = websocketMaxHead }
            } catch {
                throw ValidationError("\(error)")
            }
        }
        return (config, ignoredConfigKeys)
    }

    /// The command line, nats-server's spellings of flags rewritten to docketd's.
    static let arguments = NatsServerArguments.normalize(Array(CommandLine.arguments.dropFirst()), shortFlags: shortFlags)
    /// The one-letter flags declared above.
    static let shortFlags: Set<Character> = ["a", "c", "d", "h", "l", "m", "n", "p", "D", "P", "V"]

    /// Whether one of `names` is on the command line (as `--name value` or `--name=value`).
    static func given(_ names: String...) -> Bool {
        arguments.contains { argument in
            names.contains { argument == $0 || argument.hasPrefix($0 + "=") }
        }
    }

    func run() throws {
        if let signal {
            do {
                let command = try SignalCommand.parse(signal)
                try command.send(to: command.resolve { SignalCommand.runningProcesses(named: "docketd") })
            } catch {
                let message = Array("docketd --signal: \(error)\n".utf8)
                _ = Glibc.write(2, message, message.count)
                Glibc.exit(1)
            }
            return
        }
        if hashPassword {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw ValidationError("--hash-password reads the password from standard input; it was empty.")
            }
            guard !password.utf8.contains(0) else {
                throw ValidationError("--hash-password: the password holds a NUL byte, where bcrypt would end it.")
            }
            guard let hash = PasswordHash.make(password, cost: 11) else { throw ValidationError("libcrypt could not make a bcrypt hash.") }
            print(hash)
            return
        }
        let (config, ignoredConfigKeys) = try makeConfigReporting()
        if let logFile = config.logFile {
            // Before the first line is logged, so that the file has them all.
            do { try LogFile.redirectStandardError(to: logFile) } catch { throw ValidationError("\(error)") }
        }
        if !ignoredConfigKeys.isEmpty {
            Log(level: .info).warn("Configuration file: ignoring \(ignoredConfigKeys.joined(separator: ", ")) (nats-server settings docketd does not use)")
        }
        let server: Server
        do {
            server = try Server(config: config)
            server.configurationSource = {
                do {
                    return try DocketdCommand.parse(DocketdCommand.arguments).makeConfig()
                } catch {
                    // The parser's own words (`docketd.conf:3:1: Parse error: …`), as a start
                    // prints them, rather than the wrapper's debug description around them.
                    throw ValidationError(DocketdCommand.message(for: error))
                }
            }
            try server.start()
        } catch {
            // Exit here, before the half-started server is torn down: what start() set up
            // may still point at it, and one clear line is all an operator needs.
            Log(level: .error).error("Cannot start: \(error)")
            Glibc.exit(1)
        }
        server.run()
        // At once, with the clients' sockets still open (`Server.run`): nothing may run between
        // their close and the process's end.
        Glibc.exit(server.exitStatus)
    }

    private func size(_ text: String, _ flag: String) throws -> Int {
        let bounds = Self.sizeBounds(flag)
        guard let value = Units.bytes(text), bounds.contains(value) else {
            throw ValidationError("\(Self.origin(flag)) \(bounds.rule).")
        }
        return value
    }

    /// The sizes a size option takes, whether given as a flag, a variable or a configuration key
    /// (a file's `max_control_line: 1` started a server that refused every command as too long).
    struct SizeBounds {
        let minimum: Int
        let maximum: Int
        let maximumText: String

        func contains(_ bytes: Int) -> Bool { bytes >= minimum && bytes <= maximum }
        var rule: String { "must be a size between \(minimum) bytes and \(maximumText), like 4096, 64KiB or 1MiB" }
    }

    /// The counts an option whose configuration key has an upper bound takes, flag, variable or
    /// key alike (the file refused `max_connections: 20000000` while the flag took it).
    static func countBounds(_ flag: String) -> ClosedRange<Int> {
        switch flag {
        case "--max-connections": 1...10_000_000
        case "--max-subscriptions": 0...100_000_000
        default: 1...1000  // --max-pings-out, --route-max-pings-out
        }
    }

    private func count(_ value: Int, _ flag: String) throws -> Int {
        let bounds = Self.countBounds(flag)
        guard bounds.contains(value) else {
            throw ValidationError("\(Self.origin(flag)) must be a whole number from \(bounds.lowerBound) to \(bounds.upperBound).")
        }
        return value
    }

    static func sizeBounds(_ flag: String) -> SizeBounds {
        let terabyte = (1 << 40, "1024GiB")
        let (minimum, maximum): (Int, (Int, String)) =
            switch flag {
            case "--cluster-max-pending": (64 << 10, (1 << 30, "1GiB"))
            case "--max-pending": (1024, (1 << 30, "1GiB"))
            case "--max-control-line": (32, (1 << 30, "1GiB"))
            case "--max-pending-total", "--max-subscription-memory": (1024, terabyte)
            case "--websocket-max-header", "--http-max-header": (256, (1 << 30, "1GiB"))
            case "--refusal-drain", "--http-max-body": (0, (1 << 30, "1GiB"))
            case "--http-max-stream-backlog": (4096, (1 << 30, "1GiB"))
            case "--max-store": (1 << 20, (1 << 40, "1TiB"))
            case "--min-disk-free": (0, terabyte)
            case "--max-checkpoint-backlog": (1 << 20, (1 << 30, "1GiB"))
            default: (1, (1 << 30, "1GiB"))  // --max-payload, --max-batch-bytes
            }
        return SizeBounds(minimum: minimum, maximum: maximum.0, maximumText: maximum.1)
    }

    private func duration(_ text: String, _ flag: String) throws -> Int {
        guard let value = Units.milliseconds(text), value > 0 else {
            throw ValidationError("\(Self.origin(flag)) must be a positive duration, like 250ms, 30s or 2m.")
        }
        return value
    }

    /// The environment variable each flag also reads: `--max-payload`, `DOCKET_MAX_PAYLOAD`.
    static func variable(of flag: String) -> String {
        "DOCKET_" + flag.drop { $0 == "-" }.uppercased().split(separator: "-").joined(separator: "_")
    }

    /// `flag` as an error names it: with the variable and its value when the value came from the
    /// environment, so that an operator who never typed the flag finds what to fix.
    static func origin(_ flag: String) -> String {
        let spellings = wholeNumberOptions.first { $0[0] == flag } ?? [flag]
        guard !spellings.contains(where: { given($0) }), let value = env(variable(of: flag)) else { return flag }
        return "\(flag) (\(variable(of: flag))=\(value))"
    }

    /// The options whose variable is read as a whole number where it is declared, with their
    /// one-letter spellings: a property's initial value cannot throw, so `Int(…) ?? default`
    /// would take a value that is no number for the default (`DOCKET_PORT=abc` listened on 4222).
    static let wholeNumberOptions: [[String]] = [
        ["--port", "-p"], ["--http-port", "-m"], ["--websocket-port"], ["--max-route-subscriptions"], ["--max-connections"],
        ["--max-refusals-lingering"], ["--max-connecting"], ["--descriptor-reserve"], ["--max-route-peers"],
        ["--max-subscriptions"], ["--max-pings-out"], ["--max-queues"], ["--max-schedules"], ["--max-routes"],
        ["--max-flow-depth"], ["--max-batch"], ["--max-waiting-requests"], ["--keep-completed"], ["--keep-dead"],
        ["--http-max-connections"], ["--route-max-pings-out"], ["--metrics-max-queues"],
    ]

    /// The switches a variable turns on with `1` (`DOCKET_HTTP_ADMIN=1`).
    static let switchVariables = ["DOCKET_NO_ADVERTISE", "DOCKET_HTTP_ADMIN"]

    /// Refuses a variable whose value the option it stands for cannot take, naming both, where
    /// the flag is not given (a flag wins over its variable, so then the variable is unused).
    static func checkVariables() throws {
        for spellings in wholeNumberOptions where Int(env(variable(of: spellings[0])) ?? "0") == nil {
            let origin = origin(spellings[0])
            if origin != spellings[0] { throw ValidationError("\(origin) must be a whole number.") }
        }
        for name in switchVariables {
            if let value = env(name), !["", "0", "1"].contains(value) {
                throw ValidationError("\(name)=\(value): must be 1 (on) or 0 (off).")
            }
        }
    }
}

private func env(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
