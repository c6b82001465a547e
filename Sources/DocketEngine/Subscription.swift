/// One subscription: a connection's interest in a subject filter, under a subscription id.
///
/// The engine knows nothing of connections; `owner` is whatever the server hangs on it
/// (the server stores its connection object and removes every subscription before the
/// connection goes away, which also breaks the reference cycle).
public final class Subscription {
    public let owner: AnyObject
    /// The subject filter, possibly with wildcards.
    public let subject: [UInt8]
    /// The queue group name, if any: each message goes to one member of each group.
    public let queue: [UInt8]?
    /// The client's subscription id, echoed byte for byte in every MSG.
    public let sid: [UInt8]
    /// Messages after which the subscription ends (0 = no limit), from `UNSUB <sid> <max>`.
    public var maxMessages = 0
    /// Messages delivered so far.
    public var delivered = 0
    /// Whether each message must pass the owner's permissions before delivery (a filter that
    /// overlaps a denied one); false for everyone without permissions, so it costs one test.
    public var isFiltered = false

    /// Position in the index's list that holds it, for O(1) removal.
    var slot = -1
    /// Whether the index currently holds it.
    public internal(set) var isIndexed = false

    public init(owner: AnyObject, subject: [UInt8], queue: [UInt8]?, sid: [UInt8]) {
        self.owner = owner
        self.subject = subject
        self.queue = queue
        self.sid = sid
    }

    /// Whether `maxMessages` has been reached.
    public var isExhausted: Bool { maxMessages > 0 && delivered >= maxMessages }
}

/// Everything a published subject reaches: plain subscriptions (each gets a copy) and queue
/// groups (one member of each gets it). Results are cached per subject and shared, so they
/// are immutable apart from each group's rotation cursor.
public final class SubjectMatch {
    public let plain: [Subscription]
    public let groups: [QueueGroupMatch]

    init(plain: [Subscription], groups: [QueueGroupMatch]) {
        self.plain = plain
        self.groups = groups
    }

    public var isEmpty: Bool { plain.isEmpty && groups.isEmpty }

    /// Total subscriptions matched, counting every group member.
    public var subscriptionCount: Int { groups.reduce(plain.count) { $0 + $1.members.count } }
}

/// The members of one queue group that match a subject.
public final class QueueGroupMatch {
    public let name: [UInt8]
    public let members: [Subscription]
    private var cursor = 0

    init(name: [UInt8], members: [Subscription]) {
        self.name = name
        self.members = members
    }

    /// The member to deliver to next: members take turns, which spreads load evenly.
    /// Members for which `excluded` is true (the publisher itself when it does not want its
    /// own messages) are passed over; nil if every member is excluded.
    @inlinable public func nextMember(excluding excluded: (Subscription) -> Bool) -> Subscription? {
        let count = members.count
        for _ in 0..<count {
            let member = members[cursorAdvance() % count]
            if !excluded(member) { return member }
        }
        return nil
    }

    @usableFromInline func cursorAdvance() -> Int {
        let current = cursor
        cursor = cursor &+ 1
        if cursor < 0 { cursor = 0 }
        return current
    }
}
