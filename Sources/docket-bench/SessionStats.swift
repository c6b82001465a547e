/// What the connections of a run counted and timed; each session keeps its own, and the run
/// adds them up at the end, so recording needs no synchronization.
struct SessionStats: Sendable {
    /// Enqueues the server confirmed.
    var enqueued = 0
    /// Acks the server confirmed.
    var acked = 0
    /// Reserves that timed out with no job and were sent again.
    var reserveTimeouts = 0
    /// From writing an enqueue to its confirmation.
    var enqueueLatency = LatencyHistogram()
    /// From enqueue (cycle) or reserve (drain) to the ack's confirmation.
    var jobLatency = LatencyHistogram()

    mutating func merge(_ other: SessionStats) {
        enqueued += other.enqueued
        acked += other.acked
        reserveTimeouts += other.reserveTimeouts
        enqueueLatency.merge(other.enqueueLatency)
        jobLatency.merge(other.jobLatency)
    }
}
