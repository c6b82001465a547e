/// A connection to docketd for Swift concurrency: every `DocketConnection` call, `async`.
///
/// **How it waits.** It is the same connection underneath (`blocking`: one socket, one reader
/// thread, replies matched to commands by order), and no call blocks a thread of the
/// cooperative pool while it waits for the server. A command is written at once and its task
/// suspends; the reader thread resumes it when the reply arrives. That holds for RESERVE and
/// WAIT too, however long the server keeps them: an idle worker or a waiter costs a suspended
/// task, not a thread. Only what can block for long without a reply to wait for runs on a
/// thread of its own: connecting (and the TLS handshake), a command issued while the
/// connection is reconnecting (it waits for the new connection, within its timeout), and
/// `close()`. A write itself blocks only while the socket's send buffer is full.
///
/// **Timeouts** are those of `DocketConnection.Options` (`requestTimeout`, plus the command's
/// own timeout for RESERVE and WAIT).
///
/// **Cancellation.** Cancelling the task of a call makes it throw `DocketError.cancelled` at
/// once. The command may or may not have been carried out, as after `connectionLost`; its reply
/// is dropped when it comes. A RESERVE or WAIT that the server is still holding is taken back
/// by dropping the connection (which reconnects if `reconnect` is on): the server reads nothing
/// more from a connection until such a command is answered, and a closed connection is the
/// only way to make it withdraw a waiting RESERVE without handing out a job (a job already on
/// its way goes back as a lost attempt). Commands pipelined behind it fail with
/// `connectionLost`. So give waiting calls a connection of their own, as `AsyncWorker` does.
///
/// Subscriptions are `AsyncSequence`s (`for await message in try connection.subscribe(…)`), as
/// are lifecycle events (`for await event in try connection.events(queue: "emails")`).
///
/// Blocking and async callers may share one connection: `AsyncDocketConnection(wrapping:)`.
public final class AsyncDocketConnection: Sendable {
    /// The connection underneath, for blocking calls (from threads of your own).
    public let blocking: DocketConnection

    /// Connects (on a thread of its own) to `address`, as `DocketConnection.init` does:
    /// `host:port`, `user:pass@host:port`, `token@host:port`, `tls://host:port`.
    public init(_ address: String = "127.0.0.1:4222", options: DocketConnection.Options = DocketConnection.Options()) async throws(DocketError) {
        blocking = try await offThread { () throws(DocketError) -> DocketConnection in try DocketConnection(address, options: options) }
    }

    /// Connects to `host:port`.
    public init(host: String, port: Int, options: DocketConnection.Options = DocketConnection.Options()) async throws(DocketError) {
        blocking = try await offThread { () throws(DocketError) -> DocketConnection in
            try DocketConnection(host: host, port: port, options: options)
        }
    }

    /// Async calls on an existing connection (blocking callers may go on using it too).
    public init(wrapping connection: DocketConnection) { blocking = connection }

    public var host: String { blocking.host }
    public var port: Int { blocking.port }
    public var options: DocketConnection.Options { blocking.options }
    /// The server's INFO document (of the current connection).
    public var info: JSONValue { blocking.info }
    /// The largest payload the server takes.
    public var maxPayload: Int { blocking.maxPayload }
    /// Whether a connection is up now (false while reconnecting, and once closed).
    public var isConnected: Bool { blocking.isConnected }
    /// Whether the connection is closed for good.
    public var isClosed: Bool { blocking.isClosed }
    /// How many times the connection was re-established.
    public var reconnects: Int { blocking.reconnects }
    /// The TLS version of the current connection; nil over plain TCP.
    public var tlsVersion: String? { blocking.tlsVersion }

    /// Closes the connection; with `flush` first awaits (up to 2 s) until the server has
    /// handled everything sent. As `DocketConnection.close`.
    public func close(flush: Bool = true) async {
        if flush, isConnected { try? await self.flush(timeout: 2) }
        let connection = blocking
        _ = try? await offThread { () throws(DocketError) in connection.close(flush: false) }
    }

    /// Waits until the server has handled everything sent before (a PING answered PONG).
    public func flush(timeout: DocketDuration? = 10) async throws(DocketError) {
        // A deadline of its own rather than requestTimeout's.
        let deadline = Deadline.within(try timeout?.callTimeoutMilliseconds())
        try await blocking.performAsync(Commands.ping(), deadline: deadline)
    }

    // MARK: Event channel

    /// Publishes (never waits: while disconnected the message is held for the reconnect).
    public func publish(_ subject: String, _ payload: [UInt8], reply: String? = nil, headers: [Header]? = nil) throws(DocketError) {
        try blocking.publish(subject, payload, reply: reply, headers: headers)
    }

