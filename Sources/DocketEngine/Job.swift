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
/// object (101 bytes) fits malloc's 112-byte chunks, which is why small counters are narrow,
/// the queue and the retry settings are shared, the rare byte strings sit in `JobExtras`, one
/// field holds the lease end while active and the finish time once finished, and the engine's
/// deadline heaps recognise stale entries by the job's times rather than by a counter of its
/// own. A stored field more would take it to the 128-byte chunks (16 MB per million jobs).
public final class Job {
    public let id: UInt64
    public let policy: JobPolicy
    var extras: JobExtras?
    /// Unix milliseconds.
    public internal(set) var enqueuedAt: Int64
    /// When a delayed job becomes waiting, unix milliseconds.
    public internal(set) var runAt: Int64
    /// When the current or last run started, unix milliseconds; 0 for never.
    var startedAtStamp: Int64 = 0
    /// While active, when the lease ends; once completed or dead, when that happened.
    var leaseOrFinish: Int64 = 0
    /// The connection holding the lease while active.
    public internal(set) var holder: UInt64 = 0
    /// Its place in the ready order when it last became waiting.
    var readySequence: UInt64 = 0
    private var storedPriority: Int32
    public internal(set) var payloadSize: UInt32
    private var storedAttempts: UInt16 = 0
    public internal(set) var state: JobState
    private var storedProgress: UInt8 = 0
    /// Changed since the engine last handed its changes to the store.
    var isDirty = false

    init(id: UInt64, policy: JobPolicy, payloadSize: Int, state: JobState, priority: Int, enqueuedAt: Int64, runAt: Int64) {
        self.id = id
        self.policy = policy
        self.payloadSize = UInt32(clamping: payloadSize)
        self.state = state
        self.storedPriority = Int32(clamping: priority)
        self.enqueuedAt = enqueuedAt
        self.runAt = runAt
    }

    /// The queue.
    public var home: JobQueue { policy.home }
    public var queue: String { home.name }
    public var priority: Int { Int(storedPriority) }
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
        get { Int(storedProgress) }
        set { storedProgress = UInt8(clamping: newValue) }
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
