/// A parsed cron expression: which wall-clock seconds it matches.
///
/// Syntax, as in Vixie cron and cronie (`crontab(5)`), plus an optional seconds field:
/// - 5 fields `minute hour day-of-month month day-of-week`, or 6 with `second` first.
/// - Each field is `*` or a comma-separated list of items; an item is a value `a`, a range
///   `a-b` (upward only), or either of those or `*` followed by a step `/n`. `a/n` means `a`
///   to the end of the field's range, in steps of `n`. Steps run from 1 to the field's span
///   less one (`*/59` for minutes).
/// - Ranges: second and minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or `JAN`-`DEC`,
///   day-of-week 0-7 or `SUN`-`SAT` (0 and 7 are both Sunday; a range ending in Sunday, such
///   as `FRI-SUN` or `5-0`, runs to 7). Names are case-insensitive and may appear wherever a
///   number may.
/// - Macros (the whole expression): `@yearly` and `@annually` (`0 0 1 1 *`), `@monthly`
///   (`0 0 1 * *`), `@weekly` (`0 0 * * 0`), `@daily` and `@midnight` (`0 0 * * *`),
///   `@hourly` (`0 * * * *`).
/// - The day rule of classic cron: when both day fields are restricted, a day matches if
///   either field matches; when either starts with `*` (a bare `*`, or a step such as `*/2`),
///   a day must match both. So `0 9 1 * 5` runs on the 1st and on every Friday, while
///   `0 9 */2 * 5` runs on Fridays with an odd day of the month. (Vixie cron and cronie decide
///   "restricted" by that first `*` too.)
/// - Expressions that can never fire (`0 0 30 2 *`) are refused rather than accepted silently.
///   `L`, `W`, `#`, `?` and `@reboot` are not supported.
public struct CronExpression: Hashable, Sendable, CustomStringConvertible {
    /// The expression as given, without surrounding blanks.
    public let source: String
    /// Whether the expression has a seconds field; without one, every match is at second 0.
    public let hasSeconds: Bool

    let seconds: UInt64  // bit n: second n
    let minutes: UInt64
    let hours: UInt64
    let daysOfMonth: UInt64  // bits 1...31
    let months: UInt64  // bits 1...12
    let daysOfWeek: UInt64  // bits 0...6, Sunday 0
    /// Neither day field starts with `*`: a day matches if either field does (see above).
    let eitherDay: Bool

    /// Parses `text`; the error names the field and says what it expected.
    public init(_ text: String) throws(ScheduleError) {
        let isBlank = { (character: Character) in character == " " || character == "\t" }
        let trimmed = String(text.drop(while: isBlank).reversed().drop(while: isBlank).reversed())
        if trimmed.hasPrefix("@") {
            self = try Self(macro: trimmed)
            return
        }
        let fields = trimmed.split(whereSeparator: isBlank).map(String.init)
        guard fields.count == 5 || fields.count == 6 else {
            throw ScheduleError(
                "expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a macro such as @daily; got \(fields.count)"
            )
        }
        let offset = fields.count == 6 ? 1 : 0
        let dom = try Field.dayOfMonth.parse(fields[offset + 2])
        let dow = try Field.dayOfWeek.parse(fields[offset + 4])
        self.init(
            source: trimmed, hasSeconds: offset == 1,
            seconds: offset == 1 ? try Field.second.parse(fields[0]).bits : 1,
            minutes: try Field.minute.parse(fields[offset]).bits,
            hours: try Field.hour.parse(fields[offset + 1]).bits,
            daysOfMonth: dom.bits, months: try Field.month.parse(fields[offset + 3]).bits, daysOfWeek: dow.bits,
            eitherDay: !dom.star && !dow.star)
        try checkReachable(dayOfMonthText: fields[offset + 2], monthText: fields[offset + 3])
    }

