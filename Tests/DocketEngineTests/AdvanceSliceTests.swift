import DocketEngine
import DocketWire
import Testing

/// `advance(upTo:)` does what came due a slice at a time, with the outcome of doing it at once.
@Suite struct AdvanceSliceTests {
    @Test func jobsDueTogetherBecomeWaitingASliceAtATimeInTheirOrder() {
        let h = Harness()
        let ids = (0..<2500).map { _ in h.enq { $0.delayMilliseconds = 1000 } }
        h.clock.advance(1000)
        var slices = 0
        while h.engine.advance(upTo: 1000) {
            slices += 1
            #expect(h.engine.jobs.all.filter { $0.state == .waiting }.count == 1000 * slices)
            #expect(h.engine.nextDeadline.map { $0 <= h.clock.now() } == true)
        }
        #expect(slices == 2)
        #expect(h.engine.jobs.all.allSatisfy { $0.state == .waiting })
        // Delayed jobs coming due at the same time take their places in the order they were delayed.
        #expect((0..<2500).map { _ in h.next()?.id } == ids.map { Optional($0) })
    }

    @Test func aSliceEndingOnTheLastDeadlineSaysNothingIsLeft() {
        let h = Harness()
        for _ in 0..<10 { h.enq { $0.delayMilliseconds = 5 } }
        h.clock.advance(5)
        #expect(h.engine.advance(upTo: 10) == false)
        #expect(h.engine.nextDeadline == nil)
    }

    @Test func leasesEndingTogetherEndASliceAtATime() {
        let h = Harness()
        for _ in 0..<300 { h.enq { $0.leaseMilliseconds = 100 } }
        for _ in 0..<300 { _ = h.next() }
        h.clock.advance(100)
        #expect(h.engine.advance(upTo: 200) == true)
        #expect(h.engine.jobs.all.filter { $0.state == .active }.count == 100)
        #expect(h.engine.advance(upTo: 200) == false)
        #expect(h.engine.jobs.all.allSatisfy { $0.state != .active })
    }

    @Test func aGoneWorkersJobsEndASliceAtATimeAndAreDueAtOnce() {
        let h = Harness()
        for _ in 0..<2500 { h.enq() }
        let held = (0..<2500).compactMap { _ in h.next(owner: 7)?.id }
        #expect(held.count == 2500)
        h.engine.ownerGone(7, heldJobs: held, atOnce: 1000)
        #expect(h.engine.jobs.all.filter { $0.state == .active }.count == 1500)
        #expect(h.engine.nextDeadline.map { $0 <= h.clock.now() } == true)
        #expect(h.engine.advance(upTo: 1000) == true)
        #expect(h.engine.jobs.all.filter { $0.state == .active }.count == 500)
        #expect(h.engine.advance(upTo: 1000) == false)
        #expect(h.engine.jobs.all.allSatisfy { $0.state == .delayed && $0.attempts == 1 && $0.holder == 0 })
        #expect(h.engine.nextDeadline.map { $0 > h.clock.now() } == true)
    }
}
