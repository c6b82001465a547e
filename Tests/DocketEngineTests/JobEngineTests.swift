import DocketEngine
import DocketWire
import Testing

/// The error of a result that carries nothing else, or nil for success.
func errorOf(_ result: Result<Void, JobError>) -> JobError? {
    if case .failure(let error) = result { return error }
    return nil
}

/// A clock the test moves by hand.
final class ManualClock: EngineClock {
    var time: Int64 = 1_700_000_000_000
    func now() -> Int64 { time }
    func advance(_ milliseconds: Int) { time += Int64(milliseconds) }
}

/// An engine on a manual clock, with helpers that speak in strings.
struct Harness {
    let clock = ManualClock()
    let engine: JobEngine

    init(defaults: QueueDefaults = QueueDefaults(), random: @escaping () -> Double = { 0.5 }) {
        engine = JobEngine(clock: clock, defaults: defaults, random: random)
    }

    @discardableResult
    func enq(_ queue: String = "q", _ payload: String = "", key: String? = nil, _ configure: (inout EnqueueOptions) -> Void = { _ in })
        -> UInt64
    {
        var options = EnqueueOptions()
        configure(&options)
        var name = queue
        return name.withUTF8 {
            engine.enqueue(queue: UnsafeRawBufferPointer($0), options: options, key: key.map { Array($0.utf8) }, payloadSize: payload.utf8.count).id
        }
    }

    func reserve(_ queues: [String] = ["q"], owner: UInt64 = 1, wait: Bool = false, timeout: Int? = nil) -> (Job?, Waiter?) {
        // As a RESERVE line names them: one buffer, the queues as ranges of it.
        let bytes = Array(queues.joined(separator: ",").utf8)
        var ranges: [Range<Int>] = []
        var start = 0
        for queue in queues {
            ranges.append(start..<(start + queue.utf8.count))
            start += queue.utf8.count + 1
        }
        let names = QueueNames(first: ranges[0], more: Array(ranges.dropFirst()))
        let result = bytes.withUnsafeBytes {
            engine.reserve(queues: names, in: $0, owner: owner, wait: wait, timeoutMilliseconds: timeout)
        }
        return (result.job, result.waiter)
    }

    func next(_ queue: String = "q", owner: UInt64 = 1) -> Job? { reserve([queue], owner: owner).0 }

    /// Changes queue `queue`'s settings as QUEUE does.
    func configure(_ queue: String = "q", _ change: (inout QueueConfig) -> Void) {
        var name = queue
        name.withUTF8 {
            var config = engine.config(of: UnsafeRawBufferPointer($0))
            change(&config)
            engine.setConfig(config, of: UnsafeRawBufferPointer($0))
        }
    }

    /// A new engine on this one's jobs as the store would give them back after a crash, at the
    /// same time, recovery finished.
    func restarted() -> Harness {
        let restarted = Harness()
        restarted.clock.time = clock.time
        for job in engine.jobs.all.sorted(by: { $0.id < $1.id }) {
            JobCodec.encode(job).withUnsafeBytes {
                restarted.engine.restoreJob(id: job.id, JobCodec.decode($0)!, payloadSize: Int(job.payloadSize))
            }
        }
        restarted.engine.finishRestore(nextID: engine.nextID)
        restarted.engine.finishRecovery(holds: [])
        return restarted
    }

    func advance(_ milliseconds: Int) {
        clock.advance(milliseconds)
        engine.advance()
    }
}

@Suite struct JobEngineTests {
    @Test func lowerPriorityFirstThenFIFO() {
        let h = Harness()
        let a = h.enq("q", "a")
        let b = h.enq("q", "b") { $0.priority = -5 }
        let c = h.enq("q", "c")
        let d = h.enq("q", "d") { $0.priority = -5 }
        #expect([h.next(), h.next(), h.next(), h.next()].map { $0?.id } == [b, d, a, c])
        #expect(h.next() == nil)
    }

    @Test func queuesAreTriedInOrder() {
        let h = Harness()
        let low = h.enq("low")
        let high = h.enq("high")
        #expect(h.reserve(["high", "low"]).0?.id == high)
        #expect(h.reserve(["high", "low"]).0?.id == low)
    }

    @Test func delayedJobsWaitForTheirTime() {
        let h = Harness()
        let id = h.enq { $0.delayMilliseconds = 500 }
        #expect(h.engine.job(id)?.state == .delayed)
        #expect(h.next() == nil)
        #expect(h.engine.nextDeadline == h.clock.time + 500)
        h.advance(499)
        #expect(h.next() == nil)
        h.advance(1)
        #expect(h.next()?.id == id)
    }

