import DocketWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The JSON value type the client returns documents in (re-exported from DocketWire).
public typealias JSONValue = DocketWire.JSONValue

/// One header line of an `HPUB`/`HMSG`.
public struct Header: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A message delivered to a subscription.
public struct Message: Sendable, Equatable {
    /// The concrete subject it was published on.
    public let subject: String
    /// The subscription id it arrived for.
    public let sid: String
    /// The reply subject, if the publisher gave one.
    public let reply: String?
    /// The header lines in order (nil for a plain `MSG`).
    public let headers: [Header]?
    /// The status of a `NATS/1.0 <status> <description>` line (503: no responders).
    public let status: Int?
    public let statusDescription: String?
    /// The payload (without the header block).
    public let payload: [UInt8]

    public init(
        subject: String, sid: String, reply: String? = nil, headers: [Header]? = nil, status: Int? = nil,
        statusDescription: String? = nil, payload: [UInt8]
    ) {
        self.subject = subject
        self.sid = sid
        self.reply = reply
        self.headers = headers
        self.status = status
        self.statusDescription = statusDescription
        self.payload = payload
    }

    /// The payload as UTF-8 text.
    public var text: String { String(decoding: payload, as: UTF8.self) }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers?.first { $0.name.lowercased() == wanted }?.value
    }
}

/// A job handed out by RESERVE.
public struct Job: Sendable, Equatable {
    public let id: UInt64
    public let queue: String
    /// Which run this is, from 1. Commands about the job name it, so a stale one is refused.
    public let attempt: Int
    public let payload: [UInt8]
    /// The job's lease (the server's `lease=`), nil from a server that does not send it.
    public let leaseMilliseconds: Int?
    /// This hand-out's number, unique for the server's data directory, crashes included: the
    /// key for side effects that must happen once per run (the attempt can repeat after a crash).
    public let delivery: UInt64?

    public init(id: UInt64, queue: String, attempt: Int, payload: [UInt8], leaseMilliseconds: Int? = nil, delivery: UInt64? = nil) {
        self.id = id
        self.queue = queue
        self.attempt = attempt
        self.payload = payload
        self.leaseMilliseconds = leaseMilliseconds
        self.delivery = delivery
    }

    /// The payload as UTF-8 text.
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// The answer to ENQ.
public struct Enqueued: Sendable, Equatable {
    public let id: UInt64
    /// True when the idempotency key named a job the queue still knows: nothing was created.
    public let duplicate: Bool
    /// True when `replace` gave the waiting or delayed job with this key the new payload and
    /// run time (debounce): nothing was created.
    public let replaced: Bool
    public init(id: UInt64, duplicate: Bool, replaced: Bool = false) {
        self.id = id
        self.duplicate = duplicate
        self.replaced = replaced
    }
}

/// What FAIL did with the job.
public enum FailOutcome: Sendable, Equatable {
    /// It runs again after this many milliseconds.
    case retry(afterMilliseconds: Int)
    /// No attempts left, or `retry=no`: it is dead.
    case dead
    /// `throttle=`: it went back to waiting without using an attempt; the queue (or group) is held this long.
    case throttled(milliseconds: Int)
}

/// How a failed attempt should be retried.
public enum RetryPolicy: Sendable, Equatable {
    /// The job's backoff decides (the default).
    case backoff
    /// Retry after exactly this long (still only if attempts are left).
    case after(DocketDuration)
    /// Do not retry: the job is dead at once (a non-retryable error).
    case never
}

/// What a throttle holds.
public enum ThrottleScope: String, Sendable {
    /// The whole queue.
    case queue
    /// Only the jobs of the failed job's group.
    case group
}

/// The answer to WAIT.
public enum WaitOutcome: Sendable, Equatable {
    /// The job completed; its result.
    case completed(result: [UInt8])
    /// The job is dead; its last error.
    case dead(error: [UInt8])
    /// The timeout passed first; the job's state now.
    case pending(state: String)

    /// The result or error as text (nil while pending).
    public var text: String? {
        switch self {
        case .completed(let bytes), .dead(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .pending: return nil
        }
    }
}

/// How long to wait before each retry.
public struct Backoff: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    enum Storage: Sendable, Hashable {
        case text(String)
        case fixed(DocketDuration)
        case exponential(DocketDuration, DocketDuration?)
    }

