import DocketWire

/// How long to wait before retry number n (the same rules as the protocol's `backoff=`).
public enum PostgresBackoff: Equatable, Sendable {
    case fixed(milliseconds: Int)
    case exponential(baseMilliseconds: Int, capMilliseconds: Int)

    public static let `default` = PostgresBackoff.exponential(baseMilliseconds: 1000, capMilliseconds: 3_600_000)

    /// `fixed:30000ms` or `exp:1000ms:3600000ms`, as the LMDB engine's INSPECT writes it.
    public var text: String {
        switch self {
        case .fixed(let milliseconds): return "fixed:\(milliseconds)ms"
        case .exponential(let base, let cap): return "exp:\(base)ms:\(cap)ms"
        }
    }

    /// The same rule as the protocol's `Backoff`, and back.
    public var wire: Backoff {
        switch self {
        case .fixed(let milliseconds): return .fixed(milliseconds: milliseconds)
        case .exponential(let base, let cap): return .exponential(baseMilliseconds: base, capMilliseconds: cap)
        }
    }

    public init(_ backoff: Backoff) {
        switch backoff {
        case .fixed(let milliseconds): self = .fixed(milliseconds: milliseconds)
        case .exponential(let base, let cap): self = .exponential(baseMilliseconds: base, capMilliseconds: cap)
        }
    }

    var columns: (kind: String, base: Int64, cap: Int64) {
        switch self {
        case .fixed(let milliseconds): return ("fixed", Int64(milliseconds), Int64(milliseconds))
        case .exponential(let base, let cap): return ("exp", Int64(base), Int64(cap))
        }
    }

    init?(kind: String?, base: Int?, cap: Int?) {
        guard let kind, let base else { return nil }
        switch kind {
        case "fixed": self = .fixed(milliseconds: base)
        case "exp": self = .exponential(baseMilliseconds: base, capMilliseconds: cap ?? base)
        default: return nil
        }
    }
}

/// What a job gets when neither its ENQ nor its queue's settings say (docketd's flags).
public struct PostgresJobDefaults: Sendable, Equatable {
    public var maxAttempts = 3
    public var backoff = PostgresBackoff.default
    public var leaseMilliseconds = 30_000
    /// Finished jobs kept per queue (`--keep-completed`, `--keep-dead`), unless the queue says.
    public var keepCompleted = 1000
    public var keepDead = 10_000

    public init() {}
}

/// One ENQ. Options left nil take the queue's setting, then the defaults.
public struct PostgresNewJob: Sendable, Equatable {
    public var queue: String
    public var payload: [UInt8]
    public var priority = 0
    public var delayMilliseconds: Int?
    /// Absolute run time, unix milliseconds (wins over `delayMilliseconds`).
    public var runAtMilliseconds: Int64?
    public var maxAttempts: Int?
    public var backoff: PostgresBackoff?
    public var jitter: Double?
    public var leaseMilliseconds: Int?
    public var key: [UInt8]?
    public var group: [UInt8]?
    /// Not started within this long after the ENQ (by the database's clock), or by this time
    /// (unix ms; wins), it is not run.
    public var ttlMilliseconds: Int?
    public var expiresAtMilliseconds: Int64?
    /// `after=`: job ids, or `@<n>` for the job of row n (from 1) of the same `enqueue` call.
    public var parents: [String]?
    public var runsIfParentDies = false
    /// `key_ttl=`: the key is remembered at least this long after the ENQ.
    public var keyTTLMilliseconds: Int?
    /// `replace=true`: a job with the key still waiting takes this payload and run time.
    public var replace = false

    public init(queue: String, payload: [UInt8]) {
        self.queue = queue
        self.payload = payload
    }
}

/// An ENQ's answer: the new job's id, or the id of the job that already has the key.
public struct PostgresEnqueued: Sendable, Equatable {
    public let id: Int64
    public let duplicate: Bool
    /// The job's attempt budget and run time (unix ms), for its `enqueued` event.
    public let maxAttempts: Int
    public let runAt: Int64
    /// The state it was created in: `waiting` (delayed if `runAt` is ahead), `blocked`, or
    /// `dead` (a parent already dead).
    public let state: String
    /// The ids of its parents (`after=`), resolved.
    public let parents: [UInt64]?
    /// `replace=true` found the key's job waiting and gave it the new payload.
    public let replaced: Bool

    public init(
        id: Int64, duplicate: Bool, maxAttempts: Int, runAt: Int64, state: String = "waiting", parents: [UInt64]? = nil,
        replaced: Bool = false
    ) {
        self.parents = parents
        self.replaced = replaced
        self.id = id
        self.duplicate = duplicate
        self.maxAttempts = maxAttempts
        self.runAt = runAt
        self.state = state
    }
}

