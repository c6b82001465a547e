/// Throw from a worker handler to choose what happens to the job (any other error fails the
/// attempt with its description as the reason, and the job's backoff decides).
public enum JobFailure: Error, Sendable, CustomStringConvertible {
    /// Retrying cannot help: the job is dead at once (`FAIL retry=no`).
    case permanent(String)
    /// Retry after this long instead of the backoff (still bounded by the job's attempts).
    case retryAfter(DocketDuration, String)
    /// A downstream limit was hit (an HTTP 429): the job goes back without using an attempt
    /// and its queue (or group) is held for the duration.
    case throttle(DocketDuration, scope: ThrottleScope?, String)

    public var description: String {
        switch self {
        case .permanent(let reason), .retryAfter(_, let reason), .throttle(_, _, let reason): return reason
        }
    }
}

/// What a worker handler gets: the job, and ways to report on it.
public final class JobContext: @unchecked Sendable {
    public let job: Job
    /// The worker slot's connection (it holds the job's lease).
    public let connection: DocketConnection
    private let worker: Worker
    private let lock = PosixLock()
    private var lost = false

    init(job: Job, connection: DocketConnection, worker: Worker) {
        self.job = job
        self.connection = connection
        self.worker = worker
    }

    public var id: UInt64 { job.id }
    public var queue: String { job.queue }
    public var attempt: Int { job.attempt }
    /// This run's number, unique even across server crashes (see `Job.delivery`).
    public var delivery: UInt64? { job.delivery }
    public var payload: [UInt8] { job.payload }
    public var text: String { job.text }

    /// True once the worker is stopping: a long handler may use it to give up early.
    public var isStopping: Bool { worker.isStopping }

    /// True once a heartbeat found the job no longer held (its lease expired, or it was
    /// deleted): its ACK or FAIL will be refused.
    public var leaseLost: Bool { lock.withLock { lost } }

    func markLeaseLost() { lock.withLock { lost = true } }

    /// Records progress (0...100) with an optional note; extends the lease.
    public func progress(_ percent: Int, note: String? = nil) throws(DocketError) {
        try connection.progress(job.id, percent: percent, attempt: job.attempt, note: note)
    }

    /// Extends the lease now.
    public func touch() throws(DocketError) { try connection.touch(job.id, attempt: job.attempt) }

    /// The jobs this one was enqueued `after=`, with their outcomes (PARENTS): for a job that
    /// gathers its parents' results.
    public func parents() throws(DocketError) -> [ParentInfo] { try connection.parents(job.id) }
}

/// What a worker reports as it goes (for logs).
public enum WorkerEvent: Sendable {
    case started(Job)
    case completed(Job, milliseconds: Int)
    /// The handler failed; `outcome` is what the server did (nil if FAIL itself failed).
    case failed(Job, reason: String, outcome: FailOutcome?)
    /// A heartbeat found the lease gone.
    case leaseLost(Job)
    /// ACK or FAIL was refused (the lease had expired: another worker may have the job).
    case finishRefused(Job, DocketError)
    /// The slot lost its connection, or could not connect; it keeps trying.
    case connectionProblem(slot: Int, DocketError)
}

/// Runs a handler for each job of some queues, on `concurrency` slots.
///
/// Each slot has its own connection (a waiting RESERVE holds a connection's later commands
/// back), and loops: `RESERVE <queues> timeout=<poll interval>`; run the handler while a
/// heartbeat thread sends TOUCH well within the job's lease; then ACK with the handler's
/// return value, or FAIL with the error's text (see ``JobFailure`` for retry=no, retry after,
/// and throttling). A slot whose connection breaks reconnects with backoff.
///
/// `stop()` is graceful: no new RESERVE is sent, running handlers finish and their ACK or
/// FAIL is sent, then the connections close. A slot waiting in RESERVE notices within the
/// poll interval.
public final class Worker: @unchecked Sendable {
    /// How heartbeats are timed.
    public enum Heartbeat: Sendable, Equatable {
        /// Learn each job's lease (one pipelined INSPECT) and TOUCH every third of it.
        case automatic
        /// TOUCH at this interval (keep it well below the jobs' lease).
        case every(DocketDuration)
        /// No heartbeats: handlers must finish within the lease, or call `touch()`.
        case off
    }

    public struct Options: Sendable {
        /// Slots, each with its own connection: at most this many handlers run at once.
        public var concurrency: Int
        public var heartbeat: Heartbeat
        /// The RESERVE timeout: how quickly an idle slot notices `stop()`.
        public var pollInterval: DocketDuration
        /// The slots' connection settings (TLS included: every slot's connection uses `tls`,
        /// as does a `tls://` address). A slot reconnects on its own (with backoff, for as long
        /// as the worker runs), so its connection's `reconnect` is turned off.
        public var connection: DocketConnection.Options
        /// Called (from slot threads) as jobs start and end.
        public var onEvent: (@Sendable (WorkerEvent) -> Void)?

