import DocketWire

/// At most `limit` events in any window of `window` milliseconds: an exact sliding-window log.
///
/// It keeps the times of the last `limit` events in a ring. A new event is allowed when the
/// ring is not full, or when the oldest kept event is a whole window old; so no interval of
/// length `window`, wherever it starts, ever holds more than `limit` events. The cost is one
/// timestamp per permitted event of the window, which for the limits queues use (thousands
/// per second at most) is small, and it answers "when is the next slot?" exactly, which lets
/// waiting workers be woken at that instant instead of polling.
public struct RateWindow: Sendable, Equatable {
    public let limit: Int
    public let window: Int64
    private var times: [Int64] = []
    private var oldest = 0

    public init(limit: Int, windowMilliseconds: Int) {
        self.limit = max(limit, 1)
        self.window = Int64(max(windowMilliseconds, 1))
    }

    /// Whether an event may happen at `now`.
    public func allows(at now: Int64) -> Bool {
        times.count < limit || times[oldest] + window <= now
    }

    /// The earliest time an event may happen, at or after `now`.
    public func nextAllowed(after now: Int64) -> Int64 {
        allows(at: now) ? now : times[oldest] + window
    }

    /// Records an event at `now`; call only when `allows(at: now)`.
    public mutating func record(_ now: Int64) {
        if times.count < limit {
            times.append(now)
        } else {
            times[oldest] = now
            oldest = (oldest + 1) % limit
        }
    }

    /// Events in the window ending at `now`.
    public func count(at now: Int64) -> Int {
        times.reduce(0) { $0 + ($1 + window > now ? 1 : 0) }
    }

    /// The same events under another limit or window: the latest `limit` of those recorded
    /// carry over, so a changed setting still counts the starts already made (a window that
    /// began empty would let a whole new window's worth start at once).
    public func resized(limit newLimit: Int, windowMilliseconds: Int) -> RateWindow {
        var resized = RateWindow(limit: newLimit, windowMilliseconds: windowMilliseconds)
        // Oldest first: the ring from its oldest entry on.
        let ordered = times.count < limit ? times : Array(times[oldest...] + times[..<oldest])
        for time in ordered.suffix(resized.limit) { resized.record(time) }
        return resized
    }

    /// Whether every recorded event has left the window (the state can be dropped).
    public func isIdle(at now: Int64) -> Bool {
        times.allSatisfy { $0 + window <= now }
    }
}

/// A queue's own settings, persisted; nil fields fall back to the server's defaults.
public struct QueueConfig: Sendable, Equatable {
    public var rate: Rate?
    public var groupRate: Rate?
    public var concurrency: Int?
    public var paused = false
    public var maxAttempts: Int?
    public var backoff: Backoff?
    public var jitter: Double?
    public var leaseMilliseconds: Int?
    public var keepCompleted: Int?
    public var keepDead: Int?

    public init() {}
}
