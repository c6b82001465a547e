import DocketWire

/// Wall-clock time for the engine, injectable so tests move time by hand.
public protocol EngineClock: AnyObject {
    /// Unix milliseconds.
    func now() -> Int64
}

/// Defaults a queue gives jobs that do not say otherwise, and how much history it keeps.
public struct QueueDefaults: Sendable, Equatable {
    public var maxAttempts = 3
    public var backoff = Backoff.default
    public var leaseMilliseconds = 30_000
    public var keepCompleted = 1000
    public var keepDead = 10_000

    public init() {}
}

/// A RESERVE that is waiting for a job.
public final class Waiter {
    public let owner: UInt64
    let queues: [JobQueue]
    let deadline: Int64?
    public internal(set) var isDone = false

    init(owner: UInt64, queues: [JobQueue], deadline: Int64?) {
        self.owner = owner
        self.queues = queues
        self.deadline = deadline
    }
}

/// Something the engine did on its own (time passing, a job arriving) that someone must hear.
public enum EngineEvent {
    /// A waiting RESERVE got a job: send it to the waiter's owner.
    case delivered(Waiter, Job)
    /// A waiting RESERVE timed out: tell its owner there is no job.
    case timedOut(Waiter)
}

/// What a FAIL (or a lost lease) led to.
public enum FailOutcome: Equatable, Sendable {
    case retry(afterMilliseconds: Int)
    case dead
}

/// The job queues: every job's state, the ready order, delays, leases and waiting workers.
///
/// The engine does no I/O. Every change marks the job dirty; the server takes the dirty set
/// after each loop pass (`takeChanges`), writes it to the store in one transaction, and only
/// then releases the replies that promised durability.
public final class JobEngine {
    private let clock: EngineClock
    private let random: () -> Double
    public var defaults: QueueDefaults

    private let queues = ByteKeyedTable<JobQueue>()
    private var queueList: [JobQueue] = []
    public private(set) var jobs: [UInt64: Job] = [:]
    public private(set) var nextID: UInt64 = 1
    private var generation: UInt64 = 0

    private var delayed = BinaryHeap<TimedEntry>()
    private var leases = BinaryHeap<TimedEntry>()
    private var waiterDeadlines = BinaryHeap<WaiterEntry>()
    private var waiterSequence: UInt64 = 0

    private var changed: [UInt64: Job?] = [:]
    private var events: [EngineEvent] = []

    public init(clock: EngineClock, defaults: QueueDefaults = QueueDefaults(), random: @escaping () -> Double = { Double.random(in: 0..<1) }) {
        self.clock = clock
        self.defaults = defaults
        self.random = random
    }

    // MARK: Recovery

    /// Rebuilds the in-memory indexes from stored jobs. Active jobs become waiting: their
    /// worker is gone with the old process, and the attempt they were on stays counted.
    public func restore(_ stored: [Job], nextID storedNextID: UInt64) {
        for job in stored.sorted(by: { $0.id < $1.id }) {
            if job.state == .active {
                job.state = .waiting
                job.startedAt = nil
                if job.attempts >= job.maxAttempts {
                    job.state = .dead
                    job.lastError = Array("worker lost: server restarted".utf8)
                    job.finishedAt = clock.now()
                }
                markChanged(job)
            }
            jobs[job.id] = job
            let queue = queue(named: job.queue)
            if let key = job.key { queue.keys[key] = job.id }
            switch job.state {
            case .waiting: makeReady(job, in: queue)
            case .delayed: schedule(job)
            case .completed: queue.completed.append(job.id)
            case .dead: queue.dead.append(job.id)
            case .active: break
            }
            nextID = max(nextID, job.id + 1)
        }
        nextID = max(nextID, storedNextID)
    }

    // MARK: Producing

    /// Creates a job, or finds the one that already has its idempotency key.
    public func enqueue(
        queue name: UnsafeRawBufferPointer, options: EnqueueOptions, key: [UInt8]?, payload: [UInt8]
    ) -> (id: UInt64, duplicate: Bool) {
        let queue = queue(named: name)
        if let key, let existing = queue.keys[key], jobs[existing] != nil {
            return (existing, true)
        }
        let now = clock.now()
        var runAt = now
        if let delay = options.delayMilliseconds { runAt = now + Int64(delay) }
        if let at = options.runAtMilliseconds { runAt = at }
        let job = Job(
            id: nextID, queue: queue.name, payload: payload, state: runAt > now ? .delayed : .waiting,
            priority: options.priority, attempts: 0, maxAttempts: options.maxAttempts ?? defaults.maxAttempts,
            backoff: options.backoff ?? defaults.backoff, jitter: options.jitter ?? 0,
            leaseMilliseconds: options.leaseMilliseconds ?? defaults.leaseMilliseconds, key: key,
            enqueuedAt: now, runAt: runAt)
        nextID += 1
        jobs[job.id] = job
        if let key { queue.keys[key] = job.id }
        markChanged(job)
        if job.state == .delayed { schedule(job) } else { makeReady(job, in: queue) }
        return (job.id, false)
    }

