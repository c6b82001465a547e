import DocketEngine
import DocketPostgres
import DocketWire
import Glibc

/// The job verbs decided by PostgreSQL (`--store postgres://…`): ids, claims, leases and limits
/// are transactions there (`PostgresJobStore`), so the queues outlive this process and several
/// docketd processes can share them.
///
/// The commands of one loop pass go out as one transaction, one round trip and one commit: the
/// pass's ENQs as one multi-row insert, its ACKs as one update, the rest a statement each, in
/// the order they came. Every answer comes back once that transaction has committed
/// (`JobAnswer`), so a `+OK` is as durable as PostgreSQL makes it, and lifecycle events go out
/// only then. RESERVEs that wait stay here and try again when a `NOTIFY docket_jobs` names one
/// of their queues, when a deadline the database reported passes, and once a second anyway.
///
/// While anyone can hear lifecycle events, the pass's transaction commits in two steps: once
/// its results are read, the events they made take their numbers in it (`PostgresSchema
/// .version15`), so a queue's `seq` follows the commit order across every docketd; the answers
/// of that first step wait for the commit (`tell`).
///
/// When the connection is lost, commands in flight are answered `UNAVAILABLE` (their
/// transaction may or may not have committed; nothing was promised), new ones the same until a
/// new connection is up, which is tried again and again with a growing pause. Pub/sub never
/// notices.
final class PostgresBackend {
    unowned let server: Server
    /// How to connect: read at each connection made (the lane's too), so that a reload that
    /// changes the password (`connectWith`) needs no restart.
    private var conninfo: String
    private let store: PostgresJobStore
    private let log: Log
    /// This process in lease owners and watches; connection n holds jobs as `<processName>:<n>`.
    let processName: String

    private var connection: PostgresConnection?
    /// The host name is being resolved; `connection` is made when it is.
    private var isResolving = false
    /// Transactions sent again after the database broke a deadlock with them, on connections
    /// closed since; `resentTransactions` adds the current one's.
    private var resentOnClosedConnections = 0
    var resentTransactions: Int { resentOnClosedConnections + (connection?.resentTransactions ?? 0) }
    private lazy var socket = PostgresSocketWatch(loop: server.loop) { [unowned self] what in socketReady(what) }
    private var tickTimer: OpaquePointer?
    /// When the tick timer fires next (wall ms), if armed.
    private var armedTick: Int64?
    private var reconnectTimer: OpaquePointer?
    private var reconnectDelay = 100
    private var hasConnected = false
    /// Why the store is unavailable, while it is.
    private(set) var lastFailure: String? = "not connected yet"
    /// Connected, migrated and listening: job commands are decided. Otherwise `UNAVAILABLE`.
    private(set) var isAvailable = false

    /// The pass's ENQs and ACKs, sent as one statement each before any other statement.
    private var enqueues: [PostgresEnqueueLane.Enqueue] = []
    private var acks: [(hold: PostgresHold, result: [UInt8]?, done: (Result<Void, JobError>) -> Void)] = []
    /// RESERVEs not answered yet (trying, or waiting for a job), oldest first.
    private var reservers: [Reserver] = []
    /// WAITs by job id.
    private var watchers: [Int64: [Watcher]] = [:]
    /// WAITs whose watch is still being set up in the database (`watch`).
    private var startingWatchers: [Watcher] = []
    /// What each connection holds, by connection id and job id: for lifecycle events and for
    /// the permission check of ACK and the like.
    private var held: [UInt64: [UInt64: HeldJob]] = [:]
    /// The open transaction holds a statement whose results decide what else it writes: it
    /// commits in two steps (see `endOfPass`).
    private var needsTwoSteps = false
    /// Jobs each connection holds whose FAIL or throttle is in flight (`endingAttempt`).
    private var endingAttempts: [UInt64: Set<UInt64>] = [:]
    /// Last errors of jobs an ENQ found dead (`tellWhyItDied`), for their `dead` events.
    private var deathReasons: [UInt64: [UInt8]] = [:]
    /// Statements that results told before the commit added to their transaction (`finishing`).
    private var beforeCommit: [PostgresStatement] = []
    /// Events made by the results of the transaction being finished, waiting for their numbers
    /// (`eventNumbering`).
    private var unnumbered: [LifecycleEvent] = []
    /// Answers given while the results being told are not committed yet: they go out once the
    /// commit has.
    private var uncommittedAnswers: [(answer: JobAnswer, reply: JobReply)] = []
    /// The queues as last read (every two seconds while there is a monitoring port), for the
    /// monitoring port's documents, which cannot wait for the database.
    private(set) var snapshot = Snapshot()
    private var snapshotInFlight = false
    /// The queues the snapshot under way has read so far, and how long the last one took.
    private var snapshotRead: [Snapshot.Queue] = []
    private var snapshotMilliseconds: Int64 = 0
    /// Queues whose states a snapshot reads at once (four statements each). The commands of
    /// clients that come meanwhile go after them: with every queue's at once, 100,000 queues
    /// made a QUEUE wait 16 s, and a QUEUES 98 s, behind 400,000 statements.
    static let snapshotChunk = 250
    /// This pass's transaction makes expired jobs dead before its first claim.
    private var expiredThisPass = false
    /// What this process did per queue and second (counts in `PostgresActivity.kinds` order)
    /// since it last added that to the database's counts, which QUEUE `totals` and `rates`
    /// read (`flushActivity`: every tick, and at once when `--max-queues` queues have counts).
    private var unsentActivity: [String: [Int64: [Int]]] = [:]
    /// How many times `unsentActivity` went to the database (see `queueState`).
    private var activityFlushes = 0
    /// RESERVE tries of this pass, sent at its end.
    /// RESERVEs taken so far: each one's place in line (`Reserver.arrival`).
    private var reserverArrivals = 0
    private var pendingTries: [Reserver] = [] {
        didSet { if pendingTries.isEmpty { pendingTryOwners.removeAll(keepingCapacity: true) } }
    }
    /// The connections `pendingTries` are for: every command asks, and a pass may hold a try
    /// for each of a thousand woken workers.
    private var pendingTryOwners: Set<UInt64> = []
    /// Transactions `endOfPass` sent that have not completed yet.
    private var commitsInFlight = 0
    /// The second connection, for plain ENQs while nobody listens for events (see the type).
    private var lane: PostgresEnqueueLane?
    /// The addresses the host name resolved to when the main connection was made.
    private var hostAddresses: [String] = []
    /// A command of a client with ENQs unanswered on `lane` joined the open transaction: it
    /// may not be sent before the lane's transactions sent by the end of this pass have ended.
    private var mainFollowsLane = false
    /// The main connection's open transaction waits until `lane.ended` reaches this.
    private var mainWaitsForLane = 0
    /// When this node last told the database it is alive (wall ms; 0: not since connecting).
    private var lastHeartbeat: Int64 = 0
    /// When this docketd last folded the job count's changes (schema version 29) into it.
    private var lastJobCountFold: Int64 = 0
    private var heartbeatInFlight = false

    /// Jobs started, completed and failed per queue over its life, by every docketd on the
    /// database, as the last snapshot read them (the dashboard's charts).
    var activityTotals: [(queue: String, started: Int, completed: Int, failed: Int)] {
        snapshot.queues.map { ($0.name, $0.started, $0.completed, $0.failed) }
    }

    init(server: Server, conninfo: String, log: Log) {
        self.server = server
        self.conninfo = conninfo
        self.log = log
        self.processName = server.serverID
        var defaults = PostgresJobDefaults()
        defaults.keepCompleted = server.config.keepCompleted
        defaults.keepDead = server.config.keepDead
        self.store = PostgresJobStore(defaults: defaults)
    }

    // MARK: Connection

    /// Connects, migrates the schema and loads the routes before returning; a database that
    /// cannot be reached at start is an error (a supervisor restarts us), one lost later is not.
    func start(timeoutMilliseconds: Int = 30_000) throws {
        tickTimer = server.loop.makeEvent(fd: -1, flags: 0, context: self, callback: postgresTickCallback)
        reconnectTimer = server.loop.makeEvent(fd: -1, flags: 0, context: self, callback: postgresReconnectCallback)
        connect()
        let deadline = monotonicMilliseconds() + timeoutMilliseconds
        while !isAvailable {
            if connection == nil && !isResolving { throw ServerError("PostgreSQL store: \(lastFailure ?? "cannot connect")") }
            if monotonicMilliseconds() > deadline { throw ServerError("PostgreSQL store: no connection within \(timeoutMilliseconds) ms") }
            server.loop.runOnce()
        }
        armTick(after: 1000)
    }

    /// SIGHUP: the connections made from now on use `newConninfo`, if it names the same
    /// database (a new password, user or TLS setting); the open ones go on until they close.
    /// Another database would split the jobs between two (those held and waited for here
    /// are in this one): that takes a restart. Answers whether it was taken.
    func connectWith(_ newConninfo: String) -> Bool {
        guard PostgresConnection.nameSameDatabase(conninfo, newConninfo) else { return false }
        conninfo = newConninfo
        return true
    }

    /// Connects, resolving a host name on the loop first: libpq would resolve it with a
    /// blocking call, and a reconnect happens while clients are being served.
    private func connect() {
        guard let target = PostgresConnection.hostToResolve(conninfo) else { return open(hostAddresses: []) }
        isResolving = true
        server.loop.resolve(target.host, port: target.port) { [weak self] result in
            guard let self, isResolving else { return }
            isResolving = false
            switch result {
            case .success(let addresses): open(hostAddresses: addresses.map(\.numericHost))
            case .failure(let error): couldNotConnect("cannot resolve \(target.host): \(error)")
            }
        }
    }

    private func open(hostAddresses: [String]) {
        self.hostAddresses = hostAddresses
        let db = PostgresConnection(conninfo, hostAddresses: hostAddresses)
        connection = db
        // `lastFailure` stays until this connection is ready: while it is being made (to a
        // stalled server that takes --store-timeout), /healthz and UNAVAILABLE say why the last
        // one was lost rather than "not connected".
        db.onInterestChange = { [unowned self] interest in watchSocket(interest) }
        db.onStateChange = { [unowned self, unowned db] state in stateChanged(db, state) }
        db.onNotification = { [unowned self] notification in notified(notification) }
        db.start()
        if db.state != .closed { watchSocket(db.interest) }
    }

    private func watchSocket(_ interest: PostgresConnection.Interest) { socket.watch(interest) }

    private func socketReady(_ what: Int16) {
        guard let db = connection else { return }
        if Int32(what) & EventLoop.write != 0 { db.socketWritable() }
        if Int32(what) & EventLoop.read != 0, connection === db { db.socketReadable() }
    }

    private func stateChanged(_ db: PostgresConnection, _ state: PostgresConnection.State) {
        guard db === connection else { return }
        switch state {
        case .connecting:
            break
        case .ready:
            // The session's settings, the schema (a no-op when current), the channels, the routes.
            PostgresSchema.configureSession(on: db)
            PostgresSchema.migrate(on: db) { [self] result in
                if case .failure(let error) = result { log.error("PostgreSQL store: migrating the schema failed: \(error)") }
            }
            for channel in [
                PostgresSchema.channel, PostgresJobStore.outcomesChannel, PostgresJobStore.routesChannel, PostgresSchema.schedulesChannel,
            ] {
                db.execute("LISTEN \(channel)") { _ in }
            }
            db.commit { [self] result in
                guard db === connection else { return }
                switch result {
                case .failure(let error):
                    db.close(because: error.message)
                case .success:
                    loadSchedules {}
                    loadRoutes { [self] in
                        guard db === connection else { return }
                        let wasConnected = hasConnected
                        hasConnected = true
                        isAvailable = true
                        lastFailure = nil
                        reconnectDelay = 100
                        if wasConnected { log.info("PostgreSQL store: connected again") }
                        // Outcomes and wake-ups sent while we were away were lost: look again.
                        for id in watchers.keys { resolveWatchers(of: id) }
                        retryReservers()
                        lastHeartbeat = 0
                        heartbeat()
                        db.commit()
                        openLane()
                    }
                    db.commit()
                }
            }
        case .closed:
            isAvailable = false
            // Its own reason: every close of ours names one, so an earlier connection's never stands in.
            let why = db.failure?.message ?? "connection closed"
            lastFailure = why
            watchSocket(.none)
            resentOnClosedConnections += db.resentTransactions
            connection = nil
            failBatches(why)
            pendingTries.removeAll()
            commitsInFlight = 0
            for reserver in reservers {
                reserver.inFlight = false
                reserver.answer.readAhead = nil  // its try waits for the next connection
            }
            lane?.close(why)
            lane = nil
            mainWaitsForLane = 0
            mainFollowsLane = false
            couldNotConnect(why)
        }
    }

    /// Tries again later, once connected before (at start, `start` reports it).
    private func couldNotConnect(_ why: String) {
        lastFailure = why
        guard hasConnected else { return }
        log.error("PostgreSQL store: \(why); trying again in \(reconnectDelay) ms (job commands answer UNAVAILABLE meanwhile)")
        if let reconnectTimer { EventLoop.add(reconnectTimer, timeoutMilliseconds: reconnectDelay) }
        reconnectDelay = min(reconnectDelay * 2, 5000)
    }

    fileprivate func reconnect() {
        guard connection == nil, !isResolving else { return }
        connect()
    }

    /// Ends the connection at shutdown, once what closing connections released is committed.
    func shutdown() {
        if let db = connection, isAvailable { store.leave(node: processName, on: db) { _ in } }
        flushActivity()
        endOfPass(force: true)
        if let db = connection, db.state == .ready {
            let deadline = monotonicMilliseconds() + 5000
            var done = false
            db.query("SELECT 1") { _ in done = true }
            while !done && connection === db && monotonicMilliseconds() < deadline { server.loop.runOnce() }
            while let lane, lane.inFlight > 0, lane.isReady, monotonicMilliseconds() < deadline { server.loop.runOnce() }
        }
        lane?.close()
        lane = nil
        // Forgotten before it is closed: our own close is not a lost connection to report.
        let closing = connection
        connection = nil
        isResolving = false  // an answer still on its way opens nothing
        closing?.close()
        watchSocket(.none)
        for timer in [tickTimer, reconnectTimer].compactMap({ $0 }) { EventLoop.free(timer) }
        tickTimer = nil
        reconnectTimer = nil
    }