    let storage: Storage

    /// `fixed:<duration>`, `exp:<base>` or `exp:<base>:<cap>`, as the server reads it.
    public init(stringLiteral value: String) { storage = .text(value) }
    public init(_ text: String) { storage = .text(text) }
    private init(storage: Storage) { self.storage = storage }

    /// Wait the same time before every retry.
    public static func fixed(_ delay: DocketDuration) -> Backoff { Backoff(storage: .fixed(delay)) }
    /// Wait base × 2^(attempt-1), at most cap (the server's default cap is one hour).
    public static func exponential(base: DocketDuration, cap: DocketDuration? = nil) -> Backoff {
        Backoff(storage: .exponential(base, cap))
    }

    func wireText() throws(DocketError) -> String {
        switch storage {
        case .fixed(let delay): return "fixed:" + (try delay.wireText())
        case .exponential(let base, let cap):
            var text = "exp:" + (try base.wireText())
            if let cap { text += ":" + (try cap.wireText()) }
            return try Backoff(text).wireText()
        case .text(let text):
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let valid: Bool
            switch (parts.first, parts.count) {
            case ("fixed", 2): valid = DocketDuration.isValidText(parts[1])
            case ("exp", 2): valid = DocketDuration.isValidText(parts[1])
            case ("exp", 3): valid = DocketDuration.isValidText(parts[1]) && DocketDuration.isValidText(parts[2])
            default: valid = false
            }
            guard valid else { throw .badArgument("backoff \"\(text)\" is not fixed:<duration> or exp:<base>[:<cap>]") }
            if parts[0] == "exp" {
                let base = Units.milliseconds(parts[1]) ?? 0
                guard base > 0 else { throw .badArgument("backoff \"\(text)\": the base must be longer than zero") }
                if parts.count == 3, (Units.milliseconds(parts[2]) ?? 0) < base {
                    throw .badArgument("backoff \"\(text)\": the cap must not be shorter than the base")
                }
            }
            return text
        }
    }

    public var description: String {
        if let text = try? wireText() { return text }
        if case .text(let text) = storage { return text }
        return "invalid backoff"
    }
}

/// A job another one waits for (ENQ `after=`): a job by its id, or, inside a `batch`, an
/// earlier job of the same batch, which has no id yet (`#n` on the wire). An integer literal is
/// a job id: `after: [41, 42]`.
public enum JobParent: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// A job by id.
    case job(UInt64)
    /// The n-th job of the same batch, from 1 (`batchItem(1)` is the first).
    case batchItem(Int)

    public init(integerLiteral value: UInt64) { self = .job(value) }

    /// A parent as written on the wire: a job id (`41`), or `#<n>` for a job of the same batch;
    /// nil for anything else.
    public init?(_ text: String) {
        let digits = text.hasPrefix("#") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.utf8.count <= 19, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        if text.hasPrefix("#") {
            guard let position = Int(digits) else { return nil }
            self = .batchItem(position)
        } else {
            guard let id = UInt64(digits) else { return nil }
            self = .job(id)
        }
    }

    /// As written on the wire: `41`, or `#2`.
    public var description: String {
        switch self {
        case .job(let id): return String(id)
        case .batchItem(let position): return "#\(position)"
        }
    }
}

/// What a parent's death (no attempts left, `retry=no`, expiry, its own parent's death) or
/// deletion does to a job enqueued `after=` it: the job dies too, without running (`.fail`,
/// with `last_error` `parent <id> dead`), or counts that parent as done (`.run`).
public typealias ParentDeathPolicy = DocketWire.ParentDeathPolicy

