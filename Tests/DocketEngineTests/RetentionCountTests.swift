import DocketEngine
import DocketWire
import Testing

/// Retention keeps `keep_completed` / `keep_dead` jobs that are still in that state: jobs
/// retried or deleted since they were listed do not take places.
@Suite struct RetentionCountTests {
    func die(_ h: Harness, _ id: UInt64) {
        #expect(h.next()?.id == id)
        _ = h.engine.fail(id: id, owner: 1, choice: .never, reason: nil)
    }

    @Test func aJobRetriedFromTheDeadAndDeadAgainCountsOnce() {
        let h = Harness()
        h.configure { $0.keepDead = 2 }
        let a = h.enq(), b = h.enq()
        die(h, a)
        die(h, b)
        #expect(errorOf(h.engine.retry(id: b)) == nil)
        die(h, b)
        #expect(h.engine.job(a)?.state == .dead, "two dead jobs, two kept")
        #expect(h.engine.job(b)?.state == .dead)
    }

    @Test func aDeletedJobFreesItsPlace() {
        let h = Harness()
        h.configure { $0.keepCompleted = 2 }
        let ids = (0..<3).map { _ in h.enq() }
        for id in ids.prefix(2) {
            #expect(h.next()?.id == id)
            #expect(errorOf(h.engine.ack(id: id, owner: 1, result: nil)) == nil)
        }
        #expect(errorOf(h.engine.delete(id: ids[1])) == nil)
        #expect(h.next()?.id == ids[2])
        #expect(errorOf(h.engine.ack(id: ids[2], owner: 1, result: nil)) == nil)
        #expect(h.engine.job(ids[0])?.state == .completed, "two completed jobs, two kept")
    }

    /// DEAD walks no further than its limit: `for id in dead where found.count < limit` went on
    /// over every dead job of the queue (up to `keep_dead`) for `DEAD q limit=1`.
    @Test func aDeadPageLooksAtNoMoreJobsThanItsLimit() {
        let h = Harness()
        let ids = (0..<50).map { _ in h.enq() }
        for id in ids { die(h, id) }
        var name = "q"
        let page = name.withUTF8 { h.engine.deadPage(queue: UnsafeRawBufferPointer($0), limit: 3) }
        #expect(page.jobs.map(\.id) == Array(ids.prefix(3)))
        #expect(page.walked == 3, "walked \(page.walked) of 50 dead jobs for a page of 3")
        #expect(name.withUTF8 { h.engine.deadPage(queue: UnsafeRawBufferPointer($0), limit: 100) }.walked == 50)
    }

    @Test func endlessRetriesListTheJobOnce() {
        let h = Harness()
        h.configure { $0.keepDead = 5 }
        let id = h.enq()
        for _ in 0..<1000 {
            die(h, id)
            #expect(errorOf(h.engine.retry(id: id)) == nil)
        }
        die(h, id)
        var name = "q"
        let dead = name.withUTF8 { h.engine.deadJobs(queue: UnsafeRawBufferPointer($0), limit: 10) }
        #expect(dead.map(\.id) == [id])
    }
}
