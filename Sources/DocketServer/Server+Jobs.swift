import DocketEngine
import DocketStore
import DocketWire
import Glibc

/// Job verbs, group commit and job timers.
extension Server {
    func executeJob(
        _ verb: JobVerb, _ bytes: UnsafeRawBufferPointer, _ arguments: Range<Int>, _ payload: Range<Int>?,
        _ connection: Connection
    ) {
        let command: JobCommand
        switch JobCommand.parse(verb, bytes, arguments) {
        case .failure(let error): return jobError(connection, error)
        case .success(let parsed): command = parsed
        }
        let body = payload.map { Array(bytes[$0]) }
        switch command {
        case .enqueue(let queue, let options):
            // Count what this pass already staged too: a burst of pipelined ENQs all land in
            // one transaction, which must still fit. LMDB pages and B-tree splits can take about
            // twice the raw bytes, hence the factor.
            let cost = 2 * ((body?.count ?? 0) + 256)
            if Double(store.usedBytes + stagedBytes + cost) > Self.storeFullFraction * Double(store.capacityBytes) {
                let percent = Int(100 * Double(store.usedBytes + stagedBytes) / Double(store.capacityBytes))
                return jobError(connection, JobError(.storeFull, "the store is \(percent)% full; ENQ is refused until jobs are acked or deleted"))
            }
            stagedBytes += cost
            let key = options.key.map { Array(bytes[$0]) }
            let group = options.group.map { Array(bytes[$0]) }
            let (id, duplicate) = engine.enqueue(
                queue: UnsafeRawBufferPointer(rebasing: bytes[queue]), options: options, key: key, group: group,
                payload: body ?? [])
            let out = holdReplies(connection)
            out.append("+OK ")
            out.appendDecimal(Int(id))
            out.append(duplicate ? " duplicate\r\n" : "\r\n")
        case .reserve(let queues, let timeout):
            let names = queues.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
            let (job, waiter) = engine.reserve(
                queues: names, owner: connection.id, wait: timeout != 0, timeoutMilliseconds: timeout)
            if let job {
                sendJob(job, to: connection)
            } else if let waiter {
                connection.waiter = waiter
            } else {
                replies(for: connection).append("NOJOB\r\n")
            }
        case .ack(let id):
            connection.heldJobs.remove(id)
            switch engine.ack(id: id, owner: connection.id, result: body) {
            case .failure(let error): jobError(connection, error)
            case .success: holdReplies(connection).append("+OK\r\n")
            }
        case .fail(let id, let choice):
            connection.heldJobs.remove(id)
            switch engine.fail(id: id, owner: connection.id, choice: choice, reason: body) {
            case .failure(let error): jobError(connection, error)
            case .success(.dead): holdReplies(connection).append("+OK dead\r\n")
            case .success(.retry(let milliseconds)):
                let out = holdReplies(connection)
                out.append("+OK retry ")
                out.appendDecimal(milliseconds)
                out.append("\r\n")
            }
        case .throttle(let id, let milliseconds, let groupOnly):
            connection.heldJobs.remove(id)
            switch engine.throttle(id: id, owner: connection.id, milliseconds: milliseconds, groupOnly: groupOnly, reason: body) {
            case .failure(let error): jobError(connection, error)
            case .success:
                let out = holdReplies(connection)
                out.append("+OK throttled ")
                out.appendDecimal(milliseconds)
                out.append("\r\n")
            }
        case .queue(let queue, let settings):
            let name = UnsafeRawBufferPointer(rebasing: bytes[queue])
            if settings.isEmpty {
                let document = engine.queueDocument(engine.queue(named: name))
                replies(for: connection).appendDataReply("JSON", body: Array(document.utf8))
            } else {
                engine.setConfig(engine.config(of: name).applying(settings), of: name)
                holdReplies(connection).append("+OK\r\n")
            }
        case .pause(let queue), .resume(let queue):
            let name = UnsafeRawBufferPointer(rebasing: bytes[queue])
            var config = engine.config(of: name)
            if case .pause = command { config.paused = true } else { config.paused = false }
            engine.setConfig(config, of: name)
            holdReplies(connection).append("+OK\r\n")
        case .stats:
            replies(for: connection).appendDataReply("JSON", body: Array(statsDocument().utf8))
        case .queues:
            let documents = engine.queueList.map { engine.queueDocument($0) }
            replies(for: connection).appendDataReply("JSON", body: Array(("[" + documents.joined(separator: ",") + "]").utf8))
        case .progress(let id, let percent):
            switch engine.progress(id: id, owner: connection.id, percent: percent, note: body) {
            case .failure(let error): jobError(connection, error)
            case .success: replies(for: connection).append("+OK\r\n")
            }
        case .touch(let id):
            switch engine.touch(id: id, owner: connection.id) {
            case .failure(let error): jobError(connection, error)
            case .success: replies(for: connection).append("+OK\r\n")
            }
        case .inspect(let id):
            guard let job = engine.job(id) else { return jobError(connection, .notFound(id)) }
            replies(for: connection).appendDataReply("JSON", body: Array(job.json.utf8))
        case .dead(let queue, let limit):
            let jobs = engine.deadJobs(queue: UnsafeRawBufferPointer(rebasing: bytes[queue]), limit: limit)
            replies(for: connection).appendDataReply("JSON", body: Array(("[" + jobs.map(\.json).joined(separator: ",") + "]").utf8))
        case .retryJob(let id):
            switch engine.retry(id: id) {
            case .failure(let error): jobError(connection, error)
            case .success: holdReplies(connection).append("+OK\r\n")
            }
        case .retryQueue(let queue):
            let count = engine.retryAll(queue: UnsafeRawBufferPointer(rebasing: bytes[queue]))
            let out = holdReplies(connection)
            out.append("+OK ")
            out.appendDecimal(count)
            out.append("\r\n")
        case .delete(let id):
            switch engine.delete(id: id) {
            case .failure(let error): jobError(connection, error)
            case .success: holdReplies(connection).append("+OK\r\n")
            }
        }
    }

