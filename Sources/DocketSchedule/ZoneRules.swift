/// How a wall-clock time maps to instants in a zone.
public enum LocalTimeResolution: Hashable, Sendable {
    /// The usual case: the wall time happens once, at this instant.
    case unique(Int64)
    /// The wall time never happens: clocks jumped over it (spring forward). `transition` is the
    /// instant of the jump, the first instant after the gap.
    case gap(transition: Int64)
    /// The wall time happens twice (fall back): first at `earlier`, again at `later`.
    case overlap(earlier: Int64, later: Int64)
}

/// A time zone's offsets from UTC over time: UTC, a fixed offset, or an IANA zone read from a
/// TZif file (see ``TimeZoneDatabase``). Instants are milliseconds since 1970-01-01T00:00Z;
/// offsets are whole seconds east of UTC.
public struct ZoneRules: Hashable, Sendable, CustomStringConvertible {
    /// `UTC`, a fixed offset such as `+05:30`, or the IANA name it was loaded as.
    public let identifier: String
    /// The offset before the first transition (or always, with none and no footer).
    let initialOffset: Int
    /// UTC seconds at which the offset changes, ascending; only real changes are kept.
    let transitions: [Int64]
    /// `offsets[i]` applies from `transitions[i]` until the next one.
    let offsets: [Int]
    /// From this UTC second on, the footer rule decides (the file's last transition).
    let footerStart: Int64
    let footer: PosixTimeZone?

    /// Coordinated Universal Time.
    public static let utc = ZoneRules(identifier: "UTC", offset: 0)

    private init(identifier: String, offset: Int) {
        self.identifier = identifier
        initialOffset = offset
        transitions = []
        offsets = []
        footerStart = .max
        footer = nil
    }

    /// A zone that is always `offsetSeconds` east of UTC, named like `+05:30` or `-08:00`
    /// (`UTC` for 0). The offset must be less than 24 hours either way.
    public static func fixed(offsetSeconds: Int) throws(ScheduleError) -> ZoneRules {
        guard offsetSeconds > -86_400, offsetSeconds < 86_400 else {
            throw ScheduleError("a fixed UTC offset must be less than 24 hours either way")
        }
        guard offsetSeconds != 0 else { return .utc }
        let magnitude = abs(offsetSeconds)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var name = (offsetSeconds < 0 ? "-" : "+") + two(magnitude / 3600) + ":" + two(magnitude / 60 % 60)
        if magnitude % 60 != 0 { name += ":" + two(magnitude % 60) }
        return ZoneRules(identifier: name, offset: offsetSeconds)
    }

    /// The rules of a TZif file's contents (versions 1 to 3, as tzfile(5) describes).
    public init(identifier: String, tzif bytes: [UInt8]) throws(ScheduleError) {
        let file = try TZif(bytes)
        self.identifier = identifier
        // Instants are Int64 milliseconds, about ±292 million years: a transition beyond that
        // (zic's "big bang" at -2^59 s; anything at all in a damaged file) would overflow the
        // arithmetic on seconds and milliseconds below. One before it has always happened; one
        // after it never happens.
        let reach = Int64.max / 1000 - 2 * Civil.secondsPerDay
        var initialOffset = file.offsets[0]
        var transitions: [Int64] = []
        var offsets: [Int] = []
        for (time, type) in zip(file.transitions, file.transitionTypes) where time <= reach {
            let offset = file.offsets[type]
            if time < -reach {
                initialOffset = offset
            } else if offset != (offsets.last ?? initialOffset) {
                transitions.append(time)
                offsets.append(offset)
            }
        }
        self.initialOffset = initialOffset
        self.transitions = transitions
        self.offsets = offsets
        footer = try file.footer.map { text throws(ScheduleError) in try PosixTimeZone(text) }
        footerStart = footer == nil ? .max : (file.transitions.last.map { min(max($0, -reach), reach) } ?? .min)
    }

