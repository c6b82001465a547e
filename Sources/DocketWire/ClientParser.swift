#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Frames and parses client commands straight from an input buffer.
///
/// The parser is pure and stateless: given bytes that start at a command boundary it returns
/// one op (as ranges into those bytes), says the command is not complete yet, or reports a
/// protocol error. Because it keeps no state, a command split across reads is simply parsed
/// again once more bytes arrive; the caller keeps the unconsumed tail contiguous. Line ends are
/// found with `memchr`, and a payload is skipped by its announced length, never scanned.
public enum ClientParser {
    /// Parses the command starting at `start` in `bytes`.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, from start: Int, limits: ParseLimits
    ) -> ParseOutcome {
        let available = bytes.count - start
        guard available > 0, let base = bytes.baseAddress else { return .incomplete }

        // A control line may be at most maxControlLine bytes plus "\r\n", so the newline, if
        // the line is legal, lies within the first maxControlLine + 2 bytes.
        let window = min(available, limits.maxControlLine + 2)
        guard let hit = memchr(base + start, 0x0A, window) else {
            return available >= limits.maxControlLine + 2
                ? .failure(ProtocolError(.maxControlLine)) : .incomplete
        }
        let newline = base.distance(to: UnsafeRawPointer(hit))
        var lineEnd = newline
        if lineEnd > start && bytes[lineEnd - 1] == Byte.cr { lineEnd -= 1 }
        if lineEnd - start > limits.maxControlLine { return .failure(ProtocolError(.maxControlLine)) }
        let afterLine = newline + 1

        var scanner = FieldScanner(bytes: bytes, position: start, end: lineEnd)
        guard let name = scanner.next() else { return .skip(next: afterLine) }
        // nats-server reads a line that starts with PING or PONG as that op and skips the rest
        // of it ("PING x", "PING\r\r\n"); a stray byte in a keep-alive should not cost a client its
        // connection here either.
        if let keepAlive = KeepAlive(bytes, name) { return .op(keepAlive.op, next: afterLine) }

        switch Verb(bytes, name) {
        case .pub: return parsePub(bytes, &scanner, afterLine, limits)
        case .hpub: return parseHpub(bytes, &scanner, afterLine, limits)
        case .sub: return parseSub(&scanner, afterLine)
        case .unsub: return parseUnsub(bytes, &scanner, afterLine)
        case .help: return noArguments(.help, &scanner, afterLine, "HELP")
        case .job(let verb):
            return parseJob(verb, bytes, &scanner, afterLine, limits)
        case .connect:
            guard let json = scanner.rest() else {
                return invalid("CONNECT needs a JSON object")
            }
            return .op(.connect(json: json), next: afterLine)
        case nil:
            return .failure(ProtocolError(.unknownOperation))
        }
    }

    // MARK: Verbs

    private static func parsePub(
        _ bytes: UnsafeRawBufferPointer, _ scanner: inout FieldScanner, _ afterLine: Int,
        _ limits: ParseLimits
    ) -> ParseOutcome {
        var fields = FieldList()
        guard scanner.collect(into: &fields, max: 3), fields.count >= 2 else {
            return invalid("PUB needs <subject> [reply-to] <#bytes>")
        }
        guard let size = parseCount(bytes, fields[fields.count - 1]) else {
            return invalid("PUB byte count must be a non-negative number")
        }
        if size > limits.maxPayload { return .failure(ProtocolError(.maxPayload)) }
        return payload(bytes, afterLine, size) { range in
            .pub(subject: fields[0], reply: fields.count == 3 ? fields[1] : nil, payload: range)
        }
    }

    private static func parseHpub(
        _ bytes: UnsafeRawBufferPointer, _ scanner: inout FieldScanner, _ afterLine: Int,
        _ limits: ParseLimits
    ) -> ParseOutcome {
        var fields = FieldList()
        guard scanner.collect(into: &fields, max: 4), fields.count >= 3 else {
            return invalid("HPUB needs <subject> [reply-to] <#header bytes> <#total bytes>")
        }
        guard let headerCount = parseCount(bytes, fields[fields.count - 2]),
            let total = parseCount(bytes, fields[fields.count - 1])
        else { return invalid("HPUB byte counts must be non-negative numbers") }
        if total > limits.maxPayload { return .failure(ProtocolError(.maxPayload)) }
        guard headerCount <= total else { return invalid("HPUB header size exceeds total size") }
        return payload(bytes, afterLine, total) { range in
            .hpub(
                subject: fields[0], reply: fields.count == 4 ? fields[1] : nil,
                headerCount: headerCount, message: range)
        }
    }

    private static func parseSub(_ scanner: inout FieldScanner, _ afterLine: Int) -> ParseOutcome {
        var fields = FieldList()
        guard scanner.collect(into: &fields, max: 3), fields.count >= 2 else {
            return invalid("SUB needs <subject> [queue group] <sid>")
        }
        let queue = fields.count == 3 ? fields[1] : nil
        return .op(.sub(subject: fields[0], queue: queue, sid: fields[fields.count - 1]), next: afterLine)
    }

    private static func parseUnsub(
        _ bytes: UnsafeRawBufferPointer, _ scanner: inout FieldScanner, _ afterLine: Int
    ) -> ParseOutcome {
        var fields = FieldList()
        guard scanner.collect(into: &fields, max: 2), fields.count >= 1 else {
            return invalid("UNSUB needs <sid> [max messages]")
        }
        var max: Int? = nil
        if fields.count == 2 {
            // nats-server reads a max that is not a count (negative, fractional, too long) as
            // 0: the subscription goes at once and the connection stays. A client that sends
            // one (nats.js passes `unsubscribe(-1)` through, and sends it again after every
            // reconnect) must not be cut off for it, over and over.
            max = parseCount(bytes, fields[1]) ?? 0
        }
        return .op(.unsub(sid: fields[0], max: max), next: afterLine)
    }

    private static func parseJob(
        _ verb: JobVerb, _ bytes: UnsafeRawBufferPointer, _ scanner: inout FieldScanner, _ afterLine: Int,
        _ limits: ParseLimits
    ) -> ParseOutcome {
        // Arguments run from the first field to the last one, minus a trailing byte count.
        var first: Range<Int>? = nil
        var last: Range<Int>? = nil
        var count = 0
        while let field = scanner.next() {
            if first == nil { first = field }
            last = field
            count += 1
        }
        guard let first, let last else {
            if verb == .enq { return invalid("ENQ needs <queue> [option=value ...] <#bytes>") }
            if verb == .schedule { return invalid("SCHEDULE needs <name> <queue> cron=\"…\"|every=<d> [option=value ...] <#bytes>") }
            return .op(.job(verb, arguments: afterLine..<afterLine, payload: nil), next: afterLine)
        }
        guard let before = verb.fieldsBeforeCount, count > before, let size = parseCount(bytes, last) else {
            if verb == .enq { return invalid("ENQ needs <queue> [option=value ...] <#bytes>") }
            if verb == .schedule { return invalid("SCHEDULE needs <name> <queue> cron=\"…\"|every=<d> [option=value ...] <#bytes>") }
            return .op(.job(verb, arguments: first.lowerBound..<last.upperBound, payload: nil), next: afterLine)
        }
        if size > limits.maxPayload { return .failure(ProtocolError(.maxPayload)) }
        var argumentsEnd = last.lowerBound
        while argumentsEnd > first.lowerBound, FieldScanner.isBlank(bytes[argumentsEnd - 1]) { argumentsEnd -= 1 }
        return payload(bytes, afterLine, size) { range in
            .job(verb, arguments: first.lowerBound..<argumentsEnd, payload: range)
        }
    }

    private static func noArguments(
        _ op: ClientOp, _ scanner: inout FieldScanner, _ afterLine: Int, _ verb: String
    ) -> ParseOutcome {
        if scanner.next() != nil { return invalid("\(verb) takes no arguments") }
        return .op(op, next: afterLine)
    }

    /// Frames a payload of `size` bytes that starts right after the control line and must be
    /// followed by CRLF or, as a control line may be, by a bare LF (what `nc` sends when a
    /// person types a PUB or ENQ by hand).
    private static func payload(
        _ bytes: UnsafeRawBufferPointer, _ start: Int, _ size: Int, _ make: (Range<Int>) -> ClientOp
    ) -> ParseOutcome {
        let end = start + size
        guard end < bytes.count else { return .incomplete }
        if bytes[end] == Byte.lf { return .op(make(start..<end), next: end + 1) }
        guard bytes[end] == Byte.cr else { return invalid("payload must be followed by CRLF") }
        guard end + 1 < bytes.count else { return .incomplete }
        guard bytes[end + 1] == Byte.lf else { return invalid("payload must be followed by CRLF") }
        return .op(make(start..<end), next: end + 2)
    }

    private static func invalid(_ detail: String) -> ParseOutcome {
        .failure(ProtocolError(.invalidProtocol, detail))
    }

    /// Parses a decimal count of at most 10 digits (enough for any size the limits allow,
    /// small enough never to overflow).
    public static func parseCount(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 10 else { return nil }
        var value = 0
        for index in range {
            let digit = Int(bytes[index]) &- 48
            guard digit >= 0 && digit <= 9 else { return nil }
            value = value * 10 + digit
        }
        return value
    }
}

