import DocketSchedule
import DocketTestSupport
import Testing

/// The next `count` ticks after a UTC time, as UTC text.
func ticks(_ expression: String, in rules: ZoneRules = .utc, after start: String, count: Int) -> [String] {
    Schedule(cron: cron(expression), zone: rules).nextTicks(after: utc(start), count: count).map(utcText)
}

@Suite struct UTCScheduleTests {
    @Test func ticksAreStrictlyAfterTheGivenInstant() {
        #expect(ticks("*/15 * * * *", after: "2024-01-01T00:07:00Z", count: 3) == [
            "2024-01-01T00:15:00Z", "2024-01-01T00:30:00Z", "2024-01-01T00:45:00Z",
        ])
        #expect(ticks("*/15 * * * *", after: "2024-01-01T00:15:00Z", count: 1) == ["2024-01-01T00:30:00Z"])
        let schedule = Schedule(cron: cron("@daily"))
        #expect(schedule.nextTick(after: utc("2024-01-01T00:00:00Z") - 1) == utc("2024-01-01T00:00:00Z"))
        #expect(schedule.nextTick(after: utc("2024-01-01T00:00:00Z")) == utc("2024-01-02T00:00:00Z"))
        #expect(schedule.nextTick(after: utc("2024-01-01T00:00:00Z") + 1) == utc("2024-01-02T00:00:00Z"))
        #expect(schedule.nextTicks(after: 0, count: 0) == [])
        #expect(ticks("0 0 1 1 *", after: "1969-06-01T00:00:00Z", count: 2) == ["1970-01-01T00:00:00Z", "1971-01-01T00:00:00Z"])
    }

    @Test func sixFieldSchedulesTickOnSeconds() {
        #expect(ticks("*/10 * * * * *", after: "2024-01-01T00:00:35Z", count: 4) == [
            "2024-01-01T00:00:40Z", "2024-01-01T00:00:50Z", "2024-01-01T00:01:00Z", "2024-01-01T00:01:10Z",
        ])
        #expect(ticks("30 0 0 * * *", after: "2024-02-28T12:00:00Z", count: 2) == ["2024-02-29T00:00:30Z", "2024-03-01T00:00:30Z"])
    }

    @Test func leapYearsMonthEndsAndTheDayRule() {
        #expect(ticks("0 12 29 2 *", after: "2024-03-01T00:00:00Z", count: 2) == ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"])
        #expect(ticks("0 0 31 * *", after: "2024-01-31T00:00:00Z", count: 2) == ["2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z"])
        // The 13th, or any Friday: Friday 2024-09-06, Friday the 13th, Friday the 20th.
        #expect(ticks("0 0 13 * FRI", after: "2024-09-01T00:00:00Z", count: 3) == [
            "2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z",
        ])
        #expect(ticks("0 0 13 * *", after: "2024-09-01T00:00:00Z", count: 2) == ["2024-09-13T00:00:00Z", "2024-10-13T00:00:00Z"])
    }

    @Test func fixedOffsetsShiftWallTimeOnly() throws {
        #expect(ticks("0 9 * * *", in: try .fixed(offsetSeconds: 19_800), after: "2024-01-01T00:00:00Z", count: 2) == [
            "2024-01-01T03:30:00Z", "2024-01-02T03:30:00Z",
        ])
        #expect(ticks("0 9 * * *", in: try .fixed(offsetSeconds: -28_800), after: "2024-01-01T00:00:00Z", count: 2) == [
            "2024-01-01T17:00:00Z", "2024-01-02T17:00:00Z",
        ])
        // Midnight on Monday at +14:00 is still Sunday in UTC.
        #expect(ticks("0 0 * * MON", in: try .fixed(offsetSeconds: 50_400), after: "2024-06-01T00:00:00Z", count: 1) == [
            "2024-06-02T10:00:00Z",
        ])
    }

    @Test func cronTicksLieBetweenTheYears1And9999() {
        let schedule = Schedule(cron: cron("0 0 1 1 *"))
        #expect(schedule.nextTicks(after: utc("9998-06-01T00:00:00Z"), count: 3).map(utcText) == ["9999-01-01T00:00:00Z"])
        #expect(schedule.nextTick(after: .max) == nil)
        #expect(schedule.nextTick(after: .min).map(utcText) == "0001-01-01T00:00:00Z")
        #expect(schedule.missedTicks(from: .min, to: .max, limit: 1).ticks.map(utcText) == ["9999-01-01T00:00:00Z"])
    }
}

