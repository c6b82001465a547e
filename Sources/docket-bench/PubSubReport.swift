import Foundation

/// The results of one pub/sub run, printed for people or as one JSON object for scripts.
struct PubSubReport: Encodable {
    var scenario: String
    var publishSubject: String
    var subscribeSubject: String
    var queueGroup: String?
    var messages: Int
    var size: Int
    var subscribers: Int
    /// Deliveries that complete the run.
    var expected: Int
    /// Deliveries counted, over all subscribers.
    var received = 0
    var perSubscriber: [Int] = []
    var payloadBytes = 0
    /// From just before the first PUB to the delivery that completed the run (or to the end
    /// of a failed run).
    var elapsedSeconds = 0.0
    /// Messages the publisher got into its socket.
    var published = 0
    /// From just before the first PUB to the last PUB accepted by the kernel (or to the end
    /// of a failed run).
    var publishSeconds = 0.0
    /// From just before the first PUB to the PONG that shows the server routed every PUB;
    /// nil if that PONG never came.
    var flushSeconds: Double?
    /// User plus system CPU the server used while the publisher ran, if `--server-pid` was given.
    var serverCPUSeconds: Double?
    /// Why the run failed; nil for a run where every message arrived exactly once.
    var failure: String?

    init(plan: PubSubPlan) {
        scenario = plan.scenarioName
        publishSubject = plan.publishSubject
        subscribeSubject = plan.subscribeSubject
        queueGroup = plan.queueGroup
        messages = plan.messages
        size = plan.size
        subscribers = plan.subscribers
        expected = plan.expectedDeliveries
    }

    var ok: Bool { failure == nil }
    /// Deliveries per second, over all subscribers.
    var receivedPerSecond: Double { rate(Double(received), elapsedSeconds) }
    /// Payload megabytes (10^6 bytes) per second, over all subscribers.
    var receivedMegabytesPerSecond: Double { rate(Double(payloadBytes) / 1e6, elapsedSeconds) }
    /// Messages per second the publisher got into its socket.
    var publishedPerSecond: Double { rate(Double(published), publishSeconds) }

    private func rate(_ amount: Double, _ seconds: Double) -> Double { seconds > 0 ? amount / seconds : 0 }

    private enum CodingKeys: String, CodingKey {
        case ok, scenario, publishSubject, subscribeSubject, queueGroup, messages, size, subscribers
        case expected, received, perSubscriber, payloadBytes, elapsedSeconds, receivedPerSecond
        case receivedMegabytesPerSecond, published, publishSeconds, publishedPerSecond, flushSeconds
        case serverCPUSeconds = "server_cpu_seconds", failure
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        try container.encode(scenario, forKey: .scenario)
        try container.encode(publishSubject, forKey: .publishSubject)
        try container.encode(subscribeSubject, forKey: .subscribeSubject)
        try container.encode(queueGroup, forKey: .queueGroup)
        try container.encode(messages, forKey: .messages)
        try container.encode(size, forKey: .size)
        try container.encode(subscribers, forKey: .subscribers)
        try container.encode(expected, forKey: .expected)
        try container.encode(received, forKey: .received)
        try container.encode(perSubscriber, forKey: .perSubscriber)
        try container.encode(payloadBytes, forKey: .payloadBytes)
        try container.encode(elapsedSeconds, forKey: .elapsedSeconds)
        try container.encode(receivedPerSecond, forKey: .receivedPerSecond)
        try container.encode(receivedMegabytesPerSecond, forKey: .receivedMegabytesPerSecond)
        try container.encode(published, forKey: .published)
        try container.encode(publishSeconds, forKey: .publishSeconds)
        try container.encode(publishedPerSecond, forKey: .publishedPerSecond)
        try container.encode(flushSeconds, forKey: .flushSeconds)
        try container.encode(serverCPUSeconds, forKey: .serverCPUSeconds)
        try container.encode(failure, forKey: .failure)
    }

    /// One line of compact JSON with snake_case keys; absent values are `null`, never missing.
    var json: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A few aligned lines for a terminal.
    var text: String {
        let group = queueGroup.map { " in queue group \($0)" } ?? ""
        var lines = [
            "pubsub \(scenario): 1 publisher on \(publishSubject) -> \(subscribers) subscriber(s) on "
                + "\(subscribeSubject)\(group), \(messages) messages of \(size) B",
            String(format: "  received   %d/%d in %.3f s: %.0f msgs/s, %.1f MB/s",
                   received, expected, elapsedSeconds, receivedPerSecond, receivedMegabytesPerSecond),
            String(format: "  published  %d/%d in %.3f s: %.0f msgs/s",
                   published, messages, publishSeconds, publishedPerSecond)
                + (flushSeconds.map { String(format: " (server had routed all after %.3f s)", $0) } ?? ""),
        ]
        if subscribers > 1 {
            lines.append("  per subscriber " + perSubscriber.map(String.init).joined(separator: " "))
        }
        if let serverCPUSeconds {
            let share = elapsedSeconds > 0 ? 100 * serverCPUSeconds / elapsedSeconds : 0
            lines.append(String(format: "  server CPU %.2f s (%.0f%% of elapsed)", serverCPUSeconds, share))
        }
        lines.append(failure.map { "  FAILED: \($0)" } ?? "  ok")
        return lines.joined(separator: "\n")
    }
}
