import DocketWire

/// Queue settings on disk: a small JSON object, so a later version can add keys and still read
/// what an earlier one wrote (unknown keys are ignored, missing ones mean "default").
public enum QueueConfigCodec {
    /// The record: the settings, and the throttles in force (`holds`), which must outlive a
    /// restart as the settings do.
    public static func encode(_ config: QueueConfig, holds: QueueHolds = QueueHolds(), totals: QueueTotals? = nil) -> [UInt8] {
        var writer = JSONObjectWriter()
        if let totals {
            var inner = JSONObjectWriter()
            for (name, value) in totals.fields { inner.add(name, value) }
            writer.add("totals", json: inner.resultBytes)
        }
        if holds.queue > 0 { writer.add("held_until", Int(holds.queue)) }
        if !holds.groups.isEmpty {
            // Group names are bytes, not necessarily UTF-8: hex keeps them exact.
            let entries = holds.groups.map { "[\"\(hex($0.group))\",\($0.until)]" }
            writer.add("group_holds", json: "[" + entries.joined(separator: ",") + "]")
        }
        if let rate = config.rate { writer.add("rate", rate.text) }
        if let rate = config.groupRate { writer.add("group_rate", rate.text) }
        if let concurrency = config.concurrency { writer.add("concurrency", concurrency) }
        writer.add("paused", config.paused)
        if let attempts = config.maxAttempts { writer.add("attempts", attempts) }
        if let backoff = config.backoff { writer.add("backoff", backoff.text) }
        if let jitter = config.jitter { writer.add("jitter", jitter) }
        if let lease = config.leaseMilliseconds { writer.add("lease_ms", lease) }
        if let keep = config.keepCompleted { writer.add("keep_completed", keep) }
        if let keep = config.keepDead { writer.add("keep_dead", keep) }
        return writer.resultBytes
    }

    public static func decode(_ bytes: [UInt8]) -> QueueConfig? { decodeRecord(bytes)?.config }

    /// The settings and the throttles a record holds.
    public static func decodeRecord(_ bytes: [UInt8]) -> (config: QueueConfig, holds: QueueHolds, totals: QueueTotals?)? {
        guard let json = bytes.withUnsafeBytes({ JSONValue.parse($0) }), case .object = json else { return nil }
        var totals: QueueTotals? = nil
        if let stored = json["totals"], case .object = stored {
            var value = QueueTotals()
            for (name, keyPath) in QueueTotals.keyPaths { value[keyPath: keyPath] = stored[name]?.intValue ?? 0 }
            totals = value
        }
        var holds = QueueHolds()
        holds.queue = json["held_until"]?.int64Value ?? 0
        if case .array(let entries)? = json["group_holds"] {
            for entry in entries {
                guard case .array(let pair) = entry, pair.count == 2, let name = pair[0].stringValue.flatMap(unhex),
                    let until = pair[1].int64Value
                else { continue }
                holds.groups.append((name, until))
            }
        }
        var config = QueueConfig()
        config.rate = json["rate"]?.stringValue.flatMap(Rate.parse)
        config.groupRate = json["group_rate"]?.stringValue.flatMap(Rate.parse)
        config.concurrency = json["concurrency"]?.intValue
        config.paused = json["paused"]?.boolValue ?? false
        config.maxAttempts = json["attempts"]?.intValue
        config.backoff = json["backoff"]?.stringValue.flatMap(Backoff.parse)
        config.jitter = json["jitter"]?.numberValue
        config.leaseMilliseconds = json["lease_ms"]?.intValue
        config.keepCompleted = json["keep_completed"]?.intValue
        config.keepDead = json["keep_dead"]?.intValue
        return (config, holds, totals)
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }

    private static func unhex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for index in stride(from: 0, to: chars.count, by: 2) {
            guard let high = digit(chars[index]), let low = digit(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }

    private static func digit(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return char - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}

/// A queue's lifetime counts, kept with its record across restarts. At any time:
/// enqueued = waiting + delayed + active + completed + dead (the jobs kept) + removed + deleted.
public struct QueueTotals: Sendable, Equatable {
    public var enqueued = 0
    public var started = 0
    public var completed = 0
    public var failed = 0
    public var dead = 0
    public var throttled = 0
    /// Finished jobs removed by retention (`keep_completed`, `keep_dead`).
    public var removed = 0
    /// Jobs removed by DEL.
    public var deleted = 0

    public init(
        enqueued: Int = 0, started: Int = 0, completed: Int = 0, failed: Int = 0, dead: Int = 0, throttled: Int = 0,
        removed: Int = 0, deleted: Int = 0
    ) {
        (self.enqueued, self.started, self.completed, self.failed) = (enqueued, started, completed, failed)
        (self.dead, self.throttled, self.removed, self.deleted) = (dead, throttled, removed, deleted)
    }

    nonisolated(unsafe) static let keyPaths: [(String, WritableKeyPath<QueueTotals, Int>)] = [
        ("enqueued", \.enqueued), ("started", \.started), ("completed", \.completed), ("failed", \.failed),
        ("dead", \.dead), ("throttled", \.throttled), ("removed", \.removed), ("deleted", \.deleted),
    ]

    var fields: [(String, Int)] { Self.keyPaths.map { ($0.0, self[keyPath: $0.1]) } }
}

/// Throttles in force on a queue (FAIL throttle=): unix ms until which nothing of the queue, or
/// of a group, starts. Kept with the queue's record so a restart does not lift them.
public struct QueueHolds: Sendable, Equatable {
    public var queue: Int64 = 0
    public var groups: [(group: [UInt8], until: Int64)] = []

    public init() {}

    public static func == (a: QueueHolds, b: QueueHolds) -> Bool {
        a.queue == b.queue && a.groups.elementsEqual(b.groups) { $0.group == $1.group && $0.until == $1.until }
    }
}

extension QueueConfig {
    /// These settings with `changes` applied (`none` returns a setting to its default).
    public func applying(_ changes: QueueSettings) -> QueueConfig {
        var config = self
        if let rate = changes.rate { config.rate = rate }
        if let rate = changes.groupRate { config.groupRate = rate }
        if let concurrency = changes.concurrency { config.concurrency = concurrency }
        if let attempts = changes.maxAttempts { config.maxAttempts = attempts }
        if let backoff = changes.backoff { config.backoff = backoff }
        if let jitter = changes.jitter { config.jitter = jitter }
        if let lease = changes.leaseMilliseconds { config.leaseMilliseconds = lease }
        if let keep = changes.keepCompleted { config.keepCompleted = keep }
        if let keep = changes.keepDead { config.keepDead = keep }
        return config
    }
}
