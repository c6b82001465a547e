import DocketSchedule
import Testing

/// Cron ticks against a reference written here in Python on zoneinfo: it walks the calendar a
/// day at a time, matches the fields as crontab(5) reads them (the day-of-month / day-of-week
/// OR rule included), and turns each matching wall time into the instant it fires at by
/// Docket's documented rule: its only or first occurrence, or, for a wall time a
/// spring-forward jump skips, the first instant after the gap (found by bisecting the offset).
/// It shares no code with the library, so the two agreeing around every change of offset in
/// these zones checks the expression walk and the gap and overlap handling together.
enum CronReference {
    static let script = #"""
        import sys
        from datetime import datetime, timedelta, timezone, date
        from zoneinfo import ZoneInfo

        NAMES = {3: ['JAN','FEB','MAR','APR','MAY','JUN','JUL','AUG','SEP','OCT','NOV','DEC'], 4: ['SUN','MON','TUE','WED','THU','FRI','SAT']}
        SPANS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
        MACROS = {'@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
                  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *'}

        def field(text, index):
            low, high = SPANS[index]
            def number(token):
                if token.upper() in NAMES.get(index, []):
                    return NAMES[index].index(token.upper()) + (1 if index == 3 else 0)
                return int(token)
            values = set()
            for item in text.split(','):
                base, _, step = item.partition('/')
                step = int(step) if step else 1
                if base == '*':
                    first, last = low, high
                elif '-' in base:
                    a, b = base.split('-')
                    first, last = number(a), number(b)
                    if index == 4 and last == 0 and first > 0:
                        last = 7
                else:
                    first = number(base)
                    last = high if step != 1 or '/' in item else first
                values.update(v % 7 if index == 4 else v for v in range(first, last + 1, step))
            return values, text.startswith('*')

        def parse(expression):
            expression = MACROS.get(expression.strip(), expression)
            parts = expression.split()
            seconds = {0}
            if len(parts) == 6:
                seconds, _ = field(parts[0], 0)
                parts = parts[1:]
            (minutes, _), (hours, _), (doms, domstar), (months, _), (dows, dowstar) = [field(p, i) for i, p in enumerate(parts)]
            def day(d):
                if d.month not in months: return False
                dom = d.day in doms
                dow = (d.weekday() + 1) % 7 in dows
                return (dom or dow) if not domstar and not dowstar else (dom and dow)
            return sorted(seconds), sorted(minutes), sorted(hours), day

        def offset(zone, instant):
            return datetime.fromtimestamp(instant, timezone.utc).astimezone(zone).utcoffset().total_seconds()

        def resolve(zone, wall):
            """The instant a wall time fires at: its only or first occurrence, or the end of the gap."""
            stamps = []
            for fold in (0, 1):
                stamp = int(wall.replace(tzinfo=zone, fold=fold).timestamp())
                if datetime.fromtimestamp(stamp, timezone.utc).astimezone(zone).replace(tzinfo=None) == wall:
                    stamps.append(stamp)
            if stamps:
                return min(stamps)
            # A gap: the offset changes between the two readings; find the first second after it.
            low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
            high = int(wall.replace(tzinfo=zone, fold=0).timestamp())
            low, high = min(low, high), max(low, high)
            before = offset(zone, low)
            while high - low > 1:
                middle = (low + high) // 2
                if offset(zone, middle) == before: low = middle
                else: high = middle
            return high

        def next_tick(zone, parsed, instant):
            seconds, minutes, hours, day = parsed
            d = datetime.fromtimestamp(instant, timezone.utc).astimezone(zone).date() - timedelta(days=2)
            best = None
            for _ in range(366 * 9):
                if day(d):
                    for h in hours:
                        for m in minutes:
                            for s in seconds:
                                tick = resolve(zone, datetime(d.year, d.month, d.day, h, m, s))
                                if tick > instant and (best is None or tick < best):
                                    best = tick
                if best is not None and datetime.fromtimestamp(best, timezone.utc).astimezone(zone).date() < d - timedelta(days=1):
                    return best
                d += timedelta(days=1)
            return best

        out = []
        for line in open(sys.argv[1]):
            zone_name, count, start, expression = line.rstrip('\n').split(' ', 3)
            zone = ZoneInfo(zone_name)
            parsed = parse(expression)
            instant = int(start)
            ticks = []
            for _ in range(int(count)):
                instant = next_tick(zone, parsed, instant)
                if instant is None: break
                ticks.append(str(instant))
            out.append(' '.join(ticks))
        print('\n'.join(out))
        """#
}

@Suite(.enabled(if: database.isInstalled, "\(zoneFilesMissing)"), .enabled(if: Python.available, "python3 with zoneinfo is not available"))
struct CronCrossCheckTests {
    static let zones = [
        "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Europe/Berlin", "Pacific/Chatham",
        "America/Santiago", "Asia/Tehran",
    ]
    static let expressions = [
        "*/15 * * * *", "30 2 * * *", "30 1 * * *", "45 1 * * *", "*/7 1-3 * * *", "0,30 0-3 * * SUN", "15 2 * * SUN",
        "0 9 1 * MON", "0 9 */2 * FRI", "0 12 * JAN,JUL MON-FRI", "0 0 31 * *", "0 0 29 FEB *", "@daily", "@hourly",
        "@weekly", "20,40 */2 * * *", "0 0 1-7 * 6-0",
    ]

    @Test func ticksAroundEveryOffsetChangeAgree() {
        var lines: [String] = []
        var ours: [String] = []
        for name in Self.zones where zoneError(name) == nil {
            let rules = zone(name)
            // Three hours before each change of 2024 to 2026, and a few ordinary days (a leap
            // day among them).
            var starts = [utc("2024-02-27T10:00:00Z"), utc("2025-01-01T00:00:00Z"), utc("2027-12-31T23:59:59Z")]
            var instant = utc("2024-01-01T00:00:00Z")
            while let change = rules.nextOffsetChange(after: instant), change < utc("2027-01-01T00:00:00Z") {
                starts.append(change - 3 * 3_600_000)
                instant = change
            }
            for expression in Self.expressions {
                let schedule = Schedule(cron: cron(expression), zone: rules)
                for start in starts {
                    lines.append("\(name) 4 \(start / 1000) \(expression)")
                    ours.append(schedule.nextTicks(after: start, count: 4).map { String($0 / 1000) }.joined(separator: " "))
                }
            }
        }
        guard let answers = Python.run(input: lines.joined(separator: "\n") + "\n", script: CronReference.script),
            answers.count == lines.count
        else {
            Issue.record("python3 gave no usable answer")
            return
        }
        var mismatches = 0
        for (index, answer) in answers.enumerated() where answer != ours[index] {
            mismatches += 1
            if mismatches <= 10 { Issue.record("\(lines[index]): \(ours[index]), the reference says \(answer)") }
        }
        #expect(mismatches == 0)
        #expect(lines.count > 1000)
    }
}
