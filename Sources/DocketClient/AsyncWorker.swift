/// What an async worker handler gets: the job, and ways to report on it.
public final class AsyncJobContext: Sendable {
    public let job: Job
    /// The worker slot's connection (it holds the job's lease).
    public let connection: AsyncDocketConnection
    private let worker: AsyncWorker
    /// Set by the slot's heartbeats, which may begin before the context exists.
    private let lost: LockedFlag

    init(job: Job, connection: AsyncDocketConnection, worker: AsyncWorker, lost: LockedFlag) {
        self.job = job
        self.connection = connection
        self.worker = worker
        self.lost = lost
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
    public var leaseLost: Bool { lost.value }

    /// Records progress (0...100) with an optional note; extends the lease.
    public func progress(_ percent: Int, note: String? = nil) async throws(DocketError) {
        try await connection.progress(job.id, percent: percent, attempt: job.attempt, note: note)
    }

    /// Extends the lease now.
    public func touch() async throws(DocketError) { try await connection.touch(job.id, attempt: job.attempt) }

    /// The jobs this one was enqueued `after=`, with their outcomes (PARENTS): for a job that
    /// gathers its parents' results.
    public func parents() async throws(DocketError) -> [ParentInfo] { try await connection.parents(job.id) }
}

/// A flag set once, read from anywhere.
final class LockedFlag: @unchecked Sendable {
    private let lock = PosixLock()
    private var isSet = false
    var value: Bool { lock.withLock { isSet } }
    func set() { lock.withLock { isSet = true } }
}

/// `Worker` for Swift concurrency: runs an `async` handler for each job of some queues, on
/// `concurrency` slots, each a task with an `AsyncDocketConnection` of its own.
///
/// A slot loops: `RESERVE <queues> timeout=<poll interval>` (awaited: an idle slot holds no
/// thread), then runs the handler in the slot's task while the slot's heartbeat thread sends TOUCH
/// every third of the job's lease (`Worker.Heartbeat`; from the moment the job arrives, not when
/// the task gets a thread again), then ACKs with the handler's return value,
/// or FAILs with the error's text (`JobFailure` chooses retry=no, a retry delay or a
/// throttle). A slot whose connection breaks reconnects with backoff (100 ms doubling to 5 s).
///
/// `run()` returns once every slot has ended: after `stop()`, after the task running it is
/// cancelled (which stops the worker the same graceful way: the handlers' tasks are not
/// cancelled), or after a fatal error (a queue the server refuses), which it throws. Stopping
/// sends no new RESERVE, lets running handlers finish and sends their ACK or FAIL, then
/// closes the connections; an idle slot notices within the poll interval.
public final class AsyncWorker: Sendable {
    public typealias Handler = @Sendable (AsyncJobContext) async throws -> [UInt8]?

    public let address: String
    public let queues: [String]
    /// The same options as the blocking `Worker`'s (concurrency, heartbeat, poll interval, the
    /// slots' connection options, `onEvent`).
    public let options: Worker.Options
    private let handler: Handler
    private let state = WorkerState()

