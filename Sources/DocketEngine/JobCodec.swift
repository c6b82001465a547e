import DocketWire

/// The on-disk form of a job's state: a version byte, then fixed-order fields, integers
/// big-endian, byte strings length-prefixed. The payload is stored apart (it never changes, and
/// rewriting it on every state change would multiply the bytes written). A new field goes at
/// the end under a new version; `decode` keeps reading every older version.
public enum JobCodec {
    static let version: UInt8 = 1

    /// Appends the record of `job` to `out` (one buffer serves a whole batch of records).
    public static func encode(_ job: Job, into out: inout [UInt8]) {
        out.append(version)
        out.append(job.state.rawValue)
        put(&out, Int64(job.priority))
        put(&out, Int64(job.attempts))
        put(&out, Int64(job.maxAttempts))
        switch job.backoff {
        case .fixed(let milliseconds):
            out.append(0)
            put(&out, Int64(milliseconds))
            put(&out, 0)
        case .exponential(let base, let cap):
            out.append(1)
            put(&out, Int64(base))
            put(&out, Int64(cap))
        }
        put(&out, Int64(bitPattern: job.jitter.bitPattern))
        put(&out, Int64(job.leaseMilliseconds))
        put(&out, job.key)
        put(&out, job.enqueuedAt)
        put(&out, job.runAt)
        put(&out, job.startedAt)
        put(&out, job.finishedAt)
        put(&out, Int64(job.progress))
        let extras = job.extras
        put(&out, extras?.progressNote)
        put(&out, extras?.lastError)
        put(&out, extras?.result)
        put(&out, job.home.nameBytes)
        put(&out, extras?.group)
    }

    public static func encode(_ job: Job) -> [UInt8] {
        var out: [UInt8] = []
        encode(job, into: &out)
        return out
    }

    /// Reads a record; nil if it is not one this version can read.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> StoredJobFields? {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == version, let state = reader.byte().flatMap(JobState.init(rawValue:)),
            let priority = reader.int(), let attempts = reader.int(), let maxAttempts = reader.int(),
            let kind = reader.byte(), let first = reader.int(), let second = reader.int(),
            let jitterBits = reader.int(), let lease = reader.int()
        else { return nil }
        let backoff: Backoff
        switch kind {
        case 0: backoff = .fixed(milliseconds: Int(first))
        case 1: backoff = .exponential(baseMilliseconds: Int(first), capMilliseconds: Int(second))
        default: return nil
        }
        guard let key = reader.optionalBytes(), let enqueuedAt = reader.int(), let runAt = reader.int(),
            let startedAt = reader.optionalInt(), let finishedAt = reader.optionalInt(), let progress = reader.int(),
            let note = reader.optionalBytes(), let lastError = reader.optionalBytes(), let result = reader.optionalBytes(),
            let queue = reader.blobRange(), let group = reader.optionalBytes(), reader.atEnd
        else { return nil }
        return StoredJobFields(
            state: state, priority: Int(priority), attempts: Int(attempts), maxAttempts: Int(maxAttempts),
            backoff: backoff, jitter: Double(bitPattern: UInt64(bitPattern: jitterBits)), leaseMilliseconds: Int(lease),
            key: key.value, enqueuedAt: enqueuedAt, runAt: runAt, startedAt: startedAt.value,
            finishedAt: finishedAt.value, progress: Int(progress), progressNote: note.value, lastError: lastError.value,
            result: result.value, queue: UnsafeRawBufferPointer(rebasing: bytes[queue]), group: group.value)
    }

    public static func decode(_ bytes: [UInt8]) -> StoredJobFields? {
        bytes.withUnsafeBytes { decode($0) }
    }

    private static func put(_ out: inout [UInt8], _ value: Int64) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    private static func put(_ out: inout [UInt8], _ value: Int64?) {
        out.append(value == nil ? 0 : 1)
        if let value { put(&out, value) }
    }

    private static func put(_ out: inout [UInt8], _ value: [UInt8]) {
        withUnsafeBytes(of: UInt32(value.count).bigEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: value)
    }

    private static func put(_ out: inout [UInt8], _ value: [UInt8]?) {
        out.append(value == nil ? 0 : 1)
        if let value { put(&out, value) }
    }

    /// A present-or-absent value that decoded successfully.
    struct Decoded<T> { let value: T? }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        var atEnd: Bool { position == bytes.count }

        mutating func byte() -> UInt8? {
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func int() -> Int64? {
            guard position + 8 <= bytes.count else { return nil }
            var value: Int64 = 0
            for offset in 0..<8 { value = value << 8 | Int64(bytes[position + offset]) }
            position += 8
            return value
        }

        mutating func blobRange() -> Range<Int>? {
            guard position + 4 <= bytes.count else { return nil }
            var length = 0
            for offset in 0..<4 { length = length << 8 | Int(bytes[position + offset]) }
            position += 4
            guard position + length <= bytes.count else { return nil }
            defer { position += length }
            return position..<(position + length)
        }

        mutating func optionalInt() -> Decoded<Int64>? {
            switch byte() {
            case 0: return Decoded(value: nil)
            case 1: return int().map { Decoded(value: $0) }
            default: return nil
            }
        }

        mutating func optionalBytes() -> Decoded<[UInt8]>? {
            switch byte() {
            case 0: return Decoded(value: nil)
            case 1: return blobRange().map { Decoded(value: Array(bytes[$0])) }
            default: return nil
            }
        }
    }
}

/// A job record as read back from the store. `queue` points into the record's bytes and is
/// valid only as long as they are.
public struct StoredJobFields {
    public var state: JobState
    public var priority: Int
    public var attempts: Int
    public var maxAttempts: Int
    public var backoff: Backoff
    public var jitter: Double
    public var leaseMilliseconds: Int
    public var key: [UInt8]?
    public var enqueuedAt: Int64
    public var runAt: Int64
    public var startedAt: Int64?
    public var finishedAt: Int64?
    public var progress: Int
    public var progressNote: [UInt8]?
    public var lastError: [UInt8]?
    public var result: [UInt8]?
    public var queue: UnsafeRawBufferPointer
    public var group: [UInt8]?
}
