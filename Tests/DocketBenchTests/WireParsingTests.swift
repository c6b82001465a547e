import Testing
@testable import docket_bench

/// Docket's replies to ENQ, RESERVE and ACK (PROTOCOL.md section 4b).
@Suite struct DocketJobWireTests {
    let wire = DocketJobWire(queue: "bench", payloadSize: 16)

    static let stream = [
        "INFO {\"server_id\":\"x\"}\r\n",
        "+OK 17\r\n",
        "+OK 18 duplicate\r\n",
        "JOB 42 bench 1 5\r\nhello\r\n",
        "PING\r\n",
        "JOB 43 bench 2 lease=30000 delivery=1099511627777 0\r\n\r\n",
        "JOB 44 bench 1 13\r\nJOB 1 a 1 1\r\n\r\n",
        "NOJOB\r\n",
        "+OK\r\n",
        "PONG\r\n",
        "-ERR 'NOT_HELD job 9 is not held by this connection'\r\n",
    ].joined()

    static let expected: [Reply] = [
        .ignored, .done, .done, .job(handle: "42", payload: "hello"), .ping, .job(handle: "43", payload: ""),
        .job(handle: "44", payload: "JOB 1 a 1 1\r\n"), .noJob, .done, .ignored,
        .error("-ERR 'NOT_HELD job 9 is not held by this connection'"),
    ]

    @Test func parsesEveryReplyWhateverTheSplit() throws {
        let all = bytes(Self.stream)
        for cuts in splits(of: all.count) {
            let (replies, left) = try parseAll(wire, chunks(of: all, at: cuts))
            #expect(replies == Self.expected, "cuts \(cuts)")
            #expect(left.isEmpty)
        }
    }

    @Test func waitsForTheWholePayload() throws {
        let (replies, left) = try parseAll(wire, [bytes("JOB 42 bench 1 5\r\nhel")])
        #expect(replies.isEmpty)
        #expect(left.count == "JOB 42 bench 1 5\r\nhel".utf8.count)
    }

    @Test func rejectsWhatDocketNeverSends() {
        #expect(throws: BenchError.self) { _ = try parseAll(wire, [bytes("MSG a 1 2\r\nhi\r\n")]) }
        #expect(throws: BenchError.self) { _ = try parseAll(wire, [bytes("JOB 42 bench\r\n")]) }
        #expect(throws: BenchError.self) { _ = try parseAll(wire, [bytes("JOB 42 bench 1 2\r\nhiXX")]) }
    }

    @Test func writesTheJobVerbs() {
        var output = OutputBuffer()
        wire.appendEnqueue(timestamp: 0x0123_4567_89ab_cdef, sequence: 7, to: &output)
        wire.appendReserve(to: &output)
        bytes("42").withUnsafeBytes { wire.appendAck(handle: $0, to: &output) }
        wire.appendPong(to: &output)
        #expect(text(of: output) == "ENQ bench 16\r\n0123456789abcdef\r\nRESERVE bench timeout=1s\r\nACK 42\r\nPONG\r\n")
    }
}

/// beanstalkd's replies to put, reserve-with-timeout and delete.
@Suite struct BeanstalkWireTests {
    let wire = BeanstalkWire(queue: "bench", payloadSize: 32)

    @Test func parsesEveryReplyWhateverTheSplit() throws {
        let stream = bytes("INSERTED 1\r\nRESERVED 1 5\r\nhello\r\nDELETED\r\nTIMED_OUT\r\nDEADLINE_SOON\r\n"
            + "RESERVED 22 9\r\nDELETED\r\n\r\nBURIED 3\r\nJOB_TOO_BIG\r\n")
        let expected: [Reply] = [
            .done, .job(handle: "1", payload: "hello"), .done, .noJob, .noJob,
            .job(handle: "22", payload: "DELETED\r\n"), .error("BURIED 3"), .error("JOB_TOO_BIG"),
        ]
        for cuts in splits(of: stream.count) {
            let (replies, left) = try parseAll(wire, chunks(of: stream, at: cuts))
            #expect(replies == expected, "cuts \(cuts)")
            #expect(left.isEmpty)
        }
    }

    @Test func rejectsAMalformedReservedLine() {
        #expect(throws: BenchError.self) { _ = try parseAll(wire, [bytes("RESERVED 1 x\r\n")]) }
    }

    @Test func writesTheCommands() {
        var output = OutputBuffer()
        wire.appendEnqueue(timestamp: 1, sequence: 2, to: &output)
        wire.appendReserve(to: &output)
        bytes("17").withUnsafeBytes { wire.appendAck(handle: $0, to: &output) }
        wire.appendPong(to: &output)
        #expect(text(of: output) == "put 1024 0 60 32\r\n00000000000000010000000000000002\r\nreserve-with-timeout 1\r\ndelete 17\r\n")
    }
}

