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

    /// When descriptors are short, the port with the most connections waiting gives one up:
    /// its oldest. The newcomer is spared, and counts for nothing in the choice.
    @Test func theMostCrowdedPortGivesUpItsOldest() {
        let client = LoginWaitlist(limit: 100)
        let route = LoginWaitlist(limit: 100)
        for id: UInt64 in [1, 2] { _ = client.admit(id) }
        for id: UInt64 in [3, 4, 5] { _ = route.admit(id) }
        #expect(LoginWaitlist.connectionToClose(among: [client, route], sparing: 99) == 3)
        // A newcomer on the client port makes it as crowded, not more: the route port's
        // oldest came after the client port's, so the client port's oldest goes.
        _ = client.admit(6)
        #expect(LoginWaitlist.connectionToClose(among: [client, route], sparing: 6) == 3)
        _ = client.admit(7)
        #expect(LoginWaitlist.connectionToClose(among: [client, route], sparing: 7) == 1)
        route.remove(3)
        #expect(LoginWaitlist.connectionToClose(among: [route, client], sparing: 7) == 1)
    }

    @Test func aNewcomerWaitingAloneIsNeverClosed() {
        let client = LoginWaitlist(limit: 100)
        let route = LoginWaitlist(limit: 100)
        _ = client.admit(1)
        #expect(LoginWaitlist.connectionToClose(among: [client, route], sparing: 1) == nil)
        #expect(LoginWaitlist.connectionToClose(among: [], sparing: 1) == nil)
    }
}
