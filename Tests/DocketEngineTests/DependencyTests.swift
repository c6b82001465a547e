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

    /// A job's depth in its flow is counted at its ENQ from its unfinished parents, and a record
    /// keeps it; one written before it was kept gets it from its parents as it is restored.
    @Test func flowDepthIsCountedAtEnqueueAndKept() {
        let h = Harness()
        let first = h.enq("p")
        let second = h.enq("p", after: [first])
        let third = h.enq("p", after: [second])
        let beside = h.enq("b")
        #expect([first, second, third].map { h.engine.job($0)!.flowDepth } == [1, 2, 3])
        #expect(h.engine.flowDepth(after: [beside, third]) == 4)
        h.complete(first)
        // Counted at the ENQ: the chain's head finishing leaves its descendants as they were.
        #expect(h.engine.job(third)!.flowDepth == 3 && h.engine.flowDepth(after: [third]) == 4)
        #expect(h.engine.flowDepth(after: [first]) == 1)
        #expect(h.restarted().engine.flowDepth(after: [third]) == 4)

        let old = Harness()
        let a = old.enq("p")
        let b = old.enq("p", after: [a])
        let c = old.enq("p", after: [b])
        old.complete(a)
        let restored = Harness()
        for job in old.engine.jobs.all.sorted(by: { $0.id < $1.id }) {
            var record = JobCodec.encode(job)
            // The record as written before the depth was: without its last tag.
            if job.id != a { record.removeLast(2) }
            record.withUnsafeBytes { restored.engine.restoreJob(id: job.id, JobCodec.decode($0)!, payloadSize: 0) }
        }
        restored.engine.finishRestore(nextID: old.engine.nextID)
        restored.engine.finishRecovery(holds: [])
        #expect(restored.engine.job(b)!.flowDepth == 1 && restored.engine.job(c)!.flowDepth == 2)
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

        let restarted = h.restarted()
        #expect(restarted.state(child) == .blocked && restarted.state(runner) == .blocked)
        #expect(restarted.engine.children(of: second).sorted() == [child, runner])
        restarted.kill(second)
        #expect(restarted.state(child) == .dead)
        #expect(restarted.state(runner) == .waiting)
    }
}

/// Findings of a review of flows (2026-12-05), each reproduced over TCP first.
@Suite struct FlowReviewTests {
    /// A job that expires while the queue picks one for a waiting worker unblocks its child,
    /// whose arrival handed the child to that same worker from within the pick; the pick then
    /// went on and gave the worker a second job (past the concurrency cap), removing the next
    /// worker from the queue unserved.
    @Test func aChildUnblockedWhilePickingIsNotASecondJobForTheSameWorker() {
        let h = Harness()
        h.configure { $0.concurrency = 1 }
        let parent = h.enq { $0.priority = -5; $0.ttlMilliseconds = 1_500 }
        let child = h.enq(after: [parent]) { $0.onParentDead = .run }
        let other = h.enq { $0.maxAttempts = 1 }
        #expect(h.next()?.id == parent)
        let (_, first) = h.reserve(owner: 2, wait: true, timeout: 6_000)
        let (_, second) = h.reserve(owner: 3, wait: true, timeout: 6_000)
        h.clock.advance(2_000)
        // Handed back: it has expired by now, and its expiry lets the child run.
        _ = h.engine.fail(id: parent, owner: 1, choice: .after(milliseconds: 0), reason: nil)
        let delivered = h.engine.takeEvents().compactMap { event -> (Waiter, UInt64)? in
            if case .delivered(let waiter, let job) = event { return (waiter, job.id) }
            return nil
        }
        #expect(delivered.count == 1, "\(delivered.map(\.1))")
        #expect(delivered.first?.0 === first)
        #expect(h.state(parent) == .dead)
        let started = delivered.first?.1
        #expect(started == child || started == other)
        #expect(h.engine.job(started ?? 0)?.holder == 2)
        // The other job waits for the cap, and the second worker still waits for it.
        #expect(h.state(started == child ? other : child) == .waiting)
        #expect(second?.isDone == false)
        _ = h.engine.ack(id: started!, owner: 2, result: nil)
        let next = h.engine.takeEvents().compactMap { event -> Waiter? in
            if case .delivered(let waiter, _) = event { return waiter }
            return nil
        }
        #expect(next.count == 1 && next.first === second)
    }
}

