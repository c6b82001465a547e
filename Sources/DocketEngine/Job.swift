import DocketWire

/// Where a job is in its life. Raw values are stored on disk: never renumber them.
public enum JobState: UInt8, Sendable {
    case waiting = 0, delayed = 1, active = 2, completed = 3, dead = 4

    public var name: String {
        switch self {
        case .waiting: return "waiting"
        case .delayed: return "delayed"
        case .active: return "active"
        case .completed: return "completed"
        case .dead: return "dead"
        }
    }
}

/// One job. The persisted fields are what `JobCodec` writes; the rest is rebuilt at start.
public final class Job {
    public let id: UInt64
    public let queue: String
    public let payload: [UInt8]
    public internal(set) var state: JobState
    public internal(set) var priority: Int
    /// Runs started so far (the current one included while active).
    public internal(set) var attempts: Int
    public internal(set) var maxAttempts: Int
    public internal(set) var backoff: Backoff
    public internal(set) var jitter: Double
    public internal(set) var leaseMilliseconds: Int
    public internal(set) var key: [UInt8]?
    /// The group (tenant, customer) whose limits apply to it.
    public internal(set) var group: [UInt8]?
    /// Unix milliseconds.
    public internal(set) var enqueuedAt: Int64
    /// When a delayed job becomes waiting, unix milliseconds.
    public internal(set) var runAt: Int64
    public internal(set) var startedAt: Int64?
    public internal(set) var finishedAt: Int64?
    public internal(set) var progress: Int = 0
    public internal(set) var progressNote: [UInt8]?
    public internal(set) var lastError: [UInt8]?
    public internal(set) var result: [UInt8]?

    // Not persisted.
    /// Whether the payload is in the store already (it is written once, with the job's first commit).
    public var isPayloadStored = false
    /// The connection holding the lease while active.
    public internal(set) var holder: UInt64 = 0
    var leaseExpiresAt: Int64 = 0
    /// Changes at every reservation and every heap insertion, so stale heap entries are recognised.
    var generation: UInt64 = 0
    /// Its place in the ready order when it last became waiting.
    var readySequence: UInt64 = 0

    init(
        id: UInt64, queue: String, payload: [UInt8], state: JobState, priority: Int, attempts: Int,
        maxAttempts: Int, backoff: Backoff, jitter: Double, leaseMilliseconds: Int, key: [UInt8]?,
        enqueuedAt: Int64, runAt: Int64
    ) {
        self.id = id
        self.queue = queue
        self.payload = payload
        self.state = state
        self.priority = priority
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.jitter = jitter
        self.leaseMilliseconds = leaseMilliseconds
        self.key = key
        self.enqueuedAt = enqueuedAt
        self.runAt = runAt
    }

    /// The job as a JSON document, for INSPECT and DEAD.
    public var json: String {
        var writer = JSONObjectWriter()
        writer.add("id", Int(id))
        writer.add("queue", queue)
        writer.add("state", state.name)
        writer.add("priority", priority)
        writer.add("attempts", attempts)
        writer.add("max_attempts", maxAttempts)
        writer.add("backoff", backoff.text)
        writer.add("jitter", jitter)
        writer.add("lease_ms", leaseMilliseconds)
        writer.add("key", key.map { String(decoding: $0, as: UTF8.self) })
        writer.add("group", group.map { String(decoding: $0, as: UTF8.self) })
        writer.add("enqueued_at", Int(enqueuedAt))
        writer.add("run_at", Int(runAt))
        writer.add("started_at", startedAt.map { Int($0) })
        writer.add("finished_at", finishedAt.map { Int($0) })
        writer.add("progress", progress)
        writer.add("progress_note", progressNote.map { String(decoding: $0, as: UTF8.self) })
        writer.add("last_error", lastError.map { String(decoding: $0, as: UTF8.self) })
        writer.add("result", result.map { String(decoding: $0, as: UTF8.self) })
        writer.add("payload_bytes", payload.count)
        return writer.result
    }
}
