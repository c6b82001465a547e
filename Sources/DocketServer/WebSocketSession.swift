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

    init(settings: WebSocketSettings, maxFrameLength: Int) {
        self.settings = settings
        decoder = WebSocketFrameDecoder(maxFrameLength: maxFrameLength)
    }

    /// The upgrade is accepted: `response` (the 101) goes first, frames after it.
    func upgrade(response: [UInt8]) {
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
            WebSocketFrameWriter.header(opcode: 0x2, length: count, into: wire)
            wire.append(UnsafeRawBufferPointer(rebasing: output.readableBytes[..<count]))
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
