import DocketSchedule
import Testing

/// `2024-03-10T02:30:00` (seconds optional) as a wall-clock time.
func wall(_ text: String) -> LocalDateTime {
    let numbers = text.split(whereSeparator: { "-T:".contains($0) }).map { Int($0)! }
    return LocalDateTime(
        year: numbers[0], month: numbers[1], day: numbers[2], hour: numbers.count > 3 ? numbers[3] : 0,
        minute: numbers.count > 4 ? numbers[4] : 0, second: numbers.count > 5 ? numbers[5] : 0)
}

/// An instant written in UTC: `2024-03-10T07:00:00Z` (the Z optional).
func utc(_ text: String) -> Int64 {
    wall(text.hasSuffix("Z") ? String(text.dropLast()) : text).wallMilliseconds
}

/// Instants back as `2024-03-10T07:00:00Z`, so failures read as times.
func utcText(_ instant: Int64) -> String {
    LocalDateTime(wallMilliseconds: instant).description + "Z"
}

func cron(_ text: String) -> CronExpression {
    do {
        return try CronExpression(text)
    } catch {
        Issue.record("\(text): \(error)")
        return try! CronExpression("* * * * *")
    }
}

/// The message `text` is refused with, or nil if it parses.
func cronError(_ text: String) -> String? {
    do {
        _ = try CronExpression(text)
        return nil
    } catch {
        return error.message
    }
}

/// The next `count` wall-clock matches after `start` (exclusive), as text.
func matches(_ expression: String, after start: String, count: Int) -> [String] {
    let parsed = cron(expression)
    var results: [String] = []
    var next = LocalDateTime(wallMilliseconds: wall(start).wallMilliseconds + 1000)
    while results.count < count, let match = parsed.nextMatch(onOrAfter: next) {
        results.append(match.description)
        next = LocalDateTime(wallMilliseconds: match.wallMilliseconds + 1000)
    }
    return results
}