/// ENQ options (PROTOCOL.md 4b); nil leaves the queue's default.
public struct JobOptions: Sendable, Equatable {
    /// Run no sooner than this from now (not with `at`).
    public var delay: DocketDuration?
    /// Run no sooner than this time, in unix seconds (not with `delay`).
    public var at: Int64?
    /// Lower runs first, -1000000...1000000.
    public var priority: Int?
    /// Most times the job may run, 1...1000.
    public var attempts: Int?
    public var backoff: Backoff?
    /// Spread each backoff wait randomly, downwards, by up to this fraction (0...1).
    public var jitter: Double?
    /// How long a worker may hold the job without ACK, FAIL, PROGRESS or TOUCH.
    public var lease: DocketDuration?
    /// Idempotency key, 1...200 bytes without blanks.
    public var key: String?
    /// The group (tenant, customer) whose `group_rate` applies, 1...200 bytes without blanks.
    public var group: String?
    /// Not started within this long after the ENQ, the job is not run: it becomes dead
    /// (`expired`). Not with `expires`.
    public var ttl: DocketDuration?
    /// The same by a time, in unix milliseconds (not with `ttl`; not for routes or schedules).
    public var expires: Int64?
    /// The jobs this one waits for (its parents): it is `blocked` until every one of them has
    /// completed. 1 to 100, each once; `.batchItem(n)` only inside a `batch`, naming an earlier
    /// job of it. Not for routes or schedules.
    public var after: [JobParent]?
    /// What a parent's death (or deletion) does to this job: it dies too (`.fail`, the
    /// server's default), or counts that parent as done (`.run`).
    public var onParentDead: ParentDeathPolicy?
    /// With `key`: remember the key at least this long after the ENQ, even once retention
    /// has removed the job (a deduplication window).
    public var keyTTL: DocketDuration?
    /// With `key`: a duplicate of a job still waiting or delayed replaces its payload and run
    /// time (debounce) instead of being ignored.
    public var replace: Bool

    public init(
        delay: DocketDuration? = nil, at: Int64? = nil, priority: Int? = nil, attempts: Int? = nil,
        backoff: Backoff? = nil, jitter: Double? = nil, lease: DocketDuration? = nil, key: String? = nil,
        group: String? = nil, ttl: DocketDuration? = nil, expires: Int64? = nil, after: [JobParent]? = nil,
        onParentDead: ParentDeathPolicy? = nil, keyTTL: DocketDuration? = nil, replace: Bool = false
    ) {
        self.keyTTL = keyTTL
        self.replace = replace
        self.ttl = ttl
        self.expires = expires
        self.after = after
        self.onParentDead = onParentDead
        self.delay = delay
        self.at = at
        self.priority = priority
        self.attempts = attempts
        self.backoff = backoff
        self.jitter = jitter
        self.lease = lease
        self.key = key
        self.group = group
    }
}

/// One `QUEUE <queue> <setting>=<value>` change. `reset(_:)` returns a setting to its default.
public struct QueueSetting: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let value: String

    /// A setting by name, with its value in the server's syntax (`rate`, `100/1s`).
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    /// At most `count` jobs started in any window of this length, across all workers.
    public static func rate(_ count: Int, per window: DocketDuration) -> QueueSetting {
        QueueSetting("rate", "\(count)/\(window.description)")
    }
    /// A rate written `100/1s`, `100/s` or `5/250ms`.
    public static func rate(_ text: String) -> QueueSetting { QueueSetting("rate", text) }
    /// The same limit, for each group separately.
    public static func groupRate(_ count: Int, per window: DocketDuration) -> QueueSetting {
        QueueSetting("group_rate", "\(count)/\(window.description)")
    }
    public static func groupRate(_ text: String) -> QueueSetting { QueueSetting("group_rate", text) }
    /// At most this many jobs of the queue active at once.
    /// At most this many jobs of the queue active at once (1...100000).
    public static func concurrency(_ count: Int) -> QueueSetting { QueueSetting("concurrency", String(count)) }
    /// The default attempts of jobs enqueued from now on (1...1000).
    public static func attempts(_ count: Int) -> QueueSetting { QueueSetting("attempts", String(count)) }
    public static func backoff(_ backoff: Backoff) -> QueueSetting { QueueSetting("backoff", backoff.description) }
    /// The default jitter (0...1).
    public static func jitter(_ fraction: Double) -> QueueSetting {
        QueueSetting("jitter", fraction.isFinite && (0...1).contains(fraction) ? Wire.decimal(fraction) : "\(fraction)")
    }
    public static func lease(_ lease: DocketDuration) -> QueueSetting { QueueSetting("lease", lease.description) }
    public static func keepCompleted(_ count: Int) -> QueueSetting { QueueSetting("keep_completed", String(count)) }
    public static func keepDead(_ count: Int) -> QueueSetting { QueueSetting("keep_dead", String(count)) }
    /// Back to the default (or no limit).
    public static func reset(_ name: String) -> QueueSetting { QueueSetting(name, "none") }

    /// The names the server knows.
    public static let names: Set<String> = Set(order)

    /// The names in the order of PROTOCOL.md's table, the order they are sent in.
    public static let order = ["rate", "group_rate", "concurrency", "attempts", "backoff", "jitter", "lease", "keep_completed", "keep_dead"]

    public var description: String { "\(name)=\(value)" }
}

