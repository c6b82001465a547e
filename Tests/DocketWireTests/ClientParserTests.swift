import DocketWire
import Testing

@Suite struct ClientParserTests {
    static let verbs: [(String, [Rendered])] = [
        ("PING\r\n", ["PING"]),
        ("PONG\r\n", ["PONG"]),
        ("HELP\r\n", ["HELP"]),
        ("CONNECT {\"verbose\":false}\r\n", ["CONNECT {\"verbose\":false}"]),
        ("CONNECT {\"name\": \"a b\"}  \r\n", ["CONNECT {\"name\": \"a b\"}"]),
        ("PUB foo 5\r\nhello\r\n", ["PUB foo - [hello]"]),
        ("PUB foo bar 5\r\nhello\r\n", ["PUB foo bar [hello]"]),
        ("PUB foo 0\r\n\r\n", ["PUB foo - []"]),
        ("PUB foo 4\r\na\r\nb\r\n", ["PUB foo - [a\r\nb]"]),
        ("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", ["HPUB foo - 12 [NATS/1.0\r\n\r\nhi]"]),
        ("HPUB foo r.1 12 12\r\nNATS/1.0\r\n\r\n\r\n", ["HPUB foo r.1 12 [NATS/1.0\r\n\r\n]"]),
        ("SUB foo 1\r\n", ["SUB foo - 1"]),
        ("SUB foo.* workers 1a\r\n", ["SUB foo.* workers 1a"]),
        ("UNSUB 1\r\n", ["UNSUB 1 -"]),
        ("UNSUB 1 10\r\n", ["UNSUB 1 10"]),
        // As nats-server: a max that is not a count is 0, the subscription goes at once.
        ("UNSUB 1 x\r\n", ["UNSUB 1 0"]),
        ("UNSUB 1 -1\r\n", ["UNSUB 1 0"]),
        ("UNSUB 1 2.5\r\n", ["UNSUB 1 0"]),
        ("UNSUB 1 99999999999\r\n", ["UNSUB 1 0"]),
        ("PING\r\nPING\r\nSUB a 1\r\n", ["PING", "PING", "SUB a - 1"]),
    ]

    @Test(arguments: verbs)
    func parsesEveryVerb(_ input: String, _ expected: [Rendered]) {
        #expect(feed(input) == expected)
    }

    /// Clients and people vary case, separators and line endings; all mean the same.
    static let whitespace: [(String, Rendered)] = [
        ("pub foo 5\r\nhello\r\n", "PUB foo - [hello]"),
        ("Pub foo 5\r\nhello\r\n", "PUB foo - [hello]"),
        ("PUB foo  5\r\nhello\r\n", "PUB foo - [hello]"),
        ("PUB\tfoo\t5\r\nhello\r\n", "PUB foo - [hello]"),
        ("PUB foo 5 \r\nhello\r\n", "PUB foo - [hello]"),
        ("PUB foo 5\nhello\r\n", "PUB foo - [hello]"),
        ("  PUB foo 5\r\nhello\r\n", "PUB foo - [hello]"),
        ("UNSUB 1 \r\n", "UNSUB 1 -"),
        ("ping\n", "PING"),
        ("sUb \t foo \t 7\r\n", "SUB foo - 7"),
        ("connect\t{}\n", "CONNECT {}"),
    ]

    @Test(arguments: whitespace)
    func acceptsWhitespaceVariants(_ input: String, _ expected: Rendered) {
        #expect(feed(input) == [expected])
    }

    /// As in nats-server, a line that starts with PING or PONG is that op, whatever follows.
    static let keepAliveLeniency: [(String, Rendered)] = [
        ("PING x\r\n", "PING"),
        ("PING\r\r\n", "PING"),
        ("PINGX\r\n", "PING"),
        ("pong junk here\r\n", "PONG"),
        ("\tPoNg\t\r\n", "PONG"),
    ]

    @Test(arguments: keepAliveLeniency)
    func readsKeepAlivesAsNatsServerDoes(_ input: String, _ expected: Rendered) {
        #expect(feed(input) == [expected])
    }

    @Test func skipsBlankLines() {
        #expect(feed("\r\n\n  \r\nPING\r\n") == ["PING"])
    }

