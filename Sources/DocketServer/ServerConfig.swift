import DocketStore
import DocketWire

/// Everything docketd can be told at start-up. Every limit is here, with its default and why.
public struct ServerConfig: Sendable {
    /// Address to listen on; loopback by default, so a fresh install is not open to the network.
    public var host = "127.0.0.1"
    /// TCP port; 4222 is the NATS port, so NATS clients connect with no configuration. 0 picks a free one.
    public var port = 4222
    /// Where clients on other machines reach this node (`--client-advertise`, `host[:port]`), as
    /// the other nodes' clients are told in `connect_urls`; nil: the listener's address, or each
    /// interface's when it listens on all of them.
    public var clientAdvertise: String?
    /// Where durable state lives; created if missing.
    public var dataDirectory = "./docket-data"
    /// A PostgreSQL connection string (`postgres://…` or `host=… dbname=…`) when jobs are kept
    /// there instead of the data directory (`--store`); nil: the embedded LMDB store.
    public var postgresStore: String?
    /// With `postgresStore`: how long a node sharing the database may go without a heartbeat
    /// before another node takes back the jobs it holds (each attempt ending as `lost`), in ms;
    /// 0 leaves them to their leases. Heartbeats go every fifth of it (at most every 5 s).
    public var nodeTimeoutMilliseconds = 15_000
    /// With `postgresStore`: how long a database connection may go without a word from the
    /// server while it owes an answer (or while connecting) before it is taken for lost (its
    /// commands answered `UNAVAILABLE`, a new one made), in ms; 0: never (TCP decides).
    public var storeTimeoutMilliseconds = 30_000
    /// The nats-server cluster to join for events across docketd nodes (`--cluster-nats`);
    /// nil: none, this node's messages stay on it.
    public var clusterNATS: [NATSAddress]?
    /// TLS for every connection to that cluster (`--cluster-tlscacert`, `--cluster-tlscert`,
    /// `--cluster-tlskey`); nil: TLS only for `tls://` addresses and servers that require it,
    /// verified against the system's CAs.
    public var clusterTLS: ClusterTLSSettings?
    /// Bytes of messages the link to that cluster may hold while it is down or behind, beyond
    /// which messages are dropped (and counted). 64 MiB, as a client's `--max-pending`.
    public var clusterMaxPending = 64 << 20
    /// How often the link pings its nats-server (`--cluster-ping-interval`); three PINGs
    /// unanswered and the link is taken for lost. A server that goes silent without closing
    /// the connection (a partition, a dead host) is noticed only so, and until then what is
    /// published here goes up into nothing, queue groups' messages included.
    public var clusterPingIntervalMilliseconds = 5_000
    /// Where this node takes routes from the other docketd nodes of its cluster (`--cluster`,
    /// `cluster { listen }`); nil: no cluster of docketd nodes.
    public var routeListen: RouteURL?
    /// The other nodes to route to (`--routes`, `cluster { routes }`); more are learnt from them.
    public var routes: [RouteURL] = []
    /// The cluster's name (`--cluster-name`): routes between differently named clusters are refused.
    public var clusterName = ""
    /// TLS on routes (`cluster { tls { cert_file, key_file, ca_file } }`), both ways: each node
    /// shows its certificate and verifies the other's against `caFile` (and, on routes it makes,
    /// the name or address it dialled), as nats-server's routes do. nil: plain TCP.
    public var routeTLS: TLSSettings?
    /// Where the other nodes reach this one's route port (`--cluster-advertise`, `host[:port]`),
    /// as they pass it on to each other; nil: the route listener's address (on every interface:
    /// each peer uses the address the route came from).
    public var clusterAdvertise: String?
    /// Clients are not told of this node, nor this node's clients of the others (`--no-advertise`,
    /// `cluster { no_advertise }`), as nats-server's: for a node that clients elsewhere cannot
    /// reach, or whose clients are given every address already.
    public var noAdvertise = false
    /// The user and password routes must present (`cluster { authorization { user, password } }`);
    /// nil: routes need none (then keep the route port on a private network).
    public var routeCredentials: RouteCredentials?
    /// The most subscriptions one route may hold for its peer's interest (one per distinct
    /// account, subject and queue its clients want); one more closes the route. 0 means no limit.
    /// nats-server sets none; a peer without credentials could otherwise grow the subscription
    /// index without end. A million is 15 for each of `maxConnections` (65,536) clients of the
    /// peer, and about 560 MB here at its worst (measured: about 560 bytes a subscription with a
    /// short subject).
    public var maxRouteSubscriptions = 1_000_000
    /// How often each route is pinged (`--route-ping-interval`, `cluster { ping_interval }`)
    /// and how many PINGs may go unanswered before it is closed (`--route-max-pings-out`,
    /// `cluster { ping_max }`): nats-server 2.10's own for its routes, 30 s and 2. A peer gone
    /// silent (a partition) is noticed so, or by the write deadline once its socket takes
    /// nothing more; until then its queue-group members are still given their turns, and what
    /// they are given is lost. Clients' two minutes would make that four to six minutes.
    public var routePingIntervalMilliseconds = 30_000
    public var routeMaxPingsOutstanding = 2
    /// The most other nodes this node may hold routes with at once, beyond the configured
    /// `routes` (which are always taken); one more is refused. Each holds a descriptor, and
    /// without route credentials anyone who reaches the route port can make one by sending an
    /// INFO with a new `server_id`, or have this node make them by listing addresses in its
    /// INFO's `routes`. Also at most an eighth of the open file limit.
    public var maxRoutePeers = 128
    /// Name reported in INFO; the server id when empty.
    public var serverName = ""
    /// Largest PUB/HPUB payload (headers included). 1 MiB, as nats-server.
    public var maxPayload = 1 << 20
    /// Longest control line, CRLF not counted. 4096, as nats-server (its docs say 1024; the server uses 4096).
    public var maxControlLine = 4096
    /// Concurrent client connections; the next one gets `-ERR 'maximum connections exceeded'`.
    public var maxConnections = 65_536
    /// How long a connection closed with a last word (`-ERR 'maximum connections exceeded'`,
    /// `'Authorization Violation'`, …) stays half-open, its input read and dropped, so that its
    /// client reads the error rather than a reset; 0 closes at once.
    public var refusalLingerMilliseconds = 2_000
    /// Such connections lingering at once; past it the oldest is closed.
    public var maxRefusalsLingering = 1_024
    /// Bytes read and dropped from one such connection before it is closed anyway: enough
    /// for what a client sends before it reads (a CONNECT, a PING, a first PUB or two; 64 KiB
    /// is what a socket's buffers hold unread), so that a client that keeps writing cannot
    /// keep the server reading for it. 0 closes at its first byte.
    public var refusalDrainBytes = 64 << 10
    /// Connections each listener (client, WebSocket, route) may hold that have not logged in
    /// yet; past it, the one that has waited longest makes room (see `LoginWaitlist`). An
    /// explicit hard cap only, as many as `maxConnections` by default: descriptors are guarded
    /// by `descriptorReserve`, and any lower default closes clients of a herd that reconnects
    /// at once (3000 from one process) before they could log in.
    public var maxConnecting = 65_536
    /// Descriptors that connections waiting to log in may not take: once fewer are free, each
    /// connection accepted closes the one that has waited longest on the port with the most
    /// waiting (see `DescriptorBudget`). They are what new logins on every port, the monitoring
    /// port, routes dialled out and the store's connections need while a flood is held. At
    /// most an eighth of the open file limit, so that a low limit keeps most of it for logins.
    public var descriptorReserve = 1_024
    /// Subscriptions per connection; 0 means no limit.
    public var maxSubscriptions = 0
    /// What every subscription together may take (clients' and route peers' interest), counted
    /// as `Server.subscriptionCharge`: without it, one connection's SUBs of 4 KB subjects took
    /// 4 GB a million. Past it a client's SUB is refused (not fatal) and a route peer's
    /// interest ends its route. 1 GiB: about two million subscriptions of short subjects.
    public var maxSubscriptionMemory = 1 << 30
    /// Output a connection may have waiting before it is cut off as a slow consumer. 64 MiB, as nats-server.
    public var maxPending = 64 << 20
    /// Output all clients together may have waiting; past it, the ones with the most are cut
    /// off as slow consumers until it is back under. `maxPending` holds for each, and a
    /// publisher's firehose to many clients that never read would otherwise hold that much for
    /// each of them. 1 GiB: sixteen clients at `maxPending`; routes are not counted.
    public var maxPendingTotal = 1 << 30
    /// How long a connection's socket may refuse to take more output before it is cut off, in ms.
    public var writeDeadlineMilliseconds = 10_000
    /// How often the server pings each client, in ms. 2 minutes, as nats-server.
    public var pingIntervalMilliseconds = 120_000
    /// Unanswered pings after which a client is closed with `-ERR 'Stale Connection'`.
    public var maxPingsOutstanding = 2
    /// How long shutdown waits for clients to take what they are owed, in ms.
    public var shutdownGraceMilliseconds = 5_000
    /// Lame duck mode (SIGUSR2), as nats-server: after INFO `ldm` tells clients to move, the
    /// grace period passes, then the clients are closed spread over the duration, then the
    /// server stops. Milliseconds; nats-server's defaults.
    public var lameDuckGraceMilliseconds = 10_000
    public var lameDuckDurationMilliseconds = 120_000
    /// When a commit counts as done; `.always` fsyncs before any reply that promises durability.
    public var syncMode = SyncMode.always
    /// The most bytes the store may hold (the LMDB map size; the file grows only as needed).
    public var maxStoreBytes = 1 << 30
    /// Room the data directory's disk keeps for the changes that finish jobs: new jobs are
    /// refused (`STORE_FULL`) while less than this is free, so that ACK, FAIL and the
    /// checkpoints moving them into data.mdb never meet a full disk, which stops docketd. A
    /// checkpoint writes up to about 4 MiB of pages per transaction, twice over (LMDB copies
    /// every page it changes), and a burst may grow a log file; 64 MiB holds several of both.
    /// With 0 only a job the disk has no room for at all is refused: filling the disk to its
    /// last byte would stop docketd at the next checkpoint.
    public var minDiskFreeBytes = 64 << 20
    /// Completed jobs kept per queue for inspection; older ones are deleted.
    public var keepCompleted = 1000
    /// Dead jobs kept per queue; older ones are deleted.
    public var keepDead = 10_000
    /// Queues that may exist at once; a command that would make one more is refused (`LIMIT`).
    /// Each costs a few hundred bytes and a line in QUEUES and /metrics, so a client naming
    /// random queues must not be able to make them without bound.
    public var maxQueues = 10_000
    /// Schedules that may exist at once; a SCHEDULE that would make one more is refused
    /// (`LIMIT`). Each fires from memory, and SCHEDULES lists them all.
    public var maxSchedules = 10_000
    /// Routes that may exist at once; a ROUTE past it is refused (`LIMIT`). Every publish is
    /// matched against them and makes one job per match, so their number bounds what one
    /// message can cost.
    public var maxRoutes = 1_000
    /// How deep a flow may grow: an ENQ whose job would be deeper (`JobEngine.flowDepth`) is
    /// refused (`LIMIT`). A death or completion settles its descendants one after another in
    /// one loop pass (one transaction on PostgreSQL, about 0.4 ms a step), so this bounds what
    /// settling a chain can cost.
    public var maxFlowDepth = 5_000
    /// ENQs one BATCH may hold, and the payload bytes they may hold together: a batch is kept
    /// in memory until its last ENQ arrives, then enqueued all at once or not at all.
    public var maxBatch = 1000
    public var maxBatchBytes = 16 << 20
    /// How far the write-ahead log may run ahead of the checkpoints (bytes of batches logged and
    /// not yet in LMDB) before commands that make jobs wait: a fill under `--sync none` logs several times faster
    /// than checkpoints move it into LMDB, and what waits for them is held in memory.
    public var maxCheckpointBacklog = 16 << 20
    /// `$DOCKET.API` RESERVE and WAIT requests one connection may have waiting at once; the next
    /// is answered `LIMIT`. (On the wire a connection waits for one at a time.)
    public var maxWaitingRequests = 1024
    /// Start even though the write-ahead log is damaged: apply every valid batch, log what was
    /// dropped, and mark jobs whose payload was lost dead. Off: such a start is refused.
    public var salvage = false
    /// Port of the HTTP monitoring endpoint (`/varz`, `/connz`, `/subsz`, `/routez`, `/healthz`, `/queues`, `/metrics`);
    /// nil turns it off. 0 picks a free port.
    public var httpPort: Int?
    /// Longest HTTP request head (request line and headers) the monitoring port reads; past it,
    /// 431. A few KiB is plenty for a scrape or a browser.
    public var httpMaxHeadBytes = 8 << 10
    /// How long a monitoring connection may take to send its request, in ms; then it is closed.
    public var httpIdleMilliseconds = 10_000
    /// Monitoring connections open at once; past it, 503 and close.
    public var httpMaxConnections = 256
    /// Queues that `/metrics` gives series of their own, the first by name; the others are
    /// counted in `docket_metrics_queues_omitted`. Per-queue series are about 44 lines a queue
    /// (27 MB at 10,000 queues on the embedded store, 23 MB at 100,000 on PostgreSQL, 1.4 s to
    /// make): what Prometheus practice calls unbounded label cardinality.
    public var metricsMaxQueues = 1_000
    /// Longest request body (a dashboard change) the monitoring port reads; past it, 413.
    public var httpMaxBodyBytes = 64 << 10
    /// Bytes a live event stream may have written but not sent; past it the stream is closed.
    public var httpMaxStreamBacklogBytes = 1 << 20
    /// Whether the dashboard may change things (pause, purge, retry, …) for viewers without
    /// credentials when the monitoring port is reachable beyond loopback. Without users it is
    /// otherwise only allowed on a loopback address; with users, their admin rights decide.
    public var httpAdmin = false
    /// Credentials every client must present in its CONNECT (and the monitoring port over
    /// HTTP); nil: no authentication.
    var authenticator: Authenticator?
    /// How long a client may take to send its CONNECT when authentication is required, in ms.
    /// 2 s, as nats-server.
    public var authTimeoutMilliseconds = 2_000

