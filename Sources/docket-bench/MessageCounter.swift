/// Counts the messages in a subscriber's stream of received bytes, one read's worth at a time,
/// keeping whatever state spans reads. `FrameCounter` reads NATS frames, `RESPFrameCounter`
/// Redis pub/sub pushes.
protocol MessageCounter {
    /// Counts what `bytes` completes; `consumed` in the result says how much was dealt with.
    mutating func count(_ bytes: UnsafeRawBufferPointer) throws -> FrameTally
}

extension FrameCounter: MessageCounter {}
