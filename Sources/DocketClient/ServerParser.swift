#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DocketWire

/// One complete operation the server sent.
enum ServerOp: Sendable, Equatable {
    case info(JSONValue)
    case message(Message)
    case ping
    case pong
    /// `+OK` and whatever follows it on the line (empty for a plain `+OK`).
    case ok(String)
    /// `-ERR '<text>'`: the text without quotes.
    case err(String)
    case job(Job)
    case noJob
    case json([UInt8])
    case help([UInt8])
    case outcome(id: UInt64, completed: Bool, detail: [UInt8])
    case pending(id: UInt64, state: String)
}

/// What `ServerParser.parse` found at the start of the bytes it was given.
enum ServerParse: Equatable {
    /// A complete op; the next one starts at `next`.
    case op(ServerOp, next: Int)
    /// Not complete yet: read more and parse again from the same start.
    case incomplete
    /// The bytes break the protocol: the framing can no longer be trusted.
    case failure(String)
}

/// Frames and parses what the server sends, straight from the input buffer.
///
/// Stateless, like the server's own `ClientParser`: given bytes that start at an operation
/// boundary it returns one op, says it is incomplete, or reports a protocol error, so an op
/// split across reads is parsed again once more bytes arrive. Line ends are found with
/// `memchr` and payloads are taken by their announced size, never scanned.
enum ServerParser {
    /// The longest control line accepted (INFO is the longest the server sends).
    static let maxLine = 64 * 1024

    /// The largest payload accepted when the server's `max_payload` does not allow more (see
    /// `maxFrame(maxPayload:)`). A size is a promise of bytes still to come, buffered until they
    /// do: without a bound, a broken or hostile server could make the client hold gigabytes.
    static let defaultMaxFrame = 64 << 20

