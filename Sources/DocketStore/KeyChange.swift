/// One change a checkpoint applies to a key of LMDB: a write of the value at `index` of batch
/// `batch`'s list, or a delete (`index` -1). `order` is when it was made among the
/// checkpoint's changes to the same database.
struct KeyChange {
    var id: UInt64
    var order: UInt32
    var batch: UInt32
    var index: Int32

    /// Sorts `changes` by key and keeps only the last change made to each. `changes` must be in
    /// the order they were made (`order` ascending), as a checkpoint collects them.
    ///
    /// A least-significant-digit radix sort over the span of the keys, 8 bits per pass: being
    /// stable, it keeps each key's changes in the order they were made, and it does a few
    /// linear passes where a comparison sort of a checkpoint's 10,000s of changes cost about
    /// 750 instructions per job cycle (callgrind, durable 16x8). Keys are job ids, so the span
    /// of one checkpoint's keys is small and two or three passes do (the digits of every pass
    /// are counted in one scan).
    static func keepLast(_ changes: inout [KeyChange]) {
        sortByKey(&changes)
        var kept = 0
        changes.withUnsafeMutableBufferPointer { buffer in
            for position in buffer.indices where position == buffer.count - 1 || buffer[position + 1].id != buffer[position].id {
                buffer[kept] = buffer[position]
                kept += 1
            }
        }
        changes.removeLast(changes.count - kept)
    }

    static let digitBits = 8

    /// Stable sort by `id`.
    static func sortByKey(_ changes: inout [KeyChange]) {
        guard changes.count > 1 else { return }
        var low = UInt64.max, high: UInt64 = 0
        for change in changes {
            low = min(low, change.id)
            high = max(high, change.id)
        }
        let span = high - low
        guard span > 0 else { return }
        // A few changes: the counting passes' fixed cost would outweigh a comparison sort.
        guard changes.count >= 256 else {
            changes.sort { $0.id != $1.id ? $0.id < $1.id : $0.order < $1.order }
            return
        }
        let radix = 1 << digitBits
        let mask = UInt64(radix - 1)
        let passes = (UInt64.bitWidth - span.leadingZeroBitCount + digitBits - 1) / digitBits
        let total = changes.count
        // Every slot is written by the first pass before it is read.
        var scratch = [KeyChange](unsafeUninitializedCapacity: total) { _, count in count = total }
        // One scan counts every pass's digits; a pass whose digit is the same for all is skipped.
        var counts = [Int](repeating: 0, count: passes * radix)
        var sortedIsInScratch = false
        changes.withUnsafeMutableBufferPointer { original in
            scratch.withUnsafeMutableBufferPointer { spare in
                counts.withUnsafeMutableBufferPointer { counts in
                    for change in original {
                        var key = change.id &- low
                        for pass in 0..<passes {
                            counts[pass * radix + Int(truncatingIfNeeded: key & mask)] += 1
                            key >>= UInt64(digitBits)
                        }
                    }
                    var source = original, target = spare
                    for pass in 0..<passes {
                        let base = pass * radix
                        let shift = UInt64(pass * digitBits)
                        var start = 0
                        var skip = false
                        for slot in base..<(base + radix) {
                            let count = counts[slot]
                            if count == total { skip = true }
                            counts[slot] = start
                            start += count
                        }
                        if skip { continue }
                        for change in source {
                            let slot = base + Int(truncatingIfNeeded: ((change.id &- low) >> shift) & mask)
                            target[counts[slot]] = change
                            counts[slot] += 1
                        }
                        swap(&source, &target)
                        sortedIsInScratch.toggle()
                    }
                }
            }
        }
        if sortedIsInScratch { changes = scratch }
    }
}
