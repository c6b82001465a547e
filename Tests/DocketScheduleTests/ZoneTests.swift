import DocketSchedule
import Testing

let database = TimeZoneDatabase()
let zoneFilesMissing = "no time zone database at /usr/share/zoneinfo (install the tzdata package)"

func zone(_ name: String) -> ZoneRules {
    do {
        return try database.rules(for: name)
    } catch {
        Issue.record("\(name): \(error)")
        return .utc
    }
}

func zoneError(_ name: String, in database: TimeZoneDatabase = database) -> String? {
    do {
        _ = try database.rules(for: name)
        return nil
    } catch {
        return error.message
    }
}

/// The offset changes in `[start, end)` as `(UTC time, offset after)`.
func changes(_ rules: ZoneRules, from start: String, to end: String) -> [String] {
    var result: [String] = []
    var instant = utc(start) - 1
    while let change = rules.nextOffsetChange(after: instant), change < utc(end) {
        result.append("\(utcText(change)) \(rules.offsetSeconds(at: change))")
        instant = change
    }
    return result
}

/// A TZif file for tests: one data block per the version, 64-bit times from version 2.
func tzif(version: Character, transitions: [(Int64, UInt8)], offsets: [Int32], footer: String? = nil, leaps: Int = 0) -> [UInt8] {
    func header(_ times: Int, _ timeSize: Int) -> [UInt8] {
        var bytes = Array("TZif".utf8) + [version == "1" ? 0 : version.asciiValue!] + [UInt8](repeating: 0, count: 15)
        for count in [0, 0, leaps, times, offsets.count, offsets.count * 4] {
            bytes += withUnsafeBytes(of: UInt32(count).bigEndian, Array.init)
        }
        return bytes
    }
    func block(_ timeSize: Int, _ list: [(Int64, UInt8)]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (time, _) in list {
            bytes += timeSize == 4 ? withUnsafeBytes(of: Int32(time).bigEndian, Array.init) : withUnsafeBytes(of: time.bigEndian, Array.init)
        }
        bytes += list.map(\.1)
        for (index, offset) in offsets.enumerated() {
            bytes += withUnsafeBytes(of: offset.bigEndian, Array.init) + [0, UInt8(index * 4)]
        }
        bytes += offsets.flatMap { _ in Array("ABC\0".utf8) }
        for _ in 0..<leaps { bytes += [UInt8](repeating: 0, count: timeSize + 4) }
        return bytes
    }
    if version == "1" { return header(transitions.count, 4) + block(4, transitions) }
    // The version 1 block of a modern file may be empty.
    return header(0, 4) + block(4, []) + header(transitions.count, 8) + block(8, transitions)
        + Array("\n\(footer ?? "")\n".utf8)
}

@Suite struct ZoneNameTests {
    @Test func namesThatCouldLeaveTheDirectoryAreRefused() {
        let traversal = "a zone name may not start with / or contain .."
        #expect(zoneError("../../etc/passwd") == "time zone \"../../etc/passwd\": \(traversal)")
        #expect(zoneError("/etc/passwd") == "time zone \"/etc/passwd\": \(traversal)")
        #expect(zoneError("Europe/../../etc/passwd") == "time zone \"Europe/../../etc/passwd\": \(traversal)")
        #expect(zoneError("Europe/..") == "time zone \"Europe/..\": \(traversal)")
        let shape = "expected an IANA name such as Europe/Berlin, UTC, or an offset such as +05:30"
        #expect(zoneError("") == "time zone \"\": \(shape)")
        #expect(zoneError("Europe//Berlin") == "time zone \"Europe//Berlin\": \(shape)")
        #expect(zoneError("Europe/Berlin/") == "time zone \"Europe/Berlin/\": \(shape)")
        #expect(zoneError("./UTC") == "time zone \"./UTC\": \(shape)")
        #expect(zoneError(".hidden") == "time zone \".hidden\": \(shape)")
        #expect(zoneError("Europe Berlin") == "time zone \"Europe Berlin\": \(shape)")
        #expect(zoneError("Europe/Berlin\u{0}") == "time zone \"Europe/Berlin\u{0}\": \(shape)")
        #expect(zoneError("Europe/Zürich") == "time zone \"Europe/Zürich\": \(shape)")
        #expect(zoneError(String(repeating: "A", count: 256)) != nil)
    }

