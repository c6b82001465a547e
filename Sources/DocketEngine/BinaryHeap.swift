/// A min-heap: `pop` returns the smallest element.
struct BinaryHeap<Element: Comparable> {
    private(set) var elements: [Element] = []

    var isEmpty: Bool { elements.isEmpty }
    var count: Int { elements.count }
    var top: Element? { elements.first }

    /// How many elements the last `push(_:droppingStale:)` sweep kept.
    private var keptBySweep = 0
    /// The fewest elements a heap holds before `push(_:droppingStale:)` sweeps it.
    static var sweepFloor: Int { 1024 }

    /// Pushes `element`, first dropping the elements `isLive` rejects once the heap has grown
    /// to twice what the last such sweep kept (and to `sweepFloor`). For heaps whose entries go
    /// stale without being removed (a job acknowledged, deleted or delayed again before its
    /// deadline): they would stay until their time came, up to a lease, a delay or a key window
    /// later, so memory grew with the rate of such changes times those lengths, not with what
    /// is live. Each sweep is O(n) and comes after at least n/2 pushes.
    mutating func push(_ element: Element, droppingStale isLive: (Element) -> Bool) {
        if elements.count >= max(Self.sweepFloor, 2 * keptBySweep) {
            retain(where: isLive)
            keptBySweep = elements.count
        }
        push(element)
    }

    mutating func push(_ element: Element) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard elements[child] < elements[parent] else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    /// Keeps only the elements `keep` accepts, in O(n): for dropping many withdrawn entries at
    /// once instead of letting them wait for their time to come.
    mutating func retain(where keep: (Element) -> Bool) {
        elements.removeAll { !keep($0) }
        heapify()
    }

    /// Replaces the elements with `replacement`, in any order, in O(n).
    mutating func rebuild(_ replacement: [Element]) {
        elements = replacement
        heapify()
    }

    /// Floyd's heap construction: sift every parent down, last first.
    private mutating func heapify() {
        var start = elements.count / 2 - 1
        while start >= 0 {
            siftDown(from: start)
            start -= 1
        }
    }

    @discardableResult
    mutating func pop() -> Element? {
        guard !elements.isEmpty else { return nil }
        if elements.count == 1 { return elements.removeLast() }
        let smallest = elements[0]
        elements[0] = elements.removeLast()
        siftDown(from: 0)
        return smallest
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var candidate = parent
            if left < elements.count && elements[left] < elements[candidate] { candidate = left }
            if right < elements.count && elements[right] < elements[candidate] { candidate = right }
            if candidate == parent { break }
            elements.swapAt(parent, candidate)
            parent = candidate
        }
    }
}
