@testable import DocketEngine
import DocketTestSupport
import Testing

/// The ready order's queue against a plain sorted list: mostly in-order pushes (a backlog at
/// one priority) mixed with out-of-order ones (higher priorities, jobs handed back), pops at
/// every size, long enough runs for the popped prefix to be dropped, and rebuilds.
@Suite struct RunHeapTests {
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func popsInTheSameOrderAsASortedList(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var queue = RunHeap<Int>()
        var model: [Int] = []
        var next = 0
        for step in 0..<40_000 {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<55:
                // In order, as enqueues are; now and then out of order.
                next += Int.random(in: 0...2, using: &random)
                let value = Int.random(in: 0..<10, using: &random) == 0 ? Int.random(in: 0...next, using: &random) : next
                queue.push(value)
                model.append(value)
                model.sort()
            case 55..<99:
                #expect(queue.top == model.first, "step \(step)")
                #expect(queue.pop() == (model.isEmpty ? nil : model.removeFirst()), "step \(step)")
            default:
                if Int.random(in: 0..<20, using: &random) == 0 {
                    let kept = model.shuffled(using: &random)
                    queue.rebuild(kept)
                    model = kept.sorted()
                }
            }
            #expect(queue.count == model.count && queue.isEmpty == model.isEmpty)
        }
        #expect(queue.elements.sorted() == model)
        while let value = queue.pop() { #expect(value == model.removeFirst()) }
        #expect(model.isEmpty)
    }

    /// A backlog drained in order never sifts: every element stays in the run.
    @Test func inOrderPushesAndPopsKeepEveryElement() {
        var queue = RunHeap<Int>()
        for value in 0..<5_000 { queue.push(value) }
        var popped: [Int] = []
        for value in 5_000..<10_000 {
            popped.append(queue.pop()!)
            queue.push(value)
        }
        while let value = queue.pop() { popped.append(value) }
        #expect(popped == Array(0..<10_000))
    }
}
