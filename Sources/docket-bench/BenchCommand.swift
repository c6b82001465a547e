import ArgumentParser

/// The docket-bench command line: one subcommand per family of scenarios.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docket-bench",
        abstract: "A native load generator for servers speaking the NATS core client protocol.",
        discussion: """
            Targets only loopback servers (docketd or nats-server). Every run is bounded by a \
            message count and a timeout, and exits non-zero if not every message arrived.
            """,
        subcommands: [PubSubCommand.self])
}
