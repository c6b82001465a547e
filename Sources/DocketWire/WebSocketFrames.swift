/// RFC 6455 framing, as bytes in and bytes out: nothing here knows of sockets or connections.
/// The server runs the NATS protocol over the payload bytes of the client's data frames, so the
/// decoder's job is to turn a stream of frames back into that byte stream, and to report the
/// control frames (ping, pong, close) and every violation, each with its close status.

/// The status a WebSocket close frame carries (RFC 6455 7.4.1).
public enum WebSocketCloseStatus {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    public static let protocolError: UInt16 = 1002
    public static let invalidPayload: UInt16 = 1007
    public static let policyViolation: UInt16 = 1008
    public static let messageTooBig: UInt16 = 1009
    public static let internalError: UInt16 = 1011

    /// Whether a peer may send `status` in a close frame: the defined ones (1004 to 1006 and
    /// 1015 are reserved for reporting, never sent) and the ranges for libraries and applications.
    public static func maySend(_ status: UInt16) -> Bool {
        switch status {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }
}

/// Why the peer's frames end the connection, and the close status that says so.
public struct WebSocketFailure: Error, Equatable, Sendable {
    public let status: UInt16
    public let reason: String
    /// For a data frame over `maxFrameLength`: its length, so that the server can say which of
    /// its settings make the bound (this module knows only the number).
    public let frameLength: UInt64?

    public init(_ status: UInt16, _ reason: String, frameLength: UInt64? = nil) {
        self.status = status
        self.reason = reason
        self.frameLength = frameLength
    }
}

/// A control frame the peer sent, for its owner to act on.
public enum WebSocketControl: Equatable, Sendable {
    case ping([UInt8])
    case pong
    /// The peer's status (nil: its close frame had none) and reason.
    case close(status: UInt16?, reason: [UInt8])
}

/// Turns a client's frames into the bytes of their data payloads, in place.
public struct WebSocketFrameDecoder {
    /// The largest data frame payload taken; a longer one fails with 1009 as soon as its header
    /// says so, before any of it is held.
    public let maxFrameLength: Int

    /// The current frame's header as far as it has come (at most 14 bytes).
    private var header: [UInt8] = []
    /// Payload bytes of the current frame still to come; nil between frames.
    private var remaining: Int?
    private var opcode: UInt8 = 0
    private var isFinal = false
    private var mask: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
    private var maskOffset = 0
    /// A control frame's payload (125 bytes at most) as it arrives.
    private var controlPayload: [UInt8] = []
    /// Whether a fragmented data message has begun and not yet ended: only continuation frames
    /// may come until it does.
    private var isInMessage = false
    /// Set by the peer's close frame: nothing after it is read.
    public private(set) var sawClose = false
    /// Whether messages may come compressed (permessage-deflate was agreed): RSV1 on a
    /// message's first frame then marks it so. Without it, RSV1 is a violation.
    public var acceptsCompressedMessages = false
    /// Whether the message in progress came with RSV1 (compressed).
    private var isMessageCompressed = false

    /// Where data goes when it is not decoded in place: payload bytes in the order they came,
    /// whether their message is compressed, and (with no bytes) the end of each message.
    public typealias DataSink = (_ bytes: UnsafeRawBufferPointer, _ isCompressed: Bool, _ endsMessage: Bool) throws(WebSocketFailure) -> Void

    public init(maxFrameLength: Int) {
        self.maxFrameLength = maxFrameLength
        header.reserveCapacity(14)
    }

    /// Whether a frame has begun and not ended: a close of the connection now cuts it short.
    public var isInsideFrameOrMessage: Bool { remaining != nil || !header.isEmpty || isInMessage }

    /// Decodes the `count` raw bytes at the start of `buffer`: the data payload bytes, unmasked,
    /// are moved to its start (they never outrun the bytes they come from), and their number
    /// returned. Control frames are appended to `controls` in the order they came. A frame
    /// split across calls is carried over; bytes after a close frame are ignored.
    public mutating func decode(
        _ buffer: UnsafeMutableRawBufferPointer, count: Int, controls: inout [WebSocketControl]
    ) throws(WebSocketFailure) -> Int {
        try run(buffer, count: count, controls: &controls, sink: nil)
    }

