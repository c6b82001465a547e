/// Latencies in nanoseconds, counted in logarithmic buckets in the manner of HdrHistogram:
/// every power of two is split into 32 linear sub-buckets, so any recorded value is known to
/// within about 3%, from nanoseconds to centuries, in a fixed 15 KiB of counts. Recording is
/// a shift and an increment, cheap enough to do for every job.
struct LatencyHistogram: Sendable {
    /// log2 of the sub-buckets per power of two; 5 gives a relative error under 1/32.
    private static let subBits = 5
    private static let subCount = 1 << subBits
    /// Enough buckets for any UInt64: values below `subCount` get one bucket each, and each
    /// of the remaining 59 powers of two gets `subCount`.
    private static let bucketCount = (64 - subBits + 1) * subCount

    private var counts = [UInt64](repeating: 0, count: bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var maximum: UInt64 = 0

    init() {}

    mutating func record(_ value: UInt64) {
        counts[Self.bucket(of: value)] += 1
        total += 1
        maximum = max(maximum, value)
    }

    /// Adds another histogram's counts, to combine what several threads recorded.
    mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        total += other.total
        maximum = max(maximum, other.maximum)
    }

    /// The value below which `fraction` (0...1) of the recordings fall: the top of the bucket
    /// holding that rank, capped at the largest value seen. Nil when nothing was recorded.
    func percentile(_ fraction: Double) -> UInt64? {
        guard total > 0 else { return nil }
        // The rank of the recording we want, counting from 1; at least the first one.
        let rank = max(1, UInt64((fraction * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            seen += count
            if seen >= rank { return min(Self.upperBound(of: index), maximum) }
        }
        return maximum
    }

    /// Small values are their own bucket. Above that, the top `subBits + 1` bits of a value
    /// (its leading 1 and the next `subBits`) pick the sub-bucket within its power of two.
    private static func bucket(of value: UInt64) -> Int {
        guard value >= UInt64(subCount) else { return Int(value) }
        let highestBit = 63 - value.leadingZeroBitCount
        let shift = highestBit - subBits
        let top = Int(value >> UInt64(shift))  // In subCount..<2*subCount.
        return (shift + 1) * subCount + (top - subCount)
    }

    /// The largest value that falls in bucket `index`.
    private static func upperBound(of index: Int) -> UInt64 {
        guard index >= subCount else { return UInt64(index) }
        let shift = index / subCount - 1
        let top = UInt64(subCount + index % subCount)
        // For the very last bucket the shift carries out of 64 bits to 0, and 0 &- 1 is the
        // right answer, UInt64.max.
        return ((top + 1) << UInt64(shift)) &- 1
    }
}