/// Verbs a client may send, recognised case-insensitively without building a string.
enum Verb {
    case connect, pub, hpub, sub, unsub, help
    case job(JobVerb)

    /// Every verb, lower case. The NATS ones come first: they are the hot path.
    static let table: [(StaticString, Verb)] = [
        ("pub", .pub), ("hpub", .hpub), ("sub", .sub), ("unsub", .unsub),
        ("connect", .connect), ("help", .help),
        ("enq", .job(.enq)), ("reserve", .job(.reserve)), ("ack", .job(.ack)), ("fail", .job(.fail)),
        ("progress", .job(.progress)), ("touch", .job(.touch)), ("inspect", .job(.inspect)), ("dead", .job(.dead)),
        ("retry", .job(.retry)), ("del", .job(.del)), ("queue", .job(.queue)), ("pause", .job(.pause)),
        ("resume", .job(.resume)), ("stats", .job(.stats)), ("queues", .job(.queues)), ("wait", .job(.wait)),
        ("route", .job(.route)), ("unroute", .job(.unroute)), ("routes", .job(.routes)), ("list", .job(.list)),
        ("purge", .job(.purge)), ("promote", .job(.promote)), ("schedule", .job(.schedule)),
        ("unschedule", .job(.unschedule)), ("schedules", .job(.schedules)), ("batch", .job(.batch)),
        ("parents", .job(.parents)), ("children", .job(.children)), ("cancel", .job(.cancel)),
    ]

