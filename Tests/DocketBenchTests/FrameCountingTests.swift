import Testing
@testable import docket_bench

/// NATS message frames as docketd and nats-server send them, counted across any split of reads.
@Suite struct FrameCountingTests {
    static func message(_ subject: String, _ payload: String, reply: String? = nil) -> String {
        "MSG \(subject) 1 \(reply.map { "\($0) " } ?? "")\(payload.utf8.count)\r\n\(payload)\r\n"
    }

    static func headerMessage(_ subject: String, headers: String, _ payload: String) -> String {
        let total = headers.utf8.count + payload.utf8.count
        return "HMSG \(subject) 7 \(headers.utf8.count) \(total)\r\n\(headers)\(payload)\r\n"
    }

    /// A stream with every frame kind, including payloads that look like control lines.
    static let stream: String = [
        "INFO {\"server_id\":\"x\",\"max_payload\":1048576}\r\n",
        message("bench.x.y", "hello"),
        "+OK\r\n",
        "PING\r\n",
        message("bench.x.y", "MSG fake 1 3\r\nabc\r\nPING\r\n", reply: "_INBOX.1"),
        headerMessage("bench.x.y", headers: "NATS/1.0\r\nX-Key: v\r\n\r\n", "payload"),
        "PONG\r\n",
        message("bench.empty", ""),
        message("a", String(repeating: "z", count: 3000)),
        "PING\r\n",
        message("bench.x.y", "last"),
    ].joined()

    static let expectedMessages = 6
    static let expectedPayloadBytes = 5 + "MSG fake 1 3\r\nabc\r\nPING\r\n".utf8.count
        + "NATS/1.0\r\nX-Key: v\r\n\r\npayload".utf8.count + 0 + 3000 + 4

    @Test func countsEveryFrameWhateverTheSplit() throws {
        let all = bytes(Self.stream)
        for cuts in splits(of: all.count, randomRuns: 300) {
            var counter = FrameCounter()
            let (tally, left) = try feed(&counter, chunks(of: all, at: cuts))
            #expect(tally.messages == Self.expectedMessages, "cuts \(cuts)")
            #expect(tally.payloadBytes == Self.expectedPayloadBytes, "cuts \(cuts)")
            #expect(tally.pings == 2, "cuts \(cuts)")
            #expect(tally.pongs == 1, "cuts \(cuts)")
            #expect(tally.serverError == nil)
            #expect(left.isEmpty, "cuts \(cuts)")
        }
    }

    @Test func keepsAnIncompleteControlLineForTheNextRead() throws {
        var counter = FrameCounter()
        let first = try bytes("MSG a 1 5\r\nhello\r\nMSG a 1").withUnsafeBytes { try counter.count($0) }
        #expect(first.messages == 1)
        #expect(first.consumed == "MSG a 1 5\r\nhello\r\n".utf8.count)
        let second = try bytes("MSG a 1 2\r\nhi\r\n").withUnsafeBytes { try counter.count($0) }
        #expect(second.messages == 1)
        #expect(second.payloadBytes == 2)
    }

    @Test func acceptsBareLineFeeds() throws {
        var counter = FrameCounter()
        // The payload's CRLF is part of the frame; only the control line may end in a bare LF.
        let tally = try bytes("PING\nMSG a 1 2\nhi\r\nPONG\n").withUnsafeBytes { try counter.count($0) }
        #expect(tally.pings == 1)
        #expect(tally.messages == 1)
        #expect(tally.pongs == 1)
    }

    @Test func stopsAtAServerError() throws {
        var counter = FrameCounter()
        let head = Self.message("a", "one") + "-ERR 'Slow Consumer Detected'\r\n"
        let tally = try bytes(head + Self.message("a", "two")).withUnsafeBytes { try counter.count($0) }
        #expect(tally.messages == 1)
        #expect(tally.serverError == "-ERR 'Slow Consumer Detected'")
        #expect(tally.consumed == head.utf8.count)
    }

    @Test func rejectsAMessageLineWithoutASize() {
        var counter = FrameCounter()
        #expect(throws: BenchError.self) {
            _ = try bytes("MSG a 1 x\r\n").withUnsafeBytes { try counter.count($0) }
        }
        var other = FrameCounter()
        #expect(throws: BenchError.self) {
            _ = try bytes("MSG 12345678901\r\n").withUnsafeBytes { try other.count($0) }
        }
    }

    @Test func rejectsEndlessBytesWithoutALineEnding() {
        var counter = FrameCounter()
        let junk = [UInt8](repeating: UInt8(ascii: "x"), count: FrameCounter.maxControlLine + 1)
        #expect(throws: BenchError.self) { _ = try junk.withUnsafeBytes { try counter.count($0) } }
    }
}

/// Redis pub/sub pushes, counted across any split of reads.
@Suite struct RESPFrameCountingTests {
    static func bulk(_ text: String) -> String { "$\(text.utf8.count)\r\n\(text)\r\n" }

    static let stream: String = [
        "*3\r\n" + bulk("subscribe") + bulk("bench.x.y") + ":1\r\n",
        "*3\r\n" + bulk("message") + bulk("bench.x.y") + bulk("hello"),
        "*4\r\n" + bulk("pmessage") + bulk("bench.*") + bulk("bench.x.y") + bulk("*3\r\n$7\r\nmessage\r\n"),
        "*3\r\n" + bulk("message") + bulk("bench.x.y") + bulk(""),
        "*2\r\n" + bulk("pong") + bulk(""),
        "*3\r\n" + bulk("message") + bulk("bench.x.y") + bulk(String(repeating: "q", count: 2000)),
    ].joined()

    @Test func countsMessagesAndAcknowledgementsWhateverTheSplit() throws {
        let all = bytes(Self.stream)
        for cuts in splits(of: all.count) {
            var counter = RESPFrameCounter()
            let (tally, left) = try feed(&counter, chunks(of: all, at: cuts))
            #expect(tally.messages == 4, "cuts \(cuts)")
            #expect(tally.payloadBytes == 5 + "*3\r\n$7\r\nmessage\r\n".utf8.count + 0 + 2000, "cuts \(cuts)")
            // The subscription confirmation and the pong both prove earlier commands were done.
            #expect(tally.pongs == 2, "cuts \(cuts)")
            #expect(left.isEmpty, "cuts \(cuts)")
        }
    }

    @Test func reportsAnErrorOutsideAnArray() throws {
        var counter = RESPFrameCounter()
        let tally = try bytes("-ERR unknown command\r\n").withUnsafeBytes { try counter.count($0) }
        #expect(tally.serverError == "-ERR unknown command")
    }
}