extension FlowReviewTests {
    /// A job that died, was retried and then completed kept its entry in the dead history;
    /// when later deaths pushed that entry out, the completed job went with it (and its key).
    @Test func aRetriedJobIsNotRemovedByItsOldDeath() {
        var defaults = QueueDefaults()
        defaults.keepDead = 1
        let h = Harness(defaults: defaults)
        let first = h.enq(key: "order-1")
        h.kill(first)
        #expect((try? h.engine.retry(id: first).get()) != nil)
        h.complete(first)
        h.kill(h.enq())
        #expect(h.state(first) == .completed)
        #expect(h.enq(key: "order-1") == first)  // a duplicate: the key is still known
    }

    /// `keep_completed=0` and `keep_dead=0` kept every finished job (the history dropped the
    /// job's own entry); they go at the end of the pass that finished them.
    @Test func keepingNoneRemovesFinishedJobsAtTheEndOfThePass() {
        var defaults = QueueDefaults()
        defaults.keepCompleted = 0
        defaults.keepDead = 0
        let h = Harness(defaults: defaults)
        let done = h.enq()
        let dead = h.enq()
        h.complete(done)
        h.kill(dead)
        #expect(h.state(done) == .completed)  // WAIT and INSPECT of this pass still see it
        let changes = h.engine.takeChanges()
        #expect(Set(changes.deleted) == [done, dead])
        #expect(h.engine.job(done) == nil && h.engine.job(dead) == nil)
        // Still kept while a child needs the outcome.
        let parent = h.enq()
        let child = h.enq(after: [parent])
        h.complete(parent)
        _ = h.engine.takeChanges()
        #expect(h.state(parent) == .completed)
        h.complete(child)
        _ = h.engine.takeChanges()
        #expect(h.engine.job(parent) == nil && h.engine.job(child) == nil)
    }
}

extension FlowReviewTests {
    /// After a crash, a job that was running on its last attempt is dead; its blocked child
    /// dies of it, and that death reached a grandchild (on_parent_dead=run) whose count of
    /// pending parents was not set yet: it ran though its other parent had not.
    @Test func aDeathAtRestartDoesNotReleaseAGrandchildEarly() {
        let h = Harness()
        let parent = h.enq("a") { $0.maxAttempts = 1 }
        let other = h.enq("z")
        let child = h.enq("b", after: [parent])
        let grandchild = h.enq("g", after: [child, other]) { $0.onParentDead = .run }
        #expect(h.next("a")?.id == parent)
        let restarted = h.restarted()
        #expect(restarted.state(parent) == .dead && restarted.state(child) == .dead)
        #expect(restarted.state(grandchild) == .blocked)
        restarted.complete(other)
        #expect(restarted.state(grandchild) == .waiting)
    }
}

extension FlowReviewTests {
    /// PURGE state=blocked of a chain: deleting the first blocked job killed the next one
    /// before its turn, so it was left behind (dead) while the reply counted it deleted.
    @Test func purgingBlockedJobsDeletesTheWholeChainAndCountsIt() {
        let h = Harness()
        let root = h.enq()
        let middle = h.enq(after: [root])
        let last = h.enq(after: [middle])
        var name = "q"
        let count = name.withUTF8 { h.engine.purge(queue: UnsafeRawBufferPointer($0), state: .blocked, olderThan: nil) }
        #expect(count == 2)
        #expect(h.engine.job(middle) == nil && h.engine.job(last) == nil)
        #expect(h.state(root) == .waiting)
    }
}
