import DocketTestSupport
import Foundation
import Testing

/// What a hostile or careless client must not be able to do: lose replies it is owed, exhaust
/// memory, freeze the loop, or change state with a command that was refused.
@Suite struct HardeningTests {
    @Test func repliesOwedGoOutBeforeAFatalErrorCloses() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        // The ENQ's +OK waits for the commit; the junk right behind it must not swallow it.
        try client.send("ENQ q 1\r\nx\r\nBOGUS\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))
        #expect(try client.readLine() == "-ERR 'Unknown Protocol Operation'")
        _ = try client.readUntilClosed()
    }

    @Test func repliesOwedGoOutAfterTheClientHalfCloses() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ q 1\r\nx\r\nPING\r\nENQ q 1\r\ny\r\n")
        shutdown(client.fd, Int32(SHUT_WR))
        let first = try client.readLine()
        #expect(first.hasPrefix("+OK "))
        #expect(try client.readLine() == "PONG")
        let second = try client.readLine()
        #expect(second.hasPrefix("+OK ") && second != first)
        #expect(try client.readUntilClosed().isEmpty)
        // Both jobs are really there.
        let checker = try server.client()
        _ = try checker.handshake()
        let jobs = try checker.object("QUEUE q")["jobs"] as? [String: Any]
        #expect(jobs?["waiting"] as? Int == 2)
    }
}