    @Test(.enabled(if: database.isInstalled, "\(zoneFilesMissing)"))
    func unknownNamesAndFilesThatAreNotZones() {
        #expect(zoneError("Mars/Olympus_Mons") == "unknown time zone \"Mars/Olympus_Mons\"")
        #expect(zoneError("America") == "unknown time zone \"America\"")  // a directory
        #expect(zoneError("Europe/Berlin/x") == "unknown time zone \"Europe/Berlin/x\"")
        #expect(zoneError("europe/berlin") == "unknown time zone \"europe/berlin\"")
        #expect(zoneError("zone.tab") == "time zone \"zone.tab\": not a zone file (no TZif header)")
        #expect(zone("Europe/Berlin").identifier == "Europe/Berlin")
        #expect(zone("Etc/UTC").offsetSeconds(at: 0) == 0)
        #expect(zone("Etc/GMT+5").offsetSeconds(at: 0) == -5 * 3600)  // POSIX sign: five hours west
    }

    @Test(.enabled(if: TimeZoneDatabase(directory: "/usr/share/zoneinfo/right").isInstalled, "no right/ zones installed"))
    func leapSecondZonesAreRefused() {
        #expect(zoneError("right/Europe/Berlin") == "time zone \"right/Europe/Berlin\": zones with leap seconds (right/...) are not supported; use the zone without right/")
    }

    @Test func withoutTheDatabaseOnlyUTCAndOffsetsWork() throws {
        let missing = TimeZoneDatabase(directory: "/nonexistent/zoneinfo")
        #expect(!missing.isInstalled)
        #expect(try missing.rules(for: "UTC") == .utc)
        #expect(try missing.rules(for: "+02:00").offsetSeconds(at: 0) == 7200)
        #expect(zoneError("Europe/Berlin", in: missing) == "unknown time zone \"Europe/Berlin\": no time zone database at /nonexistent/zoneinfo (install tzdata); UTC and offsets such as +05:30 work without it")
    }

    @Test func fixedOffsets() throws {
        let none = TimeZoneDatabase(directory: "/nonexistent")
        for (text, seconds, name) in [
            ("+05:30", 19_800, "+05:30"), ("-08:00", -28_800, "-08:00"), ("+0530", 19_800, "+05:30"), ("+5", 18_000, "+05:00"),
            ("-3:30", -12_600, "-03:30"), ("UTC+05:45", 20_700, "+05:45"), ("UTC-8", -28_800, "-08:00"), ("+00:00", 0, "UTC"),
            ("+14:00", 50_400, "+14:00"),
        ] {
            let rules = try none.rules(for: text)
            #expect(rules.offsetSeconds(at: 1_700_000_000_000) == seconds, "\(text)")
            #expect(rules.identifier == name, "\(text)")
            #expect(rules.nextOffsetChange(after: 0) == nil)
        }
        for bad in ["+24:00", "+05:60", "+5:3", "+05:30:00", "+", "-:", "+05::30", "UTC+", "+123"] {
            #expect(zoneError(bad, in: none) == "the fixed offset \"\(bad)\" is not valid: expected +HH:MM or -HH:MM, under 24 hours", "\(bad)")
        }
        #expect(try ZoneRules.fixed(offsetSeconds: -(9 * 3600 + 30 * 60 + 15)).identifier == "-09:30:15")
        #expect(throws: ScheduleError("a fixed UTC offset must be less than 24 hours either way")) {
            try ZoneRules.fixed(offsetSeconds: 86_400)
        }
        let india = try none.rules(for: "+05:30")
        #expect(india.localDateTime(at: utc("2024-01-01T00:00:00Z")) == wall("2024-01-01T05:30:00"))
        #expect(india.resolve(wall("2024-01-01T05:30:00")) == .unique(utc("2024-01-01T00:00:00Z")))
    }
}

@Suite struct TZifTests {
    @Test func versionOneFilesUseTheirThirtyTwoBitTimes() throws {
        let rules = try ZoneRules(
            identifier: "Test/V1", tzif: tzif(version: "1", transitions: [(1_000_000, 1), (2_000_000, 0)], offsets: [3600, 7200]))
        #expect(rules.offsetSeconds(at: 999_999_999) == 3600)
        #expect(rules.offsetSeconds(at: 1_000_000_000) == 7200)
        #expect(rules.offsetSeconds(at: 2_000_000_000) == 3600)
        #expect(rules.offsetSeconds(at: 4_000_000_000_000) == 3600)  // no footer: the last type stays
        #expect(rules.nextOffsetChange(after: 0) == 1_000_000_000)
        #expect(rules.nextOffsetChange(after: 2_000_000_000) == nil)
    }

