/// What the publisher got done, and when, in monotonic nanoseconds. Filled in step by step,
/// so a failed run still shows how far it got.
struct PublisherOutcome: Sendable {
    /// Messages the kernel accepted.
    var published = 0
    /// Just before the first PUB was written.
    var startedAt: UInt64?
    /// When the last PUB was accepted by the kernel.
    var writtenAt: UInt64?
    /// When the PONG to the final PING arrived: the server had routed every message.
    var flushedAt: UInt64?
}

/// The publishing side of a pub/sub run: one connection, on its own thread, writing batches.
enum Publisher {
    /// The publisher's own socket barely receives anything, so a small buffer will do.
    static let receiveBufferSize = 64 << 10

    /// Connects, publishes `plan.messages` messages and flushes. Runs on the publisher thread.
    /// If the run fails or is stopped, the reason is in `control` and the outcome is partial.
    static func run(plan: PubSubPlan, control: RunControl) -> PublisherOutcome {
        var outcome = PublisherOutcome()
        do {
            try publish(plan: plan, control: control, outcome: &outcome)
        } catch {
            // A timeout is reported by the scenario with the counts that explain it.
            if !control.deadlinePassed { control.fail("publisher: \(error)") }
        }
        return outcome
    }

    private static func publish(plan: PubSubPlan, control: RunControl, outcome: inout PublisherOutcome) throws {
        if plan.protocolKind == .redis {
            return try RedisPublisher.publish(plan: plan, control: control, outcome: &outcome)
        }
        let connection = try Connection(to: plan.address, port: plan.port, receiveBufferSize: receiveBufferSize)
        if let maxPayload = try Handshake.greet(connection, control: control, tls: plan.tls), plan.size > maxPayload {
            throw BenchError("--size \(plan.size) exceeds the server's max_payload of \(maxPayload) bytes")
        }
        try Handshake.flush(connection, control: control)

        let batch = PublishBatch(subject: plan.publishSubject, payloadSize: plan.size)
        let shouldStop = { control.shouldStop }
        let startedAt = MonotonicClock.now()
        outcome.startedAt = startedAt
        control.markPublishStarted(at: startedAt)
        while outcome.published < plan.messages {
            let count = min(plan.messages - outcome.published, batch.commandCount)
            // Checking the stop flag between batches, not only when the socket stalls,
            // ends the run promptly once a subscriber has failed.
            guard !control.shouldStop, try batch.write(count, to: connection, shouldStop: shouldStop) else {
                return
            }
            outcome.published += count
        }
        outcome.writtenAt = MonotonicClock.now()
        try Handshake.flush(connection, control: control)
        outcome.flushedAt = MonotonicClock.now()
        control.markPublisherFlushed()
    }
}
