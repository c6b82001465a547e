import CLibevent
import DocketEngine
import DocketPasswords
import DocketSchedule
import DocketTLS
import DocketStore
import DocketWire
import Glibc

/// The docketd server: one libevent loop serving every connection.
///
/// Each loop pass runs the callbacks that became ready (reads append replies and messages to
/// output buffers), then `endOfPass` writes every touched connection once. Nothing blocks the
/// loop on a client: a socket that cannot take more gets a write event, and a client that
/// falls too far behind is cut off as a slow consumer.
public final class Server {
    /// Mutable only for a SIGHUP reload (`Server+Reload.swift`), on the loop thread.
    var config: ServerConfig
    /// Reads the configuration again (the command line, the environment and the file), for a
    /// SIGHUP reload; nil: nothing to reload from.
    public var configurationSource: (() throws -> ServerConfig)?
    /// What the process should exit with once `run` returns: 1 when the shutdown could not make
    /// everything durable (a last checkpoint or flush failed), so supervisors and scripts see it.
    public private(set) var exitStatus: Int32 = 0
    /// The pid file and ports file written at start, removed at a clean exit.
    private var processFiles = ProcessFiles()
    /// Counts reloads of the credentials: a login whose hash check spans one is judged again.
    var credentialsGeneration = 0
    var log: Log
    let loop: EventLoop
    /// The global account's subscriptions: everyone's, unless the configuration has accounts.
    var index: SubscriptionIndex { globalAccount.index }
    let globalAccount = Account(name: "$G")
    /// nats-server accounts by name: each its own subject space (the global one included).
    private(set) var accounts: [String: Account] = [:]
    /// Every account, the global one first: fixed at start, walked for each lifecycle event.
    private(set) var allAccounts: [Account] = []
    /// Routes by subject pattern; each entry's owner is its `Route`.
    let routeIndex = SubscriptionIndex()
    var routes: [UInt64: Route] = [:]
    var nextRouteID: UInt64 = 1
    /// Subscriptions that could match `$JOB.…` subjects; lifecycle events are built only while
    /// there are some.
    var lifecycleListeners = 0
    /// The operators' dashboard on the monitoring port, when there is one.
    var dashboard: Dashboard?
    var dashboardTimer: OpaquePointer?
    /// Work to do once the current batch is on disk (publishing what it made true).
    var afterCommit: [() -> Void] = []
    /// RESERVEs and WAITs made through the request/reply API, by waiter.
    var apiWaiters: [ObjectIdentifier: APIRequest] = [:]
    var apiWatches: [ObjectIdentifier: APIRequest] = [:]
    /// The answers of PURGEs and RETRY queue=<q>s the engine goes on with between passes (see
    /// `Purge`, `Revival`), by the engine's object.
    var slicedAnswers: [ObjectIdentifier: JobAnswer] = [:]
    /// Schedules by name, and those written (record) or removed (nil) since the last commit.
    var schedules = ScheduleBook()
    /// Schedule records to write with the next commit, by their key in the store's queue table
    /// (`schedule:<name>`, `schedule-tick:<name>`); nil deletes.
    var scheduleChanges: [(key: String, record: [UInt8]?)] = []
    var scheduleTimer: OpaquePointer?
    var armedScheduleDeadline: Int64?
    /// Where cron schedules' `tz=` zones are read from.
    let zones = ZoneRulesCache()
    /// Routes added (with their stored text) or removed (nil) since the last commit.
    var routeChanges: [(UInt64, [UInt8]?)] = []
    let serverID: String
    let limits: ParseLimits

    fileprivate var listener: Listener?
    /// Answers the monitoring port while the store opens and its jobs are recovered.
    private var startupResponder: StartupResponder?
    /// Where clients connect, as INFO says it (kept when the listener closes for lame duck mode).
    private(set) var advertisedHost = ""
    private(set) var advertisedPort = 0
    /// Where clients on other machines connect to this node, for other nodes' clients
    /// (`Advertisement.clientURLs`, worked out once the listener is bound).
    private(set) var advertisedClientURLs: [String] = []
    /// Certificates and rules of the client port's TLS, when it has TLS (made again at SIGHUP).
    var tlsContext: TLSContext?
    /// The WebSocket port (`Server+WebSocket.swift`), when configured, and its own TLS.
    var webSocketListener: Listener?
    var webSocketListenEvent: OpaquePointer?
    var webSocketTLSContext: TLSContext?
    /// What each TLS context's files held when it was made, by context (`Server+TLSContexts.swift`):
    /// a SIGHUP remakes only the contexts whose files changed.
    var tlsFilesMadeFrom: [String: [[UInt8]?]] = [:]
    /// Checks bcrypt password hashes off the loop, when any user has one.
    private(set) var passwordChecker: PasswordChecker?
    private var passwordCheckEvent: OpaquePointer?
    /// What to do with each password check's result, by check id.
    var pendingPasswordChecks: [UInt64: (Bool) -> Void] = [:]
    var nextPasswordCheckID: UInt64 = 1
    /// Passwords recently proved against their hash (see `settle`), until when.
    var verifiedPasswords: [Int: Int64] = [:]
    /// Refused logins and password checks are logged once per interval, with a count.
    var passwordRefusals = LogThrottle()
    var failedLogins = LogThrottle()
    /// The other refusals before a login, the same way (see `warnRefusedBeforeLogin`).
    var refusalsBeforeLogin: [RefusalBeforeLogin: LogThrottle] = [:]
    /// Connections closed for bytes that are no command, the same way: anyone who reaches the
    /// port can send junk on connection after connection, and 3000 of them in 5 s wrote 3000
    /// lines, 416 KB (a line each lets a stranger fill the log's disk).
    var parserErrors = LogThrottle()
    private var listenEvent: OpaquePointer?
    private var pingTimer: OpaquePointer?
    private var signalEvents: [OpaquePointer] = []
    private var graceTimer: OpaquePointer?
    private(set) var dataDirectory: DataDirectory?
    private(set) var monitoring: MonitoringServer?
    private(set) var acceptBackoff: AcceptBackoff?
    /// Sockets refused with a last word, kept open until their client has read it.
    private(set) var refusedSockets: RefusedSockets?
    /// Client messages the route protocol cannot carry (an invalid reply subject, a header
    /// block that is none), logged once per interval.
    var unroutableMessages = LogThrottle()
    /// What every subscription takes, as `subscriptionCharge` counts (`--max-subscription-memory`).
    var subscriptionMemory = 0
    /// SUBs refused for want of subscription memory, logged once per interval.
    var subscriptionMemoryRefusals = LogThrottle()
    /// Each listener's connections that have not logged in yet; bounded at start.
    private(set) var clientLogins = LoginWaitlist(limit: .max)
    private(set) var webSocketLogins = LoginWaitlist(limit: .max)
    private(set) var routeLogins = LoginWaitlist(limit: .max)
    /// When those connections must make room for others; set once every listener is open.
    private(set) var descriptorBudget = DescriptorBudget(limit: .max, reserve: 0, baseline: 0)
    private var commitEvent: OpaquePointer?
    /// Batches submitted to the store and not yet committed, oldest first. Each pass submits
    /// its own; the store commits them in order, those submitted during a flush together in the
    /// next, which starts the moment that flush ends (rather than after the loop has heard of it
    /// and sent more: a wake-up each way per commit). Past `maxCommitsInFlight` (a disk that
    /// stalls) a pass's changes gather with the next pass's instead.
    var commitsInFlight: [InFlightCommit] = []
    static let maxCommitsInFlight = 64
    var commitInFlight: Bool { !commitsInFlight.isEmpty }

    let clock = SystemClock()
    let engine: JobEngine
    /// The job backend when jobs live in PostgreSQL; nil: the in-memory engine over LMDB.
    private(set) var postgres: PostgresBackend?
    /// The nats-server cluster this node shares its messages with (`--cluster-nats`).
    var cluster: ClusterLink?
    /// Routes to the other docketd nodes of a cluster (`--cluster`, `--routes`), if any.
    var routeTable: RouteTable?
    /// During the last step of a shutdown: the sockets of closed connections, left open for the
    /// process's exit to close (`run`).
    private var socketsToCloseAtExit: [Int32]?
    /// Counts fan-outs, so that a route gets one copy of a message for its plain interest.
    var fanOutSerial: UInt64 = 0
    /// Set once `start` has opened the data directory.
    var store: JobStore { dataDirectory! }
    /// The batch of changes the current pass is making; replies held for it wait for its commit.
    var currentBatch: UInt64 = 1
    /// Connections with replies held for `currentBatch`.
    var awaitingCommit: [Connection] = []
    var jobTimer: OpaquePointer?
    var armedJobDeadline: Int64?
    /// Bytes ENQs of the current pass will add to the store (an estimate, for admission).
    var stagedBytes = 0
    /// The same estimate for the batches being committed, until the store reports their real
    /// use (the sum of `commitsInFlight`'s, kept as they come and go: admission reads it per ENQ).
    var committingBytes = 0
    /// The newest batch whose commit has completed.
    var committedBatch: UInt64 = 0
    /// Payloads of jobs created this pass (and in `commitsInFlight`, of the batches being
    /// committed): until its commit completes, a payload is only here. After it, only the store
    /// has it. Ids are handed out in order, so each list is sorted by id.
    var stagedPayloads: [(id: UInt64, bytes: [UInt8])] = []
    /// The next job id as the store has it. Recovery takes the larger of it and the newest
    /// stored job's id + 1, so it needs rewriting only when a batch deletes a job whose id is
    /// at or above it: until then every id at or above it is still stored.
    var storedNextID: UInt64 = 1
    /// Payloads to delete with the next commit that no job change asks for (see `recoverJobs`).
    var stalePayloads: [UInt64] = []
    /// Refused routed publishes are logged at most once per interval (see `LogThrottle`).
    var routeRefusalLog = LogThrottle()
    /// Payloads of completed jobs, deleted together once there are `payloadDeleteBatch` of
    /// them (or at shutdown; after a crash, recovery finds and deletes them).
    var completedPayloads: [UInt64] = []
    /// Jobs handed out since this start (see `nextDeliveryID`).
    var deliveriesThisStart: UInt64 = 0

