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

/// What changed since the store last took the changes: one transaction's worth.
public struct JobChanges {
    public var changed: [Job]
    public var deleted: [UInt64]
    /// The deleted jobs that may still have a payload in the store: all but those whose
    /// completion was taken in an earlier batch (a completed job gives its payload up then).
    public var deletedWithPayload: [UInt64]
}

/// Something the engine did on its own (time passing, a job arriving) that someone must hear.
public enum EngineEvent {
    /// A waiting RESERVE got a job: send it to the waiter's owner.
    case delivered(Waiter, Job)
    /// A waiting RESERVE timed out: tell its owner there is no job.
    case timedOut(Waiter)
    /// A WAIT's job completed or died.
    case watchFinished(JobWatch, Job)
    /// A WAIT's job was deleted.
    case watchGone(JobWatch)
    /// A WAIT timed out.
    case watchTimedOut(JobWatch)
    /// A PURGE left to `advance` is done: answer it (once its deletions are durable).
    case purged(Purge)
    /// A RETRY queue=<q> left to `advance` is done: answer it (once its revivals are durable).
    case revived(Revival)
}

/// What a FAIL (or a lost lease) led to.
public enum FailOutcome: Equatable, Sendable {
    case retry(afterMilliseconds: Int)
    case dead
}

/// The job queues: every job's state, the ready order, delays, leases, waiting workers, and
/// each queue's policies (rate limits, concurrency cap, pause, throttling).
///
/// The engine does no I/O. Every change marks the job dirty; the server takes the dirty set
/// after each loop pass (`takeChanges`), writes it to the store in one transaction, and only
/// then releases the replies that promised durability.
///
/// Starting a job always goes through `startable(_:)`, which applies the queue's policies, and
/// anything that can make a queue startable again (a job arriving, a job ending, a rate window
/// sliding, a throttle or pause ending) calls `dispatch(_:)`, which hands jobs to waiting
/// workers in arrival order. Time-driven wake-ups sit in a heap the server's timer drains
/// through `advance()`, so nothing polls.
public final class JobEngine {
    private let clock: EngineClock
    private let random: () -> Double
    public var defaults: QueueDefaults

    private let queues = ByteKeyedTable<JobQueue>()
    public private(set) var queueList: [JobQueue] = []
    /// The same queues in the order of their names' bytes, for pages of them by name (sorting
    /// 10,000 names on each request was most of a page's cost).
    public private(set) var queuesByName: [JobQueue] = []
    /// What the dashboard's overview adds up over `queueList`.
    public let summary = QueueSummary()
    public private(set) var jobs = JobTable()
    public private(set) var nextID: UInt64 = 1
    /// The last place handed out in a ready order (`Job.readySequence`); below
    /// `readySequenceLimit`, which a renumbering keeps it under (see `nextReadySequence`).
    private(set) var readyCounter: UInt64 = 0
    /// `ReadyEntry.sequenceLimit`; tests lower it to make renumbering happen.
    var readySequenceLimit = ReadyEntry.sequenceLimit
    private(set) var readyRenumberings = 0

    // Heaps of job ids, not references: sifting plain values needs no reference counting.
    private var delayed = BinaryHeap<Deadline<UInt64>>()
    /// Leases by when they end, then by hand-out (`leaseStarts`): leases that end in the same
    /// millisecond end in the order their jobs were handed out, as on PostgreSQL (by `delivery`),
    /// and so the jobs they put back in line take their places in that order.
    private var leases = BinaryHeap<Deadline<LeaseEnd>>()
    private var leaseStarts: UInt64 = 0
    /// Jobs with an expiry (`ttl=`, `expires=`), by when it comes, then by id (jobs that expire
    /// together die in that order, as on PostgreSQL); an entry whose job started, finished or
    /// went meanwhile is passed over when its time comes.
    private var expiries = BinaryHeap<Deadline<UInt64>>()
    private var waiterDeadlines = BinaryHeap<Deadline<Waiter>>()
    private var wakes = BinaryHeap<Deadline<JobQueue>>()
    private var sequence: UInt64 = 0

    private var watches: [UInt64: [JobWatch]] = [:]
    private var watchDeadlines = BinaryHeap<Deadline<JobWatch>>()
    /// Watches and waiters withdrawn but still listed (in `watches`, a queue's `waiters`, a
    /// deadline heap): swept out together once they are many, so that withdrawing one is O(1)
    /// amortised and clients that come and go cannot make the lists grow.
    private var withdrawnWatches = 0
    /// Start times found in stored jobs, until `finishRecovery` rebuilds the rate windows.
    private var restoredStarts: [(queue: JobQueue, time: Int64, group: [UInt8]?)] = []
    private var withdrawnWaiters = 0
    /// Jobs of workers gone whose attempts `ownerGone` left to `advance`, oldest close first.
    private var lostHolds: [(owner: UInt64, ids: ArraySlice<UInt64>)] = []
    /// PURGEs `purge(…atOnce:)` left to `advance`, oldest first.
    private var purges: [Purge] = []
    /// The purge deleting jobs now, which `settleDescendants` tells of the children it settles.
    private var purging: Purge?
    /// RETRY queue=<q>s `retryAll(…atOnce:)` left to `advance`, oldest first.
    private var revivals: [Revival] = []
    /// Whether to record lifecycle events; the server turns it on while anyone subscribes to them.
    public var recordsLifecycle = false
    private var lifecycle: [LifecycleEvent] = []

    /// Each parent's children (jobs enqueued `after=` it), while both are known.
    private var children: [UInt64: [UInt64]] = [:]
    /// Finished jobs retention would have removed, kept because a child may still read their
    /// outcome (PARENTS); each goes when its last child finishes.
    private var heldParents = Set<UInt64>()
    /// Finished jobs retention would have removed, kept while their key is remembered
    /// (`key_ttl=`), by when it stops being.
    /// Ordered by when the key may go; the sequence is the job's finish time when it was
    /// recorded (a job that ran again since is judged on its new finish).
    private var keyHolds = BinaryHeap<Deadline<UInt64>>()
    /// Finished jobs of queues that keep none, to go at the end of the pass.
    private var unkept: [Job] = []
    /// While above 0, finishes are recorded but histories not trimmed (`holdingRetention`).
    private var retentionHeld = 0
    private var queuesToTrim: Set<ObjectIdentifier> = []
    /// Blocked jobs found by a restore, settled once every job is back.
    private var restoredBlocked: [Job] = []
    /// The latest time a waiting job found by a restore so far became runnable, and whether
    /// one came out of that order (see `finishRestore`).
    private var restoredReadyTime = Int64.min
    /// The queue the last restored job went to: stored jobs come in id order, mostly in long
    /// runs of one queue, and comparing its name is cheaper than hashing it per job.
    private var lastRestoredQueue: JobQueue?
    private var restoredOutOfOrder = false

    private var changedJobs: [Job] = []
    private var deletedJobs: [UInt64] = []
    private var deletedPayloads: [UInt64] = []
    private var changedQueues: [String: JobQueue] = [:]
    /// Queues whose totals changed since the store last took the changes.
    private var totalsChanged: [JobQueue] = []
    private var forgottenQueues: [String] = []
    private var events: [EngineEvent] = []

    public init(clock: EngineClock, defaults: QueueDefaults = QueueDefaults(), random: @escaping () -> Double = { Double.random(in: 0..<1) }) {
        self.clock = clock
        self.defaults = defaults
        self.random = random
    }

    // MARK: Recovery

    /// Rebuilds one stored job. Call it for every stored job in id order, then
    /// `finishRestore`, which puts the waiting ones back in line. Active jobs become waiting:
    /// their worker is gone with the old process, and the attempt they were on stays counted.
    /// `rewritten`: recovery changed the stored fields (a salvage), so they are written back.
    public func restoreJob(id: UInt64, _ stored: StoredJobFields, payloadSize: Int, rewritten: Bool = false) {
        let queue: JobQueue
        if let last = lastRestoredQueue, sameBytes(last.nameBytes, stored.queue) {
            queue = last
        } else {
            queue = self.queue(named: stored.queue)
            lastRestoredQueue = queue
        }
        let policy = queue.policy(
            maxAttempts: stored.maxAttempts, backoff: stored.backoff, jitter: stored.jitter,
            leaseMilliseconds: stored.leaseMilliseconds)
        let job = Job(
            id: id, policy: policy, payloadSize: payloadSize, state: stored.state,
            priority: stored.priority, enqueuedAt: stored.enqueuedAt, runAt: stored.runAt)
        job.attempts = stored.attempts
        job.startedAt = stored.startedAt
        job.finishedAt = stored.finishedAt
        job.progress = stored.progress
        job.key = stored.key
        job.group = stored.group
        job.progressNote = stored.progressNote
        job.lastError = stored.lastError
        job.result = stored.result
        job.expiresAt = stored.expiresAt
        if let expiresAt = stored.expiresAt { expiries.push(Deadline(time: expiresAt, sequence: id, item: id)) }
        if let keyUntil = stored.keyUntil { job.ensureExtras().keyUntil = keyUntil }
        if let failedAttempts = stored.failedAttempts { job.ensureExtras().failedAttempts = failedAttempts }
        if let parents = stored.parents {
            let extras = job.ensureExtras()
            extras.parents = parents
            extras.runsIfParentDies = stored.runsIfParentDies
            // Parents have smaller ids, so they are back already (unless deleted).
            extras.flowDepth = stored.flowDepth ?? flowDepth(after: parents)
            for parent in parents where jobs[parent] != nil { children[parent, default: []].append(id) }
        }
        // Its last start counts in the queue's rate windows (the settings are restored first),
        // rebuilt once every job is back.
        if let started = stored.startedAt {
            let now = clock.now()
            let window = max(queue.config.rate?.windowMilliseconds ?? 0, queue.config.groupRate?.windowMilliseconds ?? 0)
            if started + Int64(window) > now { restoredStarts.append((queue, started, stored.group)) }
        }
        if job.state == .active {
            // Its worker went with the old process: a failed attempt (and a death, below), counted
            // once the stored totals are back.
            queue.failuresAtRestart += 1
            let reason = Array("worker lost: server restarted".utf8)
            job.recordFailedAttempt(endedAt: clock.now(), error: reason)
            // As for a worker lost while the server ran: the retried job says why it is back.
            job.lastError = reason
            job.state = .waiting
            job.startedAt = nil
            job.leaseOrFinish = 0
            if job.attempts >= job.maxAttempts {
                job.state = .dead
                queue.deathsAtRestart += 1
                job.finishedAt = clock.now()
            }
            markChanged(job)
        }
        if rewritten { markChanged(job) }
        jobs.insert(job)
        queue.counts[Int(job.state.rawValue)] += 1
        if job.state == .waiting { queue.waitingSince.enter(job) }
        if let key = job.key { queue.keys[key] = job.id }
        switch job.state {
        case .waiting:
            let became = Self.listTime(of: job)
            if became < restoredReadyTime { restoredOutOfOrder = true }
            restoredReadyTime = max(restoredReadyTime, became)
            job.readySequence = nextReadySequence()
            queue.ready.push(ReadyEntry(job))
        case .delayed: schedule(job)
        case .completed: queue.completed.append(job.id, finishedAt: job.finishedAt ?? 0)
        case .dead: queue.dead.append(job.id, finishedAt: job.finishedAt ?? 0)
        case .blocked: restoredBlocked.append(job)
        case .active: break
        }
        nextID = max(nextID, id + 1)
    }