    // MARK: Consuming

    /// Reserves the next job from the first of `queues` that has one, for `owner`.
    /// With no job ready and a wait asked for (`wait` true), registers a waiter instead,
    /// which a later `.delivered` or `.timedOut` event resolves.
    public func reserve(
        queues names: [UnsafeRawBufferPointer], owner: UInt64, wait: Bool, timeoutMilliseconds: Int?
    ) -> (job: Job?, waiter: Waiter?) {
        let chosen = names.map { queue(named: $0) }
        for queue in chosen {
            if let job = popReady(queue) {
                activate(job, owner: owner)
                return (job, nil)
            }
        }
        guard wait else { return (nil, nil) }
        let deadline = timeoutMilliseconds.map { clock.now() + Int64($0) }
        let waiter = Waiter(owner: owner, queues: chosen, deadline: deadline)
        for queue in chosen { queue.waiters.append(waiter) }
        if let deadline {
            waiterSequence += 1
            waiterDeadlines.push(WaiterEntry(time: deadline, sequence: waiterSequence, waiter: waiter))
        }
        return (nil, waiter)
    }

    /// Withdraws a waiter (its connection went away).
    public func cancel(_ waiter: Waiter) {
        waiter.isDone = true
    }

    public func ack(id: UInt64, owner: UInt64, result: [UInt8]?) -> Result<Void, JobError> {
        switch held(id, owner) {
        case .failure(let error): return .failure(error)
        case .success(let job):
            job.state = .completed
            job.result = result
            job.finishedAt = clock.now()
            job.holder = 0
            retain(job, in: queue(named: job.queue).completed, keep: defaults.keepCompleted)
            markChanged(job)
            return .success(())
        }
    }

    public func fail(id: UInt64, owner: UInt64, choice: RetryChoice, reason: [UInt8]?) -> Result<FailOutcome, JobError> {
        switch held(id, owner) {
        case .failure(let error): return .failure(error)
        case .success(let job): return .success(endAttempt(job, choice: choice, reason: reason))
        }
    }

    public func progress(id: UInt64, owner: UInt64, percent: Int, note: [UInt8]?) -> Result<Void, JobError> {
        switch held(id, owner) {
        case .failure(let error): return .failure(error)
        case .success(let job):
            job.progress = percent
            if let note { job.progressNote = note }
            extendLease(job)
            markChanged(job)
            return .success(())
        }
    }

    public func touch(id: UInt64, owner: UInt64) -> Result<Void, JobError> {
        switch held(id, owner) {
        case .failure(let error): return .failure(error)
        case .success(let job):
            extendLease(job)
            return .success(())
        }
    }

    /// Everything `owner` held or waited for ends: held jobs count a failed attempt.
    public func ownerGone(_ owner: UInt64, heldJobs: [UInt64]) {
        for id in heldJobs {
            if let job = jobs[id], job.state == .active, job.holder == owner {
                _ = endAttempt(job, choice: .policy, reason: Array("worker lost: connection closed".utf8))
            }
        }
    }

    // MARK: Inspection and repair

    public func job(_ id: UInt64) -> Job? { jobs[id] }

    public func deadJobs(queue name: UnsafeRawBufferPointer, limit: Int) -> [Job] {
        guard let queue = queues.find(name) else { return [] }
        var found: [Job] = []
        for id in queue.dead where found.count < limit {
            if let job = jobs[id], job.state == .dead, !found.contains(where: { $0 === job }) { found.append(job) }
        }
        return found
    }

    public func retry(id: UInt64) -> Result<Void, JobError> {
        guard let job = jobs[id] else { return .failure(.notFound(id)) }
        guard job.state == .dead else { return .failure(JobError(.notDead, "job \(id) is \(job.state.name), not dead")) }
        revive(job)
        return .success(())
    }