    var connections: [UInt64: Connection] = [:]
    /// Clients whose sockets took less than they had to send, by id: the ones whose output
    /// waits, for `--max-pending-total`. They leave once they have caught up.
    var backlogged: [UInt64: Connection] = [:]
    /// Callers of `performDetached` so far (their ids come after every connection's).
    var detachedCallers: UInt64 = 0
    var nextConnectionID: UInt64 = 1
    /// Connections with output appended during this pass.
    var flushQueue: [Connection] = []
    /// Connections with input read but not yet run (their work came to `workPerTurn`,
    /// or compressed WebSocket bytes wait undecoded), to be read again in the next pass.
    var wakeNextPass: [Connection] = []
    /// Connections whose next ENQ waits for the checkpoints (`--max-checkpoint-backlog`), and
    /// the timer that looks at the backlog again while any do.
    var checkpointWaiters: [Connection] = []
    var checkpointWaitTimer: OpaquePointer?
    private(set) var shuttingDown = false
    /// In lame duck mode (SIGUSR2): no new clients, the current ones told to move and closed
    /// little by little, then the same shutdown as SIGTERM.
    var inLameDuckMode = false
    var lameDuckTimer: OpaquePointer?
    /// Clients closed per step, and ms between steps, once the closing has begun.
    var lameDuckPace: (batch: Int, interval: Int)?
    private var graceExpired = false

    /// Counters for the whole server.
    var stats = ServerStats()

    let startedAt = monotonicMilliseconds()

    public static let version = "0.1.0"
    /// The NATS protocol version announced in INFO; clients expect a 2.x server.
    static let natsCompatibleVersion = "2.9.0"
    /// INFO's `go`: nats-server's Go release there, the compiler docketd was built with here.
    static let runtimeVersion: String = {
        #if compiler(>=6.4)
        return "swift6.4+"
        #elseif compiler(>=6.3)
        return "swift6.3"
        #elseif compiler(>=6.2)
        return "swift6.2"
        #else
        return "swift6"
        #endif
    }()

    public init(config: ServerConfig) throws {
        self.config = config
        self.log = Log(level: config.logLevel)
        self.loop = try EventLoop()
        self.limits = config.parseLimits
        self.serverID = Self.makeServerID()
        var defaults = QueueDefaults()
        defaults.keepCompleted = config.keepCompleted
        defaults.keepDead = config.keepDead
        self.engine = JobEngine(clock: clock, defaults: defaults)
        accounts[globalAccount.name] = globalAccount
        for name in config.accountNames where accounts[name] == nil { accounts[name] = Account(name: name) }
        allAccounts = [globalAccount] + accounts.values.filter { $0 !== globalAccount }.sorted { $0.name < $1.name }
    }

    /// The account a principal's connection publishes and subscribes in.
    func account(of principal: Principal?) -> Account {
        principal?.account.flatMap { accounts[$0] } ?? globalAccount
    }

    /// Subscriptions over every account.
    var subscriptionCount: Int { allAccounts.reduce(0) { $0 + $1.index.count } }

    /// The port clients connect to, once `start` has bound it.
    public var boundPort: Int? { listener?.boundPort }
    /// The WebSocket port, once `start` has bound it.
    public var boundWebSocketPort: Int? { webSocketListener?.boundPort }

    /// Opens storage, binds the port and installs signal handlers.
    public func start() throws {
        // A supervisor (or a test harness) may start us with signals blocked; unblock the ones
        // we act on, or shutdown and lame duck requests would never arrive.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGUSR2)
        sigaddset(&signals, SIGUSR1)
        sigaddset(&signals, SIGHUP)
        sigprocmask(SIG_UNBLOCK, &signals, nil)
        // Writes go straight to sockets; a peer that vanished must give EPIPE, not kill us.
        signal(SIGPIPE, SIG_IGN)
        // A file-size limit reached must fail the write (EFBIG) and be reported, not kill us.
        signal(SIGXFSZ, SIG_IGN)

        log.info("Starting docketd version \(Self.version)")
        log.info("Server id is \(serverID)")
        // Read before the contexts are made: a file replaced in between is then seen as changed.
        rememberTLSFiles()
        if let tls = config.tls { tlsContext = try Self.tlsContext(tls, for: "TLS") }
        for key in [config.tls?.keyFile, config.routeTLS?.keyFile, config.clusterTLS?.keyFile].compactMap({ $0 }) {
            if let warning = Self.exposedKeyWarning(key) { log.warn(warning) }
        }
        try startPasswordCheckerIfNeeded()
        if let advertise = config.clientAdvertise, Advertisement.parse(advertise, defaultPort: 1) == nil {
            throw ServerError("--client-advertise must be host[:port], not \(advertise)")
        }
        // First, as the monitoring port's share of descriptors depends on it.
        if let (from, to) = AcceptBackoff.raiseDescriptorLimit() {
            log.info("Raised the open file limit from \(from) to \(to)")
        }

        // Every port is bound before the store opens: a port another process holds stops the
        // start now, not after a recovery that takes seconds (or after PostgreSQL answers).
        // Nothing is accepted until the server is ready: clients wait in the listen backlog,
        // and the monitoring port answers 503 "recovering" meanwhile.
        let listener = try Listener(host: config.host, port: config.port)
        self.listener = listener
        let host = listener.boundHost.contains(":") ? "[\(listener.boundHost)]" : listener.boundHost
        log.info("Listening for client connections on \(host):\(listener.boundPort)")
        let webSocketListener = try bindWebSocket()
        let monitoringPort = try config.httpPort.map { (listener: try MonitoringServer.bind(host: config.host, port: $0), limits: monitoringLimits()) }
        if let monitoringPort {
            log.info("Listening for monitoring connections on \(tlsContext == nil ? "http" : "https")://\(host):\(monitoringPort.listener.boundPort)")
        }
        let routeListener = try bindRoutes()
        if let monitoringPort {
            startupResponder = try StartupResponder(
                listenFD: monitoringPort.listener.fd, limits: monitoringPort.limits, isTLSPort: tlsContext != nil,
                progress: .init(countsJobs: config.postgresStore == nil))
        }
        do {
            try openStore()
        } catch {
            stopStartupResponder()
            throw error
        }
        stopStartupResponder()

        try startCluster()

        scheduleTimer = loop.makeEvent(fd: -1, flags: 0, context: self, callback: scheduleTimerCallback)
        armScheduleTimer()
        let backoff = AcceptBackoff(loop: loop, log: log)
        acceptBackoff = backoff
        let waiting = config.maxConnecting
        (clientLogins, webSocketLogins, routeLogins) = (LoginWaitlist(limit: waiting), LoginWaitlist(limit: waiting), LoginWaitlist(limit: waiting))
        refusedSockets = RefusedSockets(
            loop: loop,
            limits: .init(
                milliseconds: config.refusalLingerMilliseconds, maxBytes: config.refusalDrainBytes,
                maxSockets: descriptorShare(config.maxRefusalsLingering, "--max-refusals-lingering", per: "server", parts: 8)))
        advertisedHost = listener.boundHost
        advertisedPort = listener.boundPort
        advertisedClientURLs = Advertisement.clientURLs(boundHost: listener.boundHost, port: listener.boundPort, advertise: config.clientAdvertise) {
            ProcessFiles.interfaceAddresses(family: $0, loopback: false)
        }
        let event = loop.makeEvent(
            fd: listener.fd, flags: EventLoop.read | EventLoop.persist, context: self, callback: acceptCallback)
        EventLoop.add(event)
        listenEvent = event
        backoff.register(event)

        let timer = loop.makeEvent(fd: -1, flags: EventLoop.persist, context: self, callback: pingCallback)
        EventLoop.add(timer, timeoutMilliseconds: config.pingIntervalMilliseconds)
        pingTimer = timer

        for signo in [SIGTERM, SIGINT, SIGUSR2, SIGUSR1, SIGHUP] {
            let event = loop.makeEvent(
                fd: signo, flags: EventLoop.signal | EventLoop.persist, context: self, callback: signalCallback)
            EventLoop.add(event)
            signalEvents.append(event)
        }
        if let webSocketListener { startWebSocket(webSocketListener) }
        if let monitoringPort {
            let server = startMonitoring(listener: monitoringPort.listener, limits: monitoringPort.limits)
            monitoring = server
            startDashboard(on: server)
        }
        try startRoutes(routeListener)
        // Every listener is open and no peer has connected: what is open now (the store, the
        // listeners, the loop, the cluster's and the store's connections) stays open.
        descriptorBudget = DescriptorBudget(
            limit: AcceptBackoff.descriptorLimit() ?? .max,
            reserve: descriptorShare(config.descriptorReserve, "--descriptor-reserve", per: "server", parts: 8),
            baseline: max(0, (DescriptorBudget.countOpen() ?? 0) - socketsHeld))
        try writeProcessFiles()
        log.info("Server is ready")
        SystemdNotifier.notify("READY=1\nSTATUS=serving clients on \(config.host):\(listener.boundPort)")
    }

