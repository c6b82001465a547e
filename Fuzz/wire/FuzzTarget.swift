import DocketWire

/// libFuzzer's entry point: one input is a byte stream a client might send.
///
/// Built by `scripts/fuzz.sh` with `swiftc`, not by `swift build`: DocketWire is compiled
/// from `Sources/DocketWire` with coverage (`-sanitize=fuzzer,address`), this module with
/// AddressSanitizer only, so the fuzzer is guided by the parser's branches and not by the
/// checks'. Only DocketWire's public API is used. Each input is parsed three ways (whole, cut
/// in two, cut into equal chunks) the way the server does it, and every outcome is checked by
/// `OutcomeChecks`; a broken property calls `fatalError`, which libFuzzer reports as a crash
/// and saves the input for.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let whole = StreamTrace.feed(input, in: .whole, deep: true)
    let upstreamWhole = upstreamTrace(input, in: .whole)

    // The cut points come from the bytes themselves so that every input always gets the same
    // ones (a saved crash replays), yet a one-byte mutation moves them.
    let hash = fnv1a(input)
    for pieces in [Pieces.halves(at: Int(hash % UInt64(size + 1))), .chunks(of: 1 + Int((hash >> 32) % 32))] {
        let trace = StreamTrace.feed(input, in: pieces, deep: false)
        if trace != whole {
            violation("split invariance: \(size) bytes read in \(pieces)\n\(whole.difference(from: trace))")
        }
        let upstream = upstreamTrace(input, in: pieces)
        if upstream != upstreamWhole {
            violation("upstream split invariance: \(size) bytes read in \(pieces)\n\(upstreamWhole)\n\(upstream)")
        }
    }
    return 0
}

/// The same bytes read as a NATS server's output (docketd's cluster link, `UpstreamParser`):
/// each op with where it ends, then how the stream ended. Every range must lie inside what was
/// read, and the ops must not depend on how the reads cut the stream.
func upstreamTrace(_ input: UnsafeRawBufferPointer, in pieces: Pieces) -> [String] {
    var events: [String] = []
    var consumed = 0
    var received = 0
    while received < input.count || received == 0 {
        received = pieces.end(after: received, of: input.count)
        let buffer = UnsafeRawBufferPointer(rebasing: input[0..<received])
        parsing: while consumed < received {
            switch UpstreamParser.parse(buffer, from: consumed, maxLine: 256) {
            case .incomplete:
                break parsing
            case .failure(let why):
                events.append("failure \(why) at \(consumed)")
                return events
            case .op(let op, let next):
                guard next > consumed, next <= received else { violation("upstream op \(op) ends at \(next), outside \(consumed)...\(received)") }
                if case .message(let subject, _, let reply, let headers, let message) = op {
                    for range in [subject, message] + (reply.map { [$0] } ?? []) where range.lowerBound < consumed || range.upperBound > next {
                        violation("upstream range \(range) outside its op \(consumed)..<\(next)")
                    }
                    if let headers, headers > message.count { violation("upstream header size \(headers) over \(message.count)") }
                }
                events.append("\(op) -> \(next)")
                consumed = next
            }
        }
        if received == input.count { break }
    }
    events.append("end at \(consumed)")
    return events
}

/// How the server's reads cut a stream.
enum Pieces {
    case whole
    /// Two reads, the first ending at this offset.
    case halves(at: Int)
    /// Reads of this many bytes each (the last may be shorter).
    case chunks(of: Int)

    /// Where the read after the one that ended at `received` ends, in a stream of `count` bytes.
    func end(after received: Int, of count: Int) -> Int {
        switch self {
        case .whole: return count
        case .halves(let cut): return received < cut ? cut : count
        case .chunks(let size): return min(received + size, count)
        }
    }
}

/// The limits every parse in the fuzzer uses: small, so that random inputs reach both limit
/// paths (a control line longer than 256 bytes, a payload over 1 KiB) within a few mutations.
let fuzzLimits = ParseLimits(maxControlLine: 256, maxPayload: 1024)

/// Stops the run with a message libFuzzer shows next to the saved input.
func violation(_ message: String) -> Never {
    fatalError("fuzz property violated: \(message)")
}