    public func publish(_ subject: String, _ text: String, reply: String? = nil, headers: [Header]? = nil) throws(DocketError) {
        try blocking.publish(subject, text, reply: reply, headers: headers)
    }

    /// Subscribes (never waits); read with `for await message in subscription`.
    public func subscribe(_ subject: String, queue: String? = nil) throws(DocketError) -> Subscription {
        try blocking.subscribe(subject, queue: queue)
    }

    /// A queue's lifecycle events as typed `JobEvent`s; read with `for await event in events`.
    public func events(queue: String = "*", event: String = "*") throws(DocketError) -> JobEvents {
        try blocking.events(queue: queue, event: event)
    }

    /// Sends a request and awaits the first answer (`noResponders`, `timeout`, `cancelled`).
    public func request(_ subject: String, _ payload: [UInt8], headers: [Header]? = nil, timeout: DocketDuration = 5)
        async throws(DocketError) -> Message
    {
        try await blocking.requestAsync(subject, payload, headers: headers, timeout: timeout, accept: nil)
    }

    public func request(_ subject: String, _ text: String, headers: [Header]? = nil, timeout: DocketDuration = 5)
        async throws(DocketError) -> Message
    {
        try await request(subject, Array(text.utf8), headers: headers, timeout: timeout)
    }

    /// Publishes a message that routes turn into jobs; the ids of those jobs once they are on
    /// disk (see `DocketConnection.publishRouted`).
    public func publishRouted(_ subject: String, _ payload: [UInt8], headers: [Header]? = nil, timeout: DocketDuration = 5)
        async throws(DocketError) -> [UInt64]
    {
        do {
            let answer = try await blocking.requestAsync(
                subject, payload, headers: headers, timeout: timeout, accept: Commands.isRoutedJobs)
            return try Commands.routedJobs(answer)
        } catch .noResponders {
            return []
        }
    }

    public func publishRouted(_ subject: String, _ text: String, headers: [Header]? = nil, timeout: DocketDuration = 5)
        async throws(DocketError) -> [UInt64]
    {
        try await publishRouted(subject, Array(text.utf8), headers: headers, timeout: timeout)
    }

    // MARK: Jobs

    @discardableResult
    public func enqueue(_ queue: String, _ payload: [UInt8], options: JobOptions = JobOptions()) async throws(DocketError) -> Enqueued {
        try await blocking.performAsync(Commands.enqueue(queue, payload, options, limit: maxPayload))
    }

    @discardableResult
    public func enqueue(_ queue: String, _ text: String, options: JobOptions = JobOptions()) async throws(DocketError) -> Enqueued {
        try await enqueue(queue, Array(text.utf8), options: options)
    }

    /// Enqueues many jobs pipelined (every one sent before the first reply is awaited).
    public func enqueueMany(_ queue: String, _ payloads: [[UInt8]], options: JobOptions = JobOptions()) async throws(DocketError)
        -> [Enqueued]
    {
        let limit = maxPayload
        var commands: [Command<Enqueued>] = []
        for payload in payloads { commands.append(try Commands.enqueue(queue, payload, options, limit: limit)) }
        return try await blocking.performAllAsync(commands)
    }

    /// Enqueues `jobs` together (BATCH), all in one commit or none; their ids in order. A job
    /// may wait for an earlier one of the batch (`after: [.batchItem(1)]`). As
    /// `DocketConnection.batch`.
    public func batch(_ jobs: [DocketConnection.JobRequest]) async throws(DocketError) -> [UInt64] {
        try await blocking.performAsync(Commands.batch(jobs, limit: maxPayload))
    }

    /// The next job of the first of `queues` that has one; nil when the timeout passes (no
    /// timeout: waits until there is one, holding no thread meanwhile).
    public func reserve(_ queues: [String], timeout: DocketDuration? = nil) async throws(DocketError) -> Job? {
        try await blocking.performAsync(Commands.reserve(queues, timeout: timeout))
    }

    public func reserve(_ queue: String, timeout: DocketDuration? = nil) async throws(DocketError) -> Job? {
        try await reserve([queue], timeout: timeout)
    }

    /// RESERVE, with `handed` run on the reader thread as the job arrives, before the task
    /// resumes (a worker's heartbeats start there: the task may wait for a pool thread).
    func reserve(_ queues: [String], timeout: DocketDuration?, handed: @escaping @Sendable (Job) -> Void) async throws(DocketError) -> Job? {
        let command = try Commands.reserve(queues, timeout: timeout)
        return try await blocking.performAsync(command) { reply in
            if case .job(let job?) = reply { handed(job) }
        }
    }

