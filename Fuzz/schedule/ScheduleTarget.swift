@testable import DocketSchedule

/// libFuzzer's entry point: one input is a schedule's text and the instants to ask it about.
///
/// Built by `scripts/fuzz.sh schedule`: `Sources/DocketSchedule` is compiled with coverage, this
/// harness with AddressSanitizer only. The first byte chooses what the rest is: a cron
/// expression (UTC, or a zone given after a `|`), a POSIX TZ rule, a TZif file, or a zone name
/// as a client's `tz=` gives it (looked up in the installed database); then instants taken
/// from the input's last bytes are asked about.
///
/// Properties:
/// - parsing ends with a value or a `ScheduleError`, never a trap (overflow, index);
/// - a zone name is refused if it starts with `/` or holds `..`; a fixed offset is under a day;
/// - a cron expression's source is its text without surrounding blanks, and parsing the
///   source again gives an equal expression;
/// - `Schedule.nextTick(after:)` is later than the instant it was asked about, and in UTC or a
///   fixed offset lands on a wall time the expression matches; ticks strictly increase;
/// - a zone's offsets stay within ±26 hours; `nextOffsetChange(after:)` is later than the
///   instant and the offset really differs there; `resolve` of a wall time the zone shows
///   at an instant includes that instant.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = input.first else { return 0 }
    let body = Array(input.dropFirst())
    let instants = instants(from: input)
    switch mode % 4 {
    case 0:
        let text = String(decoding: body, as: UTF8.self)
        let parts = text.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
        var zone = ZoneRules.utc
        if parts.count == 2 {
            guard let rules = try? ZoneRules(identifier: "fuzz", posix: String(parts[1])) else { return 0 }
            zone = rules
        }
        checkCron(String(parts[0]), zone: zone, instants: instants)
    case 1:
        guard let zone = try? ZoneRules(identifier: "fuzz", posix: String(decoding: body, as: UTF8.self)) else { return 0 }
        checkZone(zone, instants: instants)
        checkCron("*/7 * * * *", zone: zone, instants: instants)
    case 2:
        guard let zone = try? ZoneRules(identifier: "fuzz", tzif: body) else { return 0 }
        checkZone(zone, instants: instants)
        checkCron("30 2 * * *", zone: zone, instants: instants)
    default:
        checkZoneName(String(decoding: body, as: UTF8.self), instants: instants)
    }
    return 0
}

/// Milliseconds since 1970 to ask about: fixed ones around the edges of what a schedule
/// covers, and one read from the input's last eight bytes (so the fuzzer can steer it).
func instants(from input: [UInt8]) -> [Int64] {
    var chosen: Int64 = 0
    for byte in input.suffix(8) { chosen = chosen << 8 | Int64(byte) }
    return [0, 1_733_011_200_000, -62_135_596_800_000, 253_402_300_799_000, chosen % 400_000_000_000_000, .max, .min]
}

func checkCron(_ text: String, zone: ZoneRules, instants: [Int64]) {
    guard let expression = try? CronExpression(text) else { return }
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    if !expression.source.hasPrefix("@") {
        let trimmed = String(text.drop(while: blank).reversed().drop(while: blank).reversed())
        guard expression.source == trimmed else { violation("source \"\(expression.source)\" of \"\(text)\"") }
    }
    guard let again = try? CronExpression(expression.source), again == expression else {
        violation("\"\(expression.source)\" does not parse to the same expression again")
    }
    let schedule = Schedule(cron: expression, zone: zone)
    let fixed = zone.transitions.isEmpty && zone.footer?.daylight == nil
    for instant in instants {
        var last = instant
        for tick in schedule.nextTicks(after: instant, count: 3) {
            guard tick > last else { violation("tick \(tick) not after \(last) for \"\(text)\" in \(zone)") }
            if fixed {
                let local = zone.localDateTime(at: tick)
                guard expression.matches(local) else { violation("tick \(tick) (\(local)) does not match \"\(text)\"") }
            }
            last = tick
        }
    }
}

/// Whether the zone's POSIX rule (if any) switches to daylight time and back in turn. A rule
/// whose daylight period runs into the next year's (`EST0EDT1,0/4,J365/50`) has no one reading:
/// the answers then depend on which years are looked at. Such rules reach docketd only in
/// the footers of the system's zone files, and tzdata writes none, so they are not checked.
func alternates(_ zone: ZoneRules) -> Bool {
    guard let footer = zone.footer, let daylight = footer.daylight else { return true }
    var changes: [(at: Int64, year: Int, daylight: Bool)] = []
    for year in 1999...2003 {
        let (start, end) = footer.changes(in: year, daylight)
        changes += [(start, year, true), (end, year, false)]
    }
    changes.sort { ($0.at, $0.year, $0.daylight ? 1 : 0) < ($1.at, $1.year, $1.daylight ? 1 : 0) }
    return zip(changes, changes.dropFirst()).allSatisfy { $0.daylight != $1.daylight }
}

func checkZone(_ zone: ZoneRules, instants: [Int64]) {
    guard alternates(zone) else { return }
    // Instants a schedule asks about: years 1 to 9999.
    for instant in instants.map({ min(max($0, -62_135_596_800_000), 253_402_300_799_000) }) {
        let offset = zone.offsetSeconds(at: instant)
        guard abs(offset) <= 26 * 3600 else { violation("offset \(offset) at \(instant)") }
        if let change = zone.nextOffsetChange(after: instant) {
            guard change > instant else { violation("next change \(change) not after \(instant)") }
            guard zone.offsetSeconds(at: change) != zone.offsetSeconds(at: change - 1000) || change % 1000 != 0 else {
                violation("no change of offset at \(change) (after \(instant))")
            }
        }
        let local = zone.localDateTime(at: instant)
        let whole = instant - (((instant % 1000) + 1000) % 1000)
        switch zone.resolve(zone.localDateTime(at: whole)) {
        case .unique(let only): guard only == whole else { violation("\(local) resolves to \(only), not \(whole)") }
        case .overlap(let earlier, let later):
            guard earlier == whole || later == whole else { violation("\(local) resolves to \(earlier) and \(later), not \(whole)") }
        case .gap: violation("\(local), shown at \(whole), resolves to a gap")
        }
    }
}

/// A client's `tz=`: the database refuses names that could leave its directory, and a zone it
/// gives (a fixed offset, or an installed file) passes the zone checks.
func checkZoneName(_ name: String, instants: [Int64]) {
    guard let zone = try? TimeZoneDatabase().rules(for: name) else { return }
    if name != "UTC", TimeZoneDatabase.fixedOffset(name) == nil {
        guard !name.hasPrefix("/"), !name.contains(".."), zone.identifier == name else {
            violation("zone name \"\(name)\" accepted as \(zone.identifier)")
        }
    } else {
        guard abs(zone.offsetSeconds(at: 0)) < 86_400 else { violation("fixed offset \(name) is a day or more") }
    }
    checkZone(zone, instants: instants)
}

func violation(_ message: String) -> Never {
    fatalError("schedule fuzz property broken: \(message)")
}
