/// A wall-clock date and time in the proleptic Gregorian calendar, with no zone attached: what
/// a cron expression matches and what a zone maps instants to and from.
///
/// Its ``wallMilliseconds`` count from 1970-01-01T00:00 of the same wall clock, as if the zone
/// were UTC, so a local time converts to and from a plain number without a zone.
public struct LocalDateTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var year: Int
    /// 1 (January) to 12.
    public var month: Int
    /// 1 to the number of days in the month.
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var millisecond: Int

    /// The fields as given; nothing is normalised (see ``isValid``).
    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, millisecond: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.millisecond = millisecond
    }

    /// The wall time `wallMilliseconds` after 1970-01-01T00:00:00.000 (negative: before).
    public init(wallMilliseconds: Int64) {
        let days = Civil.floorDivide(wallMilliseconds, Civil.millisecondsPerDay)
        let withinDay = Int(wallMilliseconds - days * Civil.millisecondsPerDay)
        (year, month, day) = Civil.date(fromDays: days)
        hour = withinDay / 3_600_000
        minute = withinDay / 60_000 % 60
        second = withinDay / 1000 % 60
        millisecond = withinDay % 1000
    }

    /// Milliseconds from 1970-01-01T00:00 of the same wall clock to this one.
    public var wallMilliseconds: Int64 {
        let days = Civil.days(year: year, month: month, day: day)
        let withinDay = Int64(hour) * 3_600_000 + Int64(minute) * 60_000 + Int64(second) * 1000 + Int64(millisecond)
        return days * Civil.millisecondsPerDay + withinDay
    }

    /// 0 (Sunday) to 6 (Saturday).
    public var weekday: Int { Civil.weekday(days: Civil.days(year: year, month: month, day: day)) }

    /// Whether every field is within its range (month 1-12, day within the month, hour 0-23,
    /// minute and second 0-59, millisecond 0-999).
    public var isValid: Bool {
        (1...12).contains(month) && day >= 1 && day <= Civil.daysInMonth(year: year, month: month)
            && (0...23).contains(hour) && (0...59).contains(minute) && (0...59).contains(second)
            && (0...999).contains(millisecond)
    }

    public static func < (a: LocalDateTime, b: LocalDateTime) -> Bool {
        let (first, second) = ((a.year, a.month, a.day, a.hour, a.minute, a.second), (b.year, b.month, b.day, b.hour, b.minute, b.second))
        return first < second || (first == second && a.millisecond < b.millisecond)
    }

    /// ISO 8601 without a zone: `2024-03-10T02:30:00`, with `.mmm` when there are milliseconds.
    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value < 0 ? -value : value)
            return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
        if millisecond != 0 { text += "." + pad(millisecond, 3) }
        return text
    }
}

/// Calendar arithmetic on day numbers (days since 1970-01-01, which was a Thursday).
enum Civil {
    static let millisecondsPerDay: Int64 = 86_400_000
    static let secondsPerDay: Int64 = 86_400

    static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Rounds toward negative infinity, unlike `/`.
    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    /// The day number of a date. Counting years from March makes February, the one month of
    /// varying length, the last of its year, so a month's first day is a fixed offset into the
    /// year; 400 Gregorian years are exactly 146,097 days.
    static func days(year: Int, month: Int, day: Int) -> Int64 {
        let marchYear = Int64(month <= 2 ? year - 1 : year)
        let cycle = floorDivide(marchYear, 400)
        let yearOfCycle = marchYear - cycle * 400  // 0...399
        let monthFromMarch = Int64((month + 9) % 12)  // March 0 ... February 11
        // Days before the month within a March-based year: the months alternate 31 and 30 days
        // in groups of five (Mar-Jul, Aug-Dec), which (153 m + 2) / 5 reproduces.
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + Int64(day) - 1
        let dayOfCycle = yearOfCycle * 365 + yearOfCycle / 4 - yearOfCycle / 100 + dayOfYear
        // 719,468 days from 0000-03-01 to 1970-01-01.
        return cycle * 146_097 + dayOfCycle - 719_468
    }

    /// The date of a day number: the inverse of ``days(year:month:day:)``.
    static func date(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let cycle = floorDivide(shifted, 146_097)
        let dayOfCycle = shifted - cycle * 146_097  // 0...146096
        // The year within the cycle: remove the leap days before it (one every 4 years but the
        // centuries, and the cycle's last day, which belongs to its 400th year).
        let yearOfCycle = (dayOfCycle - dayOfCycle / 1460 + dayOfCycle / 36_524 - dayOfCycle / 146_096) / 365
        let dayOfYear = dayOfCycle - (365 * yearOfCycle + yearOfCycle / 4 - yearOfCycle / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthFromMarch + 2) / 5 + 1)
        let month = Int(monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9)
        let year = Int(yearOfCycle + cycle * 400) + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// 0 (Sunday) to 6 (Saturday).
    static func weekday(days: Int64) -> Int {
        Int((days % 7 + 7 + 4) % 7)
    }
}