    public func retryAll(queue name: UnsafeRawBufferPointer) -> Int {
        guard let queue = queues.find(name) else { return 0 }
        var count = 0
        for id in queue.dead {
            if let job = jobs[id], job.state == .dead {
                revive(job)
                count += 1
            }
        }
        return count
    }

    public func delete(id: UInt64) -> Result<Void, JobError> {
        guard let job = jobs[id] else { return .failure(.notFound(id)) }
        forget(job)
        return .success(())
    }

    // MARK: Time

    /// Moves delayed jobs whose time has come to waiting, ends expired leases as failed
    /// attempts, and times out waiters. Call when `nextDeadline` passes (or any time).
    public func advance() {
        let now = clock.now()
        while let entry = delayed.top, entry.time <= now {
            delayed.pop()
            let job = entry.job
            guard job.state == .delayed, job.generation == entry.generation, jobs[job.id] === job else { continue }
            job.state = .waiting
            markChanged(job)
            makeReady(job, in: queue(named: job.queue))
        }
        while let entry = leases.top, entry.time <= now {
            leases.pop()
            let job = entry.job
            guard job.state == .active, job.generation == entry.generation, job.leaseExpiresAt == entry.time,
                jobs[job.id] === job
            else { continue }
            _ = endAttempt(job, choice: .policy, reason: Array("stalled: lease of \(job.leaseMilliseconds) ms expired".utf8))
        }
        while let entry = waiterDeadlines.top, entry.time <= now {
            waiterDeadlines.pop()
            guard !entry.waiter.isDone else { continue }
            entry.waiter.isDone = true
            events.append(.timedOut(entry.waiter))
        }
    }

    /// The earliest time `advance` has something to do, unix milliseconds.
    public var nextDeadline: Int64? {
        [delayed.top?.time, leases.top?.time, waiterDeadlines.top?.time].compactMap { $0 }.min()
    }

    // MARK: Output

    /// Events since the last call.
    public func takeEvents() -> [EngineEvent] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// Whether there are changes not yet taken for the store.
    public var hasChanges: Bool { !changed.isEmpty }

    /// Jobs changed since the last call (nil: deleted), for one store transaction.
    public func takeChanges() -> [UInt64: Job?] {
        defer { changed.removeAll(keepingCapacity: true) }
        return changed
    }

    // MARK: Internals

    func queue(named name: UnsafeRawBufferPointer) -> JobQueue {
        if let queue = queues.find(name) { return queue }
        let queue = JobQueue(name: String(decoding: name, as: UTF8.self))
        queues.set(Array(name), queue)
        queueList.append(queue)
        return queue
    }

    private func queue(named name: String) -> JobQueue {
        var copy = name
        return copy.withUTF8 { queue(named: UnsafeRawBufferPointer($0)) }
    }

    private func markChanged(_ job: Job) { changed[job.id] = job }

    private func held(_ id: UInt64, _ owner: UInt64) -> Result<Job, JobError> {
        guard let job = jobs[id] else { return .failure(.notFound(id)) }
        guard job.state == .active, job.holder == owner else { return .failure(.notHeld(id)) }
        return .success(job)
    }

    private func nextGeneration(_ job: Job) -> UInt64 {
        generation += 1
        job.generation = generation
        return generation
    }

    /// A waiting job goes to the first live waiter, or into the ready heap.
    private func makeReady(_ job: Job, in queue: JobQueue) {
        while let waiter = queue.waiters.first {
            queue.waiters.removeFirst()
            if waiter.isDone { continue }
            waiter.isDone = true
            activate(job, owner: waiter.owner)
            events.append(.delivered(waiter, job))
            return
        }
        queue.ready.push(ReadyEntry(priority: job.priority, sequence: nextGeneration(job), job: job))
    }

    private func popReady(_ queue: JobQueue) -> Job? {
        while let entry = queue.ready.pop() {
            let job = entry.job
            if job.state == .waiting, job.generation == entry.sequence, jobs[job.id] === job { return job }
        }
        return nil
    }

    private func activate(_ job: Job, owner: UInt64) {
        job.state = .active
        job.attempts += 1
        job.holder = owner
        job.startedAt = clock.now()
        job.progress = 0
        job.progressNote = nil
        _ = nextGeneration(job)
        extendLease(job)
        markChanged(job)
    }

    private func extendLease(_ job: Job) {
        job.leaseExpiresAt = clock.now() + Int64(job.leaseMilliseconds)
        leases.push(TimedEntry(time: job.leaseExpiresAt, generation: job.generation, job: job))
    }