    /// Opens the job store: PostgreSQL, or the data directory with every job recovered from it.
    private func openStore() throws {
        if let conninfo = config.postgresStore {
            let backend = PostgresBackend(server: self, conninfo: conninfo, log: log)
            postgres = backend
            try backend.start()
            log.info("Jobs are kept in PostgreSQL (schema docket); no data directory is used")
        } else {
            try openDataDirectory()
        }
    }

    /// Hands the monitoring port from the thread that answered it during the start to the loop.
    private func stopStartupResponder() {
        startupResponder?.stop()
        startupResponder = nil
    }

    /// Opens the data directory and rebuilds the job engine from it; commits run on their own
    /// thread from here on.
    private func openDataDirectory() throws {
        let started = monotonicMilliseconds()
        StoreFaultGuard.install(dataDirectory: config.dataDirectory)
        let directory = try DataDirectory(
            path: config.dataDirectory, mapSize: config.maxStoreBytes, syncMode: config.syncMode, salvage: config.salvage)
        dataDirectory = directory
        let backgroundLog = log
        directory.backgroundFailure = { error in
            backgroundLog.error("Store: \(error). The next change stops docketd; what was acknowledged is safe in the log or was flushed before")
        }
        for line in directory.openNotes { log.info(line.prefix(1).uppercased() + line.dropFirst()) }
        for line in directory.recoveryNotes { log.error("Recovery: \(line)") }
        try recoverJobs(from: directory, started: started)
        StoreFaultGuard.startupDone()
        // With --sync always, an fsync no longer stops the loop from here on: commits run on
        // their own thread and their completions come back through this event. With --sync
        // none a commit is a write of the log into the page cache, cheaper than handing it to a
        // thread and hearing back (BENCHMARKS.md: a quarter less CPU per job), so the loop
        // commits itself (the completions only release replies and publish events: nothing is
        // left for a later pass), and a thread of the store's checkpoints.
        if config.syncMode == .always {
            try directory.startBackgroundCommits()
            let commits = loop.makeEvent(
                fd: directory.completionDescriptor, flags: EventLoop.read | EventLoop.persist, context: self,
                callback: commitsCallback)
            EventLoop.add(commits)
            commitEvent = commits
        }
        jobTimer = loop.makeEvent(fd: -1, flags: 0, context: self, callback: jobTimerCallback)
        armJobTimer()
        if config.syncMode == .none { try directory.startCheckpoints() }
    }

    /// Serves until SIGTERM or SIGINT, then shuts down cleanly.
    /// Serves until a shutdown has finished. It returns with the clients' sockets still open: the
    /// caller ends the process at once (`exit`), and the kernel closes them as it does. A client
    /// that sees its connection end then finds the process gone, not still tearing down (nats-core's
    /// cluster test reconnected within that teardown, before its harness saw the process stop, and
    /// missed the reconnect it waited for).
    public func run() {
        clock.sharesReadingsWithinPass = true
        defer { clock.sharesReadingsWithinPass = false }
        while true {
            loop.runOnce()
            endOfPass()
            if shuttingDown && (graceExpired || (!commitInFlight && awaitingCommit.isEmpty && connections.values.allSatisfy { $0.output.isEmpty && $0.webSocket?.wire.isEmpty != false })) {
                break
            }
        }
        finishShutdown()
    }

    /// How often, in jobs, a recovery tells systemd how far it is (a power of two, a multiple of
    /// `StartupResponder.progressStride`): a few lines a second.
    static let statusStride = 1 << 18

    /// Rebuilds the job engine from the store and makes what recovery changed durable.
    private func recoverJobs(from directory: DataDirectory, started: Int) throws {
        var recovered = 0
        // Settings first: rebuilding a queue's rate window needs its rate as its jobs come back.
        var queueConfigs: [(String, QueueConfig)] = []
        var queueHolds: [(String, QueueHolds)] = []
        var queueTotals: [(String, QueueTotals)] = []
        var lastTicks: [String: Int64] = [:]
        for (name, bytes) in try directory.loadQueueRecords() {
            if name.hasPrefix(Self.scheduleRecordPrefix) {
                try restoreSchedule(named: String(name.dropFirst(Self.scheduleRecordPrefix.count)), record: bytes)
                continue
            }
            if name.hasPrefix(Self.scheduleTickPrefix) {
                guard let tick = Self.decodeTick(bytes) else { throw ServerError("\(name) in \(config.dataDirectory) cannot be decoded") }
                lastTicks[String(name.dropFirst(Self.scheduleTickPrefix.count))] = tick
                continue
            }
            guard let (config, holds, totals) = QueueConfigCodec.decodeRecord(bytes) else {
                throw ServerError("settings of queue \(name) in \(config.dataDirectory) cannot be decoded")
            }
            queueConfigs.append((name, config))
            queueHolds.append((name, holds))
            if let totals { queueTotals.append((name, totals)) }
        }
        for (name, tick) in lastTicks {
            guard let entry = schedules[name] else { continue }
            entry.lastTick = max(entry.lastTick, tick)
        }
        engine.restoreSettings(queueConfigs)
        let progress = startupResponder?.progress
        let stride = StartupResponder.progressStride
        SystemdNotifier.notify("STATUS=recovering jobs from \(config.dataDirectory)")
        let stored = try directory.load { record in
            // A local, filled in place: a captured one is copied whole for every call it is passed to.
            var decoded = StoredJobFields()
            guard JobCodec.decode(record.record, into: &decoded) else {
                // Its checksum held, so it is a record, but not a job's: a damaged page led the
                // walk into another database.
                throw ServerError(
                    "job \(record.id) in \(config.dataDirectory)/data.mdb cannot be decoded: the file is damaged. Restore the data directory from a backup")
            }
            // A payload that fails its checksum: a completed job's is only waiting to be deleted
            // (below); any other job's cannot run. (--salvage has dropped such payloads already.)
            if record.payloadDamaged && decoded.state != .completed {
                throw ServerError(DataDirectory.damagedPayloadMessage(config.dataDirectory, job: record.id))
            }
            // Completed jobs give their payload up; every other job must still have it.
            if record.payloadSize == nil && decoded.state != .completed {
                guard config.salvage else {
                    throw ServerError(
                        "job \(record.id) in \(config.dataDirectory) has no payload: its data.mdb is damaged. Restore the directory from a backup; only without one, start once with --salvage to mark every such job dead")
                }
                // Its payload went with a dropped batch or a damaged data.mdb: it cannot run.
                // It is stored with an empty payload, so that the directory starts from now on
                // without --salvage, and a RETRY runs it with nothing rather than ends docketd.
                log.error("Salvage: job \(record.id) lost its payload; it is dead")
                var fields = decoded
                fields.state = .dead
                fields.lastError = Array("salvaged: the payload was lost (a damaged write-ahead log or data.mdb); RETRY runs it with an empty payload".utf8)
                fields.finishedAt = clock.now()
                fields.payloadSize = 0
                stagedPayloads.append((record.id, []))  // the walk goes in id order: still sorted
                engine.restoreJob(id: record.id, fields, payloadSize: 0, rewritten: true)
                recovered += 1
                return
            }
            engine.restoreJob(id: record.id, decoded, payloadSize: decoded.payloadSize ?? record.payloadSize ?? 0)
            // Completed jobs written by docketd 0.1 kept their payload: give it up now.
            if decoded.state == .completed && record.payloadSize != nil { stalePayloads.append(record.id) }
            recovered += 1
            if recovered & (stride - 1) == 0 {
                progress?.record(jobsRead: recovered)
                if recovered & (Self.statusStride - 1) == 0 { SystemdNotifier.notify("STATUS=recovering jobs: \(recovered) read") }
            }
        }
        engine.finishRestore(nextID: stored.nextID, queueConfigs: queueConfigs)
        storedNextID = stored.nextID
        nextRouteID = max(nextRouteID, stored.nextRouteID)
        for (name, config) in queueConfigs {
            var copy = name
            copy.withUTF8 { engine.setConfig(config, of: UnsafeRawBufferPointer($0), forgetting: false) }
        }
        // Restoring the settings marked every queue changed; their records are as stored, so
        // they are not written again. What finishing the recovery changes is: the failed
        // attempts and deaths of jobs that were running when the last process ended go to disk
        // with those jobs' new states, or the next start would have the jobs without the counts.
        _ = engine.takeQueueChanges()
        engine.finishRecovery(holds: queueHolds, totals: queueTotals)
        for (id, record) in stored.routes {
            let (owner, text) = Route.decode(record)
            let parsed = text.withUnsafeBytes { JobCommand.parse(.route, $0, 0..<$0.count) }
            guard case .success(.route(let pattern, let queue, let options, let range)) = parsed else {
                throw ServerError("route \(id) in \(config.dataDirectory) cannot be parsed")
            }
            install(Route(
                id: id, pattern: Array(text[pattern]), queue: Array(text[queue]), options: options,
                group: options.group.map { Array(text[$0]) }, text: Array(text[range]), owner: owner))
        }
        // From the queues' counts: a walk over every job touched a million objects for a log line.
        var states = [Int](repeating: 0, count: Int(JobState.blocked.rawValue) + 1)
        for queue in engine.queueList {
            for index in states.indices where index < queue.counts.count { states[index] += queue.counts[index] }
        }
        let summary = [JobState.waiting, .delayed, .blocked, .completed, .dead].map { "\(states[Int($0.rawValue)]) \($0.name)" }.joined(separator: ", ")
        log.info("Recovered \(recovered) jobs and \(stored.routes.count) routes from \(config.dataDirectory) in \(monotonicMilliseconds() - started) ms (\(summary); layout version \(DataDirectory.layoutVersion), sync \(config.syncMode.rawValue))")
        commitChanges()
    }