    /// A zone from a POSIX TZ rule alone, such as `CET-1CEST,M3.5.0,M10.5.0/3`.
    init(identifier: String, posix: String) throws(ScheduleError) {
        self.identifier = identifier
        let rule = try PosixTimeZone(posix)
        initialOffset = rule.standardOffset
        transitions = []
        offsets = []
        footer = rule
        footerStart = .min
    }

    public var description: String { identifier }

    /// Seconds east of UTC at an instant.
    public func offsetSeconds(at instant: Int64) -> Int {
        offset(atSecond: Civil.floorDivide(instant, 1000))
    }

    /// The wall-clock time at an instant.
    public func localDateTime(at instant: Int64) -> LocalDateTime {
        LocalDateTime(wallMilliseconds: instant + Int64(offsetSeconds(at: instant)) * 1000)
    }

    /// The first instant after `instant` at which the offset changes; nil if it never does again
    /// (or not before the last instant an Int64 of milliseconds holds).
    public func nextOffsetChange(after instant: Int64) -> Int64? {
        guard let second = nextChange(afterSecond: Civil.floorDivide(instant, 1000)) else { return nil }
        let (milliseconds, overflow) = second.multipliedReportingOverflow(by: 1000)
        return overflow ? nil : milliseconds
    }

    /// The instants at which a wall-clock time happens: once, never (a gap) or twice (an overlap).
    public func resolve(_ local: LocalDateTime) -> LocalTimeResolution {
        let wall = local.wallMilliseconds
        let wallSecond = Civil.floorDivide(wall, 1000)
        // Offsets stay within ±26 hours, so only offsets in force within that far of the wall
        // time (read as UTC) can map to it; collect them and the changes between them.
        let reach: Int64 = 27 * 3600
        var seen = [offset(atSecond: wallSecond - reach)]
        var gapTransition: Int64?
        var second = wallSecond - reach
        while let change = nextChange(afterSecond: second), change <= wallSecond + reach {
            let before = seen.last!
            let after = offset(atSecond: change)
            // A forward jump whose skipped wall times include this one.
            if gapTransition == nil, (change + Int64(before)) * 1000 <= wall, wall < (change + Int64(after)) * 1000 {
                gapTransition = change * 1000
            }
            seen.append(after)
            second = change
        }
        var instants: [Int64] = []
        for offset in seen {
            let instant = wall - Int64(offset) * 1000
            if offsetSeconds(at: instant) == offset, !instants.contains(instant) { instants.append(instant) }
        }
        instants.sort()
        switch instants.count {
        case 0: return .gap(transition: gapTransition ?? (wall - Int64(seen.last!) * 1000))
        case 1: return .unique(instants[0])
        default: return .overlap(earlier: instants.first!, later: instants.last!)
        }
    }

    func offset(atSecond second: Int64) -> Int {
        if second >= footerStart, let footer { return footer.offset(at: second) }
        guard let first = transitions.first, second >= first else { return initialOffset }
        // The last transition at or before `second`.
        var low = 0
        var high = transitions.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if transitions[middle] <= second { low = middle } else { high = middle - 1 }
        }
        return offsets[low]
    }

    func nextChange(afterSecond second: Int64) -> Int64? {
        let current = offset(atSecond: second)
        if second < footerStart {
            // The first listed transition after `second`.
            var low = 0
            var high = transitions.count
            while low < high {
                let middle = (low + high) / 2
                if transitions[middle] <= second { low = middle + 1 } else { high = middle }
            }
            for index in low..<transitions.count where transitions[index] < footerStart {
                if offsets[index] != current { return transitions[index] }
            }
            guard footer != nil else { return nil }
            // Where the footer takes over, the offset may change too.
            if offset(atSecond: footerStart) != current { return footerStart }
        }
        guard let footer else { return nil }
        var from = max(second, footerStart)
        // A footer change that lands back on `current` is no change (it cannot happen twice).
        for _ in 0..<2 {
            guard let change = footer.nextChange(after: from) else { return nil }
            if footer.offset(at: change) != current { return change }
            from = change
        }
        return nil
    }
}
