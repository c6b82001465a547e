/// A first-in, first-out list, kept in chunks of `chunkSize` elements allocated and freed whole.
///
/// One contiguous array grew by doubling with a copy: at a million 16-byte entries (a queue's
/// ready order, its waiting times) the append that doubled it took 26-51 ms on a loaded 2-core
/// machine, every other client waiting, and dropping the front moved the rest down the same
/// way. In chunks, no append or removal moves more than the list of full chunks (8 bytes per
/// `chunkSize` elements), and a list that empties keeps its chunk for the next use, so the job
/// cycle's short lists allocate nothing.
struct FIFO<Element>: Sequence {
    /// 4096 elements: 64 KB of 16-byte entries.
    static var chunkSize: Int { 4096 }

    /// Full chunks, oldest first, then the chunk appends go to. The first element is at
    /// `head` of the first chunk (`tail` when there is no full one).
    private var full: [[Element]] = []
    private var tail: [Element] = []
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }
    var first: Element? { count == 0 ? nil : full.isEmpty ? tail[head] : full[0][head] }
    var last: Element? { tail.last }

    mutating func append(_ element: Element) {
        if tail.count == Self.chunkSize {
            full.append(tail)
            tail = []
            tail.reserveCapacity(Self.chunkSize)
        }
        tail.append(element)
        count += 1
    }

    mutating func removeFirst() { _ = popFirst() }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        count -= 1
        if full.isEmpty {
            let element = tail[head]
            head += 1
            if head == tail.count {
                tail.removeAll(keepingCapacity: true)
                head = 0
            }
            return element
        }
        let element = full[0][head]
        head += 1
        if head == Self.chunkSize {
            full.removeFirst()
            head = 0
        }
        return element
    }

    /// Keeps only the elements `keep` accepts, in order.
    mutating func retain(where keep: (Element) -> Bool) {
        var kept = FIFO()
        for element in self where keep(element) { kept.append(element) }
        self = kept
    }

    /// The elements, first to last.
    struct Iterator: IteratorProtocol {
        fileprivate let full: [[Element]]
        fileprivate let tail: [Element]
        fileprivate var chunk = 0
        fileprivate var index: Int

        mutating func next() -> Element? {
            while chunk < full.count {
                if index < full[chunk].count {
                    defer { index += 1 }
                    return full[chunk][index]
                }
                chunk += 1
                index = 0
            }
            guard index < tail.count else { return nil }
            defer { index += 1 }
            return tail[index]
        }
    }

    func makeIterator() -> Iterator { Iterator(full: full, tail: tail, index: head) }
}
