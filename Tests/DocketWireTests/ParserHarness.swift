import DocketWire

/// Renders parse results as short strings, so tests read like the protocol.
enum Rendered: Equatable, CustomStringConvertible {
    case op(String)
    case error(ProtocolError.Kind)

    var description: String {
        switch self {
        case .op(let text): return text
        case .error(let kind): return "error(\(kind))"
        }
    }
}

func text(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
    String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
}

func render(_ op: ClientOp, _ bytes: UnsafeRawBufferPointer) -> String {
    switch op {
    case .connect(let json): return "CONNECT \(text(bytes, json))"
    case .ping: return "PING"
    case .pong: return "PONG"
    case .help: return "HELP"
    case .pub(let subject, let reply, let payload):
        return "PUB \(text(bytes, subject)) \(reply.map { text(bytes, $0) } ?? "-") [\(text(bytes, payload))]"
    case .hpub(let subject, let reply, let headerCount, let message):
        return "HPUB \(text(bytes, subject)) \(reply.map { text(bytes, $0) } ?? "-") \(headerCount) [\(text(bytes, message))]"
    case .sub(let subject, let queue, let sid):
        return "SUB \(text(bytes, subject)) \(queue.map { text(bytes, $0) } ?? "-") \(text(bytes, sid))"
    case .unsub(let sid, let max):
        return "UNSUB \(text(bytes, sid)) \(max.map(String.init) ?? "-")"
    case .job(let verb, let arguments, let payload):
        return "\(verb.name) <\(text(bytes, arguments))>" + (payload.map { " [\(text(bytes, $0))]" } ?? "")
    }
}

/// Feeds `chunks` to the parser the way the server does: bytes accumulate in one buffer,
/// every complete command is parsed and consumed, an incomplete tail waits for the next
/// chunk. Stops at the first error.
func feed(_ chunks: [[UInt8]], limits: ParseLimits = ParseLimits()) -> [Rendered] {
    var pending: [UInt8] = []
    var results: [Rendered] = []
    for chunk in chunks {
        pending += chunk
        var consumed = 0
        let stop = pending.withUnsafeBytes { bytes -> Bool in
            while true {
                switch ClientParser.parse(bytes, from: consumed, limits: limits) {
                case .op(let op, let next):
                    results.append(.op(render(op, bytes)))
                    consumed = next
                case .skip(let next):
                    consumed = next
                case .incomplete:
                    return false
                case .failure(let error):
                    results.append(.error(error.kind))
                    return true
                }
            }
        }
        pending.removeFirst(consumed)
        if stop { break }
    }
    return results
}

func feed(_ input: String, limits: ParseLimits = ParseLimits()) -> [Rendered] {
    feed([Array(input.utf8)], limits: limits)
}

extension Rendered: ExpressibleByStringLiteral {
    init(stringLiteral value: String) { self = .op(value) }
}
