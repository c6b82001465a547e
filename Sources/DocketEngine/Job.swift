import DocketWire

/// Where a job is in its life. Raw values are stored on disk: never renumber them.
public enum JobState: UInt8, Sendable {
    case waiting = 0, delayed = 1, active = 2, completed = 3, dead = 4
    /// Enqueued `after=` jobs that have not all completed yet.
    case blocked = 5

    /// The state a name names (the names `name` gives); waiting for anything else.
    public static func named(_ name: String) -> JobState {
        switch name {
        case "delayed": return .delayed
        case "active": return .active
        case "completed": return .completed
        case "dead": return .dead
        case "blocked": return .blocked
        default: return .waiting
        }
    }

    public var name: String {
        switch self {
        case .waiting: return "waiting"
        case .delayed: return "delayed"
        case .active: return "active"
        case .completed: return "completed"
        case .dead: return "dead"
        case .blocked: return "blocked"
        }
    }

    var isFinished: Bool { self == .completed || self == .dead }
}

/// The queue and the retry and lease settings a job was enqueued with. They never change after
/// ENQ, and nearly every job of a queue has the same ones, so jobs share one instance (see
/// `JobQueue.policy`) instead of carrying five fields each.
public final class JobPolicy {
    /// Queues live as long as the engine, so no reference count is kept.
    public unowned(unsafe) let home: JobQueue
    public let maxAttempts: Int
    public let backoff: Backoff
    public let jitter: Double
    public let leaseMilliseconds: Int

    init(home: JobQueue, maxAttempts: Int, backoff: Backoff, jitter: Double, leaseMilliseconds: Int) {
        self.home = home
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.jitter = jitter
        self.leaseMilliseconds = leaseMilliseconds
    }
}

/// A job's rarely set byte strings, kept out of line: most jobs have none of them, and a
/// million waiting jobs must fit in little memory.
final class JobExtras {
    var key: [UInt8]?
    var group: [UInt8]?
    var progressNote: [UInt8]?
    var lastError: [UInt8]?
    var result: [UInt8]?
    /// Not started by then, it is not run (unix ms).
    var expiresAt: Int64?
    /// The jobs it was enqueued `after=`, in the order given.
    var parents: [UInt64]?
    /// Whether a parent's death lets it run (`on_parent_dead=run`) rather than killing it.
    var runsIfParentDies = false
    /// While blocked: parents that have not completed yet (rebuilt at start, never stored).
    var pendingParents = 0
    /// The jobs in the longest chain of unfinished jobs, each `after=` the one before, that
    /// ended at it when it was enqueued (`JobEngine.flowDepth(after:)`); 1 without parents.
    var flowDepth = 1
    /// The key is remembered at least until then, the job kept or not (`key_ttl=`), unix ms.
    var keyUntil: Int64?
    /// Its last attempts that failed, oldest first.
    var failedAttempts: [FailedAttempt]?

    var isEmpty: Bool {
        key == nil && group == nil && progressNote == nil && lastError == nil && result == nil && expiresAt == nil && parents == nil
            && keyUntil == nil && failedAttempts == nil
    }
}

/// One job, as the engine keeps it in memory. The persisted fields are what `JobCodec` writes;
/// the rest is rebuilt at start. The payload is not here: it lives in the store (and, until its
/// first commit, with the server), so a backlog costs memory for its bookkeeping only.
///
/// Memory matters more than usual here (a million waiting jobs is an ordinary backlog): the
/// object (88 bytes) fits malloc's 96-byte chunks, which is why small counters are narrow, the
/// queue and the retry settings are shared, the rare byte strings sit in `JobExtras`, one field
/// holds the lease end while active and the finish time once finished, times are kept in 48 bits
/// (milliseconds for ±4,000 years) split into a 32-bit and a 16-bit half so that no field pads,
/// the priority shares a word with the place in the ready order (as `ReadyEntry` packs them),
/// and the dirty flag is a bit of the progress byte. The engine's deadline heaps recognise stale
/// entries by the job's times rather than by a counter of its own. A stored field more would
/// take it to the 112-byte chunks (16 MB per million jobs). Stored properties are laid out in
/// the order declared: keep the words first, then the 32-bit, 16-bit and 8-bit fields.
public final class Job {
    public let id: UInt64
    public let policy: JobPolicy
    var extras: JobExtras?
    /// The connection holding the lease while active.
    public internal(set) var holder: UInt64 = 0
    /// The priority, offset to be non-negative, above the job's 43-bit place in the ready order.
    private var priorityAndPlace: UInt64
    private var enqueuedAtLow: UInt32 = 0
    private var runAtLow: UInt32 = 0
    private var startedAtLow: UInt32 = 0
    private var leaseOrFinishLow: UInt32 = 0
    public internal(set) var payloadSize: UInt32
    private var enqueuedAtHigh: Int16 = 0
    private var runAtHigh: Int16 = 0
    private var startedAtHigh: Int16 = 0
    private var leaseOrFinishHigh: Int16 = 0
    private var storedAttempts: UInt16 = 0
    public internal(set) var state: JobState
    /// The progress (0-100) in the low seven bits, `isDirty` in the top one.
    private var progressAndDirty: UInt8 = 0