    /// Work done once per loop pass, after every callback of the pass has run: waiting
    /// RESERVEs are resolved, the pass's changes are committed in one transaction (releasing
    /// the replies that waited for it), every touched connection is written once, and the job
    /// timer is set for the next deadline.
    func endOfPass() {
        // The pass's work is done: what follows (commit, timers) reads the time anew, and so
        // does the next pass.
        clock.passEnded()
        defer { clock.passEnded() }
        if let postgres {
            postgres.endOfPass()
            // Nothing local is durable: replies queued behind a deferred one only keep their
            // place, and may go as soon as it does.
            if !awaitingCommit.isEmpty {
                committedBatch = currentBatch
                currentBatch += 1
                let waiting = awaitingCommit
                awaitingCommit.removeAll(keepingCapacity: true)
                for connection in waiting { releaseHeldReplies(connection) }
            }
        } else {
            handleEngineEvents()
            commitChanges()
            armJobTimer()
        }
        cluster?.flush()
        monitoring?.passEnded()
        if !wakeNextPass.isEmpty {
            // Activated now, after the pass, not from their callbacks: libevent would run them
            // again within the same pass, and nothing would be flushed until they were done.
            for connection in wakeNextPass where !connection.isClosed && connection.closeReason == nil && !shuttingDown {
                if let event = connection.readEvent { EventLoop.activate(event, EventLoop.read) }
            }
            wakeNextPass.removeAll(keepingCapacity: true)
        }
        if !flushQueue.isEmpty {
            let queue = flushQueue
            flushQueue.removeAll(keepingCapacity: true)
            for connection in queue {
                connection.isQueuedForFlush = false
                if !connection.isClosed { flush(connection) }
            }
        }
        if !backlogged.isEmpty { boundOutputWaiting() }
    }

    /// Cuts off the clients with the most output waiting, as slow consumers, while all of it
    /// together is past `--max-pending-total`. `--max-pending` bounds one client; without this,
    /// one publisher's firehose to clients that never read held `--max-pending` for each of
    /// them (20 such subscribers: 1.3 GiB), and enough of them would take all memory. Checked
    /// once a pass over the clients whose sockets are full, so it costs nothing while every
    /// client keeps up; within a pass output grows by a read's worth per subscriber at most.
    private func boundOutputWaiting() {
        var total = 0
        for (id, connection) in backlogged {
            guard !connection.isClosed, connection.isWaitingToWrite else {
                backlogged[id] = nil
                continue
            }
            total += connection.pendingBytes
        }
        guard total > config.maxPendingTotal else { return }
        for connection in backlogged.values.sorted(by: { $0.pendingBytes > $1.pendingBytes }) {
            guard total > config.maxPendingTotal else { break }
            let pending = connection.pendingBytes
            total -= pending
            slowConsumer(connection, reason: "the most output waiting (\(pending) bytes) while all clients' together passed \(config.maxPendingTotal) bytes (--max-pending-total)")
        }
    }

    // MARK: Accepting

    /// Connections one listener takes in one loop pass; the rest wait in its backlog for the
    /// next pass. Taken all at once, a burst (a flood, or a herd of clients reconnecting
    /// together) holds the loop while every logged-in client waits, and none of the burst can
    /// log in until it has all been taken: between passes the ones taken are read.
    static let acceptsPerPass = 64

    /// Takes the connections waiting on `listener`: the client port's, or the WebSocket port's
    /// (`webSocket` its settings), at most `acceptsPerPass` of them.
    func acceptReady(on listener: Listener, webSocket: WebSocketSettings?) {
        for _ in 0..<Self.acceptsPerPass {
            let fd: Int32
            switch listener.acceptOne() {
            case .none: return
            case .outOfDescriptors:
                acceptBackoff?.outOfDescriptors(listener: listener, refusal: refusal(clientIP: nil))
                return
            case .accepted(let accepted): fd = accepted
            }
            let (host, port) = Listener.address(of: fd, peer: true) ?? ("?", 0)
            if connections.count >= config.maxConnections {
                if webSocket != nil {
                    refuseWebSocket(fd)
                } else {
                    let line = refusal(clientIP: host)
                    _ = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                }
                // Its CONNECT may be on the way: closed now, the client would get a reset, not the error.
                lingerOrClose(fd)
                stats.refusedConnections += 1
                warnRefusedBeforeLogin(.maximumConnections, "\(host):\(port) - Refused connection: maximum connections (\(config.maxConnections)) reached")
                continue
            }
            // The same timing as the pings, which a connection blocked in RESERVE or WAIT does
            // not get (it reads nothing until served): silent for a ping interval, probed each
            // interval after, gone after as many unanswered probes as pings.
            let pingSeconds = (config.pingIntervalMilliseconds + 999) / 1000
            Listener.keepAlive(fd, idleSeconds: pingSeconds, intervalSeconds: pingSeconds, probes: config.maxPingsOutstanding)
            let connection = Connection(
                server: self, id: nextConnectionID, fd: fd, remoteHost: host, remotePort: port, now: monotonicMilliseconds())
            nextConnectionID += 1
            connections[connection.id] = connection
            waitToLogIn(connection, on: webSocket == nil ? clientLogins : webSocketLogins)
            stats.totalConnections += 1
            if config.authenticator != nil {
                connection.isAuthenticated = false
                let timer = loop.makeEvent(fd: -1, flags: 0, context: connection, callback: authTimerCallback)
                EventLoop.add(timer, timeoutMilliseconds: config.authTimeoutMilliseconds)
                connection.authTimer = timer
            }
            let readEvent = loop.makeEvent(
                fd: fd, flags: EventLoop.read | EventLoop.persist, context: connection, callback: connectionCallback)
            connection.readEvent = readEvent
            connection.writeEvent = loop.makeEvent(
                fd: fd, flags: EventLoop.write | EventLoop.persist, context: connection, callback: connectionCallback)
            EventLoop.add(readEvent)
            log.debug("\(connection.label) - \(webSocket == nil ? "Client" : "WebSocket client") connection created")
            if let webSocket {
                startWebSocket(connection, webSocket)
                continue
            }
            if let tlsContext, let tls = config.tls {
                guard startTLS(connection, tlsContext, tls) else { continue }
                // Handshake first: INFO goes out over TLS once the handshake is done.
                if tls.handshakeFirst { continue }
            }
            sendInfo(connection)
        }
    }

    /// Reads and writes of `connection` go through the loop (a client's or a route's).
    func registerEvents(_ connection: Connection) {
        let readEvent = loop.makeEvent(fd: connection.fd, flags: EventLoop.read | EventLoop.persist, context: connection, callback: connectionCallback)
        connection.readEvent = readEvent
        connection.writeEvent = loop.makeEvent(
            fd: connection.fd, flags: EventLoop.write | EventLoop.persist, context: connection, callback: connectionCallback)
        EventLoop.add(readEvent)
    }

    /// Ends `connection` unless it logs in within the auth timeout.
    func armAuthenticationTimer(_ connection: Connection) {
        let timer = loop.makeEvent(fd: -1, flags: 0, context: connection, callback: authTimerCallback)
        EventLoop.add(timer, timeoutMilliseconds: config.authTimeoutMilliseconds)
        connection.authTimer = timer
    }

    /// The thread that checks bcrypt hashes, once the credentials have one (at start, or after
    /// a reload brought the first).
    func startPasswordCheckerIfNeeded() throws {
        guard needsPasswordChecker, passwordChecker == nil else { return }
        let checker = try PasswordChecker()
        let event = loop.makeEvent(
            fd: checker.readDescriptor, flags: EventLoop.read | EventLoop.persist, context: self, callback: passwordChecksCallback)
        EventLoop.add(event)
        passwordChecker = checker
        passwordCheckEvent = event
    }

    func sendInfo(_ connection: Connection) {
        if config.authenticator?.asksForNonce == true { connection.nonce = Self.makeNonce() }
        connection.clusterURLsSeen = routeTable?.clientURLsVersion ?? 0
        connection.output.append("INFO ")
        connection.output.append(string: infoJSON(for: connection))
        connection.output.append("\r\n")
        queueFlush(connection)
    }

