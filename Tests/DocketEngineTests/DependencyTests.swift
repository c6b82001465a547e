import DocketWire
import Testing

@testable import DocketEngine

extension Harness {
    /// ENQ `after=` the given jobs (ids the server would have checked).
    @discardableResult
    func enq(_ queue: String = "q", after parents: [UInt64], _ configure: (inout EnqueueOptions) -> Void = { _ in }) -> UInt64 {
        var options = EnqueueOptions()
        options.after = parents.map { .job($0) }
        configure(&options)
        var name = queue
        return name.withUTF8 {
            engine.enqueue(queue: UnsafeRawBufferPointer($0), options: options, key: nil, payloadSize: 0, parents: parents).id
        }
    }

    func complete(_ id: UInt64, _ result: String? = nil) {
        let job = next(engine.job(id)!.queue)
        precondition(job?.id == id, "job \(id) is not next in its queue")
        _ = engine.ack(id: id, owner: 1, result: result.map { Array($0.utf8) })
    }

    func kill(_ id: UInt64) {
        let job = next(engine.job(id)!.queue)
        precondition(job?.id == id, "job \(id) is not next in its queue")
        _ = engine.fail(id: id, owner: 1, choice: .never, reason: Array("broken".utf8))
    }

    func state(_ id: UInt64) -> JobState? { engine.job(id)?.state }
}

/// `after=`: a job waits for its parents, dies with them, and survives restarts blocked.
@Suite struct DependencyTests {
    @Test func aChildWaitsForEveryParentThenRuns() {
        let h = Harness()
        h.engine.recordsLifecycle = true
        let first = h.enq("p")
        let second = h.enq("p")
        let child = h.enq("c", after: [first, second])
        #expect(h.state(child) == .blocked)
        #expect(h.next("c") == nil)
        #expect(h.engine.children(of: first) == [child])
        h.complete(first, "one")
        #expect(h.state(child) == .blocked)
        h.complete(second)
        #expect(h.state(child) == .waiting)
        #expect(h.next("c")?.id == child)
        let kinds = h.engine.takeLifecycle().filter { $0.id == child }.map(\.kind)
        #expect(kinds == [.enqueued, .blocked, .unblocked, .started])
        let parents = h.engine.parents(of: child)!
        #expect(parents.map(\.id) == [first, second])
        #expect(parents[0].result == Array("one".utf8) && parents[0].state == "completed")
    }

    @Test func aDeadParentKillsItsDescendantsUnlessTheyRunAnyway() {
        let h = Harness()
        let parent = h.enq("p")
        let child = h.enq("c", after: [parent])
        let grandchild = h.enq("g", after: [child])
        let stubborn = h.enq("c", after: [parent]) { $0.onParentDead = .run }
        h.kill(parent)
        #expect(h.state(child) == .dead && h.engine.job(child)?.lastError == Array("parent \(parent) dead".utf8))
        #expect(h.state(grandchild) == .dead && h.engine.job(grandchild)?.lastError == Array("parent \(child) dead".utf8))
        #expect(h.state(stubborn) == .waiting)
        // Already dead at the ENQ: dead at once.
        let late = h.enq("c", after: [parent])
        #expect(h.state(late) == .dead)
    }

    @Test func deletingAnUnfinishedParentCountsAsItsDeath() {
        let h = Harness()
        let parent = h.enq("p")
        let child = h.enq("c", after: [parent])
        _ = h.engine.delete(id: parent)
        #expect(h.state(child) == .dead && h.engine.job(child)?.lastError == Array("parent \(parent) deleted".utf8))
        #expect(h.engine.parents(of: child)?.first?.state == nil)
        // A completed parent deleted later changes nothing for a blocked sibling's other parent.
        let done = h.enq("p")
        let pending = h.enq("p")
        let both = h.enq("c", after: [done, pending])
        h.complete(done)
        _ = h.engine.delete(id: done)
        #expect(h.state(both) == .blocked)
        h.complete(pending)
        #expect(h.state(both) == .waiting)
    }

    @Test func retentionKeepsAParentUntilItsChildrenFinish() {
        var defaults = QueueDefaults()
        defaults.keepCompleted = 1
        let h = Harness(defaults: defaults)
        let parent = h.enq("p")
        let child = h.enq("c", after: [parent])
        h.complete(parent, "kept")
        // Two more completions push the parent out of the history of one.
        h.complete(h.enq("p"))
        h.complete(h.enq("p"))
        #expect(h.engine.job(parent)?.result == Array("kept".utf8))
        #expect(h.engine.parents(of: child)?.first?.result == Array("kept".utf8))
        h.complete(child)
        #expect(h.engine.job(parent) == nil)
    }

    @Test func aBlockedJobsExpiryStillApplies() {
        let h = Harness()
        let parent = h.enq("p")
        let child = h.enq("c", after: [parent]) { $0.ttlMilliseconds = 100 }
        let grandchild = h.enq("g", after: [child])
        h.advance(150)
        #expect(h.state(child) == .dead && h.state(grandchild) == .dead)
    }

    @Test func blockedJobsSurviveARestart() {
        let h = Harness()
        let first = h.enq("p")
        let second = h.enq("p")
        let child = h.enq("c", after: [first, second]) { $0.ttlMilliseconds = 60_000 }
        let runner = h.enq("c", after: [second]) { $0.onParentDead = .run }
        h.complete(first)
        let record = JobCodec.encode(h.engine.job(child)!)
        #expect(record.first == 4)
        let decoded = JobCodec.decode(record)!
        #expect(decoded.parents == [first, second] && decoded.expiresAt != nil && !decoded.runsIfParentDies)
        #expect(JobCodec.decode(JobCodec.encode(h.engine.job(runner)!))!.runsIfParentDies)

        let restarted = Harness()
        restarted.clock.time = h.clock.time
        for job in h.engine.jobs.all.sorted(by: { $0.id < $1.id }) {
            JobCodec.encode(job).withUnsafeBytes {
                restarted.engine.restoreJob(id: job.id, JobCodec.decode($0)!, payloadSize: 0)
            }
        }
        restarted.engine.finishRestore(nextID: h.engine.nextID)
        restarted.engine.finishRecovery(holds: [])
        #expect(restarted.state(child) == .blocked && restarted.state(runner) == .blocked)
        #expect(restarted.engine.children(of: second).sorted() == [child, runner])
        restarted.kill(second)
        #expect(restarted.state(child) == .dead)
        #expect(restarted.state(runner) == .waiting)
    }
}
