import ArgumentParser

/// The docket-bench command line: one subcommand per family of scenarios.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docket-bench",
        abstract: "A native load generator for docketd and its peers: pub/sub, job queues and recovery.",
        discussion: """
            Targets only loopback servers: docketd, nats-server or Redis for pubsub; docketd, beanstalkd \
            or Redis for jobs; recovery starts and restarts a docketd of its own on 127.0.0.1. Every \
            run is bounded by a message or job count and a timeout, and exits non-zero if not \
            everything arrived.
            """,
        subcommands: [PubSubCommand.self, JobsCommand.self, RecoveryCommand.self])
}
