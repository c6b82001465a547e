#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DocketWire

/// One connection to docketd: the event channel (publish, subscribe, request/reply) and the
/// job queue (enqueue, reserve, ack, fail, …), thread-safe and pipelined.
///
/// **Replies.** The connection is opened with `CONNECT {"verbose":false,…}`, so PUB, HPUB,
/// SUB and UNSUB get no reply and every other command (PING and the job verbs) gets exactly
/// one, in order. A FIFO of the commands awaiting a reply therefore matches each reply to its
/// command by order alone; adding a command to the FIFO and writing its bytes happen under one
/// lock, so FIFO order is wire order. Any number of threads may call at once: their commands
/// are pipelined, and each caller blocks until its own reply.
///
/// **Blocking commands.** While a RESERVE or WAIT waits on the server, the server reads no
/// further commands of the connection, so everything sent after it waits too. Give a worker
/// its own connection (``Worker`` does: one per slot).
///
/// **Threads.** A reader thread parses everything the server sends (on raw bytes), answers the
/// server's PINGs, completes replies and hands messages to subscriptions; a subscription with
/// a handler has a thread of its own, so a handler may make requests on the same connection.
///
/// A broken connection fails every waiting command with `connectionClosed` (it may or may not
/// have been carried out); jobs this connection held go back to their queue ("worker lost").
public final class DocketConnection: @unchecked Sendable {
    /// This client's version, sent in CONNECT.
    public static let version = "0.1.0"

    /// Connection settings.
    public struct Options: Sendable {
        /// A name for the server's logs.
        public var name: String?
        /// How long connecting and the handshake may take.
        public var connectTimeout: DocketDuration
        /// How long a command the server answers at once may go unanswered before the call
        /// throws `timeout` (nil: forever). RESERVE and WAIT add their own timeout to it, and
        /// wait forever without one.
        public var requestTimeout: DocketDuration?
        /// Deliver this connection's own publishes to its own subscriptions.
        public var echo: Bool
        /// Messages a subscription may hold unread before newer ones are dropped (counted in
        /// `Subscription.dropped`).
        public var pendingMessageLimit: Int
        /// Called (on the reader thread) with every `-ERR` that answers no command, such as
        /// `'Invalid Subject'` or `'Stale Connection'`.
        public var onServerError: (@Sendable (String) -> Void)?

        public init(
            name: String? = nil, connectTimeout: DocketDuration = 5, requestTimeout: DocketDuration? = 30,
            echo: Bool = true, pendingMessageLimit: Int = 65_536, onServerError: (@Sendable (String) -> Void)? = nil
        ) {
            self.name = name
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.echo = echo
            self.pendingMessageLimit = pendingMessageLimit
            self.onServerError = onServerError
        }
    }

    /// A command waiting for its reply.
    final class Pending {
        let kind: CommandKind
        var result: Result<Reply, DocketError>?
        init(_ kind: CommandKind) { self.kind = kind }
    }

    public let host: String
    public let port: Int
    public let options: Options

    private let fd: Int32
    /// Serializes writes, and with them the order of the FIFO.
    private let writeLock = PosixLock()
    /// Guards everything below.
    private let state = PosixLock()
    private let replyArrived = PosixCondition()
    private var fifo: [Pending] = []
    private var fifoHead = 0
    private var subscriptions: [String: Subscription] = [:]
    private var nextSid: UInt64 = 1
    private var closeReason: DocketError?
    private var lastServerError: String?
    private var fdClosed = false
    private var serverInfo: JSONValue
    private var reader: PosixThread?
    // Request/reply.
    private var inboxPrefix: String?
    private var nextRequest: UInt64 = 1
    private var requests: [String: RequestWaiter] = [:]

    /// The server's INFO document.
    public var info: JSONValue { state.withLock { serverInfo } }

    /// The largest payload the server takes (INFO `max_payload`).
    public var maxPayload: Int { state.withLock { serverInfo["max_payload"]?.numberValue.map { Int($0) } ?? 1 << 20 } }