    init(id: UInt64, policy: JobPolicy, payloadSize: Int, state: JobState, priority: Int, enqueuedAt: Int64, runAt: Int64) {
        self.id = id
        self.policy = policy
        self.payloadSize = UInt32(clamping: payloadSize)
        self.state = state
        self.priorityAndPlace = Self.packedPriority(priority)
        self.enqueuedAt = enqueuedAt
        self.runAt = runAt
    }

    // MARK: Packed fields

    private static let placeBits = UInt64(ReadyEntry.sequenceBits)
    private static let placeMask = ReadyEntry.sequenceLimit - 1
    private static let priorities = EnqueueOptions.priorityRange

    /// Priorities outside the range ENQ accepts are kept at its nearest end.
    private static func packedPriority(_ priority: Int) -> UInt64 {
        UInt64(min(max(priority, priorities.lowerBound), priorities.upperBound) - priorities.lowerBound) << placeBits
    }

    /// The ready order's word: the priority, then the place (see `ReadyEntry`).
    var readyOrder: UInt64 { priorityAndPlace }

    /// Its place in the ready order when it last became waiting (kept while it runs: a job
    /// handed back returns to its place).
    var readySequence: UInt64 {
        get { priorityAndPlace & Self.placeMask }
        set { priorityAndPlace = (priorityAndPlace & ~Self.placeMask) | (newValue & Self.placeMask) }
    }

    private static func time(_ low: UInt32, _ high: Int16) -> Int64 { Int64(high) << 32 | Int64(low) }

    /// Unix milliseconds.
    public internal(set) var enqueuedAt: Int64 {
        get { Self.time(enqueuedAtLow, enqueuedAtHigh) }
        set { (enqueuedAtLow, enqueuedAtHigh) = Self.halves(newValue) }
    }

    /// When a delayed job becomes waiting, unix milliseconds.
    public internal(set) var runAt: Int64 {
        get { Self.time(runAtLow, runAtHigh) }
        set { (runAtLow, runAtHigh) = Self.halves(newValue) }
    }

    /// While waiting, when it last became waiting: enqueued, come due, or back from a failed or
    /// handed-back attempt (a `run_at=` in the past counts from the enqueue), unix milliseconds.
    var waitingSince: Int64 { max(runAt, enqueuedAt) }

    /// When the current or last run started, unix milliseconds; 0 for never.
    var startedAtStamp: Int64 {
        get { Self.time(startedAtLow, startedAtHigh) }
        set { (startedAtLow, startedAtHigh) = Self.halves(newValue) }
    }

    /// While active, when the lease ends; once completed or dead, when that happened.
    var leaseOrFinish: Int64 {
        get { Self.time(leaseOrFinishLow, leaseOrFinishHigh) }
        set { (leaseOrFinishLow, leaseOrFinishHigh) = Self.halves(newValue) }
    }

    /// A time in 48 bits, clamped to what they hold.
    private static func halves(_ time: Int64) -> (UInt32, Int16) {
        let clamped = min(max(time, -(1 << 47)), (1 << 47) - 1)
        return (UInt32(truncatingIfNeeded: clamped), Int16(truncatingIfNeeded: clamped >> 32))
    }

    /// Changed since the engine last handed its changes to the store.
    var isDirty: Bool {
        get { progressAndDirty & 0x80 != 0 }
        set { progressAndDirty = newValue ? progressAndDirty | 0x80 : progressAndDirty & 0x7F }
    }

    /// The queue.
    public var home: JobQueue { policy.home }
    public var queue: String { home.name }
    public var priority: Int { Int(priorityAndPlace >> Self.placeBits) + Self.priorities.lowerBound }
    public var maxAttempts: Int { policy.maxAttempts }
    public var backoff: Backoff { policy.backoff }
    public var jitter: Double { policy.jitter }
    public var leaseMilliseconds: Int { policy.leaseMilliseconds }

    /// Runs started so far (the current one included while active).
    public internal(set) var attempts: Int {
        get { Int(storedAttempts) }
        set { storedAttempts = UInt16(clamping: newValue) }
    }