/// A job document (INSPECT, DEAD): typed fields, and the document itself.
public struct JobInfo: Sendable, Equatable {
    /// The whole document.
    public let json: JSONValue

    public init(_ json: JSONValue) { self.json = json }

    public var id: UInt64 { json["id"]?.uint64Value ?? 0 }
    public var queue: String { json["queue"]?.stringValue ?? "" }
    /// `waiting`, `delayed`, `blocked` (waiting for its parents), `active`, `completed` or `dead`.
    public var state: String { json["state"]?.stringValue ?? "" }
    public var priority: Int { json["priority"]?.intValue ?? 0 }
    /// Runs so far.
    public var attempts: Int { json["attempts"]?.intValue ?? 0 }
    public var maxAttempts: Int { json["max_attempts"]?.intValue ?? 0 }
    public var leaseMilliseconds: Int? { json["lease_ms"]?.intValue }
    public var key: String? { json["key"]?.stringValue }
    public var group: String? { json["group"]?.stringValue }
    public var progress: Int? { json["progress"]?.intValue }
    public var progressNote: String? { json["progress_note"]?.stringValue }
    public var lastError: String? { json["last_error"]?.stringValue }
    public var result: String? { json["result"]?.stringValue }
    public var payloadBytes: Int { json["payload_bytes"]?.intValue ?? 0 }
    /// Unix milliseconds, or nil.
    public var enqueuedAt: Int64? { json["enqueued_at"]?.int64Value }
    public var runAt: Int64? { json["run_at"]?.int64Value }
    public var startedAt: Int64? { json["started_at"]?.int64Value }
    public var finishedAt: Int64? { json["finished_at"]?.int64Value }
    /// Not started by then, the job is not run (unix ms), or nil.
    public var expiresAt: Int64? { json["expires_at"]?.int64Value }
    /// The jobs it was enqueued `after=`, in that order; empty for a job without parents.
    public var parents: [UInt64] { json["parents"]?.idList ?? [] }
    /// What a parent's death does to it (nil for a job without parents).
    public var onParentDead: ParentDeathPolicy? { json["on_parent_dead"]?.stringValue.flatMap(ParentDeathPolicy.init(rawValue:)) }
    /// The jobs enqueued `after=` it that still exist; empty when none. INSPECT gives the
    /// first 1000 by id (`childrenTruncated` when there are more: `CHILDREN <id>` pages).
    public var children: [UInt64] { json["children"]?.idList ?? [] }
    public var childrenTruncated: Bool { json["children_truncated"]?.boolValue ?? false }
    /// Its attempt history (INSPECT only): the attempts that ended without completing it, the
    /// last 10, oldest first; empty for a job that never failed (or from an older server).
    public var failedAttempts: [FailedAttemptInfo] {
        guard case .array(let items)? = json["failed_attempts"] else { return [] }
        return items.compactMap { item in
            guard let attempt = item["attempt"]?.intValue, let ended = item["ended_at"]?.int64Value else { return nil }
            return FailedAttemptInfo(attempt: attempt, startedAt: item["started_at"]?.int64Value, endedAt: ended, error: item["error"]?.stringValue)
        }
    }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// An attempt that ended without completing its job: a FAIL, a lease that ran out (`error`
/// `stalled: …`), a worker that went (`worker lost: …`).
public struct FailedAttemptInfo: Sendable, Equatable {
    public let attempt: Int
    /// Unix milliseconds.
    public let startedAt: Int64?
    public let endedAt: Int64
    /// The reason FAIL gave, or the server's; nil when FAIL gave none.
    public let error: String?

