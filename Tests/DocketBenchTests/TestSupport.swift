@testable import docket_bench
import DocketTestSupport

/// The bytes of a text, for building server streams.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// `stream` cut at `cuts` (sorted offsets inside it) into the reads a socket might deliver.
func chunks(of stream: [UInt8], at cuts: [Int]) -> [[UInt8]] {
    var result: [[UInt8]] = []
    var start = 0
    for cut in cuts + [stream.count] where cut > start {
        result.append(Array(stream[start..<cut]))
        start = cut
    }
    return result
}

/// Some ways of cutting a stream: every single cut point, one byte at a time, and random reads.
func splits(of count: Int, randomRuns: Int = 200) -> [[Int]] {
    var result: [[Int]] = [[]]
    result += (1..<max(1, count)).map { [$0] }
    result.append(Array(1..<max(1, count)))
    var generator = SeededGenerator(seed: UInt64(count))
    for _ in 0..<randomRuns {
        let pieces = Int.random(in: 2...12, using: &generator)
        let cuts = Set((0..<pieces).map { _ in Int.random(in: 1..<max(2, count), using: &generator) })
        result.append(cuts.sorted())
    }
    return result
}

/// Feeds `pieces` to `counter` as `Connection` would: unconsumed bytes stay at the front and
/// the next read is appended to them. Returns the tallies added up and what was left unconsumed.
func feed<Counter: MessageCounter>(_ counter: inout Counter, _ pieces: [[UInt8]]) throws -> (FrameTally, [UInt8]) {
    var total = FrameTally()
    var unread: [UInt8] = []
    for piece in pieces {
        unread += piece
        let tally = try unread.withUnsafeBytes { try counter.count($0) }
        unread.removeFirst(tally.consumed)
        total.messages += tally.messages
        total.payloadBytes += tally.payloadBytes
        total.pings += tally.pings
        total.pongs += tally.pongs
        if let error = tally.serverError { total.serverError = error }
    }
    return (total, unread)
}

/// Every reply `wire` parses out of `stream`, fed in `pieces` the way `JobLoop.receive` does,
/// each reply turned into a value that outlives the buffer.
func parseAll(_ wire: any JobWire, _ pieces: [[UInt8]]) throws -> ([Reply], [UInt8]) {
    var replies: [Reply] = []
    var unread: [UInt8] = []
    for piece in pieces {
        unread += piece
        var consumed = 0
        try unread.withUnsafeBytes { all in
            while let parsed = try wire.parse(UnsafeRawBufferPointer(rebasing: all[consumed...])) {
                replies.append(Reply(parsed.reply))
                consumed += parsed.length
            }
        }
        unread.removeFirst(consumed)
    }
    return (replies, unread)
}

/// A `JobReply` copied out of the receive buffer, for comparing.
enum Reply: Equatable, CustomStringConvertible {
    case done, noJob, ping, ignored
    case job(handle: String, payload: String)
    case error(String)

    init(_ reply: JobReply) {
        switch reply {
        case .done: self = .done
        case .noJob: self = .noJob
        case .ping: self = .ping
        case .ignored: self = .ignored
        case .error(let text): self = .error(text)
        case .job(let handle, let payload):
            self = .job(handle: String(decoding: handle, as: UTF8.self), payload: String(decoding: payload, as: UTF8.self))
        }
    }

    var description: String {
        switch self {
        case .done: return "done"
        case .noJob: return "noJob"
        case .ping: return "ping"
        case .ignored: return "ignored"
        case .error(let text): return "error(\(text))"
        case .job(let handle, let payload): return "job(\(handle), \(payload))"
        }
    }
}

/// The commands in an output buffer, as text.
func text(of output: OutputBuffer) -> String { String(decoding: output.pendingBytes, as: UTF8.self) }