        public init(
            concurrency: Int = 1, heartbeat: Heartbeat = .automatic, pollInterval: DocketDuration = 1,
            connection: DocketConnection.Options = DocketConnection.Options(), onEvent: (@Sendable (WorkerEvent) -> Void)? = nil
        ) {
            self.concurrency = concurrency
            self.heartbeat = heartbeat
            self.pollInterval = pollInterval
            self.connection = connection
            self.onEvent = onEvent
        }
    }

    public typealias Handler = @Sendable (JobContext) throws -> [UInt8]?

    public let address: String
    public let queues: [String]
    public let options: Options
    private let handler: Handler

    private let lock = PosixLock()
    private let changed = PosixCondition()
    private var stopping = false
    private var started = false
    private var running = 0
    private var slots: [Slot] = []
    private var completedCount = 0
    private var failedCount = 0
    private var fatalError: DocketError?

    /// `address` is `host:port` (`tls://host:port` for TLS); the handler returns the job's result
    /// (nil for none).
    public init(address: String = "127.0.0.1:4222", queues: [String], options: Options = Options(), handler: @escaping Handler)
        throws(DocketError)
    {
        guard !queues.isEmpty else { throw .badArgument("a worker needs at least one queue") }
        for queue in queues { try Wire.checkQueue(queue) }
        guard options.concurrency >= 1 else { throw .badArgument("concurrency must be at least 1") }
        guard (options.pollInterval.milliseconds ?? -1) >= 0 else { throw .badArgument("bad poll interval") }
        if case .every(let interval) = options.heartbeat, (interval.milliseconds ?? 0) <= 0 {
            throw .badArgument("the heartbeat interval must be longer than zero")
        }
        self.address = address
        self.queues = queues
        self.options = options
        self.handler = handler
    }

    /// The options of a slot's connection: the slot does the reconnecting itself.
    var slotConnectionOptions: DocketConnection.Options {
        var connection = options.connection
        connection.reconnect = false
        return connection
    }

    /// Whether `stop()` was called.
    public var isStopping: Bool { lock.withLock { stopping } }
    /// Jobs acknowledged so far.
    public var completed: Int { lock.withLock { completedCount } }
    /// Jobs failed so far.
    public var failed: Int { lock.withLock { failedCount } }
    /// Slots still running.
    public var runningSlots: Int { lock.withLock { running } }

    /// Connects every slot (throwing if the server cannot be reached) and starts them.
    public func start() throws(DocketError) {
        try lock.withLock { () throws(DocketError) in
            guard !started else { throw .badArgument("the worker was already started") }
            started = true
        }
        var connections: [DocketConnection] = []
        for _ in 0..<options.concurrency {
            do {
                connections.append(try DocketConnection(address, options: slotConnectionOptions))
            } catch {
                for connection in connections { connection.close(flush: false) }
                throw error
            }
        }
        lock.withLock {
            running = connections.count
            slots = connections.enumerated().map { Slot(index: $0.offset, connection: $0.element, worker: self) }
        }
        for slot in lock.withLock({ slots }) { slot.start() }
    }

    /// Stops taking jobs; running handlers finish. Returns at once (see `wait`).
    public func stop() {
        lock.withLock {
            stopping = true
            changed.broadcast()
        }
    }

    /// Waits until every slot has ended (after `stop()`, or a fatal error such as a queue name
    /// the server refuses). False if the timeout passed first.
    @discardableResult
    public func wait(timeout: DocketDuration? = nil) -> Bool {
        let deadline = Deadline.within(timeout.map { $0.milliseconds ?? 0 })
        return lock.withLock {
            while running > 0 {
                if !changed.wait(lock, until: deadline), running > 0 { return false }
            }
            return true
        }
    }

    /// Starts, and runs until stopped (from another thread or a signal handler's thread).
    /// Throws the error that ended it, if one did.
    public func run() throws(DocketError) {
        try start()
        wait()
        if let error = lock.withLock({ fatalError }) { throw error }
    }

    // MARK: Slots

    func slotEnded() {
        lock.withLock {
            running -= 1
            changed.broadcast()
        }
    }

    func record(completed: Bool) {
        lock.withLock {
            if completed { completedCount += 1 } else { failedCount += 1 }
        }
    }

    func fatal(_ error: DocketError) {
        lock.withLock {
            if fatalError == nil { fatalError = error }
        }
        stop()
    }