    func infoJSON(for connection: Connection, lameDuck: Bool = false) -> String {
        var info = JSONObjectWriter()
        // Over WebSocket, TLS (if any) is below the framing and done: a client told that TLS is
        // required would try to start it inside.
        addIdentity(to: &info, tellsTLS: connection.webSocket == nil)
        info.add("client_id", Int(connection.id))
        info.add("client_ip", connection.remoteHost)
        if let nonce = connection.nonce, !connection.isAuthenticated { info.add("nonce", String(decoding: nonce, as: UTF8.self)) }
        if lameDuck { info.add("ldm", true) }
        if routeTable != nil {
            // As nats-server: once there are other nodes, this one's address first, then theirs.
            let urls = config.noAdvertise ? [] : clusterClientURLs
            if !urls.isEmpty { info.add("connect_urls", json: Self.jsonArray(ownClientURLs + urls)) }
            if !config.clusterName.isEmpty { info.add("cluster", config.clusterName) }
        }
        return info.result
    }

    /// What a client the server cannot take gets, as from nats-server: INFO, so that its
    /// handshake gets as far as reading why (clients that find anything else first report a
    /// missing INFO, not the limit), then `-ERR 'maximum connections exceeded'`; the close follows.
    /// `clientIP` is nil when it is not known (a connection taken on the reserve descriptor).
    func refusal(clientIP: String?) -> [UInt8] {
        var info = JSONObjectWriter()
        addIdentity(to: &info)
        if let clientIP {
            info.add("client_id", Int(nextConnectionID))
            info.add("client_ip", clientIP)
            nextConnectionID += 1
        }
        return Array("INFO \(info.result)\r\n".utf8) + ProtocolError(.maxConnections).line
    }

    /// What the server tells anyone who connects: who it is, where it listens, its limits, and
    /// what it requires (INFO, and `/varz` for readers without rights).
    func addIdentity(to info: inout JSONObjectWriter, tellsTLS: Bool = true) {
        info.add("server_id", serverID)
        info.add("server_name", config.serverName.isEmpty ? serverID : config.serverName)
        info.add("version", Self.natsCompatibleVersion)
        info.add("docket_version", Self.version)
        info.add("go", Self.runtimeVersion)
        info.add("proto", 1)
        info.add("host", advertisedHost.isEmpty ? config.host : advertisedHost)
        info.add("port", advertisedHost.isEmpty ? config.port : advertisedPort)
        info.add("headers", true)
        info.add("max_payload", config.maxPayload)
        if config.authenticator != nil { info.add("auth_required", true) }
        if let tls = config.tls, tellsTLS {
            info.add(tls.allowsPlainText ? "tls_available" : "tls_required", true)
            if tls.verifyClients { info.add("tls_verify", true) }
        }
    }

    // MARK: Reading

    fileprivate func connectionEvent(_ connection: Connection, _ what: Int16) {
        let events = Int32(what)
        if events & EventLoop.timeout != 0 {
            // Only the write event has a timeout: the socket took nothing for a whole deadline.
            slowConsumer(connection, reason: "write deadline of \(config.writeDeadlineMilliseconds) ms exceeded")
            return
        }
        if let tls = connection.tls, !tls.isEstablished { return advanceHandshake(connection) }
        if events & EventLoop.write != 0 { flush(connection) }
        if events & EventLoop.read != 0 && !connection.isClosed { readReady(connection) }
    }

    func readReady(_ connection: Connection) {
        connection.workThisTurn = 0
        if connection.hasDeferredCommands {
            // Commands read in an earlier pass come first; the socket waits until they are run.
            connection.hasDeferredCommands = false
            process(connection)
            if connection.hasDeferredCommands || connection.isClosed || connection.closeReason != nil { return }
        }
        // Read until the socket is empty, but at most a few buffers per wake-up so that one
        // firehose client cannot starve the others of loop passes.
        reading: for _ in 0..<8 {
            let space = connection.input.writableSpace(atLeast: 16 << 10)
            switch transportRead(connection, into: space) {
            case .bytes(let count):
                connection.input.commitWrite(count)
                stats.bytesIn += count
                process(connection)
                if connection.isClosed || connection.closeReason != nil || connection.hasDeferredCommands { break reading }
                if connection.isBlocked && connection.input.readableCount > limits.maxCommandSize {
                    // It is waiting for a job and sending more than one command's worth:
                    // stop reading until it is served. (Before the short read's stop: a
                    // compressing WebSocket's reads all look short, and it is the one whose
                    // few bytes can inflate past the bound.)
                    if let event = connection.readEvent { EventLoop.remove(event) }
                    connection.isReadPaused = true
                    break reading
                }
                // A short plain read emptied the socket; TLS reads a record at a time.
                if count < space.count && connection.tls == nil { break reading }
            case .end:
                // The client will send nothing more (it may have only half-closed): what it is
                // owed still goes out before the close.
                endAfterOwedReplies(connection, reason: "Client Closed")
                return
            case .wouldBlock:
                break reading
            case .failed(let why):
                close(connection, reason: "Read Error: \(why)")
                return
            }
        }
        if !connection.isClosed, !connection.isReadPaused, connection.closeReason == nil, !connection.hasDeferredCommands,
            let tls = connection.tls, tls.bufferedBytes > 0, let event = connection.readEvent
        {
            // Decrypted bytes are waiting inside OpenSSL, where the socket cannot announce them.
            EventLoop.activate(event, EventLoop.read)
        }
        if connection.webSocket?.undecoded.isEmpty == false, !connection.isClosed, !connection.isReadPaused,
            connection.closeReason == nil
        {
            // Compressed frames read but left undecoded (their data passed the input's bound):
            // the socket may have nothing new to announce, so the next pass reads it again.
            wakeNextPass.append(connection)
        }
        if !connection.isClosed && connection.input.isEmpty {
            // Give back the memory of a burst (a large payload) once it is handled.
            connection.input.shrink(to: 64 << 10)
        }
    }

    /// Whether `bytes` may still turn out to be a CONNECT (after blank lines or blanks, as the
    /// parser skips them): false once a byte differs from `CONNECT`, in any case.
    static func mayBeConnect(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let word = Array("CONNECT".utf8)
        var matched = 0
        for byte in bytes {
            if matched == 0 && (byte == Byte.cr || byte == 0x0A || byte == 0x20 || byte == 0x09) { continue }
            if matched == word.count { return byte == 0x20 || byte == 0x09 }
            guard byte & 0xDF == word[matched] else { return false }
            matched += 1
        }
        return true
    }

    /// The work one connection's commands may do in one turn (a wake-up of its socket) before
    /// the rest of its input waits for the next pass, after every other client's turn and the
    /// pass's writes. Units are weighed by cost (see `units(of:)`): a message delivered, a KiB
    /// of messages delivered, a node its messages' subject matches walked through wildcards,
    /// `replyBytesPerUnit` of the replies its job commands and
    /// `$DOCKET.API` requests made (and of those requests' header blocks, scanned for
    /// `Docket-Options`), or as many bytes of a CONNECT's JSON is one; a command is
    /// one if it only publishes or pings and `stateCommandUnits` if it changes or reads the
    /// server's state. A route peer's lines take turns the same way (`processRoute`). A wake-up reads up to 8 buffers of 64 KiB: of SUB/UNSUB pairs that was
    /// about 50,000 changes of the subscription index, 20-45 ms at the median that another
    /// client's PING waited (over 100 ms at worst). A change costs about 2 µs here, so a turn of
    /// 1,024 of them is a millisecond or two; a PUB to one subscriber costs a tenth of that,
    /// and a turn holds 4,096 of them. Counted alike (a budget of 1,024 with every command and
    /// message one unit), a pipelined publisher got a turn of 500 PUBs, and the extra passes
    /// cost fan-out and queue groups 8-14% of their throughput.
    static let workPerTurn = 8192

    /// Deadlines the job timer handles in one loop pass (delayed jobs coming due, leases
    /// ending, waiters timing out, the jobs of a worker that closed): as many as the
    /// state-changing commands of one client's turn, 1-2 ms. A million jobs delayed to the same
    /// millisecond took 1.5 s in one pass, a million leases ending 2 s, a worker closing with a
    /// million jobs held 10 s.
    static let deadlinesPerTurn = workPerTurn / stateCommandUnits

    /// What a command that changes or reads the server's state (SUB, UNSUB, CONNECT, a job
    /// command, HELP; a route's RS+, RS-, INFO) counts for, against a PUB's or a PING's one unit.
    static let stateCommandUnits = 8

    /// Reply bytes that count as a unit of work: replies are documents and payloads built on the
    /// loop, LIST's JSON at about 65 MB/s here, so 16 bytes cost an eighth of what a
    /// subscription change does. A turn then holds 128 KiB of them; a larger reply (QUEUES with
    /// thousands of queues, a RESERVE of a 1 MiB payload) ends its turn at once. With only a
    /// 1 MiB bound on replies, LIST/INSPECT/STATS pipelined by one client held every other
    /// client's PING for 20 ms at the median; before any bound, 16 KiB of QUEUES with 2000
    /// queues held them 9 s.
    static let replyBytesPerUnit = 16

    /// What running `op` counts for against `workPerTurn`, before what it delivered or replied.
    /// A CONNECT's JSON counts by its bytes as replies do: its fields are parsed at about
    /// 64 MB/s here (62 µs for one of 4 KB), as fast as replies are built. Counted as one
    /// command, a pipelined flood of 4 KB CONNECTs ran 128 of them (8 ms) per wake-up while
    /// every other client's PING waited.
    static func units(of op: ClientOp) -> Int {
        switch op {
        case .pub, .hpub, .ping, .pong: return 1
        case .connect(let json): return stateCommandUnits + json.count / replyBytesPerUnit
        case .sub, .unsub, .help, .job: return stateCommandUnits
        }
    }

