/// The connections one listener has accepted that have not logged in yet (no CONNECT yet, a
/// TLS or WebSocket handshake under way, a route that has not said who it is), oldest first,
/// at most `limit` of them (`--max-connecting`).
///
/// Each such connection holds a descriptor until its login deadline (`--auth-timeout`, the
/// TLS and WebSocket handshake timeouts) or, on a client port without credentials, until it
/// goes stale. Unbounded, a flood of connections that never log in takes every descriptor,
/// and then no listener can accept anyone (`AcceptBackoff`): one hostile peer on the route
/// port would lock every client out. So once descriptors are short (`DescriptorBudget`), each
/// connection accepted closes one that waits, on the port with the most waiting
/// (`connectionToClose`): a flood on one port pays for itself, and a herd of clients
/// logging in on another keeps its places.
final class LoginWaitlist {
    let limit: Int
    /// The ids of the connections waiting.
    private var waiting: Set<UInt64> = []
    /// Waiting connection ids in the order of accept (ids grow with each accept); ids that left
    /// stay until they reach the front or the list is compacted.
    private var order: [UInt64] = []
    private var head = 0

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Connections waiting to log in now.
    var count: Int { waiting.count }

    func contains(_ id: UInt64) -> Bool { waiting.contains(id) }

    /// When descriptors are short, the connection to close for the one just accepted
    /// (`newcomer`): the one that has waited longest on the port with the most connections
    /// waiting (of two ports as crowded, the one whose oldest came first). Never the newcomer:
    /// when it is all that waits, logged-in clients hold the descriptors, and closing it
    /// would free nothing they did not already need.
    ///
    /// The most crowded port, not the oldest connection anywhere: a flood held on the route
    /// port is older than every client of a herd on the client port, but a flood that keeps
    /// coming is younger, and would then close the herd's clients one by one as it came.
    static func connectionToClose(among lists: [LoginWaitlist], sparing newcomer: UInt64) -> UInt64? {
        var chosen: (count: Int, oldest: UInt64)?
        for list in lists {
            let others = list.count - (list.contains(newcomer) ? 1 : 0)
            guard others > 0, let oldest = list.oldest() else { continue }
            if let current = chosen, current.count > others || (current.count == others && current.oldest < oldest) { continue }
            chosen = (others, oldest)
        }
        return chosen?.oldest
    }

    /// Takes the connection `id`, just accepted; returns the one that has waited longest when
    /// there was no room for both, to be closed.
    ///
    /// The oldest goes, not the new one: refusing new connections would let a flood that
    /// fills the list keep every new client out, while a client that logs in as soon as it
    /// is let in is never the oldest for long (it has as long as the flood takes to bring
    /// `limit` more). A burst of honest clients past the limit loses as many either way,
    /// which is why `--max-connecting` has no default below `--max-connections`.
    func admit(_ id: UInt64) -> UInt64? {
        var evicted: UInt64?
        if waiting.count >= limit, let oldest = oldest() {
            remove(oldest)
            evicted = oldest
        }
        waiting.insert(id)
        order.append(id)
        return evicted
    }

    /// The connection `id` logged in, or closed: it waits no more.
    func remove(_ id: UInt64) {
        guard waiting.remove(id) != nil else { return }
        if order.count - head > 2 * waiting.count + 64 {
            order = order[head...].filter { waiting.contains($0) }
            head = 0
        }
    }

    private func oldest() -> UInt64? {
        while head < order.count, !waiting.contains(order[head]) { head += 1 }
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        return head < order.count ? order[head] : nil
    }
}
