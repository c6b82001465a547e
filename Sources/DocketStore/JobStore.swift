/// Durable storage for jobs, as the server sees it: opaque records keyed by job id, written in
/// batches. A commit completes through its callback, never by returning, so a store that
/// commits on another thread or over the network (a Postgres backend for many docketd nodes is
/// planned) fits the same interface; nothing above it may assume the store is local.
public protocol JobStore: AnyObject {
    /// Calls `visit` with every stored job record, in id order, then returns the rest of the
    /// stored state. Payloads are not read: they stay in the store until a job is delivered.
    func load(jobs visit: (StoredJobRecord) throws -> Void) throws -> StoredState

    /// Writes `batch` durably (as `SyncMode` promises), then calls `completion` on the loop's
    /// thread. Batches commit in the order they are given.
    func commit(_ batch: StoreBatch, completion: @escaping (Result<Void, StoreError>) -> Void)

    /// Reads the payload of a job whose first commit has completed, and calls `completion`
    /// with it on the loop's thread: before returning if the store can (a local one), later if
    /// it cannot (a remote one). Callers handle both.
    func readPayload(_ id: UInt64, completion: @escaping (Result<[UInt8], StoreError>) -> Void)

    /// `readPayload` without a callback and without a copy, for a store that can answer at once
    /// (a local one): calls `body` with the payload's bytes, valid only during the call; nil
    /// from a store that cannot. Every delivery reads a payload, and the callback's context,
    /// the variables it captures and an array of its own cost allocations, reference counting
    /// and a copy on the loop's hot path.
    func withPayloadAtOnce(_ id: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) -> Result<Void, StoreError>?

    /// Bytes the store holds, as of the last commit.
    var usedBytes: Int { get }

    /// The most bytes the store may hold.
    var capacityBytes: Int { get }

    /// Bytes still free on the disk under the store; nil where that is not known.
    var diskFreeBytes: Int? { get }
}

/// One stored job, as `load` shows it. `record` is valid only during the visit.
public struct StoredJobRecord {
    public var id: UInt64
    public var record: UnsafeRawBufferPointer
    /// The stored payload's size; nil if the job has none (completed jobs give theirs up).
    public var payloadSize: Int?
    /// The stored payload fails its checksum: what it holds is not what was written. Whether
    /// that matters is the owner's call (a completed job's payload is only waiting to go).
    public var payloadDamaged = false

    public init(id: UInt64, record: UnsafeRawBufferPointer, payloadSize: Int?, payloadDamaged: Bool = false) {
        self.id = id
        self.record = record
        self.payloadSize = payloadSize
        self.payloadDamaged = payloadDamaged
    }
}

/// What `load` finds besides the jobs.
public struct StoredState {
    public var nextID: UInt64
    /// The next route id (routes removed before a restart keep their ids from coming back).
    public var nextRouteID: UInt64
    /// Each queue's settings record, by queue name.
    public var queues: [(name: String, bytes: [UInt8])]
    /// Routes, by id.
    public var routes: [(id: UInt64, bytes: [UInt8])]
}

/// Changes for one transaction.
///
/// A job's payload is stored apart from its state record and written once, when the job is
/// new: every later change (reserve, ack, fail, progress) rewrites only the small record. The
/// records of a batch share one buffer, `records`, so encoding a batch allocates once.
public struct StoreBatch {
    /// State records to write: each one's bytes in `records`.
    public var puts: [(id: UInt64, bytes: Range<Int>)] = []
    public var records: [UInt8] = []
    /// Payloads of new jobs.
    public var payloads: [(id: UInt64, bytes: [UInt8])] = []
    /// Payloads to delete: of jobs that completed (the record stays) or were forgotten.
    public var payloadDeletes: [UInt64] = []
    /// Job records to delete (their payloads, if any, are in `payloadDeletes`).
    public var deletes: [UInt64] = []
    /// Queue settings records to write.
    public var queues: [(name: String, bytes: [UInt8])] = []
    /// Routes to write, or to delete (nil).
    public var routes: [(UInt64, [UInt8]?)] = []
    /// The next job id, so ids stay unique after the newest jobs are deleted; nil leaves the
    /// stored one as it is (rewriting it in every transaction would cost a page each time).
    public var nextID: UInt64?
    /// The next route id, written with route changes.
    public var nextRouteID: UInt64?

    public init() {}

    /// Adds the state record of job `id`, written by `encode` at the end of `records`.
    public mutating func put(id: UInt64, _ encode: (inout [UInt8]) -> Void) {
        let start = records.count
        encode(&records)
        puts.append((id, start..<records.count))
    }

    /// Adds a state record given as bytes.
    public mutating func put(id: UInt64, bytes: [UInt8]) {
        put(id: id) { $0.append(contentsOf: bytes) }
    }

    public var isEmpty: Bool {
        puts.isEmpty && payloads.isEmpty && payloadDeletes.isEmpty && deletes.isEmpty && queues.isEmpty && routes.isEmpty
    }
}

/// When a commit counts as done.
public enum SyncMode: String, Sendable, CaseIterable {
    /// fsync before the commit completes: nothing acknowledged is ever lost.
    case always
    /// No fsync per commit; the data is flushed every second. A docketd crash loses nothing,
    /// an operating-system crash or power loss can lose the last second.
    case none
}
