/// One pub/sub run, validated: who connects where, what is published and what must arrive.
struct PubSubPlan: Sendable {
    var address: LoopbackAddress
    var port: Int
    /// Messages the publisher sends.
    var messages: Int
    /// Payload bytes per message.
    var size: Int
    /// Subscriber connections, one subscription each.
    var subscribers: Int
    /// Where the publisher publishes.
    var publishSubject: String
    /// What the subscribers subscribe to: the publish subject, or a `>` wildcard covering it.
    var subscribeSubject: String
    /// When set, all subscriptions join this queue group and share the messages.
    var queueGroup: String?
    var timeoutSeconds: Double
    /// A local server process whose CPU time to report.
    var serverPID: Int32?

    /// Deliveries that complete the run: each message once per subscriber, or once in all
    /// for a queue group (the server hands each message to one member).
    var expectedDeliveries: Int { queueGroup == nil ? messages * subscribers : messages }

    /// What each subscriber must receive; nil for a queue group, where shares vary.
    var expectedPerSubscriber: Int? { queueGroup == nil ? messages : nil }

    /// A short name for the shape of the run, for reports.
    var scenarioName: String {
        switch (subscribeSubject == publishSubject, queueGroup == nil) {
        case (true, true): return "fanout"
        case (false, true): return "wildcard"
        case (true, false): return "queue"
        case (false, false): return "wildcard-queue"
        }
    }

    /// The `SUB` command each subscriber sends, with subscription id 1 (one per connection).
    var subscribeCommand: String {
        if let queueGroup { return "SUB \(subscribeSubject) \(queueGroup) 1\r\n" }
        return "SUB \(subscribeSubject) 1\r\n"
    }
}
