import Testing

@testable import DocketServer

/// The connections a port holds that have not logged in: bounded, and the one that has waited
/// longest makes room.
@Suite struct LoginWaitlistTests {
    @Test func pastTheLimitTheOldestMakesRoom() {
        let list = LoginWaitlist(limit: 3)
        #expect(list.admit(1) == nil)
        #expect(list.admit(2) == nil)
        #expect(list.admit(3) == nil)
        #expect(list.admit(4) == 1)
        #expect(list.admit(5) == 2)
        #expect(list.count == 3)
    }

    @Test func aConnectionThatLoggedInOrClosedWaitsNoMore() {
        let list = LoginWaitlist(limit: 3)
        for id: UInt64 in 1...3 { #expect(list.admit(id) == nil) }
        list.remove(1)
        list.remove(1)  // twice: a login, then the close
        #expect(list.count == 2)
        #expect(list.admit(4) == nil)
        // 2 is the oldest still waiting; 1 left before it.
        #expect(list.admit(5) == 2)
        list.remove(4)
        #expect(list.admit(6) == nil)
        #expect(list.admit(7) == 3)
    }

    /// Many connections that come and log in leave nothing behind, and the order stays right.
    @Test func manyLoginsKeepTheOrderAndTheMemoryBounded() {
        let list = LoginWaitlist(limit: 2)
        #expect(list.admit(0) == nil)
        for id: UInt64 in 1...100_000 {
            #expect(list.admit(id) == nil)
            list.remove(id)
        }
        #expect(list.count == 1)
        #expect(list.admit(100_001) == nil)
        #expect(list.admit(100_002) == 0)
        #expect(list.admit(100_003) == 100_001)
    }

    @Test func aLimitBelowOneIsOne() {
        let list = LoginWaitlist(limit: 0)
        #expect(list.admit(1) == nil)
        #expect(list.admit(2) == 1)
    }
}