    @Test func exponentialBackoffDoublesUpToItsCap() {
        let backoff = Backoff.exponential(baseMilliseconds: 1000, capMilliseconds: 5000)
        #expect((1...5).map { backoff.delay(afterAttempt: $0) } == [1000, 2000, 4000, 5000, 5000])
        #expect(Backoff.fixed(milliseconds: 300).delay(afterAttempt: 7) == 300)
        #expect(Backoff.exponential(baseMilliseconds: 1, capMilliseconds: 10).delay(afterAttempt: 1000) == 10)
    }

    @Test func failedAttemptsFollowTheBackoffUntilDead() {
        let h = Harness()
        let id = h.enq { $0.maxAttempts = 3; $0.backoff = .exponential(baseMilliseconds: 100, capMilliseconds: 1000) }
        var waits: [FailOutcome] = []
        for attempt in 1...3 {
            guard let job = h.next() else {
                Issue.record("attempt \(attempt) not delivered")
                return
            }
            #expect(job.attempts == attempt)
            waits.append(try! h.engine.fail(id: id, owner: 1, choice: .policy, reason: Array("boom".utf8)).get())
            if case .retry(let wait) = waits.last! {
                h.advance(wait - 1)
                #expect(h.next() == nil)
                h.advance(1)
            }
        }
        #expect(waits == [.retry(afterMilliseconds: 100), .retry(afterMilliseconds: 200), .dead])
        #expect(h.engine.job(id)?.state == .dead)
        #expect(h.engine.job(id)?.lastError == Array("boom".utf8))
    }

    @Test func jitterOnlyShortensTheWaitWithinItsFraction() {
        for draw in [0.0, 0.25, 0.999] {
            let h = Harness(random: { draw })
            let id = h.enq { $0.backoff = .fixed(milliseconds: 1000); $0.jitter = 0.5 }
            _ = h.next()
            guard case .retry(let wait) = try! h.engine.fail(id: id, owner: 1, choice: .policy, reason: nil).get() else {
                Issue.record("expected a retry")
                return
            }
            #expect(wait == 1000 - Int(1000 * 0.5 * draw))
            #expect((500...1000).contains(wait))
        }
    }

    @Test func workerChoosesTheRetry() {
        let h = Harness()
        let id = h.enq { $0.maxAttempts = 5 }
        _ = h.next()
        #expect(try! h.engine.fail(id: id, owner: 1, choice: .after(milliseconds: 0), reason: nil).get() == .retry(afterMilliseconds: 0))
        #expect(h.next()?.attempts == 2)
        #expect(try! h.engine.fail(id: id, owner: 1, choice: .never, reason: nil).get() == .dead)
    }

    @Test func onlyTheHolderMayFinishAJob() {
        let h = Harness()
        let id = h.enq()
        #expect(errorOf(h.engine.ack(id: id, owner: 1, result: nil)) == .notHeld(id))
        _ = h.next("q", owner: 1)
        #expect(errorOf(h.engine.ack(id: id, owner: 2, result: nil)) == .notHeld(id))
        #expect(errorOf(h.engine.touch(id: id, owner: 2)) == .notHeld(id))
        #expect(errorOf(h.engine.ack(id: 999, owner: 1, result: nil)) == .notFound(999))
        #expect(errorOf(h.engine.ack(id: id, owner: 1, result: Array("done".utf8))) == nil)
        #expect(h.engine.job(id)?.state == .completed)
        #expect(h.engine.job(id)?.result == Array("done".utf8))
        #expect(errorOf(h.engine.ack(id: id, owner: 1, result: nil)) == .notHeld(id))
    }

    @Test func theAttemptLetsAnotherConnectionFinishAJob() {
        let h = Harness()
        let id = h.enq()
        #expect(errorOf(h.engine.ack(id: id, owner: 2, attempt: 1, result: nil)) == .notHeld(id), "waiting: nobody holds it")
        _ = h.next("q", owner: 1)
        #expect(errorOf(h.engine.ack(id: id, owner: 2, attempt: 2, result: nil)) == .staleAttempt(id, 2, current: 1))
        #expect(errorOf(h.engine.touch(id: id, owner: 2, attempt: 1)) == nil)
        #expect(errorOf(h.engine.progress(id: id, owner: 2, attempt: 1, percent: 40, note: nil)) == nil)
        #expect(h.engine.job(id)?.holder == 1, "acting for the holder does not take the job over")
        #expect(errorOf(h.engine.ack(id: id, owner: 2, attempt: 1, result: Array("ok".utf8))) == nil)
        #expect(h.engine.job(id)?.state == .completed)
        #expect(errorOf(h.engine.ack(id: id, owner: 1, attempt: 1, result: nil)) == .notHeld(id))
    }