    private func schedule(_ job: Job) {
        delayed.push(TimedEntry(time: job.runAt, generation: nextGeneration(job), job: job))
    }

    /// Ends the current attempt of an active job as a failure.
    private func endAttempt(_ job: Job, choice: RetryChoice, reason: [UInt8]?) -> FailOutcome {
        job.holder = 0
        if let reason { job.lastError = reason }
        let now = clock.now()
        let queue = queue(named: job.queue)
        if choice == .never || job.attempts >= job.maxAttempts {
            job.state = .dead
            job.finishedAt = now
            retain(job, in: queue.dead, keep: defaults.keepDead)
            markChanged(job)
            return .dead
        }
        var wait: Int
        switch choice {
        case .after(let milliseconds): wait = milliseconds
        default:
            wait = job.backoff.delay(afterAttempt: job.attempts)
            if job.jitter > 0 { wait -= Int(Double(wait) * job.jitter * random()) }
        }
        job.runAt = now + Int64(wait)
        markChanged(job)
        if wait > 0 {
            job.state = .delayed
            schedule(job)
        } else {
            job.state = .waiting
            makeReady(job, in: queue)
        }
        return .retry(afterMilliseconds: wait)
    }

    private func revive(_ job: Job) {
        job.state = .waiting
        job.attempts = 0
        job.finishedAt = nil
        job.runAt = clock.now()
        markChanged(job)
        makeReady(job, in: queue(named: job.queue))
    }

    /// Records a finished job in its queue's history, forgetting the oldest past `keep`.
    private func retain(_ job: Job, in history: JobHistory, keep: Int) {
        history.append(job.id)
        while history.count > keep, let oldest = history.removeFirst() {
            if let old = jobs[oldest], old.state == .completed || old.state == .dead, old !== job { forget(old) }
        }
    }

    private func forget(_ job: Job) {
        jobs[job.id] = nil
        job.state = .dead
        job.holder = 0
        if let key = job.key {
            let queue = queue(named: job.queue)
            if queue.keys[key] == job.id { queue.keys[key] = nil }
        }
        changed[job.id] = .some(nil)
    }
}

/// One named queue's indexes.
final class JobQueue {
    let name: String
    var ready = BinaryHeap<ReadyEntry>()
    var waiters = FIFO<Waiter>()
    var keys: [[UInt8]: UInt64] = [:]
    let completed = JobHistory()
    let dead = JobHistory()

    init(name: String) { self.name = name }
}

/// Ids of finished jobs, oldest first.
final class JobHistory: Sequence {
    private var ids = FIFO<UInt64>()
    var count: Int { ids.count }
    func append(_ id: UInt64) { ids.append(id) }
    func removeFirst() -> UInt64? { ids.popFirst() }
    func makeIterator() -> IndexingIterator<ArraySlice<UInt64>> { ids.items.makeIterator() }
}

/// A first-in first-out list with O(1) amortised removal at the front.
struct FIFO<Element> {
    private var storage: [Element] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { count == 0 }
    var first: Element? { head < storage.count ? storage[head] : nil }
    var items: ArraySlice<Element> { storage[head...] }

    mutating func append(_ element: Element) { storage.append(element) }

    mutating func removeFirst() { _ = popFirst() }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        // Compact once the dead prefix is half the storage, keeping removal O(1) amortised.
        if head > 64 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }
}

struct ReadyEntry: Comparable {
    let priority: Int
    let sequence: UInt64
    let job: Job

    static func < (a: ReadyEntry, b: ReadyEntry) -> Bool {
        a.priority != b.priority ? a.priority < b.priority : a.sequence < b.sequence
    }

    static func == (a: ReadyEntry, b: ReadyEntry) -> Bool { a.priority == b.priority && a.sequence == b.sequence }
}

struct TimedEntry: Comparable {
    let time: Int64
    let generation: UInt64
    let job: Job

    static func < (a: TimedEntry, b: TimedEntry) -> Bool {
        a.time != b.time ? a.time < b.time : a.generation < b.generation
    }

    static func == (a: TimedEntry, b: TimedEntry) -> Bool { a.time == b.time && a.generation == b.generation }
}

struct WaiterEntry: Comparable {
    let time: Int64
    let sequence: UInt64
    let waiter: Waiter

    static func < (a: WaiterEntry, b: WaiterEntry) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }

    static func == (a: WaiterEntry, b: WaiterEntry) -> Bool { a.time == b.time && a.sequence == b.sequence }
}
