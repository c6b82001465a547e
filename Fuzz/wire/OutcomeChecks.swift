import DocketWire

/// Properties of one `ClientParser.parse` outcome, checked against the bytes it came from.
///
/// These restate, independently of the parser's code, what `ClientOp` and `ParseOutcome`
/// promise: ranges are whole fields of the control line, in order; a payload follows the line
/// and is followed by CRLF or a bare LF; `next` moves forward; no line is longer than the limit and no
/// payload larger; and a command that is still incomplete fits in `maxCommandSize` bytes.
enum OutcomeChecks {
    static func check(
        _ outcome: ParseOutcome, _ bytes: UnsafeRawBufferPointer, from start: Int, limits: ParseLimits, deep: Bool
    ) {
        switch outcome {
        case .incomplete:
            // The server sizes input buffers by this: one that holds maxCommandSize bytes
            // never needs to grow to complete a command.
            let available = bytes.count - start
            if available >= limits.maxCommandSize {
                violation("incomplete with \(available) bytes available, maxCommandSize is \(limits.maxCommandSize)")
            }
        case .failure:
            break
        case .skip(let next):
            let line = controlLine(bytes, start, afterLine: next, limits)
            if line.contains(where: { !isBlank(bytes[$0]) }) {
                violation("skip over a line that is not blank: \(snippet(bytes, start..<next))")
            }
        case .op(let op, let next):
            guard next > start, next <= bytes.count else {
                violation("next \(next) does not advance from \(start) within \(bytes.count) bytes")
            }
            let payload = op.payload
            let afterLine = payload?.lowerBound ?? next
            let line = controlLine(bytes, start, afterLine: afterLine, limits)
            let verbEnd = checkVerb(op, bytes, line)
            var previous = verbEnd
            for field in op.fields {
                checkField(field, bytes, line, after: previous, op)
                previous = field.upperBound
            }
            if let payload {
                guard payload.count <= limits.maxPayload else {
                    violation("payload of \(payload.count) bytes over maxPayload \(limits.maxPayload) in \(op)")
                }
                // CRLF, or a bare LF as after a control line (PROTOCOL.md).
                let crlf = payload.upperBound + 2 == next && bytes[payload.upperBound] == Byte.cr
                    && bytes[payload.upperBound + 1] == Byte.lf
                let lf = payload.upperBound + 1 == next && bytes[payload.upperBound] == Byte.lf
                if !crlf && !lf { violation("payload \(payload) not followed by CRLF or LF ending at next \(next)") }
            }
            checkOp(op, bytes, line, verbEnd: verbEnd, deep: deep)
        }
    }

    /// The control line that starts at `start` and whose LF is the byte before `afterLine`,
    /// without its line ending; checks its length against the limit.
    private static func controlLine(
        _ bytes: UnsafeRawBufferPointer, _ start: Int, afterLine: Int, _ limits: ParseLimits
    ) -> Range<Int> {
        guard afterLine > start, afterLine <= bytes.count, bytes[afterLine - 1] == Byte.lf else {
            violation("control line from \(start) does not end with LF before \(afterLine)")
        }
        if bytes[start..<(afterLine - 1)].contains(Byte.lf) {
            violation("control line from \(start) to \(afterLine) holds more than one LF")
        }
        var end = afterLine - 1
        if end > start, bytes[end - 1] == Byte.cr { end -= 1 }
        if end - start > limits.maxControlLine {
            violation("control line of \(end - start) bytes over maxControlLine \(limits.maxControlLine)")
        }
        return start..<end
    }

    /// The op's kind must be the line's first field, read case-insensitively (PING and PONG:
    /// its first four letters, as nats-server reads them). Returns where that field ends.
    private static func checkVerb(_ op: ClientOp, _ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) -> Int {
        var scanner = FieldScanner(bytes: bytes, position: line.lowerBound, end: line.upperBound)
        guard let first = scanner.next() else { violation("op \(op) from a blank line") }
        let upper = bytes[first].map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
        let keepAlive = ["PING", "PONG"].map { Array($0.utf8) }
        let startsAKeepAlive = keepAlive.contains { upper.starts(with: $0) }
        if startsAKeepAlive != keepAlive.contains(Array(op.verbName.utf8)) || (!startsAKeepAlive && upper != Array(op.verbName.utf8))
            || (startsAKeepAlive && !upper.starts(with: Array(op.verbName.utf8)))
        {
            violation("line starting \(snippet(bytes, first)) parsed as \(op.verbName)")
        }
        return first.upperBound
    }

    /// A field must be a whole, non-empty field of the control line, after the verb and the
    /// previous field.
    private static func checkField(
        _ field: Range<Int>, _ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, after previous: Int, _ op: ClientOp
    ) {
        guard !field.isEmpty, field.lowerBound > previous, field.upperBound <= line.upperBound else {
            violation("field \(field) of \(op) is empty, out of order or outside line \(line)")
        }
        guard isBlank(bytes[field.lowerBound - 1]), field.upperBound == line.upperBound || isBlank(bytes[field.upperBound]),
            !bytes[field].contains(where: isBlank)
        else { violation("field \(field) of \(op) is not a whole field: \(snippet(bytes, line))") }
    }

