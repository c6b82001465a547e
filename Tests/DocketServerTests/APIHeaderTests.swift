@testable import DocketServer
import Testing

/// How a `$DOCKET.API` request's `Docket-Options` is read from its header block, without a socket.
@Suite struct APIHeaderTests {
    private func options(_ block: String) -> String? {
        guard case .value(let value) = field(block) else { return nil }
        return value
    }

    private func field(_ block: String) -> JobAPI.HeaderField {
        Array(block.utf8).withUnsafeBytes { JobAPI.header("docket-options", in: $0) }
    }

    @Test func theNameIsMatchedIgnoringCaseAndTheValueTrimmed() {
        #expect(options("NATS/1.0\r\nX-A: b\r\nDOCKET-options: \t pri=1 delay=5s \t\r\n\r\n") == "pri=1 delay=5s")
        #expect(options("NATS/1.0\r\n Docket-Options :pri=2\r\n\r\n") == "pri=2")
        #expect(options("NATS/1.0\r\nDocket-Options:\r\n\r\n") == "")
    }

    /// Keeping one of two lines would drop the other's options without a word.
    @Test func aRepeatedFieldIsToldApart() {
        #expect(field("NATS/1.0\r\nDocket-Options: pri=1\r\nX: y\r\nDocket-Options: pri=3\r\n\r\n") == .repeated)
        #expect(field("NATS/1.0\r\ndocket-options: key=a\r\nDOCKET-OPTIONS:\r\n\r\n") == .repeated)
        #expect(field("NATS/1.0\r\nX: y\r\nX: z\r\nDocket-Options: pri=3\r\n\r\n") == .value("pri=3"))
        #expect(field("NATS/1.0\r\nX: y\r\n\r\n") == .absent)
    }

    /// The status line is never a field, nor is a line without a colon, nor a longer name.
    @Test func onlyAFieldOfThatNameCounts() {
        #expect(options("Docket-Options: pri=1\r\n\r\n") == nil)
        #expect(options("NATS/1.0\r\nDocket-Options pri=1\r\nDocket-Options-2: pri=1\r\nX-Docket-Options: pri=1\r\n\r\n") == nil)
        #expect(options("NATS/1.0\r\n\r\n") == nil)
        #expect(options("") == nil)
    }

    /// A block cut short (no final CRLF) still has its last field read.
    @Test func aFieldAtTheVeryEndCounts() {
        #expect(options("NATS/1.0\r\nDocket-Options: pri=4") == "pri=4")
    }
}
