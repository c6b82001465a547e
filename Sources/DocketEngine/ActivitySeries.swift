import DocketWire

/// The last hour of each queue's activity, for the dashboard's charts: every interval, how many
/// attempts started, jobs completed and attempts failed, and the wait and run time percentiles
/// of the jobs that started and ended in it.
///
/// It is fed cumulative counters (the queue totals and latency histograms the server keeps
/// anyway) and stores the differences, so sampling costs one pass over the queues per interval
/// and nothing on the job path. A queue seen for the first time starts from zero activity (its
/// history before is not known); one that disappears keeps its points until they age out.
///
/// A queue with no activity in the whole window keeps no points: most of 10,000 queues are
/// idle, and an hour of their quiet points was 3.2 M points (hundreds of MB) and a /api/series
/// of over 100 MB. The window's sampling times are kept once (`times`); a quiet queue that
/// starts to work gets quiet points at those times, so its series covers the window as before.
public struct ActivitySeries: Sendable {
    /// One queue's cumulative counters at a sampling time.
    public struct Reading: Sendable {
        public var queue: String
        public var started: Int
        public var completed: Int
        public var failed: Int
        /// Bucket counts as `LatencyHistogram.counts` (nil: not kept, as on PostgreSQL).
        public var waitBuckets: [Int]?
        public var runBuckets: [Int]?

        public init(queue: String, started: Int, completed: Int, failed: Int, waitBuckets: [Int]? = nil, runBuckets: [Int]? = nil) {
            self.queue = queue
            self.started = started
            self.completed = completed
            self.failed = failed
            self.waitBuckets = waitBuckets
            self.runBuckets = runBuckets
        }
    }

    /// One interval of one queue.
    public struct Point: Sendable, Equatable {
        public var time: Int64
        public var started: Int
        public var completed: Int
        public var failed: Int
        public var waitP50: Int?
        public var waitP95: Int?
        public var runP50: Int?
        public var runP95: Int?

        /// Adds another queue's point of the same time: counts add up, latencies take the slowest.
        mutating func add(_ other: Point) {
            started += other.started
            completed += other.completed
            failed += other.failed
            func slowest(_ a: Int?, _ b: Int?) -> Int? { b.map { max(a ?? $0, $0) } ?? a }
            waitP50 = slowest(waitP50, other.waitP50)
            waitP95 = slowest(waitP95, other.waitP95)
            runP50 = slowest(runP50, other.runP50)
            runP95 = slowest(runP95, other.runP95)
        }

        /// Nothing started, completed or failed, and no time measured.
        var isQuiet: Bool {
            started == 0 && completed == 0 && failed == 0 && waitP50 == nil && waitP95 == nil && runP50 == nil && runP95 == nil
        }
    }

    public let intervalMilliseconds: Int
    public let capacity: Int
    private var last: [String: Reading] = [:]
    private var points: [String: [Point]] = [:]
    /// The sampling times in the window, oldest first: the points of every queue that has any.
    public private(set) var times: [Int64] = []
    /// When each queue that has points last did something (a point that is not quiet).
    private var lastActive: [String: Int64] = [:]
    /// Every queue's activity at each of `times`, added up as it is recorded: the overview's
    /// "all queues" chart, which would otherwise need every queue's points (megabytes at
    /// 10,000 queues) to be sent and summed.
    private var totals: [Point] = []

    /// An hour of 10-second points by default.
    public init(intervalMilliseconds: Int = 10_000, capacity: Int = 360) {
        self.intervalMilliseconds = intervalMilliseconds
        self.capacity = capacity
    }

    /// Records the interval that ends at `now` (unix ms).
    public mutating func record(_ readings: [Reading], at now: Int64) {
        times.append(now)
        if times.count > capacity { times.removeFirst(times.count - capacity) }
        var total = Point(time: now, started: 0, completed: 0, failed: 0)
        defer {
            totals.append(total)
            if totals.count > capacity { totals.removeFirst(totals.count - capacity) }
        }
        var seen: Set<String> = []
        for reading in readings {
            seen.insert(reading.queue)
            let before = last[reading.queue] ?? Reading(queue: reading.queue, started: reading.started, completed: reading.completed, failed: reading.failed, waitBuckets: reading.waitBuckets, runBuckets: reading.runBuckets)
            let wait = Self.difference(reading.waitBuckets, before.waitBuckets)
            let run = Self.difference(reading.runBuckets, before.runBuckets)
            let point = Point(
                time: now, started: max(reading.started - before.started, 0), completed: max(reading.completed - before.completed, 0),
                failed: max(reading.failed - before.failed, 0),
                waitP50: wait.flatMap { Self.percentile($0, 0.50) }, waitP95: wait.flatMap { Self.percentile($0, 0.95) },
                runP50: run.flatMap { Self.percentile($0, 0.50) }, runP95: run.flatMap { Self.percentile($0, 0.95) })
            total.add(point)
            append(point, to: reading.queue)
            last[reading.queue] = reading
        }
        for queue in Array(last.keys) where !seen.contains(queue) { last[queue] = nil }
        for queue in Array(points.keys) where !seen.contains(queue) {
            // Gone (forgotten, or deleted): keep its history, with quiet intervals, until it ages out.
            append(Point(time: now, started: 0, completed: 0, failed: 0), to: queue)
        }
    }

