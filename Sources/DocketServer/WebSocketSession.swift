import DocketDeflate
import DocketWire

/// A connection's WebSocket layer, between its socket (or TLS) and the NATS protocol: the
/// upgrade request until it is answered, then the frame decoder for what comes in and the
/// frames going out. A TCP connection has none, and pays for it with one nil check per read
/// and per write.
final class WebSocketSession {
    /// The most payload one server frame carries. Each is a whole (final) message: a client
    /// that limits message sizes (aiohttp: 4 MiB) limits frames, never the byte stream.
    static let maxServerFramePayload = 64 << 10

    let settings: WebSocketSettings
    private(set) var isUpgraded = false
    /// The upgrade request as it arrives, until its blank line.
    var requestHead: [UInt8] = []
    var decoder: WebSocketFrameDecoder
    /// Control frames the last read decoded (kept to reuse its storage).
    var controls: [WebSocketControl] = []
    /// Bytes for the socket, not yet written: the 101 (or the refusal), then frames.
    let wire = ByteBuffer(capacity: 16 << 10)
    /// The status and reason of the close frame that ends the connection: the peer's status
    /// echoed, a violation's, or 1000 when the server ends it.
    var closeStatus = WebSocketCloseStatus.normal
    var closeReason = ""
    private(set) var sentClose = false
    /// Closes the connection if the upgrade has not completed in time.
    var handshakeTimer: OpaquePointer?

    /// permessage-deflate, when the upgrade agreed to it: its terms and a compressor and a
    /// decompressor (some 300 KiB of zlib state, only on connections that asked).
    private(set) var compression: PermessageDeflate?
    private(set) var inflater: RawInflater?
    private var deflater: RawDeflater?
    /// Bytes the compressed message in progress has come to, against the frame limit.
    var inflatedInMessage = 0
    /// Where a compressing connection's raw bytes are read: its decompressed data goes straight
    /// into the connection's input, which therefore cannot hold the raw bytes too.
    var rawInput: [UInt8] = []
    /// The part of `rawInput` read but not yet decoded. Decoding stops once the input holds more
    /// than one command's worth (a few kilobytes can inflate to gigabytes); the rest waits here,
    /// and is decoded before the socket is read again, once the protocol has taken its share.
    var undecoded = 0..<0
    /// Raw bytes decoded at a time, so that decoding stops close to the input's bound: deflate
    /// makes at most 1032 bytes of one (a 258-byte match costs 2 bits at best), so a slice adds
    /// at most about 1 MiB to the input past its bound.
    static let inflateSliceBytes = 1 << 10
    /// Messages shorter than this go out uncompressed: deflate would only add to them.
    static let minCompressedPayload = 64

    init(settings: WebSocketSettings, maxFrameLength: Int) {
        self.settings = settings
        decoder = WebSocketFrameDecoder(maxFrameLength: maxFrameLength)
    }

    /// The upgrade is accepted: `response` (the 101) goes first, frames after it.
    func upgrade(response: [UInt8], compression: PermessageDeflate?) throws(DeflateError) {
        if let compression {
            inflater = try RawInflater()
            deflater = try RawDeflater(windowBits: compression.serverWindowBits)
            decoder.acceptsCompressedMessages = true
            rawInput = [UInt8](repeating: 0, count: 64 << 10)
        }
        self.compression = compression
        wire.append(response)
        isUpgraded = true
        requestHead = []
    }

    /// Moves the connection's protocol output into binary frames. Before the upgrade, or once
    /// the close frame is out, nothing may be framed, and the bytes are dropped.
    func frame(_ output: ByteBuffer) {
        guard isUpgraded, !sentClose else { return output.clear() }
        while !output.isEmpty {
            let count = min(output.readableCount, Self.maxServerFramePayload)
            let chunk = UnsafeRawBufferPointer(rebasing: output.readableBytes[..<count])
            if let deflater, count >= Self.minCompressedPayload {
                let compressed = deflater.compressMessage(chunk, forgetHistory: compression?.serverNoContextTakeover == true)
                WebSocketFrameWriter.header(opcode: 0x2, length: compressed.count, compressed: true, into: wire)
                wire.append(compressed)
            } else {
                WebSocketFrameWriter.header(opcode: 0x2, length: count, into: wire)
                wire.append(chunk)
            }
            output.consume(count)
        }
    }

    func pong(_ payload: [UInt8]) {
        guard isUpgraded, !sentClose else { return }
        WebSocketFrameWriter.control(opcode: 0xA, payload: payload, into: wire)
    }

    /// The close frame, once: nothing is framed after it.
    func close() {
        guard isUpgraded, !sentClose else { return }
        WebSocketFrameWriter.close(status: closeStatus, reason: closeReason, into: wire)
        sentClose = true
    }

    /// Whether nothing is left to write, the close frame included once there is one to send.
    var isDrained: Bool { wire.isEmpty && (sentClose || !isUpgraded) }
}
