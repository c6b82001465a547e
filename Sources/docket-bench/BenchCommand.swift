import ArgumentParser

/// The docket-bench command line: one subcommand per family of scenarios.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docket-bench",
        abstract: "A native load generator for docketd and its peers: pub/sub and job queues.",
        discussion: """
            Targets only loopback servers: docketd, nats-server or Redis for pubsub; docketd, beanstalkd \
            or Redis for jobs. Every run is bounded by a message or job count and a timeout, and \
            exits non-zero if not everything arrived.
            """,
        subcommands: [PubSubCommand.self, JobsCommand.self])
}
