import DocketWire

/// The on-disk form of a job's state. The payload is stored apart (it never changes, and
/// rewriting it on every state change would multiply the bytes written).
///
/// Version 2, written now: a version byte, the state, a byte of flags saying which optional
/// fields follow, then LEB128 varints (signed ones zigzag-encoded; times other than the enqueue
/// time as differences from it) and length-prefixed byte strings. A typical record is about 30
/// bytes, a quarter of version 1, which makes every commit and the data file smaller.
/// Version 1 (fixed 8-byte big-endian integers) is still read. A new field goes at the end
/// under a new version; `decode` keeps reading every older version. Version 3 is version 2 with
/// the expiry (`ttl=`, `expires=`) after everything else, as a difference from the enqueue
/// time; it is written only for jobs that have one, so every other record stays as it was.
/// Version 4, written only for jobs enqueued `after=` others, ends instead with tagged fields
/// (a tag byte, then its value) until the record ends: `Tag.expiry`, `Tag.parents` (a count,
/// then the ids), `Tag.runsIfParentDies` (no value), `Tag.keyUntil` (`key_ttl=`, as a difference
/// from the enqueue time), `Tag.failedAttempts` (a count, then for each a byte saying which of
/// start (1) and error (2) follow, the attempt, its start and end as differences from the
/// enqueue time, and its error as a length-prefixed string), `Tag.flowDepth` (after the parents:
/// the job's depth in its flow, `JobEngine.flowDepth(after:)`); version 4 is also written for every
/// job with failed attempts. A record with parents written before `Tag.flowDepth` has its depth
/// worked out again as it is restored. A reader refuses a tag it does not know.
public enum JobCodec {
    static let version: UInt8 = 2
    static let versionWithExpiry: UInt8 = 3
    static let versionWithTags: UInt8 = 4

    private enum Tag {
        static let expiry: UInt8 = 1, parents: UInt8 = 2, runsIfParentDies: UInt8 = 3, keyUntil: UInt8 = 4, failedAttempts: UInt8 = 5
        static let flowDepth: UInt8 = 6
    }

    private enum Flag {
        static let key: UInt8 = 1, startedAt: UInt8 = 2, finishedAt: UInt8 = 4, progressNote: UInt8 = 8
        static let lastError: UInt8 = 16, result: UInt8 = 32, group: UInt8 = 64, jitter: UInt8 = 128
    }

