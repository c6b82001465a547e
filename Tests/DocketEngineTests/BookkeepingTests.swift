@testable import DocketEngine
import DocketWire
import Testing

/// What clients that come and go leave behind in the engine stays proportional to what is
/// live: withdrawn waiters and watches, heartbeats on long leases, queues only looked at.
@Suite struct BookkeepingTests {
    @Test func withdrawnWaitersDoNotPileUp() {
        let h = Harness()
        for owner in 1...20_000 {
            let (_, waiter) = h.reserve(["q"], owner: UInt64(owner), wait: true, timeout: owner % 2 == 0 ? 3_600_000 : nil)
            h.engine.cancel(waiter!)
        }
        let kept = h.engine.bookkeeping
        #expect(kept.waiters < 600)
        #expect(kept.waiterDeadlines < 600)
        // Nothing waits and nothing was enqueued: the queue itself is gone too.
        #expect(h.engine.queueList.isEmpty)
    }

    @Test func withdrawnWaitersAcrossManyQueuesDoNotPileUp() {
        let h = Harness()
        h.enq("keep")
        let names = ["keep"] + (0..<99).map { "q\($0)" }
        for owner in 1...1_500 {
            let (job, waiter) = h.reserve(names, owner: UInt64(owner + 10), wait: true)
            if let job { _ = h.engine.ack(id: job.id, owner: UInt64(owner + 10), result: nil) }
            if let waiter { h.engine.cancel(waiter) }
        }
        #expect(h.engine.bookkeeping.waiters < 600 * names.count / 50)
        #expect(h.engine.queueList.map(\.name) == ["keep"])
    }

    @Test func withdrawnWatchesDoNotPileUp() {
        let h = Harness()
        let id = h.enq()
        for owner in 1...20_000 {
            guard case .waiting(let watch) = h.engine.watch(id: id, owner: UInt64(owner), timeoutMilliseconds: owner % 2 == 0 ? 60_000 : nil)
            else { Issue.record("the job should still be waiting"); return }
            h.engine.cancel(watch)
        }
        let kept = h.engine.bookkeeping
        #expect(kept.watches < 600)
        #expect(kept.watchDeadlines < 600)
    }

    @Test func heartbeatsKeepOneLeaseDeadline() {
        let h = Harness()
        h.enq { $0.leaseMilliseconds = 3_600_000 }
        let job = h.next()!
        for _ in 0..<10_000 {
            h.clock.advance(10)
            #expect(errorOf(h.engine.touch(id: job.id, owner: 1)) == nil)
        }
        #expect(h.engine.bookkeeping.leases == 1)
        // The lease still ends a full lease after the last heartbeat, not after the first.
        h.advance(3_600_000 - 1)
        #expect(h.engine.job(job.id)?.state == .active)
        h.advance(1)
        #expect(h.engine.job(job.id)?.state != .active)
    }

    @Test func lookingCreatesNoQueue() {
        let h = Harness()
        #expect(h.reserve(["nowhere"]).0 == nil)
        #expect(h.engine.queueList.isEmpty)
        var name = "nowhere"
        let document = name.withUTF8 { h.engine.queueDocument(named: UnsafeRawBufferPointer($0)) }
        #expect(document.contains(#""queue":"nowhere""#))
        #expect(h.engine.queueList.isEmpty)
    }

