/// A POSIX `TZ` rule such as `EST5EDT,M3.2.0,M11.1.0` or `<+1030>-10:30<+11>-11,M10.1.0,M4.1.0`:
/// the footer of a TZif file, which governs instants after its last listed transition.
///
/// Grammar (POSIX, with the TZif version 3 extensions of tzfile(5)):
/// `std offset [dst [offset] ,start[/time],end[/time]]`, where names are 3 or more letters or
/// `<...>` quoted; offsets are `[+-]hh[:mm[:ss]]` west of Greenwich (so `EST5` is UTC-5) and the
/// daylight offset defaults to one hour east of standard; a date is `Jn` (day 1-365, February 29
/// never counted), `n` (day 0-365, February 29 counted) or `Mm.w.d` (weekday `d`, 0 = Sunday, of
/// week `w` of month `m`, week 5 meaning the last); a time is `[+-]hh[:mm[:ss]]` of local time in
/// effect before the change, hours up to 167, default `02:00`. Daylight time all year is written
/// as starting January 1 at 00:00 and ending December 31 at 24:00 plus the daylight shift.
struct PosixTimeZone: Hashable, Sendable {
    struct Rule: Hashable, Sendable {
        enum Day: Hashable, Sendable {
            case julianSkippingLeapDay(Int)  // Jn, 1...365
            case zeroBased(Int)  // n, 0...365
            case monthWeekDay(month: Int, week: Int, weekday: Int)  // Mm.w.d
        }

        let day: Day
        /// Seconds after midnight of that day, in the local time in effect before the change.
        let time: Int

        /// The day number (days since 1970-01-01) of the rule's day in `year`.
        func dayNumber(in year: Int) -> Int64 {
            let january1 = Civil.days(year: year, month: 1, day: 1)
            switch day {
            case .julianSkippingLeapDay(let n):
                return january1 + Int64(n - 1) + (Civil.isLeapYear(year) && n >= 60 ? 1 : 0)
            case .zeroBased(let n):
                return january1 + Int64(n)
            case .monthWeekDay(let month, let week, let weekday):
                let first = Civil.days(year: year, month: month, day: 1)
                let firstMatching = first + Int64((weekday - Civil.weekday(days: first) + 7) % 7)
                var result = firstMatching + Int64(7 * (week - 1))
                let end = first + Int64(Civil.daysInMonth(year: year, month: month))
                while result >= end { result -= 7 }  // week 5: the last such weekday
                return result
            }
        }
    }

    struct Daylight: Hashable, Sendable {
        /// Seconds east of UTC while daylight time is in effect.
        let offset: Int
        let start: Rule
        let end: Rule
    }

    /// Seconds east of UTC in standard time.
    let standardOffset: Int
    let daylight: Daylight?

    init(standardOffset: Int, daylight: Daylight?) {
        self.standardOffset = standardOffset
        self.daylight = daylight
    }

    init(_ text: String) throws(ScheduleError) {
        var parser = Parser(bytes: Array(text.utf8))
        func fail(_ what: String) -> ScheduleError {
            ScheduleError("the POSIX TZ rule \"\(text.prefix(64))\" is not valid: \(what)")
        }
        guard parser.name() else { throw fail("expected a zone abbreviation") }
        guard let west = parser.signedTime(maxHours: 24) else { throw fail("expected a UTC offset after the abbreviation") }
        standardOffset = -west
        if parser.atEnd {
            daylight = nil
            return
        }
        guard parser.name() else { throw fail("expected a daylight abbreviation") }
        var daylightOffset = standardOffset + 3600
        if let next = parser.peek, next != UInt8(ascii: ",") {
            guard let west = parser.signedTime(maxHours: 24) else { throw fail("expected a daylight UTC offset") }
            daylightOffset = -west
        }
        guard parser.take(","), let start = parser.rule(), parser.take(","), let end = parser.rule(), parser.atEnd else {
            throw fail("expected ,start[/time],end[/time] after the daylight abbreviation")
        }
        daylight = Daylight(offset: daylightOffset, start: start, end: end)
    }

    /// The UTC second daylight time starts, and the one it ends, in `year`.
    func changes(in year: Int, _ daylight: Daylight) -> (start: Int64, end: Int64) {
        let start = daylight.start.dayNumber(in: year) * Civil.secondsPerDay + Int64(daylight.start.time - standardOffset)
        let end = daylight.end.dayNumber(in: year) * Civil.secondsPerDay + Int64(daylight.end.time - daylight.offset)
        return (start, end)
    }

