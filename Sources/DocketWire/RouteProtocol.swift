/// The protocol between docketd nodes of one cluster (`cluster { routes }`): a route tells its
/// peer which subjects its clients want and carries the messages the peer's clients publish to
/// them. Modelled on nats-server's routes, but docketd's own (PROTOCOL.md, "Routes"):
///
///     INFO {json}                 who the node is, where its clients and routes connect
///     CONNECT {json}              the soliciting node's credentials, when the cluster has some
///     PING / PONG / -ERR '<text>'
///     RS+ <account> <subject> [<queue>]     interest begins
///     RS- <account> <subject> [<queue>]     interest ends
///     RMSG <account> <subject> [+ <reply>] [| <queue>] <#bytes>
///     HMSG <account> <subject> [+ <reply>] [| <queue>] <#header bytes> <#total bytes>
///
/// A message without a queue is for the receiver's plain subscriptions, one with a queue for
/// one member of that group there. An HMSG's header block is `NATS/1.0` through its empty line
/// (`isHeaderBlock`). Pure: bytes in, operations out.
public enum RouteOp: Equatable {
    case info(json: Range<Int>)
    case connect(json: Range<Int>)
    case ping
    case pong
    case error(text: Range<Int>)
    case interest(added: Bool, account: Range<Int>, subject: Range<Int>, queue: Range<Int>?)
    case message(account: Range<Int>, subject: Range<Int>, reply: Range<Int>?, queue: Range<Int>?, headerCount: Int?, message: Range<Int>)
}

public enum RouteParseResult: Equatable {
    /// One operation, and where the next begins.
    case op(RouteOp, next: Int)
    /// More bytes are needed.
    case incomplete
    /// The peer broke the protocol; the route ends.
    case failure(String)
}