    @Test func expiredLeasesCountAsFailedAttempts() {
        let h = Harness()
        let id = h.enq { $0.leaseMilliseconds = 1000; $0.maxAttempts = 2; $0.backoff = .fixed(milliseconds: 0) }
        _ = h.next("q", owner: 1)
        h.advance(600)
        #expect(errorOf(h.engine.touch(id: id, owner: 1)) == nil)  // lease now ends at 1600
        h.advance(600)
        #expect(h.engine.job(id)?.state == .active)
        h.advance(400)
        #expect(h.engine.job(id)?.state == .waiting)
        #expect(errorOf(h.engine.ack(id: id, owner: 1, result: nil)) == .notHeld(id))
        let again = h.next("q", owner: 2)
        #expect(again?.attempts == 2)
        h.advance(1000)
        // A poison job that stalls every worker ends dead instead of looping forever.
        #expect(h.engine.job(id)?.state == .dead)
        #expect(h.engine.job(id)?.lastError.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("stalled") == true)
    }

    @Test func aLostWorkerFailsItsAttempt() {
        let h = Harness()
        let id = h.enq { $0.backoff = .fixed(milliseconds: 0) }
        _ = h.next("q", owner: 7)
        h.engine.ownerGone(7, heldJobs: [id])
        let job = h.next("q", owner: 8)
        #expect(job?.id == id && job?.attempts == 2)
    }

    @Test func idempotencyKeysReturnTheExistingJob() {
        let h = Harness()
        let first = h.enq("q", "a", key: "order-1")
        #expect(h.enq("q", "b", key: "order-1") == first)
        #expect(h.enq("other", "c", key: "order-1") != first)
        #expect(errorOf(h.engine.delete(id: first)) == nil)
        #expect(h.enq("q", "d", key: "order-1") != first)
    }

    @Test func waitersAreServedFirstComeFirstServed() {
        let h = Harness()
        let (_, first) = h.reserve(["q"], owner: 1, wait: true)
        let (_, second) = h.reserve(["q", "r"], owner: 2, wait: true)
        #expect(first != nil && second != nil)
        let a = h.enq("r")
        let b = h.enq("q")
        let events = h.engine.takeEvents()
        let served = events.compactMap { event -> (UInt64, UInt64)? in
            if case .delivered(let waiter, let job) = event { return (waiter.owner, job.id) }
            return nil
        }
        #expect(served.map { $0.0 } == [2, 1])
        #expect(served.map { $0.1 } == [a, b])
    }

