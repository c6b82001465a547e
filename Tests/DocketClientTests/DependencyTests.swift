import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// Job dependencies (`after=`, `on_parent_dead=`, PARENTS) and atomic batches (BATCH) against a
/// real docketd, on either job store (`DOCKET_TEST_STORE`).
@Suite(.timeLimit(.minutes(2)))
struct ClientDependencyTests {
    /// Two children and the job that gathers their results, enqueued as one batch.
    static func flow(_ images: [String] = ["img-001", "img-002"], options: JobOptions = JobOptions())
        -> [DocketConnection.JobRequest]
    {
        var jobs = images.map { DocketConnection.JobRequest(queue: "resize", text: $0) }
        var collector = options
        collector.after = (1...images.count).map { JobParent.batchItem($0) }
        jobs.append(DocketConnection.JobRequest(queue: "report", text: "", options: collector))
        return jobs
    }

    @Test func aFlowAsOneBatchRunsTheCollectorOnceItsChildrenComplete() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let events = try EventLog(server, queue: "report")
            defer { events.close() }

            let ids = try client.batch(Self.flow())
            #expect(ids.count == 3 && ids[0] < ids[1] && ids[1] < ids[2])
            let (first, second, report) = (ids[0], ids[1], ids[2])

            // The collector is blocked, naming its parents; they name it as their child.
            let blocked = try client.inspect(report)
            #expect(blocked.state == "blocked" && blocked.parents == [first, second] && blocked.onParentDead == .fail)
            #expect(try client.inspect(first).children == [report])
            let child = try client.inspect(first)
            #expect(child.parents.isEmpty && child.onParentDead == nil)
            #expect(try client.list("report", state: .blocked).jobs.map(\.id) == [report])
            #expect(try client.queue("report").jobs.blocked == 1)
            #expect(try client.reserve("report", timeout: 0) == nil)
            let blockedEvent = events.wait { $0.id == report && $0.kind == .blocked }
            #expect(blockedEvent?.parents == [first, second] && blockedEvent?.state == "blocked")

