@testable import DocketEngine
import DocketTestSupport
import DocketWire
import Testing

/// QUEUE's `oldest_waiting_ms` is read from what the engine keeps up to date as jobs come and
/// go (`WaitingSince`), not from a walk over every waiting job: across many random changes it
/// must still be exactly the longest wait found by brute force over every job.
@Suite struct OldestWaitingTests {
    /// The longest wait of the queue's waiting jobs (parked ones too), by brute force.
    private static func bruteForce(_ h: Harness, _ queue: String) -> Int? {
        let since = h.engine.jobs.all.filter { $0.queue == queue && $0.state == .waiting }.map { max($0.runAt, $0.enqueuedAt) }.min()
        return since.map { Int(h.clock.now() - $0) }
    }

    private static func reported(_ h: Harness, _ queue: String) -> Int? {
        Array(queue.utf8).withUnsafeBytes { h.engine.queueView(h.engine.queue(named: $0)).oldestWaitingMilliseconds }
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func oldestWaitingEqualsBruteForceAcrossManyChanges(seed: UInt64) {
        let h = Harness()
        var random = SeededGenerator(seed: seed)
        func below(_ bound: Int) -> Int { Int.random(in: 0..<bound, using: &random) }
        var held: [UInt64] = []
        var ids: [UInt64] = []
        let queues = ["q", "r"]
        // Queue r parks jobs of a group over its rate: parked jobs wait too.
        h.configure("r") { $0.groupRate = Rate(limit: 2, windowMilliseconds: 300) }
        var largest = 0
        var parkedSeen = false
        for step in 1...2500 {
            switch below(12) {
            case 0, 1, 2:
                let queue = queues[below(2)]
                var options = EnqueueOptions()
                options.priority = below(3) - 1
                switch below(6) {
                case 0: options.delayMilliseconds = below(500) + 1
                // A run time in the past: the wait counts from the enqueue.
                case 1: options.runAtMilliseconds = h.clock.now() - Int64(below(1000))
                default: break
                }
                options.leaseMilliseconds = 2000
                options.maxAttempts = 3
                options.backoff = .fixed(milliseconds: below(2) * 200)
                let group = queue == "r" ? Array("g\(below(3))".utf8) : nil
                let id = Array(queue.utf8).withUnsafeBytes {
                    h.engine.enqueue(queue: $0, options: options, key: nil, group: group, payloadSize: 0).id
                }
                ids.append(id)
            case 3, 4:
                if let job = h.next(queues[below(2)]) { held.append(job.id) }
            case 5:
                if !held.isEmpty { _ = h.engine.ack(id: held.remove(at: below(held.count)), owner: 1, result: nil) }
            case 6:
                if !held.isEmpty {
                    _ = h.engine.fail(id: held.remove(at: below(held.count)), owner: 1, choice: .policy, reason: nil)
                }
            case 7:
                if !held.isEmpty {
                    let id = held.remove(at: below(held.count))
                    if below(2) == 0 {
                        h.engine.giveBack(id, owner: 1)
                    } else {
                        _ = h.engine.throttle(id: id, owner: 1, milliseconds: below(300), groupOnly: below(2) == 0, reason: nil)
                    }
                }
            case 8:
                if !ids.isEmpty {
                    let id = ids[below(ids.count)]
                    switch below(3) {
                    case 0: _ = h.engine.promote(id: id)
                    case 1: _ = h.engine.delete(id: id)
                    default: _ = h.engine.retry(id: id)
                    }
                }
            default:
                h.advance(below(40))
            }
            for queue in queues {
                let expected = Self.bruteForce(h, queue)
                #expect(Self.reported(h, queue) == expected, "step \(step), \(queue)")
                largest = max(largest, h.engine.jobs.all.filter { $0.queue == queue && $0.state == .waiting }.count)
            }
            if let r = h.engine.jobs.all.first(where: { $0.queue == "r" }), r.home.groups.values.contains(where: { !$0.parked.isEmpty }) {
                parkedSeen = true
            }
        }
        // The changes must have built a backlog worth the name, and parked some of it.
        #expect(largest > 50 && parkedSeen, "largest \(largest), parked \(parkedSeen)")
    }

    /// Entries of jobs that left from deep inside are swept out once they outnumber the waiting
    /// jobs, and the answer stays the brute-force one across the sweeps.
    @Test func staleEntriesAreSweptAndTheOldestStaysExact() {
        let h = Harness()
        var since = WaitingSince(sweepSlack: 8)
        var random = SeededGenerator(seed: 7)
        func below(_ bound: Int) -> Int { Int.random(in: 0..<bound, using: &random) }
        var waiting: [Job] = []
        var largestCount = 0
        for step in 1...3000 {
            if waiting.isEmpty || below(2) == 0 {
                h.clock.advance(below(3))
                let job = h.engine.job(h.enq())!
                since.enter(job)
                waiting.append(job)
            } else {
                // Mostly not the oldest: its entry stays behind, stale.
                let job = waiting.remove(at: below(4) == 0 ? 0 : below(waiting.count))
                _ = h.engine.delete(id: job.id)
                since.leave(job, waiting: waiting.count, in: h.engine.jobs)
            }
            largestCount = max(largestCount, since.count)
            #expect(since.count <= 2 * (waiting.count + 1) + 8, "step \(step)")
            #expect(since.oldest(in: h.engine.jobs) == waiting.map(\.waitingSince).min(), "step \(step)")
        }
        #expect(largestCount > 16)
    }
}