@Suite struct IntervalScheduleTests {
    @Test func ticksAreAnchoredMultiples() throws {
        let anchor = utc("2024-01-01T00:00:10Z")
        let schedule = try Schedule(everyMilliseconds: 90_000, anchor: anchor)
        #expect(schedule.nextTicks(after: anchor, count: 3).map(utcText) == [
            "2024-01-01T00:01:40Z", "2024-01-01T00:03:10Z", "2024-01-01T00:04:40Z",
        ])
        #expect(schedule.nextTick(after: anchor - 1) == anchor)
        // Before the anchor too: the grid extends both ways.
        #expect(schedule.nextTick(after: anchor - 100_000).map(utcText) == "2023-12-31T23:58:40Z")
        #expect(schedule.nextTick(after: utc("2024-01-01T00:01:40Z") - 1) == utc("2024-01-01T00:01:40Z"))
        #expect(schedule.nextTick(after: .max) == nil)
        #expect(throws: ScheduleError("the interval must be longer than zero")) { try Schedule(everyMilliseconds: 0, anchor: 0) }
        #expect(throws: ScheduleError("the interval must be longer than zero")) { try Schedule(everyMilliseconds: -5, anchor: 0) }
    }

    @Test func daylightSavingDoesNotMoveThem() throws {
        // An hourly interval across New York's spring-forward stays 3,600,000 ms apart (there is
        // no zone in an interval schedule at all).
        let schedule = try Schedule(everyMilliseconds: 3_600_000, anchor: utc("2024-03-10T05:00:00Z"))
        #expect(schedule.nextTicks(after: utc("2024-03-10T05:00:00Z"), count: 4).map(utcText) == [
            "2024-03-10T06:00:00Z", "2024-03-10T07:00:00Z", "2024-03-10T08:00:00Z", "2024-03-10T09:00:00Z",
        ])
    }

    @Test func missedTicks() throws {
        let schedule = try Schedule(everyMilliseconds: 60_000, anchor: 0)
        let from = utc("2024-01-01T00:00:30Z")
        let to = utc("2024-01-01T00:05:00Z")
        #expect(schedule.missedTicks(from: from, to: to, limit: 10).ticks.map(utcText) == [
            "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z", "2024-01-01T00:03:00Z", "2024-01-01T00:04:00Z", "2024-01-01T00:05:00Z",
        ])
        #expect(!schedule.missedTicks(from: from, to: to, limit: 10).earlierOmitted)
        let one = schedule.missedTicks(from: from, to: to, limit: 1)
        #expect(one.ticks == [to])
        #expect(one.earlierOmitted)
        #expect(schedule.missedTicks(from: to, to: to + 59_999, limit: 5).ticks == [])
        #expect(schedule.missedTicks(from: to, to: from, limit: 5).ticks == [])
        #expect(schedule.missedTicks(from: from, to: to, limit: 0).ticks == [])
        // A year of downtime at one tick a second costs nothing to summarise.
        let everySecond = try Schedule(everyMilliseconds: 1000, anchor: 0)
        let year = everySecond.missedTicks(from: utc("2023-01-01T00:00:00Z"), to: utc("2024-01-01T00:00:00Z") + 500, limit: 2)
        #expect(year.ticks.map(utcText) == ["2023-12-31T23:59:59Z", "2024-01-01T00:00:00Z"])
        #expect(year.earlierOmitted)
    }
}

