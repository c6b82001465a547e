import DocketWire

/// libFuzzer's entry point for the route protocol's parser: one input is what a peer node might
/// send on a route. It is parsed as the node parses its input (operation after operation, with
/// small limits so that the limit paths are reached), then again cut into pieces where the bytes
/// say, which must give the same operations; every message parsed is written back and must parse
/// to itself. A broken property calls `fatalError`, which libFuzzer reports as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let stream = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = parseAll(stream)
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in stream { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    let cut = Int(hash % UInt64(stream.count + 1))
    // The first piece alone gives a prefix of the whole's operations (those before the cut),
    // never a failure the whole does not have.
    let head = parseAll(Array(stream[..<cut]))
    guard head.ops.count <= whole.ops.count, Array(whole.ops.prefix(head.ops.count)) == head.ops else {
        fatalError("a cut at \(cut) gave \(head.ops) against \(whole.ops)")
    }
    // A piece fails only where the whole fails, and as it does (a line over the limit fails as
    // soon as that many bytes are in, cut or not).
    if let failure = head.failure, whole.failure != failure || whole.ops.count != head.ops.count {
        fatalError("a cut at \(cut) failed with \(failure) after \(head.ops.count), the whole with \(String(describing: whole.failure)) after \(whole.ops.count)")
    }
    for op in whole.ops { roundTrip(op) }
    return 0
}

let maxControlLine = 256
let maxPayload = 1024

/// An operation as plain values, so that two parses can be compared.
struct Parsed: Equatable {
    var kind: String
    var fields: [[UInt8]]
    var headerCount: Int?
}

func parseAll(_ stream: [UInt8]) -> (ops: [Parsed], failure: String?) {
    stream.withUnsafeBytes { raw in
        var ops: [Parsed] = []
        var position = 0
        while position < raw.count {
            switch RouteParser.parse(raw, from: position, maxControlLine: maxControlLine, maxPayload: maxPayload) {
            case .incomplete: return (ops, nil)
            case .failure(let why): return (ops, why)
            case .op(let op, let next):
                guard next > position, next <= raw.count else { fatalError("next \(next) from \(position) of \(raw.count)") }
                ops.append(render(op, raw))
                position = next
            }
        }
        return (ops, nil)
    }
}

func render(_ op: RouteOp, _ raw: UnsafeRawBufferPointer) -> Parsed {
    func bytes(_ range: Range<Int>?) -> [UInt8] {
        guard let range else { return [] }
        guard range.lowerBound >= 0, range.upperBound <= raw.count else { fatalError("range \(range) outside \(raw.count)") }
        return Array(raw[range])
    }
    switch op {
    case .ping: return Parsed(kind: "PING", fields: [])
    case .pong: return Parsed(kind: "PONG", fields: [])
    case .info(let json): return Parsed(kind: "INFO", fields: [bytes(json)])
    case .connect(let json): return Parsed(kind: "CONNECT", fields: [bytes(json)])
    case .error(let text): return Parsed(kind: "ERR", fields: [bytes(text)])
    case .interest(let added, let account, let subject, let queue):
        return Parsed(kind: added ? "RS+" : "RS-", fields: [bytes(account), bytes(subject), bytes(queue)])
    case .message(let account, let subject, let reply, let queue, let headerCount, let message):
        if let headerCount, headerCount > message.count { fatalError("header count \(headerCount) over the message's \(message.count)") }
        if message.count > maxPayload { fatalError("a message of \(message.count) bytes passed the limit") }
        if let headerCount {
            let header = bytes(message.lowerBound..<message.lowerBound + headerCount)
            if header.count < 12 || !header.starts(with: Array("NATS/1.0".utf8)) || !header.suffix(4).elementsEqual([13, 10, 13, 10]) {
                fatalError("an HMSG whose header block is not NATS/1.0 headers passed")
            }
        }
        return Parsed(kind: "MSG", fields: [bytes(account), bytes(subject), reply == nil ? [] : [0x2B] + bytes(reply), queue == nil ? [] : [0x7C] + bytes(queue), bytes(message)], headerCount: headerCount)
    }
}

/// A parsed message or interest, written back by the node's own writer, parses to itself.
func roundTrip(_ parsed: Parsed) {
    let buffer = ByteBuffer(capacity: 256)
    switch parsed.kind {
    case "RS+", "RS-":
        buffer.appendRouteInterest(added: parsed.kind == "RS+", account: parsed.fields[0], subject: parsed.fields[1], queue: parsed.fields[2].isEmpty ? nil : parsed.fields[2])
    case "MSG":
        let reply = parsed.fields[2].isEmpty ? nil : Array(parsed.fields[2].dropFirst())
        let queue = parsed.fields[3].isEmpty ? nil : Array(parsed.fields[3].dropFirst())
        parsed.fields[0].withUnsafeBytes { account in
            parsed.fields[1].withUnsafeBytes { subject in
                parsed.fields[4].withUnsafeBytes { message in
                    if let reply {
                        reply.withUnsafeBytes { buffer.appendRouteMessage(account: account, subject: subject, reply: $0, queue: queue, headerCount: parsed.headerCount, message: message) }
                    } else {
                        buffer.appendRouteMessage(account: account, subject: subject, reply: nil, queue: queue, headerCount: parsed.headerCount, message: message)
                    }
                }
            }
        }
    default:
        return
    }
    let again = parseAll(buffer.bytes)
    // Written back, the line may exceed the small limit (the parse allowed blanks the writer
    // drops, never adds): only a whole, single parse is compared.
    guard again.failure == nil else { return }
    guard again.ops == [parsed] else { fatalError("\(parsed) written back parsed as \(again.ops)") }
}