    public init(attempt: Int, startedAt: Int64?, endedAt: Int64, error: String?) {
        self.attempt = attempt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.error = error
    }
}

/// A lifecycle event published on `$JOB.<queue>.<event>` (PROTOCOL.md 4c).
public struct JobEvent: Sendable, Equatable {
    /// The whole event body.
    public let json: JSONValue
    /// The subject it came on.
    public let subject: String

    /// Reads an event message; nil if its body is not an event.
    public init?(_ message: Message) {
        guard let json = message.payload.withUnsafeBytes({ JSONValue.parse($0) }), json["event"]?.stringValue != nil
        else { return nil }
        self.json = json
        self.subject = message.subject
    }

    /// `enqueued`, `started`, `progress`, `completed`, `failed`, `stalled`, `lost`, `dead`,
    /// `throttled`, `retried`, `scheduled`, `expired`, `waiting`, `blocked` or `unblocked`.
    public var event: String { json["event"]?.stringValue ?? "" }

    /// What happened, to switch on (a later server's events are `.other`).
    public enum Kind: Sendable, Hashable {
        case enqueued, started, progress, completed, failed, stalled, lost, dead, throttled, retried, scheduled, expired, waiting
        /// Enqueued `after=` jobs not all completed (after its `enqueued`): `parents` names them.
        case blocked
        /// Its last parent completed (or died, under `on_parent_dead=run`): waiting or delayed now.
        case unblocked
        case other(String)

        public init(_ name: String) {
            switch name {
            case "enqueued": self = .enqueued
            case "started": self = .started
            case "progress": self = .progress
            case "completed": self = .completed
            case "failed": self = .failed
            case "stalled": self = .stalled
            case "lost": self = .lost
            case "dead": self = .dead
            case "throttled": self = .throttled
            case "retried": self = .retried
            case "scheduled": self = .scheduled
            case "expired": self = .expired
            case "waiting": self = .waiting
            case "blocked": self = .blocked
            case "unblocked": self = .unblocked
            default: self = .other(name)
            }
        }
    }

    /// `event` as a `Kind`.
    public var kind: Kind { Kind(event) }
    /// Per queue, increasing by one per event: a jump means missed events.
    public var seq: Int64 { json["seq"]?.int64Value ?? 0 }
    public var id: UInt64 { json["id"]?.uint64Value ?? 0 }
    public var queue: String { json["queue"]?.stringValue ?? "" }
    public var attempt: Int { json["attempt"]?.intValue ?? 0 }
    public var maxAttempts: Int { json["max_attempts"]?.intValue ?? 0 }
    /// The job's state after the transition.
    public var state: String { json["state"]?.stringValue ?? "" }
    /// Unix milliseconds.
    public var at: Int64 { json["at"]?.int64Value ?? 0 }
    public var group: String? { json["group"]?.stringValue }
    public var error: String? { json["error"]?.stringValue }
    /// `retry` or `dead`, after `failed`, `stalled`, `lost`.
    public var next: String? { json["next"]?.stringValue }
    public var retryInMilliseconds: Int? { json["retry_in_ms"]?.intValue }
    public var runMilliseconds: Int? { json["run_ms"]?.intValue }
    public var waitMilliseconds: Int? { json["wait_ms"]?.intValue }
    public var progress: Int? { json["progress"]?.intValue }
    public var note: String? { json["note"]?.stringValue }
    public var resultBytes: Int? { json["result_bytes"]?.intValue }
    /// The jobs a `blocked` job waits for (nil for other events).
    public var parents: [UInt64]? { json["parents"]?.idList }

