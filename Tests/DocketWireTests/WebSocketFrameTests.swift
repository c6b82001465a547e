import DocketWire
import Testing

/// The frame decoder on bytes these tests build themselves: masking, fragmentation, control
/// frames and every violation, whatever way the bytes are split across reads.
@Suite struct WebSocketFrameTests {
    static let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

    /// A client frame: `opcode` with FIN (unless `final` is false), masked unless told not to,
    /// with the length in the shortest form or as `lengthForm` (126, 127) says.
    static func frame(
        _ opcode: UInt8, _ payload: [UInt8], final: Bool = true, masked: Bool = true, reserved: UInt8 = 0, lengthForm: UInt8? = nil
    ) -> [UInt8] {
        var bytes: [UInt8] = [(final ? 0x80 : 0) | reserved | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        let form = lengthForm ?? (payload.count <= 125 ? 0 : payload.count <= 0xFFFF ? 126 : 127)
        switch form {
        case 126: bytes += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        case 127: bytes += [maskBit | 127] + (0..<8).reversed().map { UInt8((UInt64(payload.count) >> UInt64($0 * 8)) & 0xFF) }
        default: bytes += [maskBit | UInt8(payload.count)]
        }
        guard masked else { return bytes + payload }
        return bytes + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    }

    struct Decoded: Equatable {
        var data: [UInt8] = []
        var controls: [WebSocketControl] = []
        var failure: WebSocketFailure?
    }

    /// Feeds `bytes` to a fresh decoder in reads of `chunk` bytes.
    static func decode(_ bytes: [UInt8], chunk: Int = .max, maxFrameLength: Int = 1 << 20) -> Decoded {
        var decoder = WebSocketFrameDecoder(maxFrameLength: maxFrameLength)
        var result = Decoded()
        var start = 0
        while start < bytes.count {
            var piece = Array(bytes[start..<min(bytes.count, start + min(chunk, bytes.count - start))])
            start += piece.count
            var controls: [WebSocketControl] = []
            let outcome: Result<Int, WebSocketFailure> = piece.withUnsafeMutableBytes { raw in
                Result { () throws(WebSocketFailure) in try decoder.decode(raw, count: raw.count, controls: &controls) }
            }
            result.controls += controls
            switch outcome {
            case .success(let count): result.data += piece[..<count]
            case .failure(let failure):
                result.failure = failure
                return result
            }
        }
        return result
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func binaryAndTextFramesGiveTheirPayloadInOrder(chunk: Int) {
        let message = Array("PUB foo 5\r\nhello\r\n".utf8)
        let long = Array(repeating: UInt8(ascii: "x"), count: 300)
        let bytes = Self.frame(0x2, message) + Self.frame(0x1, Array("PING\r\n".utf8)) + Self.frame(0x2, long)
        #expect(Self.decode(bytes, chunk: chunk) == Decoded(data: message + Array("PING\r\n".utf8) + long))
    }

    @Test func sixtyFourBitLengthsAndEmptyFramesDecode() {
        let payload = Array(repeating: UInt8(7), count: 70_000)
        let bytes = Self.frame(0x2, []) + Self.frame(0x2, payload) + Self.frame(0x2, [1, 2, 3], lengthForm: 127)
        #expect(Self.decode(bytes, chunk: 4096) == Decoded(data: payload + [1, 2, 3]))
    }

    @Test(arguments: [1, 5, 64])
    func fragmentsAndInterleavedControlFrames(chunk: Int) {
        let bytes = Self.frame(0x2, Array("PUB a".utf8), final: false) + Self.frame(0x9, [9, 9])
            + Self.frame(0x0, Array(" 1\r\n".utf8), final: false) + Self.frame(0xA, [])
            + Self.frame(0x0, Array("x\r\n".utf8))
        #expect(Self.decode(bytes, chunk: chunk) == Decoded(data: Array("PUB a 1\r\nx\r\n".utf8), controls: [.ping([9, 9]), .pong]))
    }

    @Test func closeGivesItsStatusAndStopsReading() {
        let bytes = Self.frame(0x2, [65]) + Self.frame(0x8, [0x03, 0xE8] + Array("bye".utf8)) + Self.frame(0x2, [66])
        #expect(Self.decode(bytes) == Decoded(data: [65], controls: [.close(status: 1000, reason: Array("bye".utf8))]))
        #expect(Self.decode(Self.frame(0x8, [])) == Decoded(controls: [.close(status: nil, reason: [])]))
    }

    static let violations: [(String, [UInt8], UInt16)] = [
        ("unmasked", frame(0x2, [1], masked: false), 1002),
        ("reserved bit 1", frame(0x2, [1], reserved: 0x40), 1002),
        ("reserved bit 3", frame(0x2, [1], reserved: 0x10), 1002),
        ("unknown data opcode", frame(0x3, [1]), 1002),
        ("unknown control opcode", frame(0xB, []), 1002),
        ("2^63 length", [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0] + mask, 1002),
        ("control over 125", [0x89, 0x80 | 126, 0, 126] + mask + Array(repeating: 0, count: 126), 1002),
        ("fragmented ping", frame(0x9, [1], final: false), 1002),
        ("continuation first", frame(0x0, [1]), 1002),
        ("new message inside one", frame(0x2, [1], final: false) + frame(0x2, [2]), 1002),
        ("one-byte close", frame(0x8, [3]), 1002),
        ("reserved close status", frame(0x8, [0x03, 0xED]), 1002),
        ("close reason not UTF-8", frame(0x8, [0x03, 0xE8, 0xFF]), 1007),
        ("frame over the limit", frame(0x2, Array(repeating: 0, count: 1025)), 1009),
        ("announced 2^40 bytes", [0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0] + mask, 1009),
    ]

    @Test(arguments: violations.indices)
    func violationsFailWithTheirStatus(_ index: Int) {
        let (name, bytes, status) = Self.violations[index]
        for chunk in [1, bytes.count] {
            let decoded = Self.decode(bytes, chunk: chunk, maxFrameLength: 1024)
            #expect(decoded.failure?.status == status, "\(name), in reads of \(chunk)")
        }
    }

    @Test func aFrameTooLongIsRefusedAtItsHeaderNotAfterItsPayload() {
        // Only the header has come: the verdict must not wait for a megabyte.
        let header = Array(Self.frame(0x2, Array(repeating: 0, count: 2000)).prefix(8))
        #expect(Self.decode(header, maxFrameLength: 1024).failure?.status == 1009)
    }

    @Test func aCloseInsideAMessageIsSeenAsUnfinished() {
        var decoder = WebSocketFrameDecoder(maxFrameLength: 1024)
        var controls: [WebSocketControl] = []
        var bytes = Self.frame(0x2, [1, 2], final: false) + Array(Self.frame(0x0, [1, 2, 3, 4]).prefix(4))
        _ = bytes.withUnsafeMutableBytes { raw in Result { () throws(WebSocketFailure) in try decoder.decode(raw, count: raw.count, controls: &controls) } }
        #expect(decoder.isInsideFrameOrMessage)
        var whole = Self.frame(0x2, [1])
        var fresh = WebSocketFrameDecoder(maxFrameLength: 1024)
        _ = whole.withUnsafeMutableBytes { raw in Result { () throws(WebSocketFailure) in try fresh.decode(raw, count: raw.count, controls: &controls) } }
        #expect(!fresh.isInsideFrameOrMessage)
    }

    /// With permessage-deflate agreed, RSV1 on a message's first frame marks it compressed;
    /// the sink sees every payload byte in order, with each message's end.
    @Test(arguments: [1, 3, 1000])
    func compressedMessagesReachTheSinkInOrder(chunk: Int) {
        var decoder = WebSocketFrameDecoder(maxFrameLength: 1024)
        decoder.acceptsCompressedMessages = true
        let bytes = Self.frame(0x2, [1, 2], final: false, reserved: 0x40) + Self.frame(0x0, [3]) + Self.frame(0x2, [4])
            + Self.frame(0x1, [], reserved: 0x40)
        var seen: [(bytes: [UInt8], compressed: Bool, ends: Bool)] = []
        var controls: [WebSocketControl] = []
        var start = 0
        while start < bytes.count {
            var piece = Array(bytes[start..<min(bytes.count, start + chunk)])
            start += piece.count
            let failed = piece.withUnsafeMutableBytes { raw in
                (try? decoder.decode(raw, count: raw.count, controls: &controls) { data, compressed, ends in
                    seen.append((Array(data), compressed, ends))
                }) == nil
            }
            #expect(!failed)
        }
        let payload = seen.filter { !$0.ends }
        #expect(payload.flatMap(\.bytes) == [1, 2, 3, 4])
        #expect(payload.map(\.compressed) == payload.map { $0.bytes.first! <= 3 })
        #expect(seen.filter(\.ends).map(\.compressed) == [true, false, true])
    }

    @Test func rsv1IsRefusedOnContinuationsControlFramesAndWithoutTheExtension() {
        var decoder = WebSocketFrameDecoder(maxFrameLength: 1024)
        decoder.acceptsCompressedMessages = true
        for bytes in [Self.frame(0x2, [1], final: false) + Self.frame(0x0, [2], reserved: 0x40), Self.frame(0x9, [], reserved: 0x40)] {
            var fresh = decoder
            var controls: [WebSocketControl] = []
            var copy = bytes
            let failure = copy.withUnsafeMutableBytes { raw in
                Result { () throws(WebSocketFailure) in try fresh.decode(raw, count: raw.count, controls: &controls) { _, _, _ in } }
            }
            #expect(failure.map { _ in 0 } == .failure(WebSocketFailure(1002, "reserved bits set without an extension")))
        }
        #expect(Self.decode(Self.frame(0x2, [1], reserved: 0x40)).failure?.status == 1002)
    }

    @Test func serverFramesAreUnmaskedAndFinal() {
        for (length, header) in [(5, [0x82, 5]), (300, [0x82, 126, 1, 44]), (70_000, [0x82, 127, 0, 0, 0, 0, 0, 1, 17, 112])] {
            let buffer = ByteBuffer()
            WebSocketFrameWriter.header(opcode: 0x2, length: length, into: buffer)
            #expect(buffer.bytes == header.map { UInt8($0) })
        }
        let close = ByteBuffer()
        WebSocketFrameWriter.close(status: 1009, reason: String(repeating: "é", count: 100), into: close)
        #expect(close.bytes[0] == 0x88 && Int(close.bytes[1]) <= 125 && close.bytes[2...3] == [0x03, 0xF1])
        #expect(String(validating: close.bytes[4...], as: UTF8.self) != nil)
    }
}