    /// Requires every client to present `token` (`--auth`).
    public mutating func requireToken(_ token: String) { authenticator = Authenticator(credentials: .token(token)) }

    /// Requires every client to present this user and password (`--user`, `--pass`).
    public mutating func requireUser(_ name: String, password: String) {
        authenticator = Authenticator(credentials: .users([.init(name: name, password: password, permissions: nil)]))
    }

    /// Requires every client to present one of these users' name and password (a
    /// configuration file's `authorization { users = [...] }`), each with its permissions
    /// (nil: every right). A CONNECT without credentials is `noAuthUser` when that is set.
    /// A user without a password can only be proved by a TLS client certificate (`TLSSettings.mapsUsers`).
    /// `accounts` maps a user to its nats-server account (subjects are separate per account).
    /// `publicKeys` maps an NKEY user (named by its printed key) to its Ed25519 public key.
    public mutating func requireUsers(
        _ users: [(name: String, password: String?, permissions: Permissions?)], noAuthUser: String? = nil,
        accounts: [String: String] = [:], publicKeys: [String: [UInt8]] = [:]
    ) {
        authenticator = Authenticator(
            credentials: .users(users.map {
                .init(
                    name: $0.name, password: $0.password ?? "", permissions: $0.permissions, account: accounts[$0.name],
                    publicKey: publicKeys[$0.name])
            }),
            noAuthUser: noAuthUser)
        accountNames = Set(accounts.values).sorted()
    }