    @Test func footerAloneGovernsAZoneWithoutTransitions() throws {
        // Lord Howe's footer: half-hour daylight saving from the first Sunday in October to the
        // first Sunday in April. Changes verified with Python's zoneinfo on Australia/Lord_Howe.
        let rules = try ZoneRules(
            identifier: "Test/LH", tzif: tzif(version: "2", transitions: [], offsets: [37_800], footer: "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"))
        #expect(changes(rules, from: "2024-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z") == [
            "2024-04-06T15:00:00Z 37800", "2024-10-05T15:30:00Z 39600",
        ])
    }

    @Test func versionThreeFooterExtensions() throws {
        // Negative and over-24-hour transition times (America/Nuuk, Asia/Gaza).
        let nuuk = try ZoneRules(
            identifier: "Test/Nuuk", tzif: tzif(version: "3", transitions: [], offsets: [-7200], footer: "<-02>2<-01>,M3.5.0/-1,M10.5.0/0"))
        // 2030: the last Sunday of March is the 31st; -1:00 that day (23:00 on the 30th) in -02
        // is 01:00Z on the 31st. The last Sunday of October is the 27th; 00:00 in -01 is 01:00Z.
        #expect(changes(nuuk, from: "2030-01-01T00:00:00Z", to: "2031-01-01T00:00:00Z") == [
            "2030-03-31T01:00:00Z -3600", "2030-10-27T01:00:00Z -7200",
        ])
        let gaza = try ZoneRules(
            identifier: "Test/Gaza", tzif: tzif(version: "3", transitions: [], offsets: [7200], footer: "EET-2EEST,M3.4.4/50,M10.4.4/50"))
        // Fourth Thursday of March 2030 is the 28th; 50:00 after its midnight is Saturday the
        // 30th 02:00 EET, 00:00Z. Fourth Thursday of October is the 24th; Saturday 26th 02:00
        // EEST is 23:00Z on the 25th.
        #expect(changes(gaza, from: "2030-01-01T00:00:00Z", to: "2031-01-01T00:00:00Z") == [
            "2030-03-30T00:00:00Z 10800", "2030-10-25T23:00:00Z 7200",
        ])
        // Daylight time all year: no change ever.
        let always = try ZoneRules(
            identifier: "Test/Always", tzif: tzif(version: "3", transitions: [(0, 0)], offsets: [-7200], footer: "<-03>3<-02>,0/0,J365/25"))
        #expect(always.offsetSeconds(at: utc("2031-06-01T00:00:00Z")) == -7200)
        #expect(always.offsetSeconds(at: utc("2031-12-31T23:59:59Z")) == -7200)
        #expect(always.offsetSeconds(at: utc("2032-01-01T02:30:00Z")) == -7200)
        #expect(always.nextOffsetChange(after: utc("2030-01-01T00:00:00Z")) == nil)
    }

    /// Found by `scripts/fuzz.sh schedule`: with both changes past the end of their year's last
    /// day, early January saw none of the year before's and read standard time, though
    /// daylight time had begun two years back and never ended.
    @Test func changesThatAllFallInTheNextYear() throws {
        // Daylight time starts at 01:00Z on January 1 (day 365 at 25:00 standard) and ends then
        // too (26:00 daylight): it ends and starts again at the same instant, so it never ends.
        let rules = try ZoneRules(identifier: "Test/Spill", tzif: tzif(version: "3", transitions: [], offsets: [0], footer: "ESST0EDr,J365/25,J365/26"))
        #expect(rules.offsetSeconds(at: utc("1970-01-01T00:00:00Z")) == 3600)
        #expect(rules.offsetSeconds(at: utc("2031-01-01T00:30:00Z")) == 3600)
        #expect(rules.nextOffsetChange(after: 0) == nil)
        #expect(rules.resolve(LocalDateTime(wallMilliseconds: 0)) == .unique(-3_600_000))
        // Two hours of daylight time that begin on January 1 of the next year.
        let short = try ZoneRules(identifier: "Test/Short", tzif: tzif(version: "3", transitions: [], offsets: [0], footer: "STD0DST,J365/25,J365/28"))
        #expect(short.offsetSeconds(at: utc("2031-01-01T00:30:00Z")) == 0)
        #expect(short.offsetSeconds(at: utc("2031-01-01T01:30:00Z")) == 3600)
        #expect(changes(short, from: "2030-06-01T00:00:00Z", to: "2031-06-01T00:00:00Z") == [
            "2031-01-01T01:00:00Z 3600", "2031-01-01T03:00:00Z 0",
        ])
    }

    @Test func negativeDaylightSaving() throws {
        // Europe/Dublin's footer: "standard" time is summer time (IST) and winter is the
        // negative daylight saving (GMT), from the last Sunday of October to that of March.
        let dublin = try ZoneRules(
            identifier: "Test/Dublin", tzif: tzif(version: "2", transitions: [], offsets: [3600], footer: "IST-1GMT0,M10.5.0,M3.5.0/1"))
        #expect(changes(dublin, from: "2030-01-01T00:00:00Z", to: "2031-01-01T00:00:00Z") == [
            "2030-03-31T01:00:00Z 3600", "2030-10-27T01:00:00Z 0",
        ])
        #expect(dublin.offsetSeconds(at: utc("2030-01-15T12:00:00Z")) == 0)
        #expect(dublin.offsetSeconds(at: utc("2030-07-15T12:00:00Z")) == 3600)
    }

    /// Found by `scripts/fuzz.sh schedule`: a transition past what Int64 milliseconds reach
    /// (a damaged file, or zic's "big bang" at -2^59 s) overflowed into a trap, and so did a
    /// footer's change after the last such instant.
    @Test func timesBeyondMillisecondInstantsAreAlwaysOrNever() throws {
        let far = Int64.max / 1000 + 1
        let rules = try ZoneRules(
            identifier: "Test/Far", tzif: tzif(version: "2", transitions: [(-far, 1), (1_000_000, 0), (far, 1)], offsets: [0, 3600], footer: ""))
        #expect(rules.offsetSeconds(at: .min) == 3600)
        #expect(rules.nextOffsetChange(after: 0) == 1_000_000_000)
        #expect(rules.nextOffsetChange(after: 2_000_000_000) == nil)
        #expect(rules.offsetSeconds(at: .max) == 0)
        let farFooter = try ZoneRules(
            identifier: "Test/FarFooter", tzif: tzif(version: "2", transitions: [(.max - 5, 1)], offsets: [0, 3600], footer: "<+02>-2"))
        #expect(farFooter.offsetSeconds(at: 0) == 0)
        #expect(Schedule(cron: try CronExpression("30 2 * * *"), zone: farFooter).nextTick(after: 0) == 9_000_000)
        let dublin = try ZoneRules(
            identifier: "Test/Dublin", tzif: tzif(version: "2", transitions: [], offsets: [3600], footer: "IST-1GMT0,M10.5.0,M3.5.0/1"))
        #expect(dublin.nextOffsetChange(after: .max - 1) == nil)
    }

    @Test func malformedFilesAreRefused() {
        func refusal(_ bytes: [UInt8]) -> String? {
            do {
                _ = try ZoneRules(identifier: "Test/Bad", tzif: bytes)
                return nil
            } catch {
                return error.message
            }
        }
        #expect(refusal(Array("hello".utf8)) == "not a zone file (no TZif header)")
        let good = tzif(version: "2", transitions: [(100, 1)], offsets: [0, 3600], footer: "")
        #expect(refusal(good) == nil)
        #expect(refusal(Array(good.dropLast(10))) == "not a valid zone file: the file is shorter than its header says")
        #expect(refusal(Array(good.dropLast(1))) == "not a valid zone file: the footer does not end with a newline")
        #expect(refusal(tzif(version: "2", transitions: [(100, 2)], offsets: [0, 3600])) == "not a valid zone file: a transition to a missing time type")
        #expect(refusal(tzif(version: "2", transitions: [(200, 1), (100, 0)], offsets: [0, 3600])) == "not a valid zone file: transitions out of order")
        #expect(refusal(tzif(version: "2", transitions: [], offsets: [0], leaps: 1)) == "zones with leap seconds (right/...) are not supported; use the zone without right/")
        #expect(refusal(tzif(version: "2", transitions: [], offsets: [0], footer: "EST5EDT,M3.2.0")) == "the POSIX TZ rule \"EST5EDT,M3.2.0\" is not valid: expected ,start[/time],end[/time] after the daylight abbreviation")
        #expect(refusal(tzif(version: "2", transitions: [], offsets: [0], footer: "E5")) == "the POSIX TZ rule \"E5\" is not valid: expected a zone abbreviation")
        #expect(refusal(tzif(version: "2", transitions: [], offsets: [0], footer: "EST")) == "the POSIX TZ rule \"EST\" is not valid: expected a UTC offset after the abbreviation")
        var version9 = good
        version9[4] = UInt8(ascii: "9")
        #expect(refusal(version9) == "not a valid zone file: unknown TZif version")
    }
}

