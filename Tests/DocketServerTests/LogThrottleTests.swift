@testable import DocketServer
import Testing

@Suite struct LogThrottleTests {
    @Test func logsTheFirstThenOneLineAnIntervalWithTheCountItStandsFor() {
        var throttle = LogThrottle(intervalMilliseconds: 1000)
        #expect(throttle.occurred(at: 5000) == 1)
        #expect((1...99).allSatisfy { throttle.occurred(at: 5000 + $0) == nil })
        // An interval after the last line: this one and the 99 before it.
        #expect(throttle.occurred(at: 6000) == 100)
        #expect(throttle.occurred(at: 6999) == nil)
        #expect(throttle.occurred(at: 7000) == 2)
        // After a quiet spell the next occurrence is logged at once, alone.
        #expect(throttle.occurred(at: 60_000) == 1)
    }
}
