import Testing

@testable import DocketServer

/// When descriptors are short: by the count of sockets held, or by the descriptor just
/// accepted, which says every lower one is open.
@Suite struct DescriptorBudgetTests {
    let budget = DescriptorBudget(limit: 1024, reserve: 128, baseline: 20)

    @Test func shortWithinTheReserveOfTheLimit() {
        #expect(!budget.isShort(tracked: 876, accepted: 30))
        #expect(budget.isShort(tracked: 877, accepted: 30))
    }

    @Test func aHighDescriptorSaysSoWhenTheCountMissesSome() {
        #expect(!budget.isShort(tracked: 10, accepted: 895))
        #expect(budget.isShort(tracked: 10, accepted: 896))
    }

    @Test func withoutALimitNeverShort() {
        let unlimited = DescriptorBudget(limit: .max, reserve: 128, baseline: 20)
        #expect(!unlimited.isShort(tracked: 1 << 40, accepted: .max))
    }
}
