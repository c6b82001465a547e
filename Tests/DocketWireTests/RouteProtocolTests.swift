import DocketWire
import Testing

/// The route protocol's parser and writer on bytes: every operation, split at every byte, and
/// what breaks it.
@Suite struct RouteProtocolTests {
    /// Parses all of `text`, one operation at a time, rendered as text.
    static func render(_ text: String, maxPayload: Int = 1 << 20) -> [String] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw in
            var out: [String] = []
            var position = 0
            func slice(_ range: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: raw[range]), as: UTF8.self) }
            while position < raw.count {
                switch RouteParser.parse(raw, from: position, maxControlLine: 256, maxPayload: maxPayload) {
                case .incomplete: return out + ["incomplete"]
                case .failure(let why): return out + ["failure: \(why)"]
                case .op(let op, let next):
                    position = next
                    switch op {
                    case .ping: out.append("PING")
                    case .pong: out.append("PONG")
                    case .info(let json): out.append("INFO \(slice(json))")
                    case .connect(let json): out.append("CONNECT \(slice(json))")
                    case .error(let text): out.append("ERR \(slice(text))")
                    case .interest(let added, let account, let subject, let queue):
                        out.append("\(added ? "+" : "-") \(slice(account)) \(slice(subject)) \(queue.map(slice) ?? "-")")
                    case .message(let account, let subject, let reply, let queue, let headers, let message):
                        out.append("MSG \(slice(account)) \(slice(subject)) \(reply.map(slice) ?? "-") \(queue.map(slice) ?? "-") \(headers.map(String.init) ?? "-") [\(slice(message))]")
                    }
                }
            }
            return out
        }
    }

    static let cases: [(String, [String])] = [
        ("PING\r\nPONG\r\n", ["PING", "PONG"]),
        ("INFO {\"server_id\":\"N1\"}\r\n", ["INFO {\"server_id\":\"N1\"}"]),
        ("CONNECT {\"user\":\"r\"}\r\n", ["CONNECT {\"user\":\"r\"}"]),
        ("-ERR 'Authorization Violation'\r\n", ["ERR 'Authorization Violation'"]),
        ("RS+ $G orders.*\r\nRS- $G orders.* workers\r\n", ["+ $G orders.* -", "- $G orders.* workers"]),
        ("RMSG $G a.b 5\r\nhello\r\n", ["MSG $G a.b - - - [hello]"]),
        ("RMSG $G a.b + _INBOX.1 5\r\nhello\r\n", ["MSG $G a.b _INBOX.1 - - [hello]"]),
        ("RMSG acme a.b | workers 0\r\n\r\n", ["MSG acme a.b - workers - []"]),
        ("RMSG $G a.b + r | q 4\r\na\r\nb\r\n", ["MSG $G a.b r q - [a\r\nb]"]),
        ("HMSG $G a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", ["MSG $G a - - 12 [NATS/1.0\r\n\r\nhi]"]),
        // Line ends between operations are skipped; a bare LF ends a line.
        ("\r\n\r\nPING\nPONG\r\n", ["PING", "PONG"]),
        ("RMSG $G a 5\r\nhel", ["incomplete"]),
        ("RS+ $G", ["incomplete"]),
        ("RMSG $G a 5\r\nhelloXY", ["failure: a message not followed by CRLF"]),
        ("RMSG $G a x\r\n", ["failure: RMSG with bad sizes"]),
        ("RMSG $G a -1\r\n", ["failure: RMSG with bad sizes"]),
        ("RMSG $G a 1 2\r\n", ["failure: RMSG with bad sizes"]),
        ("HMSG $G a 5 4\r\n", ["failure: HMSG with bad sizes"]),
        // A header block is NATS/1.0 through its empty line, and its size says where that ends.
        ("HMSG $G a 16 16\r\nNATS/1.0 503\r\n\r\n\r\n", ["MSG $G a - - 16 [NATS/1.0 503\r\n\r\n]"]),
        ("HMSG $G a 3 5\r\nabcde\r\n", ["failure: HMSG whose 3 header bytes are not a NATS/1.0 header block"]),
        ("HMSG $G a 0 2\r\nhi\r\n", ["failure: HMSG whose 0 header bytes are not a NATS/1.0 header block"]),
        ("HMSG $G a 12 12\r\nHTTP/1.1\r\n\r\n\r\n", ["failure: HMSG whose 12 header bytes are not a NATS/1.0 header block"]),
        ("HMSG $G a 10 14\r\nNATS/1.0\r\n\r\nhi\r\n", ["failure: HMSG whose 10 header bytes are not a NATS/1.0 header block"]),
        ("HMSG $G a 14 14\r\nNATS/1.0\r\n\r\nhi\r\n", ["failure: HMSG whose 14 header bytes are not a NATS/1.0 header block"]),
        ("HMSG $G a 12 12\r\nNATS/1.0X\n\r\n\r\n", ["failure: HMSG whose 12 header bytes are not a NATS/1.0 header block"]),
        ("RMSG $G a + 5\r\n", ["failure: RMSG with bad sizes"]),
        ("RMSG $G a 5 + r\r\n", ["failure: a message's + or | without its value"]),
        ("RMSG $G\r\n", ["failure: RMSG needs an account and a subject"]),
        ("RS+ $G a q extra\r\n", ["failure: RS+/RS- takes at most a queue after its subject"]),
        ("PUB a 1\r\nx\r\n", ["failure: unknown operation 'PUB'"]),
        ("   \r\n", ["failure: a blank line"]),
        ("INFO\r\n", ["failure: INFO without its JSON"]),
    ]

    @Test(arguments: cases)
    func parsesEveryOperation(_ input: String, _ expected: [String]) {
        #expect(Self.render(input) == expected)
    }

    @Test func boundsLinesAndMessages() {
        #expect(Self.render(String(repeating: "x", count: 300)) == ["failure: a line longer than 256 bytes"])
        #expect(Self.render("RS+ $G " + String(repeating: "a", count: 300) + "\r\n") == ["failure: a line longer than 256 bytes"])
        #expect(Self.render("RMSG $G a 11\r\nhello world\r\n", maxPayload: 10) == ["failure: a message of 11 bytes, over 10"])
        // The size is judged before the bytes arrive: a peer cannot make the node wait for 2^40 bytes.
        #expect(Self.render("RMSG $G a 999999999999\r\n") == ["failure: a message of 999999999999 bytes, over 1048576"])
        #expect(Self.render("RMSG $G a 1099511627776\r\n") == ["failure: RMSG with bad sizes"])
    }

    /// Whatever the split, the same operations come out once the bytes are all in.
    @Test func anySplitParsesTheSame() {
        let text = "INFO {}\r\nRS+ $G a.* q\r\nRMSG $G a.b + r | q 3\r\nabc\r\nHMSG $G a 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n"
        let whole = Self.render(text)
        let bytes = Array(text.utf8)
        for cut in 0..<bytes.count {
            let head = String(decoding: bytes[..<cut], as: UTF8.self)
            let parsedHead = Self.render(head)
            let complete = parsedHead.last == "incomplete" ? Array(parsedHead.dropLast()) : parsedHead
            #expect(Array(whole.prefix(complete.count)) == complete, "cut at \(cut)")
        }
        #expect(whole.count == 5)
    }

    @Test func writesWhatItReads() {
        let buffer = ByteBuffer(capacity: 64)
        buffer.appendRouteInterest(added: true, account: Array("$G".utf8), subject: Array("a.>".utf8), queue: Array("q".utf8))
        buffer.appendRouteInterest(added: false, account: Array("$G".utf8), subject: Array("a.>".utf8), queue: nil)
        Array("$G".utf8).withUnsafeBytes { account in
            Array("a.b".utf8).withUnsafeBytes { subject in
                Array("r.1".utf8).withUnsafeBytes { reply in
                    Array("NATS/1.0\r\n\r\nhi".utf8).withUnsafeBytes { message in
                        buffer.appendRouteMessage(account: account, subject: subject, reply: reply, queue: Array("q".utf8), headerCount: 12, message: message)
                        buffer.appendRouteMessage(account: account, subject: subject, reply: nil, queue: nil, headerCount: nil, message: message)
                    }
                }
            }
        }
        let written = String(decoding: buffer.readableBytes, as: UTF8.self)
        #expect(written == "RS+ $G a.> q\r\nRS- $G a.>\r\nHMSG $G a.b + r.1 | q 12 14\r\nNATS/1.0\r\n\r\nhi\r\nRMSG $G a.b 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        #expect(Self.render(written) == [
            "+ $G a.> q", "- $G a.> -", "MSG $G a.b r.1 q 12 [NATS/1.0\r\n\r\nhi]", "MSG $G a.b - - - [NATS/1.0\r\n\r\nhi]",
        ])
    }
}