/// A job handed out by RESERVE.
public struct PostgresReservation: Sendable, Equatable {
    public let id: Int64
    public let queue: String
    /// The attempt number: the fencing token ACK, FAIL, PROGRESS and TOUCH must name.
    public let attempt: Int
    /// This hand-out's number, unique for the life of the database.
    public let delivery: Int64
    public let leaseMilliseconds: Int
    /// When the lease ends unless renewed (unix ms, database clock).
    public let leaseExpiresAt: Int64
    public let payload: [UInt8]
    public let group: [UInt8]?
    public let maxAttempts: Int
    /// How long the job waited between becoming runnable and this hand-out.
    public let waitMilliseconds: Int
}

/// Names the attempt a worker means: the job, the holder (a docketd process and connection,
/// any string the owner picks, unique across processes), and the attempt it was handed
/// (nil: whatever attempt `owner` holds).
public struct PostgresHold: Sendable, Equatable {
    public let id: Int64
    public let owner: String
    public let attempt: Int?

    public init(id: Int64, owner: String, attempt: Int? = nil) {
        self.id = id
        self.owner = owner
        self.attempt = attempt
    }
}

/// How FAIL wants the attempt handled.
public enum PostgresFailChoice: Sendable, Equatable {
    /// The job's backoff decides.
    case policy
    /// After exactly this long (still only with attempts left).
    case after(milliseconds: Int)
    /// Dead at once (`retry=no`).
    case never
}

/// What a failed attempt led to.
public enum PostgresFailOutcome: Sendable, Equatable {
    case retry(afterMilliseconds: Int)
    case dead
}

/// A job `expireDue` made dead.
public struct PostgresExpiredJob: Sendable, Equatable {
    public let id: Int64
    public let queue: String
    public let attempts: Int
    public let maxAttempts: Int
    public let expiresAt: Int64
    public let group: [UInt8]?
}

/// A delayed job that came due (`takeDue`), or that PROMOTE moved: waiting now.
public struct PostgresDueJob: Sendable, Equatable {
    public let id: Int64
    public let queue: String
    public let attempts: Int
    public let maxAttempts: Int
    public let group: [UInt8]?
}

/// An attempt ended because its worker was gone (an expired lease, a closed connection).
public struct PostgresEndedAttempt: Sendable, Equatable {
    public let id: Int64
    public let queue: String
    public let outcome: PostgresFailOutcome
    /// The attempt that ended, and the job's budget.
    public let attempt: Int
    public let maxAttempts: Int
    /// The job's lease, for an attempt that ended because it ran out (nil otherwise).
    public let leaseMilliseconds: Int64?
    /// The node whose heartbeat stopped, for an attempt taken back from it (nil otherwise).
    public let lostNode: String?

    public init(
        id: Int64, queue: String, outcome: PostgresFailOutcome, attempt: Int, maxAttempts: Int, leaseMilliseconds: Int64? = nil,
        lostNode: String? = nil
    ) {
        self.id = id
        self.queue = queue
        self.outcome = outcome
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.leaseMilliseconds = leaseMilliseconds
        self.lostNode = lostNode
    }
}

/// Why a job verb was refused, with the protocol's error codes, or why it could not be decided.
public enum PostgresJobError: Error, Sendable, Equatable {
    case notFound(Int64)
    /// Not active under a lease `owner` holds.
    case notHeld(Int64)
    /// `owner` holds the job, but in another attempt than the one named.
    case staleAttempt(Int64, attempt: Int, current: Int)
    case notDead(Int64, state: String)
    /// PROMOTE of a job that is not delayed.
    case notDelayed(Int64, state: String)
    /// FAIL throttle= scope=group for a job that has no group.
    case noGroup(Int64)
    /// The database did not decide (the connection was lost: the change may or may not have
    /// committed; docketd answers UNAVAILABLE), or refused the statement.
    case database(PostgresError)

    /// The protocol's code (`UNAVAILABLE` for database trouble, the new code issue #13 adds).
    public var code: String {
        switch self {
        case .notFound: return "NOT_FOUND"
        case .notHeld, .staleAttempt: return "NOT_HELD"
        case .notDead: return "NOT_DEAD"
        case .notDelayed: return "NOT_DELAYED"
        case .noGroup: return "BAD_OPTION"
        case .database: return "UNAVAILABLE"
        }
    }

    /// The message, worded as the LMDB engine words it.
    public var message: String {
        switch self {
        case .notFound(let id): return "job \(id) does not exist"
        case .notHeld(let id): return JobError.notHeldMessage(id)
        case .staleAttempt(let id, let attempt, let current):
            return "job \(id) is on attempt \(current), not \(attempt)"
                + (attempt < current ? ": the lease of attempt \(attempt) ended and the job was handed out again" : "")
        case .notDead(let id, let state): return "job \(id) is \(state), not dead"
        case .notDelayed(let id, let state): return "job \(id) is \(state), not delayed"
        case .noGroup(let id): return "job \(id) has no group to throttle"
        case .database(let error): return "the job store is unavailable: \(error.message)"
        }
    }
}