    /// Parses and runs every complete command in the connection's input, until a RESERVE
    /// has to wait, or its commands pass `workPerTurn`.
    func process(_ connection: Connection) {
        if connection.route != nil { return processRoute(connection) }
        let bytes = connection.input.readableBytes
        if connection.isBlocked, !endWait(connection, bytes, at: 0) { return }
        var position = 0
        let tracing = log.level <= .trace
        // What was queued for the client before this pass's first job command (nil: none yet).
        var pendingBeforeJobs: Int? = nil
        // Reply bytes of its job commands so far, and the units of work they and its API
        // answers were counted as.
        var jobReplyBytes = 0
        var replyUnitsCounted = 0
        connection.apiWorkBytes = 0
        parsing: while !connection.isBlocked || endWait(connection, bytes, at: position) {
            if !connection.isAuthenticated, !Self.mayBeConnect(UnsafeRawBufferPointer(rebasing: bytes[position...])) {
                // Refused at its first bytes, not once a whole command (up to max_payload) is
                // in: an unauthenticated client must not make the server hold a megabyte.
                warnRefusedBeforeLogin(.commandBeforeConnect, "\(connection.label) - Authorization Violation: a command before CONNECT")
                return protocolError(connection, ProtocolError(.authorizationViolation))
            }
            switch ClientParser.parse(bytes, from: position, limits: limits) {
            case .op(let op, let next):
                if !connection.isAuthenticated {
                    // As nats-server: with credentials required, the first command must be a
                    // CONNECT that proves them; anything else ends the connection.
                    guard case .connect = op else {
                        warnRefusedBeforeLogin(.commandBeforeConnect, "\(connection.label) - Authorization Violation: a command before CONNECT")
                        return protocolError(connection, ProtocolError(.authorizationViolation))
                    }
                }
                if connection.pendingAnswer?.readAhead != nil, !mayReadAhead(op, bytes, connection) {
                    connection.pendingAnswer?.readAhead = nil  // it waits for the RESERVE's answer
                    continue parsing  // unless it is a CANCEL (`endWait`)
                }
                switch op {
                case .job(.enq, _, _):
                    if mustWaitForCheckpoints(connection) { return waitForCheckpoints(connection, from: position) }
                case .pub(let subject, _, _), .hpub(let subject, _, _, _):
                    if publishMustWaitForCheckpoints(UnsafeRawBufferPointer(rebasing: bytes[subject]), connection) {
                        return waitForCheckpoints(connection, from: position)
                    }
                default:
                    break
                }
                if tracing { traceInbound(UnsafeRawBufferPointer(rebasing: bytes[position..<next]), op, connection) }
                if case .job = op, pendingBeforeJobs == nil { pendingBeforeJobs = connection.pendingBytes }
                let deliveryWorkBefore = stats.deliveryWork
                execute(op, bytes, connection)
                position = next
                if connection.isClosed || connection.closeReason != nil { return }
                if case .job = op, let before = pendingBeforeJobs {
                    let pending = connection.pendingBytes
                    if pending > config.maxPending {
                        // One job command can answer with a whole payload or result (a WAIT for a
                        // job finished with 1 MiB of result): a few kilobytes of them pipelined by
                        // a client that never reads would otherwise queue gigabytes within a read.
                        connection.input.consume(position)
                        slowConsumer(connection, reason: "pending output over \(config.maxPending) bytes")
                        return
                    }
                    jobReplyBytes = pending - before
                }
                let replyUnits = (jobReplyBytes + connection.apiWorkBytes) / Self.replyBytesPerUnit
                connection.workThisTurn += Self.units(of: op) + stats.deliveryWork - deliveryWorkBefore + replyUnits - replyUnitsCounted
                replyUnitsCounted = replyUnits
                if connection.workThisTurn >= Self.workPerTurn, connection.readEvent != nil, !shuttingDown {
                    return deferRest(of: connection, from: position)
                }
            case .skip(let next):
                position = next
            case .incomplete:
                break parsing
            case .failure(let error):
                if let count = parserErrors.occurred(at: Int(monotonicMilliseconds())) {
                    let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
                    // A CONNECT may carry a password or token in its first bytes: never logged.
                    let shown = Self.mayBeConnect(rest) && rest.count > 7 ? "'CONNECT …' (its fields are not logged)" : Log.snippet(rest)
                    let others = count > 1 ? " (\(count) such errors since the last such line)" : ""
                    log.error("\(connection.label) - Parser error: \(error.text): proto=\(shown)\(others)")
                }
                protocolError(connection, error)
                return
            }
        }
        connection.input.consume(position)
        // Replies count as much as messages: a client that pipelines commands and never reads
        // must not grow the server without bound. Checked once per read for the NATS commands
        // (their replies are small, or the message itself, a read's worth at most): the check
        // per command cost the publish path measurably. Job commands are checked each (above).
        if connection.pendingBytes > config.maxPending {
            slowConsumer(connection, reason: "pending output over \(config.maxPending) bytes")
        }
    }

    /// Leaves `connection`'s input from `position` on for the next pass (see `workPerTurn`).
    func deferRest(of connection: Connection, from position: Int) {
        connection.input.consume(position)
        // The check at the end of a read, which a turn cut short does not reach: a client that
        // pipelines PINGs and never reads would otherwise queue PONGs without bound.
        let bound = connection.route == nil ? config.maxPending : maxRoutePending
        if connection.pendingBytes > bound {
            return slowConsumer(connection, reason: "pending output over \(bound) bytes")
        }
        connection.hasDeferredCommands = true
        wakeNextPass.append(connection)
    }

    /// Runs all of a connection's input whatever its turn's work: its last word before it
    /// closes, which no later pass would run.
    func processAll(_ connection: Connection) {
        connection.runsLastWord = true
        defer { connection.runsLastWord = false }
        repeat {
            connection.hasDeferredCommands = false
            connection.workThisTurn = 0
            process(connection)
        } while connection.hasDeferredCommands && !connection.isClosed && connection.closeReason == nil
    }

    /// `-V`: each command a client sends, as nats-server traces it (`<<- [SUB foo  1]`): its
    /// control line, never its payload, and of a CONNECT only the word, since its fields may
    /// carry a password or token.
    private func traceInbound(_ command: UnsafeRawBufferPointer, _ op: ClientOp, _ connection: Connection) {
        var line = command.prefix { $0 != 0x0A }
        if line.last == Byte.cr { line = line.dropLast() }
        let shown: String
        if case .connect = op {
            shown = "CONNECT …"
        } else {
            // Printable as it came (subjects may be UTF-8); control bytes as escapes, so that a
            // client cannot forge log lines.
            shown = String(decoding: line, as: UTF8.self).unicodeScalars.map {
                $0.value < 0x20 || $0.value == 0x7F ? "\\x" + String($0.value, radix: 16) : String($0)
            }.joined()
        }
        log.trace("\(connection.label) - <<- [\(shown)]")
    }

    /// Continues with commands a connection sent while its RESERVE waited.
    func resume(_ connection: Connection) {
        guard !connection.isClosed, !connection.isBlocked, connection.closeReason == nil else { return }
        connection.workThisTurn = 0
        if connection.isReadPaused, !shuttingDown, let event = connection.readEvent {
            connection.isReadPaused = false
            EventLoop.add(event)
            if let tls = connection.tls, tls.bufferedBytes > 0 { EventLoop.activate(event, EventLoop.read) }
            if connection.webSocket?.undecoded.isEmpty == false { wakeNextPass.append(connection) }
        }
        process(connection)
    }

    // MARK: Writing

    /// Schedules a connection's output to be written at the end of this pass.
    @inline(__always) func queueFlush(_ connection: Connection) {
        if !connection.isQueuedForFlush {
            connection.isQueuedForFlush = true
            flushQueue.append(connection)
        }
    }

    /// Writes as much pending output as the socket takes; waits for writability for the rest.
    func flush(_ connection: Connection) {
        // Not `webSocket.map { … } ?? output`: the closure cost a retain and release per flush on
        // every TCP connection (callgrind, durable job cycle).
        let output: ByteBuffer
        if let webSocket = connection.webSocket { output = webSocketWire(connection, webSocket) } else { output = connection.output }
        while !output.isEmpty {
            switch transportWrite(connection, output.readableBytes) {
            case .bytes(let written):
                output.consume(written)
                stats.bytesOut += written
            case .wouldBlock:
                // The check at each delivered message sees a WebSocket connection's unframed
                // output only; its framed bytes are held to the same bound here, where they wait.
                // A route has its own, larger bound: it carries many clients' messages.
                let bound = connection.route == nil ? config.maxPending : maxRoutePending
                if output.readableCount > bound {
                    return slowConsumer(connection, reason: "pending output over \(bound) bytes")
                }
                // A route carries many clients' messages: cutting it would cost them all.
                if connection.route == nil { backlogged[connection.id] = connection }
                if !connection.isWaitingToWrite, let event = connection.writeEvent {
                    connection.isWaitingToWrite = true
                    // The timeout restarts whenever the socket takes bytes, so it measures how
                    // long the client has taken nothing: the write deadline.
                    EventLoop.add(event, timeoutMilliseconds: config.writeDeadlineMilliseconds)
                }
                return
            case .end:
                close(connection, reason: "Write Error: the peer closed the connection")
                return
            case .failed(let why):
                close(connection, reason: "Write Error: \(why)")
                return
            }
        }
        if connection.isWaitingToWrite, let event = connection.writeEvent {
            connection.isWaitingToWrite = false
            EventLoop.remove(event)
        }
        if output.allocatedCapacity > 1 << 20 { output.shrink(to: 16 << 10) }
        if connection.closeReason != nil && connection.heldReplies.isEmpty { close(connection, reason: connection.closeReason!) }
    }