    /// `address` is `host:port` (`tls://host:port` for TLS); the handler returns the job's
    /// result (nil for none).
    public init(
        address: String = "127.0.0.1:4222", queues: [String], options: Worker.Options = Worker.Options(), handler: @escaping Handler
    ) throws(DocketError) {
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

    /// Whether `stop()` was called (or `run()`'s task cancelled).
    public var isStopping: Bool { state.read { $0.stopping } }
    /// Jobs acknowledged so far.
    public var completed: Int { state.read { $0.completed } }
    /// Jobs failed so far.
    public var failed: Int { state.read { $0.failed } }
    /// Slots running now.
    public var runningSlots: Int { state.read { $0.running } }

    /// Stops taking jobs; running handlers finish. Returns at once; `run()` returns when done.
    public func stop() { state.write { $0.stopping = true } }

    /// Connects every slot (throwing if the server cannot be reached), runs until stopped (by
    /// `stop()` or by cancelling the calling task) and returns once every slot has ended. Throws
    /// the error that ended it, if one did.
    public func run() async throws(DocketError) {
        try state.write { (state: inout WorkerState.Fields) throws(DocketError) in
            guard !state.started else { throw .badArgument("the worker was already started") }
            state.started = true
        }
        var connections: [AsyncDocketConnection] = []
        for _ in 0..<options.concurrency {
            do {
                connections.append(try await AsyncDocketConnection(address, options: slotConnectionOptions))
            } catch {
                for connection in connections { await connection.close(flush: false) }
                throw error
            }
        }
        state.write { $0.running = connections.count }
        // Unstructured, so cancelling run()'s task does not cancel the handlers: it stops the
        // worker gracefully instead.
        let slots = connections.enumerated().map { index, connection in
            Task { await self.slot(index, connection) }
        }
        await withTaskCancellationHandler {
            for slot in slots { await slot.value }
        } onCancel: {
            self.stop()
        }
        if let error = state.read({ $0.fatalError }) { throw error }
    }

    /// A slot's connection options: the slot does the reconnecting itself.
    var slotConnectionOptions: DocketConnection.Options {
        var connection = options.connection
        connection.reconnect = false
        return connection
    }

    private func report(_ event: WorkerEvent) { options.onEvent?(event) }

    private func fatal(_ error: DocketError) {
        state.write { state in
            if state.fatalError == nil { state.fatalError = error }
            state.stopping = true
        }
    }

    /// Waits `milliseconds`, or less once the worker stops.
    private func pause(milliseconds: Int) async {
        var left = milliseconds
        while left > 0, !isStopping {
            let step = min(left, 50)
            await sleep(milliseconds: step)
            left -= step
        }
    }

    // MARK: Slots

    private func slot(_ index: Int, _ first: AsyncDocketConnection) async {
        var connection: AsyncDocketConnection? = first
        var backoff = 100
        let heartbeats = HeartbeatThread(options.heartbeat)
        defer { heartbeats.finish() }
        while !isStopping {
            if connection?.isConnected != true {
                if let broken = connection { await broken.close(flush: false) }
                connection = nil
                do {
                    connection = try await AsyncDocketConnection(address, options: slotConnectionOptions)
                } catch {
                    report(.connectionProblem(slot: index, error))
                    await pause(milliseconds: backoff)
                    backoff = min(backoff * 2, 5000)
                    continue
                }
            }
            guard let current = connection else { continue }
            let job: Job?
            // The job's heartbeats start on the reader thread as the JOB arrives: this task may
            // wait for a thread of the cooperative pool (handlers that block it) before it
            // resumes, and the lease must not run out meanwhile.
            let lost = LockedFlag()
            do {
                job = try await current.reserve(queues, timeout: options.pollInterval) { [self] job in
                    heartbeats.begin(HeartbeatThread.Beat(job: job, on: current.blocking) { [self] in
                        lost.set()
                        report(.leaseLost(job))
                    })
                }
            } catch {
                // A job handed over as the wait was given up: no heartbeats for it.
                await heartbeats.end()
                report(.connectionProblem(slot: index, error))
                if case .server = error {
                    // A queue the server refuses: nothing will ever work.
                    fatal(error)
                    break
                }
                await current.close(flush: false)
                connection = nil
                continue
            }
            backoff = 100
            if let job, !(await handle(job, lost: lost, on: current, slot: index, heartbeats: heartbeats)) {
                await current.close(flush: false)
                connection = nil
            }
        }
        if let connection { await connection.close() }
        state.write { $0.running -= 1 }
    }

    /// Runs the handler for `job` (its heartbeats already beating, from the heartbeat thread
    /// through the blocking connection underneath) and ACKs or FAILs it; false when the
    /// connection failed.
    private func handle(
        _ job: Job, lost: LockedFlag, on connection: AsyncDocketConnection, slot index: Int, heartbeats: HeartbeatThread
    ) async -> Bool {
        let context = AsyncJobContext(job: job, connection: connection, worker: self, lost: lost)
        let startedAt = Clock.milliseconds()
        report(.started(job))
        let outcome: Result<[UInt8]?, any Error>
        do {
            outcome = .success(try await handler(context))
        } catch {
            outcome = .failure(error)
        }
        // No heartbeat after the job's ACK or FAIL.
        await heartbeats.end()
        let limit = connection.maxPayload
        do throws(DocketError) {
            switch outcome {
            case .success(let result):
                try await connection.ack(job.id, attempt: job.attempt, result: result.map { Array($0.prefix(limit)) })
                state.write { $0.completed += 1 }
                report(.completed(job, milliseconds: Int(Clock.milliseconds() - startedAt)))
            case .failure(let error):
                let reason = Array(Slot.reason(error).utf8.prefix(limit))
                let result: FailOutcome
                switch error as? JobFailure {
                case .permanent?: result = try await connection.fail(job.id, attempt: job.attempt, reason: reason, retry: .never)
                case .retryAfter(let delay, _)?:
                    result = try await connection.fail(job.id, attempt: job.attempt, reason: reason, retry: .after(delay))
                case .throttle(let hold, let scope, _)?:
                    result = try await connection.throttle(
                        job.id, attempt: job.attempt, for: hold, scope: scope, reason: String(decoding: reason, as: UTF8.self))
                case nil: result = try await connection.fail(job.id, attempt: job.attempt, reason: reason)
                }
                state.write { $0.failed += 1 }
                report(.failed(job, reason: String(decoding: reason, as: UTF8.self), outcome: result))
            }
        } catch {
            if case .server = error {
                report(.finishRefused(job, error))
                return true
            }
            report(.connectionProblem(slot: index, error))
            return false
        }
        return true
    }
}

/// The counters and flags of an `AsyncWorker`, under a lock.
final class WorkerState: @unchecked Sendable {
    struct Fields {
        var stopping = false
        var started = false
        var running = 0
        var completed = 0
        var failed = 0
        var fatalError: DocketError?
    }

    private let lock = PosixLock()
    private var fields = Fields()

    func read<T>(_ body: (Fields) -> T) -> T { lock.withLock { body(fields) } }
    func write<T, E: Error>(_ body: (inout Fields) throws(E) -> T) throws(E) -> T {
        try lock.withLock { () throws(E) -> T in try body(&fields) }
    }
}