    /// Whether the connection is still usable.
    public var isConnected: Bool { state.withLock { closeReason == nil } }

    /// Connects to `address` (`host:port`, or `host` for port 4222) and completes the
    /// handshake: INFO, CONNECT, then a PING answered PONG.
    public convenience init(_ address: String = "127.0.0.1:4222", options: Options = Options()) throws(DocketError) {
        let (host, port) = try Self.parseAddress(address)
        try self.init(host: host, port: port, options: options)
    }

    public init(host: String, port: Int, options: Options = Options()) throws(DocketError) {
        self.host = host
        self.port = port
        self.options = options
        let connectMilliseconds = options.connectTimeout.milliseconds ?? 5000
        let deadline = Deadline.after(milliseconds: connectMilliseconds)
        fd = try Socket.connect(host: host, port: port, timeoutMilliseconds: connectMilliseconds)
        // INFO comes first (or an -ERR instead, when the server is full).
        let input = ByteBuffer(capacity: 64 * 1024)
        var first: ServerOp?
        var consumed = 0
        while first == nil {
            switch ServerParser.parse(input.readableBytes, from: 0) {
            case .op(let op, let next):
                first = op
                consumed = next
            case .failure(let why):
                Socket.closeDescriptor(fd)
                throw .connectFailed("the server's greeting breaks the protocol: \(why)")
            case .incomplete:
                switch Socket.read(fd, into: input, deadline: deadline) {
                case .data: continue
                case .closed:
                    Socket.closeDescriptor(fd)
                    throw .connectFailed("\(host):\(port) closed the connection before INFO")
                case .timeout:
                    Socket.closeDescriptor(fd)
                    throw .connectFailed("no INFO from \(host):\(port) within \(connectMilliseconds) ms")
                }
            }
        }
        input.consume(consumed)
        switch first {
        case .info(let json):
            serverInfo = json
        case .err(let text):
            Socket.closeDescriptor(fd)
            throw .connectFailed("\(host):\(port) refused the connection: \(text)")
        default:
            Socket.closeDescriptor(fd)
            throw .connectFailed("\(host):\(port) did not start with INFO; is it a Docket or NATS server?")
        }
        let handoff = Handoff(input)
        reader = PosixThread.start { [self] in readLoop(handoff.value) }
        do {
            try sendBytes(Wire.connect(name: options.name, echo: options.echo, noResponders: true), expecting: nil)
            let ping = try sendBytes(Wire.ping(), expecting: .ping)!
            _ = try wait(ping, deadline: deadline)
        } catch {
            close(flush: false)
            throw .connectFailed("handshake with \(host):\(port) failed: \(error)")
        }
    }

    deinit {
        // close() joins the reader, which holds a reference until it ends, so this only runs
        // once the connection is closed; the descriptor goes with it.
        if !fdClosed { Socket.closeDescriptor(fd) }
    }

    /// Splits `host:port` (the port defaults to 4222).
    public static func parseAddress(_ address: String) throws(DocketError) -> (String, Int) {
        var text = address
        for scheme in ["nats://", "docket://", "tcp://"] where text.hasPrefix(scheme) { text.removeFirst(scheme.count) }
        guard let colon = text.lastIndex(of: ":") else { return (text.isEmpty ? "127.0.0.1" : text, 4222) }
        let host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw .badArgument("\"\(address)\" is not host:port")
        }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    // MARK: Closing

    /// Closes the connection. With `flush` (the default), first waits (briefly) until the
    /// server has handled everything sent, so nothing published is lost. Jobs still held go
    /// back to their queues as "worker lost"; blocked calls throw `connectionClosed`.
    public func close(flush: Bool = true) {
        if flush, isConnected { try? self.flush(timeout: 2) }
        let alreadyClosed = state.withLock { () -> Bool in
            if closeReason == nil { closeReason = .connectionClosed("closed by the client") }
            return fdClosed
        }
        // Once closed, the descriptor's number may belong to another socket: leave it alone.
        guard !alreadyClosed else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        if let reader, !reader.isCurrent { reader.join() }
        writeLock.withLock {
            state.withLock {
                if !fdClosed {
                    fdClosed = true
                    Socket.closeDescriptor(fd)
                }
            }
        }
    }

