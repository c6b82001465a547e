import DocketWire
import Testing

/// What docketd reads as a client of a NATS server (`--cluster-nats`), on bytes the test owns.
@Suite struct UpstreamParserTests {
    func parse(_ text: String, from start: Int = 0) -> UpstreamParse {
        Array(text.utf8).withUnsafeBytes { UpstreamParser.parse($0, from: start) }
    }

    func slice(_ text: String, _ range: Range<Int>) -> String {
        String(decoding: Array(text.utf8)[range], as: UTF8.self)
    }

    @Test func messagesWithAndWithoutReplyAndHeaders() {
        let plain = "MSG news 7 5\r\nhello\r\nPING\r\n"
        guard case .op(.message(let subject, let sid, let reply, let headers, let message), let next) = parse(plain) else {
            Issue.record("\(parse(plain))")
            return
        }
        #expect(slice(plain, subject) == "news" && sid == 7 && reply == nil && headers == nil && slice(plain, message) == "hello")
        #expect(parse(plain, from: next) == .op(.ping, next: plain.utf8.count))

        let withReply = "HMSG a.b 12 _INBOX.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        guard case .op(.message(let s2, 12, let r2?, 12, let m2), let n2) = parse(withReply) else {
            Issue.record("\(parse(withReply))")
            return
        }
        #expect(slice(withReply, s2) == "a.b" && slice(withReply, r2) == "_INBOX.x" && m2.count == 14 && n2 == withReply.utf8.count)
    }

    @Test func incompleteUntilThePayloadAndItsLineEndArrive() {
        for cut in ["MSG news 7 5", "MSG news 7 5\r\n", "MSG news 7 5\r\nhel", "MSG news 7 5\r\nhello\r"] {
            #expect(parse(cut) == .incomplete, "\(cut.debugDescription)")
        }
    }

    @Test func controlOps() {
        #expect(parse("PONG\r\n") == .op(.pong, next: 6))
        #expect(parse("+OK\r\n") == .op(.ok, next: 5))
        let info = "INFO {\"server_id\":\"x\"}\r\n"
        guard case .op(.info(let json), _) = parse(info) else {
            Issue.record("\(parse(info))")
            return
        }
        #expect(slice(info, json) == "{\"server_id\":\"x\"}")
        let err = "-ERR 'Permissions Violation for Publish to \"x\"'\r\n"
        guard case .op(.err(let text), _) = parse(err) else {
            Issue.record("\(parse(err))")
            return
        }
        #expect(slice(err, text) == "Permissions Violation for Publish to \"x\"")
    }

    @Test func aMessageOverTheLimitFailsBeforeItsBytesArrive() {
        let header = Array("MSG news 1 2000\r\n".utf8)
        #expect(header.withUnsafeBytes { UpstreamParser.parse($0, from: 0, maxMessage: 1000) } == .failure("a message of 2000 bytes, over 1000"))
        #expect(header.withUnsafeBytes { UpstreamParser.parse($0, from: 0, maxMessage: 2000) } == .incomplete)
    }

    @Test(arguments: [
        "BOGUS\r\n", "MSG news 5\r\n", "MSG news x 5\r\nhello\r\n", "MSG news 1 5\r\nhelloXY", "HMSG a 1 9 4\r\n", "PING\n", "\r\n",
    ])
    func brokenInputFails(_ text: String) {
        guard case .failure = parse(text) else {
            Issue.record("\(text.debugDescription) gave \(parse(text))")
            return
        }
    }
}
