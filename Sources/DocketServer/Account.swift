import DocketEngine

/// A nats-server account: a subject space of its own. Messages published by a connection of one
/// account reach only subscriptions of that account. Jobs are not split by account: the job
/// verbs and their rights are the same for everyone, and lifecycle events are published into
/// every account (where the read right on the queue decides who sees them).
final class Account {
    let name: String
    let index = SubscriptionIndex()

    init(name: String) { self.name = name }
}