    private init(
        source: String, hasSeconds: Bool, seconds: UInt64, minutes: UInt64, hours: UInt64, daysOfMonth: UInt64,
        months: UInt64, daysOfWeek: UInt64, eitherDay: Bool
    ) {
        self.source = source
        self.hasSeconds = hasSeconds
        self.seconds = seconds
        self.minutes = minutes
        self.hours = hours
        self.daysOfMonth = daysOfMonth
        self.months = months
        self.daysOfWeek = daysOfWeek
        self.eitherDay = eitherDay
    }

    private init(macro: String) throws(ScheduleError) {
        let fields: (hour: UInt64, dom: UInt64?, month: UInt64?, dow: UInt64?)
        switch macro.lowercased() {
        case "@yearly", "@annually": fields = (1, 1 << 1, 1 << 1, nil)
        case "@monthly": fields = (1, 1 << 1, nil, nil)
        case "@weekly": fields = (1, nil, nil, 1)
        case "@daily", "@midnight": fields = (1, nil, nil, nil)
        case "@hourly": fields = (Field.hour.all, nil, nil, nil)
        case "@reboot": throw ScheduleError("@reboot is not supported: a schedule fires at times, not at start-up")
        default:
            throw ScheduleError(
                "unknown macro \"\(macro.prefix(32))\": expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly")
        }
        self.init(
            source: macro, hasSeconds: false, seconds: 1, minutes: 1, hours: fields.hour,
            daysOfMonth: fields.dom ?? Field.dayOfMonth.all, months: fields.month ?? Field.month.all,
            daysOfWeek: fields.dow ?? Field.dayOfWeek.all, eitherDay: false)
    }

    /// When a day must match the day of the month (the other field being a `*`), some selected
    /// month must have some selected day (February counts its 29th). Given that, every weekday
    /// eventually falls on it, so the expression fires.
    private func checkReachable(dayOfMonthText: String, monthText: String) throws(ScheduleError) {
        guard !eitherDay else { return }  // the day of the week alone is enough
        for month in 1...12 where months & (1 << month) != 0 {
            let longest = month == 2 ? 29 : Civil.daysInMonth(year: 2001, month: month)
            if daysOfMonth & ((1 << (longest + 1)) - 2) != 0 { return }
        }
        throw ScheduleError(
            "day-of-month field \"\(dayOfMonthText.prefix(64))\" never occurs in month field \"\(monthText.prefix(64))\"")
    }

    public var description: String { source }

    /// Two expressions are equal when they match the same times (`@daily` equals `0 0 * * *`).
    public static func == (a: CronExpression, b: CronExpression) -> Bool {
        a.seconds == b.seconds && a.minutes == b.minutes && a.hours == b.hours && a.daysOfMonth == b.daysOfMonth
            && a.months == b.months && a.daysOfWeek == b.daysOfWeek && a.eitherDay == b.eitherDay
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(seconds)
        hasher.combine(minutes)
        hasher.combine(hours)
        hasher.combine(daysOfMonth)
        hasher.combine(months)
        hasher.combine(daysOfWeek)
        hasher.combine(eitherDay)
    }

    /// Whether a wall-clock time matches (its milliseconds must be 0).
    public func matches(_ time: LocalDateTime) -> Bool {
        time.millisecond == 0 && seconds & (1 << time.second) != 0 && minutes & (1 << time.minute) != 0
            && hours & (1 << time.hour) != 0 && months & (1 << time.month) != 0
            && dayMatches(day: time.day, weekday: time.weekday)
    }

    private func dayMatches(day: Int, weekday: Int) -> Bool {
        let dom = daysOfMonth & (1 << day) != 0
        let dow = daysOfWeek & (1 << weekday) != 0
        return eitherDay ? dom || dow : dom && dow
    }

    /// The first matching wall-clock time at or after `time` (a time with milliseconds counts
    /// from its next second). Nil only past the year 9999 or for an expression with no match in
    /// 400 years (the Gregorian calendar repeats every 400 years, so then never; parsing already
    /// refuses those).
    public func nextMatch(onOrAfter time: LocalDateTime) -> LocalDateTime? {
        let wall = time.wallMilliseconds
        let second = Civil.floorDivide(wall, 1000) + (wall % 1000 == 0 ? 0 : 1)
        return nextMatch(onOrAfterWallSecond: second).map { LocalDateTime(wallMilliseconds: $0 * 1000) }
    }