    init?(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        // ASCII letters differ from their lower case only in bit 0x20, and no other byte
        // maps onto a lower-case letter that way, so OR-ing 0x20 compares case-insensitively.
        func `is`(_ word: StaticString) -> Bool {
            guard range.count == word.utf8CodeUnitCount else { return false }
            let letters = word.utf8Start
            for offset in 0..<range.count where bytes[range.lowerBound + offset] | 0x20 != letters[offset] {
                return false
            }
            return true
        }
        for (word, verb) in Self.table where `is`(word) {
            self = verb
            return
        }
        return nil
    }
}

/// PING and PONG, recognised as nats-server does: by the first four letters of a line's first
/// field, in any case, whatever follows them.
enum KeepAlive {
    case ping, pong

    init?(_ bytes: UnsafeRawBufferPointer, _ name: Range<Int>) {
        guard name.count >= 4, bytes[name.lowerBound] | 0x20 == UInt8(ascii: "p") else { return nil }
        let at = name.lowerBound
        guard bytes[at + 2] | 0x20 == UInt8(ascii: "n"), bytes[at + 3] | 0x20 == UInt8(ascii: "g") else { return nil }
        switch bytes[at + 1] | 0x20 {
        case UInt8(ascii: "i"): self = .ping
        case UInt8(ascii: "o"): self = .pong
        default: return nil
        }
    }

    var op: ClientOp { self == .ping ? .ping : .pong }
}

/// ASCII bytes the protocol cares about.
public enum Byte {
    public static let cr: UInt8 = 0x0D
    public static let lf: UInt8 = 0x0A
    public static let space: UInt8 = 0x20
    public static let tab: UInt8 = 0x09
    public static let dot: UInt8 = 0x2E
    public static let star: UInt8 = 0x2A
    public static let greater: UInt8 = 0x3E
}