    /// The payload bound for a server announcing `maxPayload`: twice it, and never under
    /// `defaultMaxFrame`, so that JSON listings (which may exceed one message's bound) and a
    /// cluster peer's larger messages still pass.
    static func maxFrame(maxPayload: Int) -> Int {
        let (doubled, overflow) = maxPayload.multipliedReportingOverflow(by: 2)
        return overflow ? Int.max : max(doubled, defaultMaxFrame)
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int, maxFrame: Int = defaultMaxFrame) -> ServerParse {
        let available = bytes.count - start
        guard available > 0, let base = bytes.baseAddress else { return .incomplete }
        let window = min(available, maxLine + 2)
        guard let hit = memchr(base + start, 0x0A, window) else {
            return available >= maxLine + 2 ? .failure("a control line longer than \(maxLine) bytes") : .incomplete
        }
        let newline = base.distance(to: UnsafeRawPointer(hit))
        guard newline > start, bytes[newline - 1] == 13 else {
            return .failure("a line not ended by CRLF: \(snippet(bytes, start..<newline))")
        }
        let lineEnd = newline - 1
        let afterLine = newline + 1
        var scanner = FieldScanner(bytes: bytes, position: start, end: lineEnd)
        guard let name = scanner.next() else { return .failure("an empty line") }

        switch opName(bytes, name) {
        case "MSG":
            var fields: [Range<Int>] = []
            while let field = scanner.next() { fields.append(field) }
            guard fields.count == 3 || fields.count == 4 else {
                return .failure("MSG needs <subject> <sid> [reply-to] <#bytes>: \(snippet(bytes, start..<lineEnd))")
            }
            guard let size = number(bytes, fields[fields.count - 1], maxDigits: 10) else {
                return .failure("MSG size is not a number: \(snippet(bytes, start..<lineEnd))")
            }
            return payload(bytes, afterLine, size, maxFrame) { body in
                .message(
                    Message(
                        subject: text(bytes, fields[0]), sid: text(bytes, fields[1]),
                        reply: fields.count == 4 ? text(bytes, fields[2]) : nil, payload: Array(bytes[body])))
            }
        case "HMSG":
            var fields: [Range<Int>] = []
            while let field = scanner.next() { fields.append(field) }
            guard fields.count == 4 || fields.count == 5 else {
                return .failure("HMSG needs <subject> <sid> [reply-to] <#header bytes> <#total bytes>")
            }
            guard let headerSize = number(bytes, fields[fields.count - 2], maxDigits: 10),
                let total = number(bytes, fields[fields.count - 1], maxDigits: 10)
            else { return .failure("HMSG sizes are not numbers: \(snippet(bytes, start..<lineEnd))") }
            guard headerSize <= total else { return .failure("HMSG header size \(headerSize) is above its total size \(total)") }
            guard case .success(let body) = framePayload(bytes, afterLine, total, maxFrame) else {
                return framePayload(bytes, afterLine, total, maxFrame).failureOrIncomplete
            }
            let headerRange = body.lowerBound..<(body.lowerBound + headerSize)
            // The block is the publisher's, passed on as is (nats-server does the same): one
            // that is not NATS/1.0 header lines is that message's fault, not the connection's,
            // and cutting the connection would let any peer cut every subscriber's. The message
            // comes without headers.
            let (headers, status, description) = parseHeaderBlock(bytes, headerRange) ?? ([], nil, nil)
            let message = Message(
                subject: text(bytes, fields[0]), sid: text(bytes, fields[1]),
                reply: fields.count == 5 ? text(bytes, fields[2]) : nil, headers: headers, status: status,
                statusDescription: description, payload: Array(bytes[headerRange.upperBound..<body.upperBound]))
            return .op(.message(message), next: body.upperBound + 2)
        case "PING":
            guard scanner.next() == nil else { return .failure("PING takes no arguments") }
            return .op(.ping, next: afterLine)
        case "PONG":
            guard scanner.next() == nil else { return .failure("PONG takes no arguments") }
            return .op(.pong, next: afterLine)
        case "+OK":
            let rest = scanner.rest().map { text(bytes, $0) } ?? ""
            return .op(.ok(rest), next: afterLine)
        case "-ERR":
            guard let rest = scanner.rest(), rest.count >= 2, bytes[rest.lowerBound] == 0x27, bytes[rest.upperBound - 1] == 0x27
            else { return .failure("-ERR text is not in single quotes: \(snippet(bytes, start..<lineEnd))") }
            return .op(.err(text(bytes, (rest.lowerBound + 1)..<(rest.upperBound - 1))), next: afterLine)
        case "INFO":
            guard let rest = scanner.rest(), let json = JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[rest])),
                case .object = json
            else { return .failure("INFO does not carry a JSON object") }
            return .op(.info(json), next: afterLine)
        case "JOB":
            var fields: [Range<Int>] = []
            while let field = scanner.next() { fields.append(field) }
            guard fields.count >= 4 else { return .failure("JOB needs <job-id> <queue> <attempt> [name=value ...] <#bytes>") }
            guard let id = jobID(bytes, fields[0]) else { return .failure("JOB id is not a job id") }
            guard let attempt = number(bytes, fields[2], maxDigits: 10) else { return .failure("JOB attempt is not a number") }
            guard let size = number(bytes, fields[fields.count - 1], maxDigits: 10) else { return .failure("JOB size is not a number") }
            // Fields between the attempt and the size are name=value; unknown names are a
            // later server's additions and are skipped.
            var lease: Int? = nil
            var delivery: UInt64? = nil
            for field in fields[3..<(fields.count - 1)] {
                guard let equals = field.first(where: { bytes[$0] == UInt8(ascii: "=") }), equals > field.lowerBound else {
                    return .failure("JOB field is not name=value: \(text(bytes, field))")
                }
                let value = (equals + 1)..<field.upperBound
                switch text(bytes, field.lowerBound..<equals) {
                case "lease":
                    guard let parsed = number(bytes, value, maxDigits: 10) else { return .failure("JOB lease is not a number") }
                    lease = parsed
                case "delivery":
                    guard let parsed = jobID(bytes, value) else { return .failure("JOB delivery is not a number") }
                    delivery = parsed
                default:
                    continue
                }
            }
            let queue = text(bytes, fields[1])
            return payload(bytes, afterLine, size, maxFrame) { body in
                .job(Job(id: id, queue: queue, attempt: attempt, payload: Array(bytes[body]), leaseMilliseconds: lease, delivery: delivery))
            }
        case "NOJOB":
            guard scanner.next() == nil else { return .failure("NOJOB takes no arguments") }
            return .op(.noJob, next: afterLine)
        case "JSON", "HELP":
            let word = opName(bytes, name)
            guard let field = scanner.next(), scanner.next() == nil, let size = number(bytes, field, maxDigits: 10) else {
                return .failure("\(word) needs <#bytes>")
            }
            return payload(bytes, afterLine, size, maxFrame) { body in word == "JSON" ? .json(Array(bytes[body])) : .help(Array(bytes[body])) }
        case "OUTCOME":
            var fields: [Range<Int>] = []
            while let field = scanner.next() { fields.append(field) }
            guard fields.count == 3, let id = jobID(bytes, fields[0]) else {
                return .failure("OUTCOME needs <job-id> completed|dead <#bytes>")
            }
            let state = text(bytes, fields[1])
            guard state == "completed" || state == "dead" else { return .failure("OUTCOME state \(state) is not completed or dead") }
            guard let size = number(bytes, fields[2], maxDigits: 10) else { return .failure("OUTCOME size is not a number") }
            return payload(bytes, afterLine, size, maxFrame) { body in
                .outcome(id: id, completed: state == "completed", detail: Array(bytes[body]))
            }
        case "PENDING":
            guard let idField = scanner.next(), let id = jobID(bytes, idField), let state = scanner.next(), scanner.next() == nil else {
                return .failure("PENDING needs <job-id> <state>")
            }
            // Any lower-case word ([a-z][a-z_]*): a later server may add job states.
            guard (0x61...0x7A).contains(bytes[state.lowerBound]),
                state.allSatisfy({ (0x61...0x7A).contains(bytes[$0]) || bytes[$0] == UInt8(ascii: "_") })
            else { return .failure("PENDING state is not a lower-case word: \(snippet(bytes, state))") }
            return .op(.pending(id: id, state: text(bytes, state)), next: afterLine)
        default:
            return .failure("unknown operation \(snippet(bytes, name))")
        }
    }

    // MARK: Pieces

    private enum Framed {
        case success(Range<Int>)
        case incomplete
        case failure(String)

        var failureOrIncomplete: ServerParse {
            switch self {
            case .failure(let why): return .failure(why)
            default: return .incomplete
            }
        }
    }

    /// The payload's range, once it and its CRLF have arrived.
    private static func framePayload(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ size: Int, _ limit: Int) -> Framed {
        guard size <= limit else { return .failure("a payload of \(size) bytes, above the \(limit) this client accepts") }
        let end = start + size
        guard bytes.count >= end + 2 else { return .incomplete }
        guard bytes[end] == 13, bytes[end + 1] == 10 else { return .failure("a payload not followed by CRLF") }
        return .success(start..<end)
    }

    private static func payload(
        _ bytes: UnsafeRawBufferPointer, _ start: Int, _ size: Int, _ limit: Int, _ make: (Range<Int>) -> ServerOp
    ) -> ServerParse {
        switch framePayload(bytes, start, size, limit) {
        case .success(let range): return .op(make(range), next: range.upperBound + 2)
        case .incomplete: return .incomplete
        case .failure(let why): return .failure(why)
        }
    }

    /// `NATS/1.0[ <status>[ <description>]]\r\n(<Name>: <Value>\r\n)*\r\n`.
    static func parseHeaderBlock(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> ([Header], Int?, String?)? {
        let version = Array("NATS/1.0".utf8)
        guard range.count >= version.count + 4 else { return nil }
        for (offset, byte) in version.enumerated() where bytes[range.lowerBound + offset] != byte { return nil }
        guard bytes[range.upperBound - 4] == 13, bytes[range.upperBound - 3] == 10, bytes[range.upperBound - 2] == 13,
            bytes[range.upperBound - 1] == 10
        else { return nil }
        // Lines up to the final empty one.
        var lines: [Range<Int>] = []
        var position = range.lowerBound
        let end = range.upperBound - 2
        while position < end {
            var cursor = position
            while cursor + 1 < end + 2, !(bytes[cursor] == 13 && bytes[cursor + 1] == 10) { cursor += 1 }
            guard cursor < end else { return nil }
            lines.append(position..<cursor)
            position = cursor + 2
        }
        guard let first = lines.first else { return nil }
        // The status line.
        var status: Int? = nil
        var description: String? = nil
        let statusText = text(bytes, (first.lowerBound + version.count)..<first.upperBound)
        if !statusText.isEmpty {
            guard statusText.first == " " || statusText.first == "\t" else { return nil }
            let trimmed = statusText.drop { $0 == " " || $0 == "\t" }
            let code = trimmed.prefix { $0.isASCII && $0.isNumber }
            guard code.count == 3, let value = Int(code) else { return nil }
            status = value
            let rest = trimmed.dropFirst(code.count).drop { $0 == " " || $0 == "\t" }
            description = rest.isEmpty ? nil : String(rest)
        }
        var headers: [Header] = []
        for line in lines.dropFirst() {
            guard let colon = line.first(where: { bytes[$0] == UInt8(ascii: ":") }), colon > line.lowerBound else { return nil }
            var valueStart = colon + 1
            while valueStart < line.upperBound, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
            headers.append(Header(text(bytes, line.lowerBound..<colon), text(bytes, valueStart..<line.upperBound)))
        }
        return (headers, status, description)
    }

    private static func opName(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        guard range.count <= 8 else { return "" }
        return text(bytes, range).uppercased()
    }

    static func text(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// An unsigned decimal of at most `maxDigits` digits.
    static func number(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, maxDigits: Int) -> Int? {
        guard !range.isEmpty, range.count <= maxDigits else { return nil }
        var value = 0
        for index in range {
            let digit = bytes[index] &- 48
            guard digit <= 9 else { return nil }
            value = value * 10 + Int(digit)
        }
        return value
    }

    static func jobID(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64? {
        guard !range.isEmpty, range.count <= 19 else { return nil }
        var value: UInt64 = 0
        for index in range {
            let digit = bytes[index] &- 48
            guard digit <= 9 else { return nil }
            value = value * 10 + UInt64(digit)
        }
        return value > 0 ? value : nil
    }

    /// At most 64 bytes, non-printable ones as `\xHH`, for error messages.
    static func snippet(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        var out = ""
        for index in range.prefix(64) {
            let byte = bytes[index]
            if byte >= 0x20 && byte < 0x7F {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "\\x" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return range.count > 64 ? out + "…" : out
    }
}