    static let mustFail: [(String, ProtocolError.Kind)] = [
        ("FOO\r\n", .unknownOperation),
        ("PUBX foo 1\r\n", .unknownOperation),
        ("\u{00ff}\u{0001}\r\n", .unknownOperation),
        ("MSG foo 1 1\r\n", .unknownOperation),
        ("PUB foo\r\n", .invalidProtocol),
        ("PUB\r\n", .invalidProtocol),
        ("PUB foo bar baz 1\r\n", .invalidProtocol),
        ("PUB foo -1\r\n", .invalidProtocol),
        ("PUB foo x\r\n", .invalidProtocol),
        ("PUB foo 99999999999\r\n", .invalidProtocol),
        ("PUB foo 2\r\nabc\r\n", .invalidProtocol),
        ("PUB foo 3\r\nabc\rX", .invalidProtocol),
        ("PUB foo 3\r\nabcX\r\n", .invalidProtocol),
        ("HPUB foo 5\r\n", .invalidProtocol),
        ("HPUB foo 10 5\r\n", .invalidProtocol),
        ("SUB foo\r\n", .invalidProtocol),
        ("SUB a b c d\r\n", .invalidProtocol),
        ("UNSUB\r\n", .invalidProtocol),
        ("UNSUB 1 2 3\r\n", .invalidProtocol),
        ("PIN G\r\n", .unknownOperation),
        ("CONNECT\r\n", .invalidProtocol),
        ("CONNECT   \r\n", .invalidProtocol),
    ]

    @Test(arguments: mustFail)
    func rejects(_ input: String, _ kind: ProtocolError.Kind) {
        #expect(feed(input) == [.error(kind)])
    }

    @Test func errorsAreFatalExceptSubjectAndLimitComplaints() {
        #expect(ProtocolError(.unknownOperation).isFatal)
        #expect(ProtocolError(.maxPayload).isFatal)
        #expect(!ProtocolError(.invalidSubject).isFatal)
        #expect(!ProtocolError(.maxSubscriptions).isFatal)
        #expect(ProtocolError(.invalidProtocol, "x").line == Array("-ERR 'Invalid Protocol: x'\r\n".utf8))
    }

    // MARK: Splits

    static let stream =
        "CONNECT {\"verbose\":false}\r\nSUB foo.* q 1\r\nPUB foo.bar r 12\r\nhello\r\nworld\r\n"
        + "HPUB foo.x 12 15\r\nNATS/1.0\r\n\r\nabc\r\nUNSUB 1 5\r\nping\nPONG\r\n"
    static let streamOps: [Rendered] = [
        "CONNECT {\"verbose\":false}", "SUB foo.* q 1", "PUB foo.bar r [hello\r\nworld]",
        "HPUB foo.x - 12 [NATS/1.0\r\n\r\nabc]", "UNSUB 1 5", "PING", "PONG",
    ]