            // One child done: still blocked. Both: the collector waits, and reads their results.
            for (index, id) in [first, second].enumerated() {
                let job = try #require(try client.reserve("resize", timeout: 5))
                #expect(job.id == id)
                try client.ack(job.id, attempt: job.attempt, result: "small-\(index + 1)")
                if index == 0 { #expect(try client.inspect(report).state == "blocked") }
            }
            let collector = try #require(try client.reserve("report", timeout: 5))
            #expect(collector.id == report)
            let parents = try client.parents(report)
            #expect(parents.map(\.id) == [first, second])
            #expect(parents.map(\.queue) == ["resize", "resize"])
            #expect(parents.map(\.state) == ["completed", "completed"])
            #expect(parents.map(\.result) == ["small-1", "small-2"])
            #expect(parents.allSatisfy { $0.error == nil && !$0.isDeleted })
            #expect(try client.parents(first).isEmpty)
            // CHILDREN pages through what INSPECT lists (its first 1000).
            let page = try client.children(of: first, limit: 1)
            #expect(page.id == first && page.children == [report] && page.next == nil)
            #expect(try client.allChildren(of: first) == [report])
            #expect(try client.children(of: report).children.isEmpty)
            let unblocked = events.wait { $0.id == report && $0.kind == .unblocked }
            #expect(unblocked?.state == "waiting")
            try client.ack(collector.id, attempt: collector.attempt, result: "2 images")
            #expect(try client.wait(report, timeout: 5) == .completed(result: Array("2 images".utf8)))
        }
    }

    @Test func aWorkerGathersItsParentsResults() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let ids = try await client.batch(Self.flow(["a", "b", "c"]))
            let resizer = try AsyncWorker(address: server.address, queues: ["resize"]) { context in
                Array("small-\(context.text)".utf8)
            }
            let reporter = try AsyncWorker(address: server.address, queues: ["report"]) { context in
                let parents = try await context.parents()
                return Array(parents.compactMap(\.result).joined(separator: ",").utf8)
            }
            let running = [Task { try await resizer.run() }, Task { try await reporter.run() }]
            #expect(try await client.wait(ids[3], timeout: workerWaitSeconds) == .completed(result: Array("small-a,small-b,small-c".utf8)))
            resizer.stop()
            reporter.stop()
            for task in running { try await task.value }
            await client.close()
        }
    }

    @Test func aDeadParentKillsItsChildrenUnlessTheyRunAnyway() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let parent = try client.enqueue("fetch", "a", options: JobOptions(attempts: 1)).id
            let child = try client.enqueue("build", "b", options: JobOptions(after: [.job(parent)])).id
            let grandchild = try client.enqueue("ship", "c", options: JobOptions(after: [.job(child)])).id
            let stubborn = try client.enqueue("build", "d", options: JobOptions(after: [.job(parent)], onParentDead: .run)).id
            #expect(try client.inspect(stubborn).onParentDead == .run)

            let job = try #require(try client.reserve("fetch", timeout: 5))
            #expect(try client.fail(job.id, attempt: job.attempt, reason: "unreachable") == .dead)

            #expect(try client.wait(child, timeout: 5) == .dead(error: Array("parent \(parent) dead".utf8)))
            #expect(try client.inspect(grandchild).state == "dead")
            #expect(try client.inspect(grandchild).lastError == "parent \(child) dead")
            // on_parent_dead=run: the dead parent counts as done.
            #expect(try client.inspect(stubborn).state == "waiting")
            let parents = try client.parents(stubborn)
            #expect(parents.count == 1 && parents[0].state == "dead" && parents[0].error == "unreachable" && parents[0].result == nil)
            #expect(try client.reserve("build", timeout: 5)?.id == stubborn)

            // A parent dead at the ENQ: the child is dead at once.
            let late = try client.enqueue("build", "e", options: JobOptions(after: [.job(parent)])).id
            #expect(try client.inspect(late).state == "dead")

            // A deleted parent counts as dead, and PARENTS shows it deleted.
            let gone = try client.enqueue("fetch", "f").id
            let orphan = try client.enqueue("build", "g", options: JobOptions(after: [.job(gone)])).id
            try client.delete(gone)
            #expect(try client.inspect(orphan).lastError == "parent \(gone) deleted")
            let deleted = try #require(try client.parents(orphan).first)
            #expect(deleted.id == gone && deleted.isDeleted && deleted.queue == nil)

            // Blocked jobs are purged like the others.
            let holder = try client.enqueue("fetch", "h").id
            _ = try client.enqueue("later", "i", options: JobOptions(after: [.job(holder)]))
            #expect(try client.purge("later", state: .blocked) == 1)
        }
    }

    /// On PostgreSQL the children a parent's end settles were counted only by a docketd that
    /// published events, so with nobody listening their deaths never reached `totals`; and a
    /// blocked job's own expiry was taken for a settled child too, so with somebody listening
    /// it was told `expired` twice and counted two deaths. The embedded store does neither.
    @Test func deathsOfBlockedJobsAreCountedAndToldOnce() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            // Nobody listens: a child of a dead parent and one of a deleted parent die.
            let parent = try client.enqueue("fetch", "a", options: JobOptions(attempts: 1)).id
            _ = try client.enqueue("build", "b", options: JobOptions(after: [.job(parent)]))
            let gone = try client.enqueue("fetch", "c").id
            _ = try client.enqueue("build", "d", options: JobOptions(after: [.job(gone)]))
            let job = try #require(try client.reserve("fetch", timeout: 5))
            #expect(try client.fail(job.id, attempt: job.attempt, reason: "unreachable") == .dead)
            try client.delete(gone)
            #expect(try client.queue("build").jobs.dead == 2)
            // Totals reach the database within a second on PostgreSQL.
            #expect(eventually { (try? client.queue("build").totals.dead) == 2 }, "\(String(describing: try? client.queue("build").totals))")

            // Somebody listens: a blocked job whose ttl= passes expires once.
            let events = try EventLog(server, queue: "ship")
            defer { events.close() }
            let holder = try client.enqueue("fetch", "e").id
            let late = try client.enqueue("ship", "f", options: JobOptions(ttl: "300ms", after: [.job(holder)])).id
            #expect(events.wait { $0.id == late && $0.kind == .expired } != nil)
            // A job's events come in order: a second `expired` would come before this one's.
            let fence = try client.enqueue("ship", "g").id
            #expect(events.wait { $0.id == fence && $0.kind == .enqueued } != nil)
            #expect(events.of(late).filter { $0.kind == .expired }.count == 1, "\(events.of(late).map(\.kind))")
            #expect(eventually { (try? client.queue("ship").totals.enqueued) == 2 })
            #expect(try client.queue("ship").totals.dead == 1)
        }
    }

    @Test func aRefusedBatchEnqueuesNothing() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            // The server refuses a parent it does not know: the whole batch, naming the job.
            var jobs = Self.flow()
            jobs.insert(DocketConnection.JobRequest(queue: "resize", text: "x", options: JobOptions(after: [999_999])), at: 1)
            let refused = failure({ () throws(DocketError) in _ = try client.batch(jobs) })
            #expect(refused?.code == .notFound)
            if case .server(_, let message)? = refused { #expect(message.hasPrefix("job 2:")) }
            #expect(try client.stats().jobs == 0)

            // What the server would refuse is never sent: one bad job spoils the call.
            func isRefusedBeforeSending(_ jobs: [DocketConnection.JobRequest]) -> Bool {
                if case .badArgument? = failure({ () throws(DocketError) in _ = try client.batch(jobs) }) { return true }
                return false
            }
            #expect(isRefusedBeforeSending([]))
            #expect(isRefusedBeforeSending([.init(queue: "a", text: "x", options: JobOptions(after: [.batchItem(1)]))]))
            #expect(isRefusedBeforeSending([.init(queue: "a", text: "x"), .init(queue: "a", text: "y", options: JobOptions(after: [.batchItem(3)]))]))
            #expect(isRefusedBeforeSending([.init(queue: "a", text: "x"), .init(queue: "bad.queue", text: "y")]))
            #expect(isRefusedBeforeSending([.init(queue: "a", text: "x", options: JobOptions(after: [5, 5]))]))
            #expect(isRefusedBeforeSending([.init(queue: "a", payload: [UInt8](repeating: 0, count: client.maxPayload + 1))]))
            // And for a lone ENQ, a route, a schedule.
            #expect(failure({ () throws(DocketError) in _ = try client.enqueue("a", "x", options: JobOptions(after: [.batchItem(1)])) })?.isBadArgument == true)
            #expect(failure({ () throws(DocketError) in _ = try client.enqueue("a", "x", options: JobOptions(after: [])) })?.isBadArgument == true)
            #expect(failure({ () throws(DocketError) in _ = try client.route("orders.*", to: "a", options: JobOptions(after: [1])) })?.isBadArgument == true)
            #expect(
                failure({ () throws(DocketError) in try client.schedule("s", queue: "a", .every(60), options: JobOptions(onParentDead: .run)) })?
                    .isBadArgument == true)
            try client.flush()
            #expect(try client.stats().jobs == 0 && client.isConnected)

            // An unknown parent of a lone ENQ; PARENTS of an unknown job.
            #expect(failure({ () throws(DocketError) in _ = try client.enqueue("a", "x", options: JobOptions(after: [424_242])) })?.code == .notFound)
            #expect(failure({ () throws(DocketError) in _ = try client.parents(424_242) })?.code == .notFound)

            // A key already known in a batch gives that job's id.
            let keyed = try client.batch([
                .init(queue: "k", text: "x", options: JobOptions(key: "once")), .init(queue: "k", text: "x", options: JobOptions(key: "once")),
            ])
            #expect(keyed.count == 2 && keyed[0] == keyed[1])
        }
    }
}

extension DocketError {
    var isBadArgument: Bool {
        if case .badArgument = self { return true }
        return false
    }
}
