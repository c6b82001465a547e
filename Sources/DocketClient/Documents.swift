import DocketWire

// Typed views of the server's JSON documents: QUEUE, QUEUES, STATS, ROUTES (PROTOCOL.md 4b).
// Each keeps the whole document in `json` (keys this client does not know included, for a later
// server's additions) and reads its fields from it; a key the server did not send reads as nil
// (or 0 for counts). `document["key"]` reads any key, as on the `JSONValue`.

extension JSONValue {
    /// A job id (a whole number from 1), or nil.
    var idValue: UInt64? {
        guard let number = numberValue, number >= 1, number < 1e19, number == number.rounded() else { return nil }
        return UInt64(number)
    }
    /// An array of job ids, or nil when this is not an array.
    var idList: [UInt64]? {
        guard case .array(let items) = self else { return nil }
        return items.compactMap(\.idValue)
    }
}

/// The queue document: `QUEUE <queue>`, and each element of `QUEUES`.
public struct QueueInfo: Sendable, Equatable {
    /// The whole document.
    public let json: JSONValue

    public init(_ json: JSONValue) { self.json = json }

    public var queue: String { json["queue"]?.stringValue ?? "" }
    /// PAUSE is in force: nothing of the queue starts.
    public var paused: Bool { json["paused"]?.boolValue ?? false }
    /// Every setting, defaults filled in.
    public var config: QueueConfig { QueueConfig(json["config"] ?? .object([:])) }
    /// Jobs per state now.
    public var jobs: QueueJobCounts { QueueJobCounts(json["jobs"] ?? .object([:])) }
    /// Counters over the queue's whole life (they survive restarts).
    public var totals: QueueTotals { QueueTotals(json["totals"] ?? .object([:])) }
    /// Events per second over the last minute of this server's run.
    public var rates: QueueRates { QueueRates(json["rates"] ?? .object([:])) }
    /// Age of the longest-waiting job, or nil.
    public var oldestWaitingMilliseconds: Int? { json["oldest_waiting_ms"]?.intValue }
    /// Jobs active now.
    public var active: Int { json["active"]?.intValue ?? 0 }
    /// Workers waiting in RESERVE on the queue.
    public var waitingWorkers: Int { json["waiting_workers"]?.intValue ?? 0 }
    /// Starts in the current rate window (nil without a rate).
    public var rateWindowStarts: Int? { json["rate_window_starts"]?.intValue }
    /// Unix ms when a held queue may start again (nil when nothing holds it, or only a change frees it).
    public var nextStartAt: Int64? { json["next_start_at"]?.int64Value }
    /// Why nothing starts now: `paused`, `concurrency`, `throttle`, `rate`; nil when nothing holds it.
    public var blockedBy: String? { json["blocked_by"]?.stringValue }
    /// When a throttle ends (unix ms), or nil.
    public var heldUntil: Int64? { json["held_until"]?.int64Value }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// A queue's settings (`config` of the queue document), defaults filled in.
public struct QueueConfig: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    /// `"100/1000ms"` (the server writes the window in ms), or nil: no limit.
    public var rate: String? { json["rate"]?.stringValue }
    /// The same per group, or nil.
    public var groupRate: String? { json["group_rate"]?.stringValue }
    /// At most this many jobs active at once, or nil: no limit.
    public var concurrency: Int? { json["concurrency"]?.intValue }
    /// The default attempts of jobs enqueued from now on.
    public var attempts: Int { json["attempts"]?.intValue ?? 0 }
    /// The default backoff, as `"exp:1000ms:3600000ms"` or `"fixed:5000ms"`.
    public var backoff: String { json["backoff"]?.stringValue ?? "" }
    public var jitter: Double { json["jitter"]?.numberValue ?? 0 }
    public var leaseMilliseconds: Int { json["lease_ms"]?.intValue ?? 0 }
    public var keepCompleted: Int { json["keep_completed"]?.intValue ?? 0 }
    public var keepDead: Int { json["keep_dead"]?.intValue ?? 0 }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// Jobs of a queue per state (`jobs` of the queue document).
public struct QueueJobCounts: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    public var waiting: Int { json["waiting"]?.intValue ?? 0 }
    public var delayed: Int { json["delayed"]?.intValue ?? 0 }
    /// Waiting for their parents (`after=`).
    public var blocked: Int { json["blocked"]?.intValue ?? 0 }
    public var active: Int { json["active"]?.intValue ?? 0 }
    public var completed: Int { json["completed"]?.intValue ?? 0 }
    public var dead: Int { json["dead"]?.intValue ?? 0 }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// Counters over a queue's whole life (`totals`). At any time
/// `enqueued = waiting + delayed + active + completed + dead + removed + deleted`.
public struct QueueTotals: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    public var enqueued: Int { json["enqueued"]?.intValue ?? 0 }
    /// Attempts started.
    public var started: Int { json["started"]?.intValue ?? 0 }
    public var completed: Int { json["completed"]?.intValue ?? 0 }
    /// Attempts ended by FAIL, lease expiry, a lost worker or a restart.
    public var failed: Int { json["failed"]?.intValue ?? 0 }
    public var dead: Int { json["dead"]?.intValue ?? 0 }
    public var throttled: Int { json["throttled"]?.intValue ?? 0 }
    /// Finished jobs removed by retention.
    public var removed: Int { json["removed"]?.intValue ?? 0 }
    /// Jobs removed by DEL.
    public var deleted: Int { json["deleted"]?.intValue ?? 0 }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// Events per second over the last minute (`rates`), each counting only its own event.
public struct QueueRates: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    public var startedPerSecond: Double { json["started_per_s"]?.numberValue ?? 0 }
    public var completedPerSecond: Double { json["completed_per_s"]?.numberValue ?? 0 }
    public var failedPerSecond: Double { json["failed_per_s"]?.numberValue ?? 0 }
    public var deadPerSecond: Double { json["dead_per_s"]?.numberValue ?? 0 }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// The server's counters (`STATS`).
public struct ServerStats: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    public var serverID: String { json["server_id"]?.stringValue ?? "" }
    /// The NATS server version whose protocol docketd speaks (`2.9.0`).
    public var version: String { json["version"]?.stringValue ?? "" }
    /// docketd's own version.
    public var docketVersion: String { json["docket_version"]?.stringValue ?? "" }
    public var uptimeMilliseconds: Int64 { json["uptime_ms"]?.int64Value ?? 0 }
    public var connections: Int { json["connections"]?.intValue ?? 0 }
    public var totalConnections: Int { json["total_connections"]?.intValue ?? 0 }
    public var refusedConnections: Int { json["refused_connections"]?.intValue ?? 0 }
    public var subscriptions: Int { json["subscriptions"]?.intValue ?? 0 }
    public var slowConsumers: Int { json["slow_consumers"]?.intValue ?? 0 }
    public var inMessages: Int64 { json["in_msgs"]?.int64Value ?? 0 }
    public var outMessages: Int64 { json["out_msgs"]?.int64Value ?? 0 }
    /// Message payload bytes published (header blocks included, protocol overhead not).
    public var inBytes: Int64 { json["in_bytes"]?.int64Value ?? 0 }
    public var outBytes: Int64 { json["out_bytes"]?.int64Value ?? 0 }
    /// Jobs the server holds, in every state.
    public var jobs: Int { json["jobs"]?.intValue ?? 0 }
    public var queues: Int { json["queues"]?.intValue ?? 0 }
    public var commits: Int64 { json["commits"]?.int64Value ?? 0 }
    /// Time from submitting each commit to its completion, summed, in microseconds.
    public var commitMicrosecondsTotal: Int64 { json["commit_us_total"]?.int64Value ?? 0 }
    public var storeUsedBytes: Int64 { json["store_used_bytes"]?.int64Value ?? 0 }
    public var storeCapacityBytes: Int64 { json["store_capacity_bytes"]?.int64Value ?? 0 }
    public var storeFileBytes: Int64 { json["store_file_bytes"]?.int64Value ?? 0 }
    /// `always` or `none` (`--sync`).
    public var sync: String { json["sync"]?.stringValue ?? "" }
    public var maxPayload: Int { json["max_payload"]?.intValue ?? 0 }
    /// Published messages whose routed jobs the store refused.
    public var routeRefusals: Int64 { json["route_refusals"]?.int64Value ?? 0 }
    /// Schedule ticks that made no job for want of room.
    public var skippedTicks: Int64 { json["skipped_ticks"]?.int64Value ?? 0 }
    /// ENQs that waited for the write-ahead log's checkpoints to catch up (embedded store).
    public var checkpointWaits: Int64 { json["checkpoint_waits"]?.int64Value ?? 0 }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// One route (`ROUTES`): messages on `pattern` become jobs on `queue`.
public struct RouteInfo: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    public var id: UInt64 { json["id"]?.uint64Value ?? 0 }
    public var pattern: String { json["pattern"]?.stringValue ?? "" }
    public var queue: String { json["queue"]?.stringValue ?? "" }
    /// The route as written: pattern, queue and options.
    public var rule: String { json["rule"]?.stringValue ?? "" }
    /// The user whose rights it runs with (servers with users configured), or nil.
    public var owner: String? { json["owner"]?.stringValue }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// One LIST page: jobs of a queue in one state, in that state's order.
public struct JobPage: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    public var queue: String { json["queue"]?.stringValue ?? "" }
    public var state: JobState? { json["state"]?.stringValue.flatMap(JobState.init(rawValue:)) }
    public var jobs: [JobInfo] {
        guard case .array(let items)? = json["jobs"] else { return [] }
        return items.map(JobInfo.init)
    }
    /// The cursor for the next page (`after:`); nil on the last page.
    public var next: String? { json["next"]?.stringValue }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// One element of SCHEDULES.
public struct ScheduleInfo: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    public var name: String { json["name"]?.stringValue ?? "" }
    public var queue: String { json["queue"]?.stringValue ?? "" }
    /// The cron expression, or nil for an `every=` schedule.
    public var cron: String? { json["cron"]?.stringValue }
    /// The zone a cron expression is read in.
    public var timeZone: String? { json["tz"]?.stringValue }
    /// The interval of an `every=` schedule, or nil.
    public var everyMilliseconds: Int? { json["every_ms"]?.intValue }
    public var catchup: ScheduleCatchup? { json["catchup"]?.stringValue.flatMap(ScheduleCatchup.init(rawValue:)) }
    /// The SCHEDULE arguments, as given.
    public var rule: String { json["rule"]?.stringValue ?? "" }
    public var payloadBytes: Int { json["payload_bytes"]?.intValue ?? 0 }
    public var paused: Bool { json["paused"]?.boolValue ?? false }
    public var createdAt: Int64? { json["created_at"]?.int64Value }
    /// The tick handled last (unix ms), or nil.
    public var lastTick: Int64? { json["last_tick"]?.int64Value }
    /// The next three ticks (unix ms); empty while paused.
    public var next: [Int64] {
        guard case .array(let items)? = json["next"] else { return [] }
        return items.compactMap(\.int64Value)
    }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// One element of PARENTS: a job another was enqueued `after=`, with its outcome so far.
/// One page of a job's children (`CHILDREN <id>`): the ids of the jobs enqueued `after=` it that
/// still exist, in id order. INSPECT lists the first 1000 only.
public struct ChildrenPage: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    public var id: UInt64 { json["id"]?.idValue ?? 0 }
    public var children: [UInt64] { json["children"]?.idList ?? [] }
    /// The `after` of the page that follows; nil on the last page.
    public var next: UInt64? { json["next"]?.idValue }
}

public struct ParentInfo: Sendable, Equatable {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    public var id: UInt64 { json["id"]?.idValue ?? 0 }
    /// The parent's queue; nil once it is deleted.
    public var queue: String? { json["queue"]?.stringValue }
    /// The parent's state now (`completed`, `dead`, `waiting`, …), or `deleted` when it is gone.
    public var state: String { json["state"]?.stringValue ?? "" }
    /// Whether the parent was deleted (DEL, PURGE) since.
    public var isDeleted: Bool { state == "deleted" }
    /// Its result (of a completed parent) as UTF-8 text, or nil.
    public var result: String? { json["result"]?.stringValue }
    /// Its last error (of a dead one, or one that failed an attempt), or nil.
    public var error: String? { json["error"]?.stringValue }

    public subscript(key: String) -> JSONValue? { json[key] }
}
