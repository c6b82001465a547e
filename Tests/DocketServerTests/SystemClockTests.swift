@testable import DocketServer
import Foundation
import Testing

/// The loop reads the clock once per pass; outside the loop every reading is fresh.
@Suite struct SystemClockTests {
    /// Waits until the wall clock has moved on by at least `milliseconds`.
    func sleep(milliseconds: Int) { usleep(useconds_t(milliseconds * 1000)) }

    @Test func readingsWithinAPassAreTheSameUntilThePassEnds() {
        let clock = SystemClock()
        clock.sharesReadingsWithinPass = true
        let first = clock.now()
        sleep(milliseconds: 5)
        #expect(clock.now() == first)
        clock.passEnded()
        let next = clock.now()
        #expect(next >= first + 5)
        sleep(milliseconds: 5)
        #expect(clock.now() == next)
    }

    @Test func outsideTheLoopEveryReadingIsFresh() {
        let clock = SystemClock()
        let first = clock.now()
        sleep(milliseconds: 5)
        #expect(clock.now() >= first + 5)
        // Turning sharing off mid-pass must not leave a stale reading behind.
        clock.sharesReadingsWithinPass = true
        let shared = clock.now()
        clock.sharesReadingsWithinPass = false
        clock.passEnded()
        sleep(milliseconds: 5)
        #expect(clock.now() >= shared + 5)
    }
}