    /// Waits until the server has handled everything sent before (a PING answered PONG).
    public func flush(timeout: DocketDuration? = 10) throws(DocketError) {
        let pending = try sendBytes(Wire.ping(), expecting: .ping)!
        _ = try wait(pending, deadline: Deadline.within(timeout?.milliseconds))
    }

    // MARK: Event channel

    /// Publishes `payload` on `subject` (optionally with a reply subject and headers).
    public func publish(_ subject: String, _ payload: [UInt8], reply: String? = nil, headers: [Header]? = nil)
        throws(DocketError)
    {
        let bytes = try Wire.publish(subject: subject, payload: payload, reply: reply, headers: headers)
        try checkPayload(payload.count + (headers?.isEmpty == false ? bytes.count : 0))
        _ = try sendBytes(bytes, expecting: nil)
    }

    public func publish(_ subject: String, _ text: String, reply: String? = nil, headers: [Header]? = nil) throws(DocketError) {
        try publish(subject, Array(text.utf8), reply: reply, headers: headers)
    }

    /// Subscribes to `subject` (wildcards allowed). Read messages from the returned
    /// subscription with `next(timeout:)` or by iterating it.
    public func subscribe(_ subject: String, queue: String? = nil) throws(DocketError) -> Subscription {
        try subscribe(subject, queue: queue, mode: .queued)
    }

    /// Subscribes to `subject` and calls `handler` for each message, in order, on a thread of
    /// the subscription's own (so the handler may use this connection).
    @discardableResult
    public func subscribe(_ subject: String, queue: String? = nil, handler: @escaping @Sendable (Message) -> Void)
        throws(DocketError) -> Subscription
    {
        try subscribe(subject, queue: queue, mode: .handler(handler))
    }

    /// Follows a queue's lifecycle events (`$JOB.<queue>.>`); `"*"` follows every queue.
    public func subscribeEvents(queue: String) throws(DocketError) -> Subscription {
        if queue != "*" { try Wire.checkQueue(queue) }
        return try subscribe("$JOB.\(queue).>")
    }

    func subscribe(_ subject: String, queue: String?, mode: Subscription.Mode) throws(DocketError) -> Subscription {
        let sid = state.withLock { () -> String in
            defer { nextSid += 1 }
            return String(nextSid)
        }
        let bytes = try Wire.subscribe(subject: subject, sid: sid, queue: queue)
        let subscription = Subscription(
            connection: self, sid: sid, subject: subject, queue: queue, mode: mode, limit: options.pendingMessageLimit)
        try state.withLock { () throws(DocketError) in
            if let reason = closeReason { throw reason }
            subscriptions[sid] = subscription
        }
        do {
            _ = try sendBytes(bytes, expecting: nil)
        } catch {
            _ = state.withLock { subscriptions.removeValue(forKey: sid) }
            subscription.finish()
            throw error
        }
        return subscription
    }

    func unsubscribe(_ subscription: Subscription, after max: Int?) throws(DocketError) {
        let bytes = try Wire.unsubscribe(sid: subscription.sid, max: max)
        if let max, subscription.limitDelivered(to: max) {
            // Already delivered that many: it ends now.
            _ = state.withLock { subscriptions.removeValue(forKey: subscription.sid) }
            subscription.finish()
        } else if max == nil {
            _ = state.withLock { subscriptions.removeValue(forKey: subscription.sid) }
            subscription.finish()
        }
        if isConnected { _ = try sendBytes(bytes, expecting: nil) }
    }

