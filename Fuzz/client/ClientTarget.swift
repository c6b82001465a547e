@testable import DocketClient

/// libFuzzer's entry point: one input is a byte stream a server (or something pretending to be
/// one) sends to the Swift client library, read by `ServerParser.parse`.
///
/// Built by `scripts/fuzz.sh client`: `Sources/DocketWire` and the client's `ServerParser.swift`
/// and `Models.swift` are compiled with coverage, this harness with AddressSanitizer only.
/// `maxFrame` is 1 KiB so that the limit is reached.
///
/// Properties:
/// - every op ends after where it started and inside the bytes read; a payload is no larger
///   than `maxFrame`; a job id and a delivery are positive; a header block's headers have
///   non-empty names;
/// - `.incomplete` never comes with a whole line and its announced payload available: with
///   `maxLine + 2 + maxFrame + 2` bytes or more, the parser decides;
/// - split invariance: the stream read whole, in two reads, or in equal chunks of 1 to 32 bytes
///   (the unread tail kept in front of the next read, as the client does) gives the same ops
///   and ends the same way.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let whole = trace(input, readEnds: [size])
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in input { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    let cut = Int(hash % UInt64(size + 1))
    let chunk = 1 + Int((hash >> 32) % 32)
    for ends in [[cut, size], Array(stride(from: chunk, to: size, by: chunk)) + [size]] {
        let split = trace(input, readEnds: ends)
        guard split == whole else { violation("split invariance (reads ending at \(ends.prefix(8))…):\n\(whole)\n\(split)") }
    }
    return 0
}

let maxFrame = 1024

/// What reading a stream gave, in order (ops compared as values: an INFO's JSON object
/// prints its keys in no fixed order).
enum Event: Equatable {
    case op(ServerOp, next: Int)
    case failure(at: Int, String)
    case end(at: Int)
}

/// The ops read from `input` arriving in reads that end at `readEnds`, then how it ended.
func trace(_ input: UnsafeRawBufferPointer, readEnds: [Int]) -> [Event] {
    var events: [Event] = []
    var consumed = 0
    for received in readEnds where received > 0 {
        // A buffer of exactly what has arrived, so that AddressSanitizer sees a read past it.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: received, alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: input[0..<received]))
        let bytes = UnsafeRawBufferPointer(buffer)
        parsing: while consumed < received {
            switch ServerParser.parse(bytes, from: consumed, maxFrame: maxFrame) {
            case .incomplete:
                if received - consumed >= ServerParser.maxLine + 2 + maxFrame + 2 {
                    violation("incomplete with \(received - consumed) bytes available")
                }
                break parsing
            case .failure(let why):
                events.append(.failure(at: consumed, why))
                return events
            case .op(let op, let next):
                guard next > consumed, next <= received else { violation("op \(op) ends at \(next), outside \(consumed)...\(received)") }
                check(op)
                events.append(.op(op, next: next))
                consumed = next
            }
        }
    }
    events.append(.end(at: consumed))
    return events
}

func check(_ op: ServerOp) {
    switch op {
    case .message(let message):
        guard message.payload.count <= maxFrame else { violation("a message payload of \(message.payload.count)") }
        for header in message.headers ?? [] where header.name.isEmpty { violation("a header without a name in \(message)") }
    case .job(let job):
        guard job.payload.count <= maxFrame, job.id > 0, job.delivery.map({ $0 > 0 }) ?? true else { violation("job \(job)") }
    case .json(let bytes), .help(let bytes):
        guard bytes.count <= maxFrame else { violation("a payload of \(bytes.count)") }
    case .outcome(let id, _, let bytes):
        guard bytes.count <= maxFrame, id > 0 else { violation("outcome of job \(id), \(bytes.count) bytes") }
    case .pending(let id, _):
        guard id > 0 else { violation("pending job id 0") }
    default: break
    }
}

func violation(_ message: String) -> Never {
    fatalError("client fuzz property broken: \(message)")
}
