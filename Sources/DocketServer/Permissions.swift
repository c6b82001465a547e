import DocketWire

/// A right granted for some subjects (or queue names) and withheld for others, read as
/// nats-server reads `allow`/`deny`: without an allow list everything is allowed, and a
/// matching deny entry always wins.
public struct SubjectRule: Sendable, Equatable {
    /// nil: every subject.
    public var allow: [[UInt8]]?
    public var deny: [[UInt8]]

    public init(allow: [[UInt8]]?, deny: [[UInt8]] = []) {
        self.allow = allow
        self.deny = deny
    }

    public static let everything = SubjectRule(allow: nil)
    public static let nothing = SubjectRule(allow: [])

    /// Whether a literal subject (or queue name) is granted.
    public func permits(_ subject: [UInt8]) -> Bool {
        subject.withUnsafeBytes { permits($0) }
    }

    public func permits(_ subject: UnsafeRawBufferPointer) -> Bool {
        if let allow, !allow.contains(where: { Subject.matches($0, subject) }) { return false }
        return !deny.contains { Subject.matches($0, subject) }
    }

    /// Whether every single-token name (a queue) is granted.
    var permitsEveryName: Bool {
        deny.isEmpty && (allow == nil || allow!.contains { $0 == [Byte.greater] || $0 == [Byte.star] })
    }
}

/// A subscribe permission written `"<subject> <queue>"` in nats-server's configuration: it is
/// about queue subscriptions on subjects `subject` covers whose queue group `queue` names (a
/// queue pattern may hold wildcards: `"orders.* workers.*"`).
public struct QueueGrant: Sendable, Equatable {
    public var subject: [UInt8]
    public var queue: [UInt8]

    public init(subject: [UInt8], queue: [UInt8]) {
        self.subject = subject
        self.queue = queue
    }

    /// nats-server's test: the group is the pattern itself, or a name the pattern's wildcards match.
    func names(_ group: [UInt8]) -> Bool {
        group == queue || Subject.covers(queue, group)
    }
}

/// The rights of the job verbs, granted per queue pattern.
public enum JobRight: String, CaseIterable, Sendable {
    /// ENQ, and being the target of a route one creates.
    case enqueue
    /// RESERVE, ACK, FAIL, PROGRESS, TOUCH.
    case work
    /// INSPECT, WAIT, QUEUE (reading), QUEUES, STATS, DEAD, ROUTES, `$JOB.<queue>.>` events.
    case read
    /// QUEUE settings, PAUSE/RESUME, RETRY, DEL, ROUTE/UNROUTE.
    case admin
}

/// What one user may do: nats-server's subject permissions for PUB and SUB, and Docket's job
/// rights per queue. A user with no permissions at all has no `Permissions` value and may do
/// everything; a user with any has exactly what they grant.
public struct Permissions: Sendable, Equatable {
    public var publish: SubjectRule
    public var subscribe: SubjectRule
    /// The subscribe entries that name a queue group (`"<subject> <queue>"`), allowed and
    /// denied. An allow list of such entries alone still makes `subscribe.allow` a list (an
    /// empty one): a user with one grants nothing else.
    public var queueAllow: [QueueGrant]
    public var queueDeny: [QueueGrant]
    /// A right missing here is not granted.
    public var jobs: [JobRight: SubjectRule]

    public init(
        publish: SubjectRule = .everything, subscribe: SubjectRule = .everything,
        queueAllow: [QueueGrant] = [], queueDeny: [QueueGrant] = [], jobs: [JobRight: SubjectRule] = [:]
    ) {
        self.publish = publish
        self.subscribe = subscribe
        self.queueAllow = queueAllow
        self.queueDeny = queueDeny
        self.jobs = jobs
    }

    static let lifecyclePrefix = Array("$JOB.".utf8)
    static let lifecycleFilter = Array("$JOB.>".utf8)

    public func may(_ right: JobRight, queue: [UInt8]) -> Bool {
        queue.withUnsafeBytes { may(right, queue: $0) }
    }