@Suite(.enabled(if: database.isInstalled, "\(zoneFilesMissing)"))
struct RealZoneTests {
    // Every expected instant here was verified with Python's zoneinfo on this machine's tzdata
    // (2025b), e.g. datetime(2024, 3, 10, 3, 0, tzinfo=ZoneInfo("America/New_York")).

    @Test func newYork() {
        let newYork = zone("America/New_York")
        #expect(changes(newYork, from: "2024-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z") == [
            "2024-03-10T07:00:00Z -14400", "2024-11-03T06:00:00Z -18000",
        ])
        #expect(newYork.offsetSeconds(at: utc("2024-03-10T06:59:59Z")) == -18000)
        #expect(newYork.resolve(wall("2024-03-10T02:30")) == .gap(transition: utc("2024-03-10T07:00:00Z")))
        #expect(newYork.resolve(wall("2024-03-10T02:00")) == .gap(transition: utc("2024-03-10T07:00:00Z")))
        #expect(newYork.resolve(wall("2024-03-10T03:00")) == .unique(utc("2024-03-10T07:00:00Z")))
        #expect(newYork.resolve(wall("2024-03-10T01:59:59")) == .unique(utc("2024-03-10T06:59:59Z")))
        #expect(newYork.resolve(wall("2024-11-03T01:30")) == .overlap(earlier: utc("2024-11-03T05:30:00Z"), later: utc("2024-11-03T06:30:00Z")))
        #expect(newYork.resolve(wall("2024-11-03T01:00")) == .overlap(earlier: utc("2024-11-03T05:00:00Z"), later: utc("2024-11-03T06:00:00Z")))
        #expect(newYork.resolve(wall("2024-11-03T02:00")) == .unique(utc("2024-11-03T07:00:00Z")))
        #expect(newYork.localDateTime(at: utc("2024-11-03T06:30:00Z")) == wall("2024-11-03T01:30"))
        #expect(newYork.localDateTime(at: utc("2024-07-01T16:00:00Z")) == wall("2024-07-01T12:00"))
        // Before 1883 New York kept local mean time, -4:56:02.
        #expect(newYork.offsetSeconds(at: utc("1850-01-01T00:00:00Z")) == -17762)
    }

    @Test func berlin() {
        let berlin = zone("Europe/Berlin")
        #expect(changes(berlin, from: "2024-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z") == [
            "2024-03-31T01:00:00Z 7200", "2024-10-27T01:00:00Z 3600",
        ])
        #expect(berlin.resolve(wall("2024-03-31T02:30")) == .gap(transition: utc("2024-03-31T01:00:00Z")))
        #expect(berlin.resolve(wall("2024-10-27T02:30")) == .overlap(earlier: utc("2024-10-27T00:30:00Z"), later: utc("2024-10-27T01:30:00Z")))
    }

    @Test func footerBeyondTheLastListedTransition() {
        // The files list transitions up to 2037; 2100 comes from the footers
        // EST5EDT,M3.2.0,M11.1.0 and CET-1CEST,M3.5.0,M10.5.0/3.
        #expect(changes(zone("America/New_York"), from: "2100-01-01T00:00:00Z", to: "2101-01-01T00:00:00Z") == [
            "2100-03-14T07:00:00Z -14400", "2100-11-07T06:00:00Z -18000",
        ])
        #expect(changes(zone("Europe/Berlin"), from: "2100-01-01T00:00:00Z", to: "2101-01-01T00:00:00Z") == [
            "2100-03-28T01:00:00Z 7200", "2100-10-31T01:00:00Z 3600",
        ])
        // Across the hand-over from the listed transitions to the footer.
        #expect(changes(zone("America/New_York"), from: "2037-01-01T00:00:00Z", to: "2039-01-01T00:00:00Z") == [
            "2037-03-08T07:00:00Z -14400", "2037-11-01T06:00:00Z -18000",
            "2038-03-14T07:00:00Z -14400", "2038-11-07T06:00:00Z -18000",
        ])
    }

    @Test(.enabled(if: database.isInstalled && zoneError("Australia/Lord_Howe") == nil, "Australia/Lord_Howe is not installed"))
    func lordHoweShiftsByHalfAnHour() {
        let lordHowe = zone("Australia/Lord_Howe")
        #expect(changes(lordHowe, from: "2024-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z") == [
            "2024-04-06T15:00:00Z 37800", "2024-10-05T15:30:00Z 39600",
        ])
        #expect(lordHowe.resolve(wall("2024-10-06T02:15")) == .gap(transition: utc("2024-10-05T15:30:00Z")))
        #expect(lordHowe.resolve(wall("2024-04-07T01:45")) == .overlap(earlier: utc("2024-04-06T14:45:00Z"), later: utc("2024-04-06T15:15:00Z")))
    }
}