    /// Ends recovery, once the queues have their settings: rate windows are rebuilt from the
    /// start times the stored jobs keep (so `rate=1/1h` still holds after a restart), and the
    /// stored throttles are put back. Starts of jobs deleted or removed by retention since are
    /// gone, and a job keeps only its latest start, so a rebuilt window can hold fewer starts
    /// than the lost one did, never more.
    public func finishRecovery(holds: [(String, QueueHolds)], totals: [(String, QueueTotals)] = []) {
        let now = clock.now()
        // Totals kept with each queue's record; a queue written before they were kept starts
        // from what its jobs show (each one was enqueued once; finished ones finished).
        var stored: [String: QueueTotals] = [:]
        for (name, value) in totals { stored[name] = value }
        for queue in queueList {
            defer {
                queue.failedTotal += queue.failuresAtRestart
                queue.deadTotal += queue.deathsAtRestart
                if queue.failuresAtRestart > 0 { noteTotals(queue) }
                queue.failuresAtRestart = 0
                queue.deathsAtRestart = 0
            }
            if let value = stored[queue.name] {
                queue.restore(value)
            } else {
                let counts = queue.counts
                queue.restore(QueueTotals(
                    enqueued: counts.reduce(0, +), started: 0, completed: counts[Int(JobState.completed.rawValue)], failed: 0,
                    dead: counts[Int(JobState.dead.rawValue)], throttled: 0, removed: 0, deleted: 0))
            }
        }
        for (name, stored) in holds {
            let queue = queue(named: name)
            if stored.queue > now { queue.heldUntil = stored.queue }
            for (group, until) in stored.groups where until > now { queue.group(group).heldUntil = until }
        }
        restoredStarts.sort { $0.time < $1.time }
        for (queue, time, group) in restoredStarts {
            if let window = queue.rateWindow, time + window.window > now, window.allows(at: time) {
                queue.rateWindow?.record(time)
            }
            if let group, let rate = queue.config.groupRate, time + Int64(rate.windowMilliseconds) > now,
                let state = queue.groupIfLimited(group, config: queue.config), state.window?.allows(at: time) == true
            {
                state.window?.record(time)
            }
        }
        restoredStarts.removeAll()
        // Each blocked job counts the parents it still waits for; a parent that finished is
        // recorded in the same commit as its children's changes, so this only finds what the
        // stored states already say (and what the restart itself decided: a job that was
        // running, out of attempts, is dead now). Every count is set before any job moves on:
        // a death settled here reaches children further on, which must know their count.
        var deadParents: [ObjectIdentifier: UInt64] = [:]
        for job in restoredBlocked where job.state == .blocked {
            var pending = 0
            for id in job.parents {
                guard let parent = jobs[id] else { continue }
                switch parent.state {
                case .completed: break
                case .dead where job.parentDeathPolicy == .run: break
                case .dead: if deadParents[ObjectIdentifier(job)] == nil { deadParents[ObjectIdentifier(job)] = id }
                default: pending += 1
                }
            }
            job.ensureExtras().pendingParents = pending
        }
        for job in restoredBlocked where job.state == .blocked {
            if let deadParent = deadParents[ObjectIdentifier(job)] {
                dieOfParent(job, deadParent, deleted: false)
                settleAfterFinish(job)
            } else if let extras = job.extras, extras.pendingParents <= 0 {
                extras.pendingParents = 1
                if unblockOne(job) == .expired { settleAfterFinish(job) }
            }
        }
        restoredBlocked.removeAll()
    }

    /// Starts a restore: the queues' stored settings, before any job comes back.
    public func restoreSettings(_ queueConfigs: [(String, QueueConfig)]) {
        for (name, config) in queueConfigs {
            let queue = queue(named: name)
            queue.config = config
            queue.isStored = true
        }
    }

    /// Ends a restore: the stored next id and queue settings.
    public func finishRestore(nextID storedNextID: UInt64, queueConfigs: [(String, QueueConfig)] = []) {
        for (name, config) in queueConfigs { queue(named: name).config = config }
        nextID = max(nextID, storedNextID)
        lastRestoredQueue = nil
        if restoredOutOfOrder { putRestoredJobsBackInLine() }
    }

    /// Places in line are not stored, only the time each job became runnable: in that order
    /// the waiting jobs go back in line, as LIST showed them (jobs of the same millisecond in
    /// id order). The restore gives places in id order as it finds the jobs, which is that
    /// order unless a job went back in line behind later ones (a retry): then, and only then,
    /// every waiting job gets its place again here, at the cost of a sort and a second pass
    /// over the jobs: about 0.2 s more per 500,000 waiting jobs, measured on a loaded 2-core
    /// machine (given places by id, a job retried after others had come ran ahead of them once
    /// the server restarted).
    private func putRestoredJobsBackInLine() {
        var waiting: [Job] = []
        jobs.forEach { if $0.state == .waiting { waiting.append($0) } }
        waiting.sort { (Self.listTime(of: $0), $0.id) < (Self.listTime(of: $1), $1.id) }
        for queue in queueList { queue.ready.rebuild([]) }
        for job in waiting {
            job.readySequence = nextReadySequence()
            job.home.ready.push(ReadyEntry(job))
        }
        restoredOutOfOrder = false
    }

    // MARK: Producing

    /// Creates a job, or finds the one that already has its idempotency key.
    /// `parents`: jobs it must wait for (`after=`), ids the caller found known.
    public func enqueue(
        queue name: UnsafeRawBufferPointer, options: EnqueueOptions, key: [UInt8]?, group: [UInt8]? = nil,
        payloadSize: Int, parents: [UInt64] = []
    ) -> (id: UInt64, duplicate: Bool) {
        let queue = queue(named: name)
        if let key, let existing = queue.keys[key], jobs[existing] != nil {
            return (existing, true)
        }
        let now = clock.now()
        var runAt = now
        if let delay = options.delayMilliseconds { runAt = now + Int64(delay) }
        // An `at=` already past runs now: `run_at` then says when the job became runnable
        // (its ENQ), as on PostgreSQL, not a time before the job existed.
        if let at = options.runAtMilliseconds { runAt = max(at, now) }
        let config = queue.config
        let policy = queue.policy(
            maxAttempts: options.maxAttempts ?? config.maxAttempts ?? defaults.maxAttempts,
            backoff: options.backoff ?? config.backoff ?? defaults.backoff,
            jitter: options.jitter ?? config.jitter ?? 0,
            leaseMilliseconds: options.leaseMilliseconds ?? config.leaseMilliseconds ?? defaults.leaseMilliseconds)
        let runsIfParentDies = options.onParentDead == .run
        var pending = 0
        var deadParent: UInt64?
        for id in parents {
            guard let parent = jobs[id] else { continue }
            switch parent.state {
            case .completed: break
            case .dead where runsIfParentDies: break
            case .dead: deadParent = deadParent ?? id
            default: pending += 1
            }
        }
        let state: JobState = !parents.isEmpty && (pending > 0 || deadParent != nil) ? .blocked : runAt > now ? .delayed : .waiting
        let job = Job(
            id: nextID, policy: policy, payloadSize: payloadSize, state: state,
            priority: options.priority, enqueuedAt: now, runAt: runAt)
        if key != nil || group != nil || !parents.isEmpty {
            let extras = JobExtras()
            extras.key = key
            extras.group = group
            job.extras = extras
        }
        if !parents.isEmpty, let extras = job.extras {
            extras.parents = parents
            extras.flowDepth = flowDepth(after: parents)
            extras.runsIfParentDies = runsIfParentDies
            extras.pendingParents = pending
            for parent in parents where jobs[parent] != nil { children[parent, default: []].append(job.id) }
        }
        if let expiresAt = options.expiry(enqueuedAt: now) {
            job.expiresAt = expiresAt
            pushExpiry(job, at: expiresAt)
        }
        if key != nil, let ttl = options.keyTTLMilliseconds { job.ensureExtras().keyUntil = now + Int64(ttl) }
        nextID += 1
        jobs.insert(job)
        queue.counts[Int(job.state.rawValue)] += 1
        if job.state == .waiting { queue.waitingSince.enter(job) }
        queue.enqueuedTotal += 1
        noteTotals(queue)
        if let key { queue.keys[key] = job.id }
        markChanged(job)
        note(.enqueued, job, queue)
        if let deadParent {
            dieOfParent(job, deadParent, deleted: false)
        } else if job.state == .blocked {
            note(.blocked, job, queue) { $0.parents = parents }
        } else if job.state == .delayed {
            schedule(job)
        } else {
            makeReady(job, in: queue)
        }
        return (job.id, false)
    }

    /// The job the queue knows by `key`, which an ENQ with that key finds instead of making one.
    public func jobID(queue name: UnsafeRawBufferPointer, key: [UInt8]) -> UInt64? {
        guard let id = queues.find(name)?.keys[key], jobs[id] != nil else { return nil }
        return id
    }

    /// The depth in its flow of a job enqueued `after=` `parents` (ids): one more than the
    /// deepest of them that has not finished, 1 when none is left. A finished (or forgotten)
    /// parent has settled its children already, so no chain through it spreads any more; a
    /// parent's own depth counts the chain as it was at its ENQ, so this is never less than
    /// the longest chain a death or completion could still walk down to the job.
    public func flowDepth(after parents: [UInt64]) -> Int {
        var deepest = 0
        for id in parents {
            guard let parent = jobs[id], parent.state != .completed, parent.state != .dead else { continue }
            deepest = max(deepest, parent.flowDepth)
        }
        return deepest + 1
    }

    /// ENQ `replace=true` when the queue knows the key: a job still waiting or delayed takes the
    /// new payload (its size here; the caller stores the bytes) and the new run time (now, or
    /// the ENQ's `delay=`/`at=`; a waiting job that stays waiting keeps its place). Answers the
    /// job's id, or nil when there is no such job or it has started (a plain duplicate then).
    public func replaceWaiting(queue name: UnsafeRawBufferPointer, key: [UInt8], options: EnqueueOptions, payloadSize: Int) -> UInt64? {
        guard let queue = queues.find(name), let id = queue.keys[key], let job = jobs[id], job.state == .waiting || job.state == .delayed
        else { return nil }
        let now = clock.now()
        var runAt = now
        if let delay = options.delayMilliseconds { runAt = now + Int64(delay) }
        if let at = options.runAtMilliseconds { runAt = at }
        job.payloadSize = UInt32(clamping: payloadSize)
        if let ttl = options.keyTTLMilliseconds { job.ensureExtras().keyUntil = max(job.keyUntil ?? 0, now + Int64(ttl)) }
        markChanged(job)
        if runAt > now {
            job.runAt = runAt
            if job.state == .waiting { transition(job, to: .delayed, in: queue) }
            schedule(job)
        } else if job.state == .delayed {
            job.runAt = now
            transition(job, to: .waiting, in: queue)
            note(.waiting, job, queue)
            makeReady(job, in: queue)
        }
        return id
    }

    // MARK: Consuming

    /// Reserves the next job from the first of `queues` that has one it may start, for
    /// `owner`. With none and a wait asked for, registers a waiter instead, which a later
    /// `.delivered` or `.timedOut` event resolves.
    public func reserve(
        queues names: QueueNames, in bytes: UnsafeRawBufferPointer, owner: UInt64, wait: Bool, timeoutMilliseconds: Int?
    ) -> (job: Job?, waiter: Waiter?) {
        for range in names {
            if let job = start(from: UnsafeRawBufferPointer(rebasing: bytes[range]), owner: owner) { return (job, nil) }
        }
        guard wait else { return (nil, nil) }
        let chosen = names.map { queue(named: UnsafeRawBufferPointer(rebasing: bytes[$0])) }
        return (nil, addWaiter(owner: owner, queues: chosen, timeoutMilliseconds: timeoutMilliseconds))
    }

    /// Starts the next job the named queue lets start, if no one is waiting there before us.
    /// Looking costs nothing: only a RESERVE that waits makes a queue to wait on.
    private func start(from name: UnsafeRawBufferPointer, owner: UInt64) -> Job? {
        guard let queue = queues.find(name), queue.waiters.isEmpty || queue.liveWaiters == 0,
            let job = startable(queue)
        else { return nil }
        activate(job, owner: owner)
        return job
    }

    private func addWaiter(owner: UInt64, queues chosen: [JobQueue], timeoutMilliseconds: Int?) -> Waiter {
        let deadline = timeoutMilliseconds.map { clock.now() + Int64($0) }
        let waiter = Waiter(owner: owner, queues: chosen, deadline: deadline)
        for queue in chosen {
            queue.waiters.append(waiter)
            queue.liveWaiters += 1
            scheduleWake(queue)
        }
        if let deadline {
            sequence += 1
            waiterDeadlines.push(Deadline(time: deadline, sequence: sequence, item: waiter))
        }
        return waiter
    }