    /// The server's counters as one JSON document, for STATS and `/varz`.
    func statsDocument() -> String {
        var writer = JSONObjectWriter()
        writer.add("server_id", serverID)
        writer.add("version", Self.natsCompatibleVersion)
        writer.add("docket_version", Self.version)
        writer.add("uptime_ms", monotonicMilliseconds() - startedAt)
        writer.add("connections", connections.count)
        writer.add("total_connections", stats.totalConnections)
        writer.add("refused_connections", stats.refusedConnections)
        writer.add("subscriptions", index.count)
        writer.add("slow_consumers", stats.slowConsumers)
        writer.add("in_msgs", stats.messagesIn)
        writer.add("out_msgs", stats.messagesOut)
        writer.add("in_bytes", stats.bytesIn)
        writer.add("out_bytes", stats.bytesOut)
        writer.add("jobs", engine.jobs.count)
        writer.add("queues", engine.queueList.count)
        writer.add("commits", stats.commits)
        writer.add("store_used_bytes", store.usedBytes)
        writer.add("store_capacity_bytes", store.capacityBytes)
        writer.add("store_file_bytes", dataDirectory?.fileBytes ?? 0)
        writer.add("sync", config.syncMode.rawValue)
        writer.add("max_payload", config.maxPayload)
        return writer.result
    }

    /// ENQ is refused past this fraction of the store, keeping room for ACK and FAIL.
    static let storeFullFraction = 0.9

    private func jobError(_ connection: Connection, _ error: JobError) {
        replies(for: connection).append(string: error.line)
    }

    /// `JOB <id> <queue> <attempt> <#bytes>\r\n<payload>\r\n`.
    func sendJob(_ job: Job, to connection: Connection) {
        connection.heldJobs.insert(job.id)
        let out = replies(for: connection)
        out.append("JOB ")
        out.appendDecimal(Int(job.id))
        out.append(Byte.space)
        out.append(string: job.queue)
        out.append(Byte.space)
        out.appendDecimal(job.attempts)
        out.append(Byte.space)
        out.appendDecimal(job.payload.count)
        out.append("\r\n")
        out.append(job.payload)
        out.append("\r\n")
    }

    /// Resolves waiting RESERVEs the engine served or timed out, and lets those connections
    /// carry on with the commands they sent meanwhile.
    func handleEngineEvents() {
        while true {
            let events = engine.takeEvents()
            if events.isEmpty { return }
            for event in events {
                switch event {
                case .delivered(let waiter, let job):
                    guard let connection = connections[waiter.owner], connection.waiter === waiter else {
                        // Its connection is gone: the job goes back as a lost attempt.
                        engine.ownerGone(waiter.owner, heldJobs: [job.id])
                        continue
                    }
                    connection.waiter = nil
                    sendJob(job, to: connection)
                    resume(connection)
                case .timedOut(let waiter):
                    guard let connection = connections[waiter.owner], connection.waiter === waiter else { continue }
                    connection.waiter = nil
                    replies(for: connection).append("NOJOB\r\n")
                    resume(connection)
                }
            }
        }
    }

    // MARK: Group commit

    /// Writes every change of this pass in one transaction; replies held for it go out after.
    func commitChanges() {
        guard engine.hasChanges || !awaitingCommit.isEmpty else { return }
        var batch = StoreBatch()
        for (id, job) in engine.takeChanges() {
            guard let job else {
                batch.deletes.append(id)
                continue
            }
            if !job.isPayloadStored {
                batch.payloads.append((id, job.payload))
                job.isPayloadStored = true
            }
            batch.puts.append((id, JobCodec.encode(job)))
        }
        for queue in engine.takeQueueChanges() {
            batch.queues.append((queue.name, QueueConfigCodec.encode(queue.config)))
        }
        batch.nextID = engine.nextID
        let committed = currentBatch
        currentBatch += 1
        stagedBytes = 0
        let waiting = awaitingCommit
        awaitingCommit.removeAll(keepingCapacity: true)
        stats.commits += 1
        store.commit(batch) { [self] result in
            switch result {
            case .success:
                for connection in waiting where !connection.isClosed {
                    while let first = connection.heldReplies.first, first.batch <= committed {
                        connection.heldReplies.removeFirst()
                        connection.output.append(first.buffer.readableBytes)
                    }
                    queueFlush(connection)
                }
            case .failure(let error):
                // The changes are in memory but not on disk, and their replies were not sent.
                // Stopping is the only way to keep every acknowledged change true: on restart
                // the store is the truth, and clients retry what was never acknowledged.
                log.error("Store commit failed: \(error); exiting so that nothing unacknowledged is mistaken for done")
                exit(1)
            }
        }
    }

    // MARK: Timers

    /// Arms the job timer for the engine's next deadline (delays, leases, RESERVE timeouts).
    func armJobTimer() {
        guard let deadline = engine.nextDeadline else { return }
        if armedJobDeadline == deadline { return }
        armedJobDeadline = deadline
        let wait = max(0, Int(deadline - clock.now()))
        EventLoop.add(jobTimer!, timeoutMilliseconds: wait)
    }

    func jobTimerFired() {
        armedJobDeadline = nil
        engine.advance()
    }
}

/// Wall-clock milliseconds for the engine.
final class SystemClock: EngineClock {
    func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec / 1_000_000)
    }
}
