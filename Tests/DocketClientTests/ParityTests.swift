import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// The verbs of PROTOCOL.md beyond the first ones, as typed values, against a real docketd.
@Suite struct ParityTests {
    @Test func queueDocumentsAreTyped() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            try client.setQueue(
                "typed",
                [
                    .keepDead(50), .keepCompleted(5), .lease(.seconds(90)), .jitter(0.25), .backoff(.fixed(2)), .attempts(4),
                    .concurrency(3), .groupRate(5, per: 1), .rate(100, per: .milliseconds(500)),
                ])
            try client.enqueue("typed", "a")
            try client.enqueue("typed", "b", options: JobOptions(delay: 60))
            let info = try client.queue("typed")
            #expect(info.queue == "typed")
            #expect(!info.paused)
            #expect(info.config.rate == "100/500ms")
            #expect(info.config.groupRate == "5/1000ms")
            #expect(info.config.concurrency == 3)
            #expect(info.config.attempts == 4)
            #expect(info.config.backoff == "fixed:2000ms")
            #expect(info.config.jitter == 0.25)
            #expect(info.config.leaseMilliseconds == 90_000)
            #expect(info.config.keepCompleted == 5 && info.config.keepDead == 50)
            #expect(info.jobs.waiting == 1 && info.jobs.delayed == 1 && info.jobs.active == 0)
            #expect(info.totals.enqueued == 2)
            #expect(info.rateWindowStarts == 0)
            #expect(info.blockedBy == nil && info.heldUntil == nil)
            #expect(info.oldestWaitingMilliseconds != nil)
            // Unknown keys stay readable.
            #expect(info["jobs"]?["waiting"]?.numberValue == 1)

            try client.pause("typed")
            let paused = try client.queue("typed")
            #expect(paused.paused && paused.blockedBy == "paused")
            try client.resume("typed")

            // Back to the defaults: no limits.
            try client.setQueue("typed", [.reset("rate"), .reset("concurrency")])
            let reset = try client.queue("typed").config
            #expect(reset.rate == nil && reset.concurrency == nil)