    /// Withdraws a waiter (its connection went away).
    public func cancel(_ waiter: Waiter) {
        guard !waiter.isDone else { return }
        finish(waiter)
        withdrawnWaiters += 1
        sweepWithdrawn()
    }

    public func ack(id: UInt64, owner: UInt64, attempt: Int? = nil, result: [UInt8]?) -> Result<Void, JobError> {
        switch held(id, owner, attempt) {
        case .failure(let error): return .failure(error)
        case .success(let job):
            let queue = job.home
            job.result = result
            job.finishedAt = clock.now()
            job.holder = 0
            let run = observeRun(job, queue)
            transition(job, to: .completed, in: queue)
            queue.completedTotal += 1
            queue.completeRate.add(job.finishedAt ?? clock.now())
            summary.completed(job.finishedAt ?? clock.now())
            noteTotals(queue)
            note(.completed, job, queue) {
                $0.runMilliseconds = run
                $0.resultBytes = result?.count ?? 0
            }
            resolveWatches(job)
            retain(job, in: queue.completed, keep: queue.config.keepCompleted ?? defaults.keepCompleted)
            markChanged(job)
            settleAfterFinish(job)
            dispatch(queue)
            return .success(())
        }
    }

    public func fail(
        id: UInt64, owner: UInt64, attempt: Int? = nil, choice: RetryChoice, reason: [UInt8]?
    ) -> Result<FailOutcome, JobError> {
        switch held(id, owner, attempt) {
        case .failure(let error): return .failure(error)
        case .success(let job): return .success(endAttempt(job, choice: choice, reason: reason))
        }
    }

    /// A worker hit a downstream limit: the job goes back without using up an attempt, and its
    /// queue (or, with `groupOnly`, the job's group) starts nothing for `milliseconds`.
    public func throttle(
        id: UInt64, owner: UInt64, attempt: Int? = nil, milliseconds: Int, groupOnly: Bool, reason: [UInt8]?
    ) -> Result<Void, JobError> {
        switch held(id, owner, attempt) {
        case .failure(let error): return .failure(error)
        case .success(let job):
            let queue = job.home
            let until = clock.now() + Int64(milliseconds)
            if groupOnly {
                guard let group = job.group else {
                    return .failure(JobError(.badOption, "job \(id) has no group to throttle"))
                }
                let state = queue.group(group)
                state.heldUntil = max(state.heldUntil, until)
            } else {
                queue.heldUntil = max(queue.heldUntil, until)
            }
            // The hold is written with the queue's record, in this commit.
            changedQueues[queue.name] = queue
            queue.throttledTotal += 1
            noteTotals(queue)
            job.holder = 0
            job.attempts -= 1
            if let reason { job.lastError = reason }
            let run = observeRun(job, queue)
            markChanged(job)
            transition(job, to: .waiting, in: queue)
            note(.throttled, job, queue) {
                $0.runMilliseconds = run
                $0.error = reason
                $0.retryInMilliseconds = milliseconds
            }
            expireIfPast(job)
            makeReady(job, in: queue, keepingPlace: true)
            return .success(())
        }
    }

    /// Undoes a hand-out that never reached anyone (the requester stopped listening): the job
    /// is waiting again in its old place, the attempt not counted.
    public func giveBack(_ id: UInt64, owner: UInt64) {
        guard let job = jobs[id], job.state == .active, job.holder == owner else { return }
        let queue = job.home
        job.holder = 0
        job.attempts -= 1
        job.startedAt = nil
        markChanged(job)
        transition(job, to: .waiting, in: queue)
        expireIfPast(job)
        makeReady(job, in: queue, keepingPlace: true)
    }

    public func progress(id: UInt64, owner: UInt64, attempt: Int? = nil, percent: Int, note: [UInt8]?) -> Result<Void, JobError> {
        switch held(id, owner, attempt) {
        case .failure(let error): return .failure(error)
        case .success(let job):
            job.progress = percent
            if let note { job.progressNote = note }
            extendLease(job)
            markChanged(job)
            self.note(.progress, job, job.home) {
                $0.progress = percent
                $0.note = note
            }
            return .success(())
        }
    }

    public func touch(id: UInt64, owner: UInt64, attempt: Int? = nil) -> Result<Void, JobError> {
        switch held(id, owner, attempt) {
        case .failure(let error): return .failure(error)
        case .success(let job):
            extendLease(job)
            return .success(())
        }
    }

    /// Everything `owner` held ends: held jobs count a failed attempt, by id (the order they
    /// take their places in line again, as on PostgreSQL; a connection keeps them in a set).
    /// Up to `limit` of them now, the rest by `advance`, a slice per call, due at once
    /// (`nextDeadline`): a worker that closed holding a million jobs held every other client up
    /// for 10 s in one call. Until its turn comes a job stays active, held by no one who can
    /// finish it.
    public func ownerGone(_ owner: UInt64, heldJobs: [UInt64], atOnce limit: Int = .max) {
        let ids = heldJobs.sorted()
        for id in ids.prefix(limit) { endLostAttempt(id, owner) }
        if ids.count > limit { lostHolds.append((owner, ids.dropFirst(limit))) }
    }

    private func endLostAttempt(_ id: UInt64, _ owner: UInt64) {
        if let job = jobs[id], job.state == .active, job.holder == owner {
            _ = endAttempt(job, choice: .policy, reason: Array("worker lost: connection closed".utf8), cause: .lost)
        }
    }

    // MARK: Outcomes

    /// Waits for a job to complete or die: at once if it already has.
    public func watch(id: UInt64, owner: UInt64, timeoutMilliseconds: Int?) -> WatchStart {
        guard let job = jobs[id] else { return .notFound }
        if job.state == .completed || job.state == .dead { return .finished(job) }
        let watch = JobWatch(owner: owner, id: id)
        watches[id, default: []].append(watch)
        if let timeout = timeoutMilliseconds {
            sequence += 1
            watchDeadlines.push(Deadline(time: clock.now() + Int64(timeout), sequence: sequence, item: watch))
        }
        return .waiting(watch)
    }

    /// Withdraws a WAIT (its connection went away).
    public func cancel(_ watch: JobWatch) {
        guard !watch.isDone else { return }
        watch.isDone = true
        withdrawnWatches += 1
        sweepWithdrawn()
    }

    /// How many entries the engine keeps for deadlines and waiting lists; tests check these
    /// stay proportional to what is live.
    var bookkeeping: (leases: Int, waiterDeadlines: Int, watchDeadlines: Int, watches: Int, waiters: Int, delayed: Int, expiries: Int, keyHolds: Int) {
        (leases.count, waiterDeadlines.count, watchDeadlines.count, watches.values.reduce(0) { $0 + $1.count },
            queueList.reduce(0) { $0 + $1.waiters.count }, delayed.count, expiries.count, keyHolds.count)
    }

    /// Drops withdrawn waiters and watches from every list and heap once they are at least
    /// as many as what is listed for real (and more than a few): linear work, paid for by the
    /// withdrawals that made it necessary.
    private func sweepWithdrawn() {
        if withdrawnWatches > 256 && withdrawnWatches * 2 > watchDeadlines.count + watches.count {
            for (id, list) in watches {
                let live = list.filter { !$0.isDone }
                watches[id] = live.isEmpty ? nil : live
            }
            watchDeadlines.retain { !$0.item.isDone }
            withdrawnWatches = 0
        }
        if withdrawnWaiters > 256 && withdrawnWaiters * 2 > waiterDeadlines.count {
            for queue in queueList where queue.waiters.count > queue.liveWaiters {
                queue.waiters.retain { !$0.isDone }
                forgetIfUnused(queue)
            }
            waiterDeadlines.retain { !$0.item.isDone }
            withdrawnWaiters = 0
        }
    }

    private func resolveWatches(_ job: Job) {
        guard !watches.isEmpty, let waiting = watches.removeValue(forKey: job.id) else { return }
        for watch in waiting where !watch.isDone {
            watch.isDone = true
            events.append(.watchFinished(watch, job))
        }
    }

    /// Lifecycle events recorded since the last call (only while `recordsLifecycle` is on).
    public func takeLifecycle() -> [LifecycleEvent] {
        defer { lifecycle.removeAll(keepingCapacity: true) }
        return lifecycle
    }

    private func note(_ kind: LifecycleEvent.Kind, _ job: Job, _ queue: JobQueue, _ fill: (inout LifecycleEvent) -> Void = { _ in }) {
        // The sequence advances whether or not anyone listens, so a subscriber that sees a jump
        // knows it missed events; building the event is skipped when nobody listens.
        queue.eventSequence += 1
        guard recordsLifecycle else { return }
        var event = LifecycleEvent(
            kind: kind, sequence: queue.eventSequence, queue: queue.name, id: job.id, attempt: job.attempts,
            maxAttempts: job.maxAttempts, state: job.state, at: clock.now())
        event.group = job.group
        fill(&event)
        lifecycle.append(event)
    }

    // MARK: Queue policies

    /// A queue's settings (creating the queue if needed).
    public func config(of name: UnsafeRawBufferPointer) -> QueueConfig { queue(named: name).config }

    /// Replaces a queue's settings; they are persisted with the next commit. `forgetting`: a
    /// queue left with the default settings and nothing else is forgotten (a command's change);
    /// a restart that puts stored settings back passes false, as the holds and totals that may
    /// keep such a queue come back after its settings.
    public func setConfig(_ config: QueueConfig, of name: UnsafeRawBufferPointer, forgetting: Bool = true) {
        let queue = queue(named: name)
        queue.config = config
        // A changed limit or window keeps counting the starts already made in it.
        queue.rateWindow = Self.window(queue.rateWindow, for: config.rate)
        // A group's state also holds its throttle and the jobs parked while it may not start:
        // only its window follows the setting. `unparkAll` returns the jobs of groups that may
        // start now and drops the groups with nothing left to hold.
        for state in queue.groups.values { state.window = Self.window(state.window, for: config.groupRate) }
        changedQueues[queue.name] = queue
        unparkAll(queue)
        dispatch(queue)
        // Settings back to the defaults may leave nothing worth keeping: the queue is forgotten
        // now, as an emptied one is, and the change deletes its record rather than writing it
        // (else every queue ever configured stays, in memory and /metrics, and holds a place
        // of `--max-queues`).
        if forgetting && config == QueueConfig() { forgetIfUnused(queue, settingsPending: true) }
    }

    /// The window a rate setting asks for, carrying over the starts `old` recorded.
    private static func window(_ old: RateWindow?, for rate: Rate?) -> RateWindow? {
        guard let rate else { return nil }
        guard let old else { return RateWindow(limit: rate.limit, windowMilliseconds: rate.windowMilliseconds) }
        if old.limit == rate.limit && old.window == Int64(rate.windowMilliseconds) { return old }
        return old.resized(limit: rate.limit, windowMilliseconds: rate.windowMilliseconds)
    }

    /// Queues changed since the last call, for the store.
    public func takeQueueChanges() -> [JobQueue] {
        var changed = Array(changedQueues.values)
        for queue in totalsChanged where changedQueues[queue.name] == nil { changed.append(queue) }
        for queue in totalsChanged { queue.totalsChanged = false }
        changedQueues.removeAll(keepingCapacity: true)
        totalsChanged.removeAll(keepingCapacity: true)
        // A queue forgotten since it changed is not written back.
        let written = changed.filter { queues.find($0.nameBytes) === $0 }
        for queue in written { queue.isStored = true }
        return written
    }

    /// Names of queues forgotten since the last call, whose stored records go too.
    public func takeForgottenQueues() -> [String] {
        defer { forgottenQueues.removeAll() }
        return forgottenQueues
    }

    /// A queue's totals moved: its record is written with the next commit (its totals are kept
    /// across restarts). A flag, not a lookup by name: this runs for every job event.
    private func noteTotals(_ queue: JobQueue) {
        guard !queue.totalsChanged else { return }
        queue.totalsChanged = true
        totalsChanged.append(queue)
    }

    // MARK: Inspection and repair

    public func job(_ id: UInt64) -> Job? { jobs[id] }

    public func existingQueue(_ name: UnsafeRawBufferPointer) -> JobQueue? { queues.find(name) }

