import DocketWire

/// libFuzzer's entry point for the WebSocket frame decoder: one input is what a client might
/// send after the upgrade. Its first byte picks the settings (the largest frame, whether
/// compressed messages were agreed), the rest is the stream. Each stream is decoded whole and
/// again in pieces cut where the bytes say (so a saved input replays), both ways the server
/// decodes (in place, and through a sink for compressed connections); a broken property calls
/// `fatalError`, which libFuzzer reports as a crash and saves the input for.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size > 0, let data else { return 0 }
    let settings = data[0]
    let maxFrameLength = [0, 1, 125, 126, 1024, 65_536][Int(settings & 0x7) % 6]
    let compressed = settings & 0x8 != 0
    let stream = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))

    let whole = Trace.decode(stream, cuts: [], maxFrameLength: maxFrameLength, compressed: compressed, sink: false)
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in stream { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    let cutSets: [[Int]] = [
        [Int(hash % UInt64(stream.count + 1))],
        Array(stride(from: 1 + Int((hash >> 32) % 13), to: stream.count, by: 1 + Int((hash >> 32) % 13))),
    ]
    for cuts in cutSets {
        let pieces = Trace.decode(stream, cuts: cuts, maxFrameLength: maxFrameLength, compressed: compressed, sink: false)
        if !whole.agrees(with: pieces) { violation("split invariance at \(cuts.prefix(4))…:\n\(whole)\n\(pieces)") }
    }
    let sunk = Trace.decode(stream, cuts: cutSets[1], maxFrameLength: maxFrameLength, compressed: compressed, sink: true)
    if !whole.agrees(with: sunk) { violation("in place and through the sink differ:\n\(whole)\n\(sunk)") }
    // The request head before the frames, read from the same bytes (HTTPHeadChecks.swift).
    checkHTTPHead(stream)
    return 0
}

/// What decoding a stream came to: the data bytes (each message's end marked where the sink
/// says so), the control frames, and the failure that ended it, if one did.
struct Trace: CustomStringConvertible {
    var data: [UInt8] = []
    var controls: [WebSocketControl] = []
    var failure: WebSocketFailure?
    var sawClose = false

    /// Data and controls only count up to a failure: a failing call's data is not delivered,
    /// and how much of it came before depends on where the reads were cut.
    func agrees(with other: Trace) -> Bool {
        guard failure == other.failure, sawClose == other.sawClose else { return false }
        if failure != nil { return true }
        return data == other.data && controls == other.controls
    }

    var description: String {
        "data \(data.count) bytes, controls \(controls), failure \(failure.map { "\($0.status) \($0.reason)" } ?? "none"), close \(sawClose)"
    }

    static func decode(_ stream: [UInt8], cuts: [Int], maxFrameLength: Int, compressed: Bool, sink: Bool) -> Trace {
        var decoder = WebSocketFrameDecoder(maxFrameLength: maxFrameLength)
        decoder.acceptsCompressedMessages = compressed
        var trace = Trace()
        var start = 0
        for end in cuts.filter({ $0 > 0 && $0 < stream.count }) + [stream.count] where end >= start {
            var buffer = Array(stream[start..<end])
            let count = buffer.count
            var controls: [WebSocketControl] = []
            // withUnsafeMutableBytes does not carry typed throws: the outcome comes out as a Result.
            var failure: WebSocketFailure?
            if sink {
                var messageData: [UInt8] = []
                buffer.withUnsafeMutableBytes { raw in
                    do throws(WebSocketFailure) {
                        try decoder.decode(raw, count: count, controls: &controls) { bytes, isCompressed, _ in
                            if isCompressed && !compressed { violation("a compressed message without permessage-deflate") }
                            if bytes.count > count { violation("the sink got \(bytes.count) bytes from \(count)") }
                            messageData += bytes
                        }
                    } catch { failure = error }
                }
                if failure == nil { trace.data += messageData }
            } else {
                var written = 0
                buffer.withUnsafeMutableBytes { raw in
                    do throws(WebSocketFailure) { written = try decoder.decode(raw, count: count, controls: &controls) } catch { failure = error }
                }
                if written < 0 || written > count { violation("\(written) data bytes out of \(count) read") }
                if failure == nil { trace.data += buffer[0..<written] }
            }
            if let failure {
                trace.failure = failure
                if !WebSocketCloseStatus.maySend(failure.status) { violation("failure with status \(failure.status), which may not be sent") }
                trace.controls += controls
                trace.sawClose = decoder.sawClose
                return trace
            }
            for control in controls {
                switch control {
                case .ping(let payload):
                    if payload.count > 125 { violation("a ping of \(payload.count) bytes") }
                case .pong:
                    break
                case .close(let status, let reason):
                    if reason.count > 123 { violation("a close reason of \(reason.count) bytes") }
                    if let status, !WebSocketCloseStatus.maySend(status) { violation("a close with status \(status) was accepted") }
                }
            }
            trace.controls += controls
            start = end
            if decoder.sawClose { break }
        }
        trace.sawClose = decoder.sawClose
        return trace
    }
}

func violation(_ message: String) -> Never {
    fatalError("property broken: \(message)")
}
