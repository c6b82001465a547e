/// The bytes each benchmark job carries: the moment it was enqueued, so that whichever worker
/// completes it can tell the enqueue-to-ack latency without any shared table, then a sequence
/// number and filler up to the requested size.
///
/// Everything is printable hexadecimal or filler, so the payload is valid in any protocol.
/// The sequence number makes each payload unique, which the Redis reliable queue relies on:
/// its ack (`LREM processing 1 <payload>`) names the job by its payload.
enum JobPayload {
    /// Room for the 16 hex digits of the timestamp.
    static let minimumSize = 16

    /// Appends a payload of `size` bytes stamped with `timestamp` (monotonic nanoseconds).
    static func append(timestamp: UInt64, sequence: UInt64, size: Int, to output: inout OutputBuffer) {
        output.appendHex(timestamp)
        var used = 16
        if size >= 32 {
            output.appendHex(sequence)
            used = 32
        }
        output.append(repeating: UInt8(ascii: "."), count: size - used)
    }

    /// The enqueue timestamp of a payload made by `append`; nil for a payload from elsewhere
    /// (a queue left with other jobs in it).
    static func timestamp(of payload: UnsafeRawBufferPointer) -> UInt64? {
        guard payload.count >= 16 else { return nil }
        var value: UInt64 = 0
        for index in 0..<16 {
            let byte = payload[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}
