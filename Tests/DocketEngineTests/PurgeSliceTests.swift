import DocketEngine
import DocketWire
import Testing

/// PURGE a slice at a time (`purge(…atOnce:)`, then `advance`), with the outcome of doing it at once.
@Suite struct PurgeSliceTests {
    private func startPurge(_ h: Harness, _ state: JobState, queue: String = "q", olderThan: Int? = nil, atOnce limit: Int) -> Purge {
        var name = queue
        return name.withUTF8 { h.engine.purge(queue: UnsafeRawBufferPointer($0), state: state, olderThan: olderThan, atOnce: limit) }
    }

    private func purgedEvents(_ h: Harness) -> [Purge] {
        h.engine.takeEvents().compactMap { if case .purged(let purge) = $0 { return purge } else { return nil } }
    }

    @Test func aLargePurgeDeletesASliceAtATimeAndSaysWhenItIsDone() {
        let h = Harness()
        for _ in 0..<2500 { h.enq() }
        // Kept, and keeping the queue (with its totals) once the waiting jobs are gone.
        let delayed = h.enq { $0.delayMilliseconds = 1000 }
        let purge = startPurge(h, .waiting, atOnce: 1000)
        #expect(!purge.isDone && purge.deleted == 1000)
        #expect(h.engine.jobs.count == 1501)
        #expect(h.engine.nextDeadline.map { $0 <= h.clock.now() } == true)
        #expect(h.engine.advance(upTo: 1000) == true)
        #expect(h.engine.jobs.count == 501)
        #expect(purgedEvents(h).isEmpty)
        #expect(h.engine.advance(upTo: 1000) == false)
        #expect(h.engine.jobs.all.map(\.id) == [delayed] && purge.isDone && purge.deleted == 2500)
        #expect(purgedEvents(h).map { ObjectIdentifier($0) } == [ObjectIdentifier(purge)])
        #expect(h.engine.nextDeadline.map { $0 > h.clock.now() } == true)
        var name = "q"
        #expect(name.withUTF8 { h.engine.queueView(h.engine.queue(named: UnsafeRawBufferPointer($0))).totals[7] } == 2500)
    }

    @Test func jobsOfOtherQueuesAndStatesAndLaterOnesStay() {
        let h = Harness()
        var kept: [UInt64] = []
        for index in 0..<3000 {
            if index % 3 == 0 { kept.append(h.enq("other")) } else if index % 3 == 1 { kept.append(h.enq { $0.delayMilliseconds = 1000 }) } else { h.enq() }
        }
        let purge = startPurge(h, .waiting, atOnce: 100)
        // Enqueued after the PURGE: not its to delete, though waiting in its queue.
        let later = h.enq()
        while h.engine.advance(upTo: 100) {}
        #expect(purge.isDone && purge.deleted == 1000)
        #expect(Set(h.engine.jobs.all.map(\.id)) == Set(kept + [later]))
    }

    @Test func aJobIsJudgedWhenItsTurnComes() {
        let h = Harness()
        let ids = (0..<2000).map { _ in h.enq() }
        let purge = startPurge(h, .waiting, atOnce: 500)
        // Started before its turn: a worker holds it, and it stays.
        let started = h.next()
        #expect(started?.id == ids[500])
        while h.engine.advance(upTo: 500) {}
        #expect(purge.deleted == 1999)
        #expect(h.engine.jobs.all.map(\.id) == [ids[500]])
    }

    @Test func slicedOrNotAPurgeOfBlockedChainsDeletesTheSameJobs() {
        func run(_ limit: Int) -> (deleted: Int, left: [UInt64: JobState]) {
            let h = Harness()
            for _ in 0..<300 {
                let root = h.enq()
                let middle = h.enq(after: [root])
                _ = h.enq(after: [middle]) { $0.onParentDead = .run }
                _ = h.enq("other", after: [middle])
            }
            let purge = startPurge(h, .blocked, atOnce: limit)
            while h.engine.advance(upTo: limit) {}
            return (purge.deleted, Dictionary(uniqueKeysWithValues: h.engine.jobs.all.map { ($0.id, $0.state) }))
        }
        let whole = run(.max)
        #expect(whole.deleted == 600)
        for limit in [1, 7, 100] {
            let sliced = run(limit)
            #expect(sliced.deleted == whole.deleted)
            #expect(sliced.left == whole.left)
        }
    }
}
