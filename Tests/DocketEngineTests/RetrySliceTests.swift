import DocketEngine
import DocketWire
import Testing

/// RETRY queue=<q> a slice at a time (`retryAll(…atOnce:)`, then `advance`), with the outcome of
/// doing it at once.
@Suite struct RetrySliceTests {
    private func startRetry(_ h: Harness, queue: String = "q", atOnce limit: Int) -> Revival {
        var name = queue
        return name.withUTF8 { h.engine.retryAll(queue: UnsafeRawBufferPointer($0), atOnce: limit) }
    }

    private func revivedEvents(_ h: Harness) -> [Revival] {
        h.engine.takeEvents().compactMap { if case .revived(let revival) = $0 { return revival } else { return nil } }
    }

    /// `count` jobs enqueued and failed for good, in that order.
    @discardableResult
    private func dead(_ h: Harness, _ count: Int, queue: String = "q") -> [UInt64] {
        (0..<count).map { _ in
            let id = h.enq(queue) { $0.maxAttempts = 1 }
            h.die(id, queue: queue)
            return id
        }
    }

    private func waiting(_ h: Harness, queue: String = "q") -> Int {
        var name = queue
        return name.withUTF8 { h.engine.list(queue: UnsafeRawBufferPointer($0), state: .waiting, after: nil, limit: 100_000) }.jobs.count
    }

    @Test func aLargeRetryRevivesASliceAtATimeAndSaysWhenItIsDone() {
        let h = Harness()
        let ids = dead(h, 2500)
        let revival = startRetry(h, atOnce: 1000)
        #expect(!revival.isDone && revival.revived == 1000)
        #expect(waiting(h) == 1000)
        #expect(h.engine.nextDeadline.map { $0 <= h.clock.now() } == true)
        #expect(h.engine.advance(upTo: 1000) == true)
        #expect(waiting(h) == 2000)
        #expect(revivedEvents(h).isEmpty)
        #expect(h.engine.advance(upTo: 1000) == false)
        #expect(revival.isDone && revival.revived == 2500 && waiting(h) == 2500)
        #expect(revivedEvents(h).map { ObjectIdentifier($0) } == [ObjectIdentifier(revival)])
        #expect(h.engine.nextDeadline.map { $0 > h.clock.now() } != false)
        // In the order they died.
        #expect((0..<2500).map { _ in h.next()?.id } == ids.map { Optional($0) })
    }

    @Test func eachJobIsRevivedOnceAndOnlyThoseDeadWhenItBegan() {
        let h = Harness()
        let ids = dead(h, 300)
        let other = dead(h, 5, queue: "other")
        let revival = startRetry(h, atOnce: 100)
        h.clock.advance(1)
        // Revived in the first slice, taken by a worker, and one dies again: that death is
        // after the RETRY began.
        let taken = (0..<100).map { _ in h.next()?.id }
        #expect(taken == ids.prefix(100).map { Optional($0) })
        h.die(ids[0], reserved: true)
        // Deleted before its turn: passed over.
        #expect(errorOf(h.engine.delete(id: ids[200])) == nil)
        // Retried on its own and dead again before its turn: that death too is after it began.
        #expect(errorOf(h.engine.retry(id: ids[250])) == nil)
        h.die(ids[250], reserved: false)
        // Dead after it began.
        let later = dead(h, 1)[0]
        while h.engine.advance(upTo: 7) {}
        #expect(revival.isDone && revival.revived == 298)
        for id in [ids[0], ids[250], later] + other { #expect(h.engine.job(id)?.state == .dead) }
        #expect(h.engine.job(ids[1])?.state == .active)
        #expect(waiting(h) == 198)
    }

    @Test func slicedOrNotARetryRevivesTheSameJobsInTheSameOrder() {
        func run(_ limit: Int) -> (revived: Int, order: [UInt64?]) {
            let h = Harness()
            let ids = dead(h, 400)
            // Died, retried, died again: its place is its last death.
            for id in ids.prefix(20) {
                #expect(errorOf(h.engine.retry(id: id)) == nil)
                h.die(id, reserved: false)
            }
            let revival = startRetry(h, atOnce: limit)
            while h.engine.advance(upTo: limit) {}
            return (revival.revived, (0..<401).map { _ in h.next()?.id })
        }
        let whole = run(.max)
        #expect(whole.revived == 400 && whole.order.last == .some(nil))
        for limit in [1, 7, 100] { #expect(run(limit) == whole) }
    }

    @Test func aRetryOfAQueueWithNoDeadJobsIsDoneAtOnce() {
        let h = Harness()
        h.enq()
        let none = startRetry(h, atOnce: 10)
        let unknown = startRetry(h, queue: "nowhere", atOnce: 10)
        #expect(none.isDone && none.revived == 0 && unknown.isDone && unknown.revived == 0)
        #expect(h.engine.nextDeadline == nil)
    }
}

extension Harness {
    /// Fails job `id` for good: reserves it first unless `reserved` says a worker holds it.
    func die(_ id: UInt64, queue: String = "q", reserved: Bool = false) {
        if !reserved { #expect(next(queue)?.id == id) }
        _ = try! engine.fail(id: id, owner: 1, choice: .never, reason: nil).get()
        #expect(engine.job(id)?.state == .dead)
    }
}
