#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What docketd reads from the NATS server it is a client of (`--cluster-nats`), as ranges
/// into the bytes parsed: no copy until a message is delivered.
public enum UpstreamOp: Equatable, Sendable {
    /// `INFO {json}`: the range of the JSON.
    case info(Range<Int>)
    /// `MSG` or `HMSG`: `headerCount` is nil for MSG; `message` holds headers and payload.
    case message(subject: Range<Int>, sid: Int, reply: Range<Int>?, headerCount: Int?, message: Range<Int>)
    case ping
    case pong
    case ok
    /// `-ERR '<text>'`: the text's range, quotes not included.
    case err(Range<Int>)
}

/// One step of `UpstreamParser.parse`.
public enum UpstreamParse: Equatable, Sendable {
    /// A complete op; the next one starts at `next`.
    case op(UpstreamOp, next: Int)
    /// Not complete yet: read more and parse again from the same start.
    case incomplete
    /// The bytes break the protocol; the connection must be dropped.
    case failure(String)
}

/// Frames what a NATS server sends to a client. Stateless, like `ClientParser`: given bytes
/// that start at an op boundary it returns one op, or says it needs more, or fails. A message
/// announcing more than `maxMessage` bytes fails at once, before any of it is buffered.
public enum UpstreamParser {
    /// NATS's own ceiling for `max_payload`.
    public static let defaultMaxMessage = 64 << 20

    public static func parse(
        _ bytes: UnsafeRawBufferPointer, from start: Int, maxLine: Int = 64 * 1024, maxMessage: Int = defaultMaxMessage
    ) -> UpstreamParse {
        let available = bytes.count - start
        guard available > 0, let base = bytes.baseAddress else { return .incomplete }
        guard let hit = memchr(base + start, Int32(Byte.lf), min(available, maxLine + 2)) else {
            return available >= maxLine + 2 ? .failure("a line longer than \(maxLine) bytes") : .incomplete
        }
        let newline = base.distance(to: UnsafeRawPointer(hit))
        guard newline > start, bytes[newline - 1] == Byte.cr else { return .failure("a line not ended by CRLF") }
        let lineEnd = newline - 1
        var scanner = FieldScanner(bytes: bytes, position: start, end: lineEnd)
        guard let name = scanner.next() else { return .failure("an empty line") }
        let next = newline + 1

        func named(_ word: StaticString) -> Bool {
            guard name.count == word.utf8CodeUnitCount else { return false }
            for offset in 0..<name.count where bytes[name.lowerBound + offset] | 0x20 != word.utf8Start[offset] | 0x20 {
                return false
            }
            return true
        }

        if named("MSG") || named("HMSG") {
            let withHeaders = named("HMSG")
            var fields: [Range<Int>] = []
            while let field = scanner.next() {
                guard fields.count < 5 else { return .failure("too many fields in a message line") }
                fields.append(field)
            }
            let sizes = withHeaders ? 2 : 1
            guard fields.count == 2 + sizes || fields.count == 3 + sizes,
                let sid = ClientParser.parseCount(bytes, fields[1]),
                let total = ClientParser.parseCount(bytes, fields[fields.count - 1])
            else { return .failure("a message line that cannot be read") }
            var headerCount: Int?
            if withHeaders {
                guard let count = ClientParser.parseCount(bytes, fields[fields.count - 2]), count <= total else {
                    return .failure("a header size that cannot be read")
                }
                headerCount = count
            }
            guard total <= maxMessage else { return .failure("a message of \(total) bytes, over \(maxMessage)") }
            let reply = fields.count == 3 + sizes ? fields[2] : nil
            guard bytes.count - next >= total + 2 else { return .incomplete }
            guard bytes[next + total] == Byte.cr, bytes[next + total + 1] == Byte.lf else {
                return .failure("a message not followed by CRLF")
            }
            return .op(.message(subject: fields[0], sid: sid, reply: reply, headerCount: headerCount, message: next..<(next + total)), next: next + total + 2)
        }
        if named("PING") { return .op(.ping, next: next) }
        if named("PONG") { return .op(.pong, next: next) }
        if named("+OK") { return .op(.ok, next: next) }
        if named("INFO") {
            guard let json = scanner.rest() else { return .failure("INFO without a document") }
            return .op(.info(json), next: next)
        }
        if named("-ERR") {
            guard var text = scanner.rest() else { return .op(.err(lineEnd..<lineEnd), next: next) }
            if text.count >= 2, bytes[text.lowerBound] == 0x27, bytes[text.upperBound - 1] == 0x27 {
                text = (text.lowerBound + 1)..<(text.upperBound - 1)
            }
            return .op(.err(text), next: next)
        }
        return .failure("an unknown operation")
    }
}

/// Encoders for what docketd sends as a client of a NATS server.
extension ByteBuffer {
    /// `PUB <subject> [reply] <#bytes>\r\n<payload>\r\n`, or HPUB when the message has headers.
    public func appendPublish(
        subject: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer?, headerCount: Int?, message: UnsafeRawBufferPointer
    ) {
        ensureWritable(subject.count + (reply?.count ?? 0) + message.count + 40)
        append(headerCount == nil ? "PUB " : "HPUB ")
        append(subject)
        append(Byte.space)
        if let reply {
            append(reply)
            append(Byte.space)
        }
        appendSizedMessage(headerCount: headerCount, message: message)
    }

    /// The end of a (headed) message line and its body: `[<#header bytes> ]<#total bytes>\r\n<message>\r\n`.
    @inlinable public func appendSizedMessage(headerCount: Int?, message: UnsafeRawBufferPointer) {
        if let headerCount {
            appendDecimal(headerCount)
            append(Byte.space)
        }
        appendDecimal(message.count)
        append("\r\n")
        append(message)
        append("\r\n")
    }

    /// `SUB <subject> [queue] <sid>\r\n`.
    public func appendSubscribe(subject: [UInt8], queue: [UInt8]?, sid: Int) {
        append("SUB ")
        append(subject)
        append(Byte.space)
        if let queue {
            append(queue)
            append(Byte.space)
        }
        appendDecimal(sid)
        append("\r\n")
    }

    /// `UNSUB <sid>\r\n`.
    public func appendUnsubscribe(sid: Int) {
        append("UNSUB ")
        appendDecimal(sid)
        append("\r\n")
    }
}
