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
        switch JobCommand.parse(verb, bytes, arguments) {
        case .failure(let error):
            // The commands after a BATCH that cannot be read cannot be told apart from lone
            // ones: enqueueing them one by one would break the batch's promise.
            if verb == .batch { return protocolError(connection, ProtocolError(.invalidProtocol, "BATCH needs a count from 1: \(error.message)")) }
            render(.error(error), to: connection)
        case .success(.batch(let count)):
            let tooMany = count > config.maxBatch ? JobError(.limit, "a batch holds at most \(config.maxBatch) ENQs (--max-batch)") : nil
            connection.batch = PendingBatch(expected: count, refusal: tooMany)
        case .success(let command):
            // A WAIT without a timeout blocks the connection until the job ends; for a job this
            // connection holds, that would be never (its ACK or FAIL could not be read any more).
            if case .wait(let id, nil) = command, let job = engine.job(id), job.state == .active, job.holder == connection.id {
                return render(.error(JobError(.badOption, "job \(id) is held by this connection: ACK or FAIL it rather than WAIT for it")), to: connection)
            }
            render(perform(command, bytes, payload.map { Array(bytes[$0]) }, for: connection), to: connection)
        }
    }

    /// Carries out a job command for `connection` (the lease owner) and says what to answer;
    /// the wire protocol and the request/reply API render the same answer their own way.
    func perform(_ command: JobCommand, _ bytes: UnsafeRawBufferPointer, _ body: [UInt8]?, for connection: Connection) -> JobReply {
        func name(_ range: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[range]) }
        if let permissions = connection.permissions,
            let refused = refusal(of: command, bytes, permissions, user: connection.principal?.name ?? "")
        {
            return .error(refused)
        }
        // CANCEL touches no store (`endWait` ended the RESERVE before it), on either.
        if let postgres, command != .cancelWait { return performInPostgres(postgres, command, bytes, body, for: connection) }
        switch command {
        case .enqueue(let queue, let options):
            if let refused = admit(bytes: body?.count ?? 0, upTo: Self.storeFullFraction, "ENQ is refused until jobs are acked or deleted") {
                return refused
            }
            if let refused = refuseNewQueue(name(queue)) { return refused }
            let parents: [UInt64]
            switch resolveParents(options.after, earlier: [], for: connection) {
            case .failure(let error): return .error(error)
            case .success(let ids): parents = ids
            }
            let key = options.key.map { Array(bytes[$0]) }
            if !parents.isEmpty, key.flatMap({ engine.jobID(queue: name(queue), key: $0) }) == nil {
                let depth = engine.flowDepth(after: parents)
                if depth > config.maxFlowDepth { return .error(Self.flowTooDeep(depth, limit: config.maxFlowDepth)) }
            }
            return enqueueChecked(queue: name(queue), options, bytes, body, parents: parents)
        case .reserve(let queues, let timeout):
            if timeout != 0, let refused = queues.lazy.compactMap({ self.refuseNewQueue(name($0)) }).first { return refused }
            let (job, waiter) = engine.reserve(
                queues: queues, in: bytes, owner: connection.id, wait: timeout != 0, timeoutMilliseconds: timeout)
            if let job { return .job(job) }
            if let waiter { return .waitingForJob(waiter) }
            return .noJob
        // A job leaves the connection's held set only once the engine has let it go: a refused
        // command changes nothing, and the job is still returned if the connection closes.
        case .ack, .fail, .throttle, .progress:
            // A result, reason or note is admitted like a payload, into the room kept for
            // finishing jobs; the same command without one always goes.
            if let body, !body.isEmpty,
                let refused = admit(bytes: body.count, upTo: Self.bodyFullFraction, "send it again without a result, reason or note")
            {
                return refused
            }
            stagedBytes += body.map { $0.isEmpty ? 0 : Self.storeCost($0.count) } ?? 0
            return performHeld(command, body, for: connection)
        case .touch(let id, let attempt):
            return outcome(engine.touch(id: id, owner: connection.id, attempt: attempt)) { .doneNow }
        case .inspect(let id):
            guard let job = engine.job(id) else { return .error(.notFound(id)) }
            let (children, more) = engine.children(of: id, after: nil, limit: JobView.shownChildren)
            var view = job.view(children: Array(children))
            view.childrenTruncated = more
            view.failedAttempts = job.failedAttempts
            view.parents = Self.readable(view.parents, connection.permissions) { self.engine.job($0)?.queue }
            view.children = Self.readable(view.children, connection.permissions) { self.engine.job($0)?.queue }
            return .document(view.json)
        case .children(let id, let after, let limit):
            guard engine.job(id) != nil else { return .error(.notFound(id)) }
            let (children, more) = engine.children(of: id, after: after, limit: limit)
            let readable = Self.readable(Array(children), connection.permissions) { self.engine.job($0)?.queue } ?? []
            return .document(ChildrenPage.json(parent: id, children: readable, next: more ? children.last : nil, budget: config.replyBudget))
        case .wait(let id, let timeout):
            switch engine.watch(id: id, owner: connection.id, timeoutMilliseconds: timeout) {
            case .notFound: return .error(.notFound(id))
            case .finished(let job): return .outcome(JobOutcome(job))
            case .waiting(let watch): return .waitingForOutcome(watch)
            }
        case .dead(let queue, let limit):
            // No more than the reply can hold are looked at (`DEAD q limit=9999999999` walked
            // every dead job of the queue, up to `keep_dead`), and the walk counts toward the
            // client's turn as LIST's does.
            let page = engine.deadPage(queue: name(queue), limit: min(limit, config.replyBudget.mostItems(ofAtLeast: JobView.leastBytes)))
            stats.listCandidatesWalked += page.walked
            let jobs = page.jobs
            return .document(JobView.array(count: jobs.count, budget: config.replyBudget) { readableView(of: jobs[$0], connection.permissions) })
        case .retryJob(let id):
            return outcome(engine.retry(id: id)) { .done }
        case .retryQueue(let queue):
            // A slice a pass, as PURGE's deletions.
            let revival = engine.retryAll(queue: name(queue), atOnce: Self.deadlinesPerTurn)
            if revival.isDone { return .count(revival.revived) }
            return answerWhenDone(revival)
        case .delete(let id):
            return outcome(engine.delete(id: id)) { .done }
        case .queue(let queue, let settings):
            if settings.isEmpty { return .document(engine.queueDocument(named: name(queue))) }
            if let refused = refuseNewQueue(name(queue)) { return refused }
            engine.setConfig(engine.config(of: name(queue)).applying(settings), of: name(queue))
            return .done
        case .pause(let queue), .resume(let queue):
            if let refused = refuseNewQueue(name(queue)) { return refused }
            var config = engine.config(of: name(queue))
            if case .pause = command { config.paused = true } else { config.paused = false }
            engine.setConfig(config, of: name(queue))
            return .done
        case .stats:
            return .document(statsDocument())
        case .queues(let after, let limit):
            let documents = queueDocuments(
                in: QueueDirectory(engine: engine), after: after.map { Array(bytes[$0]) } ?? [], limit: limit, readableBy: connection.permissions)
            return .document(config.replyBudget.array(count: documents.count) { documents[$0] }.json)
        case .route(let pattern, let queue, let options, let text):
            if let refused = refuseNewQueue(name(queue)) { return refused }
            return addRoute(
                pattern: Array(bytes[pattern]), queue: Array(bytes[queue]), options: options,
                group: options.group.map { Array(bytes[$0]) }, text: Array(bytes[text]),
                owner: config.authenticator == nil ? nil : connection.principal?.name)
        case .unroute(let id):
            return removeRoute(id)
        case .routes(let after, let limit):
            return routesDocument(after: after, limit: limit, readableBy: connection.permissions)
        case .cancelWait:
            return .doneNow
        case .list(let queue, let state, let after, let limit):
            let page = engine.list(queue: name(queue), state: state, after: after, limit: limit)
            stats.listCandidatesWalked += page.walked
            return .document(JobPageView.json(
                queue: String(decoding: name(queue), as: UTF8.self), state: state, count: page.jobs.count, more: page.more,
                budget: config.replyBudget, job: { readableView(of: page.jobs[$0], connection.permissions) }, cursor: { page.cursors[$0] }))
        case .purge(let queue, let state, let older):
            // A slice a pass, as `advance` does what comes due.
            let purge = engine.purge(queue: name(queue), state: JobState.named(state.rawValue), olderThan: older, atOnce: Self.deadlinesPerTurn)
            if purge.isDone { return .count(purge.deleted) }
            return answerWhenDone(purge)
        case .promote(let id):
            return outcome(engine.promote(id: id)) { .done }
        case .schedule, .unschedule, .schedules, .pauseSchedule, .resumeSchedule:
            return performSchedule(command, bytes, body, for: connection)
        case .parents(let id):
            guard let parents = engine.parents(of: id) else { return .error(.notFound(id)) }
            return .document(ParentView.array(Self.readable(parents, connection.permissions), budget: config.replyBudget))
        case .batch:
            return .error(JobError(.badOption, "a BATCH holds only ENQs"))
        }
    }

    /// The answer of a command the engine goes on with between passes (a PURGE, a RETRY
    /// queue=<q>): it keeps its place, and the connection's later commands wait for it, as they
    /// wait for a RESERVE.
    private func answerWhenDone(_ work: AnyObject) -> JobReply {
        let answer = JobAnswer(blocks: true)
        slicedAnswers[ObjectIdentifier(work)] = answer
        return .later(answer)
    }

    /// Creates a job whose command was checked and admitted.
    private func enqueueChecked(
        queue: UnsafeRawBufferPointer, _ options: EnqueueOptions, _ bytes: UnsafeRawBufferPointer, _ body: [UInt8]?, parents: [UInt64]
    ) -> JobReply {
        stagedBytes += Self.storeCost(body?.count ?? 0)
        let key = options.key.map { Array(bytes[$0]) }
        if options.replace, let key,
            let id = engine.replaceWaiting(queue: queue, key: key, options: options, payloadSize: body?.count ?? 0)
        {
            stagePayload(id, body ?? [])
            return .replaced(id)
        }
        let (id, duplicate) = engine.enqueue(
            queue: queue, options: options, key: key,
            group: options.group.map { Array(bytes[$0]) }, payloadSize: body?.count ?? 0, parents: parents)
        if !duplicate { stagedPayloads.append((id, body ?? [])) }
        return .enqueued(id: id, duplicate: duplicate)
    }

    /// Stages a payload for the next commit, replacing one already staged for the job (the list
    /// stays sorted by id: a new job's id is the largest, a replaced job's is found in place).
    private func stagePayload(_ id: UInt64, _ bytes: [UInt8]) {
        if let index = stagedIndex(id) {
            stagedPayloads[index].bytes = bytes
            return
        }
        var low = 0
        var high = stagedPayloads.count
        while low < high {
            let middle = (low + high) / 2
            if stagedPayloads[middle].id < id { low = middle + 1 } else { high = middle }
        }
        stagedPayloads.insert((id, bytes), at: low)
    }

    /// The ids `after=` names: jobs the engine knows (NOT_FOUND otherwise), which the user may
    /// read, and earlier ENQs of the same batch (`earlier`, by position from 1).
    private func resolveParents(_ after: [ParentReference]?, earlier: [UInt64], for connection: Connection) -> Result<[UInt64], JobError> {
        guard let after else { return .success([]) }
        var ids: [UInt64] = []
        for parent in after {
            switch parent {
            case .job(let id):
                guard let job = engine.job(id) else { return .failure(JobError(.notFound, "parent job \(id) not found")) }
                if let permissions = connection.permissions, !permissions.may(.read, queue: Array(job.queue.utf8)) {
                    return .failure(Self.hiddenParent(id))
                }
                ids.append(id)
            case .batchPosition(let position):
                guard position <= earlier.count else {
                    return .failure(JobError(.badOption, earlier.isEmpty && position == 1 && connection.batch == nil
                        ? "after=#\(position) names an ENQ of the same BATCH, and this ENQ is not in one"
                        : "after=#\(position) names an ENQ that does not come earlier in the batch"))
                }
                ids.append(earlier[position - 1])
            }
        }
        // Two references to one job (an id and a #n, say) count once.
        var seen = Set<UInt64>()
        return .success(ids.filter { seen.insert($0).inserted })
    }

    /// An ENQ whose job would be `depth` deep in its flow, past `--max-flow-depth`.
    static func flowTooDeep(_ depth: Int, limit: Int) -> JobError {
        JobError(.limit, "the job would be \(depth) deep in its flow, and \(limit) may be (--max-flow-depth)")
    }

    /// The depth in its flow of each job a batch's ENQs give, as they would be enqueued in
    /// order, or the first ENQ whose new job would be deeper than `--max-flow-depth`. An ENQ
    /// whose key finds a job (known, or made by an earlier ENQ of the batch) gives that job,
    /// which keeps its depth; a `#n` parent counts with its depth whatever its state, as on
    /// PostgreSQL (`PostgresSchema.version22`).
    private func batchFlowDepths(_ items: [(arguments: [UInt8], payload: [UInt8])], _ commands: [(queue: Range<Int>, options: EnqueueOptions)]) -> (index: Int, depth: Int)? {
        var depths: [Int] = []
        var madeByKey: [[UInt8]: Int] = [:]
        for (index, item) in items.enumerated() {
            let (queue, options) = commands[index]
            if let range = options.key {
                let queueName = Array(item.arguments[queue])
                let key = Array(item.arguments[range])
                if let id = queueName.withUnsafeBytes({ engine.jobID(queue: $0, key: key) }) {
                    depths.append(engine.job(id)?.flowDepth ?? 1)
                    continue
                }
                let slot = queueName + [0] + key
                if let earlier = madeByKey[slot] {
                    depths.append(depths[earlier])
                    continue
                }
                madeByKey[slot] = index
            }
            var deepest = 0
            for parent in options.after ?? [] {
                switch parent {
                case .job(let id): deepest = max(deepest, engine.flowDepth(after: [id]) - 1)
                case .batchPosition(let position): deepest = max(deepest, depths[position - 1])
                }
            }
            if deepest + 1 > config.maxFlowDepth { return (index, deepest + 1) }
            depths.append(deepest + 1)
        }
        return nil
    }

    // MARK: BATCH

    /// One command that arrived while a BATCH is open: an ENQ is kept, anything else spoils the
    /// batch (PING and PONG, which clients send on their own, pass through). The last one ends it.
    func collect(_ op: ClientOp, _ bytes: UnsafeRawBufferPointer, into batch: PendingBatch, for connection: Connection) {
        switch op {
        case .ping, .pong:
            connection.batch = nil
            defer { connection.batch = batch }
            return execute(op, bytes, connection)
        case .job(.enq, let arguments, let payload):
            batch.add(
                arguments: UnsafeRawBufferPointer(rebasing: bytes[arguments]),
                payload: payload.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0),
                maxBytes: config.maxBatchBytes)
        case .job(let verb, _, _): batch.addStranger(verb.name)
        case .pub: batch.addStranger("PUB")
        case .hpub: batch.addStranger("HPUB")
        case .sub: batch.addStranger("SUB")
        case .unsub: batch.addStranger("UNSUB")
        case .connect: batch.addStranger("CONNECT")
        case .help: batch.addStranger("HELP")
        }
        guard batch.isComplete else { return }
        connection.batch = nil
        if let refusal = batch.refusal { return render(.error(refusal), to: connection) }
        render(performBatch(batch.items, for: connection), to: connection)
    }

    /// Enqueues a batch's jobs all together, or none of them: every one is checked first.
    func performBatch(_ items: [(arguments: [UInt8], payload: [UInt8])], for connection: Connection) -> JobReply {
        func numbered(_ index: Int, _ error: JobError) -> JobReply { .error(JobError(error.code, "job \(index + 1): \(error.message)")) }
        var commands: [(queue: Range<Int>, options: EnqueueOptions)] = []
        var newQueues = Set<[UInt8]>()
        var total = 0
        for (index, item) in items.enumerated() {
            let parsed = item.arguments.withUnsafeBytes { bytes -> Result<JobCommand, JobError> in
                let command = JobCommand.parse(.enq, bytes, 0..<bytes.count)
                if case .success(let command) = command, let permissions = connection.permissions,
                    let refused = refusal(of: command, bytes, permissions, user: connection.principal?.name ?? "")
                {
                    return .failure(refused)
                }
                return command
            }
            guard case .success(.enqueue(let queue, let options)) = parsed else {
                if case .failure(let error) = parsed { return numbered(index, error) }
                return numbered(index, JobError(.badOption, "not an ENQ"))
            }
            for parent in options.after ?? [] {
                switch parent {
                case .job:
                    // PostgreSQL checks the parents it is given itself.
                    guard postgres == nil else { continue }
                    guard case .job(let id) = parent, let job = engine.job(id) else {
                        return numbered(index, JobError(.notFound, "parent job \(parent.text) not found"))
                    }
                    if let permissions = connection.permissions, !permissions.may(.read, queue: Array(job.queue.utf8)) {
                        return numbered(index, Self.hiddenParent(id))
                    }
                case .batchPosition(let position):
                    guard position <= index else {
                        return numbered(index, JobError(.badOption, "after=#\(position) names an ENQ that does not come earlier in the batch"))
                    }
                }
            }
            let queueName = Array(item.arguments[queue])
            if !engine.hasQueue(queueName.withUnsafeBytes { $0 }) { newQueues.insert(queueName) }
            total += item.payload.count
            commands.append((queue, options))
        }
        if let postgres { return postgres.enqueueBatch(items, commands, for: connection) }
        if let refused = admit(bytes: total, upTo: Self.storeFullFraction, "the BATCH is refused until jobs are acked or deleted") {
            return refused
        }
        if !newQueues.isEmpty, engine.queueList.count + newQueues.count > config.maxQueues {
            return .error(JobError(.limit, "the batch would make \(newQueues.count) queues, and \(config.maxQueues) may exist (--max-queues)"))
        }
        if let (index, depth) = batchFlowDepths(items, commands) { return numbered(index, Self.flowTooDeep(depth, limit: config.maxFlowDepth)) }
        // All or none: everything was checked above, and retention waits for the end, so that
        // no ENQ of the batch can remove a parent a later one names.
        return engine.holdingRetention { () -> JobReply in
            var ids: [UInt64] = []
            for (index, item) in items.enumerated() {
                let (queue, options) = commands[index]
                let parents: [UInt64]
                switch resolveParents(options.after, earlier: ids, for: connection) {
                case .failure(let error): return numbered(index, error)  // checked above; cannot happen
                case .success(let resolved): parents = resolved
                }
                let reply = item.arguments.withUnsafeBytes { bytes in
                    enqueueChecked(queue: UnsafeRawBufferPointer(rebasing: bytes[queue]), options, bytes, item.payload, parents: parents)
                }
                switch reply {
                case .enqueued(let id, _), .replaced(let id): ids.append(id)
                default: return reply
                }
            }
            return .enqueuedBatch(ids)
        }
    }

    /// Ends `connection`'s waiting RESERVE or WAIT when the next command in its input is a
    /// CANCEL, answering it as its timeout would (NOJOB; PENDING with the job's state): a client
    /// that gave up the call (a cancelled task, an aborted call) gets its connection back at
    /// once, and no job is handed out to nobody, which would use up an attempt. The CANCEL
    /// itself then runs as usual. False when the connection stays blocked: it waits for a
    /// password check, or the next command is not a CANCEL (nor complete yet), which then runs
    /// after the wait's answer as always.
    func endWait(_ connection: Connection, _ bytes: UnsafeRawBufferPointer, at position: Int) -> Bool {
        guard !connection.isCheckingCredentials,
            case .op(.job(.cancel, _, _), _) = ClientParser.parse(bytes, from: position, limits: limits)
        else { return false }
        if let waiter = connection.waiter {
            engine.cancel(waiter)
            connection.waiter = nil
            render(.noJob, to: connection)
            return true
        }
        if let watch = connection.watch {
            engine.cancel(watch)
            connection.watch = nil
            render(timedOutAnswer(of: watch), to: connection)
            return true
        }
        guard let postgres, let answer = connection.pendingAnswer else { return false }
        // Not resumed by its answer: this pass goes on with the CANCEL.
        connection.pendingAnswer = nil
        guard postgres.endWait(answer, of: connection) else {
            connection.pendingAnswer = answer  // it ends in its turn (`PostgresBackend.endWait`)
            return false
        }
        return true
    }

    /// What a WAIT whose time is up (or that was cancelled) answers: the job's state now.
    private func timedOutAnswer(of watch: JobWatch) -> JobReply {
        guard let job = engine.job(watch.id) else { return .gone(watch.id) }
        return .pending(id: job.id, state: job.state.name)
    }

    /// Whether `op`, sent behind a RESERVE still to be tried on PostgreSQL, is read now
    /// (`PostgresBackend.readsAhead`); anything else waits for that RESERVE's answer.
    func mayReadAhead(_ op: ClientOp, _ bytes: UnsafeRawBufferPointer, _ connection: Connection) -> Bool {
        guard let postgres, let ahead = connection.pendingAnswer?.readAhead, case .job(let verb, let arguments, _) = op,
            case .success(let command) = JobCommand.parse(verb, bytes, arguments)
        else { return false }
        return postgres.readsAhead(command, bytes, behind: ahead, for: connection)
    }

    /// A command decided by PostgreSQL. One that names a job by id, from a user whose rights
    /// depend on the queue, first learns the job's queue there (the check above found no job in
    /// memory); then the command goes as for everyone.
    private func performInPostgres(
        _ postgres: PostgresBackend, _ command: JobCommand, _ bytes: UnsafeRawBufferPointer, _ body: [UInt8]?, for connection: Connection
    ) -> JobReply {
        guard let permissions = connection.permissions, let (id, right) = Self.jobRight(command) else {
            return postgres.perform(command, bytes, body, for: connection)
        }
        let user = connection.principal?.name ?? ""
        let answer = JobAnswer(blocks: { if case .wait(_, let timeout) = command { return timeout != 0 } else { return false } }())
        postgres.queue(ofJob: id, heldBy: connection) { result in
            switch result {
            case .failure(let error):
                answer.answer(.error(error))
            case .success(let queue):
                if let queue, let refused = Self.refusal(right, onJob: id, in: queue, permissions, user: user) {
                    return answer.answer(.error(refused))
                }
                // Commands that name a job carry no ranges into `bytes`.
                let reply = [UInt8]().withUnsafeBytes { postgres.perform(command, $0, body, for: connection) }
                if case .later(let inner) = reply { inner.onAnswer { answer.answer($0) } } else { answer.answer(reply) }
            }
        }
        return .later(answer)
    }

    /// A job's document as DEAD and LIST show it to a reader: parents in queues it may not read
    /// left out, as INSPECT leaves them out.
    private func readableView(of job: Job, _ permissions: Permissions?) -> JobView {
        var view = job.view
        view.parents = Self.readable(view.parents, permissions) { self.engine.job($0)?.queue }
        return view
    }

    /// One page of the routes the reader may read (ROUTES): by id, those above `after`, up to
    /// `limit` of them, as a JSON array that stops at the reply budget (the first always). A
    /// route's rule may be as long as a control line, so at `--max-routes` the whole list was
    /// one reply of about 4.5 MB.
    func routesDocument(after: UInt64?, limit: Int, readableBy permissions: Permissions?) -> JobReply {
        let ids = (after.map { after in routes.keys.filter { $0 > after } } ?? Array(routes.keys)).sorted()
        var visible: [Route] = []
        for id in ids where visible.count < limit {
            guard let route = routes[id], permissions.map({ $0.may(.read, queue: route.queue) }) ?? true else { continue }
            visible.append(route)
        }
        return .document(config.replyBudget.array(count: visible.count) { visible[$0].json }.json)
    }

    /// ACK, FAIL (also with throttle=) and PROGRESS of a job the connection holds (or, with
    /// `attempt=`, that another connection holds in that attempt).
    private func performHeld(_ command: JobCommand, _ body: [UInt8]?, for connection: Connection) -> JobReply {
        /// The job is no longer held by whoever held it.
        func released(_ id: UInt64, holder: UInt64?) {
            connection.heldJobs.remove(id)
            if let holder, holder != connection.id { connections[holder]?.heldJobs.remove(id) }
        }
        switch command {
        case .ack(let id, let attempt):
            let holder = engine.job(id)?.holder
            return outcome(engine.ack(id: id, owner: connection.id, attempt: attempt, result: body)) {
                released(id, holder: holder)
                return .done
            }
        case .fail(let id, let choice, let attempt):
            let holder = engine.job(id)?.holder
            switch engine.fail(id: id, owner: connection.id, attempt: attempt, choice: choice, reason: body) {
            case .failure(let error): return .error(error)
            case .success(let result):
                released(id, holder: holder)
                if case .retry(let milliseconds) = result { return .retry(milliseconds) }
                return .dead
            }
        case .throttle(let id, let milliseconds, let groupOnly, let attempt):
            let holder = engine.job(id)?.holder
            let result = engine.throttle(
                id: id, owner: connection.id, attempt: attempt, milliseconds: milliseconds, groupOnly: groupOnly, reason: body)
            return outcome(result) {
                released(id, holder: holder)
                return .throttled(milliseconds)
            }
        case .progress(let id, let percent, let attempt):
            return outcome(engine.progress(id: id, owner: connection.id, attempt: attempt, percent: percent, note: body)) { .doneNow }
        default:
            preconditionFailure("not a held-job command")
        }
    }

    /// Bytes a change that writes `size` bytes may take in the store: a small value shares leaf
    /// pages that B-tree splits leave half full (about twice its bytes, and a record has its own
    /// small cost); a value larger than a page takes whole overflow pages (see `DataDirectory`).
    static func storeCost(_ size: Int) -> Int { DataDirectory.overflowBytes(ofValue: size).map { $0 + 512 } ?? 2 * (size + 256) }

    /// A reload's `min_disk_free`: the next admission keeps the new room.
    func reloadMinDiskFree(_ bytes: Int) {
        guard bytes != config.minDiskFreeBytes else { return }
        config.minDiskFreeBytes = bytes
        log.info("SIGHUP: min_disk_free is now \(bytes) bytes")
    }

    /// `STORE_FULL` when writing `size` more bytes would take the store past `fraction` of its
    /// capacity, counting what this pass already staged and the batch being committed (a burst
    /// of pipelined commands all lands in one transaction, which must still fit).
    func admit(bytes size: Int, upTo fraction: Double, _ advice: String) -> JobReply? {
        let pending = store.usedBytes + committingBytes + stagedBytes
        // The disk's room is shared out as the store's is: new work stops at --min-disk-free, a
        // result, reason or note (the larger fraction) at half of it, and what finishes a job
        // without one is never refused here.
        let finishing = fraction >= Self.bodyFullFraction
        let floor = finishing ? config.minDiskFreeBytes / 2 : config.minDiskFreeBytes
        if let free = store.diskFreeBytes, free - committingBytes - stagedBytes - Self.storeCost(size) < floor {
            let mebibytes = { (bytes: Int) -> String in
                let tenths = (max(bytes, 0) * 10) >> 20
                return "\(tenths / 10).\(tenths % 10)"
            }
            let rest = finishing ? advice : "new jobs are refused until it has more room"
            return .error(JobError(
                .storeFull, "the disk under the data directory has \(mebibytes(free)) MiB free, and --min-disk-free keeps \(mebibytes(config.minDiskFreeBytes)) MiB for the changes that finish jobs; \(rest)"))
        }
        guard Double(pending + Self.storeCost(size)) > fraction * Double(store.capacityBytes) else { return nil }
        let percent = Int(100 * Double(pending) / Double(store.capacityBytes))
        return .error(JobError(.storeFull, "the store is \(percent)% full; \(advice)"))
    }

    /// `LIMIT` when `name` is not a queue yet and there are `--max-queues` already.
    func refuseNewQueue(_ name: UnsafeRawBufferPointer) -> JobReply? {
        guard engine.queueList.count >= config.maxQueues, !engine.hasQueue(name) else { return nil }
        return .error(JobError(.limit, "there are \(config.maxQueues) queues already (--max-queues)"))
    }

    private func outcome(_ result: Result<Void, JobError>, _ success: () -> JobReply) -> JobReply {
        switch result {
        case .failure(let error): return .error(error)
        case .success: return success()
        }
    }

    /// Writes a job command's answer on the wire, in order with the connection's other replies;
    /// answers that promise a change on disk wait for this pass's commit.
    func render(_ reply: JobReply, to connection: Connection) {
        switch reply {
        case .job(let job):
            sendJob(job, to: connection)
        case .waitingForJob(let waiter):
            connection.waiter = waiter
        case .waitingForOutcome(let watch):
            connection.watch = watch
        case .later(let answer):
            // The backend's answer is durable when it comes; until then it keeps its place.
            let placeholder = deferReply(connection)
            if answer.blocks { connection.pendingAnswer = answer }
            answer.onAnswer { [self] reply in
                write(reply, into: placeholder)
                fillDeferredReply(placeholder, of: connection)
                if connection.pendingAnswer === answer {
                    connection.pendingAnswer = nil
                    resume(connection)
                } else if connection.pendingAnswer != nil, connection.isBlocked, !connection.isClosed, connection.closeReason == nil {
                    // A RESERVE read ahead behind this one now waits in its own right: a CANCEL
                    // behind it, held back until now, ends it (`endWait`).
                    process(connection)
                }
            }
        default:
            write(reply, into: reply.isDurable ? holdReplies(connection) : replies(for: connection))
        }
    }

    /// The wire text of an answer that needs nothing more than itself.
    func write(_ reply: JobReply, into out: ByteBuffer) {
        switch reply {
        case .enqueued(let id, let duplicate):
            out.append("+OK ")
            out.appendDecimal(Int(id))
            out.append(duplicate ? " duplicate\r\n" : "\r\n")
        case .replaced(let id):
            out.append("+OK ")
            out.appendDecimal(Int(id))
            out.append(" replaced\r\n")
        case .enqueuedBatch(let ids):
            out.append("+OK")
            for id in ids {
                out.append(Byte.space)
                out.appendDecimal(Int(id))
            }
            out.append("\r\n")
        case .done, .doneNow:
            out.append("+OK\r\n")
        case .routeAdded(let id):
            out.append("+OK ")
            out.appendDecimal(Int(id))
            out.append("\r\n")
        case .retry(let milliseconds), .throttled(let milliseconds), .count(let milliseconds):
            if case .retry = reply { out.append("+OK retry ") } else if case .throttled = reply { out.append("+OK throttled ") } else { out.append("+OK ") }
            out.appendDecimal(milliseconds)
            out.append("\r\n")
        case .dead:
            out.append("+OK dead\r\n")
        case .document(let text):
            out.appendDataReply("JSON", body: Array(text.utf8))
        case .delivery(let job):
            job.payload.withUnsafeBytes {
                writeJob(id: job.id, queue: job.queue, attempt: job.attempt, lease: job.leaseMilliseconds, job.delivery, $0, to: out)
            }
        case .noJob:
            out.append("NOJOB\r\n")
        case .outcome(let outcome):
            out.append("OUTCOME ")
            out.appendDecimal(Int(outcome.id))
            out.append(outcome.completed ? " completed " : " dead ")
            let detail = outcome.detail ?? []
            out.appendDecimal(detail.count)
            out.append("\r\n")
            out.append(detail)
            out.append("\r\n")
        case .pending(let id, let state):
            out.append("PENDING ")
            out.appendDecimal(Int(id))
            out.append(Byte.space)
            out.append(string: state)
            out.append("\r\n")
        case .gone(let id):
            out.append(string: JobError.notFound(id).line)
        case .error(let error):
            out.append(string: error.line)
        case .job, .waitingForJob, .waitingForOutcome, .later:
            preconditionFailure("rendered by render(_:to:)")
        }
    }

    /// The server's counters as one JSON document, for STATS and `/varz`.
    func statsDocument(jobs: Int? = nil, queues: Int? = nil) -> String {
        var writer = JSONObjectWriter()
        writer.add("server_id", serverID)
        writer.add("version", Self.natsCompatibleVersion)
        writer.add("docket_version", Self.version)
        addCounters(to: &writer, jobs: jobs, queues: queues)
        writer.add("max_payload", config.maxPayload)
        if let cluster { writer.add("cluster", json: cluster.document) }
        return writer.result
    }

    /// The counters STATS and `/varz` share.
    func addCounters(to writer: inout JSONObjectWriter, jobs: Int? = nil, queues: Int? = nil) {
        writer.add("uptime_ms", monotonicMilliseconds() - startedAt)
        writer.add("connections", connections.count)
        writer.add("total_connections", stats.totalConnections)
        writer.add("refused_connections", stats.refusedConnections)
        writer.add("subscriptions", subscriptionCount)
        writer.add("slow_consumers", stats.slowConsumers)
        writer.add("in_msgs", stats.messagesIn)
        writer.add("out_msgs", stats.messagesOut)
        writer.add("in_bytes", stats.payloadBytesIn)
        writer.add("out_bytes", stats.payloadBytesOut)
        // On PostgreSQL without counts from the database (/varz cannot wait for it): the last snapshot's.
        let snapshot = postgres?.snapshot.queues
        writer.add("jobs", jobs ?? snapshot.map { $0.reduce(0) { $0 + $1.counts.values.reduce(0, +) } } ?? engine.jobs.count)
        writer.add("queues", queues ?? snapshot?.count ?? engine.queueList.count)
        writer.add("commits", stats.commits)
        writer.add("commit_us_total", stats.commitMicroseconds)
        writer.add("route_refusals", stats.routeRefusals)
        writer.add("skipped_ticks", stats.skippedTicks)
        writer.add("checkpoint_waits", stats.checkpointWaits)
        writer.add("store", postgres == nil ? "lmdb" : "postgres")
        if let postgres { writer.add("store_available", postgres.isAvailable) }
        writer.add("store_used_bytes", dataDirectory?.usedBytes ?? 0)
        writer.add("store_capacity_bytes", dataDirectory?.capacityBytes ?? 0)
        writer.add("store_file_bytes", dataDirectory?.fileBytes ?? 0)
        writer.add("sync", config.syncMode.rawValue)
    }

    /// Payloads of completed jobs deleted in one commit (see `completedPayloads`).
    static let payloadDeleteBatch = 512

    /// ENQ (and a routed job) is refused past this fraction of the store, keeping room for
    /// finishing jobs.
    static let storeFullFraction = 0.9
    /// A result, reason or note is refused past this fraction, keeping the last part of the
    /// room for what cannot be refused: finishing a job without one, RETRY, DEL, leases ending.
    static let bodyFullFraction = 0.95

    /// A number for one hand-out of a job, unique for the data directory's life: the start
    /// count in the high bits, so a crash that forgets a reservation cannot repeat one.
    func nextDeliveryID() -> UInt64 {
        deliveriesThisStart += 1
        return (dataDirectory?.bootCount ?? 0) << 40 | deliveriesThisStart
    }

    /// `JOB <id> <queue> <attempt> lease=<ms> delivery=<n> <#bytes>\r\n<payload>\r\n`, in order
    /// with the connection's other replies even when the payload has to come from the store.
    func sendJob(_ job: Job, to connection: Connection) {
        connection.heldJobs.insert(job.id)
        let delivery = nextDeliveryID()
        if let payload = payloadInMemory(job.id) {
            // Its ENQ (or the payload a replace=true gave it) is not on disk yet: the job goes
            // out with that commit, never before. A crash could otherwise take back a job a
            // worker already runs, and hand its id to the next ENQ, which the worker's ACK
            // would then complete.
            writeJob(job, delivery, payload, to: holdReplies(connection))
            return
        }
        let result = StoreFaultGuard.readingPayload(of: job.id) {
            store.withPayloadAtOnce(job.id) { writeJob(job, delivery, $0, to: replies(for: connection)) }
        }
        if let result {
            stopUnlessRead(result, of: job.id)
            return
        }
        // A store that answers later: the reply waits in a place of its own so that later
        // replies cannot overtake it.
        let placeholder = deferReply(connection)
        StoreFaultGuard.readingPayload(of: job.id) {
            store.readPayload(job.id) { [unowned self] result in
                writeJob(job, delivery, payloadOrStop(result, of: job.id), to: placeholder)
                fillDeferredReply(placeholder, of: connection)
            }
        }
    }

    private func writeJob(_ job: Job, _ delivery: UInt64, _ payload: [UInt8], to out: ByteBuffer) {
        payload.withUnsafeBytes { writeJob(job, delivery, $0, to: out) }
    }

    private func writeJob(_ job: Job, _ delivery: UInt64, _ payload: UnsafeRawBufferPointer, to out: ByteBuffer) {
        writeJob(id: job.id, queue: job.home.nameBytes, attempt: job.attempts, lease: job.leaseMilliseconds, delivery, payload, to: out)
    }

    private func writeJob(
        id: UInt64, queue: [UInt8], attempt: Int, lease: Int, _ delivery: UInt64, _ payload: UnsafeRawBufferPointer, to out: ByteBuffer
    ) {
        out.append("JOB ")
        out.appendDecimal(Int(id))
        out.append(Byte.space)
        out.append(queue)
        out.append(Byte.space)
        out.appendDecimal(attempt)
        out.append(" lease=")
        out.appendDecimal(lease)
        out.append(" delivery=")
        out.appendDecimal(Int(delivery))
        out.append(Byte.space)
        out.appendDecimal(payload.count)
        out.append("\r\n")
        out.append(payload)
        out.append("\r\n")
    }

    /// Calls `body` with a job's payload: at once when it is in memory or the store answers at
    /// once, later otherwise.
    func withPayload(of job: Job, _ body: @escaping ([UInt8]) -> Void) {
        if let payload = payloadInMemory(job.id) {
            body(payload)
            return
        }
        StoreFaultGuard.readingPayload(of: job.id) {
            store.readPayload(job.id) { [unowned self] result in body(payloadOrStop(result, of: job.id)) }
        }
    }

    /// Forgets the staged payload of job `id`, if it has one; whether it had.
    private func dropStagedPayload(_ id: UInt64) -> Bool {
        guard let index = stagedIndex(id) else { return false }
        stagedPayloads.remove(at: index)
        return true
    }

    private func stagedIndex(_ id: UInt64) -> Int? { Self.index(of: id, in: stagedPayloads) }

    /// Where job `id` is in a list of payloads sorted by id (binary search).
    private static func index(of id: UInt64, in list: [(id: UInt64, bytes: [UInt8])]) -> Int? {
        var low = 0
        var high = list.count - 1
        while low <= high {
            let middle = (low + high) / 2
            if list[middle].id == id { return middle }
            if list[middle].id < id { low = middle + 1 } else { high = middle - 1 }
        }
        return nil
    }

    /// The payload of a job whose first commit has not completed yet; nil once the store has it.
    /// The newest first: a replace=true may have written the job's payload again in a later
    /// commit than the one still being flushed with the older payload.
    func payloadInMemory(_ id: UInt64) -> [UInt8]? {
        if let index = Self.index(of: id, in: stagedPayloads) { return stagedPayloads[index].bytes }
        for commit in commitsInFlight.reversed() {
            if let index = Self.index(of: id, in: commit.payloads) { return commit.payloads[index].bytes }
        }
        return nil
    }

    /// A payload the store could not read: the job's record says it was committed, so the
    /// store is damaged or gone. As with a failed commit, stopping keeps the store the only
    /// truth; the job's attempt is not lost (it was never acknowledged) and runs after restart.
    private func payloadOrStop(_ result: Result<[UInt8], StoreError>, of id: UInt64) -> [UInt8] {
        switch result {
        case .success(let payload): return payload
        case .failure(let error): stopUnreadable(id, error)
        }
    }

    private func stopUnlessRead(_ result: Result<Void, StoreError>, of id: UInt64) {
        if case .failure(let error) = result { stopUnreadable(id, error) }
    }

    private func stopUnreadable(_ id: UInt64, _ error: StoreError) -> Never {
        log.error("Reading the payload of job \(id) failed: \(error); exiting, the store is the truth")
        exit(1)
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
                    if let request = apiWaiters.removeValue(forKey: ObjectIdentifier(waiter)) {
                        request.connection.waitingRequests.remove(ObjectIdentifier(waiter))
                        guard !request.connection.isClosed else {
                            engine.ownerGone(waiter.owner, heldJobs: [job.id])
                            continue
                        }
                        // Nobody listens on the reply subject any more (the requester gave up):
                        // the job goes back, its attempt not counted.
                        guard let reply = request.reply, reply.withUnsafeBytes({ hasInterest(in: $0, for: request.connection) }) else {
                            engine.giveBack(job.id, owner: waiter.owner)
                            continue
                        }
                        request.connection.heldJobs.insert(job.id)
                        answerAPI(request, .job(job))
                        continue
                    }
                    guard let connection = connections[waiter.owner], connection.waiter === waiter else {
                        // Its connection is gone: the job goes back as a lost attempt.
                        engine.ownerGone(waiter.owner, heldJobs: [job.id])
                        continue
                    }
                    connection.waiter = nil
                    sendJob(job, to: connection)
                    resume(connection)
                case .timedOut(let waiter):
                    if let request = apiWaiters.removeValue(forKey: ObjectIdentifier(waiter)) {
                        request.connection.waitingRequests.remove(ObjectIdentifier(waiter))
                        answerAPI(request, .noJob)
                        continue
                    }
                    guard let connection = connections[waiter.owner], connection.waiter === waiter else { continue }
                    connection.waiter = nil
                    render(.noJob, to: connection)
                    resume(connection)
                case .watchFinished(let watch, let job):
                    finishWatch(watch, .outcome(JobOutcome(job)))
                case .watchGone(let watch):
                    finishWatch(watch, .gone(watch.id))
                case .watchTimedOut(let watch):
                    finishWatch(watch, timedOutAnswer(of: watch))
                case .purged(let purge):
                    // Answered once its last deletions are on disk, as `.count` always is.
                    guard let answer = slicedAnswers.removeValue(forKey: ObjectIdentifier(purge)) else { continue }
                    afterCommit.append { answer.answer(.count(purge.deleted)) }
                case .revived(let revival):
                    guard let answer = slicedAnswers.removeValue(forKey: ObjectIdentifier(revival)) else { continue }
                    afterCommit.append { answer.answer(.count(revival.revived)) }
                }
            }
        }
    }

    private func finishWatch(_ watch: JobWatch, _ reply: JobReply) {
        if let request = apiWatches.removeValue(forKey: ObjectIdentifier(watch)) {
            request.connection.waitingRequests.remove(ObjectIdentifier(watch))
            answerAPI(request, reply)
            return
        }
        guard let connection = connections[watch.owner], connection.watch === watch else { return }
        connection.watch = nil
        render(reply, to: connection)
        resume(connection)
    }

    // MARK: Group commit

    /// Whether anything waits for a commit: changed jobs, queues or routes, held replies,
    /// actions to run after a commit, payloads to delete now.
    var hasUncommittedWork: Bool {
        engine.hasChanges || !awaitingCommit.isEmpty || !afterCommit.isEmpty || !routeChanges.isEmpty || !stalePayloads.isEmpty
            || !scheduleChanges.isEmpty
    }

    /// Writes every change of this pass in one transaction; replies held for it go out after.
    func commitChanges() {
        guard commitsInFlight.count < Self.maxCommitsInFlight else { return }
        guard hasUncommittedWork else {
            // Nothing to write, but events (a progress report, say) may still be waiting.
            publishLifecycle(engine.takeLifecycle())
            return
        }
        var batch = StoreBatch()
        let changes = engine.takeChanges()
        batch.records.reserveCapacity(changes.changed.count * 48)
        for job in changes.changed {
            batch.put(id: job.id) { JobCodec.encode(job, into: &$0) }
            // A completed job never runs again, so its payload goes: never written at all if
            // the job came and went within this pass (the common case without a backlog).
            if job.state == .completed && !dropStagedPayload(job.id) { completedPayloads.append(job.id) }
        }
        // Deleting them one commit at a time would rewrite the same few B-tree pages in every
        // commit; together, a run of them costs a few pages once. Nothing reads them meanwhile.
        if completedPayloads.count >= Self.payloadDeleteBatch {
            batch.payloadDeletes += completedPayloads
            completedPayloads.removeAll()
        }
        for id in changes.deletedWithPayload where !dropStagedPayload(id) { batch.payloadDeletes.append(id) }
        batch.deletes = changes.deleted
        batch.payloadDeletes += stalePayloads
        stalePayloads.removeAll()
        batch.payloads = stagedPayloads
        commitsInFlight.append(InFlightCommit(payloads: stagedPayloads, bytes: stagedBytes))
        committingBytes += stagedBytes
        stagedPayloads = []
        // Forgotten queues' records go first: a queue made again under the same name in this
        // pass writes its new record after.
        for name in engine.takeForgottenQueues() { batch.queues.append((name, [])) }
        for queue in engine.takeQueueChanges() {
            batch.queues.append((queue.name, QueueConfigCodec.encode(queue.config, holds: queue.holds(after: clock.now()), totals: queue.totals)))
        }
        for (key, record) in scheduleChanges { batch.queues.append((key, record ?? [])) }
        scheduleChanges.removeAll()
        batch.routes = routeChanges
        if !routeChanges.isEmpty { batch.nextRouteID = nextRouteID }
        routeChanges.removeAll()
        let lifecycle = engine.takeLifecycle()
        let actions = afterCommit
        afterCommit.removeAll()
        if batch.deletes.contains(where: { $0 >= storedNextID }) {
            batch.nextID = engine.nextID
            storedNextID = engine.nextID
        }
        let committed = currentBatch
        currentBatch += 1
        stagedBytes = 0
        let waiting = awaitingCommit
        awaitingCommit.removeAll(keepingCapacity: true)
        stats.commits += 1
        let submitted = monotonicMicroseconds()
        store.commit(batch) { [self] result in
            stats.commitMicroseconds += monotonicMicroseconds() - submitted
            // The store completes commits in the order they were submitted.
            committingBytes -= commitsInFlight.removeFirst().bytes
            switch result {
            case .success:
                committedBatch = committed
                for connection in waiting { releaseHeldReplies(connection) }
                // What the commit made true is published only now, so no subscriber ever
                // hears of a change that a crash could still undo.
                publishLifecycle(lifecycle)
                for action in actions { action() }
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
        // What is left stays due: the pass's end arms the timer again at once, and every
        // connection with input gets its turn before the next slice.
        engine.advance(upTo: Self.deadlinesPerTurn)
    }
}

/// Wall-clock milliseconds for the engine.
///
/// While the loop runs, one pass reads the clock once: every reading after the first returns
/// it until `passEnded()` (as Redis caches its time per event-loop iteration). A job cycle read
/// the clock about six times (enqueue, start, lease, finish, run time); a pass takes well under
/// a millisecond, the clock's unit.
final class SystemClock: EngineClock {
    /// Whether readings are shared within a pass; off outside the loop (start-up, recovery).
    var sharesReadingsWithinPass = false
    private var passReading: Int64?

    func now() -> Int64 {
        if let passReading { return passReading }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let reading = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec / 1_000_000)
        if sharesReadingsWithinPass { passReading = reading }
        return reading
    }

    func passEnded() { passReading = nil }
}

/// A batch the store has not finished committing: what reads need of it meanwhile.
struct InFlightCommit {
    /// Its new jobs' payloads, sorted by id: only here until the commit completes.
    let payloads: [(id: UInt64, bytes: [UInt8])]
    /// Its estimated size in the store, counted by admission until the store reports its use.
    let bytes: Int
}