    /// Sends a request and waits for the first reply (request/reply over a private inbox).
    /// Throws `noResponders` when no subscriber got the request, `timeout` when no reply came.
    public func request(_ subject: String, _ payload: [UInt8], headers: [Header]? = nil, timeout: DocketDuration = 5)
        throws(DocketError) -> Message
    {
        let prefix = try ensureInbox()
        let waiter = RequestWaiter()
        let token = state.withLock { () -> String in
            defer { nextRequest += 1 }
            let token = String(nextRequest)
            requests[token] = waiter
            return token
        }
        defer { _ = state.withLock { requests.removeValue(forKey: token) } }
        try publish(subject, payload, reply: prefix + token, headers: headers)
        let deadline = Deadline.after(milliseconds: timeout.milliseconds ?? 5000)
        let message = try state.withLock { () throws(DocketError) -> Message in
            while waiter.message == nil {
                if let reason = closeReason { throw reason }
                if !replyArrived.wait(state, until: deadline), waiter.message == nil { throw .timeout }
            }
            return waiter.message!
        }
        if message.status == 503, message.payload.isEmpty { throw .noResponders }
        return message
    }

    public func request(_ subject: String, _ text: String, headers: [Header]? = nil, timeout: DocketDuration = 5)
        throws(DocketError) -> Message
    {
        try request(subject, Array(text.utf8), headers: headers, timeout: timeout)
    }

    final class RequestWaiter {
        var message: Message?
    }

    private func ensureInbox() throws(DocketError) -> String {
        if let prefix = state.withLock({ inboxPrefix }) { return prefix }
        let prefix = "_INBOX.\(randomToken())."
        let subscription = try subscribe(prefix + "*", queue: nil, mode: .inline({ [weak self] message in
            guard let self else { return }
            let token = String(message.subject.dropFirst(prefix.count))
            self.state.withLock {
                if let waiter = self.requests[token], waiter.message == nil {
                    waiter.message = message
                    self.replyArrived.broadcast()
                }
            }
        }))
        let winner = state.withLock { () -> String in
            if let existing = inboxPrefix { return existing }
            inboxPrefix = prefix
            return prefix
        }
        if winner != prefix { try? subscription.unsubscribe() }
        return winner
    }

    // MARK: Jobs

    /// Enqueues a job. Returns its id, and whether the idempotency key named an existing job.
    @discardableResult
    public func enqueue(_ queue: String, _ payload: [UInt8], options: JobOptions = JobOptions()) throws(DocketError) -> Enqueued {
        let bytes = try Wire.enqueue(queue: queue, payload: payload, options: options)
        try checkPayload(payload.count)
        guard case .enqueued(let result) = try call(bytes, .enqueue) else { throw unexpected() }
        return result
    }

    @discardableResult
    public func enqueue(_ queue: String, _ text: String, options: JobOptions = JobOptions()) throws(DocketError) -> Enqueued {
        try enqueue(queue, Array(text.utf8), options: options)
    }

    /// Enqueues many jobs pipelined (all sent, then all replies read): much faster than one
    /// `enqueue` at a time. The results are in the order of `payloads`; the first error is thrown.
    public func enqueueMany(_ queue: String, _ payloads: [[UInt8]], options: JobOptions = JobOptions()) throws(DocketError)
        -> [Enqueued]
    {
        var pendings: [Pending] = []
        pendings.reserveCapacity(payloads.count)
        for payload in payloads {
            let bytes = try Wire.enqueue(queue: queue, payload: payload, options: options)
            try checkPayload(payload.count)
            pendings.append(try sendBytes(bytes, expecting: .enqueue)!)
        }
        let deadline = Deadline.within(options0RequestTimeout())
        var results: [Enqueued] = []
        for pending in pendings {
            guard case .enqueued(let result) = try wait(pending, deadline: deadline) else { throw unexpected() }
            results.append(result)
        }
        return results
    }

    /// Takes the next job from the first of `queues` that has one. Without a timeout, waits
    /// until there is one; with `timeout: 0` does not wait. Nil when the timeout passes.
    public func reserve(_ queues: [String], timeout: DocketDuration? = nil) throws(DocketError) -> Job? {
        let bytes = try Wire.reserve(queues: queues, timeout: timeout)
        guard case .job(let job) = try call(bytes, .reserve, serverWait: timeout.map { $0.milliseconds ?? 0 }, waitsForever: timeout == nil)
        else { throw unexpected() }
        return job
    }