    /// Appends the record of `job` to `out` (one buffer serves a whole batch of records).
    public static func encode(_ job: Job, into out: inout [UInt8]) {
        let extras = job.extras
        let startedAt = job.startedAt
        let finishedAt = job.finishedAt
        var flags: UInt8 = 0
        if extras?.key != nil { flags |= Flag.key }
        if startedAt != nil { flags |= Flag.startedAt }
        if finishedAt != nil { flags |= Flag.finishedAt }
        if extras?.progressNote != nil { flags |= Flag.progressNote }
        if extras?.lastError != nil { flags |= Flag.lastError }
        if extras?.result != nil { flags |= Flag.result }
        if extras?.group != nil { flags |= Flag.group }
        if job.jitter != 0 { flags |= Flag.jitter }
        // The fixed part is at most 3 bytes + 13 varints of 10 bytes + 8 bytes of jitter; it is
        // built on the stack and appended at once (appending field by field cost a third of the
        // encoding time).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 160) { buffer in
            var writer = VarintWriter(buffer: buffer)
            writer.byte(Self.isTagged(extras) ? versionWithTags : extras?.expiresAt == nil ? version : versionWithExpiry)
            writer.byte(job.state.rawValue)
            writer.byte(flags)
            writer.signed(Int64(job.priority))
            writer.unsigned(UInt64(job.attempts))
            writer.unsigned(UInt64(job.maxAttempts))
            switch job.backoff {
            case .fixed(let milliseconds):
                writer.byte(0)
                writer.signed(Int64(milliseconds))
            case .exponential(let base, let cap):
                writer.byte(1)
                writer.signed(Int64(base))
                writer.signed(Int64(cap))
            }
            if flags & Flag.jitter != 0 { writer.fixed(job.jitter.bitPattern) }
            writer.signed(Int64(job.leaseMilliseconds))
            writer.signed(job.enqueuedAt)
            writer.signed(job.runAt &- job.enqueuedAt)
            if let startedAt { writer.signed(startedAt &- job.enqueuedAt) }
            if let finishedAt { writer.signed(finishedAt &- job.enqueuedAt) }
            writer.byte(UInt8(clamping: job.progress))
            writer.unsigned(UInt64(job.payloadSize))
            writer.unsigned(UInt64(job.home.nameBytes.count))
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<writer.position]))
        }
        out.append(contentsOf: job.home.nameBytes)
        // In the order of their flags; each is present exactly when its flag is set. (Not a
        // loop over an array of them: that array was allocated and freed for every record.)
        if let extras {
            putBytes(&out, extras.key)
            putBytes(&out, extras.progressNote)
            putBytes(&out, extras.lastError)
            putBytes(&out, extras.result)
            putBytes(&out, extras.group)
        }
        let tagged = Self.isTagged(extras)
        if let expiresAt = extras?.expiresAt {
            if tagged { out.append(Tag.expiry) }
            let delta = expiresAt &- job.enqueuedAt
            putVarint(&out, UInt64(bitPattern: (delta << 1) ^ (delta >> 63)))
        }
        if let extras, let parents = extras.parents {
            out.append(Tag.parents)
            putVarint(&out, UInt64(parents.count))
            for parent in parents { putVarint(&out, parent) }
            if extras.runsIfParentDies { out.append(Tag.runsIfParentDies) }
            out.append(Tag.flowDepth)
            putVarint(&out, UInt64(extras.flowDepth))
        }
        if let keyUntil = extras?.keyUntil {
            out.append(Tag.keyUntil)
            putSigned(&out, keyUntil &- job.enqueuedAt)
        }
        if let failed = extras?.failedAttempts {
            out.append(Tag.failedAttempts)
            putVarint(&out, UInt64(failed.count))
            for attempt in failed {
                out.append((attempt.startedAt != nil ? 1 : 0) | (attempt.error != nil ? 2 : 0))
                putVarint(&out, UInt64(max(attempt.attempt, 0)))
                if let startedAt = attempt.startedAt { putSigned(&out, startedAt &- job.enqueuedAt) }
                putSigned(&out, attempt.endedAt &- job.enqueuedAt)
                if let error = attempt.error {
                    putVarint(&out, UInt64(error.count))
                    out.append(contentsOf: error)
                }
            }
        }
    }

    /// Whether a job's record ends in tagged fields (version 4).
    private static func isTagged(_ extras: JobExtras?) -> Bool {
        extras?.parents != nil || extras?.keyUntil != nil || extras?.failedAttempts != nil
    }

    /// A length-prefixed byte string, if there is one.
    private static func putBytes(_ out: inout [UInt8], _ value: [UInt8]?) {
        guard let value else { return }
        putVarint(&out, UInt64(value.count))
        out.append(contentsOf: value)
    }

    private static func putSigned(_ out: inout [UInt8], _ value: Int64) {
        putVarint(&out, UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public static func encode(_ job: Job) -> [UInt8] {
        var out: [UInt8] = []
        encode(job, into: &out)
        return out
    }

    /// Reads a record of any version; nil if it is not one this version can read.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> StoredJobFields? {
        var fields = StoredJobFields()
        return decode(bytes, into: &fields) ? fields : nil
    }

    public static func decode(_ bytes: [UInt8]) -> StoredJobFields? {
        bytes.withUnsafeBytes { decode($0) }
    }

    /// Reads a record of any version into `fields`, setting every one of them; false if it is
    /// not one this version can read (and then `fields` holds parts of it). A restore reuses one
    /// `StoredJobFields` for every record: returning a new one per record cost more in copies of
    /// the struct than the decoding itself.
    public static func decode(_ bytes: UnsafeRawBufferPointer, into fields: inout StoredJobFields) -> Bool {
        switch bytes.first {
        case 1:
            guard let decoded = decodeVersion1(bytes) else { return false }
            fields = decoded
            return true
        case 2, 3, 4: return decodeVersion2(bytes, into: &fields)
        default: return false
        }
    }

    private static func decodeVersion2(_ bytes: UnsafeRawBufferPointer, into fields: inout StoredJobFields) -> Bool {
        var reader = Reader(bytes: bytes)
        guard let version = reader.byte(), (2...4).contains(version), let state = reader.byte().flatMap(JobState.init(rawValue:)), let flags = reader.byte(),
            let priority = reader.signed(), let attempts = reader.unsigned(), attempts <= UInt64(Int.max),
            let maxAttempts = reader.unsigned(), maxAttempts <= UInt64(Int.max), let kind = reader.byte()
        else { return false }
        fields.state = state
        fields.priority = Int(priority)
        fields.attempts = Int(attempts)
        fields.maxAttempts = Int(maxAttempts)
        switch kind {
        case 0:
            guard let milliseconds = reader.signed() else { return false }
            fields.backoff = .fixed(milliseconds: Int(milliseconds))
        case 1:
            guard let base = reader.signed(), let cap = reader.signed() else { return false }
            fields.backoff = .exponential(baseMilliseconds: Int(base), capMilliseconds: Int(cap))
        default: return false
        }
        fields.jitter = 0
        if flags & Flag.jitter != 0 {
            guard let bits = reader.int() else { return false }
            fields.jitter = Double(bitPattern: UInt64(bitPattern: bits))
        }
        guard let lease = reader.signed(), let enqueuedAt = reader.signed(), let runAt = reader.signed() else { return false }
        fields.leaseMilliseconds = Int(lease)
        fields.enqueuedAt = enqueuedAt
        fields.runAt = enqueuedAt &+ runAt
        fields.startedAt = nil
        fields.finishedAt = nil
        if flags & Flag.startedAt != 0 {
            guard let delta = reader.signed() else { return false }
            fields.startedAt = enqueuedAt &+ delta
        }
        if flags & Flag.finishedAt != 0 {
            guard let delta = reader.signed() else { return false }
            fields.finishedAt = enqueuedAt &+ delta
        }
        guard let progress = reader.byte(), let payloadSize = reader.unsigned(), payloadSize <= UInt64(UInt32.max),
            let queue = reader.varintBlob()
        else { return false }
        fields.progress = Int(progress)
        fields.payloadSize = Int(payloadSize)
        fields.queue = UnsafeRawBufferPointer(rebasing: bytes[queue])
        // Each present exactly when its flag is set, in the order of the flags.
        func blob(_ flag: UInt8, _ target: inout [UInt8]?) -> Bool {
            guard flags & flag != 0 else {
                target = nil
                return true
            }
            guard let range = reader.varintBlob() else { return false }
            target = Array(bytes[range])
            return true
        }
        guard blob(Flag.key, &fields.key), blob(Flag.progressNote, &fields.progressNote), blob(Flag.lastError, &fields.lastError),
            blob(Flag.result, &fields.result), blob(Flag.group, &fields.group)
        else { return false }
        fields.expiresAt = nil
        fields.parents = nil
        fields.runsIfParentDies = false
        fields.keyUntil = nil
        fields.failedAttempts = nil
        fields.flowDepth = nil
        if version == 3 {
            guard let delta = reader.signed() else { return false }
            fields.expiresAt = enqueuedAt &+ delta
        }
        while version == 4, let tag = reader.byte() {
            switch tag {
            case Tag.expiry:
                guard fields.expiresAt == nil, let delta = reader.signed() else { return false }
                fields.expiresAt = enqueuedAt &+ delta
            case Tag.parents:
                guard fields.parents == nil, let count = reader.unsigned(), count <= UInt64(reader.bytes.count) else { return false }
                var ids: [UInt64] = []
                for _ in 0..<count {
                    guard let id = reader.unsigned() else { return false }
                    ids.append(id)
                }
                fields.parents = ids
            case Tag.runsIfParentDies:
                fields.runsIfParentDies = true
            case Tag.flowDepth:
                guard fields.flowDepth == nil, let depth = reader.unsigned(), (1...UInt64(Int32.max)).contains(depth) else { return false }
                fields.flowDepth = Int(depth)
            case Tag.keyUntil:
                guard fields.keyUntil == nil, let delta = reader.signed() else { return false }
                fields.keyUntil = enqueuedAt &+ delta
            case Tag.failedAttempts:
                guard fields.failedAttempts == nil, let count = reader.unsigned(), count <= UInt64(reader.bytes.count) else { return false }
                var decoded: [FailedAttempt] = []
                for _ in 0..<count {
                    guard let present = reader.byte(), present <= 3, let attempt = reader.unsigned(), attempt <= UInt64(Int32.max)
                    else { return false }
                    var startedAt: Int64?
                    if present & 1 != 0 {
                        guard let delta = reader.signed() else { return false }
                        startedAt = enqueuedAt &+ delta
                    }
                    guard let ended = reader.signed() else { return false }
                    var error: [UInt8]?
                    if present & 2 != 0 {
                        guard let range = reader.varintBlob() else { return false }
                        error = Array(bytes[range])
                    }
                    decoded.append(FailedAttempt(attempt: Int(attempt), startedAt: startedAt, endedAt: enqueuedAt &+ ended, error: error))
                }
                fields.failedAttempts = decoded
            default:
                return false
            }
        }
        return reader.atEnd
    }

    private static func putVarint(_ out: inout [UInt8], _ value: UInt64) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    /// Writes the fixed part of a version 2 record into a buffer known to be large enough.
    /// Inlined into `encode`: as calls, the writer's position went through memory for every
    /// byte (about 35 instructions per field, 700 per job cycle of three records).
    struct VarintWriter {
        let buffer: UnsafeMutableBufferPointer<UInt8>
        var position = 0

        @inline(__always) mutating func byte(_ value: UInt8) {
            buffer[position] = value
            position += 1
        }

        @inline(__always) mutating func unsigned(_ value: UInt64) {
            // Most fields (state, attempts, small delays, sizes) fit one byte.
            if value < 0x80 {
                byte(UInt8(truncatingIfNeeded: value))
                return
            }
            var value = value
            while value >= 0x80 {
                byte(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            byte(UInt8(value))
        }

        @inline(__always) mutating func signed(_ value: Int64) {
            unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
        }

        mutating func fixed(_ value: UInt64) {
            for shift in stride(from: 56, through: 0, by: -8) { byte(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
    }

    // MARK: Version 1

    /// A record in the version 1 layout, as docketd 0.1 wrote them; kept so tests can prove
    /// that such records still read.
    public static func encodeVersion1(_ job: Job) -> [UInt8] {
        var out: [UInt8] = [1, job.state.rawValue]
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
        put(&out, job.progressNote)
        put(&out, job.lastError)
        put(&out, job.result)
        put(&out, job.home.nameBytes)
        put(&out, job.group)
        return out
    }

    private static func decodeVersion1(_ bytes: UnsafeRawBufferPointer) -> StoredJobFields? {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == 1, let state = reader.byte().flatMap(JobState.init(rawValue:)),
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
            result: result.value, queue: UnsafeRawBufferPointer(rebasing: bytes[queue]), group: group.value,
            payloadSize: nil)
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

        mutating func unsigned() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while let next = byte() {
                guard shift < 64 else { return nil }
                value |= UInt64(next & 0x7f) << shift
                if next & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }

        mutating func signed() -> Int64? {
            guard let raw = unsigned() else { return nil }
            return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
        }

        mutating func varintBlob() -> Range<Int>? {
            guard let length = unsigned(), length <= UInt64(bytes.count - position) else { return nil }
            defer { position += Int(length) }
            return position..<(position + Int(length))
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
    /// Version 2 records carry it; for older ones the store's payload tells.
    public var payloadSize: Int?
    /// When it stops being startable (versions 3 and 4).
    public var expiresAt: Int64? = nil
    /// The jobs it was enqueued `after=` (version 4).
    public var parents: [UInt64]? = nil
    public var runsIfParentDies = false
    /// Its key is remembered until then at least (version 4).
    public var keyUntil: Int64? = nil
    /// Its last failed attempts, oldest first (version 4).
    public var failedAttempts: [FailedAttempt]? = nil
    /// Its depth in its flow (version 4, with the parents; nil in records written before it).
    public var flowDepth: Int? = nil
}

extension StoredJobFields {
    /// Fields to decode into (`JobCodec.decode(_:into:)`): a waiting job of nothing.
    public init() {
        self.init(
            state: .waiting, priority: 0, attempts: 0, maxAttempts: 0, backoff: .fixed(milliseconds: 0), jitter: 0,
            leaseMilliseconds: 0, key: nil, enqueuedAt: 0, runAt: 0, startedAt: nil, finishedAt: nil, progress: 0,
            progressNote: nil, lastError: nil, result: nil, queue: UnsafeRawBufferPointer(start: nil, count: 0), group: nil,
            payloadSize: nil)
    }
}
