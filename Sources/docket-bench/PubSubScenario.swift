import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one pub/sub measurement: subscribers connect and subscribe first, then one publisher
/// publishes every message, and the run ends when the subscribers have counted them all.
struct PubSubScenario {
    let plan: PubSubPlan

    func run() -> PubSubReport {
        let control = RunControl(timeoutSeconds: plan.timeoutSeconds, target: plan.expectedDeliveries)

        // Subscribers first: publishing before every subscription is in place would lose messages.
        let subscribers = startSubscribers(control: control)

        var publisher: PublisherOutcome?
        var cpuBefore: Double?
        if control.failure == nil && plan.settleSeconds > 0 { usleep(UInt32(plan.settleSeconds * 1_000_000)) }
        if control.failure == nil {
            cpuBefore = plan.serverPID.flatMap { ServerCPU.seconds(pid: $0) }
            let plan = self.plan
            publisher = Worker(name: "pub") { Publisher.run(plan: plan, control: control) }.join()
        }
        let outcomes = subscribers.map { $0.join() }
        var serverCPUSeconds: Double?
        if let cpuBefore, let cpuAfter = plan.serverPID.flatMap({ ServerCPU.seconds(pid: $0) }) {
            serverCPUSeconds = cpuAfter - cpuBefore
        }
        return report(control: control, publisher: publisher, subscribers: outcomes, serverCPUSeconds: serverCPUSeconds)
    }

    /// Starts one thread per subscriber and waits until each has subscribed (or failed, or
    /// the deadline passed; `control` then holds the reason).
    private func startSubscribers(control: RunControl) -> [Worker<SubscriberOutcome>] {
        let ready = DispatchSemaphore(value: 0)
        let workers = (0..<plan.subscribers).map { index in
            let subscriber = Subscriber(index: index, plan: plan, control: control)
            return Worker(name: "sub-\(index)") { subscriber.run(ready: ready) }
        }
        for _ in workers {
            // Dispatch keeps its own clock, so hand it a span rather than our deadline.
            let now = MonotonicClock.now()
            let remaining = control.deadline > now ? Int(control.deadline - now) : 0
            if ready.wait(timeout: .now() + .nanoseconds(remaining)) == .timedOut {
                control.fail("subscribers did not finish subscribing within --timeout")
                break
            }
        }
        return workers
    }

    private func report(
        control: RunControl, publisher: PublisherOutcome?, subscribers: [SubscriberOutcome], serverCPUSeconds: Double?
    ) -> PubSubReport {
        let endedAt = MonotonicClock.now()
        var report = PubSubReport(plan: plan)
        report.perSubscriber = subscribers.map(\.received)
        report.received = subscribers.reduce(0) { $0 + $1.received }
        report.payloadBytes = subscribers.reduce(0) { $0 + $1.payloadBytes }
        if let start = control.publishStartTime {
            report.elapsedSeconds = MonotonicClock.seconds(from: start, to: control.completionTime ?? endedAt)
        }
        if let publisher, let start = publisher.startedAt {
            report.published = publisher.published
            report.publishSeconds = MonotonicClock.seconds(from: start, to: publisher.writtenAt ?? endedAt)
            report.flushSeconds = publisher.flushedAt.map { MonotonicClock.seconds(from: start, to: $0) }
        }
        report.serverCPUSeconds = serverCPUSeconds
        report.failure = failure(control: control, subscribers: subscribers)
        return report
    }

    /// Why the run does not count, or nil if every expected message arrived exactly once.
    private func failure(control: RunControl, subscribers: [SubscriberOutcome]) -> String? {
        let expected = plan.expectedDeliveries
        let received = subscribers.reduce(0) { $0 + $1.received }
        if let reason = control.failure {
            return "\(reason) (received \(received) of \(expected) messages)"
        }
        if received < expected {
            return "timed out after \(plan.timeoutSeconds) s: received \(received) of \(expected) messages"
        }
        if received > expected {
            // Seen in practice after an aborted run: the server still routes the PUBs the old
            // publisher left in its socket, to the next run's subscribers.
            return "received \(received) messages but expected \(expected): duplicates, or another publisher "
                + "on the subject (such as the remains of an aborted run; use another --subject)"
        }
        if let share = plan.expectedPerSubscriber,
           let index = subscribers.firstIndex(where: { $0.received != share }) {
            return "subscriber \(index) received \(subscribers[index].received) messages, expected \(share)"
        }
        return nil
    }
}