    private func year(of second: Int64) -> Int {
        Civil.date(fromDays: Civil.floorDivide(second + Int64(standardOffset), Civil.secondsPerDay)).year
    }

    /// The changes of the years around `second`'s, in order: (UTC second, year, to daylight).
    /// Equal instants order by year, then the end before the start, so a year whose daylight
    /// time ends exactly when the next year's begins stays on daylight time.
    private func changes(around second: Int64, years: ClosedRange<Int>, _ daylight: Daylight) -> [(at: Int64, year: Int, daylight: Bool)] {
        var result: [(at: Int64, year: Int, daylight: Bool)] = []
        let year = year(of: second)
        for candidate in (year + years.lowerBound)...(year + years.upperBound) {
            let (start, end) = changes(in: candidate, daylight)
            result.append((start, candidate, true))
            result.append((end, candidate, false))
        }
        return result.sorted { ($0.at, $0.year, $0.daylight ? 1 : 0) < ($1.at, $1.year, $1.daylight ? 1 : 0) }
    }

    /// Seconds east of UTC at a UTC second.
    ///
    /// A change's time may run up to a week past its day, so a year's changes can all fall in
    /// the next year's first days (`J365/25`): before those, the last change that happened is
    /// the one of two years back.
    func offset(at second: Int64) -> Int {
        guard let daylight else { return standardOffset }
        let last = changes(around: second, years: -2...1, daylight).last { $0.at <= second }
        return last?.daylight == true ? daylight.offset : standardOffset
    }

    /// The first UTC second after `second` at which the offset changes, if it ever does again.
    func nextChange(after second: Int64) -> Int64? {
        guard let daylight else { return nil }
        let current = offset(at: second)
        for change in changes(around: second, years: -1...2, daylight) where change.at > second {
            if offset(at: change.at) != current { return change.at }
        }
        return nil  // daylight time all year
    }
}

/// Reads the pieces of a POSIX TZ string.
private struct Parser {
    let bytes: [UInt8]
    var position = 0

    var atEnd: Bool { position == bytes.count }
    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func take(_ character: Character) -> Bool {
        guard peek == character.asciiValue else { return false }
        position += 1
        return true
    }

    /// An abbreviation: three or more letters, or anything but `>` between `<` and `>`.
    mutating func name() -> Bool {
        if take("<") {
            let start = position
            while let byte = peek, byte != UInt8(ascii: ">") { position += 1 }
            return position > start && take(">")
        }
        let start = position
        while let byte = peek, (byte | 0x20) >= UInt8(ascii: "a"), (byte | 0x20) <= UInt8(ascii: "z") { position += 1 }
        return position - start >= 3
    }

    mutating func number(maxDigits: Int) -> Int? {
        var value = 0
        var digits = 0
        while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < maxDigits {
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            position += 1
        }
        return digits > 0 ? value : nil
    }

    /// `[+-]hh[:mm[:ss]]` in seconds.
    mutating func signedTime(maxHours: Int) -> Int? {
        let sign = take("-") ? -1 : (take("+") ? 1 : 1)
        guard let hours = number(maxDigits: 3), hours <= maxHours else { return nil }
        var seconds = hours * 3600
        if take(":") {
            guard let minutes = number(maxDigits: 2), minutes < 60 else { return nil }
            seconds += minutes * 60
            if take(":") {
                guard let secs = number(maxDigits: 2), secs < 60 else { return nil }
                seconds += secs
            }
        }
        return sign * seconds
    }

    /// `date[/time]`.
    mutating func rule() -> PosixTimeZone.Rule? {
        let day: PosixTimeZone.Rule.Day
        if take("J") {
            guard let n = number(maxDigits: 3), (1...365).contains(n) else { return nil }
            day = .julianSkippingLeapDay(n)
        } else if take("M") {
            guard let month = number(maxDigits: 2), (1...12).contains(month), take("."),
                let week = number(maxDigits: 1), (1...5).contains(week), take("."),
                let weekday = number(maxDigits: 1), (0...6).contains(weekday)
            else { return nil }
            day = .monthWeekDay(month: month, week: week, weekday: weekday)
        } else {
            guard let n = number(maxDigits: 3), (0...365).contains(n) else { return nil }
            day = .zeroBased(n)
        }
        var time = 7200
        if take("/") {
            guard let value = signedTime(maxHours: 167) else { return nil }
            time = value
        }
        return PosixTimeZone.Rule(day: day, time: time)
    }
}
