import DocketEngine
import DocketWire

/// The queues the monitoring port lists (`/queues`, the dashboard's overview), in the order of
/// their names' bytes: the embedded engine's (`JobEngine.queuesByName`, kept in order as
/// queues come and go), or with jobs in PostgreSQL the queues as last read (sorted when read).
/// Sorting and adding up 10,000 queues on each request held the loop 0.16-0.53 s (debug); a
/// page now costs its own queues, and the names it passes over when the reader may read only
/// some queues or a filter is given.
struct QueueDirectory {
    private let engine: JobEngine?
    private let engineQueues: [JobQueue]
    private let snapshotQueues: [Snapshot.Queue]

    init(engine: JobEngine) {
        self.engine = engine
        engineQueues = engine.queuesByName
        snapshotQueues = []
    }

    init(snapshot: Snapshot) {
        engine = nil
        engineQueues = []
        snapshotQueues = snapshot.queues
    }

    var count: Int { engine == nil ? snapshotQueues.count : engineQueues.count }

    func name(_ index: Int) -> String { engine == nil ? snapshotQueues[index].name : engineQueues[index].name }

    func glance(_ index: Int) -> QueueGlance {
        guard let engine else { return snapshotQueues[index].glance }
        return engine.queueGlance(engineQueues[index])
    }

    /// The queue's document, as QUEUE shows it.
    func document(_ index: Int) -> String {
        guard let engine else { return snapshotQueues[index].document }
        return engine.queueDocument(engineQueues[index])
    }

    /// Where the first queue whose name sorts after `name` (by bytes) is.
    func firstIndex(after name: [UInt8]) -> Int {
        guard engine == nil else { return JobEngine.firstQueue(in: engineQueues, after: name) }
        var (low, high) = (0, snapshotQueues.count)
        while low < high {
            let middle = (low + high) / 2
            if name.lexicographicallyPrecedes(snapshotQueues[middle].name.utf8) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

/// What the dashboard's overview adds up over the queues a reader may read.
struct QueueSums {
    var queues = 0
    var paused = 0
    var waitingWorkers = 0
    /// Started, completed and failed per second, over the last minute.
    var rates = [0.0, 0.0, 0.0]

    init() {}

    /// Every queue of the embedded engine, as it keeps them (`QueueSummary`).
    init(engine: JobEngine) {
        queues = engine.queueList.count
        paused = engine.summary.paused
        waitingWorkers = engine.summary.waitingWorkers
        rates = engine.summaryRates()
    }

    /// Added up one queue at a time.
    mutating func add(_ glance: QueueGlance) {
        queues += 1
        if glance.paused { paused += 1 }
        waitingWorkers += glance.waitingWorkers
        for index in rates.indices { rates[index] += glance.rates[index] }
    }

    var json: String {
        var summary = JSONObjectWriter()
        summary.add("queues", queues)
        summary.add("paused", paused)
        summary.add("waiting_workers", waitingWorkers)
        for (index, key) in ["started_per_s", "completed_per_s", "failed_per_s"].enumerated() { summary.add(key, rates[index]) }
        return summary.result
    }
}
