/// One `recovery` run, validated: which docketd to start, how to fill it and how to restart it.
struct RecoveryPlan: Sendable {
    /// The docketd binary to start.
    var executable: String
    /// Jobs to leave waiting before the restart.
    var jobs: Int
    /// Payload bytes per job.
    var size: Int
    var queue: String
    /// Producer connections and the enqueues each keeps unanswered while filling.
    var producers: Int
    var window: Int
    /// `--sync` of the server that is filled (`none` makes the fill fast; the jobs are on disk
    /// once it has shut down cleanly either way).
    var fillSync: String
    /// `--sync` of the restarted server, whose start-up is measured.
    var restartSync: String
    /// `--max-store` for both servers; nil for docketd's default.
    var maxStore: String?
    /// The data directory to use (it must be empty or absent, and is kept); nil for a temporary
    /// one that is removed afterwards.
    var dataDirectory: String?
    /// Bound on the whole run, fill and both servers included.
    var timeoutSeconds: Double
    /// How long a server may take to log `Server is ready`.
    static let readyTimeoutSeconds = 120.0
    /// How long a server may take to exit after SIGTERM before it is killed.
    static let stopTimeoutSeconds = 60.0

    /// The command line of one docketd of the run, without the executable.
    func serverArguments(dataDirectory: String, sync: String) -> [String] {
        // The address is given, not left to docketd's default or DOCKET_ADDR: loopback only.
        var arguments = ["--addr", "127.0.0.1", "--port", "0", "--data-dir", dataDirectory, "--sync", sync]
        if let maxStore { arguments += ["--max-store", maxStore] }
        return arguments
    }
}
