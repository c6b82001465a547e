import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// One client thread of a job run: it opens its share of the connections, then serves them
/// all with poll(2), so that dozens of connections cost a few busy threads rather than one
/// sleeping thread each. On a machine whose cores the server shares, the client's overhead is
/// part of every figure; multiplexing keeps it small and the same for every server.
struct JobLoop: Sendable {
    let roles: [SessionRole]
    let plan: JobsPlan
    let budget: JobBudget
    let control: RunControl
    /// Whether confirmed enqueues, rather than acks, complete the run.
    let enqueuesComplete: Bool
    /// When the run's first job was enqueued at the earliest, if before this phase (a prefill).
    var earliestEnqueue: UInt64? = nil

    /// Big enough for thousands of small replies per read, and for any one reply with its payload.
    static let receiveBufferSize = 256 << 10
    /// How long poll(2) waits before the loop looks at the deadline and the stop flag again.
    static let pollMilliseconds: Int32 = 50

    /// Connects and prepares every connection, signals `ready` (also on failure, so the
    /// starter never waits for a thread that will not come), waits for `go`, then runs until
    /// the run is complete or stopped. Runs on its own thread.
    func run(ready: DispatchSemaphore, go: DispatchSemaphore) -> SessionStats {
        let wire = plan.wire
        var sessions: [any JobSession] = []
        do {
            for role in roles { sessions.append(try connect(role, wire: wire)) }
        } catch {
            control.fail("connecting: \(error)")
            ready.signal()
            return SessionStats()
        }
        ready.signal()
        // The starter signals go once everyone is ready, or fails the run.
        let now = MonotonicClock.now()
        let remaining = control.deadline > now ? Int(control.deadline - now) : 0
        guard go.wait(timeout: .now() + .nanoseconds(remaining)) == .success, !control.shouldStop else {
            return total(sessions)
        }

        var current: (any JobSession)?
        do {
            let startedAt = MonotonicClock.now()
            for session in sessions {
                current = session
                session.start(now: startedAt)
                _ = try session.output.flush(to: session.connection)
            }
            current = nil
            try serve(sessions, wire: wire, current: &current)
        } catch {
            // After the deadline, errors are consequences of it; the scenario reports the timeout.
            if !control.deadlinePassed {
                let who = current.map { "\($0.role): " } ?? ""
                control.fail("\(who)\(error)")
            }
        }
        return total(sessions)
    }

    private func connect(_ role: SessionRole, wire: any JobWire) throws -> any JobSession {
        var port = plan.port
        if case .worker = role, let workerPort = plan.workerPort { port = workerPort }
        let connection = try Connection(to: plan.address, port: port, receiveBufferSize: Self.receiveBufferSize)
        let shouldStop = { control.shouldStop }
        switch role {
        case .producer:
            try wire.prepareProducer(connection, shouldStop: shouldStop)
            try connection.makeNonBlocking()
            return ProducerSession(role: role, connection: connection, wire: wire, budget: budget,
                                   window: plan.window, control: enqueuesComplete ? control : nil)
        case .worker:
            try wire.prepareWorker(connection, shouldStop: shouldStop)
            try connection.makeNonBlocking()
            return WorkerSession(role: role, connection: connection, wire: wire, budget: budget,
                                 inFlight: plan.inFlight, measureFromEnqueue: plan.mode == .cycle,
                                 earliestEnqueue: earliestEnqueue, control: control)
        }
    }

    /// Polls every connection for replies (and, where output is waiting, for room to write)
    /// until the run's target is reached or it is stopped.
    private func serve(_ sessions: [any JobSession], wire: any JobWire, current: inout (any JobSession)?) throws {
        var descriptors = sessions.map { pollfd(fd: $0.connection.fileDescriptor, events: Int16(POLLIN), revents: 0) }
        while !control.targetReached && !control.shouldStop {
            for index in sessions.indices {
                let wantsWrite = !sessions[index].output.isEmpty
                descriptors[index].events = Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0)
            }
            // Bytes TLS already decrypted do not make a socket readable: do not wait for them.
            let buffered = sessions.contains { $0.connection.hasBufferedInput }
            let ready = poll(&descriptors, nfds_t(descriptors.count), buffered ? 0 : Self.pollMilliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw BenchError.system("poll")
            }
            if buffered {
                for index in sessions.indices where sessions[index].connection.hasBufferedInput {
                    descriptors[index].revents |= Int16(POLLIN)
                }
            }
            guard ready > 0 || buffered else { continue }
            for index in sessions.indices where descriptors[index].revents != 0 {
                let session = sessions[index]
                current = session
                if descriptors[index].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    try receive(session, wire: wire)
                }
                _ = try session.output.flush(to: session.connection)
            }
            current = nil
        }
    }

    /// Reads what has arrived and hands every complete reply to the session.
    private func receive(_ session: any JobSession, wire: any JobWire) throws {
        let connection = session.connection
        // A hang-up with nothing left to read makes fill() throw "closed", as it should.
        guard try connection.fill() else { return }
        let now = MonotonicClock.now()
        while let parsed = try wire.parse(connection.unread) {
            switch parsed.reply {
            case .ping: wire.appendPong(to: &session.output)
            case .ignored: break
            default: try session.handle(parsed.reply, now: now)
            }
            // Only now: the reply's buffers point into the unread bytes.
            connection.consume(parsed.length)
        }
    }

    private func total(_ sessions: [any JobSession]) -> SessionStats {
        var stats = SessionStats()
        for session in sessions { stats.merge(session.stats) }
        return stats
    }
}
