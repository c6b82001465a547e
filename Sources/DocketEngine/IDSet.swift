/// A set of ids (jobs, connections) in one open-addressed array: linear probing, a
/// multiplicative hash, deletion by shifting the rest of a run back (no tombstones).
///
/// `Set<UInt64>` hashes every id with SipHash, and the job cycle touches a few such sets per
/// job (the jobs a connection holds, the finishes a queue keeps): about a thousand
/// instructions per job in the durable 16x8 cycle, 2.5 % of all. Ids are distinct integers
/// handed out in order, which a Fibonacci hash spreads over the slots well enough.
public struct IDSet: Sequence {
    /// 0 marks an empty slot; id 0 is kept aside in `hasZero`.
    private var slots: [UInt64]
    private var hasZero = false
    public private(set) var count = 0
    /// 64 minus log2 of the capacity: the hash's top bits pick the slot.
    private var shift: UInt64

    public init() { self.init(capacity: 8) }

    /// - Parameter capacity: a power of two.
    private init(capacity: Int) {
        slots = Array(repeating: 0, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    public var isEmpty: Bool { count == 0 }

    private func home(_ id: UInt64) -> Int { Int(truncatingIfNeeded: (id &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The slot holding `id`, or the empty one that ends its probe.
    private func probe(_ id: UInt64) -> (index: Int, found: Bool) {
        let mask = slots.count - 1
        var index = home(id)
        while true {
            let key = slots[index]
            if key == id { return (index, true) }
            if key == 0 { return (index, false) }
            index = (index + 1) & mask
        }
    }

    public func contains(_ id: UInt64) -> Bool {
        id == 0 ? hasZero : probe(id).found
    }

    /// Returns false when `id` was there already.
    @discardableResult
    public mutating func insert(_ id: UInt64) -> Bool {
        if id == 0 {
            guard !hasZero else { return false }
            hasZero = true
            count += 1
            return true
        }
        // Past two thirds full, probes run long.
        if (count + 1) * 3 > slots.count * 2 { rebuild(capacity: slots.count * 2) }
        let (index, found) = probe(id)
        guard !found else { return false }
        slots[index] = id
        count += 1
        return true
    }

    /// Returns false when `id` was not there.
    @discardableResult
    public mutating func remove(_ id: UInt64) -> Bool {
        if id == 0 {
            guard hasZero else { return false }
            hasZero = false
            count -= 1
            return true
        }
        let (index, found) = probe(id)
        guard found else { return false }
        let mask = slots.count - 1
        var hole = index
        slots[hole] = 0
        var next = (hole + 1) & mask
        while slots[next] != 0 {
            let wanted = home(slots[next])
            // An entry whose home lies cyclically in (hole, next] is still reached by its probe.
            let reached = hole <= next ? (hole < wanted && wanted <= next) : (hole < wanted || wanted <= next)
            if !reached {
                slots[hole] = slots[next]
                slots[next] = 0
                hole = next
            }
            next = (next + 1) & mask
        }
        count -= 1
        // A set that once held a burst (a worker's thousands of held jobs) gives the room back.
        if slots.count > 64 && count * 8 < slots.count { rebuild(capacity: Swift.max(8, (count * 3).nextPowerOfTwo)) }
        return true
    }

    private mutating func rebuild(capacity: Int) {
        var other = IDSet(capacity: capacity)
        for id in slots where id != 0 { other.insert(id) }
        other.hasZero = hasZero
        other.count += hasZero ? 1 : 0
        self = other
    }

    /// The ids in no particular order.
    public func makeIterator() -> AnyIterator<UInt64> {
        var zeroLeft = hasZero
        var index = 0
        let slots = self.slots
        return AnyIterator {
            if zeroLeft {
                zeroLeft = false
                return 0
            }
            while index < slots.count {
                defer { index += 1 }
                if slots[index] != 0 { return slots[index] }
            }
            return nil
        }
    }
}

private extension Int {
    /// The least power of two not below self (self ≥ 1).
    var nextPowerOfTwo: Int { 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}
