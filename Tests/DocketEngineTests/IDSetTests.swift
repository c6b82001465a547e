import DocketEngine
import DocketTestSupport
import Testing

/// The id set against `Set<UInt64>`: inserts and removes of ids near each other (as handed
/// out) and far apart, id 0, growth past many doublings and shrinking back after a burst.
@Suite struct IDSetTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func agreesWithSetThroughGrowthAndShrinking(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var ids = IDSet()
        var model = Set<UInt64>()
        var next: UInt64 = 1
        for step in 0..<60_000 {
            // A burst of inserts in the first third, removes in the second, a mix after.
            let insertShare = step < 20_000 ? 90 : step < 40_000 ? 15 : 50
            let id: UInt64
            switch Int.random(in: 0..<10, using: &random) {
            case 0: id = 0
            case 1: id = UInt64.random(in: 1...UInt64.max, using: &random)
            case 2...4 where !model.isEmpty: id = model.randomElement(using: &random)!
            default:
                next += UInt64.random(in: 1...3, using: &random)
                id = next + UInt64.random(in: 0...40, using: &random)
            }
            if Int.random(in: 0..<100, using: &random) < insertShare {
                let inserted = ids.insert(id)
                #expect(inserted == model.insert(id).inserted, "step \(step)")
            } else {
                let removed = ids.remove(id)
                #expect(removed == (model.remove(id) != nil), "step \(step)")
            }
            #expect(ids.count == model.count, "step \(step)")
            if step % 997 == 0 {
                #expect(Set(ids) == model, "step \(step)")
                for probe in model.prefix(50) { #expect(ids.contains(probe), "step \(step)") }
            }
        }
        for id in model {
            let removed = ids.remove(id)
            #expect(removed)
        }
        #expect(ids.isEmpty && Array(ids).isEmpty)
        #expect(!ids.contains(0) && !ids.contains(next))
    }

    @Test func keepsEveryIdOfARunThatWrapsPastTheEnd() {
        // Five ids whose probes all start at the last of the first table's eight slots (the
        // set's Fibonacci hash, top three bits) fill it from there around to the front; taking
        // each out of the middle of that run must leave the rest reachable.
        let lastSlot = (1...UInt64(1_000_000)).lazy.filter { ($0 &* 0x9E37_79B9_7F4A_7C15) >> 61 == 7 }
        let values = Array(lastSlot.prefix(5))
        for order in [[0, 1, 2, 3, 4], [2, 0, 4, 1, 3], [4, 3, 2, 1, 0]] {
            var ids = IDSet()
            for value in values { ids.insert(value) }
            var left = Set(values)
            for index in order {
                let removed = ids.remove(values[index])
                #expect(removed)
                left.remove(values[index])
                for value in left { #expect(ids.contains(value), "order \(order)") }
                #expect(Set(ids) == left)
            }
            #expect(ids.isEmpty)
        }
    }
}