    public func reserve(_ queue: String, timeout: DocketDuration? = nil) throws(DocketError) -> Job? {
        try reserve([queue], timeout: timeout)
    }

    /// Completes a job this connection holds, with an optional result.
    public func ack(_ id: UInt64, result: [UInt8]? = nil) throws(DocketError) {
        let bytes = try Wire.ack(id: id, result: result)
        try checkPayload(result?.count ?? 0)
        _ = try call(bytes, .ack)
    }

    public func ack(_ id: UInt64, result: String) throws(DocketError) { try ack(id, result: Array(result.utf8)) }

    /// Ends this attempt of a job this connection holds. Returns what happens next.
    @discardableResult
    public func fail(_ id: UInt64, reason: [UInt8]? = nil, retry: RetryPolicy = .backoff) throws(DocketError) -> FailOutcome {
        let bytes = try Wire.fail(id: id, reason: reason, retry: retry)
        try checkPayload(reason?.count ?? 0)
        guard case .fail(let outcome) = try call(bytes, .fail) else { throw unexpected() }
        return outcome
    }

    @discardableResult
    public func fail(_ id: UInt64, reason: String, retry: RetryPolicy = .backoff) throws(DocketError) -> FailOutcome {
        try fail(id, reason: Array(reason.utf8), retry: retry)
    }

    /// A downstream limit was hit: the job goes back to waiting without using an attempt, and
    /// its queue (or only its group) starts nothing for `duration`.
    @discardableResult
    public func throttle(_ id: UInt64, for duration: DocketDuration, scope: ThrottleScope? = nil, reason: String? = nil)
        throws(DocketError) -> FailOutcome
    {
        let bytes = try Wire.throttle(id: id, for: duration, scope: scope, reason: reason.map { Array($0.utf8) })
        guard case .fail(let outcome) = try call(bytes, .throttle) else { throw unexpected() }
        return outcome
    }

    /// Records progress (0...100) and an optional note; extends the lease.
    public func progress(_ id: UInt64, percent: Int, note: String? = nil) throws(DocketError) {
        let bytes = try Wire.progress(id: id, percent: percent, note: note.map { Array($0.utf8) })
        try checkPayload(note?.utf8.count ?? 0)
        _ = try call(bytes, .progress)
    }

    /// Extends the lease of a job this connection holds (a heartbeat).
    public func touch(_ id: UInt64) throws(DocketError) {
        _ = try call(try Wire.touch(id: id), .touch)
    }

    /// The job's document.
    public func inspect(_ id: UInt64) throws(DocketError) -> JobInfo {
        JobInfo(try json(Wire.inspect(id: id), .inspect).value)
    }

    /// The job's document as the server wrote it (keys in the server's order).
    public func inspectRaw(_ id: UInt64) throws(DocketError) -> [UInt8] {
        try json(Wire.inspect(id: id), .inspect).raw
    }

    /// The queue's dead jobs, oldest first.
    public func dead(_ queue: String, limit: Int? = nil) throws(DocketError) -> [JobInfo] {
        guard case .array(let items) = try json(Wire.dead(queue: queue, limit: limit), .dead).value else { throw unexpected() }
        return items.map(JobInfo.init)
    }

    /// A dead job runs again, with its attempts reset.
    public func retry(_ id: UInt64) throws(DocketError) {
        _ = try call(try Wire.retry(id: id), .retry)
    }

    /// Every dead job of the queue runs again; returns how many.
    @discardableResult
    public func retryAll(queue: String) throws(DocketError) -> Int {
        guard case .count(let count) = try call(try Wire.retryQueue(queue: queue), .retryQueue) else { throw unexpected() }
        return count
    }

    /// Forgets a job in any state.
    public func delete(_ id: UInt64) throws(DocketError) {
        _ = try call(try Wire.delete(id: id), .delete)
    }

    /// Waits until the job is completed or dead (or the timeout passes: `.pending`).
    public func wait(_ id: UInt64, timeout: DocketDuration? = nil) throws(DocketError) -> WaitOutcome {
        let bytes = try Wire.wait(id: id, timeout: timeout)
        guard case .wait(let outcome) = try call(bytes, .wait, serverWait: timeout.map { $0.milliseconds ?? 0 }, waitsForever: timeout == nil)
        else { throw unexpected() }
        return outcome
    }