    @Test func waitersTimeOut() {
        let h = Harness()
        let (_, waiter) = h.reserve(["q"], owner: 1, wait: true, timeout: 200)
        h.advance(199)
        #expect(h.engine.takeEvents().isEmpty)
        h.advance(1)
        let events = h.engine.takeEvents()
        #expect(events.count == 1)
        if case .timedOut(let timedOut) = events.first { #expect(timedOut === waiter) } else { Issue.record("no timeout") }
        // A job arriving later does not go to the timed-out waiter.
        let id = h.enq()
        #expect(h.engine.takeEvents().isEmpty)
        #expect(h.engine.job(id)?.state == .waiting)
    }

    @Test func deadJobsCanBeRetried() {
        let h = Harness()
        let ids = (0..<3).map { _ in h.enq { $0.maxAttempts = 1 } }
        for id in ids {
            _ = h.next()
            _ = try! h.engine.fail(id: id, owner: 1, choice: .policy, reason: nil).get()
        }
        var name = "q"
        #expect(name.withUTF8 { h.engine.deadJobs(queue: UnsafeRawBufferPointer($0), limit: 10) }.map(\.id) == ids)
        #expect(errorOf(h.engine.retry(id: ids[0])) == nil)
        #expect(errorOf(h.engine.retry(id: ids[0])) == JobError(.notDead, "job \(ids[0]) is waiting, not dead"))
        #expect(name.withUTF8 { h.engine.retryAll(queue: UnsafeRawBufferPointer($0)) } == 2)
        #expect(h.next()?.attempts == 1)
    }

    @Test func historyIsBounded() {
        var defaults = QueueDefaults()
        defaults.keepCompleted = 5
        let h = Harness(defaults: defaults)
        var ids: [UInt64] = []
        for _ in 0..<20 {
            let id = h.enq()
            _ = h.next()
            _ = h.engine.ack(id: id, owner: 1, result: nil)
            ids.append(id)
        }
        #expect(h.engine.jobs.count == 5)
        #expect(h.engine.jobs.all.map(\.id) == Array(ids.suffix(5)))
        let changes = h.engine.takeChanges()
        #expect(changes.deleted.count == 15)
        #expect(Set(changes.changed.map(\.id)) == Set(ids.suffix(5)))
    }

    @Test func deletedJobsSayWhetherTheyMayStillHaveAPayload() {
        let h = Harness()
        let early = h.enq(), late = h.enq(), dead = h.enq { $0.maxAttempts = 1 }, waiting = h.enq()
        _ = h.next()
        _ = h.engine.ack(id: early, owner: 1, result: nil)
        _ = h.next()
        _ = h.next()
        _ = h.engine.fail(id: dead, owner: 1, choice: .policy, reason: nil)
        _ = h.engine.takeChanges()  // the completion of `early` is committed: its payload went with it
        _ = h.engine.ack(id: late, owner: 1, result: nil)
        for id in [early, late, dead, waiting] { _ = h.engine.delete(id: id) }
        let changes = h.engine.takeChanges()
        #expect(changes.deleted == [early, late, dead, waiting])
        // `late` completed in this very batch, so its payload may not have been dropped yet.
        #expect(changes.deletedWithPayload == [late, dead, waiting])
        #expect(changes.changed.isEmpty)
    }

    @Test func restoreTurnsActiveJobsBackIntoWaitingOnes() {
        let h = Harness()
        let waiting = h.enq("q", "w")
        let active = h.enq("q", "a") { $0.priority = -1 }
        let delayed = h.enq("q", "d") { $0.delayMilliseconds = 1000 }
        _ = h.next()
        let restarted = Harness()
        restarted.clock.time = h.clock.time
        restore(h.engine.jobs.all, into: restarted.engine, nextID: h.engine.nextID)
        #expect(restarted.engine.job(active)?.state == .waiting)
        #expect(restarted.engine.job(active)?.attempts == 1)
        #expect(restarted.next()?.id == active)
        #expect(restarted.next()?.id == waiting)
        #expect(restarted.next() == nil)
        restarted.advance(1000)
        #expect(restarted.next()?.id == delayed)
        #expect(restarted.enq() == h.engine.nextID)
    }

    @Test func codecRoundTripsEveryField() {
        let h = Harness()
        let id = h.enq("mail", "payload\u{0}\r\n", key: "k") {
            $0.priority = -3; $0.maxAttempts = 9; $0.backoff = .fixed(milliseconds: 42); $0.jitter = 0.25
            $0.leaseMilliseconds = 1234
        }
        _ = h.next("mail")
        _ = h.engine.progress(id: id, owner: 1, percent: 40, note: Array("halfway".utf8))
        _ = h.engine.ack(id: id, owner: 1, result: Array("ok".utf8))
        let job = h.engine.job(id)!
        let restarted = Harness()
        restore([job], into: restarted.engine, nextID: h.engine.nextID)
        let copy = restarted.engine.job(id)!
        #expect(copy.json == job.json)
        #expect(Int(copy.payloadSize) == "payload\u{0}\r\n".utf8.count)
        // The payload is not part of the record: state changes never rewrite it.
        #expect(JobCodec.encode(job).count < 64)
        #expect(JobCodec.decode(JobCodec.encode(job))?.payloadSize == Int(job.payloadSize))
        let record = JobCodec.encode(job)
        for length in 0..<record.count { #expect(JobCodec.decode(Array(record[..<length])) == nil) }
        #expect(JobCodec.decode(record + [0]) == nil)
        #expect(JobCodec.decode([]) == nil)
        #expect(JobCodec.decode([9] + record.dropFirst()) == nil)
    }

    @Test func recordsOfTheFirstLayoutStillRead() {
        let h = Harness()
        let id = h.enq("mail", "abc", key: "k") { $0.priority = 5; $0.jitter = 0.5; $0.backoff = .fixed(milliseconds: 7) }
        _ = h.next("mail")
        _ = h.engine.fail(id: id, owner: 1, choice: .policy, reason: Array("boom".utf8))
        let job = h.engine.job(id)!
        let old = JobCodec.encodeVersion1(job)
        let fields = JobCodec.decode(old)
        #expect(fields?.payloadSize == nil)  // version 1 left the size to the payload itself
        let restarted = Harness()
        old.withUnsafeBytes { restarted.engine.restoreJob(id: id, JobCodec.decode($0)!, payloadSize: 3) }
        #expect(restarted.engine.job(id)?.json == job.json)
        // Version 2 is a fraction of the size.
        #expect(JobCodec.encode(job).count * 2 < old.count)
    }

    @Test func timesAndCountsSurviveTheVarintsAtTheirExtremes() {
        let h = Harness()
        h.clock.time = 1_000
        let id = h.enq("q") { $0.runAtMilliseconds = Int64(Int32.max) * 1000; $0.priority = -1_000_000; $0.maxAttempts = 1000 }
        let job = h.engine.job(id)!
        let restarted = Harness()
        JobCodec.encode(job).withUnsafeBytes { restarted.engine.restoreJob(id: id, JobCodec.decode($0)!, payloadSize: 0) }
        #expect(restarted.engine.job(id)?.json == job.json)
    }

    @Test func jobsOfOneQueueWithTheSameSettingsShareOnePolicy() {
        let h = Harness()
        let first = h.enq(), second = h.enq()
        let other = h.enq { $0.maxAttempts = 7 }
        let third = h.enq { $0.maxAttempts = 7 }
        #expect(h.engine.job(first)!.policy === h.engine.job(second)!.policy)
        #expect(h.engine.job(other)!.policy !== h.engine.job(first)!.policy)
        #expect(h.engine.job(other)!.policy === h.engine.job(third)!.policy)
        #expect(h.engine.job(third)!.maxAttempts == 7 && h.engine.job(first)!.maxAttempts == 3)
    }

    /// What a restart does: every job through the codec, in id order, into a fresh engine.
    func restore(_ jobs: [Job], into engine: JobEngine, nextID: UInt64) {
        for job in jobs.sorted(by: { $0.id < $1.id }) {
            let record = JobCodec.encode(job)
            record.withUnsafeBytes { engine.restoreJob(id: job.id, JobCodec.decode($0)!, payloadSize: Int(job.payloadSize)) }
        }
        engine.finishRestore(nextID: nextID)
    }
}

/// `ttl=` and `expires=`: a job not started by its expiry is not run.
@Suite struct ExpiryTests {
    @Test func aJobNotStartedByItsExpiryDiesExpired() {
        let h = Harness()
        let doomed = h.enq("q", "a") { $0.ttlMilliseconds = 500 }
        let kept = h.enq("q", "b") { $0.ttlMilliseconds = 5000 }
        #expect(h.engine.job(doomed)?.expiresAt == h.clock.time + 500)
        #expect(h.engine.nextDeadline == h.clock.time + 500)
        h.advance(500)
        let job = h.engine.job(doomed)!
        #expect(job.state == .dead && job.lastError.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("expired") == true)
        // Started in time, the other runs; failed after its expiry, it does not start again.
        #expect(h.next()?.id == kept)
        _ = h.engine.fail(id: kept, owner: 1, choice: .after(milliseconds: 0), reason: nil)
        h.clock.advance(5000)
        #expect(h.next() == nil)
        #expect(h.engine.job(kept)?.state == .dead)
    }

    @Test func anExpiryAlreadyPastNeverStartsAndSurvivesARestart() {
        let h = Harness()
        let past = h.enq("q") { $0.expiresAtMilliseconds = 1000 }
        #expect(h.next() == nil)
        #expect(h.engine.job(past)?.state == .dead)
        // A delayed job's expiry comes before its run time: it never starts.
        let delayed = h.enq("q") {
            $0.delayMilliseconds = 10_000
            $0.ttlMilliseconds = 2000
        }
        let job = h.engine.job(delayed)!
        let record = JobCodec.encode(job)
        #expect(record.first == 3)
        #expect(JobCodec.decode(record)?.expiresAt == job.expiresAt)
        for length in 0..<record.count { #expect(JobCodec.decode(Array(record[..<length])) == nil) }
        #expect(JobCodec.encode(h.engine.job(past)!).first == 3)
        let restarted = Harness()
        restarted.clock.time = h.clock.time
        JobCodec.encode(job).withUnsafeBytes { restarted.engine.restoreJob(id: delayed, JobCodec.decode($0)!, payloadSize: 0) }
        restarted.engine.finishRestore(nextID: h.engine.nextID)
        #expect(restarted.engine.job(delayed)?.expiresAt == job.expiresAt)
        restarted.advance(2000)
        #expect(restarted.engine.job(delayed)?.state == .dead)
        restarted.advance(10_000)
        #expect(restarted.next() == nil)
    }
}