    public subscript(key: String) -> JSONValue? { json[key] }
}

/// What a client proves to a server that requires authentication. Its description never shows
/// the secret.
public enum Credentials: Sendable, Equatable, CustomStringConvertible {
    /// `auth_token` in CONNECT (docketd `--auth`).
    case token(String)
    /// `user` and `pass` in CONNECT (docketd `--user`/`--pass`).
    case user(String, password: String)
    /// `nkey` and `sig` in CONNECT: an NKEY user of the server's configuration, signing the
    /// nonce of each connection's INFO with its seed.
    case nkey(NKeySeed)
    /// `jwt` and `sig` in CONNECT: a user of a server in operator mode, from an nsc `.creds`
    /// file, signing each connection's nonce with the seed the file holds.
    case userCredentials(UserCredentials)

    public var description: String {
        switch self {
        case .token: return "token <redacted>"
        case .user(let name, _): return "user \(name) with a password <redacted>"
        case .nkey(let seed): return "NKEY user \(seed.publicKey) (seed <redacted>)"
        case .userCredentials(let creds): return "user JWT of \(creds.seed.publicKey) (seed <redacted>)"
        }
    }

    /// The seed that signs the server's nonce, for the kinds of login that need one.
    var nonceSigner: NKeySeed? {
        switch self {
        case .nkey(let seed): return seed
        case .userCredentials(let creds): return creds.seed
        case .token, .user: return nil
        }
    }

    /// The environment variables read, in this order; the first kind set wins.
    public static let environmentVariables = ["DOCKET_USER", "DOCKET_PASS", "DOCKET_TOKEN", "DOCKET_NKEY_SEED_FILE", "DOCKET_CREDS"]

    /// `DOCKET_USER` with `DOCKET_PASS`, or `DOCKET_TOKEN`, or `DOCKET_NKEY_SEED_FILE` (the path
    /// of a user seed), or `DOCKET_CREDS` (the path of a `.creds` file), when set. A seed or
    /// creds file that cannot be read, or does not hold what it should, throws `badArgument`.
    public static func fromEnvironment() throws(DocketError) -> Credentials? {
        func variable(_ name: String) -> String? {
            guard let value = getenv(name) else { return nil }
            let text = String(cString: value)
            return text.isEmpty ? nil : text
        }
        if let user = variable("DOCKET_USER"), let password = variable("DOCKET_PASS") { return .user(user, password: password) }
        if let token = variable("DOCKET_TOKEN") { return .token(token) }
        if let path = variable("DOCKET_NKEY_SEED_FILE") { return .nkey(try NKeySeed(file: path)) }
        if let path = variable("DOCKET_CREDS") { return .userCredentials(try UserCredentials(file: path)) }
        return nil
    }
}

extension String {
    /// `%XX` escapes decoded (as in a URL's user information); the text as it is if one is bad.
    var removingPercentEncoding: String {
        var bytes: [UInt8] = []
        var iterator = Array(utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return self }
            bytes.append(value)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A job's state, as LIST and PURGE name it (PROTOCOL.md, *Browsing and bulk repair*).
public enum JobState: String, Sendable, CaseIterable {
    case waiting, delayed
    /// Enqueued `after=` jobs that have not all completed.
    case blocked
    case active, completed, dead
}

/// When a schedule fires: a cron expression (5 fields, or 6 with seconds first, or `@daily`
/// and the like) read in an IANA time zone, or a fixed interval of at least a second.
public struct ScheduleTiming: Sendable, Hashable {
    enum Storage: Sendable, Hashable {
        case cron(String, timeZone: String?)
        case every(DocketDuration)
    }

    let storage: Storage

    /// `cron("0 3 * * *", timeZone: "Europe/Berlin")`; the zone defaults to UTC.
    public static func cron(_ expression: String, timeZone: String? = nil) -> ScheduleTiming {
        ScheduleTiming(storage: .cron(expression, timeZone: timeZone))
    }

    /// Fires at the schedule's creation plus whole multiples of `interval`.
    public static func every(_ interval: DocketDuration) -> ScheduleTiming { ScheduleTiming(storage: .every(interval)) }
}

/// What a schedule does about ticks missed while no server ran it.
public enum ScheduleCatchup: String, Sendable {
    /// Skip them.
    case none
    /// One job for them all, at the latest missed tick (the server's default).
    case one
    /// One job per missed tick (the latest 1000 at most).
    case all
}