    public func ack(_ id: UInt64, attempt: Int? = nil, result: [UInt8]? = nil) async throws(DocketError) {
        try await blocking.performAsync(Commands.ack(id, attempt: attempt, result: result, limit: maxPayload))
    }

    public func ack(_ id: UInt64, attempt: Int? = nil, result: String) async throws(DocketError) {
        try await ack(id, attempt: attempt, result: Array(result.utf8))
    }

    @discardableResult
    public func fail(_ id: UInt64, attempt: Int? = nil, reason: [UInt8]? = nil, retry: RetryPolicy = .backoff)
        async throws(DocketError) -> FailOutcome
    {
        try await blocking.performAsync(Commands.fail(id, attempt: attempt, reason: reason, retry: retry, limit: maxPayload))
    }

    @discardableResult
    public func fail(_ id: UInt64, attempt: Int? = nil, reason: String, retry: RetryPolicy = .backoff) async throws(DocketError)
        -> FailOutcome
    {
        try await fail(id, attempt: attempt, reason: Array(reason.utf8), retry: retry)
    }

    /// A downstream limit was hit: the job goes back without using an attempt, and its queue
    /// (or only its group) starts nothing for `duration`.
    @discardableResult
    public func throttle(
        _ id: UInt64, attempt: Int? = nil, for duration: DocketDuration, scope: ThrottleScope? = nil, reason: String? = nil
    ) async throws(DocketError) -> FailOutcome {
        try await blocking.performAsync(
            Commands.throttle(id, attempt: attempt, for: duration, scope: scope, reason: reason.map { Array($0.utf8) }, limit: maxPayload))
    }

    public func progress(_ id: UInt64, percent: Int, attempt: Int? = nil, note: String? = nil) async throws(DocketError) {
        try await blocking.performAsync(Commands.progress(id, percent: percent, attempt: attempt, note: note, limit: maxPayload))
    }

    public func touch(_ id: UInt64, attempt: Int? = nil) async throws(DocketError) {
        try await blocking.performAsync(Commands.touch(id, attempt: attempt))
    }

    public func inspect(_ id: UInt64) async throws(DocketError) -> JobInfo { try await blocking.performAsync(Commands.inspect(id)) }
    public func inspectRaw(_ id: UInt64) async throws(DocketError) -> [UInt8] { try await blocking.performAsync(Commands.inspectRaw(id)) }

    /// The jobs `id` was enqueued `after=`, in order, with their outcomes (`deleted` for one
    /// deleted since); empty for a job without parents.
    public func parents(_ id: UInt64) async throws(DocketError) -> [ParentInfo] { try await blocking.performAsync(Commands.parents(id)) }

    /// One page of CHILDREN (see `Connection.children(of:after:limit:)`).
    public func children(of id: UInt64, after: UInt64? = nil, limit: Int? = nil) async throws(DocketError) -> ChildrenPage {
        try await blocking.performAsync(try Commands.children(id, after: after, limit: limit))
    }

    public func dead(_ queue: String, limit: Int? = nil) async throws(DocketError) -> [JobInfo] {
        try await blocking.performAsync(Commands.dead(queue, limit: limit))
    }

    public func retry(_ id: UInt64) async throws(DocketError) { try await blocking.performAsync(Commands.retry(id)) }

    @discardableResult
    public func retryQueue(_ queue: String) async throws(DocketError) -> Int {
        try await blocking.performAsync(Commands.retryAll(queue: queue))
    }

    @available(*, deprecated, renamed: "retryQueue(_:)")
    @discardableResult
    public func retryAll(queue: String) async throws(DocketError) -> Int { try await retryQueue(queue) }

    public func delete(_ id: UInt64) async throws(DocketError) { try await blocking.performAsync(Commands.delete(id)) }

    /// Awaits the job's end (or the timeout: `.pending`), holding no thread meanwhile.
    public func wait(_ id: UInt64, timeout: DocketDuration? = nil) async throws(DocketError) -> WaitOutcome {
        try await blocking.performAsync(Commands.wait(id, timeout: timeout))
    }

    // MARK: Queues, routes, server

    public func queue(_ name: String) async throws(DocketError) -> QueueInfo { try await blocking.performAsync(Commands.queue(name)) }
    public func queueRaw(_ name: String) async throws(DocketError) -> [UInt8] { try await blocking.performAsync(Commands.queueRaw(name)) }

    public func setQueue(_ name: String, _ settings: [QueueSetting]) async throws(DocketError) {
        try await blocking.performAsync(Commands.setQueue(name, settings))
    }