            let all = try client.queues()
            #expect(all.map(\.queue).contains("typed"))
            let stats = try client.stats()
            #expect(stats.jobs == 2 && stats.queues >= 1 && stats.connections >= 1)
            #expect(stats.version == "2.9.0" && !stats.docketVersion.isEmpty && !stats.serverID.isEmpty)
            // PostgreSQL has no store capacity of docketd's own.
            #expect((stats.storeCapacityBytes > 0 || DocketdProcess.storeUnderTest == "postgres") && stats.maxPayload == client.maxPayload)
            #expect(stats.sync == "always")
        }
    }

    /// QUEUES answers a page of at most 1,000: `queues()` reads every page, so a client
    /// with more queues than that still sees them all; `queues(after:limit:)` reads one.
    @Test func queuesReadsEveryPage() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let names = (0..<1010).map { "q" + String(10000 + $0) }
            for name in names { try client.setQueue(name, [.attempts(4)]) }
            #expect(try client.queues().map(\.queue) == names)
            #expect(try client.queues(after: "q10004", limit: 2).map(\.queue) == ["q10005", "q10006"])
            #expect(try client.queues(after: "q11009").isEmpty)
            if case .badArgument? = failure({ () throws(DocketError) in _ = try client.queues(after: nil, limit: 0) }) {} else {
                Issue.record("limit=0 was sent")
            }
        }
    }

    @Test func settingsTheServerWouldRefuseAreNeverSent() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let refused: [[QueueSetting]] = [
                [.concurrency(0)], [.concurrency(100_001)], [.rate("fast")], [.rate("0/1s")], [.rate("5/0s")],
                [.rate(1_000_001, per: 1)], [.attempts(1001)], [.jitter(1.5)], [.jitter(-0.1)], [.lease(0)], [.keepDead(-1)],
                [.backoff("exp:1h:1m")], [QueueSetting("speed", "11")], [.attempts(2), .attempts(3)], [],
            ]
            for settings in refused {
                guard case .badArgument? = failure({ () throws(DocketError) in try client.setQueue("strict", settings) }) else {
                    Issue.record("\(settings) was not refused before sending")
                    continue
                }
            }
            // Nothing was sent: the connection is in order, and the queue was never made.
            try client.flush()
            #expect(try client.queues().isEmpty)
        }
    }

    @Test func routesAreTyped() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let id = try client.route("orders.>", to: "orders", options: JobOptions(priority: 1, group: "shop"))
            let routes = try client.routes()
            #expect(routes.count == 1)
            #expect(routes[0].id == id && routes[0].pattern == "orders.>" && routes[0].queue == "orders")
            #expect(routes[0].rule == "orders.> orders pri=1 group=shop")
            #expect(routes[0].owner == nil)
            try client.publish("orders.eu.new", "order 7")
            let job = try #require(try client.reserve("orders", timeout: 5))
            #expect(try client.inspect(job.id).group == "shop")
            try client.ack(job.id, attempt: job.attempt)
            try client.unroute(id)
            #expect(failure({ () throws(DocketError) in try client.unroute(id) })?.code == .notFound)
            #expect(failure({ () throws(DocketError) in _ = try client.route("$JOB.>", to: "orders") }).map { if case .badArgument = $0 { true } else { false } } == true)
        }
    }

    @Test func throttleHoldsTheQueueOrTheGroupWithoutUsingAnAttempt() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let tenant = try client.enqueue("api", "a", options: JobOptions(attempts: 1, group: "acme")).id
            try client.enqueue("api", "b", options: JobOptions(group: "other"))
            let job = try #require(try client.reserve("api", timeout: 5))
            #expect(job.id == tenant)
            let outcome = try client.throttle(job.id, attempt: job.attempt, for: 30, scope: .group, reason: "429")
            #expect(outcome == .throttled(milliseconds: 30_000))
            // The held group steps aside; the other group's job starts.
            let next = try #require(try client.reserve("api", timeout: 5))
            #expect(next.id != tenant)
            try client.ack(next.id)
            #expect(try client.reserve("api", timeout: 0) == nil)
            let info = try client.inspect(tenant)
            #expect(info.state == "waiting" && info.attempts == 0 && info.group == "acme")
            #expect(try client.queue("api").totals.throttled == 1)
            // A queue-wide throttle shows as held.
            try client.enqueue("whole", "x")
            let held = try #require(try client.reserve("whole", timeout: 5))
            try client.throttle(held.id, for: 60)
            let document = try client.queue("whole")
            #expect(document.blockedBy == "throttle" && document.heldUntil != nil)
            // scope=group for a job without a group is the server's BAD_OPTION.
            try client.enqueue("nogroup", "x")
            let plain = try #require(try client.reserve("nogroup", timeout: 5))
            #expect(failure({ () throws(DocketError) in _ = try client.throttle(plain.id, for: 1, scope: .group) })?.code == .badOption)
        }
    }

    @Test func listPurgeAndPromoteBrowseAndRepairAQueue() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            var ids: [UInt64] = []
            for index in 0..<25 { ids.append(try client.enqueue("browse", "job \(index)").id) }
            // Pages of 10 follow the cursor, in the order RESERVE would take them.
            var seen: [UInt64] = []
            var after: String?
            var pages = 0
            repeat {
                let page = try client.list("browse", after: after, limit: 10)
                #expect(page.queue == "browse" && page.state == .waiting)
                seen += page.jobs.map(\.id)
                after = page.next
                pages += 1
            } while after != nil
            #expect(seen == ids && pages == 3)
            var walked: [UInt64] = []
            try client.forEachJob(in: "browse", pageSize: 7) { job in
                walked.append(job.id)
                return walked.count < 12
            }
            #expect(walked == Array(ids.prefix(12)))

            // PROMOTE: a delayed job waits from now on; any other state is NOT_DELAYED.
            let later = try client.enqueue("promote", "later", options: JobOptions(delay: 3600)).id
            #expect(try client.list("promote", state: .delayed).jobs.map(\.id) == [later])
            #expect(failure({ () throws(DocketError) in try client.promote(ids[0]) })?.code == .notDelayed)
            try client.promote(later)
            #expect(try client.reserve("promote", timeout: 0)?.id == later)

            // PURGE: the waiting jobs go; active ones are never purged (refused before sending).
            #expect(try client.purge("browse", state: .waiting) == 25)
            #expect(try client.list("browse").jobs.isEmpty)
            guard case .badArgument? = failure({ () throws(DocketError) in _ = try client.purge("browse", state: .active) }) else {
                Issue.record("purging active jobs was sent")
                return
            }
            #expect(try client.purge("browse", state: .dead, older: 60) == 0)
        }
    }

    @Test func schedulesMakeJobsAndCanBePausedAndRemoved() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            try client.schedule("pulse", queue: "beat", .every(1), options: JobOptions(priority: 3), payload: Array("tick".utf8))
            try client.schedule("nightly", queue: "reports", .cron("0 3 * * *", timeZone: "Europe/Berlin"), catchup: ScheduleCatchup.none)
            let all = try client.schedules()
            #expect(all.map(\.name) == ["nightly", "pulse"])
            #expect(all[0].cron == "0 3 * * *" && all[0].timeZone == "Europe/Berlin" && all[0].catchup == ScheduleCatchup.none)
            #expect(all[1].everyMilliseconds == 1000 && all[1].payloadBytes == 4 && all[1].next.count == 3 && !all[1].paused)
            let job = try #require(try client.reserve("beat", timeout: 5))
            #expect(job.payload == Array("tick".utf8))
            let info = try client.inspect(job.id)
            #expect(info.priority == 3 && info.key?.hasPrefix("pulse@") == true)
            try client.pauseSchedule("pulse")
            #expect(try client.schedules().first { $0.name == "pulse" }?.paused == true)
            try client.resumeSchedule("pulse")
            try client.unschedule("pulse")
            #expect(failure({ () throws(DocketError) in try client.unschedule("pulse") })?.code == .notFound)
            // What the server would refuse is never sent.
            func isRefusedBeforeSending(_ body: () throws(DocketError) -> Void) -> Bool {
                if case .badArgument? = failure(body) { return true }
                return false
            }
            #expect(isRefusedBeforeSending { () throws(DocketError) in try client.schedule("x", queue: "q", .every(0.5)) })
            #expect(isRefusedBeforeSending { () throws(DocketError) in try client.schedule("x", queue: "q", .cron("")) })
            #expect(isRefusedBeforeSending { () throws(DocketError) in try client.schedule("x", queue: "q", .every(60), options: JobOptions(key: "k")) })
            #expect(isRefusedBeforeSending { () throws(DocketError) in try client.schedule("a.b", queue: "q", .every(60)) })
            #expect(try client.schedules().map(\.name) == ["nightly"])
        }
    }

    @Test func expiryByTTLOrTime() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let future = Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000
            let kept = try client.enqueue("expiring", "a", options: JobOptions(expires: future)).id
            #expect(try client.inspect(kept).expiresAt == future)
            let ttl = try client.enqueue("expiring", "b", options: JobOptions(ttl: 60)).id
            #expect(try client.inspect(ttl).expiresAt != nil)
            let gone = try client.enqueue("expiring", "c", options: JobOptions(expires: 1000)).id
            #expect(try client.wait(gone, timeout: 5) == .dead(error: Array("expired: not started by 1000 (unix ms)".utf8)))
            guard case .badArgument? = failure({ () throws(DocketError) in _ = try client.enqueue("expiring", "d", options: JobOptions(ttl: 1, expires: future)) })
            else {
                Issue.record("ttl with expires was sent")
                return
            }
        }
    }
}
