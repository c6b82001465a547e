import DocketStore

/// ENQs (and publishes that make jobs) wait while the write-ahead log runs too far ahead of its
/// checkpoints.
///
/// Every batch waits in memory (its records, its payloads) from its log write until a checkpoint
/// has moved it into LMDB. Under `--sync none` the loop logs a fill of 64-byte jobs at 650,000 to
/// 790,000 a second, faster than the checkpoints apply it, and a million of them left 30 to 50 MB
/// more in the process at their last `+OK` than once the checkpoints had caught up. Past
/// `--max-checkpoint-backlog` a connection's next ENQ waits, and its socket is not read, until
/// they have: the producer is slowed, as nats-server slows a fast publisher, while everyone else
/// (workers' ACKs included, which let the checkpoints through) goes on.
extension Server {
    /// How often a waiting ENQ looks at the backlog again: checkpoints come every 100 ms, and
    /// one of a full backlog takes tens of milliseconds.
    static let checkpointWaitMilliseconds = 2

    func mustWaitForCheckpoints(_ connection: Connection) -> Bool {
        guard let directory = dataDirectory, postgres == nil, connection.readEvent != nil, !connection.runsLastWord, !shuttingDown else {
            return false
        }
        return backlogIsOver(directory)
    }

    /// Whether a PUB or HPUB to `subject` makes jobs (an ENQ or BATCH through `$DOCKET.API`, or
    /// a message a route turns into jobs) while the backlog is over: it waits as an ENQ does,
    /// else a stock NATS client grows the backlog as far as its turns and `--max-pending` let
    /// it. A plain publish is told apart by its first byte while no route exists, and the
    /// routes are matched only once the backlog is over.
    func publishMustWaitForCheckpoints(_ subject: UnsafeRawBufferPointer, _ connection: Connection) -> Bool {
        if subject.first == UInt8(ascii: "$") {
            return JobAPI.makesJobs(subject) && mustWaitForCheckpoints(connection)
        }
        guard routeIndex.count > 0, mustWaitForCheckpoints(connection) else { return false }
        return !subscriptions(of: routeIndex, matching: subject).plain.isEmpty
    }

    /// Over the limit, and the checkpoints still working to bring it down (after a checkpoint
    /// failed, the next commit fails with its error and stops the server: an ENQ that waited
    /// for the backlog would wait for ever instead).
    private func backlogIsOver(_ directory: DataDirectory) -> Bool {
        directory.checkpointBacklogBytes > config.maxCheckpointBacklog && !directory.checkpointsFailed
    }

    /// Leaves `connection`'s input from `position` (its ENQ) on until the backlog is back
    /// under the limit; nothing more is read from it meanwhile.
    func waitForCheckpoints(_ connection: Connection, from position: Int) {
        connection.input.consume(position)
        connection.hasDeferredCommands = true
        if !connection.isReadPaused, let event = connection.readEvent {
            EventLoop.remove(event)
            connection.isReadPaused = true
        }
        guard !connection.waitsForCheckpoints else { return }
        connection.waitsForCheckpoints = true
        checkpointWaiters.append(connection)
        stats.checkpointWaits += 1
        if checkpointWaiters.count == 1 {
            dataDirectory?.hurryCheckpoint()
            if checkpointWaitTimer == nil {
                checkpointWaitTimer = loop.makeEvent(fd: -1, flags: 0, context: self, callback: checkpointWaitCallback)
            }
            EventLoop.add(checkpointWaitTimer!, timeoutMilliseconds: Self.checkpointWaitMilliseconds)
        }
    }

    func checkpointWaitEnded() {
        guard !checkpointWaiters.isEmpty else { return }
        if !shuttingDown, let directory = dataDirectory, backlogIsOver(directory) {
            directory.hurryCheckpoint()
            EventLoop.add(checkpointWaitTimer!, timeoutMilliseconds: Self.checkpointWaitMilliseconds)
            return
        }
        let waiters = checkpointWaiters
        checkpointWaiters.removeAll(keepingCapacity: true)
        // In the order they began to wait; one that waits again goes back on the list.
        for connection in waiters {
            connection.waitsForCheckpoints = false
            connection.hasDeferredCommands = false
            resume(connection)
        }
    }
}

private func checkpointWaitCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().checkpointWaitEnded()
}
