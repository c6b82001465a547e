import DocketWire

/// Queue settings on disk: a small JSON object, so a later version can add keys and still read
/// what an earlier one wrote (unknown keys are ignored, missing ones mean "default").
public enum QueueConfigCodec {
    public static func encode(_ config: QueueConfig) -> [UInt8] {
        var writer = JSONObjectWriter()
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
        return Array(writer.result.utf8)
    }

    public static func decode(_ bytes: [UInt8]) -> QueueConfig? {
        guard let json = bytes.withUnsafeBytes({ JSONValue.parse($0) }), case .object = json else { return nil }
        var config = QueueConfig()
        config.rate = json["rate"]?.stringValue.flatMap(Rate.parse)
        config.groupRate = json["group_rate"]?.stringValue.flatMap(Rate.parse)
        config.concurrency = json["concurrency"]?.numberValue.map { Int($0) }
        config.paused = json["paused"]?.boolValue ?? false
        config.maxAttempts = json["attempts"]?.numberValue.map { Int($0) }
        config.backoff = json["backoff"]?.stringValue.flatMap(Backoff.parse)
        config.jitter = json["jitter"]?.numberValue
        config.leaseMilliseconds = json["lease_ms"]?.numberValue.map { Int($0) }
        config.keepCompleted = json["keep_completed"]?.numberValue.map { Int($0) }
        config.keepDead = json["keep_dead"]?.numberValue.map { Int($0) }
        return config
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