/// RESP and the Redis reliable queue (LPUSH, BLMOVE, LREM).
@Suite struct RedisWireTests {
    let wire = RedisJobWire(queue: "bench", payloadSize: 40)

    @Test func parsesRESPValues() throws {
        func parse(_ text: String) throws -> (RESP.Value, Int)? {
            try bytes(text).withUnsafeBytes { try RESP.parse($0).map { ($0.value, $0.length) } }
        }
        if case (.simple(_), 5)? = try parse("+OK\r\n") {} else { Issue.record("+OK") }
        if case (.integer(-12), 6)? = try parse(":-12\r\n") {} else { Issue.record(":-12") }
        if case (.bulk(let data), 11)? = try parse("$5\r\nhello\r\n") {
            #expect(String(decoding: data, as: UTF8.self) == "hello")
        } else { Issue.record("bulk") }
        if case (.null, 5)? = try parse("$-1\r\n") {} else { Issue.record("$-1") }
        if case (.null, 5)? = try parse("*-1\r\n") {} else { Issue.record("*-1") }
        if case (.array(3), 4)? = try parse("*3\r\n") {} else { Issue.record("*3") }
        if case (.error(_), 6)? = try parse("-ERR\r\n") {} else { Issue.record("-ERR") }
        #expect(try parse("$5\r\nhel") == nil)
        #expect(try parse("$5") == nil)
        #expect(throws: BenchError.self) { _ = try parse("?what\r\n") }
        #expect(throws: BenchError.self) { _ = try parse("$5\r\nhelloXX") }
        #expect(throws: BenchError.self) { _ = try parse(":12a\r\n") }
    }

    @Test func parsesEveryReplyWhateverTheSplit() throws {
        let stream = bytes(":1\r\n:7\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n$0\r\n\r\n:0\r\n-WRONGTYPE Operation against a key\r\n")
        let expected: [Reply] = [
            .done, .done, .job(handle: "hello", payload: "hello"), .noJob, .noJob, .job(handle: "", payload: ""),
            .error("LREM removed nothing: the job was not in the processing list"),
            .error("-WRONGTYPE Operation against a key"),
        ]
        for cuts in splits(of: stream.count) {
            let (replies, left) = try parseAll(wire, chunks(of: stream, at: cuts))
            #expect(replies == expected, "cuts \(cuts)")
            #expect(left.isEmpty)
        }
    }

    @Test func rejectsRepliesTheQueueNeverGets() {
        #expect(throws: BenchError.self) { _ = try parseAll(wire, [bytes("+OK\r\n")]) }
        #expect(throws: BenchError.self) { _ = try parseAll(wire, [bytes("*2\r\n")]) }
    }

    @Test func writesCommandsAsRESPArrays() {
        var output = OutputBuffer()
        wire.appendEnqueue(timestamp: 255, sequence: 1, to: &output)
        wire.appendReserve(to: &output)
        bytes("job-payload").withUnsafeBytes { wire.appendAck(handle: $0, to: &output) }
        let payload = "00000000000000ff0000000000000001........"
        #expect(text(of: output) == "*3\r\n$5\r\nLPUSH\r\n$5\r\nbench\r\n$40\r\n\(payload)\r\n"
            + "*6\r\n$6\r\nBLMOVE\r\n$5\r\nbench\r\n$16\r\nbench:processing\r\n$5\r\nRIGHT\r\n$4\r\nLEFT\r\n$1\r\n1\r\n"
            + "*4\r\n$4\r\nLREM\r\n$16\r\nbench:processing\r\n$1\r\n1\r\n$11\r\njob-payload\r\n")
    }
}

/// The line readers the text protocols share.
@Suite struct RawTextTests {
    @Test func splitsFieldsAndNumbers() {
        bytes("JOB  42 bench 1 5").withUnsafeBytes { line in
            #expect(RawText.field(0, of: line).map(RawText.text) == "JOB")
            #expect(RawText.field(1, of: line).map(RawText.text) == "42")
            #expect(RawText.field(4, of: line).flatMap(RawText.integer) == 5)
            #expect(RawText.field(5, of: line) == nil)
        }
        bytes("-1").withUnsafeBytes { #expect(RawText.integer($0) == -1) }
        bytes("").withUnsafeBytes { #expect(RawText.integer($0) == nil) }
        bytes("-").withUnsafeBytes { #expect(RawText.integer($0) == nil) }
        bytes("1234567890123456789").withUnsafeBytes { #expect(RawText.integer($0) == nil) }
    }

    @Test func findsLinesEndingInCRLFOrLF() {
        bytes("abc\r\ndef").withUnsafeBytes { buffer in
            let line = RawText.line(in: buffer)
            #expect(line.map { RawText.text($0.content) } == "abc")
            #expect(line?.length == 5)
        }
        bytes("abc\ndef").withUnsafeBytes { #expect(RawText.line(in: $0)?.length == 4) }
        bytes("abc").withUnsafeBytes { #expect(RawText.line(in: $0) == nil) }
    }
}