/// FNV-1a over the input: a cheap, stable hash to derive cut points from.
func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
    return hash
}

/// Everything parsing a stream produced, each range an offset into the whole stream, so that
/// traces of the same stream read in different pieces compare equal.
struct StreamTrace: Equatable {
    enum Event: Equatable {
        case op(ClientOp, at: Int, next: Int)
        case skip(at: Int, next: Int)
    }

    enum End: Equatable {
        /// The parser wants more bytes; the unconsumed tail starts here.
        case incomplete(at: Int)
        /// A fatal protocol error in the command that starts here; the server stops reading.
        case failure(ProtocolError, at: Int)
    }

    var events: [Event] = []
    var end: End = .incomplete(at: 0)

    /// Parses `input` as the server does when its reads are cut as `pieces` says: after each
    /// read, every complete command is parsed from the start of the buffer, and the unconsumed
    /// tail stays in front of the next read's bytes. Each read gets a fresh buffer of exactly
    /// the tail plus the new bytes, so AddressSanitizer catches a parser that reads past the end.
    /// `deep` also runs the checks that give ops meaning (job arguments, CONNECT JSON); the
    /// other feeds produce the same ops if split invariance holds.
    static func feed(_ input: UnsafeRawBufferPointer, in pieces: Pieces, deep: Bool) -> StreamTrace {
        var trace = StreamTrace()
        var consumed = 0
        var received = 0
        repeat {
            received = pieces.end(after: received, of: input.count)
            // The tail is always a suffix of what was read: the buffer holds input[consumed..<received].
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: received - consumed, alignment: 1)
            defer { buffer.deallocate() }
            if received > consumed { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: input[consumed..<received])) }
            let bytes = UnsafeRawBufferPointer(buffer)
            var position = 0
            parsing: while true {
                let outcome = ClientParser.parse(bytes, from: position, limits: fuzzLimits)
                OutcomeChecks.check(outcome, bytes, from: position, limits: fuzzLimits, deep: deep)
                switch outcome {
                case .op(let op, let next):
                    trace.events.append(.op(op.shifted(by: consumed), at: consumed + position, next: consumed + next))
                    position = next
                case .skip(let next):
                    trace.events.append(.skip(at: consumed + position, next: consumed + next))
                    position = next
                case .incomplete:
                    break parsing
                case .failure(let error):
                    trace.end = .failure(error, at: consumed + position)
                    return trace
                }
            }
            consumed += position
        } while received < input.count
        trace.end = .incomplete(at: consumed)
        return trace
    }

    /// Where two traces first differ, and how each ended, for the failure message.
    func difference(from other: StreamTrace) -> String {
        var text = ""
        for index in 0..<max(events.count, other.events.count) {
            let mine = index < events.count ? "\(events[index])" : "nothing"
            let theirs = index < other.events.count ? "\(other.events[index])" : "nothing"
            if mine != theirs {
                text = "event \(index): whole input gave \(mine), pieces gave \(theirs)\n"
                break
            }
        }
        return text + "end: whole input gave \(end), pieces gave \(other.end)"
    }
}

extension ClientOp {
    /// The same op with every range moved by `offset` bytes.
    func shifted(by offset: Int) -> ClientOp {
        func move(_ range: Range<Int>) -> Range<Int> { (range.lowerBound + offset)..<(range.upperBound + offset) }
        switch self {
        case .connect(let json): return .connect(json: move(json))
        case .ping, .pong, .help: return self
        case .pub(let subject, let reply, let payload):
            return .pub(subject: move(subject), reply: reply.map(move), payload: move(payload))
        case .hpub(let subject, let reply, let headerCount, let message):
            return .hpub(subject: move(subject), reply: reply.map(move), headerCount: headerCount, message: move(message))
        case .sub(let subject, let queue, let sid):
            return .sub(subject: move(subject), queue: queue.map(move), sid: move(sid))
        case .unsub(let sid, let max): return .unsub(sid: move(sid), max: max)
        case .job(let verb, let arguments, let payload):
            return .job(verb, arguments: move(arguments), payload: payload.map(move))
        }
    }
}
