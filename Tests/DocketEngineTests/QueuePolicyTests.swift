import DocketEngine
import DocketWire
import Testing

@Suite struct RateWindowTests {
    @Test func neverMoreThanTheLimitInAnyWindow() {
        // Random attempts over 20 s; every permitted start is recorded, then every window of
        // 1000 ms that starts at an event is checked.
        var window = RateWindow(limit: 5, windowMilliseconds: 1000)
        var generator = SystemRandomNumberGenerator()
        var now: Int64 = 0
        var starts: [Int64] = []
        while now < 20_000 {
            now += Int64(generator.next() % 120)
            if window.allows(at: now) {
                window.record(now)
                starts.append(now)
            }
        }
        for (index, start) in starts.enumerated() {
            let inWindow = starts[index...].prefix { $0 < start + 1000 }.count
            #expect(inWindow <= 5)
        }
        // And it is not too strict: with attempts this frequent, close to 5 per second pass.
        #expect(starts.count >= 5 * 19)
    }

    @Test func nextAllowedIsExact() {
        var window = RateWindow(limit: 2, windowMilliseconds: 1000)
        window.record(100)
        window.record(400)
        #expect(!window.allows(at: 1099))
        #expect(window.nextAllowed(after: 500) == 1100)
        #expect(window.allows(at: 1100))
        window.record(1100)
        #expect(window.nextAllowed(after: 1100) == 1400)
        #expect(window.count(at: 1100) == 2)
    }

    @Test func ratesParse() {
        #expect(Rate.parse("100/1s") == Rate(limit: 100, windowMilliseconds: 1000))
        #expect(Rate.parse("100/s") == Rate(limit: 100, windowMilliseconds: 1000))
        #expect(Rate.parse("5/250ms") == Rate(limit: 5, windowMilliseconds: 250))
        #expect(Rate.parse("3/m") == Rate(limit: 3, windowMilliseconds: 60_000))
        for bad in ["", "100", "/s", "0/s", "x/s", "100/", "100/soon"] { #expect(Rate.parse(bad) == nil, "\(bad)") }
    }
}

@Suite struct QueuePolicyTests {
    func configure(_ h: Harness, _ queue: String = "q", _ change: (inout QueueConfig) -> Void) { h.configure(queue, change) }

    func delivered(_ h: Harness) -> [UInt64] {
        h.engine.takeEvents().compactMap {
            if case .delivered(_, let job) = $0 { return job.id }
            return nil
        }
    }

    @Test func rateLimitHoldsAndWaitersWakeWhenTheWindowSlides() {
        let h = Harness()
        configure(h) { $0.rate = Rate(limit: 3, windowMilliseconds: 1000) }
        let ids = (0..<7).map { _ in h.enq() }
        #expect((0..<4).map { _ in h.next()?.id } == [ids[0], ids[1], ids[2], nil])
        let (_, waiter) = h.reserve(["q"], owner: 9, wait: true)
        #expect(waiter != nil)
        #expect(h.engine.nextDeadline == h.clock.time + 1000)
        h.advance(999)
        #expect(delivered(h).isEmpty)
        h.advance(1)
        #expect(delivered(h) == [ids[3]])
        #expect(h.next()?.id == ids[4])
        #expect(h.next()?.id == ids[5])
        #expect(h.next() == nil)
    }

    @Test func concurrencyCapCountsActiveJobs() {
        let h = Harness()
        configure(h) { $0.concurrency = 2 }
        let ids = (0..<3).map { _ in h.enq() }
        let first = h.next()!
        _ = h.next()!
        #expect(h.next() == nil)
        _ = h.reserve(["q"], owner: 5, wait: true)
        #expect(errorOf(h.engine.ack(id: first.id, owner: 1, result: nil)) == nil)
        #expect(delivered(h) == [ids[2]])
    }

    @Test func pausedQueuesStartNothingUntilResumed() {
        let h = Harness()
        configure(h) { $0.paused = true }
        let id = h.enq()
        #expect(h.next() == nil)
        _ = h.reserve(["q"], owner: 5, wait: true)
        #expect(delivered(h).isEmpty)
        configure(h) { $0.paused = false }
        #expect(delivered(h) == [id])
    }

    @Test func throttleReturnsTheJobWithoutUsingAnAttemptAndHoldsTheQueue() {
        let h = Harness()
        let id = h.enq { $0.maxAttempts = 1 }
        let other = h.enq()
        _ = h.next()
        #expect(errorOf(h.engine.throttle(id: id, owner: 1, milliseconds: 500, groupOnly: false, reason: Array("429".utf8))) == nil)
        #expect(h.engine.job(id)?.state == .waiting)
        #expect(h.engine.job(id)?.attempts == 0)
        #expect(h.next() == nil)
        h.advance(500)
        let again = h.next()
        #expect(again?.id == id && again?.attempts == 1)
        #expect(h.next()?.id == other)
    }