    /// The open transaction goes out: everything asked of the database since the last one,
    /// its ENQs and ACKs first (one statement each), then its claims. At most two
    /// transactions are in flight (group commit, as on the embedded store): one the backend
    /// works on, one waiting behind it so it never idles; passes that end meanwhile keep
    /// adding to the next, so under load each commit carries the work of many passes instead
    /// of every pass queueing a commit of its own in the one PostgreSQL backend. `force`
    /// sends regardless (shutdown).
    func endOfPass(force: Bool = false) {
        guard let db = connection else {
            expiredThisPass = false
            return
        }
        flushLane(force: force)
        guard commitsInFlight < Self.maxCommitsInFlight || force else { return }
        flushBatches()
        sendTries()
        expiredThisPass = false
        guard db.hasOpenTransaction else { return }
        if let lane, mainWaitsForLane > lane.ended, !force { return }
        commitsInFlight += 1
        let committed: (Result<Void, PostgresError>) -> Void = { [weak self, weak db] _ in
            // A lost connection fails it too: the count is the new connection's to keep.
            guard let self, let db, db === self.connection else { return }
            self.commitsInFlight -= 1
        }
        guard server.wantsLifecycle || needsTwoSteps else {
            unnumbered.removeAll()  // made while someone listened; nobody does now
            return db.commit(committed)
        }
        needsTwoSteps = false
        let held = HeldAnswers()
        // Decided once: a transaction opened for numbering must end with it.
        let numbering = server.wantsLifecycle
        db.commit(
            opening: numbering ? [store.eventNumberingOpening()] : [],
            finishing: { [weak self] in self?.finishing(holding: held, numbering: numbering) ?? [] }
        ) { [weak self] result in
            committed(result)
            // The answers given while its results were told, before it committed; then its
            // events (as on the embedded store, a command's answer goes before its events).
            switch result {
            case .success:
                for (answer, reply) in held.answers { answer.answer(reply) }
                if !held.events.isEmpty { self?.server.publishLifecycle(held.events) }
            case .failure(let error):
                let why = Self.failed(error)
                for (answer, _) in held.answers { answer.answer(.error(why)) }
            }
        }
    }

    /// The statements that end a two-step transaction, once its results were told: those the
    /// results asked for (a QUEUE change's write), then the numbering of its events. The
    /// answers given meanwhile go to `held`, for the commit.
    private func finishing(holding held: HeldAnswers, numbering: Bool) -> [PostgresStatement] {
        held.answers = uncommittedAnswers
        uncommittedAnswers.removeAll()
        var statements = beforeCommit
        beforeCommit.removeAll()
        if numbering {
            statements.append(eventNumbering(into: held))
        } else {
            unnumbered.removeAll()
        }
        return statements
    }

    /// Answers `answer`: at once, or, while the results being told are not committed yet,
    /// once they are (the same reply), or not (`UNAVAILABLE`).
    private func tell(_ answer: JobAnswer, _ reply: JobReply) {
        if connection?.isTellingUncommittedResults == true {
            uncommittedAnswers.append((answer, reply))
        } else {
            answer.answer(reply)
        }
    }

    static let maxCommitsInFlight = 2

    private func notified(_ notification: PostgresNotification) {
        switch notification.channel {
        case PostgresSchema.channel:
            retryReservers(queue: notification.payload)
        case PostgresJobStore.outcomesChannel:
            if let id = Int64(notification.payload) { resolveWatchers(of: id) }
        // Routes and schedules this process changed are in place already: reloading them on
        // its own notification could race a later change of its own (an UNROUTE, say).
        case PostgresJobStore.routesChannel where notification.senderPID != connection?.serverPID:
            loadRoutes {}
        case PostgresSchema.schedulesChannel where notification.senderPID != connection?.serverPID:
            loadSchedules {}
        default:
            break
        }
    }

    /// A child that `docket.settle_children` released (`unblocked`, or `expired` if its expiry
    /// had passed) or that died with its parent (`dead`), as the embedded store reports it.
    private func settled(_ payload: String) -> LifecycleEvent? {
        guard let child = JSONValue.parse(payload), let id = child["id"]?.uint64Value, let queue = child["queue"]?.stringValue,
            let kind = child["event"]?.stringValue.flatMap(LifecycleEvent.Kind.init(rawValue:))
        else { return nil }
        let runAt = child["run_at"]?.int64Value ?? 0
        let state: JobState = kind != .unblocked ? .dead : runAt > now() ? .delayed : .waiting
        let group = child["group"]?.stringValue.flatMap(PostgresJobStore.hexBytes)
        let job = HeldJob(
            id: id, queue: queue, attempt: 0, maxAttempts: child["max_attempts"]?.intValue ?? 0, group: group, startedAt: now())
        // The database counted its death (schema version 20).
        return makeEvent(kind, job, state: state, counted: false) { event in
            if let error = child["error"]?.stringValue { event.error = Array(error.utf8) }
        }
    }

    /// A command that never reached the database (or whose transaction it rolled back).
    static func unavailable(_ why: String?) -> JobError {
        JobError(.unavailable, "the job store is unavailable: \(oneLine(why ?? "not connected")); nothing was changed or promised, send it again")
    }

    /// A command whose transaction was sent when the connection was lost: it may have
    /// committed, so the answer must not say that nothing changed (an ENQ sent again can make
    /// a second job unless it has a key; an ACK sent again can find the job completed).
    static func unknownOutcome(_ why: String) -> JobError {
        JobError(
            .unavailable,
            "the job store is unavailable: \(oneLine(why)); the connection was lost before its outcome was known, so it may or may not have been done: nothing was promised, send it again (an ENQ with key= to be safe)"
        )
    }

    /// libpq's messages run over several lines (`…unexpectedly\n\tThis probably means…`); an
    /// error reply is one line, where a control character would show as `?`.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: { $0.isNewline || $0 == "\t" }).map { String($0.drop { $0 == " " }) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// What a command whose statement or transaction failed in the database is answered: a
    /// database out of disk space (`53100`, its transaction rolled back) refused the change, as
    /// a full embedded store does; a connection lost with it in flight leaves it unknown;
    /// anything else (the server refused it, its transaction rolled back) changed nothing.
    static func failed(_ error: PostgresError) -> JobError {
        if error.kind == .connection { return unknownOutcome(error.message) }
        guard error.sqlState == "53100" else { return unavailable(error.message) }
        return JobError(.storeFull, "the database has no room for the change: \(oneLine(error.message)); nothing was changed, send it again once it has")
    }

    /// A job as DEAD and LIST show it: without `children`, which only INSPECT gives, as on the
    /// embedded store.
    static func listed(_ record: PostgresJobRecord) -> JobView {
        var view = record.view
        view.children = nil
        return view
    }

    /// A store completion that answers with `success` of what the verb gave, or the error.
    /// Job documents as a reader may see them: parents and children in queues it may not read
    /// left out, as INSPECT leaves them out (nil: their queues could not be read).
    private func readableViews(_ views: [JobView], for connection: Connection, _ done: @escaping ([JobView]?) -> Void) {
        let linked = views.flatMap { ($0.parents ?? []) + ($0.children ?? []) }
        guard let permissions = connection.permissions, !linked.isEmpty else { return done(views) }
        guard let db = self.connection else { return done(nil) }
        store.queues(ofJobs: linked.map(Self.databaseID), on: db) { found in
            guard case .success(let queues) = found else { return done(nil) }
            done(views.map { view in
                var view = view
                view.parents = Server.readable(view.parents, permissions) { queues[Self.databaseID($0)] }
                view.children = Server.readable(view.children, permissions) { queues[Self.databaseID($0)] }
                return view
            })
        }
    }

    private static func answering<T>(
        _ reply: @escaping (JobReply) -> Void, _ success: @escaping (T) -> JobReply
    ) -> (Result<T, PostgresJobError>) -> Void {
        { result in
            switch result {
            case .success(let value): reply(success(value))
            case .failure(let error): reply(.error(jobError(error)))
            }
        }
    }

    private static func answering<T>(
        _ reply: @escaping (JobReply) -> Void, _ success: @escaping (T) -> JobReply
    ) -> (Result<T, PostgresError>) -> Void {
        let decide: (Result<T, PostgresJobError>) -> Void = answering(reply, success)
        return { decide($0.mapError(PostgresJobError.database)) }
    }

    private static func jobError(_ error: PostgresJobError) -> JobError {
        if case .database(let failure) = error { return failed(failure) }
        return JobError(JobError.Code(rawValue: error.code) ?? .notFound, error.message)
    }

    // MARK: Verbs

    func owner(_ connection: Connection) -> String { "\(processName):\(connection.id)" }

    /// The first `limit` bytes of a job's payload and its size (nil: no such job), for the
    /// dashboard.
    func payload(of id: UInt64, limit: Int, _ done: @escaping (Result<(bytes: [UInt8], total: Int)?, JobError>) -> Void) {
        guard let db = connection, isAvailable else { return done(.failure(JobError(.unavailable, "the job store cannot be reached"))) }
        store.payload(Self.databaseID(id), limit: limit, on: db) { result in
            done(result.mapError { JobError(.unavailable, "the job store failed: \($0)") })
        }
    }

    /// Carries out a job command for `connection`; the answer comes later (`.later`), or at
    /// once when the store is unavailable or the command is answered from memory.
    func perform(
        _ command: JobCommand, _ bytes: UnsafeRawBufferPointer, _ body: [UInt8]?, for connection: Connection,
        actingFor holder: Holder? = nil
    ) -> JobReply {
        var viaLane = false
        if case .enqueue(_, let options) = command, holder == nil { viaLane = mayTakeLane(options, from: connection) }
        if viaLane { return performCommand(command, bytes, body, for: connection, viaLane: true) }
        noteMainCommand(from: connection)
        let reply = performCommand(command, bytes, body, for: connection, actingFor: holder)
        if case .later(let answer) = reply { countMainPending(answer, of: connection) }
        return reply
    }