    public func deadJobs(queue name: UnsafeRawBufferPointer, limit: Int) -> [Job] { deadPage(queue: name, limit: limit).jobs }

    /// The queue's first `limit` dead jobs, in the order they died, and how many entries of
    /// its dead list were looked at to find them (`walked`: the walk stops at the limit, so
    /// `DEAD q limit=1` no longer passes over all `keep_dead` of them).
    public func deadPage(queue name: UnsafeRawBufferPointer, limit: Int) -> (jobs: [Job], walked: Int) {
        guard let queue = queues.find(name) else { return ([], 0) }
        var found: [Job] = []
        var walked = 0
        // A job that died, was retried and died again is listed where it died last, as on
        // PostgreSQL: its first entry would put it among the jobs that died before its retry.
        queue.dead.dropStale()
        for id in queue.dead {
            guard found.count < limit else { break }
            walked += 1
            if let job = jobs[id], job.state == .dead { found.append(job) }
        }
        return (found, walked)
    }

    public func retry(id: UInt64) -> Result<Void, JobError> {
        guard let job = jobs[id] else { return .failure(.notFound(id)) }
        guard job.state == .dead else { return .failure(JobError(.notDead, "job \(id) is \(job.state.name), not dead")) }
        revive(job)
        return .success(())
    }

    /// RETRY queue=<q>: revives every dead job of the queue at once; answers how many.
    public func retryAll(queue name: UnsafeRawBufferPointer) -> Int {
        retryAll(queue: name, atOnce: .max).revived
    }

    /// RETRY queue=<q> a slice at a time: revives up to `limit` jobs now and leaves the rest to
    /// `advance`, which says it is done with a `revived` event. The jobs are those dead when it
    /// began, in the order they died (a job that died again after a RETRY by its last death);
    /// one retried or deleted before its turn is passed over.
    public func retryAll(queue name: UnsafeRawBufferPointer, atOnce limit: Int) -> Revival {
        let revival = Revival(queue: queues.find(name))
        _ = reviveSlice(revival, upTo: limit)
        if !revival.isDone { revivals.append(revival) }
        return revival
    }

    /// Deaths a RETRY looks at for each job it may revive: a stale one (the job retried, died
    /// again or deleted since) is a comparison, a revival changes the queue's indexes and
    /// writes a record.
    private static let revivalLooksPerRevival = 8

    /// Revives up to `limit` more of the revival's jobs (looking at up to eight times as many
    /// deaths) and answers the work it did, in revivals (eight looks count as one), from 1 to
    /// `limit`.
    private func reviveSlice(_ revival: Revival, upTo limit: Int) -> Int {
        let mostLooks = limit.multipliedReportingOverflow(by: Self.revivalLooksPerRevival).overflow ? Int.max : limit * Self.revivalLooksPerRevival
        var revived = 0
        var looked = 0
        while revived < limit, looked < mostLooks, let death = revival.deaths.popFirst() {
            looked += 1
            guard let job = jobs[death.id], revival.revives(job, recordedAt: death.finishedAt) else { continue }
            revive(job)
            revived += 1
        }
        revival.revived += revived
        return max(1, revived, (looked + Self.revivalLooksPerRevival - 1) / Self.revivalLooksPerRevival)
    }

    /// LIST: up to `limit` of the queue's jobs in `state` that come after `cursor` in that
    /// state's order, each with its own cursor, and whether more follow them. One pass over
    /// the candidates, keeping only the best `limit + 1`. The candidates are the queue's own
    /// for waiting (its ready order and the jobs its groups parked), completed and dead (its
    /// histories, bounded by `keep_completed` and `keep_dead`); for delayed, active and blocked
    /// they are what the server keeps for that state across its queues (the delay schedule,
    /// the leases, the children of unfinished parents), each holding every job in the state
    /// (`advance` and `settleDescendants` rely on it). Walking every job the server held cost a
    /// page 80-230 ms with a million jobs, most of them in other states. `walked` is how many
    /// candidates the page looked at, for the caller to weigh its cost: a page of one job from a
    /// queue of a million waiting costs the walk of them all.
    public func list(
        queue name: UnsafeRawBufferPointer, state: JobListState, after cursor: JobListCursor?, limit: Int
    ) -> (jobs: [Job], cursors: [JobListCursor], more: Bool, walked: Int) {
        guard let queue = queues.find(name), limit > 0 else { return ([], [], false, 0) }
        let wanted = JobState.named(state.rawValue)
        var best: [(key: JobListCursor, job: Job)] = []
        best.reserveCapacity(limit + 1)
        var walked = 0
        func consider(_ job: Job) {
            walked += 1
            guard job.home === queue, job.state == wanted else { return }
            let key = state.sortKey(priority: job.priority, became: Self.listTime(of: job), place: job.readySequence, id: job.id)
            if let cursor, key <= cursor { return }
            if best.count > limit, let last = best.last, key >= last.key { return }
            var low = 0
            var high = best.count
            while low < high {
                let middle = (low + high) / 2
                if best[middle].key < key { low = middle + 1 } else { high = middle }
            }
            // The queue's lists may name a job twice (withdrawn entries, a job that died, was
            // retried and died again): the same key is the same job.
            if low < best.count && best[low].key == key { return }
            best.insert((key, job), at: low)
            if best.count > limit + 1 { best.removeLast() }
        }
        // Entries of jobs that moved on since (withdrawn, delayed again, a lease of an earlier
        // run) are passed over by `consider`, which looks at the job as it is now.
        switch wanted {
        case .waiting:
            queue.ready.forEach { if let job = jobs[$0.id] { consider(job) } }
            for group in queue.groups.values { for job in group.parked where jobs[job.id] === job { consider(job) } }
        case .completed:
            for id in queue.completed { if let job = jobs[id] { consider(job) } }
        case .dead:
            for id in queue.dead { if let job = jobs[id] { consider(job) } }
        case .delayed:
            for entry in delayed.elements { if let job = jobs[entry.item] { consider(job) } }
        case .active:
            for entry in leases.elements { if let job = jobs[entry.item.job] { consider(job) } }
        case .blocked:
            for ids in children.values { for id in ids { if let job = jobs[id] { consider(job) } } }
        }
        let page = best.prefix(limit)
        return (page.map(\.job), page.map(\.key), best.count > limit, walked)
    }

    /// The time LIST orders a job by in its state.
    private static func listTime(of job: Job) -> Int64 {
        switch job.state {
        case .waiting: return job.waitingSince
        case .delayed: return job.runAt
        case .blocked: return job.enqueuedAt
        case .active: return job.startedAt ?? 0
        case .completed, .dead: return job.finishedAt ?? 0
        }
    }

    /// A job whose expiry came before it started (again): dead, with the reason `expired`.
    private func expire(_ job: Job, at now: Int64) {
        dieUnstarted(job, at: now, reason: Self.expiredReason(job, now), event: .expired)
        settleAfterFinish(job)
    }

    /// The last error of a job that expired before it started.
    private static func expiredReason(_ job: Job, _ now: Int64) -> String {
        "expired: not started by \(job.expiresAt ?? now) (unix ms)"
    }

    /// A job going back to waiting or delayed (a failed or throttled attempt) whose expiry
    /// passed while it ran: it must not start again, and the deadline that would have ended it
    /// was spent while it was active, so one is set again (due now). Without it the job sat
    /// waiting, neither run nor dead, until a worker happened to look at it.
    private func expireIfPast(_ job: Job) {
        guard let expiresAt = job.expiresAt, expiresAt <= clock.now() else { return }
        pushExpiry(job, at: expiresAt)
    }

    /// An expiry deadline for `job`. Entries of jobs gone (deleted, or finished and removed by
    /// retention) are dropped as the heap grows; those of jobs still known are kept, whatever
    /// their state, as an active or dead job may wait again (a retry) and then expire.
    private func pushExpiry(_ job: Job, at expiresAt: Int64) {
        expiries.push(Deadline(time: expiresAt, sequence: job.id, item: job.id)) { jobs[$0.item] != nil }
    }

    /// A job that will never start (expired, or its parent died): dead, with `reason`.
    private func dieUnstarted(_ job: Job, at now: Int64, reason: String, event: LifecycleEvent.Kind) {
        let queue = job.home
        transition(job, to: .dead, in: queue)
        job.finishedAt = now
        job.lastError = Array(reason.utf8)
        queue.deadTotal += 1
        queue.deadRate.add(now)
        noteTotals(queue)
        retain(job, in: queue.dead, keep: queue.config.keepDead ?? defaults.keepDead)
        markChanged(job)
        note(event, job, queue) { $0.error = job.lastError }
        resolveWatches(job)
    }

    /// Records that job `id` was made by a schedule's tick (its `scheduled` event).
    public func noteScheduled(_ id: UInt64, schedule: String, tick: Int64) {
        guard let job = jobs[id] else { return }
        note(.scheduled, job, job.home) {
            $0.schedule = schedule
            $0.tick = tick
        }
    }

    /// PROMOTE: a delayed job becomes waiting now (its place in the delay heap goes stale).
    public func promote(id: UInt64) -> Result<Void, JobError> {
        guard let job = jobs[id] else { return .failure(.notFound(id)) }
        guard job.state == .delayed else { return .failure(JobError(.notDelayed, "job \(id) is \(job.state.name), not delayed")) }
        job.runAt = clock.now()
        markChanged(job)
        let queue = job.home
        transition(job, to: .waiting, in: queue)
        note(.waiting, job, queue)
        makeReady(job, in: queue)
        return .success(())
    }

    /// PURGE: deletes the queue's jobs in `state` (never active ones), only those that entered
    /// it (enqueued, or finished) more than `olderThan` ms ago if given. Answers how many went.
    public func purge(queue name: UnsafeRawBufferPointer, state: JobState, olderThan: Int?) -> Int {
        purge(queue: name, state: state, olderThan: olderThan, atOnce: .max).deleted
    }

    /// PURGE a slice at a time: deletes up to `limit` jobs now and leaves the rest to `advance`,
    /// which says it is done with a `purged` event. A job is judged when its turn comes, so one
    /// that enters the state meanwhile goes too and one that leaves it stays; jobs enqueued
    /// after the PURGE are never its.
    public func purge(queue name: UnsafeRawBufferPointer, state: JobState, olderThan: Int?, atOnce limit: Int) -> Purge {
        let queue = state == .active ? nil : queues.find(name)
        let purge = Purge(queue: queue, state: state, cutoff: olderThan.map { clock.now() - Int64($0) }, end: nextID)
        _ = purgeSlice(purge, upTo: limit)
        if !purge.isDone { purges.append(purge) }
        return purge
    }

    /// Jobs a purge looks at for each one it may delete: looking at a job of another queue or
    /// state is a comparison, deleting one changes the queue's indexes and writes a record.
    private static let purgeLooksPerDeletion = 8

    /// Deletes up to `limit` more of the purge's jobs (looking at up to eight times as many) and
    /// answers the work it did, in deletions (eight looks count as one), from 1 to `limit`.
    private func purgeSlice(_ purge: Purge, upTo limit: Int) -> Int {
        guard let queue = purge.queue, limit > 0 else { return 1 }
        let (doomed, next, looked) = jobs.scan(
            from: max(purge.next, 1), below: purge.end, upTo: limit,
            lookingAt: limit.multipliedReportingOverflow(by: Self.purgeLooksPerDeletion).overflow ? .max : limit * Self.purgeLooksPerDeletion,
            where: purge.takes)
        purge.next = next
        // Deleting a job can end others it was asked to delete before their turn (purging
        // blocked jobs, the death or release of a blocked child): `settleDescendants` hands
        // them over as `cascaded`, and they go too, as they were asked to. The count is of the
        // jobs actually deleted.
        var deleted = 0
        purging = purge
        defer { purging = nil }
        for job in doomed where jobs[job.id] === job {
            var next: Job? = job
            while let victim = next {
                if jobs[victim.id] === victim {
                    queue.deletedTotal += 1
                    forget(victim)
                    deleted += 1
                }
                next = purge.cascaded.popLast()
            }
        }
        purge.deleted += deleted
        if deleted > 0 { noteTotals(queue) }
        return max(1, doomed.count, (looked + Self.purgeLooksPerDeletion - 1) / Self.purgeLooksPerDeletion)
    }

