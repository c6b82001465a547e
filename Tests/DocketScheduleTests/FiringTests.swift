import DocketSchedule
import Testing

/// Which ticks fire when the server looks at a schedule, on a clock the test sets.
@Suite struct FiringTests {
    let minutely = try! Schedule(everyMilliseconds: 60_000, anchor: 0)

    @Test func anOnTimeTickAlwaysFires() {
        for policy in [CatchupPolicy.none, .one, .all(limit: 10)] {
            #expect(minutely.ticksToFire(after: 0, now: 60_200, catchup: policy, grace: 1000) == [60_000])
            #expect(minutely.ticksToFire(after: 0, now: 59_999, catchup: policy, grace: 1000) == [])
            // Nothing at or before the last tick handled fires again.
            #expect(minutely.ticksToFire(after: 60_000, now: 60_200, catchup: policy, grace: 1000) == [])
        }
        #expect(minutely.latestTick(after: 0, now: 60_200) == 60_000)
        #expect(minutely.latestTick(after: 60_000, now: 60_200) == 60_000)
    }

    @Test func missedTicksFollowThePolicy() {
        // Down from just after 0 until 5 minutes and 0.5 s: ticks 1 to 4 were missed, 5 is on time.
        let now: Int64 = 300_500
        #expect(minutely.ticksToFire(after: 0, now: now, catchup: .none, grace: 1000) == [300_000])
        #expect(minutely.ticksToFire(after: 0, now: now, catchup: .one, grace: 1000) == [240_000, 300_000])
        #expect(minutely.ticksToFire(after: 0, now: now, catchup: .all(limit: 10), grace: 1000) == [60_000, 120_000, 180_000, 240_000, 300_000])
        #expect(minutely.ticksToFire(after: 0, now: now, catchup: .all(limit: 2), grace: 1000) == [180_000, 240_000, 300_000])
        // Looked at too late for any tick to be on time: only catch-up fires.
        #expect(minutely.ticksToFire(after: 0, now: 330_000, catchup: .none, grace: 1000) == [])
        #expect(minutely.ticksToFire(after: 0, now: 330_000, catchup: .one, grace: 1000) == [300_000])
        #expect(minutely.latestTick(after: 0, now: 330_000) == 300_000)
    }

    @Test func cronTicksAcrossDowntime() {
        let hourly = Schedule(cron: cron("0 * * * *"))
        let start = utc("2024-05-01T00:00:00Z")
        let now = utc("2024-05-01T05:00:00Z") + 300
        #expect(hourly.ticksToFire(after: start, now: now, catchup: .one, grace: 1000).map(utcText) == [
            "2024-05-01T04:00:00Z", "2024-05-01T05:00:00Z",
        ])
    }
}