    /// `viaLane`: a plain ENQ that goes on the enqueue connection (`mayTakeLane`).
    private func performCommand(
        _ command: JobCommand, _ bytes: UnsafeRawBufferPointer, _ body: [UInt8]?, for connection: Connection,
        actingFor holder: Holder? = nil, viaLane: Bool = false
    ) -> JobReply {
        if let id = Self.namedID(command), Int64(exactly: id) == nil {
            // Ids are bigint in the database; one the wire allows beyond it names nothing.
            if case .unroute = command { return .error(JobError(.notFound, "route \(id) does not exist")) }
            return .error(.notFound(id))
        }
        guard isAvailable, let db = self.connection else { return .error(Self.unavailable(lastFailure)) }
        func name(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        if holder == nil, let (id, attempt) = Self.fencedJob(command), held[connection.id]?[id] == nil {
            return actForHolder(command, id, attempt, body, for: connection)
        }
        let answer = JobAnswer(blocks: Self.mayWait(command))
        let reply: (JobReply) -> Void = { self.tell(answer, $0) }
        if mustFollowPendingTries(command, of: connection) {
            flushBatches()
            sendTries()
        }
        switch command {
        case .batch:
            return .error(JobError(.badOption, "a BATCH holds only ENQs"))
        case .cancelWait:
            return .doneNow  // answered by the server (`Server.perform`), never sent here
        case .parents(let id):
            flushBatches()
            store.parents(of: Self.databaseID(id), budget: server.config.replyBudget.bytes, on: db) { [budget = server.config.replyBudget] result in
                switch result {
                case .failure(let error): reply(.error(Self.failed(error)))
                case .success(nil): reply(.error(.notFound(id)))
                case .success(let parents?):
                    reply(.document(ParentView.array(Server.readable(parents, connection.permissions), budget: budget)))
                }
            }
        case .children(let id, let after, let limit):
            flushBatches()
            // An id past the database's range has no children: after it, none either.
            let from = after.map { $0 > UInt64(Int64.max) ? Int64.max : Int64($0) } ?? 0
            store.children(of: Self.databaseID(id), after: from, limit: limit, on: db) { [self] result in
                switch result {
                case .failure(let error): reply(.error(Self.failed(error)))
                case .success(nil): reply(.error(.notFound(id)))
                case .success(let (ids, more)?):
                    let budget = server.config.replyBudget
                    let page = { (shown: [UInt64]) in reply(.document(ChildrenPage.json(parent: id, children: shown, next: more ? ids.last : nil, budget: budget))) }
                    guard let permissions = connection.permissions, !ids.isEmpty, let db = self.connection else { return page(ids) }
                    store.queues(ofJobs: ids.map(Self.databaseID), on: db) { found in
                        guard case .success(let queues) = found else { return reply(.error(Self.unavailable(self.lastFailure))) }
                        page(Server.readable(ids, permissions) { queues[Self.databaseID($0)] } ?? [])
                    }
                }
            }
        case .enqueue(let queue, let options) where options.hasParents:
            var job = PostgresNewJob(queue: name(queue), payload: body ?? [])
            Self.apply(options, bytes, to: &job)
            enqueueWithParents([job], named: [options.after ?? []], inBatch: false, for: connection) { result in
                switch result {
                case .success(let enqueued):
                    reply(enqueued[0].replaced ? .replaced(UInt64(enqueued[0].id)) : .enqueued(id: UInt64(enqueued[0].id), duplicate: enqueued[0].duplicate))
                case .failure(let error): reply(.error(error))
                }
            }
        case .enqueue(let queue, let options):
            var job = PostgresNewJob(queue: name(queue), payload: body ?? [])
            Self.apply(options, bytes, to: &job)
            enqueue(job, onLaneFor: viaLane ? connection : nil) { result in
                switch result {
                case .success(let enqueued):
                    reply(enqueued.replaced ? .replaced(UInt64(enqueued.id)) : .enqueued(id: UInt64(enqueued.id), duplicate: enqueued.duplicate))
                case .failure(let error): reply(.error(error))
                }
            }
        case .reserve(let queues, let timeout):
            reserverArrivals += 1
            let reserver = Reserver(
                owner: connection, queues: queues.map(name), answer: answer, timeout: timeout, now: now(), arrival: reserverArrivals)
            if connection.pendingAnswer?.readAhead != nil,
                let ahead = reservers.last(where: { $0.owner === connection && !$0.isDone })
            {
                // Read behind a RESERVE not tried yet: tried with it, and waits its turn behind it.
                reserver.follow(ahead)
            }
            if answer.blocks { answer.readAhead = ReadAhead(queues: reserver.queues, timeout: timeout) }
            if let deadline = reserver.deadline { armTick(at: deadline) }
            reservers.append(reserver)
            attempt(reserver)
        case .ack(let id, let attempt):
            let hold = PostgresHold(id: Self.databaseID(id), owner: holder?.owner ?? owner(connection), attempt: attempt)
            flushEnqueues()
            acks.append((hold, body, { [self] result in
                switch result {
                case .success:
                    if let job = release(id, from: connection, actingFor: holder) {
                        event(.completed, job, state: .completed) {
                            $0.runMilliseconds = Int(self.now() - job.startedAt)
                            $0.resultBytes = body?.count ?? 0
                        }
                        freedSlot(of: job.queue)
                    }
                    reply(.done)
                case .failure(let error): reply(.error(error))
                }
            }))
        case .fail(let id, let choice, let attempt):
            let hold = PostgresHold(id: Self.databaseID(id), owner: holder?.owner ?? owner(connection), attempt: attempt)
            var postgresChoice = PostgresFailChoice.policy
            if case .after(let milliseconds) = choice { postgresChoice = .after(milliseconds: milliseconds) }
            if case .never = choice { postgresChoice = .never }
            flushBatches()
            let ending = endingAttempt(id, of: connection)
            store.fail(hold, choice: postgresChoice, reason: body, on: db) { [self] result in
                ending()
                switch result {
                case .success(let outcome):
                    let job = release(id, from: connection, actingFor: holder)
                    if let job { freedSlot(of: job.queue) }
                    switch outcome {
                    case .retry(let milliseconds):
                        if let job { failed(job, cause: .failed, reason: body, next: .retry(afterMilliseconds: milliseconds)) }
                        if milliseconds > 0 { armTick(at: now() + Int64(milliseconds)) }
                        reply(.retry(milliseconds))
                    case .dead:
                        if let job { failed(job, cause: .failed, reason: body, next: .dead) }
                        reply(.dead)
                    }
                case .failure(let error): reply(.error(Self.jobError(error)))
                }
            }
        case .throttle(let id, let milliseconds, let groupOnly, let attempt):
            let hold = PostgresHold(id: Self.databaseID(id), owner: holder?.owner ?? owner(connection), attempt: attempt)
            flushBatches()
            let ending = endingAttempt(id, of: connection)
            store.throttle(hold, milliseconds: milliseconds, groupOnly: groupOnly, reason: body, on: db) { [self] result in
                ending()
                switch result {
                case .success(let until):
                    if let job = release(id, from: connection, actingFor: holder) {
                        event(.throttled, job, attempt: job.attempt - 1, state: .waiting) {
                            $0.runMilliseconds = Int(self.now() - job.startedAt)
                            $0.error = body
                            $0.retryInMilliseconds = milliseconds
                        }
                    }
                    armTick(at: until)
                    reply(.throttled(milliseconds))
                case .failure(let error): reply(.error(Self.jobError(error)))
                }
            }
        case .progress(let id, let percent, let attempt):
            let hold = PostgresHold(id: Self.databaseID(id), owner: holder?.owner ?? owner(connection), attempt: attempt)
            flushBatches()
            store.progress(hold, percent: percent, note: body, on: db) { [self] result in
                switch result {
                case .success:
                    if let job = held[connection.id]?[id] ?? holder?.job {
                        event(.progress, job, state: .active) {
                            $0.progress = percent
                            $0.note = body
                        }
                    }
                    reply(.doneNow)
                case .failure(let error): reply(.error(Self.jobError(error)))
                }
            }
        case .touch(let id, let attempt):
            let hold = PostgresHold(id: Self.databaseID(id), owner: holder?.owner ?? owner(connection), attempt: attempt)
            flushBatches()
            store.touch(hold, on: db, completion: Self.answering(reply) { _ in .doneNow })
        case .inspect(let id):
            flushBatches()
            // Parents and children in queues a restricted reader may not read are left out.
            store.inspect(Self.databaseID(id), on: db) { [self] result in
                switch result {
                case .success(let record?):
                    readableViews([record.view], for: connection) { views in
                        reply(views.map { .document($0[0].json) } ?? .error(Self.unavailable(self.lastFailure)))
                    }
                case .success(nil): reply(.error(.notFound(id)))
                case .failure(let error): reply(.error(Self.failed(error)))
                }
            }
        case .wait(let id, let timeout):
            if timeout == nil, held[connection.id]?[id] != nil {
                return .error(JobError(.badOption, "job \(id) is held by this connection: ACK or FAIL it rather than WAIT for it"))
            }
            watch(Watcher(owner: connection, id: Self.databaseID(id), answer: answer, timeout: timeout, now: now()))
        case .dead(let queue, let limit):
            flushBatches()
            let budget = server.config.replyBudget
            // The statement's own budget counts only a job's texts, not its document's keys:
            // without this cap `limit=9999999999` brought every dead job of the queue across.
            let most = min(limit, budget.mostItems(ofAtLeast: JobView.leastBytes))
            store.deadJobs(queue: name(queue), limit: most, budget: budget.bytes, on: db) { [self] result in
                switch result {
                case .failure(let error): reply(.error(Self.failed(error)))
                case .success(let records):
                    readableViews(records.map(Self.listed), for: connection) { views in
                        reply(views.map { views in .document(JobView.array(count: views.count, budget: budget) { views[$0] }) } ?? .error(Self.unavailable(self.lastFailure)))
                    }
                }
            }
        case .retryJob(let id):
            flushBatches()
            store.retry(
                Self.databaseID(id), on: db,
                completion: Self.answering(reply) { [self] job in
                    event(.retried, HeldJob(id: id, queue: job.queue, attempt: 0, maxAttempts: job.maxAttempts, group: nil, startedAt: now()), state: .waiting)
                    return .done
                })
        case .retryQueue(let queue):
            flushBatches()
            let queueName = name(queue)
            store.retryAll(
                queue: queueName, on: db,
                completion: Self.answering(reply) { [self] revived in
                    for job in revived {
                        let held = HeldJob(id: UInt64(job.id), queue: queueName, attempt: 0, maxAttempts: job.maxAttempts, group: nil, startedAt: now())
                        event(.retried, held, state: .waiting)
                    }
                    return .count(revived.count)
                })
        case .delete(let id):
            flushBatches()
            store.delete(Self.databaseID(id), on: db) { [self] result in
                if case .success(let queue) = result { count(deleted: 1, queue: queue) }
                Self.answering(reply) { _ in JobReply.done }(result)
            }
        case .queue(let queue, let changes):
            let queueName = name(queue)
            if changes.isEmpty {
                queueDocument(queueName) { result in reply(result.map(JobReply.document) ?? .error(Self.unavailable(nil))) }
            } else {
                // Read (the queue's row locked), change, write, in one transaction: two docketd
                // changing different settings of one queue at once both keep theirs.
                flushBatches()
                needsTwoSteps = true
                store.settings(queue: queueName, locking: true, on: db) { [self] result in
                    guard case .success(let stored) = result, let db = self.connection else { return reply(.error(Self.unavailable(nil))) }
                    let write = store.setSettingsStatement(Self.settings(Self.config(stored).applying(changes)), queue: queueName) {
                        Self.answering(reply) { (_: PostgresResult) in .done }($0)
                    }
                    // Told before the commit, as asked; otherwise (a transaction committed in
                    // one step after all) the write goes in the next one.
                    if db.isTellingUncommittedResults { beforeCommit.append(write) } else { db.execute(write) }
                }
            }
        case .pause(let queue), .resume(let queue):
            var paused = false
            if case .pause = command { paused = true }
            flushBatches()
            store.setPaused(paused, queue: name(queue), on: db, completion: Self.answering(reply) { _ in .done })
        case .stats:
            flushBatches()
            store.counts(on: db) { [self] result in
                guard case .success(let counts) = result else { return reply(.error(Self.unavailable(nil))) }
                reply(.document(server.statsDocument(jobs: counts.jobs, queues: counts.queues)))
            }
        case .queues(let after, let limit):
            let budget = server.config.replyBudget
            readableQueueNames(after: after.map(name) ?? "", limit: limit, readableBy: connection.permissions) { [self] names in
                guard let names else { return reply(.error(Self.unavailable(nil))) }
                queueDocuments(names) { documents in
                    guard let documents else { return reply(.error(Self.unavailable(nil))) }
                    reply(.document(budget.array(count: documents.count) { documents[$0] }.json))
                }
            }
        case .route(let pattern, let queue, _, let text):
            let patternBytes = Array(bytes[pattern])
            if let refused = server.routeRefusal(patternBytes) { return .error(refused) }
            flushBatches()
            let owner = server.config.authenticator == nil ? nil : connection.principal?.name
            store.addRoute(pattern: name(pattern), queue: name(queue), rule: name(text), owner: owner, on: db) { [self] result in
                switch result {
                case .success(let id):
                    // Installed at once here; other processes install it on the notification.
                    installRoute(PostgresRoute(id: id, pattern: name(pattern), queue: name(queue), rule: name(text), owner: owner))
                    reply(.routeAdded(UInt64(id)))
                case .failure(let error): reply(.error(Self.failed(error)))
                }
            }
        case .unroute(let id):
            flushBatches()
            store.removeRoute(Self.databaseID(id), on: db) { [self] result in
                switch result {
                case .success(true):
                    server.uninstallRoute(id)
                    reply(.done)
                case .success(false): reply(.error(JobError(.notFound, "route \(id) does not exist")))
                case .failure(let error): reply(.error(Self.failed(error)))
                }
            }
        case .routes(let after, let limit):
            return server.routesDocument(after: after, limit: limit, readableBy: connection.permissions)
        case .list(let queue, let state, let after, let limit):
            let queueName = name(queue)
            flushBatches()
            let budget = server.config.replyBudget
            store.list(queue: queueName, state: state, after: after, limit: limit, budget: budget.bytes, on: db) { [self] result in
                switch result {
                case .failure(let error): reply(.error(Self.failed(error)))
                case .success(let page):
                    readableViews(page.records.map(Self.listed), for: connection) { views in
                        reply(views.map { views in
                            .document(JobPageView.json(
                                queue: queueName, state: state, count: views.count, more: page.more, budget: budget,
                                job: { views[$0] }, cursor: { page.cursors[$0] }))
                        } ?? .error(Self.unavailable(self.lastFailure)))
                    }
                }
            }
        case .purge(let queue, let state, let older):
            flushBatches()
            let queueName = name(queue)
            store.purge(queue: queueName, state: state, olderThan: older, on: db) { [self] result in
                if case .success(let purged) = result, purged > 0 { count(deleted: purged, queue: queueName) }
                Self.answering(reply) { JobReply.count($0) }(result)
            }
        case .promote(let id):
            flushBatches()
            store.promote(Self.databaseID(id), on: db) { [self] result in
                if case .success(let job) = result { cameDue(job) }
                Self.answering(reply) { _ in JobReply.done }(result)
            }
        case .schedule, .unschedule, .schedules, .pauseSchedule, .resumeSchedule:
            // The server keeps the schedules; it comes back here to store them.
            return server.performSchedule(command, bytes, body, for: connection)
        }
        return .later(answer)
    }

    /// The job and attempt an ACK, FAIL, PROGRESS or TOUCH names with `attempt=`.
    /// The job (or route) id a command names, if it names one.
    private static func namedID(_ command: JobCommand) -> UInt64? {
        switch command {
        case .ack(let id, _), .fail(let id, _, _), .progress(let id, _, _), .touch(let id, _), .inspect(let id),
            .retryJob(let id), .delete(let id), .throttle(let id, _, _, _), .wait(let id, _), .unroute(let id),
            .promote(let id), .parents(let id), .children(let id, _, _):
            return id
        default: return nil
        }
    }

    /// A job id as the database keeps it (bigint); an id past that range names no row, so it
    /// becomes -1, which no job or route has.
    static func databaseID(_ id: UInt64) -> Int64 { Int64(exactly: id) ?? -1 }

    private static func fencedJob(_ command: JobCommand) -> (UInt64, Int)? {
        switch command {
        case .ack(let id, let attempt?), .fail(let id, _, let attempt?), .throttle(let id, _, _, let attempt?),
            .progress(let id, _, let attempt?), .touch(let id, let attempt?):
            return (id, attempt)
        default: return nil
        }
    }

    /// A command naming its attempt for a job this connection does not hold: the attempt is the
    /// fence, so it acts for whoever holds the job in that attempt, a connection of this docketd
    /// or of another one (a worker that reserved through one node may finish through another).
    /// The holder and what the events need come from memory or, for another node's, from the
    /// database; the verb itself is then fenced as usual by (id, holder, attempt), so a job
    /// handed out again meanwhile refuses it.
    private func actForHolder(
        _ command: JobCommand, _ id: UInt64, _ attempt: Int, _ body: [UInt8]?, for connection: Connection
    ) -> JobReply {
        guard let db = self.connection else { return .error(Self.unavailable(lastFailure)) }
        func perform(as holder: Holder) -> JobReply {
            [UInt8]().withUnsafeBytes { self.performCommand(command, $0, body, for: connection, actingFor: holder) }
        }
        if let local = held.first(where: { $0.value[id]?.attempt == attempt }) {
            return perform(as: Holder(owner: "\(processName):\(local.key)", job: local.value[id]!, connection: local.key))
        }
        let answer = JobAnswer()
        flushBatches()
        db.execute(
            """
            SELECT state, lease_owner, queue, attempts, max_attempts, grp, coalesce(started_at, 0)
            FROM docket.jobs WHERE id = $1::bigint
            """,
            [.int(Int(id))]
        ) { [self] result in
            switch result {
            case .failure(let error):
                self.tell(answer, .error(Self.failed(error)))
            case .success(let rows):
                guard let row = rows.rows.first else { return self.tell(answer, .error(.notFound(id))) }
                guard row.string(0) == "active", let owner = row.string(1) else { return self.tell(answer, .error(.notHeld(id))) }
                let current = row.int(3) ?? 0
                guard current == attempt else { return self.tell(answer, .error(.staleAttempt(id, attempt, current: current))) }
                let job = HeldJob(
                    id: id, queue: row.string(2) ?? "", attempt: current, maxAttempts: row.int(4) ?? 0, group: row.bytes(5),
                    startedAt: row.int64(6) ?? now())
                let reply = perform(as: Holder(owner: owner, job: job, connection: nil))
                if case .later(let inner) = reply { inner.onAnswer { self.tell(answer, $0) } } else { self.tell(answer, reply) }
            }
        }
        return .later(answer)
    }

    /// Whether `command` must act after the tries of this connection's RESERVEs still waiting in
    /// `pendingTries`, as the connection sent them: when it may concern the job a try hands out
    /// (`RESERVE q timeout=0` then `ACK <its id>` in one write), or make a job a try would find
    /// (an ENQ, a FAIL or THROTTLE that puts a job back). An ACK, PROGRESS or TOUCH of a job the
    /// connection already holds does not wait for them, so a worker's ACK and next RESERVE still
    /// batch with everyone else's (PROTOCOL.md: ACKs act ahead of the claims of their transaction).
    private func mustFollowPendingTries(_ command: JobCommand, of connection: Connection) -> Bool {
        guard pendingTryOwners.contains(connection.id) else { return false }
        switch command {
        case .reserve: return false
        case .ack(let id, _), .progress(let id, _, _), .touch(let id, _):
            return held[connection.id]?[id] == nil || endingAttempts[connection.id]?.contains(id) == true
        default: return true
        }
    }

    /// Notes that a FAIL or throttle of job `id` by `connection` is in flight, until the returned
    /// closure runs (at its answer): the job is held until then, but an ACK, PROGRESS or TOUCH
    /// of it read meanwhile is for the next attempt (FAIL, RETRY, RESERVE, ACK pipelined), which
    /// a RESERVE still to be tried may hand out, so it must follow that try.
    private func endingAttempt(_ id: UInt64, of connection: Connection) -> () -> Void {
        endingAttempts[connection.id, default: []].insert(id)
        return { [weak self] in
            guard let self else { return }
            self.endingAttempts[connection.id]?.remove(id)
            if self.endingAttempts[connection.id]?.isEmpty == true { self.endingAttempts[connection.id] = nil }
        }
    }

    /// Whether `command`, sent behind a RESERVE whose try has not gone out yet, is read now, to
    /// be decided in the same transaction: a RESERVE of the same queues with the same timeout
    /// (tried right after it, in order, and waiting its turn behind it), or an ACK of a job the
    /// connection holds (which cannot change that RESERVE's answer but for a concurrency cap it
    /// frees, and which the connection would send at once if the RESERVE found a job, as it does
    /// when there are jobs to find). Anything else waits for the RESERVE's answer, as on the
    /// embedded store. Without this, a worker keeping eight RESERVEs in flight had one of them
    /// decided per transaction.
    func readsAhead(_ command: JobCommand, _ bytes: UnsafeRawBufferPointer, behind ahead: ReadAhead, for connection: Connection) -> Bool {
        guard connection.postgresMainPending < Self.maxReadAhead else { return false }
        switch command {
        case .reserve(let queues, let timeout):
            return timeout == ahead.timeout && queues.count == ahead.queues.count
                && zip(queues, ahead.queues).allSatisfy { range, queue in bytes[range].elementsEqual(queue.utf8) }
        case .ack(let id, _):
            return held[connection.id]?[id] != nil
        default:
            return false
        }
    }

    /// Reading ahead stops once the connection has this many commands unanswered: a client
    /// streaming RESERVEs while the database is slow to take them holds no more than that.
    static let maxReadAhead = 1024

    /// RESERVE and WAIT with a timeout other than 0 may wait.
    private static func mayWait(_ command: JobCommand) -> Bool {
        switch command {
        case .reserve(_, let timeout), .wait(_, let timeout): return timeout != 0
        // A setting change is written at the end of its transaction, after the claims of the
        // commands read with it: the connection's next commands wait for its answer, so they
        // see the change, as on the embedded store (`QUEUE q concurrency=1` then `RESERVE q`).
        case .queue(_, let changes): return !changes.isEmpty
        // So does an ENQ whose parents are looked up before its insert (`enqueueWithParents`).
        case .enqueue(_, let options): return namesEarlierJobs(options)
        // And ROUTE and UNROUTE, which change the routes in memory once the database has the
        // change: the PUBs sent behind them are routed by the new routes.
        case .route, .unroute: return true
        default: return false
        }
    }

    /// The queue of job `id` (nil: no such job), for the permission check of a command that
    /// names a job by id: from memory when the connection holds it, else from the database.
    func queue(ofJob id: UInt64, heldBy connection: Connection, _ completion: @escaping (Result<String?, JobError>) -> Void) {
        if let job = held[connection.id]?[id] { return completion(.success(job.queue)) }
        guard isAvailable, let db = self.connection else { return completion(.failure(Self.unavailable(lastFailure))) }
        flushBatches()
        db.execute("SELECT queue FROM docket.jobs WHERE id = $1::bigint", [.int(Int(id))]) { result in
            switch result {
            case .success(let rows): completion(.success(rows.rows.first?.string(0)))
            case .failure(let error): completion(.failure(Self.failed(error)))
            }
        }
    }

    // MARK: Enqueueing

    /// ENQs that name parents (one, or a BATCH's jobs, in order): every parent named by id must
    /// exist and, with users, be readable; then the jobs go in one `docket.enqueue` of their own,
    /// so a `#n` is row n of that call and the batch is one statement, all or nothing.
    func enqueueWithParents(
        _ jobs: [PostgresNewJob], named parents: [[ParentReference]], inBatch numbered: Bool, for connection: Connection,
        _ done: @escaping (Result<[PostgresEnqueued], JobError>) -> Void
    ) {
        guard isAvailable, let db = self.connection else { return done(.failure(Self.unavailable(lastFailure))) }
        func failure(_ index: Int, _ error: JobError) -> Result<[PostgresEnqueued], JobError> {
            .failure(numbered ? JobError(error.code, "job \(index + 1): \(error.message)") : error)
        }
        var prepared = jobs
        var ids: [Int64] = []
        for (index, list) in parents.enumerated() {
            var tokens: [String] = []
            for parent in list {
                switch parent {
                case .job(let id):
                    ids.append(Self.databaseID(id))
                    tokens.append(String(id))
                case .batchPosition(let position):
                    guard position <= index else {
                        return done(failure(index, JobError(.badOption, numbered
                            ? "after=#\(position) names an ENQ that does not come earlier in the batch"
                            : "after=#\(position) names an ENQ of the same BATCH, and this ENQ is not in one")))
                    }
                    tokens.append("@\(position)")
                }
            }
            if !list.isEmpty { prepared[index].parents = tokens }
        }
        flushBatches()
        let insert = { [self] in
            guard isAvailable, let db = self.connection else { return done(.failure(Self.unavailable(lastFailure))) }
            flushBatches()
            let expiredOnArrival = prepared.contains { $0.ttlMilliseconds.map { $0 <= 0 } ?? false || $0.expiresAtMilliseconds.map { $0 <= now() } ?? false }
            store.enqueue(prepared, maxFlowDepth: server.config.maxFlowDepth, on: db) { [self] result in
                switch result {
                case .success(let answers):
                    let now = now()
                    for (job, enqueued) in zip(prepared, answers) { noteEnqueued(job, enqueued, now: now) }
                    done(.success(answers))
                case .failure(let error) where error.flowTooDeep != nil:
                    let refused = error.flowTooDeep!
                    done(failure(refused.job - 1, Server.flowTooDeep(refused.depth, limit: server.config.maxFlowDepth)))
                case .failure(let error):
                    done(.failure(Self.failed(error)))
                }
            }
            if expiredOnArrival { expireDue() }
            flushBatches()
        }
        // Nothing to look up (a BATCH without parents outside it): inserted in this transaction,
        // in order with the client's other commands.
        guard !ids.isEmpty else { return insert() }
        // Parents are looked up first (NOT_FOUND, and whether the client may read them), so
        // the insert goes in a later transaction: the caller makes the client's next commands
        // wait for the answer (`mayWait`, `enqueueBatch`), or they would act before it.
        store.queues(ofJobs: ids, on: db) { [self] result in
            guard case .success(let found) = result else { return done(.failure(Self.unavailable(lastFailure))) }
            for (index, list) in parents.enumerated() {
                for case .job(let id) in list {
                    guard let queue = found[Self.databaseID(id)] else { return done(failure(index, JobError(.notFound, "parent job \(id) not found"))) }
                    if let permissions = connection.permissions, !permissions.may(.read, queue: Array(queue.utf8)) {
                        return done(failure(index, Server.hiddenParent(id)))
                    }
                }
            }
            insert()
        }
    }

    /// Whether an ENQ's `after=` names jobs outside its BATCH, which are looked up before it is
    /// inserted (`enqueueWithParents`).
    static func namesEarlierJobs(_ options: EnqueueOptions) -> Bool {
        options.after?.contains { if case .job = $0 { return true } else { return false } } ?? false
    }

    /// BATCH: its ENQs, checked by the caller, in one `docket.enqueue`.
    func enqueueBatch(
        _ items: [(arguments: [UInt8], payload: [UInt8])], _ commands: [(queue: Range<Int>, options: EnqueueOptions)],
        for connection: Connection
    ) -> JobReply {
        var jobs: [PostgresNewJob] = []
        for (item, (queue, options)) in zip(items, commands) {
            item.arguments.withUnsafeBytes { bytes in
                var job = PostgresNewJob(queue: String(decoding: bytes[queue], as: UTF8.self), payload: item.payload)
                Self.apply(options, bytes, to: &job)
                jobs.append(job)
            }
        }
        let answer = JobAnswer(blocks: commands.contains { Self.namesEarlierJobs($0.options) })
        noteMainCommand(from: connection)
        countMainPending(answer, of: connection)
        enqueueWithParents(jobs, named: commands.map { $0.options.after ?? [] }, inBatch: true, for: connection) { result in
            switch result {
            case .success(let enqueued): self.tell(answer, .enqueuedBatch(enqueued.map { UInt64($0.id) }))
            case .failure(let error): self.tell(answer, .error(error))
            }
        }
        return .later(answer)
    }

    // MARK: The enqueue connection

    /// Opens the enqueue connection, once the main one is up (again at the tick after a loss).
    private func openLane() {
        guard isAvailable, lane?.connection == nil else { return }
        let lane = PostgresEnqueueLane(loop: server.loop)
        lane.onClosed = { [unowned self, unowned lane] in
            guard self.lane === lane else { return }
            self.lane = nil
            mainWaitsForLane = 0
            mainFollowsLane = false
        }
        self.lane = lane
        lane.open(conninfo, hostAddresses: hostAddresses)
    }

    /// Whether an ENQ of `connection` goes on the enqueue connection: a plain one (no parents,
    /// no expiry, which the main connection's expiry pass handles), while nobody listens for
    /// events and none of the client's other commands is unanswered.
    private func mayTakeLane(_ options: EnqueueOptions, from connection: Connection) -> Bool {
        guard let lane, lane.isReady, isAvailable, !server.wantsLifecycle, connection.postgresMainPending == 0 else { return false }
        return !options.hasParents && options.ttlMilliseconds == nil && options.expiresAtMilliseconds == nil
    }

    /// A command of `connection` for the main connection: if the client has ENQs unanswered on
    /// the enqueue connection, the open transaction waits for them.
    private func noteMainCommand(from connection: Connection) {
        if connection.postgresLanePending > 0 { mainFollowsLane = true }
    }

    private func countMainPending(_ answer: JobAnswer, of connection: Connection) {
        connection.postgresMainPending += 1
        answer.whenAnswered { connection.postgresMainPending -= 1 }
    }

    /// Sends the enqueue connection's batch, and notes what the main connection must wait for.
    private func flushLane(force: Bool) {
        guard let lane else { return }
        lane.send(force: force) { [self] items, db in
            for run in Self.runsWithoutRepeatedKeys(items) {
                store.enqueue(run.map(\.job), on: db, completion: settling(run, events: false))
            }
        }
        if mainFollowsLane {
            mainFollowsLane = false
            mainWaitsForLane = max(mainWaitsForLane, lane.sent + (lane.batch.isEmpty ? 0 : 1))
        }
    }

    /// The lifecycle events of a job the database created (only its counts without `events`:
    /// see `PostgresEnqueueLane`).
    private func noteEnqueued(_ job: PostgresNewJob, _ enqueued: PostgresEnqueued, now: Int64, events: Bool = true) {
        guard !enqueued.duplicate, !enqueued.replaced else { return }
        let delayed = enqueued.runAt > now
        if delayed { armTick(at: enqueued.runAt) }
        // Expired on time, not at the next second's tick: INSPECT says dead, and `expired` is
        // published, as the embedded store's timer does.
        if let expiry = job.expiresAtMilliseconds ?? job.ttlMilliseconds.map({ now + Int64($0) }), expiry > now { armTick(at: expiry) }
        if !delayed, enqueued.state == "waiting" { offerToWaitingReserver(queue: job.queue) }
        guard events else { return count(.enqueued, queue: job.queue) }
        let held = HeldJob(
            id: UInt64(enqueued.id), queue: job.queue, attempt: 0, maxAttempts: enqueued.maxAttempts, group: job.group, startedAt: now)
        let state: JobState = enqueued.state == "blocked" ? .blocked : enqueued.state == "dead" ? .dead : delayed ? .delayed : .waiting
        // A job enqueued after a parent already dead (or deleted) is dead at once: as on the
        // embedded store, it is enqueued `blocked`, then dies saying which parent killed it.
        event(.enqueued, held, state: state == .dead ? .blocked : state)
        if state == .blocked {
            event(.blocked, held, state: .blocked) { event in
                event.parents = enqueued.parents
            }
        } else if state == .dead {
            event(.dead, held, state: .dead)
            tellWhyItDied(held.id)
        }
    }

    /// The `dead` event just made for job `id` gets the job's last error (`parent <id> dead`),
    /// read in the same transaction before its events are numbered.
    private func tellWhyItDied(_ id: UInt64) {
        guard server.wantsLifecycle, let db = connection, db.isTellingUncommittedResults else { return }
        beforeCommit.append(
            PostgresStatement("SELECT last_error FROM docket.jobs WHERE id = $1::bigint", [.int(Int(id))]) { [self] result in
                // Read before the numbering's answer, which puts it in the event.
                guard case .success(let rows) = result, let error = rows.rows.first?.bytes(0) else { return }
                deathReasons[id] = error
            })
    }

    /// Adds `job` to the pass's ENQs: the main connection's, or with `client`, the enqueue
    /// connection's (counted as the client's unanswered ENQs there).
    private func enqueue(
        _ job: PostgresNewJob, onLaneFor client: Connection? = nil, _ done: @escaping (Result<PostgresEnqueued, JobError>) -> Void
    ) {
        if let client, let lane {
            client.postgresLanePending += 1
            lane.batch.append((job, { result in
                client.postgresLanePending -= 1
                done(result)
            }))
            return
        }
        if !acks.isEmpty { flushAcks() }
        // One insert cannot see its own rows: an ENQ whose key an earlier one of the batch
        // names (`replace=true` of a job just enqueued, or its duplicate) goes in the next.
        if let key = job.key, enqueues.contains(where: { $0.job.key == key && $0.job.queue == job.queue }) { flushEnqueues() }
        enqueues.append((job, done))
    }

    /// The ENQs in order, cut before each one whose queue and key an earlier one of its run
    /// names: each run is one insert, and an insert cannot see its own rows.
    static func runsWithoutRepeatedKeys(_ items: [PostgresEnqueueLane.Enqueue]) -> [[PostgresEnqueueLane.Enqueue]] {
        var runs: [[PostgresEnqueueLane.Enqueue]] = [[]]
        var keys: Set<KeyOfQueue> = []
        for item in items {
            if let key = item.job.key {
                if !keys.insert(KeyOfQueue(queue: item.job.queue, key: key)).inserted {
                    runs.append([])
                    keys = [KeyOfQueue(queue: item.job.queue, key: key)]
                }
            }
            runs[runs.count - 1].append(item)
        }
        return runs
    }

    struct KeyOfQueue: Hashable {
        let queue: String
        let key: [UInt8]
    }

    /// What a batch of ENQs gets once its transaction ended: each its job (noted, with its
    /// events unless `events` is false), or the failure.
    private func settling(
        _ batch: [PostgresEnqueueLane.Enqueue], events: Bool = true
    ) -> (Result<[PostgresEnqueued], PostgresError>) -> Void {
        { [self] result in
            switch result {
            case .success(let answers):
                let now = now()
                for (item, enqueued) in zip(batch, answers) {
                    noteEnqueued(item.job, enqueued, now: now, events: events)
                    item.done(.success(enqueued))
                }
            case .failure(let error):
                for item in batch { item.done(.failure(Self.failed(error))) }
            }
        }
    }

    /// The jobs of routed messages; `done` gets their ids once committed, or why they were not
    /// made (they share one transaction: all are made or none).
    func enqueueRouted(_ jobs: [PostgresNewJob], _ done: @escaping (Result<[UInt64], JobError>) -> Void) {
        guard isAvailable else { return done(.failure(Self.unavailable(lastFailure))) }
        guard !jobs.isEmpty else { return done(.success([])) }
        // In the order of `jobs`, whatever order the answers come in: callers pair them up.
        var ids = [UInt64?](repeating: nil, count: jobs.count)
        var answered = 0
        var failure: JobError?
        for (index, job) in jobs.enumerated() {
            enqueue(job) { result in
                answered += 1
                switch result {
                case .success(let enqueued): ids[index] = UInt64(enqueued.id)
                case .failure(let error): failure = failure ?? error
                }
                if answered == jobs.count { done(failure.map { .failure($0) } ?? .success(ids.compactMap { $0 })) }
            }
        }
    }

    static func apply(_ options: EnqueueOptions, _ bytes: UnsafeRawBufferPointer, group: [UInt8]? = nil, to job: inout PostgresNewJob) {
        job.priority = options.priority
        job.delayMilliseconds = options.delayMilliseconds
        job.runAtMilliseconds = options.runAtMilliseconds
        job.maxAttempts = options.maxAttempts
        job.backoff = options.backoff.map(PostgresBackoff.init)
        job.jitter = options.jitter
        job.leaseMilliseconds = options.leaseMilliseconds
        job.key = options.key.map { Array(bytes[$0]) }
        job.group = group ?? options.group.map { Array(bytes[$0]) }
        job.ttlMilliseconds = options.ttlMilliseconds
        job.expiresAtMilliseconds = options.expiresAtMilliseconds
        job.runsIfParentDies = options.onParentDead == .run
        job.keyTTLMilliseconds = options.keyTTLMilliseconds
        job.replace = options.replace
    }

    private func flushBatches() {
        flushEnqueues()
        flushAcks()
    }

    private func flushEnqueues() {
        guard !enqueues.isEmpty, let db = connection else { return }
        let batch = enqueues
        enqueues.removeAll()
        // An expiry already past makes the job dead at once, in the same transaction as its
        // insert, so nobody sees it waiting (as on the embedded store).
        let expiredOnArrival = batch.contains { item in
            item.job.ttlMilliseconds.map { $0 <= 0 } ?? false || item.job.expiresAtMilliseconds.map { $0 <= now() } ?? false
        }
        defer { if expiredOnArrival { expireDue() } }
        store.enqueue(batch.map(\.job), on: db, completion: settling(batch))
    }

    private func flushAcks() {
        guard !acks.isEmpty, let db = connection else { return }
        let batch = acks
        acks.removeAll()
        store.ack(batch.map { ($0.hold, $0.result) }, on: db) { result in
            switch result {
            case .success(let outcomes):
                for (item, outcome) in zip(batch, outcomes) { item.done(outcome.mapError(Self.jobError)) }
            case .failure(let error):
                for item in batch { item.done(.failure(Self.failed(error))) }
            }
        }
    }

    /// Batched commands that never reached the database: unavailable.
    private func failBatches(_ why: String) {
        let (pendingEnqueues, pendingAcks) = (enqueues, acks)
        enqueues.removeAll()
        acks.removeAll()
        for item in pendingEnqueues { item.done(.failure(Self.unavailable(why))) }
        for item in pendingAcks { item.done(.failure(Self.unavailable(why))) }
    }

    // MARK: Reserving

    /// One try of a RESERVE, sent at the end of the pass (`sendTries`). One that may wait and
    /// finds nothing stays on the list.
    private func attempt(_ reserver: Reserver) {
        guard connection != nil, isAvailable, !reserver.inFlight, !reserver.isDone else { return }
        reserver.inFlight = true
        reserver.wokenMeanwhile = false
        pendingTries.append(reserver)
        pendingTryOwners.insert(reserver.owner.id)
    }

    /// The pass's RESERVE tries, after its ENQs and ACKs. Holding them to the end costs no
    /// time (nothing is sent before the pass's commit anyway) and keeps a worker's ACK, which
    /// comes with its next RESERVE, in the pass's one ACK statement instead of alone before
    /// that RESERVE: one `docket.ack` per pass rather than per job.
    private func sendTries() {
        guard !pendingTries.isEmpty else { return }
        // First come, first served: tries in the order their RESERVEs came, not the order they
        // were woken (a job for the second queue of an earlier waiter's list, offered first,
        // made a later waiter of both queues take the job the earlier one was owed).
        let tries = pendingTries.sorted { $0.arrival < $1.arrival }
        pendingTries.removeAll()
        for reserver in tries { reserver.answer.readAhead = nil }
        guard let db = connection, isAvailable else {
            for reserver in tries {
                reserver.inFlight = false
                // Cancelled while its try waited to go out: no try will come to end it.
                if reserver.endsAfterTry, !reserver.isDone {
                    finish(reserver)
                    tell(reserver.answer, .noJob)
                }
            }
            return
        }
        if !expiredThisPass { expireDue() }
        // Every round of tries looks again: the claims take only jobs due by the last look, and
        // a command between two rounds of one pass (a FAIL that retries now, say) may have made
        // one runnable since the first.
        if server.wantsLifecycle { tellDue() }
        // One statement for the tries that name the same queues (workers keep several RESERVEs
        // in flight, and many workers share a queue list), in the order they came: a try joins
        // an earlier group of its queues only if no group that claims after that one shares a
        // queue with it (it would otherwise take a job before a RESERVE that came first).
        var groups: [(queues: [String], reservers: [Reserver])] = []
        for reserver in tries {
            if reserver.isDone {
                reserver.inFlight = false
                continue
            }
            if let index = groups.lastIndex(where: { $0.queues == reserver.queues }),
                groups[(index + 1)...].allSatisfy({ later in later.queues.allSatisfy { !reserver.queues.contains($0) } })
            {
                groups[index].reservers.append(reserver)
            } else {
                groups.append((reserver.queues, [reserver]))
            }
        }
        for (queues, group) in groups {
            if group.count == 1 {
                send(group[0], on: db)
                continue
            }
            let owners = group.map { owner($0.owner) }
            store.reserve(queues: queues, owners: owners, on: db) { [self] result in
                for (index, reserver) in group.enumerated() {
                    settle(reserver, owner: owners[index], result.map { $0[index] })
                }
            }
        }
    }

    private func send(_ reserver: Reserver, on db: PostgresConnection) {
        let ownerName = owner(reserver.owner)
        store.reserve(queues: reserver.queues, owner: ownerName, on: db) { [self] result in
            settle(reserver, owner: ownerName, result)
        }
    }

    /// What one try of `reserver` got: a job (handed over, or given back if nobody waits for it
    /// any more), nothing (NOJOB, or wait on), or a lost database.
    private func settle(_ reserver: Reserver, owner ownerName: String, _ result: Result<PostgresReservation?, PostgresError>) {
        reserver.inFlight = false
        reserver.hasSettled = true
        switch result {
        case .success(let job?):
            // (A RESERVE behind one that found nothing finds nothing either: same statement, in order.)
            guard !reserver.isDone, !reserver.owner.isClosed, reserver.predecessor == nil else {
                // Nobody to hand it to any more: back in its place, the attempt not counted.
                return giveBack(PostgresHold(id: job.id, owner: ownerName, attempt: job.attempt))
            }
            finish(reserver)
            deliver(job, to: reserver)
        case .success(nil):
            guard !reserver.isDone else { return }
            if reserver.predecessor != nil {
                // The RESERVE before it waits: this one waits its turn, neither tried nor timed.
                reservers.removeAll { $0 === reserver }
            } else if !reserver.waits || reserver.endsAfterTry {
                finish(reserver)
                self.tell(reserver.answer, .noJob)
            } else if reserver.wokenMeanwhile {
                attempt(reserver)
            }
        case .failure(let error):
            guard !reserver.isDone else { return }
            finish(reserver)
            self.tell(reserver.answer, .error(Self.failed(error)))
        }
    }

    private func deliver(_ job: PostgresReservation, to reserver: Reserver) {
        let connection = reserver.owner
        let record = HeldJob(
            id: UInt64(job.id), queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts, group: job.group, startedAt: now())
        held[connection.id, default: [:]][record.id] = record
        connection.heldJobs.insert(record.id)
        armTick(at: job.leaseExpiresAt)
        event(.started, record, state: .active) { $0.waitMilliseconds = job.waitMilliseconds }
        self.tell(reserver.answer,
            .delivery(
                JobDelivery(
                    id: record.id, queue: Array(job.queue.utf8), attempt: job.attempt, leaseMilliseconds: job.leaseMilliseconds,
                    delivery: UInt64(job.delivery), payload: job.payload)))
    }

    /// A job handed out that never reached its requester goes back, the attempt not counted.
    func giveBack(_ delivery: JobDelivery, heldBy connection: Connection) {
        _ = release(delivery.id, from: connection)
        giveBack(PostgresHold(id: Int64(delivery.id), owner: owner(connection), attempt: delivery.attempt))
    }

    private func giveBack(_ hold: PostgresHold) {
        guard let db = connection else { return }  // its lease ends by itself
        flushBatches()
        store.giveBack(hold, on: db) { _ in }
    }

    private func finish(_ reserver: Reserver) {
        reserver.isDone = true
        reservers.removeAll { $0 === reserver }
        if let next = reserver.follower { takeTurn(next) }
        reserver.follower = nil
    }

    /// The RESERVE read behind an answered one starts as if read now (its timeout too), as on
    /// the embedded store, which reads it only then; one still in its first try goes on with it.
    private func takeTurn(_ reserver: Reserver) {
        reserver.predecessor = nil
        guard !reserver.isDone else { return }
        reserver.deadline = reserver.timeout.map { now() + Int64($0) }
        if let deadline = reserver.deadline { armTick(at: deadline) }
        guard !reservers.contains(where: { $0 === reserver }) else { return }
        reservers.append(reserver)
        attempt(reserver)
    }

    /// A job this process enqueued on `queue` is ready: the longest-waiting RESERVE here that
    /// takes from it tries now, before the ENQ is answered. Left to the database's notification,
    /// which comes a moment later, a RESERVE sent after the ENQ's reply could take the job
    /// first, and waiting workers would not be served first come, first served.
    private func offerToWaitingReserver(queue: String) {
        guard let reserver = reservers.first(where: { !$0.inFlight && !$0.isDone && $0.queues.contains(queue) }) else { return }
        attempt(reserver)
    }

    /// A job of `queue` stopped being active (ACK, FAIL): under a concurrency cap, a RESERVE
    /// waiting here may start one now. The database notifies every docketd of it too (schema
    /// version 23), a moment after the commit; the waiter here need not wait for that. One
    /// try, by the longest-waiting RESERVE of the queue, and only while one waits.
    private func freedSlot(of queue: String) {
        offerToWaitingReserver(queue: queue)
    }

    /// Waiting RESERVEs that take from `queue` (nil: all) try again.
    private func retryReservers(queue: String? = nil) {
        for reserver in reservers where queue == nil || reserver.queues.contains(queue!) {
            if reserver.inFlight { reserver.wokenMeanwhile = true } else { attempt(reserver) }
        }
    }

    // MARK: Waiting for outcomes

    private func watch(_ watcher: Watcher) {
        guard let db = connection else { return self.tell(watcher.answer, .error(Self.unavailable(lastFailure))) }
        flushBatches()
        startingWatchers.append(watcher)
        store.watch(watcher.id, watcher: processName, on: db) { [self] result in
            startingWatchers.removeAll { $0 === watcher }
            guard !watcher.isDone else {
                // Cancelled meanwhile (`endWait`), and answered then.
                if case .success(.watching) = result { unwatchIfUnwatched(watcher.id) }
                return
            }
            switch result {
            case .failure(let error):
                self.tell(watcher.answer, .error(Self.failed(error)))
            case .success(.notFound):
                self.tell(watcher.answer, .error(.notFound(UInt64(watcher.id))))
            case .success(.finished):
                outcome(of: watcher.id) { self.tell(watcher.answer, $0) }
            case .success(.watching(let state)):
                guard let deadline = watcher.deadline, deadline <= now() else {
                    watchers[watcher.id, default: []].append(watcher)
                    if let deadline = watcher.deadline { armTick(at: deadline) }
                    return
                }
                self.tell(watcher.answer, .pending(id: UInt64(watcher.id), state: state))
                unwatchIfUnwatched(watcher.id)
            }
        }
    }

    /// WAIT's answer for a job now: its outcome when finished, PENDING otherwise.
    private func outcome(of id: Int64, _ done: @escaping (JobReply) -> Void) {
        guard let db = connection else { return done(.error(Self.unavailable(lastFailure))) }
        flushBatches()
        store.inspect(id, on: db) { result in
            switch result {
            case .failure(let error): done(.error(Self.failed(error)))
            case .success(nil): done(.gone(UInt64(id)))
            case .success(let record?):
                switch record.state {
                case "completed": done(.outcome(JobOutcome(id: UInt64(id), completed: true, detail: record.result, result: record.result)))
                case "dead": done(.outcome(JobOutcome(id: UInt64(id), completed: false, detail: record.lastError, result: record.result)))
                default: done(.pending(id: UInt64(id), state: record.state))
                }
            }
        }
    }

    /// A notification said job `id` finished or went: its watchers hear how.
    private func resolveWatchers(of id: Int64) {
        guard watchers[id] != nil else { return }
        outcome(of: id) { [self] reply in
            if case .pending = reply { return }  // not finished after all (retried meanwhile)
            let waiting = watchers.removeValue(forKey: id) ?? []
            for watcher in waiting where !watcher.isDone {
                watcher.isDone = true
                self.tell(watcher.answer, reply)
            }
        }
    }

    private func unwatchIfUnwatched(_ id: Int64) {
        guard watchers[id]?.isEmpty ?? true, let db = connection else { return }
        watchers[id] = nil
        store.unwatch(id, watcher: processName, on: db) { _ in }
    }

    // MARK: Time

    /// Every second, and at each deadline known: waits that timed out end, expired leases
    /// end as failed attempts, and waiting RESERVEs try again.
    fileprivate func tick() {
        armedTick = nil
        let now = now()
        for reserver in reservers where (reserver.deadline ?? .max) <= now {
            finish(reserver)
            self.tell(reserver.answer, .noJob)
        }
        for (id, list) in watchers {
            for watcher in list where !watcher.isDone && (watcher.deadline ?? .max) <= now {
                watcher.isDone = true
                outcome(of: id) { self.tell(watcher.answer, $0) }
            }
            watchers[id] = list.filter { !$0.isDone }
            unwatchIfUnwatched(id)
        }
        armTick(after: 1000)
        // The waits still running end on time.
        for deadline in reservers.compactMap(\.deadline) + watchers.values.joined().compactMap(\.deadline) { armTick(at: deadline) }
        closeSilentConnections()
        guard isAvailable, let db = connection else { return }
        if lane == nil { openLane() }
        flushBatches()
        expireDue()
        tellDue()
        flushActivity()
        store.recoverExpiredLeases(on: db) { [self] result in
            guard case .success(let ended) = result else { return }
            for attempt in ended { endedAttempt(attempt, cause: .stalled) }
            if !ended.isEmpty { armTick(after: 0) }
        }
        heartbeat()
        if lastJobCountFold + 1000 <= now {
            lastJobCountFold = now
            store.foldJobCount(on: db)
        }
        // Every 2 s, and no more than half the time: a snapshot of 100,000 queues, a chunk at a
        // time, took 3 minutes (debug build), with docketd handling its answers throughout.
        if server.config.httpPort != nil && !snapshotInFlight && snapshot.takenAt + max(2000, snapshotMilliseconds) <= now {
            takeSnapshot()
        }
        store.nextDeadline(on: db) { [self] result in
            if case .success(let deadline?) = result { armTick(at: deadline) }
        }
        retryReservers()
    }

    /// Tells the database this node is alive, a few times per node timeout, and takes back the
    /// jobs of nodes that stopped doing so (`docket.node_heartbeat`): their attempts end as
    /// `lost`, published as such by this node, and the jobs are claimed anew.
    private func heartbeat() {
        guard isAvailable, let db = connection, !heartbeatInFlight else { return }
        let timeout = server.config.nodeTimeoutMilliseconds
        let interval = Int64(timeout == 0 ? 5000 : min(max(timeout / 5, 500), 5000))
        let now = now()
        guard lastHeartbeat + interval <= now else { return }
        lastHeartbeat = now
        heartbeatInFlight = true
        store.heartbeat(node: processName, timeoutMilliseconds: timeout, on: db) { [self] result in
            heartbeatInFlight = false
            switch result {
            case .failure(let error):
                log.error("PostgreSQL store: the node heartbeat failed: \(error)")
            case .success(let ended):
                if !ended.isEmpty {
                    let nodes = Set(ended.compactMap(\.lostNode)).sorted().joined(separator: ", ")
                    log.info("PostgreSQL store: took back \(ended.count) job(s) from node(s) that stopped answering: \(nodes)")
                }
                for attempt in ended { endedAttempt(attempt, cause: .lost) }
                if !ended.isEmpty {
                    retryReservers()
                    armTick(after: 0)
                }
            }
        }
    }

    /// Waiting jobs whose expiry came are made dead, in this pass's transaction (ahead of its
    /// claims, so no job starts after its expiry).
    private func expireDue() {
        guard let db = connection else { return }
        expiredThisPass = true
        flushBatches()
        store.expireDue(on: db) { [self] result in
            guard case .success(let expired) = result else { return }
            for job in expired {
                let record = HeldJob(
                    id: UInt64(job.id), queue: job.queue, attempt: job.attempts, maxAttempts: job.maxAttempts, group: job.group,
                    startedAt: now())
                event(.expired, record, state: .dead) {
                    $0.error = Array("expired: not started by \(job.expiresAt) (unix ms)".utf8)
                }
            }
            if expired.count >= 1000 { armTick(after: 0) }
        }
    }

    /// Delayed jobs that came due are told (`waiting`), in this pass's transaction: ahead of
    /// its claims, so a job's `waiting` is numbered before its `started`. Without anyone to
    /// tell, only the tick takes them (the notes would pile up otherwise).
    private func tellDue() {
        guard let db = connection else { return }
        flushBatches()
        store.takeDue(on: db) { [self] result in
            guard case .success(let due) = result else { return }
            for job in due { cameDue(job) }
            if due.count >= 1000 { armTick(after: 0) }
        }
    }

    private func cameDue(_ job: PostgresDueJob) {
        let record = HeldJob(
            id: UInt64(job.id), queue: job.queue, attempt: job.attempts, maxAttempts: job.maxAttempts, group: job.group, startedAt: now())
        event(.waiting, record, state: .waiting)
    }

    /// A connection that has heard nothing from the server for `--store-timeout` while waiting
    /// for it (a stopped server, a host gone without closing the socket) is taken for lost, as
    /// a closed one is: its commands are answered `UNAVAILABLE` and a new one is made. Without
    /// this, every job command would wait for TCP to give up, hours later.
    private func closeSilentConnections() {
        let limit = Int64(server.config.storeTimeoutMilliseconds)
        guard limit > 0 else { return }
        let at = Int64(monotonicMilliseconds())
        // Held here while they close: closing drops the backend's reference to the connection,
        // and the lane's closing drops the lane (whose callbacks still run).
        if let db = connection { withExtendedLifetime(db) { db.closeIfSilent(longerThan: limit, now: at) } }
        if let lane, let db = lane.connection { withExtendedLifetime((lane, db)) { db.closeIfSilent(longerThan: limit, now: at) } }
    }

    private func armTick(after milliseconds: Int) { armTick(at: now() + Int64(milliseconds)) }

    /// Makes the tick come at `deadline` (wall ms) at the latest.
    private func armTick(at deadline: Int64) {
        guard let tickTimer else { return }
        if let armed = armedTick, armed <= deadline { return }
        armedTick = deadline
        EventLoop.add(tickTimer, timeoutMilliseconds: Int(max(0, deadline - now())))
    }

    private func now() -> Int64 { server.clock.now() }

    // MARK: Connections ending

    /// A client connection closed: its waits end, and what it held is released (failed
    /// attempts, as "worker lost", following each job's retry policy).
    func connectionClosed(_ connection: Connection) {
        endWaits(of: connection)
        guard let jobs = held.removeValue(forKey: connection.id), !jobs.isEmpty, let db = self.connection else { return }
        flushBatches()
        store.release(owners: [owner(connection)], on: db) { [self] result in
            guard case .success(let ended) = result else { return }
            for attempt in ended { endedAttempt(attempt, cause: .lost) }
        }
    }

    /// The connection's RESERVE or WAIT answered by `answer` stops waiting (a CANCEL came right
    /// behind it), answered as at its timeout: a RESERVE NOJOB now, a job its try in flight
    /// finds going back in its place, its attempt not counted (`settle`); a WAIT with the job's
    /// state. False when nothing ends now, and the connection stays blocked until `answer`
    /// comes: no such wait, or one that has not started in the embedded store's order yet: a
    /// RESERVE read ahead behind another still waiting (it starts, and the CANCEL is looked at
    /// again, when that one is answered), or one whose first try is out (the embedded store
    /// would have decided it before reading the CANCEL: it gets what that try finds, and only
    /// a wait that follows ends).
    func endWait(_ answer: JobAnswer, of connection: Connection) -> Bool {
        for head in reservers where head.owner === connection {
            var next: Reserver? = head
            while let reserver = next {
                if reserver.answer === answer, !reserver.isDone {
                    if reserver.predecessor != nil { return false }
                    if !reserver.hasSettled, reserver.inFlight {
                        reserver.endsAfterTry = true
                        return false
                    }
                    finish(reserver)
                    tell(answer, .noJob)
                    return true
                }
                next = reserver.follower
            }
        }
        let waiting = watchers.values.joined().first { $0.answer === answer } ?? startingWatchers.first { $0.answer === answer }
        guard let watcher = waiting, !watcher.isDone else { return false }
        watcher.isDone = true
        if let list = watchers[watcher.id] {
            watchers[watcher.id] = list.filter { !$0.isDone }
            unwatchIfUnwatched(watcher.id)
        }
        outcome(of: watcher.id) { self.tell(answer, $0) }
        return true
    }

    /// The connection's RESERVE and WAIT end (it closed, or will read nothing more): a job
    /// found meanwhile goes back. Their answers fill their places so the connection can drain;
    /// nobody reads them.
    func endWaits(of connection: Connection) {
        for reserver in reservers where reserver.owner === connection {
            // With the RESERVEs waiting their turn behind it.
            var next: Reserver? = reserver
            while let ending = next {
                ending.isDone = true
                self.tell(ending.answer, .noJob)
                next = ending.follower
                ending.follower = nil
            }
        }
        reservers.removeAll { $0.isDone }
        for (id, list) in watchers where list.contains(where: { $0.owner === connection }) {
            for watcher in list where watcher.owner === connection {
                watcher.isDone = true
                self.tell(watcher.answer, .gone(UInt64(id)))
            }
            watchers[id] = list.filter { !$0.isDone }
            unwatchIfUnwatched(id)
        }
    }

    /// Forgets that `connection` holds job `id`; what it knew of the job.
    private func release(_ id: UInt64, from connection: Connection) -> HeldJob? {
        connection.heldJobs.remove(id)
        return held[connection.id]?.removeValue(forKey: id)
    }

    /// The same as the job ends through a command that acted for its holder: the holder, if a
    /// connection of this docketd, holds it no more.
    private func release(_ id: UInt64, from connection: Connection, actingFor holder: Holder?) -> HeldJob? {
        guard let holder else { return release(id, from: connection) }
        if let local = holder.connection {
            held[local]?[id] = nil
            server.connections[local]?.heldJobs.remove(id)
        }
        return holder.job
    }

    private func endedAttempt(_ attempt: PostgresEndedAttempt, cause: LifecycleEvent.Kind) {
        // Whoever held it (in this process) holds it no more.
        for key in held.keys where held[key]?[UInt64(attempt.id)] != nil {
            held[key]?[UInt64(attempt.id)] = nil
            server.connections[key]?.heldJobs.remove(UInt64(attempt.id))
        }
        let job = HeldJob(
            id: UInt64(attempt.id), queue: attempt.queue, attempt: attempt.attempt, maxAttempts: attempt.maxAttempts, group: nil,
            startedAt: now())
        // The last error the database wrote (`docket.end_attempts`), as the embedded store's
        // event says it. A node's silence is the database's own (`docket.node_heartbeat`).
        let reason =
            cause == .stalled
            ? "stalled: lease of \(attempt.leaseMilliseconds ?? 0) ms expired"
            : attempt.lostNode.map { "worker lost: its node \($0) stopped answering" } ?? "worker lost: connection closed"
        failed(job, cause: cause, reason: Array(reason.utf8), next: attempt.outcome)
        if case .retry(let milliseconds) = attempt.outcome, milliseconds > 0 { armTick(at: now() + Int64(milliseconds)) }
    }

    // MARK: Lifecycle events

    private func failed(_ job: HeldJob, cause: LifecycleEvent.Kind, reason: [UInt8]?, next: PostgresFailOutcome) {
        let ran = Int(now() - job.startedAt)
        switch next {
        case .retry(let milliseconds):
            event(cause, job, state: milliseconds > 0 ? .delayed : .waiting) {
                $0.error = reason
                $0.next = "retry"
                $0.retryInMilliseconds = milliseconds
                $0.runMilliseconds = ran
            }
        case .dead:
            event(cause, job, state: .dead) {
                $0.error = reason
                $0.next = "dead"
                $0.runMilliseconds = ran
            }
            event(.dead, job, state: .dead) { $0.error = reason }
        }
    }

    /// Makes one event, to be numbered in the transaction whose results made it true and
    /// published once that has committed (every caller runs while those results are told).
    private func event(
        _ kind: LifecycleEvent.Kind, _ job: HeldJob, attempt: Int? = nil, state: JobState, _ fill: (inout LifecycleEvent) -> Void = { _ in }
    ) {
        if let event = makeEvent(kind, job, attempt: attempt, state: state, fill) { unnumbered.append(event) }
    }

    /// Counts one event in the queue's totals; the event itself only while someone can hear it.
    private func makeEvent(
        _ kind: LifecycleEvent.Kind, _ job: HeldJob, attempt: Int? = nil, state: JobState, counted: Bool = true,
        _ fill: (inout LifecycleEvent) -> Void = { _ in }
    ) -> LifecycleEvent? {
        if counted { count(kind, queue: job.queue) }
        guard server.wantsLifecycle else { return nil }
        var event = LifecycleEvent(
            kind: kind, sequence: 0, queue: job.queue, id: job.id, attempt: attempt ?? job.attempt,
            maxAttempts: job.maxAttempts, state: state, at: now())
        event.group = job.group
        fill(&event)
        return event
    }

    /// Counts one event for the queue's `totals` and `rates` (added to the database's counts
    /// by `flushActivity`).
    private func count(_ kind: LifecycleEvent.Kind, queue: String) {
        let index: Int
        switch kind {
        case .enqueued: index = 0
        case .started: index = 1
        case .completed: index = 2
        case .failed, .stalled, .lost: index = 3
        case .dead, .expired: index = 4
        case .throttled: index = 5
        case .progress, .retried, .scheduled, .waiting, .blocked, .unblocked: return
        }
        count(index, by: 1, queue: queue)
    }

    /// Counts jobs DEL or PURGE deleted.
    private func count(deleted: Int, queue: String) { count(6, by: deleted, queue: queue) }

    /// `index` in `PostgresActivity.kinds`.
    private func count(_ index: Int, by amount: Int, queue: String) {
        if unsentActivity[queue] == nil && unsentActivity.count >= server.config.maxQueues { flushActivity() }
        unsentActivity[queue, default: [:]][now() / 1000, default: Array(repeating: 0, count: PostgresActivity.kinds.count)][index] += amount
    }

    /// Adds what this process counted to the database's counts, in the open transaction. If
    /// that transaction is rolled back, the counts wait for the next time; if nobody can say
    /// whether it committed, they are dropped rather than perhaps counted twice.
    private func flushActivity() {
        guard !unsentActivity.isEmpty, let db = connection, isAvailable else { return }
        let sent = unsentActivity
        unsentActivity.removeAll()
        activityFlushes &+= 1
        var rows: [PostgresActivity] = []
        for (queue, seconds) in sent.sorted(by: { $0.key < $1.key }) {
            for (second, counts) in seconds.sorted(by: { $0.key < $1.key }) { rows.append(PostgresActivity(queue: queue, second: second, counts: counts)) }
        }
        store.addActivity(rows, on: db) { [self] result in
            guard case .failure(let error) = result, error.kind != .connection, error.kind != .closed else { return }
            // Back with whatever was counted since (the queue may have nothing new: no entry).
            for row in rows {
                var counts = unsentActivity[row.queue, default: [:]][row.second, default: Array(repeating: 0, count: row.counts.count)]
                for index in counts.indices { counts[index] += row.counts[index] }
                unsentActivity[row.queue, default: [:]][row.second] = counts
            }
        }
    }

    /// The statement that ends a two-step transaction (see `endOfPass`), once its results were
    /// told: it numbers the events they made, and those of the children the transaction
    /// settled, from the database's per-queue counters (shared by every docketd), which stay
    /// locked until the commit, so numbers follow the order in which changes commit on any
    /// node. Once committed, the answers held meanwhile go out and the events are published,
    /// in the order they were made (settled children after the events of their queue). If it
    /// does not commit, or nobody can say whether it did, the answers say `UNAVAILABLE` and
    /// the events are dropped: nothing was promised.
    private func eventNumbering(into held: HeldAnswers) -> PostgresStatement {
        let events = unnumbered
        unnumbered.removeAll()
        var counts: [String: Int] = [:]
        var order: [String] = []
        for event in events {
            if counts[event.queue] == nil { order.append(event.queue) }
            counts[event.queue, default: 0] += 1
        }
        return store.eventNumbering(order.map { ($0, counts[$0]!) }) { [self] result in
            guard case .success(let numbers) = result else { return }
            var next: [String: UInt64] = [:]
            var taken = counts
            for child in numbers.settled { taken[child.queue, default: 0] += 1 }
            for (queue, last) in numbers.last { next[queue] = UInt64(max(0, last - Int64(taken[queue] ?? 0) + 1)) }
            var numbered = events
            if !deathReasons.isEmpty {
                for index in numbered.indices where numbered[index].kind == .dead && numbered[index].error == nil {
                    numbered[index].error = deathReasons.removeValue(forKey: numbered[index].id)
                }
                deathReasons.removeAll()
            }
            numbered.append(contentsOf: numbers.settled.compactMap { settled($0.child) })
            for index in numbered.indices {
                let queue = numbered[index].queue
                numbered[index].sequence = next[queue] ?? 0
                next[queue]? += 1
            }
            held.events = numbered
        }
    }

    // MARK: Queues

    /// Every queue that has settings or jobs, in byte order.
    private func queueNames(_ done: @escaping ([String]?) -> Void) {
        guard let db = connection else { return done(nil) }
        flushBatches()
        store.queueNames(on: db) { done(try? $0.get()) }
    }

    /// Up to `limit` names of queues the reader may read, those that sort after `after` (by
    /// bytes), in that order: QUEUES' page. Reads `limit` names at a time, and again from the
    /// last one read while the reader may not read enough of them, so a page costs the names
    /// it passes over, not every queue.
    private func readableQueueNames(
        after: String, limit: Int, readableBy permissions: Permissions?, found: [String] = [], _ done: @escaping ([String]?) -> Void
    ) {
        guard let db = connection else { return done(nil) }
        flushBatches()
        store.queueNames(after: after, limit: limit, on: db) { [self] result in
            guard let read = try? result.get() else { return done(nil) }
            let readable = found + read.filter { Server.may(read: $0, permissions) }.prefix(limit - found.count)
            guard readable.count < limit, read.count == limit, let last = read.last else { return done(readable) }
            readableQueueNames(after: last, limit: limit, readableBy: permissions, found: readable, done)
        }
    }

    private func queueDocuments(_ names: [String], _ done: @escaping ([String]?) -> Void) {
        queueStates(names) { done($0?.map(\.document)) }
    }

    /// Each queue's QUEUE document and job counts, in the order of `names`.
    private func queueStates(_ names: [String], _ done: @escaping ([Snapshot.Queue]?) -> Void) {
        guard !names.isEmpty else { return done([]) }
        var queues = [Snapshot.Queue?](repeating: nil, count: names.count)
        var remaining = names.count
        for (index, name) in names.enumerated() {
            queueState(name) { queue in
                queues[index] = queue
                remaining -= 1
                if remaining == 0 { done(queues.contains { $0 == nil } ? nil : queues.compactMap { $0 }) }
            }
        }
    }

    /// A queue's QUEUE document, in the LMDB engine's shape. Totals and per-second rates are
    /// what every docketd on the database did (schema version 17), this one's up to now, the
    /// others' up to their last flush (a second at most).
    private func queueDocument(_ queue: String, _ done: @escaping (String?) -> Void) {
        queueState(queue) { done($0?.document) }
    }

    private func queueState(_ queue: String, _ done: @escaping (Snapshot.Queue?) -> Void) {
        guard let db = connection else { return done(nil) }
        flushBatches()
        var settings: PostgresQueueSettings?
        var activity: PostgresQueueActivity?
        let second = now() / 1000
        // What the statement below cannot see yet: counted here since the last flush. Read
        // once its answer is here, so the counts of the commands answered before it (in its
        // transaction, or on the enqueue connection) are in (`ENQ q` then `QUEUE q`, pipelined,
        // shows the ENQ as on the embedded store); unless a flush went out meanwhile, behind
        // the statement: what it took is in neither, so the counts as they were now are used.
        let unsentWhenRead = unsentActivity[queue] ?? [:]
        let flushesWhenRead = activityFlushes
        store.settings(queue: queue, on: db) { settings = try? $0.get() }
        store.activity(queue: queue, second: second, on: db) { activity = try? $0.get() }
        var rateOpening: Int64?
        store.rateOpening(queue: queue, on: db) { rateOpening = (try? $0.get()) ?? nil }
        store.state(queue: queue, on: db) { [self] result in
            guard let settings, let activity, case .success(let state) = result else { return done(nil) }
            let config = Self.config(settings)
            var totals = activity.totals
            var lastMinute = activity.lastMinute
            let unsent = activityFlushes == flushesWhenRead ? unsentActivity[queue] ?? [:] : unsentWhenRead
            for (unsentSecond, counts) in unsent {
                for index in counts.indices { totals[index] += Int64(counts[index]) }
                // started, completed, failed, dead; a second past `second` is one that began
                // while the statements ran, whose counts are in `totals` too.
                if unsentSecond > second - 60 {
                    for index in lastMinute.indices { lastMinute[index] += Int64(counts[index + 1]) }
                }
            }
            done(
                Snapshot.Queue(
                    name: queue, document: document(queue, config, state, totals: totals, lastMinute: lastMinute, rateOpening: rateOpening), counts: state.counts,
                    paused: config.paused, started: Int(totals[1]), completed: Int(totals[2]), failed: Int(totals[3]),
                    glance: QueueGlance(
                        paused: config.paused, waitingWorkers: reservers.filter { $0.queues.contains(queue) }.count,
                        rates: lastMinute[0..<3].map { Double($0) / 60 })))
        }
    }

    private func takeSnapshot() {
        snapshotInFlight = true
        let started = now()
        queueNames { [self] names in
            guard let names else {
                snapshotInFlight = false
                return
            }
            snapshotRead = []
            readSnapshot(names, from: 0) { [self] complete in
                snapshotInFlight = false
                if complete { snapshot = Snapshot(queues: snapshotRead, takenAt: now()) }
                snapshotRead = []
                snapshotMilliseconds = now() - started
            }
        }
    }

    /// Reads the states of `names` from `start` on into `snapshotRead`, `snapshotChunk` queues
    /// at a time, each chunk sent once the one before it is answered; whether all were read.
    private func readSnapshot(_ names: [String], from start: Int, _ done: @escaping (Bool) -> Void) {
        guard start < names.count else { return done(true) }
        let end = min(start + Self.snapshotChunk, names.count)
        queueStates(Array(names[start..<end])) { [self] queues in
            guard let queues else { return done(false) }
            snapshotRead.append(contentsOf: queues)
            readSnapshot(names, from: end, done)
        }
    }

    /// `totals` in `PostgresQueueActivity.totalNames` order; `lastMinute`: started, completed, failed and
    /// dead in the last 60 seconds; `rateOpening`: when the rate window lets a job start.
    private func document(
        _ queue: String, _ config: QueueConfig, _ state: PostgresQueueState, totals: [Int64], lastMinute: [Int64], rateOpening: Int64?
    ) -> String {
        var view = QueueView(name: queue)
        view.paused = config.paused
        view.rate = config.rate
        view.groupRate = config.groupRate
        view.concurrency = config.concurrency
        view.maxAttempts = config.maxAttempts ?? view.maxAttempts
        view.backoff = config.backoff ?? view.backoff
        view.jitter = config.jitter ?? 0
        view.leaseMilliseconds = config.leaseMilliseconds ?? view.leaseMilliseconds
        view.keepCompleted = config.keepCompleted ?? server.config.keepCompleted
        view.keepDead = config.keepDead ?? server.config.keepDead
        view.counts = QueueView.stateNames.map { state.counts[$0] ?? 0 }
        // In `QueueView.totalNames`' order: ... throttled, removed, deleted.
        view.totals = totals[0..<6].map { Int($0) } + [Int(totals[7]), Int(totals[6])]
        view.rates = lastMinute.map { Double($0) / 60 }
        view.oldestWaitingMilliseconds = state.oldestWaitingSince.map { Int(state.now - $0) }
        view.waitingWorkers = reservers.filter { $0.queues.contains(queue) }.count
        view.rateWindowStarts = state.rateWindowStarts
        view.heldUntil = state.heldUntil.map { Int($0) }
        view.blockedBy = Self.blockReason(config, state, rateOpening: rateOpening)
        // As the embedded engine: the later of the throttle's end and the rate window's
        // opening; none while paused or at the concurrency cap (that waits for a change).
        if view.blockedBy == "throttle" || view.blockedBy == "rate" {
            view.nextStartAt = Int(max(state.heldUntil ?? 0, rateOpening ?? 0))
        }
        return view.json
    }

    /// Why nothing of the queue starts now, as the embedded engine says it.
    static func blockReason(_ config: QueueConfig, _ state: PostgresQueueState, rateOpening: Int64?) -> String? {
        if config.paused { return "paused" }
        if let cap = config.concurrency, (state.counts["active"] ?? 0) >= cap { return "concurrency" }
        if let until = state.heldUntil, until > state.now { return "throttle" }
        if let opening = rateOpening, opening > state.now { return "rate" }
        return nil
    }

    static func config(_ settings: PostgresQueueSettings) -> QueueConfig {
        var config = QueueConfig()
        config.paused = settings.paused
        config.rate = settings.rate.map { Rate(limit: $0.limit, windowMilliseconds: $0.windowMilliseconds) }
        config.groupRate = settings.groupRate.map { Rate(limit: $0.limit, windowMilliseconds: $0.windowMilliseconds) }
        config.concurrency = settings.concurrency
        config.maxAttempts = settings.maxAttempts
        config.backoff = settings.backoff?.wire
        config.jitter = settings.jitter
        config.leaseMilliseconds = settings.leaseMilliseconds
        config.keepCompleted = settings.keepCompleted
        config.keepDead = settings.keepDead
        return config
    }

    static func settings(_ config: QueueConfig) -> PostgresQueueSettings {
        var settings = PostgresQueueSettings()
        settings.paused = config.paused
        settings.rate = config.rate.map { .init(limit: $0.limit, windowMilliseconds: $0.windowMilliseconds) }
        settings.groupRate = config.groupRate.map { .init(limit: $0.limit, windowMilliseconds: $0.windowMilliseconds) }
        settings.concurrency = config.concurrency
        settings.maxAttempts = config.maxAttempts
        settings.backoff = config.backoff.map(PostgresBackoff.init)
        settings.jitter = config.jitter
        settings.leaseMilliseconds = config.leaseMilliseconds
        settings.keepCompleted = config.keepCompleted
        settings.keepDead = config.keepDead
        return settings
    }

    // MARK: Schedules

    /// SCHEDULE (new or changed), PAUSE/RESUME schedule=: the row, and a notification so the
    /// other docketd processes reload.
    func saveSchedule(_ entry: ScheduledJob) -> JobReply {
        guard isAvailable, let db = connection else { return .error(Self.unavailable(lastFailure)) }
        let answer = JobAnswer()
        flushBatches()
        db.execute(
            """
            INSERT INTO docket.schedules AS s (name, record, last_tick, paused) VALUES ($1::text, $2::bytea, $3::bigint, $4::boolean)
            ON CONFLICT (name) DO UPDATE SET record = excluded.record, last_tick = excluded.last_tick, paused = excluded.paused
            RETURNING pg_notify('\(PostgresSchema.schedulesChannel)', s.name)
            """, [.text(entry.name), .bytes(entry.record), .int(Int(entry.lastTick)), .text(entry.paused ? "true" : "false")],
            completion: Self.answering({ self.tell(answer, $0) }) { (_: PostgresResult) in .done })
        return .later(answer)
    }

    func removeSchedule(_ name: String) -> JobReply {
        guard isAvailable, let db = connection else { return .error(Self.unavailable(lastFailure)) }
        let answer = JobAnswer()
        flushBatches()
        db.execute(
            "DELETE FROM docket.schedules WHERE name = $1::text RETURNING pg_notify('\(PostgresSchema.schedulesChannel)', name)",
            [.text(name)], completion: Self.answering({ self.tell(answer, $0) }) { (_: PostgresResult) in .done })
        return .later(answer)
    }

    /// The jobs of a schedule's ticks, with the pass's other ENQs, and its last tick moved on
    /// in the same transaction. Several processes may fire one tick: its key makes one job.
    /// Makes the jobs of a schedule's `ticks` and moves its stored last tick on, in one statement
    /// that first claims the ticks: another docketd on the database fires the same schedule, and
    /// the one that claims them second makes nothing. (Each job's key stopped a second job only
    /// while retention kept the first: with `keep_completed=0` a tick's job was worked and gone
    /// before the other docketd fired the tick, which made it again.)
    func fire(_ entry: ScheduledJob, ticks: [Int64]) {
        guard isAvailable, let db = connection else { return }
        flushBatches()
        guard let first = ticks.first else {
            return db.execute(
                "UPDATE docket.schedules SET last_tick = greatest(last_tick, $2::bigint) WHERE name = $1::text",
                [.text(entry.name), .int(Int(entry.lastTick))]
            ) { _ in }
        }
        let jobs = ticks.map { tick in
            var job = PostgresNewJob(queue: String(decoding: entry.queue, as: UTF8.self), payload: entry.payload)
            entry.text.withUnsafeBytes { Self.apply(entry.options, $0, group: entry.group, to: &job) }
            job.key = entry.key(of: tick)
            return job
        }
        let claim = PostgresJobStore.TickClaim(schedule: entry.name, from: first, through: entry.lastTick)
        store.enqueue(jobs, claiming: claim, on: db) { [self] result in
            guard case .success(let answers) = result else {
                server.stats.skippedTicks += ticks.count
                return
            }
            let now = now()
            for ((job, tick), enqueued) in zip(zip(jobs, ticks), answers) {
                noteEnqueued(job, enqueued, now: now)
                guard !enqueued.duplicate else { continue }
                let record = HeldJob(
                    id: UInt64(enqueued.id), queue: job.queue, attempt: 0, maxAttempts: enqueued.maxAttempts, group: job.group,
                    startedAt: now)
                event(.scheduled, record, state: .waiting) {
                    $0.schedule = entry.name
                    $0.tick = tick
                }
            }
        }
    }

    /// Replaces the server's schedules with the database's (at start, and when another
    /// process changed them); a schedule's last tick only moves forward.
    private func loadSchedules(_ done: @escaping () -> Void) {
        guard let db = connection else { return done() }
        flushBatches()
        db.execute("SELECT name, record, last_tick, paused FROM docket.schedules") { [self] result in
            defer { done() }
            guard case .success(let rows) = result else { return }
            var book = ScheduleBook()
            for row in rows.rows {
                guard let name = row.string(0), let record = row.bytes(1) else { continue }
                switch ScheduledJob.decode(record, zones: server.zones) {
                case .failure(let error):
                    log.error("PostgreSQL store: schedule \(name) cannot be read (\(error.message)); ignored")
                case .success(let entry):
                    entry.lastTick = max(row.int64(2) ?? entry.lastTick, server.schedules[name]?.lastTick ?? .min)
                    entry.paused = row.bool(3) ?? entry.paused
                    book[name] = entry
                }
            }
            server.schedules = book
            server.armedScheduleDeadline = nil
            server.armScheduleTimer()
        }
    }

    // MARK: Routes

    /// Replaces the installed routes with the database's (at start, and when another process
    /// changed them).
    private func loadRoutes(_ done: @escaping () -> Void) {
        guard let db = connection else { return done() }
        flushBatches()
        store.routes(on: db) { [self] result in
            if case .success(let routes) = result {
                let ids = Set(routes.map { UInt64($0.id) })
                for id in server.routes.keys where !ids.contains(id) { server.uninstallRoute(id) }
                for route in routes where server.routes[UInt64(route.id)] == nil { installRoute(route) }
            }
            done()
        }
    }

    private func installRoute(_ stored: PostgresRoute) {
        let text = Array(stored.rule.utf8)
        let parsed = text.withUnsafeBytes { JobCommand.parse(.route, $0, 0..<$0.count) }
        guard case .success(.route(let pattern, let queue, let options, let range)) = parsed else {
            return log.error("PostgreSQL store: route \(stored.id) cannot be parsed; ignored")
        }
        server.install(
            Route(
                id: UInt64(stored.id), pattern: Array(text[pattern]), queue: Array(text[queue]), options: options,
                group: options.group.map { Array(text[$0]) }, text: Array(text[range]), owner: stored.owner))
    }
}

/// A waiting (or about to be tried) RESERVE.
private final class Reserver {
    let owner: Connection
    let queues: [String]
    let answer: JobAnswer
    let timeout: Int?
    /// Its place in line among every RESERVE this docketd took: tries go in this order.
    let arrival: Int
    /// Whether it waits when nothing is there (a timeout other than 0).
    var waits: Bool { timeout != 0 }
    /// Wall ms when it gives up; nil: never (or not yet: behind `predecessor`).
    var deadline: Int64?
    /// The same connection's RESERVE it was read behind (`readsAhead`), while that one is
    /// unanswered: this one is tried only together with it, and its wait starts once that one
    /// is answered (`takeTurn`).
    weak var predecessor: Reserver?
    /// The RESERVE read behind this one, if any.
    var follower: Reserver?
    var inFlight = false
    /// A wake-up came while a try was in flight: try once more if that one finds nothing.
    var wokenMeanwhile = false
    /// Its first try came back: until then a CANCEL cannot end it (`endWait`).
    var hasSettled = false
    /// A CANCEL came behind it during its first try: it ends if that try finds nothing.
    var endsAfterTry = false
    var isDone = false