    private mutating func append(_ point: Point, to queue: String) {
        guard var list = points[queue] else {
            // Quiet and without points: nothing to keep. Starting to work: quiet until now.
            if point.isQuiet { return }
            points[queue] = times.dropLast().map { Point(time: $0, started: 0, completed: 0, failed: 0) } + [point]
            lastActive[queue] = point.time
            return
        }
        list.append(point)
        if list.count > capacity { list.removeFirst(list.count - capacity) }
        if !point.isQuiet { lastActive[queue] = point.time }
        if let first = list.first, (lastActive[queue] ?? .min) < first.time {
            // Its last activity has aged out of the window: quiet all through, it keeps nothing.
            points[queue] = nil
            lastActive[queue] = nil
        } else {
            points[queue] = list
        }
    }

    public func series(of queue: String) -> [Point] { points[queue] ?? [] }
    public var queues: [String] { points.keys.sorted() }

    /// The dashboard's `/api/series` document: the window's sampling times (`t`), the oldest
    /// time still in the window (`from`), the activity of every included queue added up at each
    /// of `t` (`all`: counts summed, latencies the slowest queue's), and per queue with any
    /// activity in the window, one array per measure, oldest first (a queue not listed was quiet
    /// at every one of `t`).
    ///
    /// `only` narrows `queues` to those names (and the document then lists them as `listed`,
    /// so a reader knows that one missing was quiet rather than not asked for); `since` keeps
    /// only the points sampled after it, so a reader that has the earlier ones is sent only
    /// what is new. `everything` says that `include` admits every queue, so `all` is the
    /// running total rather than a sum over each included queue's points.
    public func json(
        now: Int64, since: Int64? = nil, only names: [String]? = nil, everything: Bool = true,
        including include: (String) -> Bool = { _ in true }
    ) -> String {
        func list<T>(_ values: [T?]) -> String { "[" + values.map { $0.map { "\($0)" } ?? "null" }.joined(separator: ",") + "]" }
        func isNew(_ time: Int64) -> Bool { since.map { time > $0 } ?? true }
        func isNew(_ point: Point) -> Bool { isNew(point.time) }
        func measures(_ series: [Point]) -> String {
            var text = "\"t\":" + list(series.map(\.time))
            text += ",\"started\":" + list(series.map(\.started))
            text += ",\"completed\":" + list(series.map(\.completed))
            text += ",\"failed\":" + list(series.map(\.failed))
            text += ",\"wait_p50_ms\":" + list(series.map(\.waitP50))
            text += ",\"wait_p95_ms\":" + list(series.map(\.waitP95))
            text += ",\"run_p50_ms\":" + list(series.map(\.runP50))
            return text + ",\"run_p95_ms\":" + list(series.map(\.runP95))
        }
        let chosen = (names.map { $0.filter { points[$0] != nil } } ?? queues).filter(include)
        let entries = chosen.map { queue in JSONObjectWriter.quote(queue) + ":{" + measures((points[queue] ?? []).filter(isNew)) + "}" }
        var text = "{\"interval_ms\":\(intervalMilliseconds),\"now\":\(now),\"from\":" + (times.first.map { "\($0)" } ?? "null")
        text += ",\"t\":" + list(times.filter(isNew).map { Optional($0) })
        text += ",\"all\":{" + measures((everything ? totals : sum(including: include)).filter(isNew)) + "}"
        if let names { text += ",\"listed\":[" + names.map(JSONObjectWriter.quote).joined(separator: ",") + "]" }
        return text + ",\"queues\":{" + entries.joined(separator: ",") + "}}"
    }

    /// The included queues' points added up at each of `times` (a reader of some queues only).
    private func sum(including include: (String) -> Bool) -> [Point] {
        var sums = times.map { Point(time: $0, started: 0, completed: 0, failed: 0) }
        for (queue, series) in points where include(queue) {
            // A queue's points are the latest of `times`, one each.
            for (offset, point) in series.reversed().enumerated() where offset < sums.count {
                sums[sums.count - 1 - offset].add(point)
            }
        }
        return sums
    }

    private static func difference(_ now: [Int]?, _ before: [Int]?) -> [Int]? {
        guard let now, let before, now.count == before.count else { return nil }
        return zip(now, before).map { max($0 - $1, 0) }
    }

    /// The upper bound (ms) of the bucket holding the `fraction` quantile; nil for no samples.
    /// The last, unbounded bucket reads as its lower bound: "at least that long".
    static func percentile(_ buckets: [Int], _ fraction: Double) -> Int? {
        let total = buckets.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = Int((Double(total) * fraction).rounded(.up))
        var cumulative = 0
        for (index, count) in buckets.enumerated() {
            cumulative += count
            if cumulative >= rank { return index < LatencyHistogram.bounds.count ? LatencyHistogram.bounds[index] : LatencyHistogram.bounds.last }
        }
        return LatencyHistogram.bounds.last
    }
}