    public internal(set) var progress: Int {
        get { Int(progressAndDirty & 0x7F) }
        set { progressAndDirty = progressAndDirty & 0x80 | UInt8(clamping: min(max(newValue, 0), 100)) }
    }

    public internal(set) var startedAt: Int64? {
        get { startedAtStamp == 0 ? nil : startedAtStamp }
        set { startedAtStamp = newValue ?? 0 }
    }

    public internal(set) var finishedAt: Int64? {
        get { state.isFinished && leaseOrFinish != 0 ? leaseOrFinish : nil }
        set { leaseOrFinish = newValue ?? 0 }
    }

    var leaseExpiresAt: Int64 {
        get { leaseOrFinish }
        set { leaseOrFinish = newValue }
    }

    public internal(set) var key: [UInt8]? {
        get { extras?.key }
        set { setExtra(\.key, newValue) }
    }

    /// The group (tenant, customer) whose limits apply to it.
    public internal(set) var group: [UInt8]? {
        get { extras?.group }
        set { setExtra(\.group, newValue) }
    }

    /// When it stops being startable (`ttl=`, `expires=`), unix ms.
    public internal(set) var expiresAt: Int64? {
        get { extras?.expiresAt }
        set {
            if let extras {
                extras.expiresAt = newValue
                if newValue == nil && extras.isEmpty { self.extras = nil }
            } else if let newValue {
                let extras = JobExtras()
                extras.expiresAt = newValue
                self.extras = extras
            }
        }
    }

    /// Until when its key is remembered even if the job is removed (`key_ttl=`), unix ms.
    public var keyUntil: Int64? { extras?.keyUntil }

    /// The jobs it was enqueued `after=`; empty for most.
    public var parents: [UInt64] { extras?.parents ?? [] }

    /// Its depth in its flow when it was enqueued (`JobEngine.flowDepth(after:)`).
    public var flowDepth: Int { extras?.flowDepth ?? 1 }

    /// What a parent's death does to it.
    public var parentDeathPolicy: ParentDeathPolicy { extras?.runsIfParentDies == true ? .run : .fail }

    /// Its last failed attempts, oldest first (at most `FailedAttempt.kept`).
    public var failedAttempts: [FailedAttempt] { extras?.failedAttempts ?? [] }

    /// Adds the attempt that just ended without completing the job to its history.
    func recordFailedAttempt(endedAt: Int64, error: [UInt8]?) {
        let attempt = FailedAttempt(attempt: attempts, startedAt: startedAt, endedAt: endedAt, error: error)
        let extras = ensureExtras()
        extras.failedAttempts = FailedAttempt.appending(attempt, to: extras.failedAttempts ?? [])
    }

    /// Its extras, made if it has none yet.
    func ensureExtras() -> JobExtras {
        if let extras { return extras }
        let made = JobExtras()
        extras = made
        return made
    }

    public internal(set) var progressNote: [UInt8]? {
        get { extras?.progressNote }
        set { setExtra(\.progressNote, newValue) }
    }

    public internal(set) var lastError: [UInt8]? {
        get { extras?.lastError }
        set { setExtra(\.lastError, newValue) }
    }

    public internal(set) var result: [UInt8]? {
        get { extras?.result }
        set { setExtra(\.result, newValue) }
    }

    private func setExtra(_ field: ReferenceWritableKeyPath<JobExtras, [UInt8]?>, _ value: [UInt8]?) {
        if let extras {
            extras[keyPath: field] = value
            if value == nil && extras.isEmpty { self.extras = nil }
        } else if let value {
            let extras = JobExtras()
            extras[keyPath: field] = value
            self.extras = extras
        }
    }

    /// The job as INSPECT, DEAD and LIST show it (`children` from the engine, which keeps them).
    public func view(children: [UInt64] = []) -> JobView {
        var view = JobView(
            id: id, queue: queue, state: state.name, priority: priority, attempts: attempts, maxAttempts: maxAttempts,
            backoff: backoff, jitter: jitter, leaseMilliseconds: leaseMilliseconds, key: key, group: group, enqueuedAt: enqueuedAt,
            runAt: runAt, startedAt: startedAt, finishedAt: finishedAt, progress: progress, progressNote: progressNote,
            lastError: lastError, result: result, payloadBytes: Int(payloadSize), expiresAt: expiresAt)
        if let parents = extras?.parents {
            view.parents = parents
            view.parentDeathPolicy = parentDeathPolicy
        }
        if !children.isEmpty { view.children = children }
        view.keyUntil = keyUntil
        return view
    }

    public var view: JobView { view() }

    /// The job's document, without its children (INSPECT asks the engine for those).
    public var json: String { view.json }
}
