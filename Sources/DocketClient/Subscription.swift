/// A subscription: read its messages with `next(timeout:)` or by iterating it, unless it was
/// made with a handler (then the handler gets them, in order, on a thread of its own).
///
/// From async code, `for await message in subscription` (or `await next(timeout:)`) waits
/// without holding a thread: the connection's reader hands each message straight to the
/// waiting task. The loop ends when the subscription ends (or the task is cancelled). A
/// subscription made with a handler is read by its handler only.
public final class Subscription: @unchecked Sendable, Sequence, AsyncSequence {
    enum Mode {
        /// Messages queue up for `next`.
        case queued
        /// A thread of the subscription calls the handler.
        case handler(@Sendable (Message) -> Void)
        /// The reader thread calls it directly (internal, quick handlers only).
        case inline(@Sendable (Message) -> Void)
    }

    public let sid: String
    public let subject: String
    public let queue: String?

    private weak var connection: DocketConnection?
    private let mode: Mode
    private let limit: Int
    private let lock = PosixLock()
    private let arrived = PosixCondition()
    private var messages: [Message] = []
    private var head = 0
    private var ended = false
    /// Set by the caller's `unsubscribe()`: the handler is not called again, for messages
    /// still queued either (as NATS clients; an iterator still reads what was queued).
    private var handlerStopped = false
    private var maxMessages: Int?
    private var deliveredCount = 0
    private var droppedCount = 0
    private var dispatcher: PosixThread?
    /// Tasks awaiting a message, oldest first (each only while nothing is queued).
    private var waiters: [Wakeup<Message>] = []

    init(connection: DocketConnection, sid: String, subject: String, queue: String?, mode: Mode, limit: Int) {
        self.connection = connection
        self.sid = sid
        self.subject = subject
        self.queue = queue
        self.mode = mode
        self.limit = Swift.max(1, limit)
        if case .handler(let handler) = mode {
            dispatcher = PosixThread.start { [self] in
                while let message = try? self.next() {
                    if lock.withLock({ handlerStopped }) { continue }  // drained, not handed over
                    handler(message)
                }
            }
            dispatcher?.detach()
        }
    }

    /// Messages delivered to this subscription so far.
    public var delivered: Int { lock.withLock { deliveredCount } }
    /// Messages dropped because `pendingMessageLimit` were already waiting unread.
    public var dropped: Int { lock.withLock { droppedCount } }
    /// Messages received and not yet read.
    public var pending: Int { lock.withLock { messages.count - head } }
    /// Whether the subscription has ended (its queued messages may still be read).
    public var isClosed: Bool { lock.withLock { ended } }

    /// The next message; waits up to `timeout` (nil: forever). Throws `timeout`, or
    /// `subscriptionClosed` once the subscription has ended and every message was read.
    public func next(timeout: DocketDuration? = nil) throws(DocketError) -> Message {
        let deadline = Deadline.within(try timeout?.callTimeoutMilliseconds())
        return try lock.withLock { () throws(DocketError) -> Message in
            while head == messages.count {
                if ended { throw .subscriptionClosed }
                if !arrived.wait(lock, until: deadline), head == messages.count {
                    if ended { throw .subscriptionClosed }
                    throw .timeout
                }
            }
            return take()
        }
    }