    /// Decodes as above, but hands the data to `data` (unmasked where it lies) instead of moving
    /// it: for a connection whose messages may be compressed, which come out longer than they
    /// went in.
    public mutating func decode(
        _ buffer: UnsafeMutableRawBufferPointer, count: Int, controls: inout [WebSocketControl], data: DataSink
    ) throws(WebSocketFailure) {
        // The sink is only called during this call; `run` takes it as an optional, which Swift
        // counts as escaping.
        _ = try withoutActuallyEscaping(data) { (sink) throws(WebSocketFailure) in try run(buffer, count: count, controls: &controls, sink: sink) }
    }

    private mutating func run(
        _ buffer: UnsafeMutableRawBufferPointer, count: Int, controls: inout [WebSocketControl], sink: DataSink?
    ) throws(WebSocketFailure) -> Int {
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        var read = 0
        var written = 0
        while read < count && !sawClose {
            guard let left = remaining else {
                header.append(base[read])
                read += 1
                try headerGrew()
                if remaining == 0, try endFrame(&controls) { try sink?(UnsafeRawBufferPointer(start: base, count: 0), isMessageCompressed, true) }
                continue
            }
            let take = min(left, count - read)
            if opcode >= 0x8 {
                for index in 0..<take { controlPayload.append(base[read + index] ^ maskByte(maskOffset + index)) }
            } else if let sink {
                unmask(from: base + read, to: base + read, count: take)
                try sink(UnsafeRawBufferPointer(start: base + read, count: take), isMessageCompressed, false)
            } else {
                unmask(from: base + read, to: base + written, count: take)
                written += take
            }
            read += take
            maskOffset += take
            remaining = left - take
            if remaining == 0, try endFrame(&controls) { try sink?(UnsafeRawBufferPointer(start: base, count: 0), isMessageCompressed, true) }
        }
        return written
    }

    @inline(__always) private func maskByte(_ offset: Int) -> UInt8 {
        switch offset & 3 {
        case 0: return mask.0
        case 1: return mask.1
        case 2: return mask.2
        default: return mask.3
        }
    }

    /// Copies `count` bytes forward (or in place), unmasking them: eight at a time where the mask
    /// is aligned, since a large message is all payload.
    private func unmask(from source: UnsafeMutablePointer<UInt8>, to target: UnsafeMutablePointer<UInt8>, count: Int) {
        var index = 0
        while index < count && (maskOffset + index) & 3 != 0 {
            target[index] = source[index] ^ maskByte(maskOffset + index)
            index += 1
        }
        // The mask repeated in memory order, so that it lines up with the loaded bytes whatever
        // the machine's byte order.
        var wide: UInt64 = 0
        withUnsafeMutableBytes(of: &wide) {
            for lane in 0..<8 { $0[lane] = maskByte(lane) }
        }
        while count - index >= 8 {
            let value = UnsafeRawPointer(source + index).loadUnaligned(as: UInt64.self)
            UnsafeMutableRawPointer(target + index).storeBytes(of: value ^ wide, as: UInt64.self)
            index += 8
        }
        while index < count {
            target[index] = source[index] ^ maskByte(maskOffset + index)
            index += 1
        }
    }

    /// Checks the header as soon as each part is in, so that a bad frame is refused at its first
    /// bytes; starts the payload once the header is whole.
    private mutating func headerGrew() throws(WebSocketFailure) {
        if header.count == 2 {
            let first = header[0], second = header[1]
            opcode = first & 0x0F
            // RSV1 marks a compressed message, on its first frame only (RFC 7692 6).
            let compressedBit = first & 0x40 != 0 && acceptsCompressedMessages && (opcode == 0x1 || opcode == 0x2)
            guard first & 0x70 == (compressedBit ? 0x40 : 0) else {
                throw WebSocketFailure(WebSocketCloseStatus.protocolError, "reserved bits set without an extension")
            }
            if opcode == 0x1 || opcode == 0x2 { isMessageCompressed = compressedBit }
            isFinal = first & 0x80 != 0
            guard second & 0x80 != 0 else { throw WebSocketFailure(WebSocketCloseStatus.protocolError, "client frames must be masked") }
            switch opcode {
            case 0x0:
                guard isInMessage else { throw WebSocketFailure(WebSocketCloseStatus.protocolError, "continuation frame without a message") }
            case 0x1, 0x2:
                guard !isInMessage else { throw WebSocketFailure(WebSocketCloseStatus.protocolError, "new message before the last one ended") }
            case 0x8, 0x9, 0xA:
                guard isFinal else { throw WebSocketFailure(WebSocketCloseStatus.protocolError, "fragmented control frame") }
                guard second & 0x7F <= 125 else { throw WebSocketFailure(WebSocketCloseStatus.protocolError, "control frame over 125 bytes") }
            default:
                throw WebSocketFailure(WebSocketCloseStatus.protocolError, "unknown opcode \(opcode)")
            }
        }
        guard header.count >= 2 else { return }
        let lengthCode = header[1] & 0x7F
        let lengthBytes = lengthCode == 126 ? 2 : lengthCode == 127 ? 8 : 0
        guard header.count == 2 + lengthBytes + 4 else { return }
        var length: UInt64 = UInt64(lengthCode)
        if lengthBytes > 0 {
            length = 0
            for byte in header[2..<(2 + lengthBytes)] { length = length << 8 | UInt64(byte) }
            guard length >> 63 == 0 else { throw WebSocketFailure(WebSocketCloseStatus.protocolError, "frame length with its top bit set") }
        }
        if opcode < 0x8 && length > UInt64(maxFrameLength) {
            throw WebSocketFailure(
                WebSocketCloseStatus.messageTooBig, "frame of \(length) bytes over the limit of \(maxFrameLength)", frameLength: length)
        }
        let maskStart = 2 + lengthBytes
        mask = (header[maskStart], header[maskStart + 1], header[maskStart + 2], header[maskStart + 3])
        maskOffset = 0
        remaining = Int(length)
        controlPayload.removeAll(keepingCapacity: true)
    }

