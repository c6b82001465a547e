/// Counts Redis pub/sub pushes in a subscriber's stream, in place, like `FrameCounter` does
/// for NATS frames.
///
/// A subscribed connection receives arrays: `message <channel> <payload>`, `pmessage <pattern>
/// <channel> <payload>`, `subscribe`/`psubscribe` confirmations and `pong <text>` (the answer
/// to PING in subscribed mode). Confirmations and pongs are both tallied as `pongs`: each
/// answers a command of ours and proves everything before it was processed.
struct RESPFrameCounter: MessageCounter {
    private enum Kind { case unknown, message, acknowledgement, other }

    /// Elements of the current array still to come; 0 between arrays.
    private var remaining = 0
    private var kind = Kind.unknown
    /// Whether the next element is the array's first, which names the kind of push.
    private var atFirstElement = false
    /// The size of the last bulk string seen, which in a message is the payload.
    private var lastBulkSize = 0

    mutating func count(_ bytes: UnsafeRawBufferPointer) throws -> FrameTally {
        var tally = FrameTally()
        var position = 0
        while position < bytes.count {
            guard let (value, length) = try RESP.parse(UnsafeRawBufferPointer(rebasing: bytes[position...])) else { break }
            position += length
            guard remaining > 0 else {
                switch value {
                case .array(let count) where count > 0:
                    remaining = count
                    kind = .unknown
                    atFirstElement = true
                case .error(let text):
                    tally.serverError = "-" + RawText.text(text)
                    tally.consumed = position
                    return tally
                default: break  // Nothing else comes outside an array on a subscribed connection.
                }
                continue
            }
            if case .bulk(let data) = value {
                if atFirstElement { kind = Self.kind(of: data) }
                lastBulkSize = data.count
            }
            atFirstElement = false
            remaining -= 1
            guard remaining == 0 else { continue }
            switch kind {
            case .message:
                tally.messages += 1
                tally.payloadBytes += lastBulkSize
            case .acknowledgement: tally.pongs += 1
            case .unknown, .other: break
            }
        }
        tally.consumed = position
        return tally
    }

    private static func kind(of name: UnsafeRawBufferPointer) -> Kind {
        if RawText.equals(name, "message") || RawText.equals(name, "pmessage") { return .message }
        if RawText.equals(name, "subscribe") || RawText.equals(name, "psubscribe") || RawText.equals(name, "pong") {
            return .acknowledgement
        }
        return .other
    }
}