    @Test func everySplitPointGivesTheSameOps() {
        let bytes = Array(Self.stream.utf8)
        for split in 0...bytes.count {
            let result = feed([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(result == Self.streamOps, "split at \(split)")
        }
    }

    @Test func byteAtATimeGivesTheSameOps() {
        #expect(feed(Array(Self.stream.utf8).map { [$0] }) == Self.streamOps)
    }

    @Test func incompleteInputAsksForMore() {
        for prefix in ["P", "PUB foo 5", "PUB foo 5\r\n", "PUB foo 5\r\nhel", "PUB foo 5\r\nhello", "PUB foo 5\r\nhello\r"] {
            let outcome = Array(prefix.utf8).withUnsafeBytes { ClientParser.parse($0, from: 0, limits: ParseLimits()) }
            #expect(outcome == .incomplete, "\(prefix.debugDescription)")
        }
    }

    // MARK: Limits

    @Test func controlLineLimitIsExact() {
        let limits = ParseLimits(maxControlLine: 32, maxPayload: 64)
        let atLimit = "SUB " + String(repeating: "a", count: 26) + " 1"  // 32 bytes
        #expect(atLimit.utf8.count == 32)
        #expect(feed(atLimit + "\r\n", limits: limits) == [.op("SUB \(String(repeating: "a", count: 26)) - 1")])
        let over = "SUB " + String(repeating: "a", count: 27) + " 1"
        #expect(feed(over + "\r\n", limits: limits) == [.error(.maxControlLine)])
        // A line that never ends is refused as soon as it is too long, not when memory runs out.
        #expect(feed(String(repeating: "x", count: 34), limits: limits) == [.error(.maxControlLine)])
        #expect(feed(String(repeating: "x", count: 33), limits: limits) == [])
    }

    @Test func payloadLimitIsCheckedOnTheControlLine() {
        let limits = ParseLimits(maxControlLine: 64, maxPayload: 8)
        #expect(feed("PUB foo 8\r\n12345678\r\n", limits: limits) == ["PUB foo - [12345678]"])
        // Refused before any payload byte arrives.
        #expect(feed("PUB foo 9\r\n", limits: limits) == [.error(.maxPayload)])
        #expect(feed("HPUB foo 2 9\r\n", limits: limits) == [.error(.maxPayload)])
    }

    @Test func payloadMayEndInABareLF() {
        // What `nc` sends when a person types the payload; CRLF stays what clients send.
        #expect(feed("PUB foo 2\nhi\nPING\n") == ["PUB foo - [hi]", "PING"])
        #expect(feed("ENQ q 1\nx\nACK 5 2\nok\n") == ["ENQ <q> [x]", "ACK <5> [ok]"])
        #expect(feed("PUB foo 2\r\nhi\r\nPING\r\n") == ["PUB foo - [hi]", "PING"])
    }

    @Test func payloadBytesAreNeverInterpreted() {
        let payload: [UInt8] = [0, 13, 10, 80, 73, 78, 71, 13, 10, 255]
        let input = Array("PUB x \(payload.count)\r\n".utf8) + payload + [13, 10] + Array("PING\r\n".utf8)
        let results = feed([input])
        #expect(results.count == 2)
        #expect(results.last == "PING")
    }
}

/// Random streams, built from protocol fragments and junk, must parse the same however they are
/// split, and never crash: the property a fuzzer would check, run on every test.
@Suite struct ClientParserRandomTests {
    static let fragments: [String] = [
        "PUB a.b 3\r\nxyz\r\n", "pub a 0\r\n\r\n", "SUB a.* q 1\r\n", "UNSUB 1 2\r\n", "PING\r\n", "PONG\n",
        "HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", "CONNECT {\"verbose\":false}\r\n", "ENQ q pri=1 2\r\nab\r\n",
        "RESERVE q,r timeout=1s\r\n", "ACK 5 2\r\nok\r\n", "FAIL 7 retry=no\r\n", "\r\n", "  \t\r\n",
        "PUB a 5\r\nab", "PUB x 99999999\r\n", "FOO\r\n", "PUB a 2\r\nabc\r\n", "\u{00ff}\u{0000}", "SUB\r\n",
        "HPUB h 20 10\r\n", "help\r\n", "WAIT 3 timeout=5s\r\n", "QUEUE q rate=5/s\r\n",
    ]

    @Test func splitsNeverChangeTheResult() {
        var generator = SystemRandomNumberGenerator()
        let limits = ParseLimits(maxControlLine: 64, maxPayload: 1024)
        for _ in 0..<2000 {
            var stream: [UInt8] = []
            for _ in 0..<Int(generator.next() % 8) {
                if generator.next() % 10 == 0 {
                    stream += (0..<Int(generator.next() % 20)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                } else {
                    stream += Array(Self.fragments[Int(generator.next() % UInt64(Self.fragments.count))].utf8)
                }
            }
            let whole = feed([stream], limits: limits)
            var chunks: [[UInt8]] = []
            var rest = stream[...]
            while !rest.isEmpty {
                let size = 1 + Int(generator.next() % UInt64(min(rest.count, 17)))
                chunks.append(Array(rest.prefix(size)))
                rest = rest.dropFirst(size)
            }
            #expect(feed(chunks, limits: limits) == whole, "\(String(decoding: stream, as: UTF8.self).debugDescription)")
        }
    }
}
