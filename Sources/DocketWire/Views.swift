/// The read model: what INSPECT, DEAD, LIST and QUEUE show, as values. Each job store fills
/// them from its own state (the in-memory engine, PostgreSQL), and each is encoded to JSON here
/// and only here, so the wire, `$DOCKET.API` and the monitoring port show the same documents.

/// An attempt that ended without completing the job (a FAIL, an expired lease, a lost worker),
/// as a job's attempt history keeps it: the last `FailedAttempt.kept` of them.
public struct FailedAttempt: Sendable, Equatable {
    /// How many a job remembers; older ones are forgotten first.
    public static let kept = 10
    /// How much of each error it keeps (the whole last one is `last_error`): a worker failing
    /// with large reasons must not multiply what a job costs in memory and on disk by `kept`.
    public static let errorBytesKept = 1024

    public var attempt: Int
    /// Unix ms; nil if the store did not know when it started.
    public var startedAt: Int64?
    public var endedAt: Int64
    /// The reason given (FAIL's text, or what the server says: `stalled: …`, `worker lost: …`).
    public var error: [UInt8]?

    /// `error` is kept up to `errorBytesKept` bytes.
    public init(attempt: Int, startedAt: Int64?, endedAt: Int64, error: [UInt8]?) {
        self.attempt = attempt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.error = error.map { Array($0.prefix(Self.errorBytesKept)) }
    }

    /// `history` with `attempt` added, the oldest dropped past `kept`.
    public static func appending(_ attempt: FailedAttempt, to history: [FailedAttempt]) -> [FailedAttempt] {
        var history = history
        history.append(attempt)
        if history.count > kept { history.removeFirst(history.count - kept) }
        return history
    }

    var json: String {
        var writer = JSONObjectWriter()
        writer.add("attempt", attempt)
        writer.add("started_at", startedAt.map { Int($0) })
        writer.add("ended_at", Int(endedAt))
        writer.add("error", error.map { String(decoding: $0, as: UTF8.self) })
        return writer.result
    }
}

/// One job, as INSPECT shows it.
public struct JobView: Sendable, Equatable {
    public var id: UInt64
    public var queue: String
    /// `waiting`, `delayed`, `blocked`, `active`, `completed` or `dead`.
    public var state: String
    public var priority: Int
    public var attempts: Int
    public var maxAttempts: Int
    public var backoff: Backoff
    public var jitter: Double
    public var leaseMilliseconds: Int
    public var key: [UInt8]?
    public var group: [UInt8]?
    /// Unix ms.
    public var enqueuedAt: Int64
    public var runAt: Int64
    public var startedAt: Int64?
    public var finishedAt: Int64?
    public var progress: Int
    public var progressNote: [UInt8]?
    public var lastError: [UInt8]?
    public var result: [UInt8]?
    public var payloadBytes: Int
    /// Not started by then, it is not run (unix ms; `ttl=`, `expires=`).
    public var expiresAt: Int64?
    /// The jobs it was enqueued `after=` (nil: none), and what their death does to it.
    public var parents: [UInt64]?
    public var parentDeathPolicy: ParentDeathPolicy?
    /// The jobs enqueued `after=` it that the store still knows (nil: none): INSPECT shows the
    /// first `shownChildren` by id, and says when there are more (CHILDREN pages through them).
    public var children: [UInt64]?
    public var childrenTruncated = false
    /// Past ~170,000 children INSPECT's reply no longer fitted max_payload (nor `$DOCKET.API`'s).
    public static let shownChildren = 1000
    /// Its key is remembered until then at least (`key_ttl=`), unix ms.
    public var keyUntil: Int64?
    /// Its failed attempts, oldest first (INSPECT only, after `last_error`; nil: not shown).
    public var failedAttempts: [FailedAttempt]?