public enum RouteParser {
    /// Parses the operation at `position`. `maxControlLine` bounds a line, `maxPayload` a
    /// message (headers included).
    public static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int, maxControlLine: Int, maxPayload: Int) -> RouteParseResult {
        var position = start
        // Line ends between operations are skipped (they are what a person typing sends).
        while position < bytes.count, bytes[position] == Byte.cr || bytes[position] == Byte.lf { position += 1 }
        var lineEnd = position
        while lineEnd < bytes.count, bytes[lineEnd] != Byte.lf { lineEnd += 1 }
        guard lineEnd < bytes.count else {
            return bytes.count - position > maxControlLine ? .failure("a line longer than \(maxControlLine) bytes") : .incomplete
        }
        guard lineEnd - position <= maxControlLine else { return .failure("a line longer than \(maxControlLine) bytes") }
        let contentEnd = lineEnd > position && bytes[lineEnd - 1] == Byte.cr ? lineEnd - 1 : lineEnd
        let next = lineEnd + 1
        var fields = FieldScanner(bytes: bytes, position: position, end: contentEnd)
        guard let verb = fields.next() else { return .failure("a blank line") }
        switch word(bytes, verb) {
        case "PING": return .op(.ping, next: next)
        case "PONG": return .op(.pong, next: next)
        case "INFO", "CONNECT":
            guard let json = fields.rest() else { return .failure("\(word(bytes, verb)) without its JSON") }
            return .op(word(bytes, verb) == "INFO" ? .info(json: json) : .connect(json: json), next: next)
        case "-ERR":
            return .op(.error(text: fields.rest() ?? contentEnd..<contentEnd), next: next)
        case "RS+", "RS-":
            guard let account = fields.next(), let subject = fields.next() else { return .failure("RS+/RS- needs an account and a subject") }
            let queue = fields.next()
            guard fields.next() == nil else { return .failure("RS+/RS- takes at most a queue after its subject") }
            return .op(.interest(added: bytes[verb.lowerBound + 2] == UInt8(ascii: "+"), account: account, subject: subject, queue: queue), next: next)
        case "RMSG", "HMSG":
            let headed = bytes[verb.lowerBound] == UInt8(ascii: "H")
            guard let account = fields.next(), let subject = fields.next() else { return .failure("\(word(bytes, verb)) needs an account and a subject") }
            var reply: Range<Int>?
            var queue: Range<Int>?
            var sizes: [Range<Int>] = []
            while let field = fields.next() {
                if field.count == 1 && (bytes[field.lowerBound] == UInt8(ascii: "+") || bytes[field.lowerBound] == UInt8(ascii: "|")) {
                    guard sizes.isEmpty, let value = fields.next() else { return .failure("a message's + or | without its value") }
                    if bytes[field.lowerBound] == UInt8(ascii: "+") { reply = value } else { queue = value }
                } else {
                    sizes.append(field)
                }
            }
            guard sizes.count == (headed ? 2 : 1), let total = decimal(bytes, sizes[sizes.count - 1]) else {
                return .failure("\(word(bytes, verb)) with bad sizes")
            }
            var headerCount: Int?
            if headed {
                guard let count = decimal(bytes, sizes[0]), count <= total else { return .failure("HMSG with bad sizes") }
                headerCount = count
            }
            guard total <= maxPayload else { return .failure("a message of \(total) bytes, over \(maxPayload)") }
            guard bytes.count - next >= total + 2 else { return .incomplete }
            guard bytes[next + total] == Byte.cr, bytes[next + total + 1] == Byte.lf else { return .failure("a message not followed by CRLF") }
            if let headerCount, !isHeaderBlock(UnsafeRawBufferPointer(rebasing: bytes[next..<next + headerCount])) {
                return .failure("HMSG whose \(headerCount) header bytes are not a NATS/1.0 header block")
            }
            return .op(
                .message(account: account, subject: subject, reply: reply, queue: queue, headerCount: headerCount, message: next..<next + total),
                next: next + total + 2)
        default:
            return .failure("unknown operation '\(word(bytes, verb))'")
        }
    }

    /// Whether `block` is a whole header block as a node sends one: `NATS/1.0` (a status may
    /// follow after a space) through the empty line that ends it. Anything else is a peer
    /// whose header size lies, or that sends what no NATS client could read as headers.
    public static func isHeaderBlock(_ block: UnsafeRawBufferPointer) -> Bool {
        let count = block.count
        // "NATS/1.0\r\n\r\n" is the shortest.
        guard count >= 12 else { return false }
        return block[0] == UInt8(ascii: "N") && block[1] == UInt8(ascii: "A") && block[2] == UInt8(ascii: "T")
            && block[3] == UInt8(ascii: "S") && block[4] == UInt8(ascii: "/") && block[5] == UInt8(ascii: "1")
            && block[6] == UInt8(ascii: ".") && block[7] == UInt8(ascii: "0")
            && (block[8] == Byte.cr || block[8] == Byte.space)
            && block[count - 4] == Byte.cr && block[count - 3] == Byte.lf && block[count - 2] == Byte.cr && block[count - 1] == Byte.lf
    }

    private static func word(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range.prefix(16)]), as: UTF8.self)
    }

    private static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 12 else { return nil }
        var value = 0
        for index in range {
            let digit = Int(bytes[index]) - 48
            guard (0...9).contains(digit) else { return nil }
            value = value * 10 + digit
        }
        return value
    }
}

extension ByteBuffer {
    /// `RS+ <account> <subject> [<queue>]` or `RS-`.
    public func appendRouteInterest(added: Bool, account: [UInt8], subject: [UInt8], queue: [UInt8]?) {
        append(added ? "RS+ " : "RS- ")
        append(account)
        append(Byte.space)
        append(subject)
        if let queue {
            append(Byte.space)
            append(queue)
        }
        append("\r\n")
    }

    /// `RMSG` (or `HMSG` with `headerCount`) for a peer's plain subscriptions, or for one member
    /// of `queue` there.
    public func appendRouteMessage(
        account: UnsafeRawBufferPointer, subject: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer?, queue: [UInt8]?,
        headerCount: Int?, message: UnsafeRawBufferPointer
    ) {
        ensureWritable(account.count + subject.count + (reply?.count ?? 0) + (queue?.count ?? 0) + message.count + 48)
        append(headerCount == nil ? "RMSG " : "HMSG ")
        append(account)
        append(Byte.space)
        append(subject)
        if let reply {
            append(" + ")
            append(reply)
        }
        if let queue {
            append(" | ")
            append(queue)
        }
        append(Byte.space)
        appendSizedMessage(headerCount: headerCount, message: message)
    }
}
