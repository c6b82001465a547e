@testable import DocketEngine
import DocketTestSupport
import Testing

/// The chunked first-in, first-out list against a plain array: appends and removals that cross
/// chunk boundaries in both directions, emptying and refilling, and filtering, with the order,
/// count, ends and iteration checked after each step.
@Suite struct FIFOTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func keepsTheOrderOfAnArrayAcrossChunks(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var list = FIFO<Int>()
        // The array's live part is model[front...] (removing at its front would be quadratic).
        var model: [Int] = []
        var front = 0
        var next = 0
        var largest = 0
        for step in 0..<1_000 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<5:
                for _ in 0..<Int.random(in: 1...3_000, using: &random) {
                    list.append(next)
                    model.append(next)
                    next += 1
                }
            case 5..<9:
                for _ in 0..<Int.random(in: 1...3_000, using: &random) {
                    let expected = front < model.count ? model[front] : nil
                    if expected != nil { front += 1 }
                    #expect(list.popFirst() == expected, "step \(step)")
                }
            default:
                let modulus = Int.random(in: 2...5, using: &random)
                list.retain { $0 % modulus != 0 }
                model = model[front...].filter { $0 % modulus != 0 }
                front = 0
            }
            let live = model[front...]
            largest = max(largest, live.count)
            #expect(list.count == live.count && list.isEmpty == live.isEmpty, "step \(step)")
            #expect(list.first == live.first && list.last == live.last, "step \(step)")
            if step % 50 == 0 { #expect(Array(list) == Array(live), "step \(step)") }
        }
        #expect(Array(list) == Array(model[front...]))
        // Long enough to have spanned several chunks.
        #expect(largest > 3 * FIFO<Int>.chunkSize, "\(largest)")
    }
}
