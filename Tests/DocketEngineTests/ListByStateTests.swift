@testable import DocketEngine
import DocketWire
import Testing

/// LIST reads each state's jobs from what the engine keeps for that state (the ready order, the
/// delay schedule, the leases, the parents' lists of children, the histories), not from every
/// job it holds: across many changes its pages must still be exactly a listing of all the jobs.
@Suite struct ListByStateTests {
    /// A fixed sequence of pseudo-random numbers (a 64-bit LCG), so a failure can be replayed.
    private struct Numbers {
        var state: UInt64
        mutating func below(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    /// The order PROTOCOL.md gives each state, by brute force over every job.
    private static func listing(_ h: Harness, _ queue: String, _ state: JobListState) -> [UInt64] {
        let wanted = JobState.named(state.rawValue)
        return h.engine.jobs.all.filter { $0.queue == queue && $0.state == wanted }
            .map { job -> (JobListCursor, UInt64) in
                let became: Int64
                switch job.state {
                case .waiting: became = max(job.runAt, job.enqueuedAt)
                case .delayed: became = job.runAt
                case .blocked: became = job.enqueuedAt
                case .active: became = job.startedAt ?? 0
                case .completed, .dead: became = job.finishedAt ?? 0
                }
                return (state.sortKey(priority: job.priority, became: became, place: job.readySequence, id: job.id), job.id)
            }
            .sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Every page of LIST, `limit` at a time, followed by its cursors.
    private static func paged(_ h: Harness, _ queue: String, _ state: JobListState, limit: Int) -> [UInt64] {
        var ids: [UInt64] = []
        var cursor: JobListCursor? = nil
        while true {
            let page = Array(queue.utf8).withUnsafeBytes { h.engine.list(queue: $0, state: state, after: cursor, limit: limit) }
            ids += page.jobs.map(\.id)
            guard page.more, let last = page.cursors.last else { return ids }
            cursor = last
        }
    }

    @Test(arguments: [1, 2, 3])
    func pagesByStateEqualAListingOfEveryJobAcrossManyChanges(seed: UInt64) {
        let h = Harness()
        var numbers = Numbers(state: seed)
        var held: [UInt64] = []
        var ids: [UInt64] = []
        let queues = ["q", "r"]
        // The most jobs a state held at a check: each must have needed several pages.
        var largest: [JobListState: Int] = [:]
        for step in 1...1500 {
            switch numbers.below(10) {
            case 0, 1, 2:
                let parent = ids.isEmpty || numbers.below(4) != 0 ? nil : ids[numbers.below(ids.count)]
                let parents = parent.flatMap { h.engine.job($0) == nil ? nil : [$0] } ?? []
                let queue = queues[numbers.below(2)]
                let priority = numbers.below(3) - 1
                let delay = numbers.below(3) == 0 ? numbers.below(2000) + 1 : 0
                let configure: (inout EnqueueOptions) -> Void = {
                    $0.priority = priority
                    if delay > 0 { $0.delayMilliseconds = delay }
                    $0.leaseMilliseconds = 3000
                    $0.maxAttempts = 2
                    $0.backoff = .fixed(milliseconds: 500)
                }
                ids.append(parents.isEmpty ? h.enq(queue, "", configure) : h.enq(queue, after: parents, configure))
            case 3, 4:
                if let job = h.next(queues[numbers.below(2)]) { held.append(job.id) }
            case 5:
                if !held.isEmpty, numbers.below(2) == 0 { _ = h.engine.ack(id: held.remove(at: numbers.below(held.count)), owner: 1, result: nil) }
            case 6:
                if !held.isEmpty, numbers.below(2) == 0 {
                    _ = h.engine.fail(id: held.remove(at: numbers.below(held.count)), owner: 1, choice: .policy, reason: nil)
                }
            case 7:
                if !ids.isEmpty {
                    let id = ids[numbers.below(ids.count)]
                    if numbers.below(2) == 0 { _ = h.engine.promote(id: id) } else { _ = h.engine.delete(id: id) }
                }
            default:
                h.advance(numbers.below(20))
            }
            guard step % 100 == 0 else { continue }
            for queue in queues {
                for state in [JobListState.waiting, .delayed, .blocked, .active, .completed, .dead] {
                    let expected = Self.listing(h, queue, state)
                    largest[state] = max(largest[state] ?? 0, expected.count)
                    #expect(Self.paged(h, queue, state, limit: 7) == expected, "step \(step), \(queue), \(state)")
                }
            }
        }
        #expect(largest.count == 6 && largest.values.allSatisfy { $0 > 7 }, "\(largest)")
    }
}
