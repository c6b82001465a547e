import DocketWire

/// Lame duck mode, as nats-server does it on SIGUSR2 (`nats-server --signal ldm`): take no new
/// clients, tell the connected ones (INFO with `"ldm":true`, which NATS clients answer by moving
/// to another server of their list), wait a grace period, close them a few at a time over the
/// lame duck duration rather than all at once, then shut down as on SIGTERM.
extension Server {
    func enterLameDuckMode() {
        guard !inLameDuckMode, !shuttingDown else { return }
        inLameDuckMode = true
        log.info("Entering lame duck mode, stop accepting new clients")
        SystemdNotifier.notify("STATUS=lame duck mode: clients are told to move, then closed")
        stopAccepting()
        for connection in connections.values where connection.isTransportReady && connection.closeReason == nil {
            // The whole INFO again, as nats-server sends it: nats.go replaces what it knows of
            // the server with this one, client_id and client_ip included.
            connection.output.append("INFO ")
            connection.output.append(string: infoJSON(for: connection, lameDuck: true))
            connection.output.append("\r\n")
            queueFlush(connection)
        }
        let timer = loop.makeEvent(fd: -1, flags: 0, context: self, callback: lameDuckCallback)
        EventLoop.add(timer, timeoutMilliseconds: config.lameDuckGraceMilliseconds)
        lameDuckTimer = timer
    }

    /// One step after the grace period: close the next few clients, or finish.
    fileprivate func lameDuckStep() {
        guard !shuttingDown else { return }
        let remaining = connections.values.filter { $0.closeReason == nil }.sorted { $0.id < $1.id }
        guard !remaining.isEmpty else {
            log.info("Lame duck mode: every client is gone; shutting down")
            return beginShutdown()
        }
        if lameDuckPace == nil {
            // Spread the closes over the duration, at most ten steps a second, so that a crowd
            // of clients does not reconnect elsewhere in the same moment.
            let steps = max(1, min(remaining.count, config.lameDuckDurationMilliseconds / 100))
            lameDuckPace = ((remaining.count + steps - 1) / steps, max(1, config.lameDuckDurationMilliseconds / steps))
        }
        let (batch, interval) = lameDuckPace!
        for connection in remaining.prefix(batch) {
            endAfterOwedReplies(connection, reason: "Lame Duck Mode")
        }
        if let lameDuckTimer { EventLoop.add(lameDuckTimer, timeoutMilliseconds: remaining.count > batch ? interval : 1) }
    }
}

private func lameDuckCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().lameDuckStep()
}