@Suite struct CronMissedTicksTests {
    @Test func latestTicksInTheWindow() {
        let hourly = Schedule(cron: cron("0 * * * *"))
        let from = utc("2024-01-01T00:30:00Z")
        let to = utc("2024-01-01T05:00:00Z")
        #expect(hourly.missedTicks(from: from, to: to, limit: 10) == .init(
            ticks: ["01", "02", "03", "04", "05"].map { utc("2024-01-01T\($0):00:00Z") }, earlierOmitted: false))
        #expect(hourly.missedTicks(from: from, to: to, limit: 2) == .init(
            ticks: [utc("2024-01-01T04:00:00Z"), utc("2024-01-01T05:00:00Z")], earlierOmitted: true))
        #expect(hourly.missedTicks(from: from, to: to - 1, limit: 1).ticks == [utc("2024-01-01T04:00:00Z")])
        #expect(hourly.missedTicks(from: utc("2024-01-01T01:00:00Z"), to: utc("2024-01-01T01:59:59Z"), limit: 3).ticks == [])
        // Rare ticks over decades, and dense ones over years, both answer at once.
        let leapDay = Schedule(cron: cron("0 0 29 2 *"))
        #expect(leapDay.missedTicks(from: utc("2001-01-01T00:00:00Z"), to: utc("2030-01-01T00:00:00Z"), limit: 1) == .init(
            ticks: [utc("2028-02-29T00:00:00Z")], earlierOmitted: true))
        let everySecond = Schedule(cron: cron("* * * * * *"))
        let dense = everySecond.missedTicks(from: utc("2014-01-01T00:00:00Z"), to: utc("2024-01-01T00:00:00Z"), limit: 3)
        #expect(dense.ticks.map(utcText) == ["2023-12-31T23:59:58Z", "2023-12-31T23:59:59Z", "2024-01-01T00:00:00Z"])
        // A burst long ago: every second of January 2020, and nothing since.
        let january = Schedule(cron: cron("* * * * 1 *"))
        let burst = january.missedTicks(from: utc("2019-06-01T00:00:00Z"), to: utc("2020-12-31T00:00:00Z"), limit: 2)
        #expect(burst.ticks.map(utcText) == ["2020-01-31T23:59:58Z", "2020-01-31T23:59:59Z"])
    }

    @Test func agreesWithWalkingForward() {
        // Whatever the window and limit, the answer is the tail of the ticks walked one by one.
        var generator = SeededGenerator(seed: 16)
        for expression in ["*/7 * * * *", "0 9 * * MON-FRI", "*/20 * * * * *", "30 2 * * *", "0 0 1,15 * 5"] {
            for rules in [ZoneRules.utc, database.isInstalled ? zone("America/New_York") : .utc] {
                let schedule = Schedule(cron: cron(expression), zone: rules)
                for _ in 0..<20 {
                    let from = utc("2024-01-01T00:00:00Z") + Int64(generator.next() % (366 * 86_400_000))
                    let to = from + Int64(generator.next() % (3 * 86_400_000))
                    let limit = Int(generator.next() % 6) + 1
                    var walked: [Int64] = []
                    var last = from
                    while let tick = schedule.nextTick(after: last), tick <= to {
                        walked.append(tick)
                        last = tick
                    }
                    let missed = schedule.missedTicks(from: from, to: to, limit: limit)
                    #expect(missed.ticks == Array(walked.suffix(limit)), "\(expression) in \(rules) from \(utcText(from)) to \(utcText(to))")
                    #expect(missed.earlierOmitted == (walked.count > limit))
                }
            }
        }
    }
}

@Suite(.enabled(if: database.isInstalled, "\(zoneFilesMissing)"))
struct DaylightSavingScheduleTests {
    // Expected instants verified with Python's zoneinfo (tzdata 2025b): the unique and first
    // occurrences are datetime(..., tzinfo=ZoneInfo(zone), fold=0) in UTC; gap ticks are the
    // transition instants found by bisecting utcoffset().