    /// nats-server's operator mode (`operator`, `resolver: MEMORY`, `resolver_preload`): clients
    /// log in with user JWTs issued by the accounts the operator vouches for, each account a
    /// subject space of its own. `jobRights`: what JWT users may do with jobs (nil: everything).
    public mutating func requireOperatorJWTs(operators: [String], preload: [(key: String, jwt: String)], jobRights: [JobRight: SubjectRule]?) throws {
        let trust = try OperatorTrust(operators: operators, preload: preload, verify: Authenticator.verifyNKeySignature)
        authenticator = Authenticator(credentials: .operatorMode(trust, jobRights: jobRights))
        accountNames = trust.accounts.keys.sorted()
    }

    /// The nats-server accounts the configuration names, each a subject space of its own.
    public private(set) var accountNames: [String] = []

    /// Whether clients must authenticate.
    public var requiresAuthentication: Bool { authenticator != nil }

    /// TLS on the client port (and the monitoring port); nil: plain TCP.
    public var tls: TLSSettings?

    /// A second client port for NATS over WebSocket (nats-server's `websocket { }`); nil: none.
    public var webSocket: WebSocketSettings?

    /// Least severe log level written.
    public var logLevel = LogLevel.info
    /// The file the log goes to (standard error is made to point at it); nil: standard error as
    /// it was given. SIGUSR1 opens it again, for log rotation.
    public var logFile: String?
    /// The file the process id is written to once the listeners are bound (nats-server's `-P`).
    public var pidFile: String?
    /// The directory a ports file (`<executable>_<pid>.ports`) is written to, as nats-server's
    /// `--ports_file_dir`.
    public var portsFileDirectory: String?

