/// Jobs by id. Ids are handed out in order and never reused, so an id is also a place: slots
/// in pages of 4096, a page allocated when its first job arrives and freed when its last one
/// goes. A lookup is two array reads (no hashing), and a job costs one pointer here.
///
/// The list of pages keeps one entry per 4096 ids ever handed out (8 bytes each, about 2 KB per
/// million jobs), which is cheap enough not to compact.
public struct JobTable {
    static let pageShift = 12
    static let pageSize = 1 << pageShift

    final class Page {
        var slots = [Job?](repeating: nil, count: JobTable.pageSize)
        var live = 0
    }

    private var pages: [Page?] = []
    public private(set) var count = 0

    public subscript(id: UInt64) -> Job? {
        let page = Int(truncatingIfNeeded: id >> UInt64(Self.pageShift))
        guard page < pages.count, let slots = pages[page] else { return nil }
        return slots.slots[Int(truncatingIfNeeded: id) & (Self.pageSize - 1)]
    }

    mutating func insert(_ job: Job) {
        let page = Int(truncatingIfNeeded: job.id >> UInt64(Self.pageShift))
        if page >= pages.count { pages.append(contentsOf: repeatElement(nil, count: page - pages.count + 1)) }
        let target: Page
        if let existing = pages[page] {
            target = existing
        } else {
            target = Page()
            pages[page] = target
        }
        let slot = Int(truncatingIfNeeded: job.id) & (Self.pageSize - 1)
        if target.slots[slot] == nil {
            target.live += 1
            count += 1
        }
        target.slots[slot] = job
    }

    mutating func remove(_ id: UInt64) {
        let page = Int(truncatingIfNeeded: id >> UInt64(Self.pageShift))
        guard page < pages.count, let target = pages[page] else { return }
        let slot = Int(truncatingIfNeeded: id) & (Self.pageSize - 1)
        guard target.slots[slot] != nil else { return }
        target.slots[slot] = nil
        target.live -= 1
        count -= 1
        if target.live == 0 { pages[page] = nil }
    }

    /// Every job, in id order.
    public var all: [Job] {
        var result: [Job] = []
        result.reserveCapacity(count)
        for case let page? in pages {
            for case let job? in page.slots { result.append(job) }
        }
        return result
    }

    /// The jobs `take` accepts among ids `start..<end`, in id order, up to `count` of them and
    /// looking at no more than `limit` jobs (a page with none is passed over without looking):
    /// the jobs, the id to go on from (`end` once there are no more) and how many it looked at.
    func scan(
        from start: UInt64, below end: UInt64, upTo count: Int, lookingAt limit: Int, where take: (Job) -> Bool
    ) -> (jobs: [Job], next: UInt64, looked: Int) {
        var found: [Job] = []
        var id = start
        var looked = 0
        while id < end, looked < limit, found.count < count {
            let index = Int(truncatingIfNeeded: id >> UInt64(Self.pageShift))
            guard index < pages.count else { return (found, end, looked) }
            let pageEnd = min(end, UInt64(index + 1) << UInt64(Self.pageShift))
            guard let page = pages[index] else {
                id = pageEnd
                continue
            }
            while id < pageEnd, looked < limit, found.count < count {
                if let job = page.slots[Int(truncatingIfNeeded: id) & (Self.pageSize - 1)] {
                    looked += 1
                    if take(job) { found.append(job) }
                }
                id += 1
            }
        }
        return (found, min(id, end), looked)
    }

    /// Calls `body` with every job, in id order.
    public func forEach(_ body: (Job) -> Void) {
        for case let page? in pages {
            for case let job? in page.slots { body(job) }
        }
    }
}
