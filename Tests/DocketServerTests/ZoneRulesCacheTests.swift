@testable import DocketServer
import DocketSchedule
import Foundation
import Testing

/// Schedules' zones are read once per docketd: thousands of schedules in one zone read its
/// file thousands of times, at every start.
@Suite struct ZoneRulesCacheTests {
    @Test(.enabled(if: TimeZoneDatabase().isInstalled, "no time zone database installed"))
    func aZoneIsReadOnceAndAFailureIsNotKept() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-zones-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("Test"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let zone = directory.appendingPathComponent("Test/Zone")
        let berlin = try Data(contentsOf: URL(fileURLWithPath: TimeZoneDatabase.defaultDirectory + "/Europe/Berlin"))
        let cache = ZoneRulesCache(TimeZoneDatabase(directory: directory.path))

        // Not there yet: refused, and not remembered as refused.
        #expect(throws: ScheduleError.self) { try cache.rules(for: "Test/Zone") }
        try berlin.write(to: zone)
        let first = try cache.rules(for: "Test/Zone")
        // Gone from the directory: still known, as read the first time.
        try FileManager.default.removeItem(at: zone)
        #expect(try cache.rules(for: "Test/Zone") == first)
        #expect(throws: ScheduleError.self) { try TimeZoneDatabase(directory: directory.path).rules(for: "Test/Zone") }
    }
}
