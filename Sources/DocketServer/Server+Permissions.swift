import DocketEngine
import DocketWire

/// Every access decision of the client port goes through here (the monitoring port asks the
/// same `Permissions`): PUB and SUB as nats-server decides them, and each job command by the
/// right it needs on its queue, whether it came as a wire verb or through `$DOCKET.API`.
extension Server {
    /// Whether a restricted publisher may publish on `subject`; verdicts are cached per
    /// connection (cleared when the cache grows past a few hundred subjects).
    func mayPublish(_ publisher: Connection, _ subject: UnsafeRawBufferPointer) -> Bool {
        guard let permissions = publisher.permissions else { return true }
        // Most publishers repeat one subject: that answer costs a comparison, no allocation.
        if let last = publisher.lastPublishVerdict, last.subject.elementsEqual(subject) { return last.verdict }
        let key = Array(subject)
        let verdict: Bool
        if let known = publisher.publishVerdicts[key] {
            verdict = known
        } else {
            if publisher.publishVerdicts.count >= 256 { publisher.publishVerdicts.removeAll(keepingCapacity: true) }
            verdict = permissions.mayPublish(subject)
            publisher.publishVerdicts[key] = verdict
        }
        publisher.lastPublishVerdict = (key, verdict)
        return verdict
    }

