/// Durable storage for jobs, as the server sees it: opaque records keyed by job id, written in
/// batches. A commit completes through its callback, never by returning, so a store that
/// commits on another thread or over the network (a Postgres backend for many docketd nodes is
/// planned) fits the same interface; nothing above it may assume the store is local.
public protocol JobStore: AnyObject {
    /// Every stored job record and the next job id to hand out.
    func loadJobs() throws -> StoredJobs

    /// Writes `batch` durably (as `SyncMode` promises), then calls `completion` on the loop's
    /// thread. Batches commit in the order they are given.
    func commit(_ batch: StoreBatch, completion: @escaping (Result<Void, StoreError>) -> Void)

    /// Bytes the store holds, as of the last commit.
    var usedBytes: Int { get }

    /// The most bytes the store may hold.
    var capacityBytes: Int { get }
}

/// What `loadJobs` finds.
public struct StoredJobs {
    public var records: [StoredJob]
    public var nextID: UInt64
    /// Each queue's settings record, by queue name.
    public var queues: [(name: String, bytes: [UInt8])]
    /// Routes, by id.
    public var routes: [(id: UInt64, bytes: [UInt8])]
}

/// One job as stored: its state record and, apart, its payload.
public struct StoredJob {
    public var id: UInt64
    public var record: [UInt8]
    public var payload: [UInt8]
}

/// Changes for one transaction.
///
/// A job's payload is stored apart from its state record and written once, when the job is
/// new: every later change (reserve, ack, fail, progress) rewrites only the small record.
public struct StoreBatch {
    /// State records to write.
    public var puts: [(id: UInt64, bytes: [UInt8])] = []
    /// Payloads of new jobs.
    public var payloads: [(id: UInt64, bytes: [UInt8])] = []
    /// Jobs to forget: record and payload.
    public var deletes: [UInt64] = []
    /// Queue settings records to write.
    public var queues: [(name: String, bytes: [UInt8])] = []
    /// Routes to write, or to delete (nil).
    public var routes: [(UInt64, [UInt8]?)] = []
    /// The next job id, so ids stay unique after the newest jobs are deleted.
    public var nextID: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { puts.isEmpty && deletes.isEmpty && queues.isEmpty && routes.isEmpty }
}

/// When a commit counts as done.
public enum SyncMode: String, Sendable, CaseIterable {
    /// fsync before the commit completes: nothing acknowledged is ever lost.
    case always
    /// No fsync per commit; the data is flushed every second. A docketd crash loses nothing,
    /// an operating-system crash or power loss can lose the last second.
    case none
}