    /// Sends a protocol error. A fatal one follows the replies the connection is still owed
    /// (an ENQ committed just before, say), then the connection closes.
    func protocolError(_ connection: Connection, _ error: ProtocolError) {
        replies(for: connection).appendError(error)
        if error.isFatal { endAfterOwedReplies(connection, reason: error.text) }
    }

    /// Reads no more from `connection` and closes it once every reply it is owed for commands
    /// already run is written. A RESERVE or WAIT still waiting is withdrawn (nothing is handed to
    /// a client that has stopped talking), and its subscriptions end, so that messages cannot
    /// keep the connection open.
    func endAfterOwedReplies(_ connection: Connection, reason: String) {
        guard !connection.isClosed, connection.closeReason == nil else { return }
        connection.closeReason = reason
        if let event = connection.readEvent { EventLoop.remove(event) }
        connection.input.clear()
        if let waiter = connection.waiter { engine.cancel(waiter) }
        connection.waiter = nil
        if let watch = connection.watch { engine.cancel(watch) }
        connection.watch = nil
        postgres?.endWaits(of: connection)
        for subscription in Array(connection.subscriptions.values) { removeSubscription(subscription, of: connection) }
        closeIfDrained(connection)
    }

    /// Closes an ending connection once nothing is held or unwritten for it.
    private func closeIfDrained(_ connection: Connection) {
        guard let reason = connection.closeReason, !connection.isClosed else { return }
        if connection.heldReplies.isEmpty && connection.output.isEmpty && connection.webSocket?.isDrained != false {
            close(connection, reason: reason)
        } else {
            queueFlush(connection)
        }
    }

    /// Where replies to a connection's commands go. Replies must reach the client in the order
    /// of its commands, so once a reply waits for a commit (see `holdReplies`), every later
    /// reply of that connection waits behind it. Messages to subscriptions (MSG) do not: they
    /// are not answers, and clients tell them apart by their op.
    func replies(for connection: Connection) -> ByteBuffer {
        if let last = connection.heldReplies.last {
            if last.batch == currentBatch { return last.buffer }
            return holdReplies(connection)
        }
        queueFlush(connection)
        return connection.output
    }

    /// A place in `connection`'s replies for an answer that is not ready yet (it waits for the
    /// store): later replies queue behind it until `fillDeferredReply` releases it.
    func deferReply(_ connection: Connection) -> ByteBuffer {
        let buffer = ByteBuffer(capacity: 256)
        connection.heldReplies.append((UInt64.max, buffer))
        return buffer
    }

    /// Marks a deferred reply (now written) as ready and sends what may go.
    func fillDeferredReply(_ buffer: ByteBuffer, of connection: Connection) {
        guard let index = connection.heldReplies.firstIndex(where: { $0.buffer === buffer }) else { return }
        connection.heldReplies[index].batch = 0
        releaseHeldReplies(connection)
    }

    /// Sends, in order, the held replies whose batch has committed, up to the first that has not.
    func releaseHeldReplies(_ connection: Connection) {
        guard !connection.isClosed else { return }
        while let first = connection.heldReplies.first, first.batch <= committedBatch {
            connection.heldReplies.removeFirst()
            connection.output.append(first.buffer.readableBytes)
        }
        queueFlush(connection)
    }

    /// A buffer for replies that may be sent only once the current batch of changes is on disk.
    @discardableResult
    func holdReplies(_ connection: Connection) -> ByteBuffer {
        if let last = connection.heldReplies.last, last.batch == currentBatch { return last.buffer }
        let buffer = ByteBuffer(capacity: 256)
        connection.heldReplies.append((currentBatch, buffer))
        awaitingCommit.append(connection)
        return buffer
    }

    /// Cuts off a client that cannot keep up, without a word: it would not read it anyway.
    func slowConsumer(_ connection: Connection, reason: String) {
        guard !connection.isClosed else { return }
        stats.slowConsumers += 1
        log.warn("\(connection.label) - Slow Consumer Detected: \(reason)")
        connection.output.clear()
        close(connection, reason: "Slow Consumer")
    }

    // MARK: Closing

    func close(_ connection: Connection, reason: String) {
        guard !connection.isClosed else { return }
        connection.markClosed()
        connection.loginWaitlist?.remove(connection.id)
        if let check = connection.passwordCheck { cancelPasswordCheck(check) }
        if let waiter = connection.waiter { engine.cancel(waiter) }
        connection.waiter = nil
        // Jobs it held are lost attempts now; they follow their retry policy.
        if let postgres {
            postgres.connectionClosed(connection)
        } else {
            engine.ownerGone(connection.id, heldJobs: Array(connection.heldJobs), atOnce: Self.deadlinesPerTurn)
        }
        for subscription in Array(connection.subscriptions.values) { removeSubscription(subscription, of: connection) }
        if let watch = connection.watch { engine.cancel(watch) }
        connection.watch = nil
        // RESERVEs and WAITs it made through $DOCKET.API die with it too.
        for key in connection.waitingRequests {
            if let waiter = apiWaiters.removeValue(forKey: key)?.waiter { engine.cancel(waiter) }
            if let watch = apiWatches.removeValue(forKey: key)?.watch { engine.cancel(watch) }
        }
        connection.waitingRequests.removeAll()
        if let event = connection.readEvent { EventLoop.free(event) }
        if let event = connection.writeEvent { EventLoop.free(event) }
        if let timer = connection.authTimer { EventLoop.free(timer) }
        if let timer = connection.tlsTimer { EventLoop.free(timer) }
        if let timer = connection.webSocket?.handshakeTimer { EventLoop.free(timer) }
        connection.webSocket?.handshakeTimer = nil
        connection.readEvent = nil
        connection.writeEvent = nil
        connection.authTimer = nil
        connection.tlsTimer = nil
        connection.tls?.shutdown()
        if socketsToCloseAtExit != nil {
            socketsToCloseAtExit!.append(connection.fd)
        } else if connection.closeReason != nil && connection.route == nil {
            // It was told why (`-ERR`) and may still be sending: a close now would reset the
            // connection under the error it has not read yet.
            lingerOrClose(connection.fd)
        } else {
            Glibc.close(connection.fd)
        }
        connections[connection.id] = nil
        if connection.route != nil { routeClosed(connection, reason: reason) }
        log.debug("\(connection.label) - Client connection closed: \(reason)")
    }

    /// Closes `fd`, refused with a last word already written, once its client has read it
    /// (see `RefusedSockets`).
    func lingerOrClose(_ fd: Int32) {
        if let refusedSockets { refusedSockets.linger(fd) } else { Glibc.close(fd) }
    }

    // MARK: Authentication

    /// The auth timeout passed: a connection that has not proved its credentials goes.
    /// After a login, the same timer ends credentials that expire (a user JWT's `exp`).
    fileprivate func authenticationTimedOut(_ connection: Connection) {
        guard !connection.isClosed, connection.closeReason == nil else { return }
        if let link = connection.route {
            guard !link.isEstablished else { return }
            warnRefusedBeforeLogin(
                .routeRefused, "\(connection.label) - Route refused: no \(connection.isAuthenticated ? "INFO" : "login") within \(config.authTimeoutMilliseconds) ms")
            connection.output.append("-ERR 'Authentication Timeout'\r\n")
            return endAfterOwedReplies(connection, reason: "Authentication Timeout")
        }
        if connection.isAuthenticated {
            guard let expiresAt = connection.principal?.expiresAt else { return }
            guard expiresAt <= Int(time(nil)) else { return scheduleExpiry(connection) }
            log.info("\(connection.label) - User Authentication Expired: its JWT expired at \(expiresAt)")
            return protocolError(connection, ProtocolError(.authenticationExpired))
        }
        warnRefusedBeforeLogin(.authenticationTimeout, "\(connection.label) - Authentication Timeout: no CONNECT within \(config.authTimeoutMilliseconds) ms")
        protocolError(connection, ProtocolError(.authenticationTimeout))
    }

    // MARK: Pings

    fileprivate func pingTick() {
        let now = monotonicMilliseconds()
        for connection in Array(connections.values) where connection.closeReason == nil && connection.isTransportReady {
            guard connection.sentConnect || now - connection.openedAt >= config.pingIntervalMilliseconds else { continue }
            if connection.isBlocked {
                // Blocked in RESERVE or WAIT, it reads nothing we send until served; its socket closing
                // is what tells us it is gone.
                connection.pingsOutstanding = 0
                continue
            }
            if connection.pingsOutstanding >= config.maxPingsOutstanding {
                log.debug("\(connection.label) - Stale Client Connection - Closing")
                protocolError(connection, ProtocolError(.staleConnection))
                continue
            }
            connection.pingsOutstanding += 1
            connection.output.append("PING\r\n")
            queueFlush(connection)
        }
    }

    // MARK: Shutdown

