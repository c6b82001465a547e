/// A first-in, first-out queue on a growable ring buffer, for the commands a connection has
/// sent and not yet seen answered. Servers answer each connection's commands in order, so the
/// oldest entry is always the one the next reply belongs to. (The standard library has no
/// deque, and `Array.removeFirst` would shift every entry on each reply.)
struct FIFO<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int = 16) {
        storage = Array(repeating: nil, count: max(1, capacity))
    }

    var isEmpty: Bool { count == 0 }

    mutating func push(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    /// Removes and returns the oldest element; nil when empty.
    mutating func pop() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    /// Doubles the storage, laying the elements out from the front again.
    private mutating func grow() {
        var larger = [Element?](repeating: nil, count: storage.count * 2)
        for offset in 0..<count { larger[offset] = storage[(head + offset) % storage.count] }
        storage = larger
        head = 0
    }
}