    /// `FORBIDDEN` when `permissions` do not grant `command`; nil when they do (or when the
    /// command names a job that does not exist: it then fails as it would for anyone). A job,
    /// route or schedule in a queue the user may not read is answered as if it did not exist,
    /// so that ids and names say nothing of queues the user cannot see.
    func refusal(of command: JobCommand, _ bytes: UnsafeRawBufferPointer, _ permissions: Permissions, user: String) -> JobError? {
        func name(_ range: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[range]) }
        func check(_ right: JobRight, _ queue: UnsafeRawBufferPointer) -> JobError? {
            permissions.may(right, queue: queue) ? nil : Self.forbidden(user, right, String(decoding: queue, as: UTF8.self))
        }
        func checkJob(_ right: JobRight, _ id: UInt64) -> JobError? {
            guard let job = engine.job(id) else { return nil }
            return Self.refusal(right, onJob: id, in: job.queue, permissions, user: user)
        }
        switch command {
        case .enqueue(let queue, _): return check(.enqueue, name(queue))
        case .reserve(let queues, _): return queues.lazy.compactMap { check(.work, name($0)) }.first
        case .ack(let id, _), .fail(let id, _, _), .throttle(let id, _, _, _), .progress(let id, _, _), .touch(let id, _):
            return checkJob(.work, id)
        case .inspect(let id), .wait(let id, _), .parents(let id), .children(let id, _, _): return checkJob(.read, id)
        case .batch: return nil  // each of its ENQs is checked
        case .dead(let queue, _): return check(.read, name(queue))
        case .retryJob(let id), .delete(let id): return checkJob(.admin, id)
        case .retryQueue(let queue), .pause(let queue), .resume(let queue): return check(.admin, name(queue))
        case .queue(let queue, let settings): return check(settings.isEmpty ? .read : .admin, name(queue))
        case .stats:
            return permissions.mayReadEveryQueue ? nil : JobError(.forbidden, "user \(user) may not read every queue, which STATS shows")
        case .queues, .routes:
            return nil  // answered with what the user may read
        case .route(let pattern, let queue, _, _):
            if let refused = check(.admin, name(queue)) ?? check(.enqueue, name(queue)) { return refused }
            let filter = Array(bytes[pattern])
            return permissions.admit(subscription: filter) == .granted
                ? nil : JobError(.forbidden, "user \(user) may not receive every message on \(String(decoding: filter, as: UTF8.self))")
        case .unroute(let id):
            guard let route = routes[id] else { return nil }
            guard permissions.may(.read, queue: route.queue) else { return JobError(.notFound, "route \(id) does not exist") }
            return route.queue.withUnsafeBytes { check(.admin, $0) }
        case .list(let queue, _, _, _): return check(.read, name(queue))
        case .purge(let queue, _, _): return check(.admin, name(queue))
        case .promote(let id): return checkJob(.admin, id)
        case .schedule(let schedule, let queue, _, _, _):
            if let refused = check(.admin, name(queue)) ?? check(.enqueue, name(queue)) { return refused }
            // Names are global: replacing a schedule takes the rights on the queue it fills now.
            let scheduleName = String(decoding: bytes[schedule], as: UTF8.self)
            guard let existing = schedules[scheduleName] else { return nil }
            guard permissions.may(.admin, queue: existing.queue), permissions.may(.enqueue, queue: existing.queue) else {
                return JobError(.forbidden, "user \(user) may not replace schedule \(scheduleName), which fills another queue")
            }
            return nil
        case .unschedule(let schedule), .pauseSchedule(let schedule), .resumeSchedule(let schedule):
            let scheduleName = String(decoding: bytes[schedule], as: UTF8.self)
            guard let entry = schedules[scheduleName] else { return nil }
            guard permissions.may(.read, queue: entry.queue) else { return Self.noSchedule(scheduleName) }
            return entry.queue.withUnsafeBytes { check(.admin, $0) }
        case .schedules: return nil  // answered with what the user may read
        case .cancelWait: return nil  // it ends only this connection's own RESERVE
        }
    }

    /// The account whose messages a route sees: its owner's, as a subscription of the owner's
    /// would (a route made without users, or whose owner is gone, sees the global account's).
    func account(of route: Route) -> Account {
        account(of: route.owner.flatMap { config.authenticator?.principal(named: $0) })
    }

    /// The job a command names by id and the right it needs on that job's queue.
    static func jobRight(_ command: JobCommand) -> (UInt64, JobRight)? {
        switch command {
        case .ack(let id, _), .fail(let id, _, _), .throttle(let id, _, _, _), .progress(let id, _, _), .touch(let id, _): return (id, .work)
        case .inspect(let id), .wait(let id, _), .parents(let id), .children(let id, _, _): return (id, .read)
        case .retryJob(let id), .delete(let id), .promote(let id): return (id, .admin)
        default: return nil
        }
    }

    static func forbidden(_ user: String, _ right: JobRight, _ queue: String) -> JobError {
        JobError(.forbidden, "user \(user) may not \(right.rawValue) on queue \(queue)")
    }

    /// Why a user may not use `right` on job `id` of `queue`: it does not exist for them if they
    /// may not read the queue (`NOT_FOUND`, word for word as for an id never given), else
    /// `FORBIDDEN`; nil when they may.
    static func refusal(_ right: JobRight, onJob id: UInt64, in queue: String, _ permissions: Permissions, user: String) -> JobError? {
        let name = Array(queue.utf8)
        if permissions.may(right, queue: name) { return nil }
        return permissions.may(.read, queue: name) ? forbidden(user, right, queue) : .notFound(id)
    }

    /// A parent named by `after=` that the user may not read: as if it did not exist.
    static func hiddenParent(_ id: UInt64) -> JobError { JobError(.notFound, "parent job \(id) not found") }

    /// The ids among `ids` whose jobs the reader may read (`queue` finds a job's queue; an id
    /// it does not know, a job gone, stays).
    static func readable(_ ids: [UInt64]?, _ permissions: Permissions?, queue: (UInt64) -> String?) -> [UInt64]? {
        guard let ids, let permissions else { return ids }
        let kept = ids.filter { id in queue(id).map { permissions.may(.read, queue: Array($0.utf8)) } ?? true }
        return kept.isEmpty ? nil : kept
    }

    /// The parents the reader may read (a deleted one, whose queue is unknown, stays).
    static func readable(_ parents: [ParentView], _ permissions: Permissions?) -> [ParentView] {
        guard let permissions else { return parents }
        return parents.filter { parent in parent.queue.map { permissions.may(.read, queue: Array($0.utf8)) } ?? true }
    }

    /// Whether a route may turn a message on `subject` into a job: it acts with the rights of
    /// the user who made it, as they are now (a user removed from the configuration, or one
    /// that lost the right, stops its routes from firing).
    func routeMayFire(_ route: Route, _ subject: UnsafeRawBufferPointer) -> Bool {
        guard let owner = route.owner, let authenticator = config.authenticator else { return true }
        guard let principal = authenticator.principal(named: owner) else { return false }
        guard let permissions = principal.permissions else { return true }
        return permissions.may(.enqueue, queue: route.queue) && permissions.subscribe.permits(subject)
    }
}
