@testable import DocketStore
import DocketTestSupport
import Testing

@Suite struct IDTableTests {
    /// Random writes, rewrites and removals against a Dictionary: ids clustered (as job ids
    /// are) and scattered, id 0, removals of ids never there, growth past several sizes.
    @Test(arguments: [UInt64(7), 1804, 2112])
    func behavesAsADictionary(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var table = IDTable<[UInt8]>()
        var model: [UInt64: [UInt8]] = [:]
        var next: UInt64 = 1
        for step in 0..<60_000 {
            let id: UInt64
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4: id = next; next += 1
            case 4..<7: id = UInt64.random(in: 0...next, using: &random)
            case 7: id = 0
            case 8: id = UInt64.random(in: 0...UInt64.max, using: &random)
            default: id = next + UInt64.random(in: 0...50, using: &random)
            }
            if Int.random(in: 0..<3, using: &random) == 0 {
                table[id] = nil
                model[id] = nil
            } else {
                let value = [UInt8(truncatingIfNeeded: step), UInt8(truncatingIfNeeded: id)]
                table[id] = value
                model[id] = value
            }
            if step % 997 == 0 {
                #expect(table.count == model.count)
                for (key, value) in model { #expect(table[key] == value, "id \(key) at step \(step)") }
            }
        }
        #expect(table.count == model.count)
        for (key, value) in model { #expect(table[key] == value) }
        for key in model.keys { table[key] = nil }
        #expect(table.isEmpty)
        #expect(table[next - 1] == nil)
    }

    /// Runs that wrap from the last slot to the first: removing any one entry leaves every
    /// other findable.
    @Test func removalsInRunsThatWrapAround() {
        let probe = IDTable<Int>()
        var ids: [UInt64] = []
        for (slot, wanted) in [(15, 4), (0, 3), (14, 2)] {
            var id: UInt64 = 1
            var found = 0
            while found < wanted {
                if probe.home(id) == slot { ids.append(id); found += 1 }
                id += 1
            }
        }
        for removed in ids {
            var table = IDTable<Int>()
            for (index, id) in ids.enumerated() { table[id] = index }
            #expect(table.capacity == 16)
            table[removed] = nil
            for (index, id) in ids.enumerated() { #expect(table[id] == (id == removed ? nil : index), "\(id) after removing \(removed)") }
            #expect(table.count == ids.count - 1)
        }
    }
}
