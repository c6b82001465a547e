// docket-bench: a native load generator for Docket and any server speaking the NATS client protocol.
BenchCommand.main()
