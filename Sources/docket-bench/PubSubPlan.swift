import ArgumentParser
import DocketTLS

/// The wire protocols `pubsub` speaks: NATS core (docketd, nats-server) or Redis pub/sub.
enum PubSubProtocol: String, CaseIterable, ExpressibleByArgument, Sendable {
    case nats, redis
}

/// One pub/sub run, validated: who connects where, what is published and what must arrive.
struct PubSubPlan: Sendable {
    var protocolKind = PubSubProtocol.nats
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
    /// What the subscribers subscribe to: the publish subject, or a wildcard covering it
    /// (`>` in NATS, a `*` glob pattern in Redis).
    var subscribeSubject: String
    /// When set, all subscriptions join this queue group and share the messages.
    var queueGroup: String?
    var timeoutSeconds: Double
    /// A local server process whose CPU time to report.
    var serverPID: Int32?
    /// TLS with this context when the server requires it (INFO's `tls_required`).
    var tls: TLSContext? = nil
    /// Where the subscribers connect, in turn (other nodes of a cluster); empty: `port`.
    var subscriberPorts: [Int] = []
    /// Seconds to wait after the last subscription before publishing: the time a cluster
    /// takes to carry the interest to the publisher's node.
    var settleSeconds = 0.0

    /// The port subscriber `index` connects to.
    func subscriberPort(_ index: Int) -> Int { subscriberPorts.isEmpty ? port : subscriberPorts[index % subscriberPorts.count] }

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

    /// The command each subscriber sends: `SUB` with subscription id 1 (one per connection),
    /// or Redis's `SUBSCRIBE`, or `PSUBSCRIBE` for a pattern.
    var subscribeCommand: String {
        if protocolKind == .redis {
            let verb = subscribeSubject == publishSubject ? "SUBSCRIBE" : "PSUBSCRIBE"
            return String(decoding: RESP.command([verb, subscribeSubject]), as: UTF8.self)
        }
        if let queueGroup { return "SUB \(subscribeSubject) \(queueGroup) 1\r\n" }
        return "SUB \(subscribeSubject) 1\r\n"
    }
}
