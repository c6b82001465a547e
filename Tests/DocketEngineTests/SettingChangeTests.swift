import DocketEngine
import DocketWire
import Testing

/// What a QUEUE setting change must leave alone: the jobs a group's throttle or rate parked,
/// and the starts a rate window has already counted.
@Suite struct SettingChangeTests {
    func enq(_ h: Harness, group: String) -> UInt64 {
        var queue = "q"
        return queue.withUTF8 {
            h.engine.enqueue(queue: UnsafeRawBufferPointer($0), options: EnqueueOptions(), key: nil, group: Array(group.utf8), payloadSize: 0).id
        }
    }

    @Test func anUnrelatedSettingKeepsAGroupThrottleAndItsParkedJobs() {
        let h = Harness()
        let a1 = enq(h, group: "a"), a2 = enq(h, group: "a"), a3 = enq(h, group: "a"), b1 = enq(h, group: "b")
        #expect(h.next()?.id == a1)
        #expect(errorOf(h.engine.throttle(id: a1, owner: 1, milliseconds: 2000, groupOnly: true, reason: nil)) == nil)
        // Group a is held: its jobs are parked, b's goes.
        #expect(h.next()?.id == b1)
        #expect(h.next() == nil)
        // A setting that has nothing to do with groups (the queue has no group_rate).
        h.configure { $0.concurrency = 10 }
        #expect(h.next() == nil, "the throttle of group a still holds")
        h.advance(2000)
        #expect([h.next()?.id, h.next()?.id, h.next()?.id] == [a1, a2, a3])
    }

    @Test func removingTheGroupRateReleasesTheParkedJobs() {
        let h = Harness()
        h.configure { $0.groupRate = Rate(limit: 1, windowMilliseconds: 10_000) }
        let a1 = enq(h, group: "a"), a2 = enq(h, group: "a"), a3 = enq(h, group: "a")
        #expect(h.next()?.id == a1)
        #expect(h.next() == nil)
        h.configure { $0.groupRate = nil }
        #expect([h.next()?.id, h.next()?.id] == [a2, a3])
    }

    @Test func aChangedRateKeepsCountingTheStartsAlreadyMade() {
        let h = Harness()
        h.configure { $0.rate = Rate(limit: 2, windowMilliseconds: 10_000) }
        let ids = (0..<6).map { _ in h.enq() }
        #expect([h.next()?.id, h.next()?.id, h.next()?.id] == [ids[0], ids[1], nil])
        h.advance(1000)
        // Raised to 3 in 10 s: one more may start within this window, not three.
        h.configure { $0.rate = Rate(limit: 3, windowMilliseconds: 10_000) }
        #expect([h.next()?.id, h.next()?.id] == [ids[2], nil])
        // Lowered to 1 in 5 s: the latest start (just now) holds the queue for 5 s.
        h.configure { $0.rate = Rate(limit: 1, windowMilliseconds: 5000) }
        h.advance(4999)
        #expect(h.next() == nil)
        h.advance(1)
        #expect(h.next()?.id == ids[3])
    }

    @Test func aChangedGroupRateKeepsCountingTheGroupsStarts() {
        let h = Harness()
        h.configure { $0.groupRate = Rate(limit: 1, windowMilliseconds: 10_000) }
        let a1 = enq(h, group: "a"), a2 = enq(h, group: "a"), a3 = enq(h, group: "a")
        #expect(h.next()?.id == a1)
        h.configure { $0.groupRate = Rate(limit: 2, windowMilliseconds: 10_000) }
        #expect([h.next()?.id, h.next()?.id] == [a2, nil])
        h.advance(10_000)
        #expect(h.next()?.id == a3)
    }

    @Test func aResizedWindowKeepsTheLatestStarts() {
        var window = RateWindow(limit: 3, windowMilliseconds: 1000)
        for time in [100, 200, 300, 400, 500] as [Int64] where window.allows(at: time) { window.record(time) }
        // Full (100, 200, 300); then 1100 replaces 100, so the ring wraps.
        window.record(1100)
        let wider = window.resized(limit: 3, windowMilliseconds: 2000)
        #expect(wider.nextAllowed(after: 1200) == 2200)
        let fewer = window.resized(limit: 1, windowMilliseconds: 1000)
        #expect(fewer.nextAllowed(after: 1200) == 2100)
        let more = window.resized(limit: 5, windowMilliseconds: 1000)
        #expect(more.count(at: 1200) == 2)
        #expect(more.allows(at: 1200))
    }
}