    /// Ends the current frame; true when it ended a data message.
    private mutating func endFrame(_ controls: inout [WebSocketControl]) throws(WebSocketFailure) -> Bool {
        header.removeAll(keepingCapacity: true)
        remaining = nil
        switch opcode {
        case 0x8:
            sawClose = true
            guard controlPayload.count != 1 else { throw WebSocketFailure(WebSocketCloseStatus.protocolError, "close frame with a one-byte status") }
            guard controlPayload.count >= 2 else {
                controls.append(.close(status: nil, reason: []))
                return false
            }
            let status = UInt16(controlPayload[0]) << 8 | UInt16(controlPayload[1])
            guard WebSocketCloseStatus.maySend(status) else { throw WebSocketFailure(WebSocketCloseStatus.protocolError, "close status \(status) may not be sent") }
            let reason = Array(controlPayload[2...])
            guard String(validating: reason, as: UTF8.self) != nil else {
                throw WebSocketFailure(WebSocketCloseStatus.invalidPayload, "close reason is not UTF-8")
            }
            controls.append(.close(status: status, reason: reason))
        case 0x9: controls.append(.ping(controlPayload))
        case 0xA: controls.append(.pong)
        default:
            isInMessage = !isFinal
            return isFinal
        }
        return false
    }
}

/// Server frames: never masked, always final (each a whole message, so that a client's limit
/// on message size applies to one frame, not to the stream).
public enum WebSocketFrameWriter {
    /// The header of an unmasked final frame of `opcode` with `length` payload bytes; RSV1 set
    /// when the payload is a compressed message (permessage-deflate).
    public static func header(opcode: UInt8, length: Int, compressed: Bool = false, into buffer: ByteBuffer) {
        buffer.append(0x80 | (compressed ? 0x40 : 0) | opcode)
        if length <= 125 {
            buffer.append(UInt8(length))
        } else if length <= 0xFFFF {
            buffer.append(126)
            buffer.append(UInt8(length >> 8))
            buffer.append(UInt8(length & 0xFF))
        } else {
            buffer.append(127)
            for shift in stride(from: 56, through: 0, by: -8) { buffer.append(UInt8((UInt64(length) >> UInt64(shift)) & 0xFF)) }
        }
    }

    /// A whole control frame: `payload` must be 125 bytes at most.
    public static func control(opcode: UInt8, payload: [UInt8], into buffer: ByteBuffer) {
        header(opcode: opcode, length: payload.count, into: buffer)
        buffer.append(payload)
    }

    /// A close frame with `status` and as much of `reason` as fits in a control frame.
    public static func close(status: UInt16, reason: String, into buffer: ByteBuffer) {
        var payload = [UInt8(status >> 8), UInt8(status & 0xFF)]
        var text = Array(reason.utf8)
        if text.count > 123 {
            text = Array(text.prefix(123))
            // Cut at a character boundary: a reason must stay UTF-8.
            while let last = text.last, last & 0xC0 == 0x80 { text.removeLast() }
            if let last = text.last, last >= 0xC0 { text.removeLast() }
        }
        payload += text
        control(opcode: 0x8, payload: payload, into: buffer)
    }
}