    public func delete(id: UInt64) -> Result<Void, JobError> {
        guard let job = jobs[id] else { return .failure(.notFound(id)) }
        job.home.deletedTotal += 1
        noteTotals(job.home)
        forget(job)
        return .success(())
    }

    /// A queue's settings and state as one JSON document.
    public func queueDocument(_ queue: JobQueue) -> String { queueView(queue).json }

    /// A queue's settings (defaults filled in) and state, as QUEUE shows them.
    public func queueView(_ queue: JobQueue) -> QueueView {
        let now = clock.now()
        var view = QueueView(name: queue.name)
        view.paused = queue.config.paused
        view.rate = queue.config.rate
        view.groupRate = queue.config.groupRate
        view.concurrency = queue.config.concurrency
        view.maxAttempts = queue.config.maxAttempts ?? defaults.maxAttempts
        view.backoff = queue.config.backoff ?? defaults.backoff
        view.jitter = queue.config.jitter ?? 0
        view.leaseMilliseconds = queue.config.leaseMilliseconds ?? defaults.leaseMilliseconds
        view.keepCompleted = queue.config.keepCompleted ?? defaults.keepCompleted
        view.keepDead = queue.config.keepDead ?? defaults.keepDead
        view.counts = [JobState.waiting, .delayed, .active, .completed, .dead, .blocked].map { queue.counts[Int($0.rawValue)] }
        view.totals = [
            queue.enqueuedTotal, queue.startedTotal, queue.completedTotal, queue.failedTotal, queue.deadTotal, queue.throttledTotal,
            queue.removedTotal, queue.deletedTotal,
        ]
        view.rates = [queue.startRate, queue.completeRate, queue.failRate, queue.deadRate].map { $0.perSecond(at: now) }
        view.oldestWaitingMilliseconds = oldestWaiting(queue).map { Int(now - $0) }
        view.waitingWorkers = queue.liveWaiters
        view.rateWindowStarts = queue.rateWindow?.count(at: now)
        let blocked = blockedUntil(queue, now)
        // Int64.max means "not until something changes" (paused, concurrency full): no time.
        view.nextStartAt = blocked.flatMap { $0 == Int64.max ? nil : Int($0) }
        view.blockedBy = blocked == nil ? nil : blockReason(queue, now)
        view.heldUntil = queue.heldUntil > now ? Int(queue.heldUntil) : nil
        return view
    }

    /// What the dashboard's overview adds up over every queue, read without building the
    /// whole queue's view.
    public func queueGlance(_ queue: JobQueue) -> QueueGlance {
        let now = clock.now()
        return QueueGlance(
            paused: queue.config.paused, waitingWorkers: queue.liveWaiters,
            rates: [queue.startRate, queue.completeRate, queue.failRate].map { $0.perSecond(at: now) })
    }

    /// `summary`'s rates now: the overview's, every queue's `queueGlance` rates added up.
    public func summaryRates() -> [Double] { summary.rates(at: clock.now()) }

    /// The `waitingSince` of the queue's longest-waiting job (parked ones too).
    private func oldestWaiting(_ queue: JobQueue) -> Int64? { queue.waitingSince.oldest(in: jobs) }

    // MARK: Time

    /// Moves delayed jobs whose time has come to waiting, ends expired leases as failed
    /// attempts, times out waiters, and wakes queues whose limits allow starts again. Call
    /// when `nextDeadline` passes (or any time).
    ///
    /// Ends the attempts of jobs whose workers are gone first (see `ownerGone`), then goes on
    /// with PURGEs under way.
    ///
    /// Does at most `limit` of them (each deadline taken off its heap counts, stale or not) and
    /// answers whether it stopped with more due: a million jobs delayed to the same millisecond
    /// came due in one call of 1.5 s, and every client waited that long. The rest is done by
    /// the next call, in the same order, as if it had come due a little later.
    @discardableResult
    public func advance(upTo limit: Int = .max) -> Bool {
        let now = clock.now()
        var budget = limit
        while budget > 0, let (owner, ids) = lostHolds.first {
            let slice = ids.prefix(budget)
            for id in slice { endLostAttempt(id, owner) }
            budget -= slice.count
            if slice.count == ids.count { lostHolds.removeFirst() } else { lostHolds[0].ids = ids.dropFirst(slice.count) }
        }
        while budget > 0, let purge = purges.first {
            budget -= purgeSlice(purge, upTo: budget)
            if purge.isDone {
                purges.removeFirst()
                events.append(.purged(purge))
            }
        }
        while budget > 0, let revival = revivals.first {
            budget -= reviveSlice(revival, upTo: budget)
            if revival.isDone {
                revivals.removeFirst()
                events.append(.revived(revival))
            }
        }
        while budget > 0, let entry = expiries.top, entry.time <= now {
            budget -= 1
            expiries.pop()
            if let job = jobs[entry.item], job.state == .waiting || job.state == .delayed || job.state == .blocked { expire(job, at: now) }
        }
        while budget > 0, let entry = delayed.top, entry.time <= now {
            budget -= 1
            delayed.pop()
            // A job delayed again since has an entry at its new time.
            guard let job = jobs[entry.item], job.state == .delayed, job.runAt == entry.time else { continue }
            markChanged(job)
            let queue = job.home
            transition(job, to: .waiting, in: queue)
            note(.waiting, job, queue)
            makeReady(job, in: queue)
        }
        while budget > 0, let entry = leases.top, entry.time <= now {
            budget -= 1
            leases.pop()
            // An entry of an earlier run (it started at another time) is stale.
            guard let job = jobs[entry.item.job], job.state == .active, job.startedAtStamp == entry.item.startedAt else { continue }
            // A heartbeat moved the lease on: look again then (one entry per lease, however
            // often it is touched).
            if job.leaseExpiresAt > entry.time {
                leases.push(Deadline(time: job.leaseExpiresAt, sequence: entry.sequence, item: entry.item))
                continue
            }
            _ = endAttempt(job, choice: .policy, reason: Array("stalled: lease of \(job.leaseMilliseconds) ms expired".utf8), cause: .stalled)
        }
        while budget > 0, let entry = waiterDeadlines.top, entry.time <= now {
            budget -= 1
            waiterDeadlines.pop()
            guard !entry.item.isDone else { continue }
            finish(entry.item)
            events.append(.timedOut(entry.item))
        }
        while budget > 0, let entry = watchDeadlines.top, entry.time <= now {
            budget -= 1
            watchDeadlines.pop()
            guard !entry.item.isDone else { continue }
            entry.item.isDone = true
            events.append(.watchTimedOut(entry.item))
        }
        while budget > 0, let entry = keyHolds.top, entry.time <= now {
            budget -= 1
            keyHolds.pop()
            // Its key window closed: it goes as retention would have taken it, unless it ran
            // again meanwhile (RETRY; then its new finish is retained afresh) or a child still
            // needs it.
            guard let job = jobs[entry.item], job.state.isFinished, UInt64(bitPattern: job.finishedAt ?? 0) == entry.sequence,
                !hasUnfinishedChildren(job.id)
            else { continue }
            removeFinished(job)
        }
        while budget > 0, let entry = wakes.top, entry.time <= now {
            budget -= 1
            wakes.pop()
            entry.item.wakeScheduled = nil
            unparkAll(entry.item)
            dispatch(entry.item)
        }
        return budget <= 0 && (!lostHolds.isEmpty || !purges.isEmpty || !revivals.isEmpty || nextDeadline.map { $0 <= now } == true)
    }

    /// The earliest time `advance` has something to do, unix milliseconds.
    public var nextDeadline: Int64? {
        [
            lostHolds.isEmpty && purges.isEmpty && revivals.isEmpty ? nil : clock.now(), delayed.top?.time, leases.top?.time, waiterDeadlines.top?.time, wakes.top?.time, watchDeadlines.top?.time, expiries.top?.time,
            keyHolds.top?.time,
        ]
            .compactMap { $0 }.min()
    }

    // MARK: Output

    /// Events since the last call.
    public func takeEvents() -> [EngineEvent] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// Whether there are changes not yet taken for the store.
    public var hasChanges: Bool {
        !changedJobs.isEmpty || !deletedJobs.isEmpty || !changedQueues.isEmpty || !totalsChanged.isEmpty || !forgottenQueues.isEmpty
    }

    /// Jobs changed and deleted since the last call, for one store transaction.
    public func takeChanges() -> JobChanges {
        // Jobs of a queue that keeps none of its finished ones (`keep_completed=0`).
        var leaving: [Job] = []
        swap(&leaving, &unkept)
        for job in leaving where jobs[job.id] === job && job.state.isFinished { dismiss(job) }
        // The list is handed over and filtered in place: copying it retained and released
        // every job once more.
        var changed: [Job] = []
        swap(&changed, &changedJobs)
        changedJobs.reserveCapacity(changed.count)
        changed.removeAll { job in
            job.isDirty = false
            // A job deleted after it changed is in `deleted` already.
            return jobs[job.id] !== job
        }
        let changes = JobChanges(changed: changed, deleted: deletedJobs, deletedWithPayload: deletedPayloads)
        deletedJobs.removeAll(keepingCapacity: true)
        deletedPayloads.removeAll(keepingCapacity: true)
        return changes
    }

    // MARK: Internals

    /// The queue with this name, created empty if it does not exist yet.
    public func queue(named name: UnsafeRawBufferPointer) -> JobQueue {
        if let queue = queues.find(name) { return queue }
        let queue = JobQueue(name: String(decoding: name, as: UTF8.self))
        queues.set(Array(name), queue)
        queue.listIndex = queueList.count
        queueList.append(queue)
        queuesByName.insert(queue, at: Self.firstQueue(in: queuesByName, after: queue.nameBytes))
        queue.summary = summary
        return queue
    }

    /// Whether a queue of this name exists (reads must not create one).
    public func hasQueue(_ name: UnsafeRawBufferPointer) -> Bool { queues.find(name) != nil }

    /// A queue's document, without creating the queue: a name never used reads as an empty
    /// queue with the default settings.
    public func queueDocument(named name: UnsafeRawBufferPointer) -> String {
        queueDocument(queues.find(name) ?? JobQueue(name: String(decoding: name, as: UTF8.self)))
    }

    /// Forgets a queue that holds nothing worth keeping: no jobs in any state (history
    /// included), default settings, no workers waiting, no group or throttle state, and no
    /// settings change still to be written (unless `settingsPending`: the change that returned
    /// its settings to the defaults, which forgetting replaces). It comes back, empty, the next
    /// time it is used.
    private func forgetIfUnused(_ queue: JobQueue, settingsPending: Bool = false) {
        guard queue.liveWaiters == 0, queue.counts.allSatisfy({ $0 == 0 }), queue.config == QueueConfig(),
            queue.groups.isEmpty, queue.heldUntil <= clock.now(), queue.keys.isEmpty,
            settingsPending || changedQueues[queue.name] == nil, queues.find(queue.nameBytes) === queue
        else { return }
        if settingsPending { changedQueues[queue.name] = nil }
        _ = queues.remove(queue.nameBytes)
        // Only a record the store has needs deleting (a queue only waited on never had one).
        if queue.isStored { forgottenQueues.append(queue.name) }
        let last = queueList.removeLast()
        if last !== queue {
            queueList[queue.listIndex] = last
            last.listIndex = queue.listIndex
        }
        let place = Self.firstQueue(in: queuesByName, notBefore: queue.nameBytes)
        if place < queuesByName.count, queuesByName[place] === queue { queuesByName.remove(at: place) }
        summary.forget(queue)
        queue.summary = nil
    }

    /// Where the first queue whose name sorts after `name` (by bytes) is in `sorted`.
    public static func firstQueue(in sorted: [JobQueue], after name: [UInt8]) -> Int {
        firstIndex(sorted.count) { !name.lexicographicallyPrecedes(sorted[$0].nameBytes) }
    }

    /// Where the first queue whose name is `name` or sorts after it is in `sorted`.
    static func firstQueue(in sorted: [JobQueue], notBefore name: [UInt8]) -> Int {
        firstIndex(sorted.count) { sorted[$0].nameBytes.lexicographicallyPrecedes(name) }
    }