    /// The same on wall-clock seconds since 1970-01-01T00:00.
    func nextMatch(onOrAfterWallSecond start: Int64) -> Int64? {
        let startDays = Civil.floorDivide(start, Civil.secondsPerDay)
        var (year, month, day) = Civil.date(fromDays: startDays)
        let withinDay = Int(start - startDays * Civil.secondsPerDay)
        var hour = withinDay / 3600
        var minute = withinDay / 60 % 60
        var second = withinDay % 60
        let lastYear = min(year + 400, 9999)

        while true {
            // Carry overflowing fields into the next larger one.
            if second > 59 { second = 0; minute += 1 }
            if minute > 59 { minute = 0; hour += 1 }
            if hour > 23 { hour = 0; day += 1 }
            if month > 12 { month = 1; year += 1 }
            guard year <= lastYear else { return nil }

            if months & (1 << month) == 0 {
                guard let next = Self.nextBit(months, from: month + 1) else {
                    month = 13  // carried into January of the next year above
                    (day, hour, minute, second) = (1, 0, 0, 0)
                    continue
                }
                (month, day, hour, minute, second) = (next, 1, 0, 0, 0)
            }

            let length = Civil.daysInMonth(year: year, month: month)
            var weekday = Civil.weekday(days: Civil.days(year: year, month: month, day: min(day, length)))
            var matchingDay: Int?
            var candidate = day
            while candidate <= length {
                if dayMatches(day: candidate, weekday: weekday) {
                    matchingDay = candidate
                    break
                }
                candidate += 1
                weekday = (weekday + 1) % 7
            }
            guard let matchingDay else {
                month += 1
                (day, hour, minute, second) = (1, 0, 0, 0)
                continue
            }
            if matchingDay != day { (day, hour, minute, second) = (matchingDay, 0, 0, 0) }

            if hours & (1 << hour) == 0 {
                guard let next = Self.nextBit(hours, from: hour + 1) else {
                    (day, hour, minute, second) = (day + 1, 0, 0, 0)
                    if day > length { (month, day) = (month + 1, 1) }
                    continue
                }
                (hour, minute, second) = (next, 0, 0)
            }
            if minutes & (1 << minute) == 0 {
                guard let next = Self.nextBit(minutes, from: minute + 1) else {
                    (hour, minute, second) = (hour + 1, 0, 0)
                    if hour > 23 { (day, hour) = (day + 1, 0) }
                    if day > length { (month, day) = (month + 1, 1) }
                    continue
                }
                (minute, second) = (next, 0)
            }
            if seconds & (1 << second) == 0 {
                guard let next = Self.nextBit(seconds, from: second + 1) else {
                    (minute, second) = (minute + 1, 0)
                    if minute > 59 { (hour, minute) = (hour + 1, 0) }
                    if hour > 23 { (day, hour) = (day + 1, 0) }
                    if day > length { (month, day) = (month + 1, 1) }
                    continue
                }
                second = next
            }
            return Civil.days(year: year, month: month, day: day) * Civil.secondsPerDay
                + Int64(hour * 3600 + minute * 60 + second)
        }
    }

    /// The lowest set bit at or above `from`, if any.
    private static func nextBit(_ bits: UInt64, from: Int) -> Int? {
        guard from < 64 else { return nil }
        let remaining = bits & (~0 << UInt64(from))
        return remaining == 0 ? nil : remaining.trailingZeroBitCount
    }
}

/// One field of a cron expression: its range, names and what its error messages expect.
struct Field {
    let name: String
    let low: Int
    /// The highest value a `*` covers (day-of-week: 6; 7 is another name for Sunday).
    let high: Int
    /// The highest value that may be written.
    let writableHigh: Int
    /// `names[i]` is another way to write the value `nameBase + i`.
    let names: [String]
    let nameBase: Int

