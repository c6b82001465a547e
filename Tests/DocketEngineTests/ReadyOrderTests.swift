@testable import DocketEngine
import DocketWire
import Testing

/// The ready order packs a job's priority and its 43-bit place into one word; a server that
/// uses every place up renumbers them. These tests make that happen after a few places.
@Suite struct ReadyOrderTests {
    static let priorities = [0, -5, 3, EnqueueOptions.priorityRange.upperBound, 0, EnqueueOptions.priorityRange.lowerBound, -5, 7]

    /// Runs the same commands on an engine whose places run out after `limit`, and returns the
    /// order in which the jobs start and how many places were handed out in all.
    func run(placesUpTo limit: UInt64?) -> (order: [UInt64], places: UInt64, renumberings: Int) {
        let h = Harness()
        if let limit { h.engine.readySequenceLimit = limit }
        var places: UInt64 = 0
        var order: [UInt64] = []
        // Rounds of enqueues and starts: of each round's starts one is throttled and one is
        // handed back (both keep their places), one stays out over the next round, two
        // complete; so few jobs hold places at any time while many places are handed out.
        var stillOut: Job?
        for round in 0..<6 {
            for (index, priority) in Self.priorities.enumerated() where (index + round) % 3 != 0 {
                h.enq { $0.priority = priority }
                places += 1
            }
            let started = (0..<5).compactMap { _ in h.next() }
            #expect(started.count == 5)
            order += started.map(\.id)
            #expect(errorOf(h.engine.throttle(id: started[0].id, owner: 1, milliseconds: 0, groupOnly: false, reason: nil)) == nil)
            h.engine.giveBack(started[1].id, owner: 1)
            if let stillOut { h.engine.giveBack(stillOut.id, owner: 1) }
            stillOut = started[2]
            for job in started[3...] { #expect(errorOf(h.engine.ack(id: job.id, owner: 1, result: nil)) == nil) }
            if let limit { #expect(h.engine.readyCounter < limit) }
        }
        if let stillOut { h.engine.giveBack(stillOut.id, owner: 1) }
        while let job = h.next() { order.append(job.id) }
        return (order, places, h.engine.readyRenumberings)
    }

    @Test func renumberingKeepsEveryJobsPlace() {
        let reference = run(placesUpTo: nil)
        #expect(reference.order.count > Int(reference.places))
        #expect(reference.renumberings == 0)
        // Fewer places than were handed out (32) but more than the jobs holding one at any
        // time (at most 21): each run renumbers, and renumbering frees places.
        for limit: UInt64 in [23, 26, 30] {
            let renumbered = run(placesUpTo: limit)
            #expect(renumbered.renumberings > 0)
            #expect(renumbered.order == reference.order, "places up to \(limit)")
        }
    }

    @Test func theExtremePrioritiesStayInOrder() {
        let h = Harness()
        h.engine.readySequenceLimit = 4
        let last = h.enq { $0.priority = EnqueueOptions.priorityRange.upperBound }
        var order: [UInt64] = []
        // One job waits at a time besides the two at the ends, so three places are enough.
        for _ in 0..<6 {
            h.enq()
            let job = h.next()!
            order.append(job.id)
            #expect(errorOf(h.engine.ack(id: job.id, owner: 1, result: nil)) == nil)
        }
        let first = h.enq { $0.priority = EnqueueOptions.priorityRange.lowerBound }
        while let job = h.next() { order.append(job.id) }
        #expect(order.suffix(2) == [first, last])
        #expect(h.engine.readyCounter < 4 && h.engine.readyRenumberings > 0)
    }
}

/// What a waiting job costs the server's memory, checked where it is decided: a stored field
/// more on `Job` would move it from malloc's 96-byte chunks to the 112-byte ones (16 MB more
/// per million jobs), a wider ready entry would add 8 MB.
@Suite struct JobFootprintTests {
    /// glibc's (malloc.h, which Swift's Glibc module leaves out).
    @_silgen_name("malloc_usable_size") static func mallocUsableSize(_ pointer: UnsafeMutableRawPointer) -> Int

    @Test func aJobFitsMallocsNinetySixByteChunks() {
        let h = Harness()
        let id = h.enq { $0.priority = 3 }
        let job = h.engine.job(id)!
        // glibc's usable size is the chunk less its 8-byte header.
        #expect(Self.mallocUsableSize(Unmanaged.passUnretained(job).toOpaque()) <= 88)
    }

    /// The packed fields give back what was put in: times over the whole range the 48 bits
    /// hold (clamped beyond), priorities at both ends with any place, progress beside the flag.
    @Test func packedFieldsKeepTheirValues() {
        let h = Harness()
        let job = h.engine.job(h.enq { $0.priority = EnqueueOptions.priorityRange.lowerBound })!
        #expect(job.priority == EnqueueOptions.priorityRange.lowerBound)
        for time: Int64 in [0, 1, -1, 1_764_892_800_123, -1_764_892_800_123, (1 << 47) - 1, -(1 << 47), 0xFFFF_FFFF, 1 << 32] {
            job.enqueuedAt = time
            job.runAt = time &+ 1
            job.startedAtStamp = time
            job.leaseOrFinish = time
            #expect(job.enqueuedAt == time && job.startedAtStamp == time && job.leaseOrFinish == time)
            #expect(job.runAt == min(time + 1, (1 << 47) - 1))
        }
        job.runAt = Int64.max
        #expect(job.runAt == (1 << 47) - 1)
        job.readySequence = ReadyEntry.sequenceLimit - 1
        #expect(job.readySequence == ReadyEntry.sequenceLimit - 1 && job.priority == EnqueueOptions.priorityRange.lowerBound)
        let high = h.engine.job(h.enq { $0.priority = EnqueueOptions.priorityRange.upperBound })!
        high.readySequence = 12345
        #expect(high.priority == EnqueueOptions.priorityRange.upperBound && high.readySequence == 12345)
        job.progress = 100
        job.isDirty = true
        #expect(job.progress == 100 && job.isDirty)
        job.progress = 7
        #expect(job.progress == 7 && job.isDirty)
        job.isDirty = false
        #expect(job.progress == 7 && !job.isDirty)
    }

    @Test func aReadyEntryIsTwoWords() {
        #expect(MemoryLayout<ReadyEntry>.stride == 16)
    }
}

/// LIST shows waiting jobs in the order they start.
@Suite struct ReadyListingTests {
    /// A job back in line within the millisecond the others became runnable in is behind them
    /// in LIST too (it listed by id, ahead of them), and a page's cursor goes on from there.
    @Test func jobsBackInLineAreListedWhereTheyStart() {
        let h = Harness()
        let failed = h.enq()
        let waiting = h.enq()
        #expect(h.next()?.id == failed)
        #expect((try? h.engine.fail(id: failed, owner: 1, choice: .after(milliseconds: 0), reason: nil).get()) != nil)
        let later = h.enq()
        var listed: [UInt64] = []
        var cursor: JobListCursor?
        while true {
            let page = Array("q".utf8).withUnsafeBytes { h.engine.list(queue: $0, state: .waiting, after: cursor, limit: 1) }
            listed += page.jobs.map(\.id)
            cursor = page.cursors.last
            if !page.more { break }
        }
        #expect(listed == [waiting, failed, later])
        let started = (0..<3).compactMap { _ in h.next()?.id }
        #expect(started == listed)
    }

    /// Places are not stored: a restart puts the waiting jobs back in line by the time each
    /// became runnable (it went by id, so a job retried after others came was ahead of them).
    @Test func aJobBackInLineStaysBehindAcrossARestart() {
        let h = Harness()
        let failed = h.enq()
        h.advance(5)
        let waiting = h.enq()
        #expect(h.next()?.id == failed)
        h.advance(5)
        #expect((try? h.engine.fail(id: failed, owner: 1, choice: .after(milliseconds: 0), reason: nil).get()) != nil)
        h.advance(5)
        let later = h.enq()
        let urgent = h.enq { $0.priority = -1 }
        let restarted = h.restarted()
        let started = (0..<4).compactMap { _ in restarted.next()?.id }
        #expect(started == [urgent, waiting, failed, later])
    }
}
