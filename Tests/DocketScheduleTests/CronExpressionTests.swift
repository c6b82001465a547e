import DocketSchedule
import Testing

@Suite struct CronParsingTests {
    @Test func syntaxFormsMeanWhatCronMeans() {
        #expect(cron("0 0 * * 7") == cron("0 0 * * 0"))
        #expect(cron("0 0 * * sun") == cron("0 0 * * 0"))
        #expect(cron("0 0 * * Mon-FRI") == cron("0 0 * * 1,2,3,4,5"))
        #expect(cron("0 0 * * FRI-SUN") == cron("0 0 * * 5,6,0"))
        #expect(cron("0 0 * * 5-7") == cron("0 0 * * 0,5,6"))
        #expect(cron("0 0 * * 5-0") == cron("0 0 * * 0,5,6"))
        #expect(cron("0 0 1 jan,Jul *") == cron("0 0 1 1,7 *"))
        #expect(cron("0 0 1 MAR-may *") == cron("0 0 1 3,4,5 *"))
        #expect(cron("*/15 * * * *") == cron("0,15,30,45 * * * *"))
        #expect(cron("5/15 * * * *") == cron("5,20,35,50 * * * *"))
        #expect(cron("1-10/3 * * * *") == cron("1,4,7,10 * * * *"))
        #expect(cron("0 */6 * * *") == cron("0 0,6,12,18 * * *"))
        #expect(cron("0 0 */10 * *") == cron("0 0 1,11,21,31 * *"))
        #expect(cron("0 0 1 */4 *") == cron("0 0 1 1,5,9 *"))
        #expect(cron("0 0 * * */2") == cron("0 0 * * 0,2,4,6"))
        #expect(cron("1,2-4,10-20/5 * * * *") == cron("1,2,3,4,10,15,20 * * * *"))
        #expect(cron("  0\t12  * * *  ") == cron("0 12 * * *"))
        #expect(cron("  0\t12  * * *  ").source == "0\t12  * * *")
    }

    @Test func macros() {
        #expect(cron("@yearly") == cron("0 0 1 1 *"))
        #expect(cron("@annually") == cron("0 0 1 1 *"))
        #expect(cron("@monthly") == cron("0 0 1 * *"))
        #expect(cron("@weekly") == cron("0 0 * * 0"))
        #expect(cron("@daily") == cron("0 0 * * *"))
        #expect(cron("@midnight") == cron("0 0 * * *"))
        #expect(cron("@hourly") == cron("0 * * * *"))
        #expect(cron("@HOURLY") == cron("0 * * * *"))
        #expect(cron("@daily").source == "@daily")
    }

