import DocketSchedule
import DocketWire

/// One schedule (`SCHEDULE`): what it enqueues and when, and how far it has fired.
final class ScheduledJob {
    let name: String
    let queue: [UInt8]
    let schedule: Schedule
    let catchup: CatchupPolicy
    let options: EnqueueOptions
    let group: [UInt8]?
    /// The SCHEDULE arguments as given (the options' ranges point into it).
    let text: [UInt8]
    let payload: [UInt8]
    /// When it was made (unix ms): the anchor of `every=` ticks.
    let createdAt: Int64
    /// The latest tick handled (fired or skipped); no tick at or before it fires again.
    var lastTick: Int64 { didSet { if lastTick != oldValue { followingTick = nil } } }
    var paused = false
    /// The first tick after `lastTick` (the inner nil: there is none), worked out once per
    /// `lastTick`: the timer looks at every schedule's next tick whenever one is made or fires,
    /// and working each out anew there made 10,000 SCHEDULEs take minutes, the loop stalling
    /// for seconds per pass of them.
    private var followingTick: Int64??
    /// Ticks skipped for want of room since the last one that made its job: the first skip is
    /// logged, the rest are counted and reported when the schedule makes jobs again, so a full
    /// store costs one warning per schedule, not one per tick.
    var skippedTicks = 0

    private init(
        name: String, queue: [UInt8], schedule: Schedule, catchup: CatchupPolicy, options: EnqueueOptions, text: [UInt8],
        payload: [UInt8], createdAt: Int64, lastTick: Int64
    ) {
        self.name = name
        self.queue = queue
        self.schedule = schedule
        self.catchup = catchup
        self.options = options
        self.group = options.group.map { Array(text[$0]) }
        self.text = text
        self.payload = payload
        self.createdAt = createdAt
        self.lastTick = lastTick
    }

    /// A schedule from its SCHEDULE arguments (`text`, whole), made at `createdAt`; a bad cron
    /// expression or zone is `BAD_OPTION`.
    static func make(
        text: [UInt8], payload: [UInt8], createdAt: Int64, lastTick: Int64, zones: ZoneRulesCache
    ) -> Result<ScheduledJob, JobError> {
        text.withUnsafeBytes { bytes in
            guard case .success(.schedule(let name, let queue, let timing, let options, _)) = JobCommand.parse(.schedule, bytes, 0..<bytes.count)
            else {
                if case .failure(let error) = JobCommand.parse(.schedule, bytes, 0..<bytes.count) { return .failure(error) }
                return .failure(JobError(.badOption, "not a schedule"))
            }
            func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
            let schedule: Schedule
            do {
                if let cron = timing.cron {
                    let zone = try timing.zone.map { try zones.rules(for: string($0)) } ?? .utc
                    schedule = Schedule(cron: try CronExpression(string(cron)), zone: zone)
                } else {
                    if timing.zone != nil { return .failure(JobError(.badOption, "tz= goes with cron=, not every=")) }
                    schedule = try Schedule(everyMilliseconds: Int64(timing.everyMilliseconds ?? 0), anchor: createdAt)
                }
            } catch {
                return .failure(JobError(.badOption, "\(error)"))
            }
            let catchup: CatchupPolicy
            switch timing.catchup ?? .one {
            case .none: catchup = .none
            case .one: catchup = .one
            case .all: catchup = .all(limit: ScheduleOptions.maxCatchup)
            }
            return .success(
                ScheduledJob(
                    name: string(name), queue: Array(bytes[queue]), schedule: schedule, catchup: catchup, options: options,
                    text: text, payload: payload, createdAt: createdAt, lastTick: lastTick))
        }
    }

    /// The next tick it will fire at, if it is not paused.
    var nextTick: Int64? {
        guard !paused else { return nil }
        if let followingTick { return followingTick }
        let next = schedule.nextTick(after: lastTick)
        followingTick = .some(next)
        return next
    }

    /// The idempotency key of a tick's job: a tick makes one job, however often it is looked at.
    func key(of tick: Int64) -> [UInt8] { Array("\(name)@\(tick)".utf8) }

    // MARK: Stored form

