import DocketEngine
import DocketSchedule
import DocketWire

/// Schedules: SCHEDULE, UNSCHEDULE, SCHEDULES and their pause; the timer that fires them. A
/// tick makes exactly one job, keyed `<name>@<tick>`, and moves the schedule's last tick on in
/// the same commit, so a restart (or a crash at the tick) neither loses nor repeats one.
extension Server {
    /// How late a tick may be handled and still count as on time (a busy loop pass, say);
    /// later ones were missed and follow the schedule's `catchup`.
    static let scheduleGraceMilliseconds: Int64 = 1000

    func performSchedule(_ command: JobCommand, _ bytes: UnsafeRawBufferPointer, _ body: [UInt8]?, for connection: Connection) -> JobReply {
        func name(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        switch command {
        case .schedule(_, let queue, _, _, let text):
            if postgres == nil, let refused = refuseNewQueue(UnsafeRawBufferPointer(rebasing: bytes[queue])) { return refused }
            if case .schedule(let range, _, _, _, _) = command, schedules[name(range)] == nil, schedules.count >= config.maxSchedules {
                return .error(JobError(.limit, "there are \(config.maxSchedules) schedules already (--max-schedules)"))
            }
            // The schedule's record holds its payload: it takes room like an ENQ's.
            if postgres == nil,
                let refused = admit(bytes: (body?.count ?? 0) + text.count, upTo: Self.storeFullFraction, "SCHEDULE is refused until jobs are acked or deleted")
            {
                return refused
            }
            let now = clock.now()
            switch ScheduledJob.make(text: Array(bytes[text]), payload: body ?? [], createdAt: now, lastTick: now, zones: zones) {
            case .failure(let error): return .error(error)
            case .success(let entry):
                // A replaced schedule starts afresh: its old ticks are not caught up.
                return saveSchedule(entry)
            }
        case .unschedule(let range):
            guard schedules[name(range)] != nil else { return .error(Self.noSchedule(name(range))) }
            schedules[name(range)] = nil
            return persistScheduleRemoval(name(range))
        case .pauseSchedule(let range), .resumeSchedule(let range):
            guard let entry = schedules[name(range)] else { return .error(Self.noSchedule(name(range))) }
            if case .pauseSchedule = command {
                entry.paused = true
            } else if entry.paused {
                // Ticks that passed while it was paused are skipped, not caught up.
                entry.paused = false
                entry.lastTick = max(entry.lastTick, entry.schedule.latestTick(after: entry.lastTick, now: clock.now()))
            }
            return saveSchedule(entry)
        case .schedules(let after, let limit):
            return .document(schedules.page(after: after.map(name), limit: limit, readableBy: connection.permissions, budget: config.replyBudget))
        default:
            preconditionFailure("not a schedule command")
        }
    }

    static func noSchedule(_ name: String) -> JobError { JobError(.notFound, "schedule \(name) does not exist") }

    /// Keeps `entry` (new or changed) and writes it: with the next commit, or in PostgreSQL.
    private func saveSchedule(_ entry: ScheduledJob) -> JobReply {
        schedules[entry.name] = entry
        // Only an earlier deadline re-arms the timer: one that comes too early (the schedule
        // that had the earliest tick was replaced or paused) finds nothing due and re-arms from
        // every schedule, where doing that here cost a look at each of them per SCHEDULE.
        if scheduleTimer != nil, let next = entry.nextTick, next < armedScheduleDeadline ?? .max {
            armedScheduleDeadline = next
            armScheduleTimer(until: next)
        }
        if let postgres { return postgres.saveSchedule(entry) }
        stageRecord(of: entry.name, entry.record)
        return .done
    }

    /// A schedule's record (its payload included) for the next commit, counted as staged.
    private func stageRecord(of name: String, _ record: [UInt8]) {
        scheduleChanges.append((Self.scheduleRecordPrefix + name, record))
        stagedBytes += Self.storeCost(record.count)
    }

    /// A schedule's last tick for the next commit, in a record of its own: the schedule's
    /// record holds its payload, and rewriting that at every tick cost a payload's worth of
    /// log and LMDB writes a tick.
    private func stageLastTick(of entry: ScheduledJob) {
        scheduleChanges.append((Self.scheduleTickPrefix + entry.name, Self.encodeTick(entry.lastTick)))
        stagedBytes += Self.storeCost(8)
    }

    /// (The timer stays armed: if it was for this schedule's tick, it finds nothing due then.)
    private func persistScheduleRemoval(_ name: String) -> JobReply {
        if let postgres { return postgres.removeSchedule(name) }
        scheduleChanges.append((Self.scheduleRecordPrefix + name, nil))
        scheduleChanges.append((Self.scheduleTickPrefix + name, nil))
        return .done
    }

    // MARK: Firing

    /// The longest the schedule timer sleeps before it looks at the wall clock again. The
    /// timer counts on the loop's monotonic clock, ticks are wall-clock times: armed a day
    /// ahead, a wall clock set forward meanwhile (an NTP step, a VM resumed) left the tick
    /// firing late by the whole jump, past its grace, and `catchup=none` then skipped it.
    static let scheduleRecheckMilliseconds: Int64 = 1000

    /// Arms the schedule timer for the earliest next tick.
    func armScheduleTimer() {
        guard scheduleTimer != nil, let deadline = schedules.nextDeadline else { return }
        if armedScheduleDeadline == deadline { return }
        armedScheduleDeadline = deadline
        armScheduleTimer(until: deadline)
    }

    private func armScheduleTimer(until deadline: Int64) {
        guard let scheduleTimer else { return }
        EventLoop.add(scheduleTimer, timeoutMilliseconds: Int(min(max(0, deadline - clock.now()), Self.scheduleRecheckMilliseconds)))
    }

    /// Makes the jobs of every tick that is due. With jobs in PostgreSQL while it cannot be
    /// reached, nothing moves: the ticks are tried again a second later.
    func fireDueSchedules() {
        if let deadline = armedScheduleDeadline, clock.now() < deadline {
            // Only the look at the wall clock: nothing is due yet.
            return armScheduleTimer(until: deadline)
        }
        armedScheduleDeadline = nil
        if let postgres, !postgres.isAvailable {
            if let scheduleTimer { EventLoop.add(scheduleTimer, timeoutMilliseconds: 1000) }
            return
        }
        let now = clock.now()
        var due = schedules.entries.values.filter { entry in entry.nextTick.map { $0 <= now } ?? false }
        // Each docketd on one PostgreSQL database fires every schedule, locking its row there
        // until the pass commits: in an order of their own (a dictionary's), two of them
        // deadlocked, a second each time, and PostgreSQL broke it by rolling one pass back.
        if postgres != nil { due.sort { $0.name < $1.name } }
        for entry in due {
            let ticks = entry.schedule.ticksToFire(
                after: entry.lastTick, now: now, catchup: entry.catchup, grace: Self.scheduleGraceMilliseconds)
            entry.lastTick = entry.schedule.latestTick(after: entry.lastTick, now: now)
            if let postgres {
                postgres.fire(entry, ticks: ticks)
                continue
            }
            // The ticks' jobs and the schedule's last tick go in one commit, and are admitted
            // together like ENQs: on a store too full for them the ticks are skipped and said
            // so (a restart counts them missed), where writing them anyway ran the store out of
            // map and ended docketd, again at every restart.
            if !ticks.isEmpty,
                case .error(let refused)? = admit(
                    bytes: ticks.count * entry.payload.count + 64, upTo: Self.storeFullFraction, "the ticks are skipped")
            {
                if entry.skippedTicks == 0 {
                    log.warn(
                        "Schedule \(entry.name): \(ticks.count) tick(s) up to \(entry.lastTick) (unix ms) made no job: "
                            + "\(refused.message); further skipped ticks are counted until it makes jobs again")
                }
                entry.skippedTicks += ticks.count
                stats.skippedTicks += ticks.count
                continue
            }
            if entry.skippedTicks > 0, !ticks.isEmpty {
                log.info("Schedule \(entry.name) makes jobs again; \(entry.skippedTicks) tick(s) were skipped for want of room")
                entry.skippedTicks = 0
            }
            for tick in ticks { fireLocally(entry, tick) }
            stageLastTick(of: entry)
        }
        armScheduleTimer()
    }

    private func fireLocally(_ entry: ScheduledJob, _ tick: Int64) {
        let key = entry.key(of: tick)
        let (id, duplicate) = entry.queue.withUnsafeBytes { queue in
            engine.enqueue(queue: queue, options: entry.options, key: key, group: entry.group, payloadSize: entry.payload.count)
        }
        guard !duplicate else { return }
        stagedPayloads.append((id, entry.payload))
        stagedBytes += Self.storeCost(entry.payload.count)
        engine.noteScheduled(id, schedule: entry.name, tick: tick)
    }

    /// The schedules the store keeps as queue records named `schedule:<name>` (a queue name
    /// cannot hold a colon, so the two never meet): one table, one write path, no log format
    /// change.
    static let scheduleRecordPrefix = "schedule:"
    /// A schedule's last tick, kept apart from its record (see `stageLastTick`): 8 bytes,
    /// big-endian unix ms. At start the later of the two counts.
    static let scheduleTickPrefix = "schedule-tick:"

    static func encodeTick(_ tick: Int64) -> [UInt8] { withUnsafeBytes(of: tick.bigEndian) { Array($0) } }

    static func decodeTick(_ bytes: [UInt8]) -> Int64? {
        guard bytes.count == 8 else { return nil }
        return bytes.reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    /// Rebuilds a schedule from its stored record at start.
    func restoreSchedule(named name: String, record: [UInt8]) throws {
        switch ScheduledJob.decode(record, zones: zones) {
        case .success(let entry): schedules[entry.name] = entry
        case .failure(let error): throw ServerError("schedule \(name) cannot be read: \(error.message)")
        }
    }
}