    public func may(_ right: JobRight, queue: UnsafeRawBufferPointer) -> Bool {
        jobs[right]?.permits(queue) ?? false
    }

    /// Server-wide documents (STATS, the monitoring endpoints) show every queue.
    public var mayReadEveryQueue: Bool { jobs[.read]?.permitsEveryName ?? false }

    /// Lifecycle events are the server's to publish; a restricted user cannot forge them.
    public func mayPublish(_ subject: UnsafeRawBufferPointer) -> Bool {
        !subject.starts(with: Self.lifecyclePrefix) && publish.permits(subject)
    }

    public enum Admission: Equatable, Sendable {
        case refused
        /// Everything the filter matches may be delivered.
        case granted
        /// Some of what it matches may not: each message is checked with `mayReceive`.
        case filtered
    }

    /// Whether a subscription on `filter` (in queue group `queue`, if given) is allowed. As in
    /// nats-server, an allowed filter must cover it and a denied one must not; a denied filter
    /// that only overlaps it is applied message by message. Queue entries decide for queue
    /// subscriptions, as nats-server's do: when allowed entries with a queue cover the subject,
    /// the group must be one they name (even if a plain entry covers the subject too), and a
    /// denied entry covering the subject and naming the group refuses it. `$JOB.<queue>.…`
    /// events need the read right on their queue.
    public func admit(subscription filter: [UInt8], queue: [UInt8]? = nil) -> Admission {
        if let allow = subscribe.allow {
            var allowed = allow.contains { Subject.covers($0, filter) }
            if let queue {
                let grants = queueAllow.filter { Subject.covers($0.subject, filter) }
                if !grants.isEmpty { allowed = grants.contains { $0.names(queue) } }
            }
            if !allowed { return .refused }
        }
        if subscribe.deny.contains(where: { Subject.covers($0, filter) }) { return .refused }
        if let queue, queueDeny.contains(where: { Subject.covers($0.subject, filter) && $0.names(queue) }) { return .refused }
        var filtered = subscribe.deny.contains { Subject.overlaps($0, filter) }
        let read = jobs[.read] ?? .nothing
        if Subject.overlaps(Self.lifecycleFilter, filter), !read.permitsEveryName {
            let tokens = filter.split(separator: Byte.dot, omittingEmptySubsequences: false)
            let queue = tokens.count > 1 ? Array(tokens[1]) : []
            let queueIsLiteral = queue != [Byte.star] && queue != [Byte.greater]
            if Subject.covers(Self.lifecycleFilter, filter) {
                if queueIsLiteral {
                    if !read.permits(queue) { return .refused }
                } else {
                    if read.allow?.isEmpty == true { return .refused }
                    filtered = true
                }
            } else {
                filtered = true
            }
        }
        return filtered ? .filtered : .granted
    }

    /// For a `.filtered` subscription: whether one message on `subject` may be delivered.
    public func mayReceive(_ subject: UnsafeRawBufferPointer) -> Bool {
        if subscribe.deny.contains(where: { Subject.matches($0, subject) }) { return false }
        guard subject.starts(with: Self.lifecyclePrefix) else { return true }
        let rest = subject[Self.lifecyclePrefix.count...]
        let queue = rest.firstIndex(of: Byte.dot).map { rest[..<$0] } ?? rest
        return may(.read, queue: UnsafeRawBufferPointer(rebasing: queue))
    }
}

/// A user a connection (or an HTTP request, or a route) acts as.
public struct Principal: Sendable {
    public let name: String
    /// nil: every right.
    public let permissions: Permissions?
    /// The nats-server account whose subjects it sees; nil: the global one.
    public let account: String?

    /// When its credentials run out (a user JWT's `exp`), in seconds since 1970; nil: never.
    public let expiresAt: Int?

    public init(name: String, permissions: Permissions?, account: String? = nil, expiresAt: Int? = nil) {
        self.name = name
        self.permissions = permissions
        self.account = account
        self.expiresAt = expiresAt
    }
}
