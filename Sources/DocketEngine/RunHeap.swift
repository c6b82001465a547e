/// A min-queue for elements that mostly arrive in order, as jobs do: enqueued one after
/// another at one priority, each ready entry sorts after the last. A push no smaller than the
/// last in-order one joins a sorted run (O(1) in and out, no sifting through a heap of the whole
/// backlog); any other (a higher priority, a job handed back with its old place) goes to a
/// binary heap. The smallest element is the smaller of the run's first and the heap's top.
struct RunHeap<Element: Comparable> {
    private var run = FIFO<Element>()
    private var heap = BinaryHeap<Element>()

    var isEmpty: Bool { run.isEmpty && heap.isEmpty }
    var count: Int { run.count + heap.count }

    var top: Element? {
        guard let first = run.first else { return heap.top }
        if let heapTop = heap.top, heapTop < first { return heapTop }
        return first
    }

    /// Every element, in no particular order.
    var elements: [Element] { Array(run) + heap.elements }

    /// Calls `body` with every element, in no particular order, without copying them (a
    /// million waiting jobs are 16 MB of entries).
    func forEach(_ body: (Element) -> Void) {
        for element in run { body(element) }
        for element in heap.elements { body(element) }
    }

    mutating func push(_ element: Element) {
        if let last = run.last, element < last {
            heap.push(element)
        } else {
            run.append(element)
        }
    }

    @discardableResult
    mutating func pop() -> Element? {
        guard let first = run.first else { return heap.pop() }
        if let heapTop = heap.top, heapTop < first { return heap.pop() }
        run.removeFirst()
        return first
    }

    /// Replaces the elements with `replacement`, in any order, in O(n).
    mutating func rebuild(_ replacement: [Element]) {
        run = FIFO()
        heap.rebuild(replacement)
    }
}