    static let second = Field(name: "second", low: 0, high: 59, writableHigh: 59, names: [], nameBase: 0)
    static let minute = Field(name: "minute", low: 0, high: 59, writableHigh: 59, names: [], nameBase: 0)
    static let hour = Field(name: "hour", low: 0, high: 23, writableHigh: 23, names: [], nameBase: 0)
    static let dayOfMonth = Field(name: "day-of-month", low: 1, high: 31, writableHigh: 31, names: [], nameBase: 0)
    static let month = Field(
        name: "month", low: 1, high: 12, writableHigh: 12,
        names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], nameBase: 1)
    static let dayOfWeek = Field(
        name: "day-of-week", low: 0, high: 6, writableHigh: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
        nameBase: 0)

    var isDayOfWeek: Bool { writableHigh != high }

    /// Every value a `*` covers.
    var all: UInt64 { (~0 >> UInt64(63 - high)) & (~0 << UInt64(low)) }

    /// "a number 1-12 or a name JAN-DEC"
    var expectedValue: String {
        var text = "a number \(low)-\(writableHigh)"
        if isDayOfWeek { text += " (0 and 7 are Sunday)" }
        if let first = names.first, let last = names.last { text += " or a name \(first)-\(last)" }
        return text
    }

    /// The field's values as bits, and whether it starts with `*`.
    func parse(_ text: String) throws(ScheduleError) -> (bits: UInt64, star: Bool) {
        func fail(_ problem: String) -> ScheduleError {
            ScheduleError("\(name) field \"\(text.prefix(64))\": \(problem)")
        }
        let usage = "expected \(expectedValue), a range such as \(low)-\(low + 4), * or a step such as */2, or a list of them"
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("an empty item in the list; \(usage)") }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw fail("\"\(item.prefix(32))\" has more than one /; \(usage)") }
            var step = 1
            if parts.count == 2 {
                let maximum = high - low
                guard parts[1].count <= 4, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                    let value = Int(parts[1]), (1...maximum).contains(value)
                else { throw fail("the step after / must be a number from 1 to \(maximum)") }
                step = value
            }
            let base = parts[0]
            var first: Int
            var last: Int
            if base == "*" {
                (first, last) = (low, high)
            } else {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2, !bounds.contains(where: \.isEmpty) else {
                    throw fail("\"\(base.prefix(32))\" is not a value or a range; \(usage)")
                }
                first = try value(bounds[0], fail, usage)
                if bounds.count == 2 {
                    last = try value(bounds[1], fail, usage)
                    // A range ending on Sunday runs to the Sunday at its end: FRI-SUN is 5-7.
                    if isDayOfWeek, last == 0, first > 0 { last = 7 }
                    guard first <= last else {
                        throw fail("the range \(base.prefix(32)) runs backwards; write it from the lower value to the higher")
                    }
                } else {
                    last = parts.count == 2 ? max(first, high) : first
                }
            }
            var value = first
            while value <= last {
                bits |= 1 << UInt64(isDayOfWeek && value == 7 ? 0 : value)
                value += step
            }
        }
        return (bits, text.hasPrefix("*"))
    }

    private func value(_ token: Substring, _ fail: (String) -> ScheduleError, _ usage: String) throws(ScheduleError) -> Int {
        if token.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard token.count <= 3, let value = Int(token), (low...writableHigh).contains(value) else {
                throw fail("\(token.prefix(16)) is out of range \(low)-\(writableHigh)")
            }
            return value
        }
        if let index = names.firstIndex(of: token.uppercased()) { return nameBase + index }
        // Quartz-style extensions: L (last), 15W (nearest weekday), 5#3 (third Friday), ?.
        let extended = token == "?" || token == "L" || token == "LW" || token.contains("#")
            || (token.count > 1 && "LW".contains(token.last!) && token.dropLast().allSatisfy { $0.isASCII && $0.isNumber })
        let hint = extended ? " (L, W, # and ? are not standard cron)" : ""
        throw fail("expected \(expectedValue), got \"\(token.prefix(16))\"\(hint)")
    }
}
