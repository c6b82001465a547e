import DocketTestSupport
import Testing

@testable import DocketStore

/// A checkpoint applies one change per key, the last made: the radix sort behind it must give
/// what sorting by (key, order) and keeping each key's last gives.
@Suite struct KeyChangeTests {
    static func expected(_ changes: [KeyChange]) -> [KeyChange] {
        var last: [UInt64: KeyChange] = [:]
        for change in changes { last[change.id] = change }
        return last.values.sorted { $0.id < $1.id }
    }

    static func same(_ a: [KeyChange], _ b: [KeyChange]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.id == $1.id && $0.order == $1.order && $0.batch == $1.batch && $0.index == $1.index }
    }

    @Test(arguments: [1, 7, 42])
    func keepsEachKeysLastChangeInKeyOrder(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        // Small and large counts (the comparison sort and the radix passes), narrow and wide
        // spans of keys (one pass, several, a key near UInt64.max), many changes per key.
        for count in [0, 1, 2, 255, 256, 257, 3_000, 20_000] {
            for span in [UInt64(1), 100, 5_000, 1 << 22, 1 << 40, UInt64.max / 3] {
                let base = UInt64.random(in: 0...(UInt64.max - span), using: &random)
                var changes: [KeyChange] = []
                for order in 0..<count {
                    let id = base + UInt64.random(in: 0...span, using: &random)
                    changes.append(KeyChange(id: id, order: UInt32(order), batch: UInt32.random(in: 0..<9, using: &random),
                                             index: Int32.random(in: -1..<100, using: &random)))
                }
                let want = Self.expected(changes)
                KeyChange.keepLast(&changes)
                #expect(Self.same(changes, want), "count \(count), span \(span)")
            }
        }
    }

    @Test func keysThatDifferOnlyInTheirHighestBitsAreOrdered() {
        // Passes run over the span's bits only: the highest digit must still be reached.
        let top: UInt64 = 1 << 63
        var changes: [KeyChange] = []
        for order in 0..<600 {
            let id: UInt64 = (order % 2 == 0 ? top : 0) | UInt64(order % 3)
            changes.append(KeyChange(id: id, order: UInt32(order), batch: 0, index: 0))
        }
        let want = Self.expected(changes)
        KeyChange.keepLast(&changes)
        #expect(Self.same(changes, want))
        let ids: [UInt64] = [0, 1, 2, top, top | 1, top | 2]
        #expect(changes.map(\.id) == ids)
    }
}
