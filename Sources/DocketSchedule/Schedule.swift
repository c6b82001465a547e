/// When a schedule fires: a cron expression in a time zone, or a fixed interval.
///
/// Ticks are instants (milliseconds since 1970-01-01T00:00Z); the caller supplies "now", and
/// nothing here reads a clock. A tick identifies its firing (the server's idempotency key is
/// `<name>@<tick>`), so the same schedule always yields the same ticks, and they strictly
/// increase.
///
/// Cron ticks and daylight saving time, as cron users expect (and as cronie behaves for
/// ordinary one-hour changes):
/// - A wall time that does not exist (clocks spring forward over it) fires once, at the first
///   instant after the gap: `30 2 * * *` in New York on 2024-03-10 fires at 03:00 EDT. If
///   several matches fall in one gap (`*/15 2 * * *`), or a match right after it is the same
///   instant (`0 3 * * *` with `30 2 * * *`), they fire once together.
/// - A wall time that happens twice (clocks fall back) fires once, at its first occurrence:
///   `30 1 * * *` in New York on 2024-11-03 fires at 01:30 EDT, not again at 01:30 EST. A
///   schedule matching every minute runs through the first pass of the repeated hour and
///   resumes after the second, so no tick repeats and the interval between ticks around the
///   change is one hour plus one minute.
/// - Cron fields always describe local wall time; in a zone without DST (UTC, fixed offsets)
///   none of this arises.
///
/// Interval (`every=`) ticks are `anchor + k × interval` for every integer `k`: elapsed time,
/// untouched by DST or zones.
public struct Schedule: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// Matches of the expression on the zone's wall clock.
        case cron(CronExpression, zone: ZoneRules)
        /// Every `milliseconds`, at `anchor` and whole multiples of the interval before and
        /// after it.
        case every(milliseconds: Int64, anchor: Int64)
    }

    public let kind: Kind

    public init(cron: CronExpression, zone: ZoneRules = .utc) {
        kind = .cron(cron, zone: zone)
    }

    /// A fixed interval anchored to an instant (typically when the schedule was created).
    public init(everyMilliseconds interval: Int64, anchor: Int64) throws(ScheduleError) {
        guard interval > 0 else { throw ScheduleError("the interval must be longer than zero") }
        kind = .every(milliseconds: interval, anchor: anchor)
    }

    /// The first tick strictly after `instant`; nil if there is none (cron ticks lie in the
    /// years 1 to 9999).
    public func nextTick(after instant: Int64) -> Int64? {
        switch kind {
        case .every(let interval, let anchor):
            let (elapsed, overflow) = instant.subtractingReportingOverflow(anchor)
            guard !overflow else { return nil }
            let index = Civil.floorDivide(elapsed, interval) + 1
            let (offset, overflowed) = index.multipliedReportingOverflow(by: interval)
            let (tick, overflowedAgain) = anchor.addingReportingOverflow(offset)
            return overflowed || overflowedAgain ? nil : tick
        case .cron(let expression, let zone):
            // Walk the wall-clock matches from the wall time of `instant`. Mapping a match to its
            // tick (the first occurrence, or the end of its gap) never goes backwards as wall
            // time goes forward, so the first match whose tick is later than `instant` gives the
            // answer; the matches skipped are those of a repeated hour's first pass when
            // `instant` lies in its second.
            guard instant < Self.latestInstant else { return nil }
            let instant = max(instant, Self.earliestInstant - 1)
            let local = zone.localDateTime(at: instant).wallMilliseconds
            var wallSecond = Civil.floorDivide(local, 1000) + 1
            while let match = expression.nextMatch(onOrAfterWallSecond: wallSecond) {
                let tick: Int64
                switch zone.resolve(LocalDateTime(wallMilliseconds: match * 1000)) {
                case .unique(let only): tick = only
                case .overlap(let earlier, _): tick = earlier
                case .gap(let transition): tick = transition
                }
                if tick > instant { return tick }
                wallSecond = match + 1
            }
            return nil
        }
    }

    /// The next `count` ticks strictly after `instant`, ascending (fewer only if they run out).
    public func nextTicks(after instant: Int64, count: Int) -> [Int64] {
        var ticks: [Int64] = []
        var last = instant
        while ticks.count < count, let tick = nextTick(after: last) {
            ticks.append(tick)
            last = tick
        }
        return ticks
    }

    /// Ticks missed while nothing was watching: those after `from` (the last tick handled, or
    /// when watching stopped) up to and including `to` (now).
    public struct MissedTicks: Hashable, Sendable {
        /// The latest missed ticks, ascending, at most the limit asked for.
        public var ticks: [Int64]
        /// Whether earlier ticks in the window were left out to keep to the limit.
        public var earlierOmitted: Bool

        public init(ticks: [Int64], earlierOmitted: Bool) {
            self.ticks = ticks
            self.earlierOmitted = earlierOmitted
        }
    }

    /// The latest `limit` ticks in `(from, to]`, for catching up after downtime: the server's
    /// `catchup=one` asks for 1 (the most recent missed tick), `catchup=all` for as many as it
    /// allows, `catchup=none` for nothing. The cost grows with `limit` and the logarithm of the
    /// window, not with the number of ticks in it.
    public func missedTicks(from: Int64, to: Int64, limit: Int) -> MissedTicks {
        guard limit > 0, from < to else { return MissedTicks(ticks: [], earlierOmitted: false) }
        if case .every(let interval, let anchor) = kind {
            let (fromElapsed, overflow1) = from.subtractingReportingOverflow(anchor)
            let (toElapsed, overflow2) = to.subtractingReportingOverflow(anchor)
            guard !overflow1, !overflow2 else { return MissedTicks(ticks: [], earlierOmitted: false) }
            let lastIndex = Civil.floorDivide(toElapsed, interval)
            let count = lastIndex - Civil.floorDivide(fromElapsed, interval)
            let kept = min(count, Int64(limit))
            let ticks = kept == 0 ? [] : (lastIndex - kept + 1...lastIndex).map { anchor &+ $0 &* interval }
            return MissedTicks(ticks: ticks, earlierOmitted: count > kept)
        }
        let from = max(from, Self.earliestInstant - 1)
        let to = min(to, Self.latestInstant)
        let ticks = latestTicks(after: from, through: to, limit: limit)
        let omitted = ticks.first.map { first in nextTick(after: from).map { $0 < first } ?? false } ?? false
        return MissedTicks(ticks: ticks, earlierOmitted: omitted)
    }

    /// The latest `limit` ticks in `(start, end]`: halve the window, latest half first, and
    /// skip any part with no tick after one look.
    private func latestTicks(after start: Int64, through end: Int64, limit: Int) -> [Int64] {
        guard limit > 0, start < end, let first = nextTick(after: start), first <= end else { return [] }
        // A minute holds at most 60 cron ticks: list them.
        if end - start <= 60_000 {
            var ticks = [first]
            while let next = nextTick(after: ticks.last!), next <= end { ticks.append(next) }
            return Array(ticks.suffix(limit))
        }
        let middle = start + (end - start) / 2
        let later = latestTicks(after: middle, through: end, limit: limit)
        guard later.count < limit else { return later }
        return latestTicks(after: start, through: middle, limit: limit - later.count) + later
    }

    /// Cron schedules tick between 0001-01-01T00:00Z and 9999-12-31T23:59:59Z: starting from
    /// earlier begins at the former, and there is nothing after the latter.
    static let earliestInstant: Int64 = LocalDateTime(year: 1, month: 1, day: 1).wallMilliseconds
    static let latestInstant: Int64 = LocalDateTime(year: 9999, month: 12, day: 31).wallMilliseconds
}
