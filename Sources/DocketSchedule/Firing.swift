/// What a schedule does about ticks it missed: the server was down, or the schedule paused.
public enum CatchupPolicy: Hashable, Sendable {
    /// Skip them.
    case none
    /// One job for all of them (at the latest missed tick).
    case one
    /// One job per missed tick, at most `limit` (the latest ones).
    case all(limit: Int)
}

extension Schedule {
    /// The ticks to fire at `now` for a schedule whose last tick handled (or whose creation)
    /// was `last`, ascending. A tick at most `grace` ms old is on time and always fires; older
    /// ones were missed and follow `catchup`. Whatever is returned, the schedule's last tick
    /// becomes the latest tick up to `now` (`latestTick`), so nothing is looked at twice.
    public func ticksToFire(after last: Int64, now: Int64, catchup: CatchupPolicy, grace: Int64) -> [Int64] {
        let window: Int
        switch catchup {
        case .none, .one: window = 1
        case .all(let limit): window = max(limit, 1)
        }
        // The on-time ticks (normally one) are the latest ones; ask for them and the missed
        // ones catch-up wants, together.
        let onTimeLimit = 64
        let due = missedTicks(from: last, to: now, limit: onTimeLimit + window).ticks
        let onTime = due.filter { now - $0 <= grace }
        let missed = due.filter { now - $0 > grace }
        switch catchup {
        case .none: return onTime
        case .one: return (missed.last.map { [$0] } ?? []) + onTime
        case .all(let limit): return Array(missed.suffix(limit)) + onTime
        }
    }

    /// The latest tick in `(last, now]`, or `last` when there is none: where a schedule stands
    /// once `ticksToFire` has been handled.
    public func latestTick(after last: Int64, now: Int64) -> Int64 {
        missedTicks(from: last, to: now, limit: 1).ticks.last ?? last
    }
}