    /// `docket-schedule 1\n<created> <last tick> <paused 0|1>\n<arguments>\n<payload>`.
    var record: [UInt8] {
        Array("docket-schedule 1\n\(createdAt) \(lastTick) \(paused ? 1 : 0)\n".utf8) + text + [Byte.lf] + payload
    }

    static func decode(_ record: [UInt8], zones: ZoneRulesCache) -> Result<ScheduledJob, JobError> {
        let lines = record.split(separator: Byte.lf, maxSplits: 3, omittingEmptySubsequences: false)
        guard lines.count == 4, lines[0].elementsEqual("docket-schedule 1".utf8) else {
            return .failure(JobError(.badOption, "not a stored schedule"))
        }
        let numbers = String(decoding: lines[1], as: UTF8.self).split(separator: " ").compactMap { Int64($0) }
        guard numbers.count == 3 else { return .failure(JobError(.badOption, "a stored schedule's times cannot be read")) }
        return make(text: Array(lines[2]), payload: Array(lines[3]), createdAt: numbers[0], lastTick: numbers[1], zones: zones).map {
            $0.paused = numbers[2] == 1
            return $0
        }
    }

    // MARK: SCHEDULES

    func json(nextCount: Int = 3) -> String {
        var writer = JSONObjectWriter()
        writer.add("name", name)
        writer.add("queue", String(decoding: queue, as: UTF8.self))
        switch schedule.kind {
        case .cron(let expression, let zone):
            writer.add("cron", expression.source)
            writer.add("tz", zone.identifier)
        case .every(let milliseconds, _):
            writer.add("every_ms", Int(milliseconds))
        }
        switch catchup {
        case .none: writer.add("catchup", "none")
        case .one: writer.add("catchup", "one")
        case .all: writer.add("catchup", "all")
        }
        writer.add("rule", String(decoding: text, as: UTF8.self))
        writer.add("payload_bytes", payload.count)
        writer.add("paused", paused)
        writer.add("created_at", Int(createdAt))
        writer.add("last_tick", Int(lastTick))
        let next = paused ? [] : schedule.nextTicks(after: lastTick, count: nextCount)
        writer.add("next", json: "[" + next.map { String($0) }.joined(separator: ",") + "]")
        return writer.result
    }
}

/// Every schedule, by name, and when the next one fires.
struct ScheduleBook {
    private(set) var entries: [String: ScheduledJob] = [:]
    /// The names, sorted, for SCHEDULES' pages: sorting 100,000 names for every SCHEDULES held
    /// the loop for most of its 2 s.
    private var names: [String] = []

    subscript(name: String) -> ScheduledJob? {
        get { entries[name] }
        set {
            if let newValue {
                if entries.updateValue(newValue, forKey: name) == nil { names.insert(name, at: Self.place(of: name, in: names)) }
            } else if entries.removeValue(forKey: name) != nil {
                names.remove(at: Self.place(of: name, in: names))
            }
        }
    }

    var count: Int { entries.count }

    /// The earliest next tick of a schedule that is not paused.
    var nextDeadline: Int64? { entries.values.compactMap(\.nextTick).min() }

    /// SCHEDULES: a page of the schedules the reader may read, by name: up to `limit` of those
    /// after `after` (all if nil), fewer if the next would take the reply past `budget` (the
    /// first always).
    func page(after: String?, limit: Int, readableBy permissions: Permissions?, budget: ReplyBudget) -> String {
        var index = after.map { name in Self.place(of: name, in: names) + (entries[name] == nil ? 0 : 1) } ?? 0
        var visible: [ScheduledJob] = []
        while index < names.count, visible.count < limit {
            if let entry = entries[names[index]], permissions.map({ $0.may(.read, queue: entry.queue) }) ?? true { visible.append(entry) }
            index += 1
        }
        return budget.array(count: visible.count) { visible[$0].json() }.json
    }

    /// Where `name` is in the sorted `names`, or would go.
    private static func place(of name: String, in names: [String]) -> Int {
        var low = 0
        var high = names.count
        while low < high {
            let middle = (low + high) / 2
            if names[middle] < name { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