    /// The first index of `0..<count` for which `isBefore` is false, where it is true for a
    /// prefix of them and false for the rest (bisection).
    private static func firstIndex(_ count: Int, _ isBefore: (Int) -> Bool) -> Int {
        var (low, high) = (0, count)
        while low < high {
            let middle = (low + high) / 2
            if isBefore(middle) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private func queue(named name: String) -> JobQueue {
        var copy = name
        return copy.withUTF8 { queue(named: UnsafeRawBufferPointer($0)) }
    }

    private func markChanged(_ job: Job) {
        guard !job.isDirty else { return }
        job.isDirty = true
        changedJobs.append(job)
    }

    /// The active job `id` if `owner` holds it, in `attempt` when one is named: one connection
    /// can be handed the same job again after its lease ended (every `$DOCKET.API` user shares
    /// one), and only the attempt tells the stale worker's ACK from the current one's.
    /// With the attempt named, the attempt is the fence and any connection may act for the
    /// holder: a worker whose commands go through a second connection (or, with several
    /// nodes, another docketd) finishes the job it was handed.
    private func held(_ id: UInt64, _ owner: UInt64, _ attempt: Int?) -> Result<Job, JobError> {
        guard let job = jobs[id] else { return .failure(.notFound(id)) }
        guard job.state == .active, job.holder == owner || attempt != nil else { return .failure(.notHeld(id)) }
        if let attempt, attempt != job.attempts { return .failure(.staleAttempt(id, attempt, current: job.attempts)) }
        return .success(job)
    }

    /// A place in the ready order after every place handed out so far. A ready entry packs the
    /// place with the priority into one word, so places have 43 bits; a server that uses them
    /// all up (months at full speed) renumbers every job's place, in order, and starts again
    /// after the last one.
    private func nextReadySequence() -> UInt64 {
        if readyCounter + 1 >= readySequenceLimit { renumberReadySequences() }
        readyCounter += 1
        return readyCounter
    }

    /// Gives every job that has a place in a ready order (waiting, parked, or active and able
    /// to come back to it) a new one from 1, in the old order, and rebuilds the ready orders.
    /// Any other job gets a new place when it is next made ready: its old one is forgotten.
    private func renumberReadySequences() {
        var placed: [Job] = []
        jobs.forEach { job in
            guard job.readySequence != 0 else { return }
            if job.state == .waiting || job.state == .active {
                placed.append(job)
            } else {
                job.readySequence = 0
            }
        }
        placed.sort { $0.readySequence < $1.readySequence }
        // Which entries still stand must be read under the old numbers.
        var standing: [(queue: JobQueue, jobs: [Job])] = []
        for queue in queueList {
            var current: [Job] = []
            for entry in queue.ready.elements {
                if let job = jobs[entry.id], entry.isCurrent(for: job) { current.append(job) }
            }
            standing.append((queue, current))
        }
        for (index, job) in placed.enumerated() { job.readySequence = UInt64(index + 1) }
        readyCounter = UInt64(placed.count)
        readyRenumberings += 1
        for (queue, current) in standing {
            var seen = Set<UInt64>()
            queue.ready.rebuild(current.filter { seen.insert($0.id).inserted }.map(ReadyEntry.init))
        }
    }

    /// Moves a job between states, keeping the queue's counts true.
    private func transition(_ job: Job, to state: JobState, in queue: JobQueue) {
        let was = job.state
        queue.counts[Int(was.rawValue)] -= 1
        job.state = state
        queue.counts[Int(state.rawValue)] += 1
        if was == .waiting { queue.waitingSince.leave(job, waiting: queue.counts[Int(JobState.waiting.rawValue)], in: jobs) }
        if state == .waiting { queue.waitingSince.enter(job) }
    }

    private func finish(_ waiter: Waiter) {
        guard !waiter.isDone else { return }
        waiter.isDone = true
        for queue in waiter.queues {
            queue.liveWaiters -= 1
            // Served or withdrawn ones at the front go at once; the rest with the next sweep.
            while let first = queue.waiters.first, first.isDone { queue.waiters.removeFirst() }
            if queue.liveWaiters == 0 { forgetIfUnused(queue) }
        }
    }

    /// A waiting job enters the ready order, and goes to a waiting worker if policies allow.
    /// With `keepingPlace` it goes back where it was (a throttled job was not at fault).
    private func makeReady(_ job: Job, in queue: JobQueue, keepingPlace: Bool = false) {
        if !keepingPlace || job.readySequence == 0 { job.readySequence = nextReadySequence() }
        queue.ready.push(ReadyEntry(job))
        dispatch(queue)
    }

    /// Hands startable jobs to the queue's waiting workers, first come first served.
    private func dispatch(_ queue: JobQueue) {
        // Picking a job can finish others (one that expired unblocks its children, which become
        // ready here): the pick in progress sees them in the ready order, and a dispatch from
        // within it would hand the same waiter a second job.
        guard !queue.dispatching else { return }
        queue.dispatching = true
        defer { queue.dispatching = false }
        while queue.liveWaiters > 0, let waiter = queue.waiters.first {
            if waiter.isDone {
                queue.waiters.removeFirst()
                continue
            }
            guard let job = startable(queue) else { break }
            queue.waiters.removeFirst()
            finish(waiter)
            activate(job, owner: waiter.owner)
            events.append(.delivered(waiter, job))
        }
        // Drop the served and withdrawn ones at the front so the list does not grow.
        while let first = queue.waiters.first, first.isDone { queue.waiters.removeFirst() }
        scheduleWake(queue)
    }

    /// The next job the queue's policies let start now, taken out of the ready order.
    /// Jobs whose group is over its limit are parked with their group until it frees up.
    private func startable(_ queue: JobQueue) -> Job? {
        let now = clock.now()
        guard blockedUntil(queue, now) == nil else { return nil }
        while let entry = queue.ready.top {
            guard let job = jobs[entry.id], entry.isCurrent(for: job) else {
                queue.ready.pop()
                continue
            }
            if let expiresAt = job.expiresAt, expiresAt <= now {
                queue.ready.pop()
                expire(job, at: now)
                continue
            }
            if let group = job.group, let state = queue.groupIfLimited(group, config: queue.config),
                state.nextStart(at: now) > now
            {
                queue.ready.pop()
                state.parked.append(job)
                scheduleWake(queue, at: state.nextStart(at: now))
                continue
            }
            queue.ready.pop()
            return job
        }
        return nil
    }

    /// When a queue-wide policy next allows a start, or nil if one is allowed now.
    private func blockedUntil(_ queue: JobQueue, _ now: Int64) -> Int64? {
        if queue.config.paused { return Int64.max }
        if let cap = queue.config.concurrency, queue.counts[Int(JobState.active.rawValue)] >= cap { return Int64.max }
        var until: Int64 = now
        if queue.heldUntil > until { until = queue.heldUntil }
        if let window = queue.rateWindow { until = max(until, window.nextAllowed(after: now)) }
        return until > now ? until : nil
    }

    /// Why nothing of a blocked queue starts now: `paused`, `concurrency` (the cap is full),
    /// `throttle` (a FAIL throttle= holds it) or `rate` (its window is full).
    private func blockReason(_ queue: JobQueue, _ now: Int64) -> String {
        if queue.config.paused { return "paused" }
        if let cap = queue.config.concurrency, queue.counts[Int(JobState.active.rawValue)] >= cap { return "concurrency" }
        if queue.heldUntil > now { return "throttle" }
        return "rate"
    }

    /// Makes sure a blocked queue with work and workers is looked at again when it unblocks.
    private func scheduleWake(_ queue: JobQueue) {
        guard queue.liveWaiters > 0, !queue.ready.isEmpty else { return }
        let now = clock.now()
        if let until = blockedUntil(queue, now), until != Int64.max { scheduleWake(queue, at: until) }
    }

    private func scheduleWake(_ queue: JobQueue, at time: Int64) {
        if let scheduled = queue.wakeScheduled, scheduled <= time { return }
        queue.wakeScheduled = time
        sequence += 1
        wakes.push(Deadline(time: time, sequence: sequence, item: queue))
    }

    /// Returns parked jobs of groups that may start again to the ready order.
    private func unparkAll(_ queue: JobQueue) {
        let now = clock.now()
        for (name, state) in queue.groups {
            if !state.parked.isEmpty && state.nextStart(at: now) <= now {
                for job in state.parked where job.state == .waiting && jobs[job.id] === job {
                    queue.ready.push(ReadyEntry(job))
                }
                state.parked.removeAll()
            } else if !state.parked.isEmpty {
                scheduleWake(queue, at: state.nextStart(at: now))
            }
            if state.parked.isEmpty && state.isIdle(at: now) { queue.groups[name] = nil }
        }
    }

    private func activate(_ job: Job, owner: UInt64) {
        let queue = job.home
        let now = clock.now()
        let waited = Int(now - job.waitingSince)
        queue.waitHistogram.record(waited)
        transition(job, to: .active, in: queue)
        job.attempts += 1
        job.holder = owner
        job.startedAt = now
        job.progress = 0
        job.progressNote = nil
        queue.rateWindow?.record(now)
        if let group = job.group, let state = queue.groupIfLimited(group, config: queue.config) {
            state.window?.record(now)
        }
        queue.startedTotal += 1
        queue.startRate.add(now)
        summary.started(now)
        noteTotals(queue)
        extendLease(job, start: true)
        markChanged(job)
        note(.started, job, queue) { $0.waitMilliseconds = max(waited, 0) }
    }

    /// Starts a lease (`start`, when the job is handed out) or extends it (a heartbeat). Only
    /// the start adds a deadline; an extension is found when that deadline comes.
    private func extendLease(_ job: Job, start: Bool = false) {
        job.leaseExpiresAt = clock.now() + Int64(job.leaseMilliseconds)
        guard start else { return }
        leaseStarts += 1
        // Entries of leases that ended (ACK, FAIL, a lost worker) are dropped as the heap grows:
        // the test `advance` makes when one comes due.
        leases.push(Deadline(time: job.leaseExpiresAt, sequence: leaseStarts, item: LeaseEnd(job: job.id, startedAt: job.startedAtStamp))) {
            guard let job = jobs[$0.item.job] else { return false }
            return job.state == .active && job.startedAtStamp == $0.item.startedAt
        }
    }

    private func schedule(_ job: Job) {
        sequence += 1
        // Entries of jobs deleted, promoted or delayed again since (a debounce's `replace=true`)
        // are dropped as the heap grows: the test `advance` makes when one comes due, and every
        // job that becomes delayed is pushed anew.
        delayed.push(Deadline(time: job.runAt, sequence: sequence, item: job.id)) {
            guard let job = jobs[$0.item] else { return false }
            return job.state == .delayed && job.runAt == $0.time
        }
    }

    @discardableResult
    private func observeRun(_ job: Job, _ queue: JobQueue) -> Int? {
        guard let started = job.startedAt else { return nil }
        let run = Int(clock.now() - started)
        queue.runHistogram.record(run)
        return run
    }

    /// Ends the current attempt of an active job as a failure (`cause`: a FAIL, an expired
    /// lease, or a lost worker).
    private func endAttempt(_ job: Job, choice: RetryChoice, reason: [UInt8]?, cause: LifecycleEvent.Kind = .failed) -> FailOutcome {
        job.holder = 0
        if let reason { job.lastError = reason }
        let now = clock.now()
        job.recordFailedAttempt(endedAt: now, error: reason)
        let queue = job.home
        let run = observeRun(job, queue)
        queue.failedTotal += 1
        queue.failRate.add(now)
        summary.failed(now)
        noteTotals(queue)
        defer { dispatch(queue) }
        if choice == .never || job.attempts >= job.maxAttempts {
            transition(job, to: .dead, in: queue)
            job.finishedAt = now
            queue.deadTotal += 1
            queue.deadRate.add(now)
            retain(job, in: queue.dead, keep: queue.config.keepDead ?? defaults.keepDead)
            markChanged(job)
            note(cause, job, queue) {
                $0.error = reason
                $0.next = "dead"
                $0.runMilliseconds = run
            }
            note(.dead, job, queue) { $0.error = job.lastError }
            resolveWatches(job)
            settleAfterFinish(job)
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
        transition(job, to: wait > 0 ? .delayed : .waiting, in: queue)
        note(cause, job, queue) {
            $0.error = reason
            $0.next = "retry"
            $0.retryInMilliseconds = wait
            $0.runMilliseconds = run
        }
        expireIfPast(job)
        if wait > 0 { schedule(job) } else { makeReady(job, in: queue) }
        return .retry(afterMilliseconds: wait)
    }

    private func revive(_ job: Job) {
        let queue = job.home
        queue.dead.leave(job.id)
        heldParents.remove(job.id)
        // Its death was counted as its end by the children that run whatever their parents'
        // fate: running again, it is a parent they wait for once more, as a restart would count
        // it (else its completion counted a second time released them before their others).
        if !children.isEmpty {
            for child in blockedChildren(of: job.id) where child.parentDeathPolicy == .run { child.ensureExtras().pendingParents += 1 }
        }
        job.attempts = 0
        job.finishedAt = nil
        job.runAt = clock.now()
        markChanged(job)
        transition(job, to: .waiting, in: queue)
        note(.retried, job, queue)
        makeReady(job, in: queue)
    }

    /// Records a finished job in its queue's history, forgetting the oldest past `keep`.
    ///
    /// An entry stands for one finish: the job's state and finish time must still be the ones
    /// it was recorded with. A job retried since (and finished again, perhaps in the other
    /// history) has a newer entry that decides; its old one goes without taking the job along.
    private func retain(_ job: Job, in history: JobHistory, keep: Int) {
        history.append(job.id, finishedAt: job.finishedAt ?? 0)
        if retentionHeld > 0 {
            queuesToTrim.insert(ObjectIdentifier(job.home))
            return
        }
        trim(history, keep: keep, state: job.state, finishing: job)
    }

    /// Forgets the oldest of `history` (of jobs in `state`) past `keep`; `finishing` is the job
    /// whose finish is being recorded, if one is.
    private func trim(_ history: JobHistory, keep: Int, state: JobState, finishing job: Job?) {
        while history.count > keep, let (oldest, finishedAt) = history.removeFirst() {
            guard let old = jobs[oldest], old.state == state, (old.finishedAt ?? 0) == finishedAt else { continue }
            history.leave(oldest)
            if let job, old === job {
                // `keep` is 0: the job goes once its finish has run its course (`takeChanges`).
                unkept.append(job)
                continue
            }
            dismiss(old)
        }
    }

    /// Runs `body` (the ENQs of one BATCH) with retention held: a job that dies at its ENQ
    /// (its parent is dead) would otherwise push that parent out of the dead history before a
    /// later ENQ of the same batch, already checked, names it. The histories are trimmed after.
    public func holdingRetention<T>(_ body: () -> T) -> T {
        retentionHeld += 1
        defer {
            retentionHeld -= 1
            if retentionHeld == 0 && !queuesToTrim.isEmpty {
                for queue in queueList where queuesToTrim.contains(ObjectIdentifier(queue)) {
                    trim(queue.completed, keep: queue.config.keepCompleted ?? defaults.keepCompleted, state: .completed, finishing: nil)
                    trim(queue.dead, keep: queue.config.keepDead ?? defaults.keepDead, state: .dead, finishing: nil)
                }
                queuesToTrim.removeAll()
            }
        }
        return body()
    }

    /// A finished job past its queue's history goes, unless a child still needs it or its key
    /// must be remembered for a while yet.
    private func dismiss(_ old: Job) {
        if hasUnfinishedChildren(old.id) {
            heldParents.insert(old.id)
            return
        }
        if let until = old.keyUntil, until > clock.now() {
            keyHolds.push(Deadline(time: until, sequence: UInt64(bitPattern: old.finishedAt ?? 0), item: old.id)) {
                guard let job = jobs[$0.item] else { return false }
                return job.state.isFinished && UInt64(bitPattern: job.finishedAt ?? 0) == $0.sequence
            }
            return
        }
        removeFinished(old)
    }

    /// Retention removes a finished job (counted in the queue's `removed`).
    private func removeFinished(_ job: Job) {
        job.home.removedTotal += 1
        noteTotals(job.home)
        forget(job)
    }

    private func forget(_ job: Job) {
        let queue = job.home
        let wasActive = job.state == .active
        let wasUnfinished = !job.state.isFinished
        jobs.remove(job.id)
        queue.counts[Int(job.state.rawValue)] -= 1
        if job.state == .waiting { queue.waitingSince.leave(job, waiting: queue.counts[Int(JobState.waiting.rawValue)], in: jobs) }
        // Its finish no longer counts toward the history's `keep` (DEL, PURGE of a finished job).
        if job.state == .completed { queue.completed.leave(job.id) } else if job.state == .dead { queue.dead.leave(job.id) }
        defer { forgetIfUnused(queue) }
        job.holder = 0
        if let key = job.key, queue.keys[key] == job.id { queue.keys[key] = nil }
        deletedJobs.append(job.id)
        if job.state != .completed || job.isDirty { deletedPayloads.append(job.id) }
        if !watches.isEmpty, let waiting = watches.removeValue(forKey: job.id) {
            for watch in waiting where !watch.isDone {
                watch.isDone = true
                events.append(.watchGone(watch))
            }
        }
        if wasActive { dispatch(queue) }
        if job.extras?.parents != nil || (!children.isEmpty && children[job.id] != nil) { settleAfterDelete(job, wasUnfinished: wasUnfinished) }
    }

    // MARK: Dependencies

    /// The jobs enqueued `after=` job `id` that are still known.
    public func children(of id: UInt64) -> [UInt64] { children[id] ?? [] }

    /// Up to `limit` of them above `after` (all if nil), in id order, and whether more follow:
    /// found by bisection, so a page of a fan-out of 100,000 costs the page.
    public func children(of id: UInt64, after: UInt64?, limit: Int) -> (ids: ArraySlice<UInt64>, more: Bool) {
        let list = children[id] ?? []
        var low = 0
        if let after {
            var high = list.count
            while low < high {
                let middle = (low + high) / 2
                if list[middle] <= after { low = middle + 1 } else { high = middle }
            }
        }
        let end = min(list.count, low + limit)
        return (list[low..<end], end < list.count)
    }

    /// Whether a child of job `id` has yet to finish (it may still read the parent's outcome).
    private func hasUnfinishedChildren(_ id: UInt64) -> Bool {
        guard let list = children[id] else { return false }
        return list.contains { jobs[$0].map { !$0.state.isFinished } ?? false }
    }

    private func blockedChildren(of id: UInt64) -> [Job] {
        (children[id] ?? []).compactMap { jobs[$0] }.filter { $0.state == .blocked }
    }

    /// `job` just completed or died: its blocked children learn of it (and their children, as
    /// deaths spread), and parents retention kept only for it may go.
    private func settleAfterFinish(_ job: Job) {
        // The common case, no dependencies anywhere, costs two checks per finished job.
        guard !children.isEmpty || !heldParents.isEmpty else { return }
        releaseHeldParents(of: job)
        settleDescendants(of: job.id, completed: job.state == .completed, deleted: false)
    }

    /// `job` is being forgotten (DEL, PURGE, retention). Deleting a job its children still wait
    /// for counts as its death for them; its parents stop listing it.
    private func settleAfterDelete(_ job: Job, wasUnfinished: Bool) {
        if wasUnfinished { settleDescendants(of: job.id, completed: false, deleted: true) }
        children[job.id] = nil
        // In place, found by bisection (children are listed in id order, as they were
        // enqueued): a fan-out of 100,000 children went quadratic copying and scanning its
        // list once per child that retention removed.
        for parent in job.parents {
            children[parent]?.removeSorted(job.id)
            if children[parent]?.isEmpty == true { children[parent] = nil }
        }
        releaseHeldParents(of: job)
    }

    /// Settles the blocked children of job `id`, which just finished (or was deleted
    /// unfinished), and, as deaths spread, theirs: one generation at a time, as the PostgreSQL
    /// store does, so both tell the same events in the same order. In each generation every
    /// blocked child of its jobs, oldest first, counts off those of its parents (the released
    /// first, then the dead); one that dies names the oldest of its parents in the generation.
    /// Only the first generation can have completed, or have been deleted.
    private func settleDescendants(of id: UInt64, completed: Bool, deleted: Bool) {
        var generation = [id]
        var completed = completed
        var deleted = deleted
        while !generation.isEmpty {
            var found: [UInt64: (count: Int, oldest: UInt64)] = [:]
            for parent in generation {
                for child in blockedChildren(of: parent) {
                    let seen = found[child.id]
                    found[child.id] = ((seen?.count ?? 0) + 1, min(seen?.oldest ?? parent, parent))
                }
            }
            let settling = found.keys.sorted().compactMap { jobs[$0] }
            if let purging { purging.cascaded += settling.filter { $0.id < purging.end && purging.takes($0) } }
            let runs = { (child: Job) in completed || child.parentDeathPolicy == .run }
            var next: [UInt64] = []
            for child in settling where runs(child) {
                var expired = false
                for _ in 0..<(found[child.id]?.count ?? 0) where unblockOne(child) == .expired { expired = true }
                if expired {
                    releaseHeldParents(of: child)
                    next.append(child.id)
                }
            }
            for child in settling where !runs(child) {
                dieOfParent(child, found[child.id]?.oldest ?? id, deleted: deleted)
                releaseHeldParents(of: child)
                next.append(child.id)
            }
            generation = next
            completed = false
            deleted = false
        }
    }

    /// Forgets the parents of `job` that retention kept only while they had unfinished children.
    private func releaseHeldParents(of job: Job) {
        guard !heldParents.isEmpty else { return }
        for id in job.parents where heldParents.contains(id) && !hasUnfinishedChildren(id) {
            heldParents.remove(id)
            guard let parent = jobs[id], parent.state.isFinished else { continue }
            removeFinished(parent)
        }
    }

    /// What `unblockOne` made of a job.
    private enum Unblocking { case stillBlocked, released, expired }

    /// One of a blocked job's parents completed (or died, for `on_parent_dead=run`); after the
    /// last, the job runs as it was enqueued: waiting, or delayed if its `delay=`/`at=` is ahead,
    /// or it is dead if its expiry passed meanwhile (its own children are the caller's to settle).
    private func unblockOne(_ job: Job) -> Unblocking {
        let extras = job.ensureExtras()
        extras.pendingParents -= 1
        guard extras.pendingParents <= 0, job.state == .blocked else { return .stillBlocked }
        let queue = job.home
        let now = clock.now()
        markChanged(job)
        if let expiresAt = job.expiresAt, expiresAt <= now {
            dieUnstarted(job, at: now, reason: Self.expiredReason(job, now), event: .expired)
            return .expired
        }
        if job.runAt > now {
            transition(job, to: .delayed, in: queue)
            note(.unblocked, job, queue)
            schedule(job)
        } else {
            job.runAt = now
            transition(job, to: .waiting, in: queue)
            note(.unblocked, job, queue)
            makeReady(job, in: queue)
        }
        return .released
    }

    /// A blocked job whose parent died (or was deleted), under `on_parent_dead=fail`: it dies
    /// too, without running.
    private func dieOfParent(_ job: Job, _ parent: UInt64, deleted: Bool) {
        dieUnstarted(job, at: clock.now(), reason: "parent \(parent) \(deleted ? "deleted" : "dead")", event: .dead)
    }

    /// PARENTS: each parent of job `id`, or nil if there is no such job.
    public func parents(of id: UInt64) -> [ParentView]? {
        guard let job = jobs[id] else { return nil }
        return job.parents.map { parent in
            guard let found = jobs[parent] else { return ParentView(id: parent, queue: nil, state: nil, result: nil, lastError: nil) }
            return ParentView(id: parent, queue: found.queue, state: found.state.name, result: found.result, lastError: found.lastError)
        }
    }
}

/// A queue's few figures the dashboard's overview adds up (see `JobEngine.queueGlance`).
public struct QueueGlance: Sendable {
    public var paused: Bool
    public var waitingWorkers: Int
    /// Started, completed and failed per second, over the last minute.
    public var rates: [Double]

    public init(paused: Bool, waitingWorkers: Int, rates: [Double]) {
        self.paused = paused
        self.waitingWorkers = waitingWorkers
        self.rates = rates
    }
}

/// One named queue: its indexes, policies and counters.
public final class JobQueue {
    public let name: String
    /// The name as bytes, as job records store it.
    public let nameBytes: [UInt8]
    /// The retry settings of the last job enqueued, shared by the next ones that have the same.
    private var lastPolicy: JobPolicy?
    public internal(set) var config = QueueConfig() {
        didSet { if config.paused != oldValue.paused { summary?.pausedChanged(to: config.paused) } }
    }
    /// Where the queue is in the engine's `queueList`.
    var listIndex = 0
    var ready = RunHeap<ReadyEntry>()
    /// When its waiting jobs became waiting, for the longest wait.
    var waitingSince = WaitingSince()
    var waiters = FIFO<Waiter>()
    /// `dispatch` is handing its jobs out (see there).
    var dispatching = false
    /// Waiters in `waiters` that are not done yet.
    var liveWaiters = 0 {
        didSet { summary?.waitingWorkersChanged(by: liveWaiters - oldValue) }
    }
    /// The engine's sums over its queues, while the queue is one of them.
    var summary: QueueSummary?
    var keys: [[UInt8]: UInt64] = [:]
    let completed = JobHistory()
    let dead = JobHistory()

    var rateWindow: RateWindow?
    var groups: [[UInt8]: GroupState] = [:]
    /// Throttled: nothing starts before this time.
    var heldUntil: Int64 = 0
    var wakeScheduled: Int64?
    /// Lifecycle events so far, for their `seq`.
    public internal(set) var eventSequence: UInt64 = 0

    /// Jobs per state, indexed by `JobState.rawValue`.
    public internal(set) var counts = [Int](repeating: 0, count: 6)
    public internal(set) var enqueuedTotal = 0
    public internal(set) var startedTotal = 0
    public internal(set) var completedTotal = 0
    public internal(set) var failedTotal = 0
    public internal(set) var deadTotal = 0
    public internal(set) var throttledTotal = 0
    /// Jobs removed by retention (`keep_completed`, `keep_dead`) and by DEL, over the queue's
    /// life: with the other totals they account for every job ever enqueued.
    public internal(set) var removedTotal = 0
    public internal(set) var deletedTotal = 0
    /// Its totals changed since the store last took them.
    var totalsChanged = false
    /// The store has a record of it.
    var isStored = false
    /// Jobs a restart found active (failed attempts) and, of those, left without attempts.
    var failuresAtRestart = 0
    var deathsAtRestart = 0
    var startRate = MinuteRate()
    var completeRate = MinuteRate()
    var failRate = MinuteRate()
    var deadRate = MinuteRate()

    /// The totals, for the queue's stored record.
    public var totals: QueueTotals {
        QueueTotals(
            enqueued: enqueuedTotal, started: startedTotal, completed: completedTotal, failed: failedTotal, dead: deadTotal,
            throttled: throttledTotal, removed: removedTotal, deleted: deletedTotal)
    }

    func restore(_ totals: QueueTotals) {
        enqueuedTotal = totals.enqueued
        startedTotal = totals.started
        completedTotal = totals.completed
        failedTotal = totals.failed
        deadTotal = totals.dead
        throttledTotal = totals.throttled
        removedTotal = totals.removed
        deletedTotal = totals.deleted
    }
    /// Time from becoming runnable to starting, and from starting to ending, in ms.
    public internal(set) var waitHistogram = LatencyHistogram()
    public internal(set) var runHistogram = LatencyHistogram()

    init(name: String) {
        self.name = name
        self.nameBytes = Array(name.utf8)
    }

    /// A policy with these settings: the last one handed out if it matches, else a new one.
    func policy(maxAttempts: Int, backoff: Backoff, jitter: Double, leaseMilliseconds: Int) -> JobPolicy {
        if let last = lastPolicy, last.maxAttempts == maxAttempts, last.backoff == backoff, last.jitter == jitter,
            last.leaseMilliseconds == leaseMilliseconds
        {
            return last
        }
        let policy = JobPolicy(home: self, maxAttempts: maxAttempts, backoff: backoff, jitter: jitter, leaseMilliseconds: leaseMilliseconds)
        lastPolicy = policy
        return policy
    }

    /// The throttles still in force after `now`, for the queue's stored record.
    public func holds(after now: Int64) -> QueueHolds {
        var holds = QueueHolds()
        if heldUntil > now { holds.queue = heldUntil }
        for (name, state) in groups where state.heldUntil > now { holds.groups.append((name, state.heldUntil)) }
        return holds
    }

    func group(_ name: [UInt8]) -> GroupState {
        if let state = groups[name] { return state }
        let state = GroupState()
        groups[name] = state
        return state
    }

    /// The group's state if anything limits it (a group rate, or a throttle in force).
    func groupIfLimited(_ name: [UInt8], config: QueueConfig) -> GroupState? {
        if let rate = config.groupRate {
            let state = group(name)
            if state.window == nil { state.window = RateWindow(limit: rate.limit, windowMilliseconds: rate.windowMilliseconds) }
            return state
        }
        return groups[name]
    }
}

/// One group of a queue (a tenant, a customer): its own rate window and throttle.
final class GroupState {
    var window: RateWindow?
    var heldUntil: Int64 = 0
    /// Waiting jobs of this group taken out of the ready order while it may not start.
    var parked: [Job] = []

    func nextStart(at now: Int64) -> Int64 {
        max(heldUntil, window?.nextAllowed(after: now) ?? now)
    }

    func isIdle(at now: Int64) -> Bool { heldUntil <= now && (window?.isIdle(at: now) ?? true) }
}

/// Events per second over the last minute, from per-second buckets.
public struct MinuteRate: Sendable {
    private var buckets = [Int](repeating: 0, count: 60)
    private var stamps = [Int64](repeating: -1, count: 60)
    /// The second of the last `add`: a queue idle for a minute answers without a walk of its
    /// buckets (the dashboard's overview adds up the rates of every queue, 9,000 of them).
    private var latest: Int64 = -1

    public init() {}

    public mutating func add(_ now: Int64) {
        let second = now / 1000
        latest = second
        let slot = Int(second % 60)
        if stamps[slot] != second {
            stamps[slot] = second
            buckets[slot] = 0
        }
        buckets[slot] += 1
    }

    /// Takes away what `other` counted, as the sum of several rates forgets one of them: a
    /// second's count is `other`'s too only if both saw that second (this one sees every second
    /// its parts saw, so a slot with another stamp in `other` is an older second, long gone here).
    mutating func subtract(_ other: MinuteRate) {
        for slot in 0..<60 where other.stamps[slot] == stamps[slot] && stamps[slot] >= 0 { buckets[slot] -= other.buckets[slot] }
    }

    public func perSecond(at now: Int64) -> Double {
        let second = now / 1000
        guard latest > second - 60 else { return 0 }
        var total = 0
        for slot in 0..<60 where stamps[slot] > second - 60 && stamps[slot] <= second { total += buckets[slot] }
        return Double(total) / 60
    }
}

/// A fixed-bucket latency histogram in milliseconds, in Prometheus's cumulative shape.
public struct LatencyHistogram: Sendable {
    /// Upper bounds of the buckets, ms; a last, unbounded bucket follows.
    public static let bounds = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000]
    public private(set) var counts = [Int](repeating: 0, count: LatencyHistogram.bounds.count + 1)
    public private(set) var count = 0
    public private(set) var sum = 0

    mutating func record(_ milliseconds: Int) {
        let value = max(milliseconds, 0)
        let bucket = Self.bounds.firstIndex { value <= $0 } ?? Self.bounds.count
        counts[bucket] += 1
        count += 1
        sum += value
    }
}

extension Array where Element == UInt64 {
    /// Removes `id` from ids kept in ascending order, found by bisection (a scan if the order
    /// does not hold after all).
    mutating func removeSorted(_ id: UInt64) {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if self[middle] < id { low = middle + 1 } else { high = middle }
        }
        if low < count, self[low] == id {
            remove(at: low)
        } else if let index = firstIndex(of: id) {
            remove(at: index)
        }
    }
}

/// Ids of finished jobs, oldest first.
///
/// A job that leaves the state after its finish was listed (RETRY of a dead job, DEL, PURGE)
/// leaves a stale entry behind, recognised when it reaches the front. Stale entries do not
/// count: `count` is the jobs whose latest finish is listed and still stands, so retention
/// keeps `keep` of those, not `keep` entries some of which name jobs no longer here.
final class JobHistory: Sequence {
    /// Each finish: the job and when it finished (see `JobEngine.retain`).
    private var entries = FIFO<(id: UInt64, finishedAt: Int64)>()
    /// The jobs whose latest entry still stands.
    private var members = IDSet()
    var count: Int { members.count }
    func append(_ id: UInt64, finishedAt: Int64) {
        entries.append((id, finishedAt))
        members.insert(id)
        // Stale entries are dropped once they are as many as the standing ones (a job that
        // dies and is retried again and again adds one each time and counts once).
        if entries.count > 2 * members.count + 64 { compact() }
    }
    /// The job's listed finish no longer stands (it was retried, deleted, or taken off the front).
    func leave(_ id: UInt64) { members.remove(id) }
    /// Every finish recorded, stale ones included, oldest first (a copy sharing the storage).
    var recorded: FIFO<(id: UInt64, finishedAt: Int64)> { entries }
    func removeFirst() -> (UInt64, Int64)? { entries.popFirst().map { ($0.id, $0.finishedAt) } }
    /// Drops the stale entries now, so that iterating lists each standing job once, at its
    /// latest finish. Costs a pass only when there are some (after a RETRY, DEL or PURGE).
    func dropStale() {
        if entries.count > members.count { compact() }
    }
    /// Keeps the latest entry of each standing job, in order.
    private func compact() {
        var latest: [UInt64: Int] = [:]
        for (index, entry) in entries.enumerated() where members.contains(entry.id) { latest[entry.id] = index }
        var index = -1
        entries.retain { entry in
            index += 1
            return latest[entry.id] == index
        }
    }
    /// The ids, oldest first.
    func makeIterator() -> LazyMapSequence<FIFO<(id: UInt64, finishedAt: Int64)>, UInt64>.Iterator {
        entries.lazy.map(\.id).makeIterator()
    }
}

/// A job's place in its queue's ready order, in 16 bytes (a million waiting jobs have a
/// million of them). It names the job by id: plain values sift through the heap without
/// reference counting, and an entry whose job moved on since (started, deleted, made ready
/// again in a new place) is recognised and dropped when it surfaces. The order is one word:
/// the priority, offset to be non-negative, above the job's 43-bit place (`Job.readySequence`).
struct ReadyEntry: Comparable {
    static let sequenceBits = 43
    static let sequenceLimit: UInt64 = 1 << UInt64(sequenceBits)
    private static let priorities = EnqueueOptions.priorityRange
    private let order: UInt64
    let id: UInt64

    init(_ job: Job) {
        order = job.readyOrder
        id = job.id
    }

    var sequence: UInt64 { order & (Self.sequenceLimit - 1) }

    /// Whether this entry is still the job's place: it is waiting, in the place this entry holds.
    func isCurrent(for job: Job) -> Bool { job.state == .waiting && job.readySequence == sequence }

    static func < (a: ReadyEntry, b: ReadyEntry) -> Bool { a.order < b.order }
    static func == (a: ReadyEntry, b: ReadyEntry) -> Bool { a.order == b.order }
}

/// The end of one run's lease: the job, and when that run started (an entry of an earlier run
/// is stale).
struct LeaseEnd {
    let job: UInt64
    let startedAt: Int64
}

/// Something due at a time: a delayed job, a lease end, a RESERVE or WAIT timeout, a queue
/// to look at again. Equal times keep the order of `sequence`.
struct Deadline<Item>: Comparable {
    let time: Int64
    let sequence: UInt64
    let item: Item

    static func < (a: Deadline, b: Deadline) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }

    static func == (a: Deadline, b: Deadline) -> Bool { a.time == b.time && a.sequence == b.sequence }
}