    public init(
        id: UInt64, queue: String, state: String, priority: Int, attempts: Int, maxAttempts: Int, backoff: Backoff, jitter: Double,
        leaseMilliseconds: Int, key: [UInt8]?, group: [UInt8]?, enqueuedAt: Int64, runAt: Int64, startedAt: Int64?,
        finishedAt: Int64?, progress: Int, progressNote: [UInt8]?, lastError: [UInt8]?, result: [UInt8]?, payloadBytes: Int,
        expiresAt: Int64? = nil
    ) {
        self.expiresAt = expiresAt
        self.id = id
        self.queue = queue
        self.state = state
        self.priority = priority
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.jitter = jitter
        self.leaseMilliseconds = leaseMilliseconds
        self.key = key
        self.group = group
        self.enqueuedAt = enqueuedAt
        self.runAt = runAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.progress = progress
        self.progressNote = progressNote
        self.lastError = lastError
        self.result = result
        self.payloadBytes = payloadBytes
    }

    /// The INSPECT document.
    public var json: String {
        func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
        var writer = JSONObjectWriter()
        writer.add("id", Int(id))
        writer.add("queue", queue)
        writer.add("state", state)
        writer.add("priority", priority)
        writer.add("attempts", attempts)
        writer.add("max_attempts", maxAttempts)
        writer.add("backoff", backoff.text)
        writer.add("jitter", jitter)
        writer.add("lease_ms", leaseMilliseconds)
        writer.add("key", text(key))
        writer.add("group", text(group))
        writer.add("enqueued_at", Int(enqueuedAt))
        writer.add("run_at", Int(runAt))
        writer.add("started_at", startedAt.map { Int($0) })
        writer.add("finished_at", finishedAt.map { Int($0) })
        writer.add("progress", progress)
        writer.add("progress_note", text(progressNote))
        writer.add("last_error", text(lastError))
        // Next to the last error, not at the end: clients that match a document's last field keep working.
        if let failedAttempts { writer.add("failed_attempts", json: "[" + failedAttempts.map(\.json).joined(separator: ",") + "]") }
        writer.add("result", text(result))
        writer.add("payload_bytes", payloadBytes)
        writer.add("expires_at", expiresAt.map { Int($0) })
        if let parents {
            writer.add("parents", json: Self.idArray(parents))
            writer.add("on_parent_dead", (parentDeathPolicy ?? .fail).rawValue)
        }
        if let children { writer.add("children", json: Self.idArray(children)) }
        if childrenTruncated { writer.add("children_truncated", true) }
        if let keyUntil { writer.add("key_until", Int(keyUntil)) }
        return writer.result
    }

    static func idArray(_ ids: [UInt64]) -> String { "[" + ids.map { String($0) }.joined(separator: ",") + "]" }

    /// The most jobs a reply within `budget` can hold: no job's document is shorter than one
    /// with every field at its shortest, and the first always goes in. A store asked for more
    /// (DEAD takes limits up to 9,999,999,999) reads no more than this.
    public static func mostFitting(_ budget: ReplyBudget) -> Int {
        budget.bytes / (shortestDocumentBytes + 1) + 1
    }

    static let shortestDocumentBytes = JobView(
        id: 0, queue: "", state: "", priority: 0, attempts: 0, maxAttempts: 0, backoff: .fixed(milliseconds: 0), jitter: 0,
        leaseMilliseconds: 0, key: [], group: [], enqueuedAt: 0, runAt: 0, startedAt: 0, finishedAt: 0, progress: 0, progressNote: [],
        lastError: [], result: [], payloadBytes: 0, expiresAt: 0
    ).json.utf8.count

    /// DEAD's array: the jobs that fit the budget (see `ReplyBudget`), views made as they go in.
    public static func array(count: Int, budget: ReplyBudget, _ view: (Int) -> JobView) -> String {
        budget.array(count: count) { view($0).json }.json
    }
}

/// How large a reply that lists jobs (DEAD, LIST, PARENTS, and the same through `$DOCKET.API`
/// and the dashboard) may grow: it stops taking jobs once it holds `bytes`. A job's error,
/// result and note may each be as large as a payload, and control bytes take six in JSON, so
/// without it one command could make the server build, hold and send a document of gigabytes
/// while every other client waits. The first item always goes in, so paging moves on.
public struct ReplyBudget: Sendable {
    public let bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    /// The JSON array of the items `item` makes for `0..<count`, as many as fit; and how many.
    public func array(count: Int, _ item: (Int) -> String) -> (json: String, count: Int) {
        var json = "["
        var included = 0
        while included < count {
            let next = item(included)
            if included > 0 {
                guard json.utf8.count + 1 + next.utf8.count + 1 <= bytes else { break }
                json += ","
            }
            json += next
            included += 1
        }
        return (json + "]", included)
    }
}

