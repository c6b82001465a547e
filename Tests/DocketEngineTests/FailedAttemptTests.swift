import DocketWire
import Testing

@testable import DocketEngine

/// A job's attempt history: every attempt that ended without completing it (FAIL, a lease run
/// out, a lost worker, a restart), with its times and error, the last `FailedAttempt.kept` of
/// them, stored with the job.
@Suite struct FailedAttemptTests {
    func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    @Test func eachWayAnAttemptFailsIsRecordedWithItsTimes() {
        let h = Harness()
        let id = h.enq { $0.leaseMilliseconds = 1000; $0.maxAttempts = 5; $0.backoff = .fixed(milliseconds: 0) }
        let firstStart = h.clock.time
        _ = h.next()
        h.advance(10)
        _ = h.engine.fail(id: id, owner: 1, choice: .policy, reason: Array("boom".utf8))
        _ = h.next()
        h.advance(1000)  // the lease runs out
        _ = h.next("q", owner: 2)
        h.engine.ownerGone(2, heldJobs: [id])
        _ = h.next("q", owner: 3)
        _ = h.engine.fail(id: id, owner: 3, choice: .policy, reason: nil)
        _ = h.next("q", owner: 4)
        #expect(errorOf(h.engine.ack(id: id, owner: 4, result: nil)) == nil)

        let history = h.engine.job(id)!.failedAttempts
        #expect(history.map(\.attempt) == [1, 2, 3, 4])
        #expect(history.map { text($0.error) } == ["boom", "stalled: lease of 1000 ms expired", "worker lost: connection closed", nil])
        #expect(history[0].startedAt == firstStart && history[0].endedAt == firstStart + 10)
        #expect(history.allSatisfy { ($0.startedAt ?? .max) <= $0.endedAt })
    }

    @Test func onlyTheLastTenAreKeptAndRetryKeepsThem() {
        let h = Harness()
        let id = h.enq { $0.maxAttempts = 12; $0.backoff = .fixed(milliseconds: 0) }
        for attempt in 1...12 {
            _ = h.next()
            _ = h.engine.fail(id: id, owner: 1, choice: .policy, reason: Array("failure \(attempt)".utf8))
        }
        #expect(h.engine.job(id)?.state == .dead)
        #expect(h.engine.job(id)!.failedAttempts.map(\.attempt) == Array(3...12))
        #expect(errorOf(h.engine.retry(id: id)) == nil)
        #expect(h.engine.job(id)!.failedAttempts.count == FailedAttempt.kept)
    }

    /// A large reason costs its whole size once (`last_error`), and 1 KiB per attempt kept.
    @Test func eachAttemptKeepsTheFirstKiBOfItsError() {
        let h = Harness()
        let id = h.enq { $0.backoff = .fixed(milliseconds: 0) }
        let reason = [UInt8](repeating: UInt8(ascii: "x"), count: 5000)
        _ = h.next()
        _ = h.engine.fail(id: id, owner: 1, choice: .policy, reason: reason)
        let job = h.engine.job(id)!
        #expect(job.lastError == reason)
        #expect(job.failedAttempts.map { $0.error?.count } == [FailedAttempt.errorBytesKept])
    }

    @Test func theHistoryIsStoredAndARestartAddsTheAttemptItCutShort() {
        let h = Harness()
        let id = h.enq { $0.backoff = .fixed(milliseconds: 0) }
        _ = h.next()
        _ = h.engine.fail(id: id, owner: 1, choice: .policy, reason: Array("first\u{0}\r\n".utf8))
        _ = h.next()  // attempt 2 is running when the server stops

        let decoded = JobCodec.decode(JobCodec.encode(h.engine.job(id)!))!
        #expect(decoded.failedAttempts == h.engine.job(id)!.failedAttempts)
        let restarted = Harness()
        restarted.clock.time = h.clock.time + 5
        JobEngineTests().restore(h.engine.jobs.all, into: restarted.engine, nextID: h.engine.nextID)
        let history = restarted.engine.job(id)!.failedAttempts
        #expect(history.map(\.attempt) == [1, 2])
        #expect(text(history[0].error) == "first\u{0}\r\n")
        #expect(text(history[1].error) == "worker lost: server restarted" && history[1].endedAt == restarted.clock.time)
        #expect(restarted.engine.job(id)!.state == .waiting)
        #expect(text(restarted.engine.job(id)!.lastError) == "worker lost: server restarted", "as a worker lost while it ran")
    }

    @Test func inspectShowsTheHistoryAsJSON() {
        var view = JobView(
            id: 1, queue: "q", state: "waiting", priority: 0, attempts: 1, maxAttempts: 3, backoff: .fixed(milliseconds: 0), jitter: 0,
            leaseMilliseconds: 1000, key: nil, group: nil, enqueuedAt: 1, runAt: 1, startedAt: nil, finishedAt: nil, progress: 0,
            progressNote: nil, lastError: nil, result: nil, payloadBytes: 0)
        #expect(!view.json.contains("failed_attempts"))
        view.failedAttempts = [FailedAttempt(attempt: 1, startedAt: 5, endedAt: 9, error: Array("say \"no\"".utf8))]
        #expect(view.json.contains(#""last_error":null,"failed_attempts":[{"attempt":1,"started_at":5,"ended_at":9,"error":"say \"no\""}],"result":null,"#))
    }
}