    init(owner: Connection, queues: [String], answer: JobAnswer, timeout: Int?, now: Int64, arrival: Int) {
        self.owner = owner
        self.queues = queues
        self.answer = answer
        self.timeout = timeout
        self.arrival = arrival
        self.deadline = timeout.flatMap { $0 == 0 ? nil : now + Int64($0) }
    }

    func follow(_ ahead: Reserver) {
        predecessor = ahead
        ahead.follower = self
        deadline = nil
    }
}

/// A WAIT for a job's outcome.
private final class Watcher {
    let owner: Connection
    let id: Int64
    let answer: JobAnswer
    let deadline: Int64?
    var isDone = false

    init(owner: Connection, id: Int64, answer: JobAnswer, timeout: Int?, now: Int64) {
        self.owner = owner
        self.id = id
        self.answer = answer
        self.deadline = timeout.map { now + Int64($0) }
    }
}

/// The queues as the monitoring port shows them.
struct Snapshot {
    struct Queue {
        let name: String
        let document: String
        let counts: [String: Int]
        let paused: Bool
        /// Over the queue's life, by every docketd.
        let started: Int, completed: Int, failed: Int
        /// What the dashboard's overview adds up.
        let glance: QueueGlance
    }

    /// By name's bytes, as `QueueDirectory` lists them (the database's collation may order
    /// names otherwise).
    let queues: [Queue]
    /// Wall ms; 0: never taken.
    let takenAt: Int64
    /// What the dashboard's overview adds up, added up once per snapshot.
    let sums: QueueSums