/// One parent of a job, as PARENTS shows it: its state and outcome, or only its id once it
/// has been deleted.
public struct ParentView: Sendable, Equatable {
    public var id: UInt64
    public var queue: String?
    /// nil: the job is gone (deleted).
    public var state: String?
    public var result: [UInt8]?
    public var lastError: [UInt8]?
    /// The store left the outcome out, as past the reply's budget: shown as `truncated`.
    public var outcomeWithheld = false

    public init(id: UInt64, queue: String?, state: String?, result: [UInt8]?, lastError: [UInt8]?) {
        self.id = id
        self.queue = queue
        self.state = state
        self.result = result
        self.lastError = lastError
    }

    public var json: String { json(withOutcome: true) }

    /// Without its outcome, `result` and `error` are null and `truncated` says why.
    func json(withOutcome: Bool) -> String {
        var writer = JSONObjectWriter()
        writer.add("id", Int(id))
        guard let state else {
            writer.add("state", "deleted")
            return writer.result
        }
        writer.add("queue", queue)
        writer.add("state", state)
        writer.add("result", withOutcome ? result.map { String(decoding: $0, as: UTF8.self) } : nil)
        writer.add("error", withOutcome ? lastError.map { String(decoding: $0, as: UTF8.self) } : nil)
        if !withOutcome { writer.add("truncated", true) }
        return writer.result
    }

    /// PARENTS' array. Every parent is in it; once the reply holds the budget's bytes, the
    /// parents after that come without their result and error (`"truncated":true`; INSPECT
    /// gives them), so a child of 100 parents with large results gets a bounded answer.
    public static func array(_ parents: [ParentView], budget: ReplyBudget) -> String {
        var json = "["
        // Once one outcome did not fit, the later ones are not even built: each may be
        // megabytes of escaping that would only be thrown away.
        var full = false
        for (index, parent) in parents.enumerated() {
            if index > 0 { json += "," }
            if parent.outcomeWithheld { full = true }
            guard !full || (parent.result == nil && parent.lastError == nil && !parent.outcomeWithheld) else {
                json += parent.json(withOutcome: false)
                continue
            }
            let whole = parent.json
            if index == 0 || json.utf8.count + whole.utf8.count + 1 <= budget.bytes {
                json += whole
            } else {
                full = true
                json += parent.json(withOutcome: false)
            }
        }
        return json + "]"
    }
}

/// One LIST page.
public enum JobPageView {
    /// The page of `count` jobs in order (`more`: jobs follow them), as many as fit the budget;
    /// `next` names the last one shown whenever any were left out.
    public static func json(
        queue: String, state: JobListState, count: Int, more: Bool, budget: ReplyBudget,
        job: (Int) -> JobView, cursor: (Int) -> JobListCursor
    ) -> String {
        let (jobs, shown) = budget.array(count: count) { job($0).json }
        var writer = JSONObjectWriter()
        writer.add("queue", queue)
        writer.add("state", state.rawValue)
        writer.add("jobs", json: jobs)
        writer.add("next", shown > 0 && (shown < count || more) ? cursor(shown - 1).text : nil)
        return writer.result
    }
}

/// One queue, as QUEUE shows it: its settings (with the defaults filled in), its jobs per
/// state, what it has done, and what holds it back.
public struct QueueView: Sendable {
    public var name: String
    public var paused: Bool
    public var rate: Rate?
    public var groupRate: Rate?
    public var concurrency: Int?
    public var maxAttempts: Int
    public var backoff: Backoff
    public var jitter: Double
    public var leaseMilliseconds: Int
    public var keepCompleted: Int
    public var keepDead: Int
    /// Jobs per state: waiting, delayed, active, completed, dead, blocked.
    public var counts: [Int]
    /// enqueued, started, completed, failed, dead, throttled, removed, deleted.
    public var totals: [Int]
    /// Per second over the last minute: started, completed, failed, dead.
    public var rates: [Double]
    public var oldestWaitingMilliseconds: Int?
    public var waitingWorkers: Int
    public var rateWindowStarts: Int?
    /// When the next job may start, if something holds the queue back, and what.
    public var nextStartAt: Int?
    public var blockedBy: String?
    public var heldUntil: Int?

