#if canImport(Glibc)
import Glibc
#endif

/// What one pass of `FrameCounter` over received bytes found.
struct FrameTally {
    /// Bytes dealt with; the rest (an incomplete control line) must be offered again with more.
    var consumed = 0
    /// `MSG` and `HMSG` frames whose control line was seen.
    var messages = 0
    /// Their payload bytes (headers included for `HMSG`), as the control lines state them.
    var payloadBytes = 0
    /// `PING`s from the server; each needs a `PONG`, or the server will call us stale.
    var pings = 0
    /// `PONG`s, the answers to our own `PING`s.
    var pongs = 0
    /// The text of an `-ERR` line, after which the server usually closes the connection.
    var serverError: String?
}

/// Counts message frames in the server's output stream without copying or decoding payloads.
///
/// Only control lines are looked at: each is found with `memchr`, its verb checked by a few
/// byte comparisons and, for a message, its byte count read backwards from the line end.
/// Payloads are skipped by arithmetic, even when they span several reads.
struct FrameCounter {
    /// Bytes of the current message's payload, plus its CRLF, not yet received.
    private var pendingPayload = 0

    /// The longest control line accepted; nats-server and docketd cap theirs at 4 KiB, and a
    /// longer run of bytes without a newline means the stream is not what we think it is.
    static let maxControlLine = 64 << 10

    /// Counts the frames that `bytes` completes. Stops early, with the rest unconsumed, at an
    /// incomplete control line or after an `-ERR`.
    mutating func count(_ bytes: UnsafeRawBufferPointer) throws -> FrameTally {
        var tally = FrameTally()
        guard let base = bytes.baseAddress else { return tally }
        let end = bytes.count
        var position = 0
        while position < end {
            if pendingPayload > 0 {
                let skipped = min(pendingPayload, end - position)
                pendingPayload -= skipped
                position += skipped
                continue
            }
            guard let found = memchr(base + position, 0x0A, end - position) else {
                guard end - position <= Self.maxControlLine else {
                    throw BenchError("the server sent \(end - position) bytes without a line ending")
                }
                break
            }
            let newline = base.distance(to: UnsafeRawPointer(found))
            let lineEnd = newline > position && bytes[newline - 1] == 0x0D ? newline - 1 : newline
            let line = UnsafeRawBufferPointer(rebasing: bytes[position..<lineEnd])
            position = newline + 1

            switch Self.verb(of: line) {
            case .message:
                guard let size = Self.trailingCount(line) else {
                    throw BenchError("malformed message line: \(Self.text(line))")
                }
                tally.messages += 1
                tally.payloadBytes += size
                pendingPayload = size + 2
            case .ping: tally.pings += 1
            case .pong: tally.pongs += 1
            case .error:
                tally.serverError = Self.text(line)
                tally.consumed = position
                return tally
            case .other: break  // +OK, INFO updates and blank lines carry nothing we count.
            }
        }
        tally.consumed = position
        return tally
    }

    private enum Verb { case message, ping, pong, error, other }

    /// Classifies a control line by its first bytes. Servers write verbs in upper case.
    private static func verb(of line: UnsafeRawBufferPointer) -> Verb {
        func starts(with prefix: StaticString) -> Bool {
            let count = prefix.utf8CodeUnitCount
            return line.count >= count && memcmp(line.baseAddress!, prefix.utf8Start, count) == 0
        }
        guard let first = line.first else { return .other }
        switch first {
        case UInt8(ascii: "M"): return starts(with: "MSG ") ? .message : .other
        case UInt8(ascii: "H"): return starts(with: "HMSG ") ? .message : .other
        case UInt8(ascii: "P"): return starts(with: "PING") ? .ping : starts(with: "PONG") ? .pong : .other
        case UInt8(ascii: "-"): return starts(with: "-ERR") ? .error : .other
        default: return .other
        }
    }

    /// The decimal number ending the line: the payload size of `MSG`, and the total size
    /// (headers and payload) of `HMSG`, which is what follows the line in both cases.
    private static func trailingCount(_ line: UnsafeRawBufferPointer) -> Int? {
        var index = line.count
        var value = 0
        var scale = 1
        while index > 0, line[index - 1] >= 0x30, line[index - 1] <= 0x39 {
            index -= 1
            // Ten digits already exceed any payload a server allows; more would overflow.
            guard line.count - index <= 10 else { return nil }
            value += Int(line[index] - 0x30) * scale
            scale *= 10
        }
        guard index < line.count, index > 0, line[index - 1] == 0x20 else { return nil }
        return value
    }

    private static func text(_ line: UnsafeRawBufferPointer) -> String {
        String(decoding: line.prefix(200), as: UTF8.self)
    }
}