    func report(_ event: WorkerEvent) { options.onEvent?(event) }

    func run(_ context: JobContext) -> Result<[UInt8]?, any Error> {
        do {
            return .success(try handler(context))
        } catch {
            return .failure(error)
        }
    }

    /// Waits out `milliseconds` unless the worker stops first.
    func pause(milliseconds: Int) {
        let deadline = Deadline.after(milliseconds: milliseconds)
        lock.withLock {
            while !stopping, changed.wait(lock, until: deadline) {}
        }
    }
}

/// One slot: a connection, a loop that reserves and runs jobs, and a heartbeat thread.
final class Slot: @unchecked Sendable {
    let index: Int
    let worker: Worker
    private let lock = PosixLock()
    private var connection: DocketConnection?
    private let heartbeats: HeartbeatThread

    init(index: Int, connection: DocketConnection, worker: Worker) {
        self.index = index
        self.connection = connection
        self.worker = worker
        heartbeats = HeartbeatThread(worker.options.heartbeat)
    }

    func start() {
        PosixThread.start { [self] in loop() }.detach()
    }

    private func loop() {
        var backoff = 100
        while !worker.isStopping {
            guard let connection = currentConnection(&backoff) else { continue }
            let job: Job?
            do {
                job = try connection.reserve(worker.queues, timeout: worker.options.pollInterval)
            } catch {
                if case .server = error {
                    // A queue the server refuses: nothing will ever work.
                    worker.report(.connectionProblem(slot: index, error))
                    worker.fatal(error)
                    break
                }
                worker.report(.connectionProblem(slot: index, error))
                dropConnection()
                continue
            }
            backoff = 100
            if let job { handle(job, on: connection) }
        }
        heartbeats.finish()
        let last = lock.withLock { () -> DocketConnection? in
            defer { connection = nil }
            return connection
        }
        last?.close()
        worker.slotEnded()
    }

    private func currentConnection(_ backoff: inout Int) -> DocketConnection? {
        if let connection = lock.withLock({ connection }), connection.isConnected { return connection }
        dropConnection()
        do {
            let fresh = try DocketConnection(worker.address, options: worker.slotConnectionOptions)
            lock.withLock { connection = fresh }
            return fresh
        } catch {
            worker.report(.connectionProblem(slot: index, error))
            worker.pause(milliseconds: backoff)
            backoff = min(backoff * 2, 5000)
            return nil
        }
    }

    private func dropConnection() {
        let old = lock.withLock { () -> DocketConnection? in
            defer { connection = nil }
            return connection
        }
        old?.close(flush: false)
    }

    private func handle(_ job: Job, on connection: DocketConnection) {
        let context = JobContext(job: job, connection: connection, worker: worker)
        let startedAt = Clock.milliseconds()
        worker.report(.started(job))
        heartbeats.begin(HeartbeatThread.Beat(job: job, on: connection) { [worker] in
            context.markLeaseLost()
            worker.report(.leaseLost(job))
        })
        let outcome = worker.run(context)
        // Stop the heartbeats (and wait out one in flight) before the job's ACK or FAIL.
        heartbeats.end()
        let limit = connection.maxPayload
        do {
            switch outcome {
            case .success(let result):
                try connection.ack(job.id, attempt: job.attempt, result: result.map { Array($0.prefix(limit)) })
                worker.record(completed: true)
                worker.report(.completed(job, milliseconds: Int(Clock.milliseconds() - startedAt)))
            case .failure(let error):
                let reason = Array(Self.reason(error).utf8.prefix(limit))
                let result: FailOutcome
                switch error as? JobFailure {
                case .permanent?: result = try connection.fail(job.id, attempt: job.attempt, reason: reason, retry: .never)
                case .retryAfter(let delay, _)?:
                    result = try connection.fail(job.id, attempt: job.attempt, reason: reason, retry: .after(delay))
                case .throttle(let hold, let scope, _)?:
                    result = try connection.throttle(
                        job.id, attempt: job.attempt, for: hold, scope: scope, reason: String(decoding: reason, as: UTF8.self))
                case nil: result = try connection.fail(job.id, attempt: job.attempt, reason: reason)
                }
                worker.record(completed: false)
                worker.report(.failed(job, reason: String(decoding: reason, as: UTF8.self), outcome: result))
            }
        } catch {
            if case .server = error {
                worker.report(.finishRefused(job, error))
            } else {
                worker.report(.connectionProblem(slot: index, error))
                dropConnection()
            }
        }
    }

    static func reason(_ error: any Error) -> String {
        if let failure = error as? JobFailure { return failure.description }
        if let error = error as? DocketError { return error.description }
        return String(describing: error)
    }
}