    @Test func groupLimitsHoldOnlyTheirGroup() {
        let h = Harness()
        configure(h) { $0.groupRate = Rate(limit: 1, windowMilliseconds: 1000) }
        var a = "tenant-a", b = "tenant-b"
        func enq(_ group: inout String) -> UInt64 {
            group.withUTF8 { bytes in
                var queue = "q"
                return queue.withUTF8 {
                    h.engine.enqueue(queue: UnsafeRawBufferPointer($0), options: EnqueueOptions(), key: nil, group: Array(bytes), payloadSize: 0).id
                }
            }
        }
        let a1 = enq(&a), a2 = enq(&a), a3 = enq(&a), b1 = enq(&b)
        #expect(h.next()?.id == a1)
        // a2 and a3 wait for tenant-a's window; tenant-b is not held up behind them.
        #expect(h.next()?.id == b1)
        #expect(h.next() == nil)
        _ = h.reserve(["q"], owner: 5, wait: true)
        h.advance(1000)
        #expect(delivered(h) == [a2])
        h.advance(1000)
        #expect(h.next()?.id == a3)
    }

    @Test func statsFollowEveryTransition() {
        let h = Harness()
        let ids = (0..<4).map { _ in h.enq { $0.maxAttempts = 1 } }
        _ = h.enq { $0.delayMilliseconds = 1000 }
        _ = h.next()
        _ = h.next()
        _ = h.engine.ack(id: ids[0], owner: 1, result: nil)
        _ = h.engine.fail(id: ids[1], owner: 1, choice: .policy, reason: nil)
        var name = "q"
        let queue = name.withUTF8 { h.engine.existingQueue(UnsafeRawBufferPointer($0)) }!
        #expect(queue.counts == [2, 1, 0, 1, 1, 0])
        #expect(queue.enqueuedTotal == 5 && queue.startedTotal == 2 && queue.completedTotal == 1 && queue.deadTotal == 1)
        #expect(queue.waitHistogram.count == 2 && queue.runHistogram.count == 2)
        let document = h.engine.queueDocument(queue)
        #expect(document.contains(#""jobs":{"waiting":2,"delayed":1,"active":0,"completed":1,"dead":1,"blocked":0}"#))
    }

    @Test func settingsSurviveTheirCodec() {
        var config = QueueConfig()
        config.rate = Rate(limit: 100, windowMilliseconds: 1000)
        config.groupRate = Rate(limit: 5, windowMilliseconds: 60_000)
        config.concurrency = 4
        config.paused = true
        config.maxAttempts = 7
        config.backoff = .fixed(milliseconds: 250)
        config.jitter = 0.5
        config.leaseMilliseconds = 9000
        config.keepCompleted = 3
        config.keepDead = 4
        #expect(QueueConfigCodec.decode(QueueConfigCodec.encode(config)) == config)
        #expect(QueueConfigCodec.decode(QueueConfigCodec.encode(QueueConfig())) == QueueConfig())
    }
}

@Suite struct LifecycleEventTests {
    @Test func bodiesAreValidJSONWithEveryField() {
        let h = Harness()
        h.engine.recordsLifecycle = true
        let id = h.enq { $0.backoff = .fixed(milliseconds: 5) }
        _ = h.next()
        _ = h.engine.progress(id: id, owner: 1, percent: 40, note: Array("half \"way\"\n".utf8))
        _ = h.engine.fail(id: id, owner: 1, choice: .policy, reason: Array("bad\\thing".utf8))
        let events = h.engine.takeLifecycle()
        #expect(events.map(\.kind) == [.enqueued, .started, .progress, .failed])
        for event in events {
            var bytes: [UInt8] = Array("prefix".utf8)
            event.appendJSON(to: &bytes)
            let body = Array(bytes.dropFirst(6))
            let json = body.withUnsafeBytes { JSONValue.parse($0) }
            #expect(json?["seq"]?.numberValue == Double(event.sequence))
            #expect(json?["event"]?.stringValue == event.kind.rawValue)
            #expect(json?["queue"]?.stringValue == "q")
        }
        let progress = events[2].json
        #expect(JSONValue.parse(progress)?["note"]?.stringValue == "half \"way\"\n")
        #expect(JSONValue.parse(events[3].json)?["error"]?.stringValue == "bad\\thing")
        #expect(JSONValue.parse(events[3].json)?["retry_in_ms"]?.numberValue == 5)
    }

    @Test func aDelayedJobThatBecomesDueSaysWaitingOnce() {
        let h = Harness()
        h.engine.recordsLifecycle = true
        let id = h.enq { $0.delayMilliseconds = 1000 }
        _ = h.engine.takeLifecycle()
        h.advance(999)
        #expect(h.engine.takeLifecycle().isEmpty, "not due yet")
        h.advance(1)
        let due = h.engine.takeLifecycle()
        #expect(due.map(\.kind) == [.waiting] && due.first?.id == id && due.first?.state == .waiting)
        h.advance(5000)
        #expect(h.engine.takeLifecycle().isEmpty, "once")
        // A retry's backoff, and a promotion, say it too.
        _ = h.next()
        _ = h.engine.fail(id: id, owner: 1, choice: .after(milliseconds: 50), reason: nil)
        _ = h.engine.takeLifecycle()
        h.advance(50)
        #expect(h.engine.takeLifecycle().map(\.kind) == [.waiting])
        let later = h.enq { $0.delayMilliseconds = 60_000 }
        _ = h.engine.takeLifecycle()
        #expect(errorOf(h.engine.promote(id: later)) == nil)
        #expect(h.engine.takeLifecycle().map(\.kind) == [.waiting])
    }
}