    @Test func sixFieldsPutSecondsFirst() {
        let expression = cron("*/20 0 12 * * *")
        #expect(expression.hasSeconds)
        #expect(!cron("0 12 * * *").hasSeconds)
        #expect(cron("0 0 12 * * *") == cron("0 12 * * *"))
        #expect(matches("*/20 0 12 * * *", after: "2024-01-01T11:59:59", count: 4) == [
            "2024-01-01T12:00:00", "2024-01-01T12:00:20", "2024-01-01T12:00:40", "2024-01-02T12:00:00",
        ])
        #expect(matches("30 * * * * *", after: "2024-12-31T23:59:30", count: 2) == [
            "2025-01-01T00:00:30", "2025-01-01T00:01:30",
        ])
    }

    @Test func errorsNameTheFieldAndWhatWasExpected() {
        #expect(cronError("") == "expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a macro such as @daily; got 0")
        #expect(cronError("* * * *") == "expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a macro such as @daily; got 4")
        #expect(cronError("* * * * * * *")?.hasSuffix("got 7") == true)
        #expect(cronError("60 * * * *") == "minute field \"60\": 60 is out of range 0-59")
        #expect(cronError("0 24 * * *") == "hour field \"24\": 24 is out of range 0-23")
        #expect(cronError("0 0 0 * *") == "day-of-month field \"0\": 0 is out of range 1-31")
        #expect(cronError("0 0 32 * *") == "day-of-month field \"32\": 32 is out of range 1-31")
        #expect(cronError("0 0 1 13 *") == "month field \"13\": 13 is out of range 1-12")
        #expect(cronError("0 0 * * 8") == "day-of-week field \"8\": 8 is out of range 0-7")
        #expect(cronError("60 0 0 * * *") == "second field \"60\": 60 is out of range 0-59")
        #expect(cronError("0 0 1 JANUARY *") == "month field \"JANUARY\": expected a number 1-12 or a name JAN-DEC, got \"JANUARY\"")
        #expect(cronError("0 0 * * MON-FUN") == "day-of-week field \"MON-FUN\": expected a number 0-7 (0 and 7 are Sunday) or a name SUN-SAT, got \"FUN\"")
        #expect(cronError("0 MON * * *") == "hour field \"MON\": expected a number 0-23, got \"MON\"")
        #expect(cronError("0 0 L * *") == "day-of-month field \"L\": expected a number 1-31, got \"L\" (L, W, # and ? are not standard cron)")
        #expect(cronError("0 0 15W * *")?.hasSuffix("(L, W, # and ? are not standard cron)") == true)
        #expect(cronError("0 0 * * 5#3")?.hasSuffix("(L, W, # and ? are not standard cron)") == true)
        #expect(cronError("0 0 ? * 1")?.hasSuffix("(L, W, # and ? are not standard cron)") == true)
        #expect(cronError("*/0 * * * *") == "minute field \"*/0\": the step after / must be a number from 1 to 59")
        #expect(cronError("*/60 * * * *") == "minute field \"*/60\": the step after / must be a number from 1 to 59")
        #expect(cronError("0 */x * * *") == "hour field \"*/x\": the step after / must be a number from 1 to 23")
        #expect(cronError("*/5/2 * * * *")?.hasPrefix("minute field \"*/5/2\": \"*/5/2\" has more than one /;") == true)
        #expect(cronError("1,,2 * * * *") == "minute field \"1,,2\": an empty item in the list; expected a number 0-59, a range such as 0-4, * or a step such as */2, or a list of them")
        #expect(cronError("5- * * * *")?.hasPrefix("minute field \"5-\": \"5-\" is not a value or a range;") == true)
        #expect(cronError("1-2-3 * * * *")?.hasPrefix("minute field \"1-2-3\": \"1-2-3\" is not a value or a range;") == true)
        #expect(cronError("-1 * * * *")?.hasPrefix("minute field \"-1\": \"-1\" is not a value or a range;") == true)
        #expect(cronError("0 20-5 * * *") == "hour field \"20-5\": the range 20-5 runs backwards; write it from the lower value to the higher")
        #expect(cronError("0 0 * * SAT-MON") == "day-of-week field \"SAT-MON\": the range SAT-MON runs backwards; write it from the lower value to the higher")
        #expect(cronError("0 0 30 2 *") == "day-of-month field \"30\" never occurs in month field \"2\"")
        #expect(cronError("0 0 31 APR,JUN,SEP,NOV *") == "day-of-month field \"31\" never occurs in month field \"APR,JUN,SEP,NOV\"")
        #expect(cronError("@reboot") == "@reboot is not supported: a schedule fires at times, not at start-up")
        #expect(cronError("@every 5m") == "unknown macro \"@every 5m\": expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly")
        #expect(cronError("0000 * * * *") == "minute field \"0000\": 0000 is out of range 0-59")
        #expect(cronError("99999999999999999999 * * * *") == "minute field \"99999999999999999999\": 9999999999999999 is out of range 0-59")
    }

    @Test func possibleRareDatesAreAccepted() {
        // Feb 29 only in leap years; the 31st only in long months; either day field in OR mode.
        #expect(cronError("0 0 29 2 *") == nil)
        #expect(cronError("0 0 31 * *") == nil)
        #expect(cronError("0 0 30 2 1") == nil)  // Feb 30 never, but every Monday in February
    }
}