    @Test func newYorkSpringForward() {
        let newYork = zone("America/New_York")
        // 02:30 does not exist on 2024-03-10: it fires once at 03:00 EDT (07:00Z), the jump.
        #expect(ticks("30 2 * * *", in: newYork, after: "2024-03-08T12:00:00Z", count: 3) == [
            "2024-03-09T07:30:00Z", "2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z",
        ])
        // 02:00 and 02:30 both fall in the gap and 03:00 is the jump itself: one tick for all.
        #expect(ticks("*/30 * * * *", in: newYork, after: "2024-03-10T05:45:00Z", count: 4) == [
            "2024-03-10T06:00:00Z", "2024-03-10T06:30:00Z", "2024-03-10T07:00:00Z", "2024-03-10T07:30:00Z",
        ])
        #expect(ticks("* * * * * *", in: newYork, after: "2024-03-10T06:59:58Z", count: 3) == [
            "2024-03-10T06:59:59Z", "2024-03-10T07:00:00Z", "2024-03-10T07:00:01Z",
        ])
        // Just before and exactly at the jump.
        #expect(ticks("30 2 * * *", in: newYork, after: "2024-03-10T06:59:59Z", count: 1) == ["2024-03-10T07:00:00Z"])
        #expect(ticks("30 2 * * *", in: newYork, after: "2024-03-10T07:00:00Z", count: 1) == ["2024-03-11T06:30:00Z"])
    }

    @Test func newYorkFallBack() {
        let newYork = zone("America/New_York")
        // 01:30 happens at 05:30Z (EDT) and 06:30Z (EST) on 2024-11-03: it fires at the first.
        #expect(ticks("30 1 * * *", in: newYork, after: "2024-11-01T12:00:00Z", count: 3) == [
            "2024-11-02T05:30:00Z", "2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z",
        ])
        // Every half hour runs through the first 01:00-01:59 and resumes at 02:00 EST.
        #expect(ticks("*/30 * * * *", in: newYork, after: "2024-11-03T04:00:00Z", count: 4) == [
            "2024-11-03T04:30:00Z", "2024-11-03T05:00:00Z", "2024-11-03T05:30:00Z", "2024-11-03T07:00:00Z",
        ])
        // Asked during the second 01:xx (01:10 EST), the repeated matches are not fired again.
        #expect(ticks("*/30 * * * *", in: newYork, after: "2024-11-03T06:10:00Z", count: 1) == ["2024-11-03T07:00:00Z"])
        #expect(ticks("30 1 * * *", in: newYork, after: "2024-11-03T06:00:00Z", count: 1) == ["2024-11-04T06:30:00Z"])
        // A wall time outside the repeated hour is untouched.
        #expect(ticks("30 2 * * *", in: newYork, after: "2024-11-02T12:00:00Z", count: 2) == [
            "2024-11-03T07:30:00Z", "2024-11-04T07:30:00Z",
        ])
    }

    @Test func berlinBothTransitions() {
        let berlin = zone("Europe/Berlin")
        // 2024-03-31: 02:00 CET jumps to 03:00 CEST at 01:00Z.
        #expect(ticks("30 2 * * *", in: berlin, after: "2024-03-29T12:00:00Z", count: 3) == [
            "2024-03-30T01:30:00Z", "2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z",
        ])
        // 2024-10-27: 03:00 CEST falls back to 02:00 CET at 01:00Z; 02:30 fires at 00:30Z only.
        #expect(ticks("30 2 * * *", in: berlin, after: "2024-10-25T12:00:00Z", count: 3) == [
            "2024-10-26T00:30:00Z", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z",
        ])
        #expect(ticks("30 1 * * *", in: berlin, after: "2024-10-25T12:00:00Z", count: 3) == [
            "2024-10-25T23:30:00Z", "2024-10-26T23:30:00Z", "2024-10-28T00:30:00Z",
        ])
        #expect(ticks("0 * * * *", in: berlin, after: "2024-10-26T23:30:00Z", count: 4) == [
            "2024-10-27T00:00:00Z", "2024-10-27T02:00:00Z", "2024-10-27T03:00:00Z", "2024-10-27T04:00:00Z",
        ])
    }

    @Test func year2100ComesFromTheFooter() {
        let newYork = zone("America/New_York")
        #expect(ticks("30 2 * * *", in: newYork, after: "2100-03-12T12:00:00Z", count: 3) == [
            "2100-03-13T07:30:00Z", "2100-03-14T07:00:00Z", "2100-03-15T06:30:00Z",
        ])
        #expect(ticks("30 1 * * *", in: newYork, after: "2100-11-06T12:00:00Z", count: 2) == [
            "2100-11-07T05:30:00Z", "2100-11-08T06:30:00Z",
        ])
        #expect(ticks("30 2 * * *", in: zone("Europe/Berlin"), after: "2100-03-27T12:00:00Z", count: 2) == [
            "2100-03-28T01:00:00Z", "2100-03-29T00:30:00Z",
        ])
    }

    @Test(.enabled(if: database.isInstalled && zoneError("Australia/Lord_Howe") == nil, "Australia/Lord_Howe is not installed"))
    func lordHoweHalfHourShifts() {
        let lordHowe = zone("Australia/Lord_Howe")
        // 2024-10-06: 02:00 jumps to 02:30 (+10:30 to +11); 02:15 fires at the jump, 15:30Z.
        #expect(ticks("15 2 * * *", in: lordHowe, after: "2024-10-04T00:00:00Z", count: 3) == [
            "2024-10-04T15:45:00Z", "2024-10-05T15:30:00Z", "2024-10-06T15:15:00Z",
        ])
        // 2024-04-07: 02:00 falls back to 01:30; 01:45 fires once, at its first occurrence.
        #expect(ticks("45 1 * * *", in: lordHowe, after: "2024-04-05T00:00:00Z", count: 3) == [
            "2024-04-05T14:45:00Z", "2024-04-06T14:45:00Z", "2024-04-07T15:15:00Z",
        ])
    }

    @Test func aYearOfTicksNeverRepeatsOrGoesBack() {
        // Every 10 minutes through 2024 in several zones: ticks strictly increase, each is a
        // match of the expression on the local clock or the instant of a spring-forward jump,
        // and no local wall time fires twice.
        for name in ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Europe/Dublin", "Pacific/Chatham"] {
            guard zoneError(name) == nil else { continue }
            let rules = zone(name)
            let expression = cron("*/10 * * * *")
            let schedule = Schedule(cron: expression, zone: rules)
            var previous = utc("2024-01-01T00:00:00Z") - 1
            var seen = Set<LocalDateTime>()
            var count = 0
            while let tick = schedule.nextTick(after: previous), tick < utc("2025-01-01T00:00:00Z") {
                let local = rules.localDateTime(at: tick)
                let isJump = rules.offsetSeconds(at: tick - 1) < rules.offsetSeconds(at: tick)
                #expect(expression.matches(local) || isJump, "\(name) \(utcText(tick))")
                #expect(seen.insert(local).inserted, "\(name) \(local) fired twice")
                previous = tick
                count += 1
            }
            // 52,704 ten-minute slots in a leap year, less those merged into the jump's tick: the
            // gap's six and the slot at the jump (03:00 in New York) become one tick; Lord Howe's
            // half-hour gap holds three slots and Chatham's (02:45 to 03:45) six, with 03:45 no slot.
            let merged = ["Australia/Lord_Howe": 3, "Pacific/Chatham": 5][name] ?? 6
            #expect(count == 52_704 - merged, "\(name)")
        }
    }
}
