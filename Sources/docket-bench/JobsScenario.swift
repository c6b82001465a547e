import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Runs one `jobs` measurement: for a drain run, first fills the queue (untimed); then opens
/// every connection of the timed part, starts them together and waits until the last job is
/// acked (or, enqueue-only, confirmed).
struct JobsScenario {
    var plan: JobsPlan
    /// Read around the timed part, beside the server's CPU (PostgreSQL's counters).
    var probe: (any PhaseProbe)? = nil

    /// Enqueues each producer keeps unanswered while filling the queue for a drain run.
    static let prefillWindow = 1024

    func run() -> JobsReport {
        var report = JobsReport(plan: plan)
        let runDeadline = MonotonicClock.now() + UInt64(plan.timeoutSeconds * 1e9)

        var earliestEnqueue: UInt64?
        if plan.mode == .drain {
            // A deep window fills the queue in few durable commits: the fill is not measured,
            // and on a server that fsyncs per commit it would otherwise take longer than the run.
            var filling = self
            filling.plan.window = max(plan.window, Self.prefillWindow)
            let prefill = filling.runPhase(roles: plan.producerRoles, enqueuesComplete: true, until: runDeadline)
            report.prefillSeconds = prefill.elapsedSeconds
            earliestEnqueue = prefill.startedAt
            if let failure = prefill.failure {
                report.failure = "filling the queue: \(failure)"
                return report
            }
        }
        let phase = runPhase(
            roles: plan.timedRoles, enqueuesComplete: plan.mode == .enqueue, earliestEnqueue: earliestEnqueue,
            until: runDeadline, probe: probe)
        report.record(phase)
        return report
    }

    /// What one phase of a run (prefill, or the timed part) produced.
    struct Phase {
        var stats = SessionStats()
        var elapsedSeconds = 0.0
        /// When the phase's connections were released, in monotonic nanoseconds.
        var startedAt: UInt64 = 0
        var serverCPUSeconds: Double?
        var clientCPUSeconds: Double?
        var failure: String?
    }

    private func runPhase(
        roles: [SessionRole], enqueuesComplete: Bool, earliestEnqueue: UInt64? = nil, until deadline: UInt64,
        probe: (any PhaseProbe)? = nil
    ) -> Phase {
        let plan = self.plan
        return Self.runPhase(plan: plan, roles: roles, enqueuesComplete: enqueuesComplete, until: deadline, probe: probe) {
            share, budget, control in
            JobLoop(roles: share, plan: plan, budget: budget, control: control, enqueuesComplete: enqueuesComplete,
                    earliestEnqueue: earliestEnqueue)
        }
    }

    /// Runs `roles` on `plan.threads` threads, each a loop `makeLoop` makes for its share of
    /// the connections (round-robin, so that in a cycle run every thread gets producers and
    /// workers alike), all started together once every connection is ready; `probe` is read
    /// just before the start and just after the last job.
    static func runPhase(
        plan: JobsPlan, roles: [SessionRole], enqueuesComplete: Bool, until deadline: UInt64, probe: (any PhaseProbe)?,
        makeLoop: ([SessionRole], JobBudget, RunControl) -> any PhaseLoop
    ) -> Phase {
        let now = MonotonicClock.now()
        let control = RunControl(timeoutSeconds: deadline > now ? Double(deadline - now) / 1e9 : 0, target: plan.jobs)
        let budget = JobBudget(limit: plan.jobs)
        let threads = min(plan.threads, roles.count)
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)

        let loops = (0..<threads).map { thread in
            let share = roles.indices.filter { $0 % threads == thread }.map { roles[$0] }
            let loop = makeLoop(share, budget, control)
            return Worker(name: "jobs-\(thread)") { loop.run(ready: ready, go: go) }
        }
        for _ in loops {
            let now = MonotonicClock.now()
            let remaining = control.deadline > now ? Int(control.deadline - now) : 0
            if ready.wait(timeout: .now() + .nanoseconds(remaining)) == .timedOut {
                control.fail("the connections were not ready within --timeout")
                break
            }
        }

        if !control.shouldStop { probe?.begin() }
        let serverBefore = plan.serverPID.flatMap { ServerCPU.seconds(pid: $0) }
        let clientBefore = ServerCPU.seconds(pid: getpid())
        let startedAt = MonotonicClock.now()
        control.markPublishStarted(at: startedAt)
        for _ in loops { go.signal() }
        var phase = Phase()
        phase.startedAt = startedAt
        for loop in loops { phase.stats.merge(loop.join()) }
        let endedAt = control.completionTime ?? MonotonicClock.now()

        phase.elapsedSeconds = MonotonicClock.seconds(from: startedAt, to: endedAt)
        if let serverBefore, let serverAfter = plan.serverPID.flatMap({ ServerCPU.seconds(pid: $0) }) {
            phase.serverCPUSeconds = serverAfter - serverBefore
        }
        if let clientBefore, let clientAfter = ServerCPU.seconds(pid: getpid()) {
            phase.clientCPUSeconds = clientAfter - clientBefore
        }
        probe?.end()
        let done = enqueuesComplete ? phase.stats.enqueued : phase.stats.acked
        if let reason = control.failure {
            phase.failure = "\(reason) (\(done) of \(plan.jobs) jobs done)"
        } else if done < plan.jobs {
            phase.failure = "timed out after \(plan.timeoutSeconds) s: \(done) of \(plan.jobs) jobs done"
        } else if done > plan.jobs {
            phase.failure = "\(done) jobs done but \(plan.jobs) were sent: the queue held jobs from elsewhere"
        }
        return phase
    }
}

/// One client thread of a phase: connects its share of the connections, signals `ready`, waits
/// for `go`, then runs them until the run is complete or stopped (`JobLoop` speaks the job
/// protocols over sockets, `SkipLockedLoop` SQL through libpq).
protocol PhaseLoop: Sendable {
    func run(ready: DispatchSemaphore, go: DispatchSemaphore) -> SessionStats
}

extension JobLoop: PhaseLoop {}

/// Something read just before the clock of the timed part starts and just after it stops, on
/// the thread that runs the phase (a server's counters, beside its CPU).
protocol PhaseProbe: AnyObject {
    func begin()
    func end()
}
