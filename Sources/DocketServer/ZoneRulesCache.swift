import DocketSchedule

/// The zones schedules name (`tz=`), each file read once per docketd. A start with thousands of
/// schedules in a few zones read and parsed the same few files thousands of times: three
/// quarters of the time it took (30,000 schedules: 4.2 s, 1.1 s all in UTC). A zone file changed
/// later (a tzdata update) is read by the next docketd, as the schedules already made keep the
/// rules they were made with. Names that fail are not kept; the names kept are the database's
/// files and fixed offsets, and at most `limit` of them.
final class ZoneRulesCache {
    let database: TimeZoneDatabase
    private var known: [String: ZoneRules] = [:]
    /// Past this many names, a name not kept yet is read each time (the database has about
    /// 600 zones, and the offsets anyone writes are few).
    static let limit = 4096

    init(_ database: TimeZoneDatabase = TimeZoneDatabase()) {
        self.database = database
    }

    /// The rules of a zone by name, as `TimeZoneDatabase.rules(for:)` gives them.
    func rules(for name: String) throws(ScheduleError) -> ZoneRules {
        if let rules = known[name] { return rules }
        let rules = try database.rules(for: name)
        if known.count < Self.limit { known[name] = rules }
        return rules
    }
}