@Suite struct CronMatchingTests {
    @Test func dayOfMonthOrDayOfWeekWhenBothAreRestricted() {
        // crontab(5): "30 4 1,15 * 5" runs on the 1st, the 15th and every Friday.
        // March 2024: Fridays are the 1st, 8th, 15th, 22nd and 29th; April 1st is a Monday.
        #expect(matches("30 4 1,15 * 5", after: "2024-03-01T00:00", count: 6) == [
            "2024-03-01T04:30:00", "2024-03-08T04:30:00", "2024-03-15T04:30:00", "2024-03-22T04:30:00",
            "2024-03-29T04:30:00", "2024-04-01T04:30:00",
        ])
        // A star in either day field means both must match: the 1st only, or Fridays only.
        #expect(matches("0 9 1 * *", after: "2024-03-01T12:00", count: 2) == ["2024-04-01T09:00:00", "2024-05-01T09:00:00"])
        #expect(matches("0 9 * * 5", after: "2024-03-01T12:00", count: 2) == ["2024-03-08T09:00:00", "2024-03-15T09:00:00"])
        // A field starting with * counts as a star even with a step: odd days that are Fridays.
        #expect(matches("0 9 */2 * 5", after: "2024-03-01T12:00", count: 3) == [
            "2024-03-15T09:00:00", "2024-03-29T09:00:00", "2024-04-05T09:00:00",
        ])
        // Both restricted through a full range is still OR (1-31 is not written as *).
        #expect(matches("0 9 1-31 * 5", after: "2024-03-01T12:00", count: 2) == ["2024-03-02T09:00:00", "2024-03-03T09:00:00"])
        let expression = cron("0 9 1,15 * 5")
        #expect(expression.matches(wall("2024-03-08T09:00")))  // a Friday
        #expect(expression.matches(wall("2024-04-15T09:00")))  // a Monday the 15th
        #expect(!expression.matches(wall("2024-04-16T09:00")))
    }

    @Test func leapDays() {
        #expect(matches("0 0 29 2 *", after: "2023-01-01T00:00", count: 4) == [
            "2024-02-29T00:00:00", "2028-02-29T00:00:00", "2032-02-29T00:00:00", "2036-02-29T00:00:00",
        ])
        // 2100 is not a leap year; 2000 was.
        #expect(matches("0 0 29 2 *", after: "2096-03-01T00:00", count: 2) == ["2104-02-29T00:00:00", "2108-02-29T00:00:00"])
        #expect(matches("0 0 29 2 *", after: "1999-01-01T00:00", count: 1) == ["2000-02-29T00:00:00"])
        // Feb 29 on a weekend (a day-of-week starting with * makes it AND): Saturday 2020-02-29,
        // then Sunday 2032-02-29.
        #expect(matches("0 12 29 FEB */6", after: "2012-03-01T00:00", count: 3) == [
            "2020-02-29T12:00:00", "2032-02-29T12:00:00", "2048-02-29T12:00:00",
        ])
    }

    @Test func monthEnds() {
        #expect(matches("0 0 31 * *", after: "2024-01-31T00:00", count: 4) == [
            "2024-03-31T00:00:00", "2024-05-31T00:00:00", "2024-07-31T00:00:00", "2024-08-31T00:00:00",
        ])
        #expect(matches("0 0 30 * *", after: "2024-01-30T00:00", count: 2) == ["2024-03-30T00:00:00", "2024-04-30T00:00:00"])
        #expect(matches("59 23 28-31 2 *", after: "2024-02-28T00:00", count: 3) == [
            "2024-02-28T23:59:00", "2024-02-29T23:59:00", "2025-02-28T23:59:00",
        ])
        #expect(matches("0 0 1 * *", after: "2024-12-15T00:00", count: 2) == ["2025-01-01T00:00:00", "2025-02-01T00:00:00"])
        #expect(matches("* * * * *", after: "2024-12-31T23:58:00", count: 3) == [
            "2024-12-31T23:59:00", "2025-01-01T00:00:00", "2025-01-01T00:01:00",
        ])
    }

    @Test func stepsAndRangesAcrossBoundaries() {
        #expect(matches("*/20 9-10 * * *", after: "2024-06-01T09:30", count: 5) == [
            "2024-06-01T09:40:00", "2024-06-01T10:00:00", "2024-06-01T10:20:00", "2024-06-01T10:40:00", "2024-06-02T09:00:00",
        ])
        #expect(matches("0 0 * * MON-FRI", after: "2024-06-07T00:00", count: 2) == ["2024-06-10T00:00:00", "2024-06-11T00:00:00"])
        #expect(matches("@yearly", after: "2024-01-01T00:00", count: 2) == ["2025-01-01T00:00:00", "2026-01-01T00:00:00"])
        #expect(matches("@weekly", after: "2024-06-01T00:00", count: 1) == ["2024-06-02T00:00:00"])
    }

    @Test func nextMatchIsInclusiveAndRoundsMillisecondsUp() {
        let expression = cron("0 12 * * *")
        #expect(expression.nextMatch(onOrAfter: wall("2024-01-01T12:00"))?.description == "2024-01-01T12:00:00")
        var late = wall("2024-01-01T12:00")
        late.millisecond = 1
        #expect(expression.nextMatch(onOrAfter: late)?.description == "2024-01-02T12:00:00")
        #expect(wall("1969-12-31T23:59:59").wallMilliseconds == -1000)
        #expect(expression.nextMatch(onOrAfter: wall("1969-12-31T13:00"))?.description == "1970-01-01T12:00:00")
    }

    @Test func calendarRoundTrips() {
        // Every day from 1600 to 2400: day numbers and dates agree, weekdays advance by one.
        var days = LocalDateTime(year: 1600, month: 1, day: 1).wallMilliseconds / 86_400_000
        var weekday = LocalDateTime(year: 1600, month: 1, day: 1).weekday
        #expect(weekday == 6)  // 1600-01-01 was a Saturday
        var date = LocalDateTime(year: 1600, month: 1, day: 1)
        while date.year < 2400 {
            #expect(date.wallMilliseconds == days * 86_400_000)
            #expect(date.weekday == weekday)
            #expect(date.isValid)
            days += 1
            weekday = (weekday + 1) % 7
            let next = LocalDateTime(wallMilliseconds: days * 86_400_000)
            if date.day < 28 {
                #expect(next == LocalDateTime(year: date.year, month: date.month, day: date.day + 1))
            }
            date = next
        }
        #expect(LocalDateTime(year: 2024, month: 3, day: 10).weekday == 0)
        #expect(!LocalDateTime(year: 2023, month: 2, day: 29).isValid)
    }
}