    // MARK: Queues, routes, server

    /// The queue's settings and state.
    public func queue(_ name: String) throws(DocketError) -> JSONValue {
        try json(Wire.queue(name), .queueShow).value
    }

    /// The queue document as the server wrote it.
    public func queueRaw(_ name: String) throws(DocketError) -> [UInt8] {
        try json(Wire.queue(name), .queueShow).raw
    }

    /// Changes queue settings (persisted).
    public func setQueue(_ name: String, _ settings: [QueueSetting]) throws(DocketError) {
        guard !settings.isEmpty else { throw .badArgument("no settings to change") }
        _ = try call(try Wire.queue(name, settings: settings), .queueSet)
    }

    /// Nothing of the queue starts until `resume` (ENQ still works).
    public func pause(_ name: String) throws(DocketError) { _ = try call(try Wire.pause(name), .pause) }
    public func resume(_ name: String) throws(DocketError) { _ = try call(try Wire.resume(name), .resume) }

    /// Every queue's document.
    public func queues() throws(DocketError) -> [JSONValue] {
        guard case .array(let items) = try json(Wire.queues(), .queues).value else { throw unexpected() }
        return items
    }

    /// The server's counters.
    public func stats() throws(DocketError) -> JSONValue { try json(Wire.stats(), .stats).value }
    public func statsRaw() throws(DocketError) -> [UInt8] { try json(Wire.stats(), .stats).raw }

    /// Turns every message published on subjects matching `pattern` into a job on `queue`.
    @discardableResult
    public func route(_ pattern: String, to queue: String, options: JobOptions = JobOptions()) throws(DocketError) -> UInt64 {
        guard case .routeID(let id) = try call(try Wire.route(pattern: pattern, queue: queue, options: options), .route) else {
            throw unexpected()
        }
        return id
    }

    public func unroute(_ id: UInt64) throws(DocketError) { _ = try call(try Wire.unroute(id: id), .unroute) }

    /// Every route: `{id, pattern, queue, rule}`.
    public func routes() throws(DocketError) -> [JSONValue] {
        guard case .array(let items) = try json(Wire.routes(), .routes).value else { throw unexpected() }
        return items
    }

    /// The server's list of verbs.
    public func help() throws(DocketError) -> String {
        guard case .help(let text) = try call(Wire.help(), .help) else { throw unexpected() }
        return text
    }

    // MARK: Sending and waiting

    private func json(_ bytes: [UInt8], _ kind: CommandKind) throws(DocketError) -> (value: JSONValue, raw: [UInt8]) {
        guard case .json(let value, let raw) = try call(bytes, kind) else { throw unexpected() }
        return (value, raw)
    }

    private func unexpected() -> DocketError { .protocolViolation("a reply of the wrong kind") }

    private func options0RequestTimeout() -> Int? { options.requestTimeout?.milliseconds }

    /// Sends a command and waits for its reply; job errors are thrown as `.server`.
    /// `serverWait` is how long the server itself may wait before answering (RESERVE, WAIT).
    func call(_ bytes: [UInt8], _ kind: CommandKind, serverWait: Int? = nil, waitsForever: Bool = false) throws(DocketError)
        -> Reply
    {
        let pending = try sendBytes(bytes, expecting: kind)!
        var deadline: Deadline? = nil
        if !waitsForever, let budget = options.requestTimeout?.milliseconds {
            deadline = Deadline.after(milliseconds: budget + (serverWait ?? 0))
        }
        return try wait(pending, deadline: deadline)
    }

