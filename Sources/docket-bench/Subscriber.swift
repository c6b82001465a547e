import Dispatch

/// What one subscriber counted.
struct SubscriberOutcome: Sendable {
    /// Messages received, including any beyond the expected number.
    var received = 0
    /// Their payload bytes.
    var payloadBytes = 0
}

/// The receiving side of a pub/sub run: one connection and one subscription per thread,
/// counting message frames in large reads.
struct Subscriber {
    /// Large reads mean few system calls per message: at 16-byte payloads one read can carry
    /// tens of thousands of frames.
    static let receiveBufferSize = 1 << 20

    let index: Int
    let plan: PubSubPlan
    let control: RunControl

    /// Connects and subscribes, signals `ready` (also on failure, so the starter never waits
    /// for a subscriber that will not come), then counts until done. Runs on its own thread.
    func run(ready: DispatchSemaphore) -> SubscriberOutcome {
        switch plan.protocolKind {
        case .nats: return run(counter: FrameCounter(), ready: ready)
        case .redis: return run(counter: RESPFrameCounter(), ready: ready)
        }
    }

    /// The run itself, with the counter that reads this protocol's frames.
    private func run<Counter: MessageCounter>(counter: Counter, ready: DispatchSemaphore) -> SubscriberOutcome {
        var outcome = SubscriberOutcome()
        var counter = counter
        let connection: Connection
        do {
            connection = try Connection(to: plan.address, port: plan.subscriberPort(index), receiveBufferSize: Self.receiveBufferSize)
            if plan.protocolKind == .nats { _ = try Handshake.greet(connection, control: control, tls: plan.tls) }
            try connection.write(plan.subscribeCommand, shouldStop: { control.shouldStop })
            switch plan.protocolKind {
            case .nats: try Handshake.flush(connection, control: control)
            case .redis: try awaitConfirmation(on: connection, counter: &counter, outcome: &outcome)
            }
        } catch {
            control.fail("subscriber \(index): \(error)")
            ready.signal()
            return outcome
        }
        ready.signal()

        do {
            try receive(on: connection, counter: &counter, outcome: &outcome)
            try confirmNothingMore(on: connection, counter: &counter, outcome: &outcome)
        } catch {
            // Once the deadline has passed, errors are consequences of it; the scenario reports
            // the timeout with the counts.
            guard !control.deadlinePassed else { return outcome }
            if let error = error as? BenchError, error == .connectionClosed {
                // Servers cut off a subscriber that falls too far behind without saying so on
                // the wire (nats-server and docketd only log it; Redis applies its pubsub
                // client-output-buffer-limit), so point at the log.
                control.fail("subscriber \(index): the server closed the connection after \(outcome.received) "
                    + "messages; if its log says slow consumer, the publisher outran this subscriber")
            } else {
                control.fail("subscriber \(index): \(error)")
            }
        }
        return outcome
    }

    /// Counts until this subscriber has its share (every message, outside a queue group) or
    /// the subscribers together have them all, or the run stops.
    private func receive(on connection: Connection, counter: inout some MessageCounter, outcome: inout SubscriberOutcome) throws {
        let share = plan.expectedPerSubscriber ?? Int.max
        while true {
            try countUnread(on: connection, counter: &counter, outcome: &outcome)
            if outcome.received >= share || control.targetReached || control.shouldStop { return }
            _ = try connection.fill()
        }
    }

    /// Waits for Redis to confirm the subscription (the counter tallies it as a pong), so that
    /// no message is published before the subscriber is in place.
    private func awaitConfirmation(on connection: Connection, counter: inout some MessageCounter, outcome: inout SubscriberOutcome) throws {
        while try countUnread(on: connection, counter: &counter, outcome: &outcome) == 0 {
            if control.shouldStop { throw BenchError("timed out waiting for Redis to confirm the subscription") }
            _ = try connection.fill()
        }
    }

    /// Makes "every message arrived" mean "exactly once": after the publisher's PONG (the
    /// server has queued every message to its subscribers), a PING from this subscriber is
    /// answered behind anything still queued for it, so any duplicate shows up in the count.
    private func confirmNothingMore(on connection: Connection, counter: inout some MessageCounter, outcome: inout SubscriberOutcome) throws {
        // Messages arriving meanwhile are counted as they come, so none can pile up unread.
        while !control.publisherFlushed {
            if control.shouldStop { return }
            _ = try connection.fill()  // Waits at most one poll interval.
            try countUnread(on: connection, counter: &counter, outcome: &outcome)
        }
        // An inline PING, which Redis also accepts from a subscribed connection (its answer is a
        // `pong` push, which RESPFrameCounter tallies as a PONG).
        try connection.write("PING\r\n", shouldStop: { control.shouldStop })
        while try countUnread(on: connection, counter: &counter, outcome: &outcome) == 0 {
            if control.shouldStop { return }
            _ = try connection.fill()
        }
    }

    /// Counts the frames in the unread bytes, answers the server's PINGs, and adds the
    /// messages to the run's total.
    /// - Returns: the PONGs seen.
    @discardableResult
    private func countUnread(on connection: Connection, counter: inout some MessageCounter, outcome: inout SubscriberOutcome) throws -> Int {
        let tally = try counter.count(connection.unread)
        connection.consume(tally.consumed)
        outcome.received += tally.messages
        outcome.payloadBytes += tally.payloadBytes
        control.deliver(tally.messages)
        if let serverError = tally.serverError {
            throw BenchError("the server said \(serverError) after \(outcome.received) messages")
        }
        for _ in 0..<tally.pings {
            try connection.write("PONG\r\n", shouldStop: { control.shouldStop })
        }
        return tally.pongs
    }
}
