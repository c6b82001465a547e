import DocketClient
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
            #expect(stats.storeCapacityBytes > 0 && stats.maxPayload == client.maxPayload)
            #expect(stats.sync == "always")
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
}