    fileprivate func signalReceived(_ signo: Int32) {
        if signo == SIGUSR2 { return enterLameDuckMode() }
        if signo == SIGHUP { return reloadConfiguration() }
        if signo == SIGUSR1 {
            // As nats-server: SIGUSR1 reopens the log file, for log rotation, and is harmless
            // without one (its default action would end the server).
            guard let file = config.logFile else { return log.info("SIGUSR1: no log file to reopen (the log goes to standard error)") }
            do {
                try LogFile.redirectStandardError(to: file)
                log.info("Reopened the log file \(file) (SIGUSR1)")
            } catch {
                log.error("\(error); the log goes on where it went")
            }
            return
        }
        guard !shuttingDown else {
            log.warn("Second signal \(signo == SIGTERM ? "SIGTERM" : "SIGINT"): exiting at once")
            graceExpired = true
            return
        }
        log.info("Received signal \(signo == SIGTERM ? "SIGTERM" : "SIGINT"), shutting down")
        beginShutdown()
    }

    /// Stops taking new work (no new connections, no new commands) and lets what clients are
    /// already owed be written, for up to the grace period; then the loop ends.
    func beginShutdown() {
        guard !shuttingDown else { return }
        SystemdNotifier.notify("STOPPING=1")
        shuttingDown = true
        stopAccepting()
        stopRoutes()
        for connection in connections.values {
            if let event = connection.readEvent { EventLoop.remove(event) }
        }
        let timer = loop.makeEvent(fd: -1, flags: 0, context: self, callback: graceCallback)
        EventLoop.add(timer, timeoutMilliseconds: config.shutdownGraceMilliseconds)
        graceTimer = timer
    }

    /// Closes the listening sockets (the client port's and the WebSocket port's): new clients
    /// are refused by the kernel from now on.
    func stopAccepting() {
        stopListening(listener, listenEvent)
        listenEvent = nil
        listener = nil
        stopListening(webSocketListener, webSocketListenEvent)
        webSocketListenEvent = nil
        webSocketListener = nil
    }

    private func stopListening(_ listener: Listener?, _ event: OpaquePointer?) {
        if let event {
            acceptBackoff?.unregister(event)
            EventLoop.free(event)
        }
        listener?.close()
    }

    fileprivate func commitsFinished() { dataDirectory?.runFinishedCommits() }

    fileprivate func graceEnded() {
        log.warn("Shutdown grace of \(config.shutdownGraceMilliseconds) ms over; closing remaining clients")
        graceExpired = true
    }

    private func finishShutdown() {
        let open = connections.count
        // The sockets themselves close last, with the process (`run`): a client sees its server
        // gone when it is, not while it still writes its last commit or tears down, and finds it
        // refusing when it tries it again.
        socketsToCloseAtExit = []
        for connection in Array(connections.values) { close(connection, reason: "Server Shutdown") }
        for event in signalEvents { EventLoop.free(event) }
        signalEvents.removeAll()
        if let pingTimer { EventLoop.free(pingTimer) }
        pingTimer = nil
        if let graceTimer { EventLoop.free(graceTimer) }
        graceTimer = nil
        if let lameDuckTimer { EventLoop.free(lameDuckTimer) }
        lameDuckTimer = nil
        if let jobTimer { EventLoop.free(jobTimer) }
        jobTimer = nil
        if let checkpointWaitTimer { EventLoop.free(checkpointWaitTimer) }
        checkpointWaitTimer = nil
        if let scheduleTimer { EventLoop.free(scheduleTimer) }
        scheduleTimer = nil
        postgres?.shutdown()
        cluster?.stop()
        cluster = nil
        // Closing connections released their jobs; write that before closing the store, and
        // the payload deletes still gathering.
        while dataDirectory != nil {
            if commitInFlight {
                dataDirectory?.waitForCommits()
                continue
            }
            stalePayloads += completedPayloads
            completedPayloads.removeAll()
            if hasUncommittedWork {
                commitChanges()
            } else {
                break
            }
        }
        if let commitEvent { EventLoop.free(commitEvent) }
        commitEvent = nil
        if let passwordCheckEvent { EventLoop.free(passwordCheckEvent) }
        passwordCheckEvent = nil
        passwordChecker?.stop()
        monitoring = nil
        if let dashboardTimer { EventLoop.free(dashboardTimer) }
        dashboardTimer = nil
        dashboard = nil
        let problems = dataDirectory?.close() ?? []
        dataDirectory = nil
        for problem in problems { log.error("Store: \(problem)") }
        if !problems.isEmpty { exitStatus = 1 }
        log.info("Closed \(open) client connections and the data directory; server exiting\(problems.isEmpty ? "" : " with status 1")")
        refusedSockets = nil
        processFiles.removeAll()
    }

    /// The pid file and the ports file, if asked for; every listener is bound by now. The start
    /// stops if either cannot be written, leaving neither behind.
    private func writeProcessFiles() throws {
        do { try writeProcessFilesOrThrow() } catch {
            processFiles.removeAll()
            throw error
        }
    }

    private func writeProcessFilesOrThrow() throws {
        if let path = config.pidFile {
            if let owner = ProcessFiles.runningOwner(ofPidFile: path) {
                throw ServerError("the pid file \(path) names pid \(owner), a docketd that is still running; stop it first, or give this server a pid file of its own")
            }
            try processFiles.write(String(getpid()), to: path)
        }
        guard let directory = config.portsFileDirectory, let listener else { return }
        var endpoints = [ProcessFiles.Endpoint(kind: "nats", scheme: tlsContext == nil ? "nats" : "tls", host: listener.boundHost, port: listener.boundPort)]
        if let monitoring {
            endpoints.append(.init(kind: "monitoring", scheme: tlsContext == nil ? "http" : "https", host: listener.boundHost, port: monitoring.boundPort))
        }
        if let routes = routeTable?.listener {
            endpoints.append(.init(kind: "cluster", scheme: "nats", host: routes.boundHost, port: routes.boundPort))
        }
        if let webSocket = webSocketListener {
            endpoints.append(.init(kind: "websocket", scheme: config.webSocket?.tls == nil ? "ws" : "wss", host: webSocket.boundHost, port: webSocket.boundPort))
        }
        let document = ProcessFiles.portsDocument(endpoints) { ProcessFiles.interfaceAddresses(family: $0) }
        for path in ProcessFiles.portsFileNames(in: directory, executable: CommandLine.arguments.first ?? "docketd", pid: getpid()) {
            try processFiles.write(document, to: path)
        }
    }

    private static func makeServerID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var generator = SystemRandomNumberGenerator()
        return "N" + String((0..<55).map { _ in alphabet[Int(generator.next() % 32)] })
    }
}

/// Counters for the whole server since start.
struct ServerStats {
    var totalConnections = 0
    var refusedConnections = 0
    var slowConsumers = 0
    var messagesIn = 0
    var messagesOut = 0
    /// Bytes read from and written to client sockets, everything included.
    var bytesIn = 0
    var bytesOut = 0
    /// Message payload bytes published and delivered (headers included), as nats-server counts
    /// `in_bytes` and `out_bytes`: NATS tooling compares them with its own.
    var payloadBytesIn = 0
    var payloadBytesOut = 0
    /// Trie nodes the subject matches walked off their subjects' own paths, every subscription
    /// index together (`SubscriptionIndex.branchNodesWalked`).
    var branchNodesWalked = 0
    var commits = 0
    /// Published messages whose routed jobs the store refused (STORE_FULL).
    var routeRefusals = 0
    /// Schedule ticks that made no job because the store had no room.
    var skippedTicks = 0
    /// ENQs that waited for the log's checkpoints to catch up (`--max-checkpoint-backlog`).
    var checkpointWaits = 0
    /// Time from submitting each commit to its completion, summed, microseconds.
    var commitMicroseconds = 0

    /// Jobs LIST pages looked at to find their page (`JobEngine.list`): a page of one job from a
    /// queue of a million waiting jobs walks them all.
    var listCandidatesWalked = 0

    /// The work messages and walks cost so far, in `Server.workPerTurn`'s units: a message
    /// delivered, a KiB of messages delivered, a trie node a match walked off its subject's own
    /// path (0.2 to 0.5 µs each, as much as a PUB to one subscriber), four jobs a LIST looked at
    /// (a dictionary lookup and a comparison each). Counted only by its reply, a pipeline of
    /// `LIST q limit=1` on a queue of a million waiting jobs ran some 300 walks of the million
    /// in one turn, a minute of holding everyone else on a debug build.
    var deliveryWork: Int { messagesOut + payloadBytesOut >> 10 + branchNodesWalked + listCandidatesWalked >> 2 }
}

// libevent calls these with the object registered as the event's context.

private func acceptCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let server = Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue()
    if let listener = server.listener { server.acceptReady(on: listener, webSocket: nil) }
}

private func connectionCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let connection = Unmanaged<Connection>.fromOpaque(context!).takeUnretainedValue()
    connection.server.connectionEvent(connection, what)
}

private func authTimerCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let connection = Unmanaged<Connection>.fromOpaque(context!).takeUnretainedValue()
    connection.server.authenticationTimedOut(connection)
}

private func pingCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().pingTick()
}

private func signalCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().signalReceived(fd)
}

private func passwordChecksCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().passwordChecksFinished()
}

private func commitsCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().commitsFinished()
}

private func scheduleTimerCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().fireDueSchedules()
}

private func jobTimerCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().jobTimerFired()
}

private func graceCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().graceEnded()
}