    /// Writes `bytes`; with `kind`, first adds a command awaiting a reply to the FIFO.
    @discardableResult
    func sendBytes(_ bytes: [UInt8], expecting kind: CommandKind?) throws(DocketError) -> Pending? {
        writeLock.lock()
        defer { writeLock.unlock() }
        let pending = kind.map(Pending.init)
        try state.withLock { () throws(DocketError) in
            if let reason = closeReason { throw reason }
            if let pending { fifo.append(pending) }
        }
        if !Socket.writeAll(fd, bytes) {
            let error = DocketError.connectionClosed("writing to \(host):\(port) failed: \(String(cString: strerror(errno)))")
            breakConnection(error)
            throw error
        }
        return pending
    }

    /// Waits for `pending`'s reply; a job error is thrown as `.server`.
    func wait(_ pending: Pending, deadline: Deadline?) throws(DocketError) -> Reply {
        let result = state.withLock { () -> Result<Reply, DocketError> in
            while pending.result == nil {
                if !replyArrived.wait(state, until: deadline), pending.result == nil { return .failure(.timeout) }
            }
            return pending.result!
        }
        switch result {
        case .success(.error(let code, let message)): throw .server(code: ServerErrorCode(code), message: message)
        case .success(let reply): return reply
        case .failure(let error): throw error
        }
    }

    private func checkPayload(_ count: Int) throws(DocketError) {
        let limit = maxPayload
        guard count <= limit else { throw .badArgument("\(count) bytes is more than the server's max_payload of \(limit)") }
    }

    // MARK: Reading

    private func readLoop(_ input: ByteBuffer) {
        var failure: DocketError? = nil
        reading: while true {
            var consumed = 0
            let bytes = input.readableBytes
            parsing: while true {
                switch ServerParser.parse(bytes, from: consumed) {
                case .incomplete:
                    break parsing
                case .failure(let why):
                    failure = .protocolViolation(why)
                    break reading
                case .op(let op, let next):
                    consumed = next
                    if let error = handle(op) {
                        failure = error
                        break reading
                    }
                }
            }
            input.consume(consumed)
            switch Socket.read(fd, into: input, deadline: nil) {
            case .data: continue
            case .closed, .timeout: break reading
            }
        }
        if let failure {
            breakConnection(failure)
        } else {
            let text = state.withLock { lastServerError.map { "the server closed it after -ERR '\($0)'" } }
            breakConnection(.connectionClosed(text ?? "the server closed the connection"))
        }
    }

    /// Handles one op from the server; an error breaks the connection.
    private func handle(_ op: ServerOp) -> DocketError? {
        state.lock()
        let head = fifoHead < fifo.count ? fifo[fifoHead] : nil
        switch Replies.route(op, waiting: head?.kind) {
        case .failure(let error):
            state.unlock()
            return error
        case .success(.reply(let reply)):
            head!.result = .success(reply)
            fifoHead += 1
            if fifoHead > 64 && fifoHead * 2 > fifo.count {
                fifo.removeFirst(fifoHead)
                fifoHead = 0
            }
            replyArrived.broadcast()
            state.unlock()
        case .success(.message(let message)):
            let subscription = subscriptions[message.sid]
            state.unlock()
            if let subscription, subscription.deliver(message) {
                // Its message limit is reached.
                _ = state.withLock { subscriptions.removeValue(forKey: subscription.sid) }
                subscription.finish()
            }
        case .success(.ping):
            state.unlock()
            _ = try? sendBytes(Wire.pong(), expecting: nil)
        case .success(.info(let json)):
            serverInfo = json
            state.unlock()
        case .success(.serverError(let text)):
            lastServerError = text
            state.unlock()
            options.onServerError?(text)
        }
        return nil
    }

    /// Marks the connection broken: every waiting command and subscription ends.
    private func breakConnection(_ error: DocketError) {
        let ended = state.withLock { () -> [Subscription] in
            if closeReason == nil { closeReason = error }
            let reason = closeReason!
            while fifoHead < fifo.count {
                fifo[fifoHead].result = .failure(reason)
                fifoHead += 1
            }
            fifo.removeAll()
            fifoHead = 0
            let all = Array(subscriptions.values)
            subscriptions.removeAll()
            replyArrived.broadcast()
            return all
        }
        for subscription in ended { subscription.finish() }
        shutdown(fd, Int32(SHUT_RDWR))
    }
}