    init(queues: [Queue] = [], takenAt: Int64 = 0) {
        let byBytes = { (one: Queue, other: Queue) in one.name.utf8.lexicographicallyPrecedes(other.name.utf8) }
        self.queues = queues.indices.dropFirst().allSatisfy { byBytes(queues[$0 - 1], queues[$0]) } ? queues : queues.sorted(by: byBytes)
        self.takenAt = takenAt
        var sums = QueueSums()
        for queue in self.queues { sums.add(queue.glance) }
        self.sums = sums
    }
}

/// The answers of a two-step transaction's first step, and its numbered events, held for its
/// commit.
private final class HeldAnswers {
    var answers: [(answer: JobAnswer, reply: JobReply)] = []
    var events: [LifecycleEvent] = []
}

/// Whom a command naming its attempt acts for (`actForHolder`): the holder's lease owner, what
/// the events need of the job, and the holding connection when it is one of this process's.
struct Holder {
    let owner: String
    fileprivate let job: HeldJob
    let connection: UInt64?
}

/// What this process knows of a job one of its connections holds, for its lifecycle events.
private struct HeldJob {
    let id: UInt64
    let queue: String
    let attempt: Int
    let maxAttempts: Int
    let group: [UInt8]?
    /// Wall ms the attempt started.
    let startedAt: Int64
}


private func postgresTickCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<PostgresBackend>.fromOpaque(context!).takeUnretainedValue().tick()
}

private func postgresReconnectCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<PostgresBackend>.fromOpaque(context!).takeUnretainedValue().reconnect()
}
