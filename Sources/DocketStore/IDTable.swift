/// Values by job id, in one open-addressed table (linear probing, deletion by backward shift,
/// so no tombstones build up).
///
/// For the payloads logged but not yet checkpointed: every payload of a durable commit goes in,
/// and out again at its job's finish or at the checkpoint, on the commit and checkpoint
/// threads. A `Dictionary` hashes every id with SipHash, which made the table 3-4 % of docketd's
/// time in the durable 16x8 job cycle; ids are distinct integers, and a multiplicative hash
/// spreads consecutive ones over the table well enough.
struct IDTable<Value> {
    /// 0 marks an empty slot; id 0 (which the server never gives) has a slot of its own.
    private var keys: [UInt64]
    private var values: [Value?]
    private var zero: Value?
    private(set) var count = 0
    /// 64 minus log2 of the capacity: the hash's top bits pick the slot.
    private var shift: UInt64

    /// - Parameter capacity: a power of two.
    init(capacity: Int = 16) {
        keys = Array(repeating: 0, count: capacity)
        values = Array(repeating: nil, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    var capacity: Int { keys.count }
    var isEmpty: Bool { count == 0 }

    /// The slot where `id`'s probe starts.
    func home(_ id: UInt64) -> Int { Int(truncatingIfNeeded: (id &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The slot holding `id`, or the empty slot where it would go.
    private func slot(of id: UInt64) -> (index: Int, found: Bool) {
        let mask = keys.count - 1
        var index = home(id)
        while true {
            let key = keys[index]
            if key == id { return (index, true) }
            if key == 0 { return (index, false) }
            index = (index + 1) & mask
        }
    }

    subscript(id: UInt64) -> Value? {
        get {
            if id == 0 { return zero }
            let (index, found) = slot(of: id)
            return found ? values[index] : nil
        }
        set {
            if id == 0 {
                count += (newValue != nil ? 1 : 0) - (zero != nil ? 1 : 0)
                zero = newValue
                return
            }
            let (index, found) = slot(of: id)
            if let newValue {
                if found {
                    values[index] = newValue
                    return
                }
                // At two thirds full, probes start to run long.
                if (count + 1) * 3 > keys.count * 2 {
                    grow()
                    self[id] = newValue
                    return
                }
                keys[index] = id
                values[index] = newValue
                count += 1
            } else if found {
                remove(at: index)
            }
        }
    }

    /// Empties slot `index`, then moves back each later entry of its run that a probe would no
    /// longer reach past the hole that leaves.
    private mutating func remove(at index: Int) {
        let mask = keys.count - 1
        var hole = index
        keys[hole] = 0
        values[hole] = nil
        count -= 1
        var next = (hole + 1) & mask
        while keys[next] != 0 {
            let wanted = home(keys[next])
            // The entry may stay if its home lies cyclically after the hole, up to where it is.
            let stays = hole <= next ? (hole < wanted && wanted <= next) : (hole < wanted || wanted <= next)
            if !stays {
                keys[hole] = keys[next]
                values[hole] = values[next]
                keys[next] = 0
                values[next] = nil
                hole = next
            }
            next = (next + 1) & mask
        }
    }

    private mutating func grow() {
        var larger = IDTable(capacity: keys.count * 2)
        larger.zero = zero
        larger.count = zero == nil ? 0 : 1
        for index in keys.indices where keys[index] != 0 { larger[keys[index]] = values[index] }
        self = larger
    }
}