    public func pause(_ name: String) async throws(DocketError) { try await blocking.performAsync(Commands.pause(name)) }
    public func resume(_ name: String) async throws(DocketError) { try await blocking.performAsync(Commands.resume(name)) }
    /// Every queue, page after page (see `DocketConnection.queues()`).
    public func queues() async throws(DocketError) -> [QueueInfo] {
        try await Self.everyPage(named: \.queue) { after throws(DocketError) in try await queues(after: after, limit: 1000) }
    }

    /// A listing by name read whole (see `DocketConnection.everyPage`).
    static func everyPage<Item, Key>(
        named name: (Item) -> Key, _ page: (Key?) async throws(DocketError) -> [Item]
    ) async throws(DocketError) -> [Item] {
        var all: [Item] = []
        while true {
            let next = try await page(all.last.map(name))
            if next.isEmpty { return all }
            all += next
        }
    }

    public func queues(after: String?, limit: Int? = nil) async throws(DocketError) -> [QueueInfo] {
        try await blocking.performAsync(try Commands.queues(after: after, limit: limit))
    }
    public func stats() async throws(DocketError) -> ServerStats { try await blocking.performAsync(Commands.stats()) }
    public func statsRaw() async throws(DocketError) -> [UInt8] { try await blocking.performAsync(Commands.statsRaw()) }

    @discardableResult
    public func route(_ pattern: String, to queue: String, options: JobOptions = JobOptions()) async throws(DocketError) -> UInt64 {
        try await blocking.performAsync(Commands.route(pattern, to: queue, options: options))
    }

    public func unroute(_ id: UInt64) async throws(DocketError) { try await blocking.performAsync(Commands.unroute(id)) }
    /// Every route, page after page (see `DocketConnection.routes()`).
    public func routes() async throws(DocketError) -> [RouteInfo] {
        try await Self.everyPage(named: \.id) { after throws(DocketError) in try await routes(after: after) }
    }
    public func routes(after: UInt64?, limit: Int? = nil) async throws(DocketError) -> [RouteInfo] {
        try await blocking.performAsync(try Commands.routes(after: after, limit: limit))
    }
    public func help() async throws(DocketError) -> String { try await blocking.performAsync(Commands.help()) }

    // MARK: Browsing, bulk repair, schedules

    public func list(_ queue: String, state: JobState? = nil, after: String? = nil, limit: Int? = nil) async throws(DocketError) -> JobPage {
        try await blocking.performAsync(Commands.list(queue, state: state, after: after, limit: limit))
    }

    /// Every job of the queue in `state`, fetched a page at a time as the sequence is read.
    public func jobs(in queue: String, state: JobState? = nil, pageSize: Int = 100) -> AsyncThrowingStream<JobInfo, Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                var after: String?
                do {
                    repeat {
                        let page = try await self.list(queue, state: state, after: after, limit: pageSize)
                        for job in page.jobs { continuation.yield(job) }
                        after = page.next
                    } while after != nil && !Task.isCancelled
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    @discardableResult
    public func purge(_ queue: String, state: JobState, older: DocketDuration? = nil) async throws(DocketError) -> Int {
        try await blocking.performAsync(Commands.purge(queue, state: state, older: older))
    }

    public func promote(_ id: UInt64) async throws(DocketError) { try await blocking.performAsync(Commands.promote(id)) }

    public func schedule(
        _ name: String, queue: String, _ when: ScheduleTiming, catchup: ScheduleCatchup? = nil, options: JobOptions = JobOptions(),
        payload: [UInt8] = []
    ) async throws(DocketError) {
        try await blocking.performAsync(
            Commands.schedule(name, queue: queue, when: when, catchup: catchup, options: options, payload: payload, limit: maxPayload))
    }

    public func unschedule(_ name: String) async throws(DocketError) { try await blocking.performAsync(Commands.unschedule(name)) }
    /// Every schedule, page after page (see `DocketConnection.schedules()`).
    public func schedules() async throws(DocketError) -> [ScheduleInfo] {
        try await Self.everyPage(named: \.name) { after throws(DocketError) in try await schedules(after: after, limit: 1000) }
    }

    public func schedules(after: String?, limit: Int? = nil) async throws(DocketError) -> [ScheduleInfo] {
        try await blocking.performAsync(try Commands.schedules(after: after, limit: limit))
    }
    public func pauseSchedule(_ name: String) async throws(DocketError) { try await blocking.performAsync(Commands.pauseSchedule(name)) }
    public func resumeSchedule(_ name: String) async throws(DocketError) { try await blocking.performAsync(Commands.resumeSchedule(name)) }
}