    private static func checkOp(
        _ op: ClientOp, _ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, verbEnd: Int, deep: Bool
    ) {
        switch op {
        case .hpub(_, _, let headerCount, let message):
            if headerCount < 0 || headerCount > message.count {
                violation("HPUB header count \(headerCount) outside its \(message.count)-byte message")
            }
        case .unsub(_, let max):
            if let max, max < 0 { violation("UNSUB with negative max \(max)") }
        case .pub(let subject, let reply, _):
            if deep { SubjectChecks.check(bytes, subject); reply.map { SubjectChecks.check(bytes, $0) } }
        case .sub(let subject, _, _):
            if deep { SubjectChecks.check(bytes, subject) }
        case .connect(let json):
            guard !json.isEmpty, json.lowerBound > verbEnd, json.upperBound <= line.upperBound,
                !isBlank(bytes[json.lowerBound]), !isBlank(bytes[json.upperBound - 1]), isBlank(bytes[json.lowerBound - 1])
            else { violation("CONNECT JSON \(json) is not the trimmed rest of line \(line)") }
            if deep { JSONChecks.check(UnsafeRawBufferPointer(rebasing: bytes[json])) }
        case .job(let verb, let arguments, let payload):
            // PROTOCOL.md: only ENQ, ACK, FAIL, PROGRESS and SCHEDULE end with a byte count.
            if payload != nil, ![.enq, .ack, .fail, .progress, .schedule].contains(verb) {
                violation("\(verb.name) never carries a payload, yet one was framed")
            }
            if arguments.isEmpty {
                guard arguments.lowerBound >= line.lowerBound, arguments.upperBound <= bytes.count else {
                    violation("empty \(verb.name) arguments \(arguments) outside the buffer")
                }
            } else {
                guard arguments.lowerBound > verbEnd, arguments.upperBound <= line.upperBound,
                    isBlank(bytes[arguments.lowerBound - 1]), !isBlank(bytes[arguments.lowerBound]),
                    !isBlank(bytes[arguments.upperBound - 1])
                else { violation("\(verb.name) arguments \(arguments) are not trimmed fields of line \(line)") }
            }
            if deep { JobCommandChecks.check(verb, bytes, arguments) }
        case .ping, .pong, .help:
            break
        }
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == Byte.space || byte == Byte.tab }

    /// Up to 80 bytes of `range`, escaped, for messages.
    static func snippet(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        let shown = bytes[range.prefix(80)]
        return String(decoding: shown, as: UTF8.self).debugDescription + (range.count > 80 ? "…" : "")
    }
}

extension ClientOp {
    /// The verb that produces this op, upper case.
    var verbName: String {
        switch self {
        case .connect: return "CONNECT"
        case .ping: return "PING"
        case .pong: return "PONG"
        case .pub: return "PUB"
        case .hpub: return "HPUB"
        case .sub: return "SUB"
        case .unsub: return "UNSUB"
        case .help: return "HELP"
        case .job(let verb, _, _): return verb.name
        }
    }

    /// The op's single-field ranges, in the order they appear on the control line.
    var fields: [Range<Int>] {
        switch self {
        case .pub(let subject, let reply, _), .hpub(let subject, let reply, _, _):
            return [subject] + (reply.map { [$0] } ?? [])
        case .sub(let subject, let queue, let sid): return [subject] + (queue.map { [$0] } ?? []) + [sid]
        case .unsub(let sid, _): return [sid]
        case .connect, .ping, .pong, .help, .job: return []
        }
    }

    /// The payload (for HPUB, headers and payload) that follows the control line, if any.
    var payload: Range<Int>? {
        switch self {
        case .pub(_, _, let payload): return payload
        case .hpub(_, _, _, let message): return message
        case .job(_, _, let payload): return payload
        case .connect, .ping, .pong, .help, .sub, .unsub: return nil
        }
    }
}

/// A subject a client can publish to is one it can subscribe to.
enum SubjectChecks {
    static func check(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        let subject = UnsafeRawBufferPointer(rebasing: bytes[range])
        if Subject.isValidLiteral(subject) && !Subject.isValidFilter(subject) {
            violation("subject \(OutcomeChecks.snippet(bytes, range)) is a valid literal but not a valid filter")
        }
    }
}

/// CONNECT's JSON: parsing never crashes, and every string it holds survives the server's own
/// encoder (`JSONObjectWriter.quote`) and the parser again unchanged.
enum JSONChecks {
    static func check(_ json: UnsafeRawBufferPointer) {
        guard let value = JSONValue.parse(json) else { return }
        walk(value)
    }

    private static func walk(_ value: JSONValue) {
        switch value {
        case .string(let text):
            roundTrip(text)
        case .array(let elements):
            for element in elements { walk(element) }
        case .object(let members):
            for (key, member) in members {
                roundTrip(key)
                walk(member)
            }
        case .null, .bool, .number:
            break
        }
    }

    private static func roundTrip(_ text: String) {
        let quoted = JSONObjectWriter.quote(text)
        if JSONValue.parse(quoted) != .string(text) {
            violation("JSON string \(text.debugDescription) quoted as \(quoted) does not parse back")
        }
    }
}