    /// Deadlines that went stale before their time (a job acknowledged long before its lease
    /// ended, deleted or delayed again before it was due, deleted before its expiry) are
    /// dropped as their heaps grow: a soak of 40,000 jobs with `lease=1h` acknowledged at once
    /// grew the server's memory by 32 bytes a job, for the hour each entry waited to come due.
    /// Each heap stays within twice what is live, or the 1,024 below which none is swept.
    @Test func staleDeadlinesDoNotPileUp() {
        var defaults = QueueDefaults()
        defaults.keepCompleted = 0
        let h = Harness(defaults: defaults)
        // Live deadlines of each kind, enqueued before the churn, must still come due after it.
        let delayedEarly = h.enq("early") { $0.delayMilliseconds = 3_600_000 }
        let expiringEarly = h.enq("early") { $0.ttlMilliseconds = 3_600_000 }
        h.enq("held") { $0.leaseMilliseconds = 3_600_000 }
        let held = h.next("held")!
        var putOff = EnqueueOptions()
        putOff.delayMilliseconds = 3_600_000
        h.enq("debounced", key: "one") { $0.delayMilliseconds = 3_600_000 }
        for round in 0..<8_000 {
            h.clock.advance(1)
            h.enq { $0.leaseMilliseconds = 3_600_000; $0.ttlMilliseconds = 3_600_000 }
            let job = h.next()!
            #expect(errorOf(h.engine.ack(id: job.id, owner: 1, result: nil)) == nil)
            // The commit that ends the pass removes it (`keep_completed=0`).
            _ = h.engine.takeChanges()
            let delayed = h.enq("later", key: "k\(round)") { $0.delayMilliseconds = 3_600_000 }
            #expect(errorOf(h.engine.delete(id: delayed)) == nil)
            // A debounce: the same delayed job put off again and again (ENQ `replace=true`).
            var name = "debounced"
            #expect(name.withUTF8 { h.engine.replaceWaiting(queue: UnsafeRawBufferPointer($0), key: Array("one".utf8), options: putOff, payloadSize: 0) } != nil)
        }
        let kept = h.engine.bookkeeping
        #expect(kept.leases <= 2 * 1024)
        #expect(kept.delayed <= 2 * 1024)
        #expect(kept.expiries <= 2 * 1024)
        h.advance(3_600_000)
        #expect(h.engine.job(delayedEarly)?.state == .waiting)
        #expect(h.engine.job(expiringEarly)?.state == .dead)
        #expect(h.engine.job(held.id)?.state != .active)
        #expect(h.next("debounced") != nil)
    }

    @Test func deadListingIsLinearAndDistinct() {
        var defaults = QueueDefaults()
        defaults.keepDead = 100_000
        let h = Harness(defaults: defaults)
        let ids = (0..<40_000).map { _ in h.enq { $0.maxAttempts = 1 } }
        for _ in ids {
            let job = h.next()!
            _ = h.engine.fail(id: job.id, owner: 1, choice: .never, reason: nil)
        }
        var name = "q"
        let dead = name.withUTF8 { h.engine.deadJobs(queue: UnsafeRawBufferPointer($0), limit: 40_000) }
        #expect(dead.count == 40_000)
        #expect(Set(dead.map(\.id)).count == 40_000)
    }
}

@Suite struct QueueRecordTests {
    @Test func holdsRoundTripWithTheSettings() {
        var config = QueueConfig()
        config.rate = Rate(limit: 5, windowMilliseconds: 1000)
        var holds = QueueHolds()
        holds.queue = 1_700_000_000_000
        holds.groups = [([0x00, 0xFF, 0x41], 1_700_000_123_456), (Array("tenant-7".utf8), 1_700_000_000_001)]
        let decoded = QueueConfigCodec.decodeRecord(QueueConfigCodec.encode(config, holds: holds))
        #expect(decoded?.config == config)
        #expect(decoded?.holds == holds)
        // A record written before holds were kept reads as none.
        #expect(QueueConfigCodec.decodeRecord(Array(#"{"paused":true}"#.utf8))?.holds == QueueHolds())
    }

    @Test func aRestoredRateWindowCountsTheStoredStarts() {
        let before = Harness()
        let ids = (0..<4).map { _ in before.enq() }
        for (index, id) in ids.prefix(3).enumerated() {
            if index > 0 { before.clock.advance(index == 1 ? 40_000 : 20_000) }
            #expect(before.next()?.id == id)
            #expect(errorOf(before.engine.ack(id: id, owner: 1, result: nil)) == nil)
        }
        // Starts at 0 s, 40 s and 60 s; now is 60 s. A restart with rate=2/60s must not start
        // job 4 before the start at 40 s is a minute old.
        let after = Harness()
        after.clock.time = before.clock.time
        var config = QueueConfig()
        config.rate = Rate(limit: 2, windowMilliseconds: 60_000)
        after.engine.restoreSettings([("q", config)])
        for id in ids {
            JobCodec.encode(before.engine.job(id)!).withUnsafeBytes { after.engine.restoreJob(id: id, JobCodec.decode($0)!, payloadSize: 0) }
        }
        after.engine.finishRestore(nextID: 5)
        var name = "q"
        name.withUTF8 { after.engine.setConfig(config, of: UnsafeRawBufferPointer($0)) }
        after.engine.finishRecovery(holds: [])
        #expect(after.next() == nil)
        after.advance(39_999)
        #expect(after.next() == nil)
        after.advance(1)
        #expect(after.next()?.id == ids[3])
    }
}