    public init() {}

    /// Replies that list jobs stop at about a payload's size (see `ReplyBudget`), so that one
    /// travels as a message through `$DOCKET.API` too.
    var replyBudget: ReplyBudget { ReplyBudget(bytes: maxPayload) }
    var parseLimits: ParseLimits { ParseLimits(maxControlLine: maxControlLine, maxPayload: maxPayload) }
}

/// nats-server's TLS settings (`--tls`, `--tlscert`, `--tlskey`, `--tlscacert`, `--tlsverify`, and
/// the configuration file's `tls { … }`).
public struct TLSSettings: Sendable, Equatable {
    public var certificateFile: String
    public var keyFile: String
    /// CA certificates that client certificates must chain to.
    public var caFile: String?
    /// Mutual TLS: every client must present a certificate that verifies against `caFile`.
    public var verifyClients = false
    /// TLS before INFO (nats-server's `handshake_first`), instead of INFO, then the upgrade.
    public var handshakeFirst = false
    /// How long a client may take to complete the TLS handshake, in ms.
    public var timeoutMilliseconds = 2_000
    /// nats-server's `verify_and_map`: a client is the user its verified certificate names
    /// (an email or DNS alternative name, or the subject), whatever its CONNECT says.
    public var mapsUsers = false
    /// nats-server's `allow_non_tls`: INFO offers TLS (`tls_available`) rather than requiring
    /// it, and a client that answers in plain text is served in plain text.
    public var allowsPlainText = false

    public init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}
