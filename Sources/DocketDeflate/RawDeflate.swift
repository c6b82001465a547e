import CZlib

/// Raw deflate (RFC 1951) in each direction, as WebSocket's permessage-deflate (RFC 7692)
/// carries it: no zlib header or trailer, each message ended by a sync flush whose last four
/// bytes (00 00 FF FF) are left off the wire. The one module that sees zlib.
public struct DeflateError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    /// The data was sound, but came out longer than the caller's limit.
    public let isOverLimit: Bool

    public init(_ description: String, isOverLimit: Bool = false) {
        self.description = description
        self.isOverLimit = isOverLimit
    }
}

/// Space for one step of output; a step's output is handed on before the next.
private let stepBytes = 16 << 10

/// Compresses whole messages, one at a time. Not thread-safe: one owner drives it.
public final class RawDeflater {
    /// zlib keeps the stream's address in its state: it must not move.
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let step = UnsafeMutablePointer<UInt8>.allocate(capacity: stepBytes)

    /// `windowBits` from 9 to 15: how far back a match may reach (a peer may ask for less).
    public init(windowBits: Int = 15, level: Int = 6) throws(DeflateError) {
        stream.initialize(to: z_stream())
        guard docket_deflate_init_raw(stream, Int32(level), Int32(windowBits)) == Z_OK else {
            stream.deallocate()
            step.deallocate()
            throw DeflateError("zlib could not start a compressor")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        step.deallocate()
    }

    /// `input` compressed as one message, its sync flush's last four bytes left off.
    /// `forgetHistory`: start from an empty window, so that the peer can decompress the message
    /// alone (permessage-deflate's `server_no_context_takeover`).
    public func compressMessage(_ input: UnsafeRawBufferPointer, forgetHistory: Bool) -> [UInt8] {
        if forgetHistory { deflateReset(stream) }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 2 + 64)
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        repeat {
            stream.pointee.next_out = step
            stream.pointee.avail_out = UInt32(stepBytes)
            // A sync flush with room to spare cannot fail on a sound stream.
            _ = deflate(stream, Z_SYNC_FLUSH)
            output.append(contentsOf: UnsafeBufferPointer(start: step, count: stepBytes - Int(stream.pointee.avail_out)))
        } while stream.pointee.avail_out == 0
        if output.count >= 4, output[(output.count - 4)...].elementsEqual([0, 0, 0xFF, 0xFF]) { output.removeLast(4) }
        return output
    }
}

/// Decompresses a stream of messages. Not thread-safe: one owner drives it.
public final class RawInflater {
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let step = UnsafeMutablePointer<UInt8>.allocate(capacity: stepBytes)
    /// Set by a final block: the rest of the message is ignored.
    private var streamEnded = false
    /// The four bytes a sender leaves off each message, given back at its end.
    private static let messageEnd: [UInt8] = [0, 0, 0xFF, 0xFF]

    public init() throws(DeflateError) {
        stream.initialize(to: z_stream())
        guard docket_inflate_init_raw(stream) == Z_OK else {
            stream.deallocate()
            step.deallocate()
            throw DeflateError("zlib could not start a decompressor")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        step.deallocate()
    }

    /// Decompresses the next bytes of a message, handing the output on a step at a time;
    /// `endOfMessage` adds the four bytes the sender left off. Fails once `limit` more bytes
    /// would come out (a bomb is refused before it is written out), or on a broken stream.
    /// Returns how many bytes came out.
    @discardableResult
    public func decompress(
        _ input: UnsafeRawBufferPointer, endOfMessage: Bool, limit: Int, output: (UnsafeRawBufferPointer) -> Void
    ) throws(DeflateError) -> Int {
        var produced = streamEnded ? 0 : try run(input, limit: limit, output: output)
        if endOfMessage && streamEnded {
            // The message ended in a final block: what followed it is ignored (RFC 7692 7.2.2),
            // and the next message starts a new stream.
            inflateReset(stream)
            streamEnded = false
        } else if endOfMessage {
            let end = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
            defer { end.deallocate() }
            end.copyBytes(from: Self.messageEnd)
            produced += try run(UnsafeRawBufferPointer(end), limit: limit - produced, output: output)
        }
        return produced
    }

    /// Starts over with an empty window (the peer's `client_no_context_takeover`).
    public func forgetHistory() {
        inflateReset(stream)
        streamEnded = false
    }

    private func run(_ input: UnsafeRawBufferPointer, limit: Int, output: (UnsafeRawBufferPointer) -> Void) throws(DeflateError) -> Int {
        guard input.count > 0 else { return 0 }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        var produced = 0
        while true {
            stream.pointee.next_out = step
            stream.pointee.avail_out = UInt32(stepBytes)
            let status = inflate(stream, Z_SYNC_FLUSH)
            let made = stepBytes - Int(stream.pointee.avail_out)
            if made > 0 {
                produced += made
                guard produced <= limit else { throw DeflateError("a message decompresses to more than \(limit) bytes", isOverLimit: true) }
                output(UnsafeRawBufferPointer(start: step, count: made))
            }
            switch status {
            case Z_STREAM_END:
                streamEnded = true
                return produced
            case Z_OK:
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return produced }
            case Z_BUF_ERROR:
                return produced  // no progress possible: it needs the message's next bytes
            default:
                let why = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                throw DeflateError("the compressed message is broken: \(why)")
            }
        }
    }
}