    /// The next message, awaited without holding a thread; waits up to `timeout` (nil: until
    /// one comes). Throws `timeout`, `subscriptionClosed` once the subscription has ended and
    /// every message was read, or `cancelled`.
    public func next(timeout: DocketDuration? = nil) async throws(DocketError) -> Message {
        if Task.isCancelled { throw .cancelled }
        let deadline = Deadline.within(try timeout?.callTimeoutMilliseconds())
        let wakeup = Wakeup<Message>()
        let ready = lock.withLock { () -> Result<Message, DocketError>? in
            if head < messages.count { return .success(take()) }
            if ended { return .failure(.subscriptionClosed) }
            waiters.append(wakeup)
            return nil
        }
        if let ready { return try ready.get() }
        let result = await wakeup.wait(lock: lock, deadline: deadline) { [self] in
            lock.withLock { wakeup.resolve(.failure(.cancelled)) }?()
        }
        lock.withLock { waiters.removeAll { $0 === wakeup } }
        return try result.get()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let subscription: Subscription

        /// The next message; nil once the subscription has ended (or the task was cancelled).
        public mutating func next() async -> Message? { try? await subscription.next(timeout: nil) }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscription: self) }

    /// The first queued message (the lock held, one queued).
    private func take() -> Message {
        let message = messages[head]
        head += 1
        if head == messages.count {
            messages.removeAll(keepingCapacity: true)
            head = 0
        }
        return message
    }

    /// Ends the subscription now, or once it has delivered `max` messages in total (at once if
    /// it already has). Ended now, a handler is not called again, for messages still queued
    /// either (a handler that unsubscribes on its first message was called for all of them).
    public func unsubscribe(after max: Int? = nil) throws(DocketError) {
        if max == nil { lock.withLock { handlerStopped = true } }
        guard let connection else {
            finish()
            return
        }
        try connection.unsubscribe(self, after: max)
    }

    /// Iterates until the subscription ends.
    public func makeIterator() -> AnyIterator<Message> {
        AnyIterator { try? self.next() }
    }

    // MARK: From the connection

    /// Takes a message from the reader; true when the subscription's limit is now reached.
    func deliver(_ message: Message) -> Bool {
        if case .inline(let handler) = mode {
            let reachedLimit = lock.withLock { () -> Bool in
                deliveredCount += 1
                return maxMessages.map { deliveredCount >= $0 } ?? false
            }
            handler(message)
            return reachedLimit
        }
        var wake: (() -> Void)? = nil
        defer { wake?() }
        return lock.withLock { () -> Bool in
            guard !ended else { return false }
            deliveredCount += 1
            // A task waiting for a message takes it at once (nothing is queued while one waits).
            while head == messages.count, !waiters.isEmpty, wake == nil {
                wake = waiters.removeFirst().resolve(.success(message))
            }
            if wake != nil {
                // Taken.
            } else if messages.count - head >= limit {
                droppedCount += 1
            } else {
                messages.append(message)
                arrived.broadcast()
            }
            return maxMessages.map { deliveredCount >= $0 } ?? false
        }
    }

    /// Records a message limit; true if it is already reached.
    func limitDelivered(to max: Int) -> Bool {
        lock.withLock {
            maxMessages = max
            return deliveredCount >= max
        }
    }

    /// What is left of its message limit (nil: it has none), for subscribing again after a
    /// reconnect.
    func remainingLimit() -> Int? {
        lock.withLock { maxMessages.map { Swift.max($0 - deliveredCount, 0) } }
    }

    /// The sid as a number, to send subscriptions again in the order they were made.
    var sidNumber: UInt64 { UInt64(sid) ?? 0 }

    /// Ends the subscription; queued messages can still be read.
    func finish() {
        let wakes = lock.withLock { () -> [() -> Void] in
            ended = true
            arrived.broadcast()
            defer { waiters.removeAll() }
            return waiters.compactMap { $0.resolve(.failure(.subscriptionClosed)) }
        }
        for wake in wakes { wake() }
    }
}

/// Lifecycle events of jobs (PROTOCOL.md 4c) as typed `JobEvent`s: a subscription on
/// `$JOB.<queue>.<event>` whose messages are read as events (a body that is not one is
/// skipped). Iterate it, blocking or with `for await`; it ends with its subscription.
public final class JobEvents: Sendable, Sequence, AsyncSequence {
    /// The subscription underneath.
    public let subscription: Subscription

    init(_ subscription: Subscription) { self.subscription = subscription }

    /// The next event; waits up to `timeout` (nil: forever). Throws `timeout`, or
    /// `subscriptionClosed` once the subscription has ended.
    public func next(timeout: DocketDuration? = nil) throws(DocketError) -> JobEvent {
        let deadline = Deadline.within(try timeout?.callTimeoutMilliseconds())
        while true {
            let remaining = deadline.map { DocketDuration.milliseconds($0.remainingMilliseconds) }
            if let event = JobEvent(try subscription.next(timeout: remaining)) { return event }
        }
    }

    /// The next event, awaited without holding a thread.
    public func next(timeout: DocketDuration? = nil) async throws(DocketError) -> JobEvent {
        let deadline = Deadline.within(try timeout?.callTimeoutMilliseconds())
        while true {
            let remaining = deadline.map { DocketDuration.milliseconds($0.remainingMilliseconds) }
            if let event = JobEvent(try await subscription.next(timeout: remaining)) { return event }
        }
    }

    /// Stops the events.
    public func unsubscribe() throws(DocketError) { try subscription.unsubscribe() }

    public func makeIterator() -> AnyIterator<JobEvent> { AnyIterator { try? self.next() } }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let events: JobEvents

        /// The next event; nil once the subscription has ended (or the task was cancelled).
        public mutating func next() async -> JobEvent? { try? await events.next(timeout: nil) }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(events: self) }
}