    public static let stateNames = ["waiting", "delayed", "active", "completed", "dead", "blocked"]
    public static let totalNames = ["enqueued", "started", "completed", "failed", "dead", "throttled", "removed", "deleted"]
    public static let rateNames = ["started_per_s", "completed_per_s", "failed_per_s", "dead_per_s"]

    public init(name: String) {
        self.name = name
        paused = false
        maxAttempts = 3
        backoff = .default
        jitter = 0
        leaseMilliseconds = 30_000
        keepCompleted = 1000
        keepDead = 10_000
        counts = Array(repeating: 0, count: Self.stateNames.count)
        totals = Array(repeating: 0, count: Self.totalNames.count)
        rates = Array(repeating: 0, count: Self.rateNames.count)
        waitingWorkers = 0
    }

    /// The QUEUE document.
    public var json: String {
        var config = JSONObjectWriter()
        config.add("rate", rate?.text)
        config.add("group_rate", groupRate?.text)
        config.add("concurrency", concurrency)
        config.add("attempts", maxAttempts)
        config.add("backoff", backoff.text)
        config.add("jitter", jitter)
        config.add("lease_ms", leaseMilliseconds)
        config.add("keep_completed", keepCompleted)
        config.add("keep_dead", keepDead)
        var jobs = JSONObjectWriter()
        for (name, count) in zip(Self.stateNames, counts) { jobs.add(name, count) }
        var done = JSONObjectWriter()
        for (name, count) in zip(Self.totalNames, totals) { done.add(name, count) }
        var perSecond = JSONObjectWriter()
        for (name, rate) in zip(Self.rateNames, rates) { perSecond.add(name, rate) }
        var document = JSONObjectWriter()
        document.add("queue", name)
        document.add("paused", paused)
        document.add("config", json: config.result)
        document.add("jobs", json: jobs.result)
        document.add("totals", json: done.result)
        document.add("rates", json: perSecond.result)
        document.add("oldest_waiting_ms", oldestWaitingMilliseconds)
        document.add("active", counts[2])
        document.add("waiting_workers", waitingWorkers)
        document.add("rate_window_starts", rateWindowStarts)
        document.add("next_start_at", nextStartAt)
        document.add("blocked_by", blockedBy)
        document.add("held_until", heldUntil)
        return document.result
    }
}

/// CHILDREN's page: `{"id":…,"children":[…],"next":…}`. `next` is the next page's `after=`
/// (the last child shown), or null after the last page.
public enum ChildrenPage {
    /// `children`: the page's ids a reader may see; `next`: the cursor if they all fit (nil:
    /// this is the last page). Ids past the budget are left to the next page.
    public static func json(parent: UInt64, children: [UInt64], next: UInt64?, budget: ReplyBudget) -> String {
        // Room for the object around the array: `{"id":<20 digits>,"children":,"next":<20 digits>}`.
        let (list, shown) = ReplyBudget(bytes: max(budget.bytes - 64, 0)).array(count: children.count) { String(children[$0]) }
        var writer = JSONObjectWriter()
        writer.add("id", json: String(parent))
        writer.add("children", json: list)
        let cursor = shown < children.count ? children[shown - 1] : next
        writer.add("next", json: cursor.map { String($0) } ?? "null")
        return writer.result
    }

    /// The ids and the cursor of a page `json` wrote (the dashboard follows a page with each
    /// child's document); nil for text it did not write.
    public static func parse(_ text: String) -> (children: [UInt64], next: UInt64?)? {
        guard let open = text.firstRange(of: #""children":["#), let close = text[open.upperBound...].firstIndex(of: "]"),
            let nextKey = text[close...].firstRange(of: #""next":"#)
        else { return nil }
        let list = text[open.upperBound..<close]
        let children = list.isEmpty ? [] : list.split(separator: ",").compactMap { UInt64($0) }
        let next = UInt64(text[nextKey.upperBound...].prefix { $0.isNumber })
        return (children, next)
    }
}