/// A queue's settings as the `docket.queues` row keeps them; nil means the default.
public struct PostgresQueueSettings: Sendable, Equatable {
    public struct Rate: Sendable, Equatable {
        public var limit: Int
        public var windowMilliseconds: Int

        public init(limit: Int, windowMilliseconds: Int) {
            self.limit = limit
            self.windowMilliseconds = windowMilliseconds
        }
    }

    public var paused = false
    public var rate: Rate?
    /// The same, for each group of the queue separately.
    public var groupRate: Rate?
    public var concurrency: Int?
    public var maxAttempts: Int?
    public var backoff: PostgresBackoff?
    public var jitter: Double?
    public var leaseMilliseconds: Int?
    public var keepCompleted: Int?
    public var keepDead: Int?

    public init() {}
}

/// What WAIT finds when it starts.
public enum PostgresWatchStart: Sendable, Equatable {
    /// Completed or dead already: read it with `inspect` and answer at once.
    case finished(state: String)
    /// Not finished: the watcher hears of it on `PostgresJobStore.outcomesChannel`.
    case watching(state: String)
    case notFound
}

/// What every docketd on the database did with one queue's jobs (schema version 17), as far as
/// they have added it (`addActivity`).
public struct PostgresQueueActivity: Sendable, Equatable {
    /// Over the queue's life, in `totalNames` order.
    public var totals: [Int64]
    /// What docketd counts (`PostgresActivity.kinds`), then what the database counts itself.
    public static let totalNames = PostgresActivity.kinds + ["removed"]
    /// Started, completed, failed and dead in the 60 seconds up to the second asked about.
    public var lastMinute: [Int64]

    public init(totals: [Int64], lastMinute: [Int64]) {
        self.totals = totals
        self.lastMinute = lastMinute
    }
}

/// One docketd's counts of one queue in one second, to add to the database's (`addActivity`).
public struct PostgresActivity: Sendable, Equatable {
    /// The kinds counted, in the order of `counts` and of `PostgresQueueActivity.totals`.
    public static let kinds = ["enqueued", "started", "completed", "failed", "dead", "throttled", "deleted"]

    public var queue: String
    /// Unix seconds.
    public var second: Int64
    public var counts: [Int]

    public init(queue: String, second: Int64, counts: [Int]) {
        self.queue = queue
        self.second = second
        self.counts = counts
    }
}

/// A queue's live state, for its QUEUE document (with `PostgresQueueSettings`).
public struct PostgresQueueState: Sendable, Equatable {
    /// Jobs per state: `waiting`, `delayed`, `active`, `completed`, `dead` (all present).
    public var counts: [String: Int]
    /// When the longest-waiting runnable job became runnable (unix ms), if any.
    public var oldestWaitingSince: Int64?
    /// The end of a throttle in force.
    public var heldUntil: Int64?
    /// Starts in the current rate window (nil without a rate).
    public var rateWindowStarts: Int?
    /// The database's now, which the other times are relative to.
    public var now: Int64

    public init(counts: [String: Int], oldestWaitingSince: Int64?, heldUntil: Int64?, rateWindowStarts: Int?, now: Int64) {
        self.counts = counts
        self.oldestWaitingSince = oldestWaitingSince
        self.heldUntil = heldUntil
        self.rateWindowStarts = rateWindowStarts
        self.now = now
    }
}

/// A route (ROUTE <pattern> <queue> …) as stored: `rule` is the route's ENQ options as the
/// server writes them; the store does not read it.
public struct PostgresRoute: Sendable, Equatable {
    public let id: Int64
    public let pattern: String
    public let queue: String
    public let rule: String
    public let owner: String?

    public init(id: Int64, pattern: String, queue: String, rule: String, owner: String?) {
        self.id = id
        self.pattern = pattern
        self.queue = queue
        self.rule = rule
        self.owner = owner
    }
}

/// One job as stored, for INSPECT, DEAD and LIST: what every job store shows (`view`; its
/// fields read through, `record.state`), and the lease this store keeps.
@dynamicMemberLookup
public struct PostgresJobRecord: Sendable, Equatable {
    public var view: JobView
    public var leaseOwner: String?
    public var leaseExpiresAt: Int64?
    public var delivery: Int64?

    public init(view: JobView, leaseOwner: String?, leaseExpiresAt: Int64?, delivery: Int64?) {
        self.view = view
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.delivery = delivery
    }

    /// The id as the database has it.
    public var id: Int64 { Int64(view.id) }

    public subscript<Value>(dynamicMember field: KeyPath<JobView, Value>) -> Value { view[keyPath: field] }

    /// The INSPECT document.
    public var json: String { view.json }
}

