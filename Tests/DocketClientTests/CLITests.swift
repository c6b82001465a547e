import DocketClient
import DocketTestSupport
import Foundation
import Testing

@Suite struct CLITests {
    /// Writes an executable shell script into a fresh directory; returns its path.
    static func script(_ body: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-script-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("job.sh").path
        try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    @Test func enqJobStatsOutputs() throws {
        try withServer { server in
            var (status, out, err) = try docket("enq", "emails", "hello world", "--attempts", "2", "--key", "k-1", server: server)
            #expect(status == 0, "\(err)")
            #expect(out == "1\n")
            (status, out, _) = try docket("enq", "emails", "again", "--key", "k-1", server: server)
            #expect(status == 0 && out == "1 duplicate\n")
            // - reads the payload from standard input.
            (status, out, _) = try docket("enq", "emails", "-", "--priority=-3", "--delay", "1h", server: server, stdin: "from stdin\n")
            // The next id (on PostgreSQL a sequence: the duplicate's try may have used one).
            let secondID = try #require(UInt64(out.dropLast()))
            #expect(status == 0 && secondID >= 2)

            (status, out, err) = try docket("job", "1", server: server)
            #expect(status == 0, "\(err)")
            #expect(out.hasPrefix("{\n  \"id\": 1,\n  \"queue\": \"emails\",\n"), "pretty JSON in the server's key order: \(out)")
            let job = try #require(parseJSON(out))
            #expect(job["state"]?.stringValue == "waiting")
            #expect(job["max_attempts"]?.int == 2)
            #expect(job["key"]?.stringValue == "k-1")
            #expect(job["payload_bytes"]?.int == 11)
            let second = try #require(parseJSON(try docket("job", "\(secondID)", server: server).1))
            #expect(second["state"]?.stringValue == "delayed")
            #expect(second["priority"]?.int == -3)
            #expect(second["payload_bytes"]?.int == 11)

            (status, out, err) = try docket("stats", server: server)
            #expect(status == 0, "\(err)")
            let stats = try #require(parseJSON(out))
            #expect(stats["jobs"]?.int == 2)
            #expect(stats["queues"]?.int == 1)
            #expect(stats["version"]?.stringValue == "2.9.0")

            (status, out, _) = try docket("queues", server: server)
            #expect(status == 0)
            #expect(out.split(separator: "\n").first?.hasPrefix("QUEUE") == true)
            #expect(out.contains("emails"))

            // Errors: a message on stderr; a refusal exits 4, a server out of reach 3.
            (status, _, err) = try docket("job", "999", server: server)
            #expect(status == 4)
            #expect(err.contains("NOT_FOUND"))
            (status, _, err) = try docket("enq", "bad.queue", "x", server: server)
            #expect(status == 4)
            #expect(err.contains("queue name"))
            (status, _, _) = try docket("job", "abc", server: server)
            #expect(status != 0)
            let unreachable = try CLIRun(["stats", "--server", "127.0.0.1:1"], server: server)
            #expect(unreachable.exitStatus() == 3)
            #expect(unreachable.stderr.contains("cannot connect"))
        }
    }

    /// `sub` and `events` run until interrupted, so they outlast a server that is away for
    /// longer than the client's 30 s `reconnectTimeout` (they exited, "the subscription ended").
    /// Slow on purpose: the outage must pass that limit. On the embedded store only: what it
    /// tests is the client's, and CI runs this suite a second time with jobs in PostgreSQL,
    /// where it would add its 35 s again for nothing.
    @Test(.enabled(if: DocketdProcess.storeUnderTest == "lmdb")) func subAndEventsOutlastALongOutage() throws {
        var server = try DocketdProcess()
        defer { server.stop(timeout: 5) }
        let subscriber = try CLIRun(["sub", "greetings"], server: server)
        let follower = try CLIRun(["events", "q"], server: server)
        #expect(eventually { subscriber.stderr.contains("Listening") && follower.stderr.contains("Following") })
        server.crash()
        Thread.sleep(forTimeInterval: 32)
        server = try server.restart()
        #expect(subscriber.process.isRunning, "\(subscriber.stderr)")
        #expect(follower.process.isRunning, "\(follower.stderr)")
        // Each try publishes again: the subscription may not be back yet.
        #expect(try eventually(timeout: 15) {
            _ = try docket("pub", "greetings", "back", server: server)
            return subscriber.stdout.contains("greetings: back")
        })
        // The same for the follower: an event made before its subscription is back is not heard.
        let heard = try eventually(timeout: 15) {
            guard try docket("enq", "q", "x", server: server).0 == 0 else { return false }
            return eventually(timeout: 0.5) { follower.stdout.contains("enqueued") }
        }
        #expect(heard, "\(follower.stdout)")
    }

    @Test func queueWaitRetryAndPubSub() throws {
        try withServer { server in
            var (status, out, err) = try docket("queue", "render", "--rate", "100/1s", "--concurrency", "4", server: server)
            #expect(status == 0, "\(err)")
            let document = try #require(parseJSON(out))
            #expect(document["config"]?["rate"]?.stringValue == "100/1000ms")
            #expect(document["config"]?["concurrency"]?.int == 4)
            (status, out, _) = try docket("queue", "render", "--pause", server: server)
            #expect(parseJSON(out)?["paused"]?.boolValue == true)
            (status, out, _) = try docket("queue", "render", "--resume", "--concurrency", "none", server: server)
            #expect(parseJSON(out)?["paused"]?.boolValue == false)
            #expect(parseJSON(out)?["config"]?["concurrency"] == .null)
            // A rate the server would refuse is refused before it is sent (still exit 4).
            (status, _, err) = try docket("queue", "render", "--rate", "fast", server: server)
            #expect(status == 4 && err.contains("bad argument: rate=fast"))

            // wait: pending (2), dead (1), completed (0); retry brings a dead job back.
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let id = try client.enqueue("render", "x", options: JobOptions(attempts: 1)).id
            (status, _, err) = try docket("wait", "\(id)", "--timeout", "100ms", server: server)
            #expect(status == 2 && err.contains("waiting"))
            let job = try #require(try client.reserve("render", timeout: 5))
            try client.fail(job.id, reason: "bad frame")
            (status, _, err) = try docket("wait", "\(id)", server: server)
            #expect(status == 1 && err.contains("bad frame"))
            (status, out, _) = try docket("retry", "\(id)", server: server)
            #expect(status == 0 && out.contains("will run again"))
            let again = try #require(try client.reserve("render", timeout: 5))
            try client.ack(again.id, result: "rendered")
            (status, out, _) = try docket("wait", "\(id)", server: server)
            #expect(status == 0 && out == "rendered\n")

            // sub prints what pub sends; --count ends it.
            let subscriber = try CLIRun(["sub", "greetings.*", "--count", "2"], server: server)
            #expect(eventually { subscriber.stderr.contains("Listening") })
            (status, _, _) = try docket("pub", "greetings.en", "hello", server: server)
            #expect(status == 0)
            (status, _, _) = try docket("pub", "greetings.fr", "-", server: server, stdin: "bonjour")
            #expect(subscriber.exitStatus() == 0)
            #expect(subscriber.stdout == "greetings.en: hello\ngreetings.fr: bonjour\n")
        }
    }

    @Test func workSucceedsWithStdoutAsResultAndReportsProgress() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let events = try EventLog(server, queue: "thumbs")
            defer { events.close() }
            let path = try Self.script(
                """
                input=$(cat)
                echo "progress 40 resizing $input" >&2
                echo "a log line" >&2
                sleep 0.2
                echo "done:$input:$DOCKET_JOB_ID:$DOCKET_ATTEMPT"
                """)
            let ids = try (0..<3).map { try client.enqueue("thumbs", "img\($0)").id }
            let worker = try CLIRun(["work", "thumbs", "--concurrency", "2", "--", "/bin/sh", path], server: server)
            defer { _ = worker.exitStatus(timeout: 0) }
            for (index, id) in ids.enumerated() {
                #expect(try client.wait(id, timeout: 10) == .completed(result: Array("done:img\(index):\(id):1".utf8)))
            }
            let info = try client.inspect(ids[0])
            #expect(info.progress == 40)
            #expect(info.progressNote == "resizing img0")
            let progress = events.wait { $0.event == "progress" && $0.id == ids[0] }
            #expect(progress?.progress == 40 && progress?.note == "resizing img0")
            worker.signal(SIGTERM)
            #expect(worker.exitStatus(timeout: 5) == 0)
            #expect(worker.stderr.contains("a log line"))
            #expect(!worker.stderr.contains("progress 40"))
        }
    }

    @Test func workFailsWithStderrTailAndRetries() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let events = try EventLog(server, queue: "flaky")
            defer { events.close() }
            let path = try Self.script(
                """
                cat > /dev/null
                echo "progress 10 starting" >&2
                echo "step 1 ok" >&2
                echo "fatal: disk on fire (attempt $DOCKET_ATTEMPT)" >&2
                exit 3
                """)
            let id = try client.enqueue("flaky", "x", options: JobOptions(attempts: 2, backoff: .fixed(.milliseconds(100)))).id
            let worker = try CLIRun(["work", "flaky", "--quiet", "--", path], server: server)
            defer { _ = worker.exitStatus(timeout: 0) }
            #expect(try client.wait(id, timeout: 10) == .dead(error: Array("step 1 ok\nfatal: disk on fire (attempt 2)".utf8)))
            let info = try client.inspect(id)
            #expect(info.attempts == 2)
            #expect(info.lastError?.contains("progress") == false)
            #expect(events.wait { $0.event == "dead" && $0.id == id } != nil)
            let failed = events.of(id).filter { $0.event == "failed" }
            #expect(failed.map(\.next) == ["retry", "dead"])
            #expect(failed.first?.error == "step 1 ok\nfatal: disk on fire (attempt 1)")
            worker.signal(SIGINT)
            #expect(worker.exitStatus(timeout: 5) == 0)
        }
    }

    @Test func workStopsGracefullyOnSIGTERM() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let events = try EventLog(server, queue: "slow")
            defer { events.close() }
            // A lease shorter than the run: only heartbeats keep the job from being re-delivered.
            // (Heartbeats come every third of the lease; the lease leaves room for a loaded
            // machine's stalls: CI once saw 400 ms run out.)
            let path = try Self.script("cat > /dev/null\nsleep 3\necho finished\n")
            let id = try client.enqueue("slow", "x", options: JobOptions(lease: .milliseconds(1_500))).id
            let worker = try CLIRun(["work", "slow", "--", path], server: server)
            defer { _ = worker.exitStatus(timeout: 0) }
            #expect(events.wait { $0.event == "started" && $0.id == id } != nil)
            worker.signal(SIGTERM)
            let later = try client.enqueue("slow", "y").id
            #expect(try client.wait(id, timeout: 10) == .completed(result: Array("finished".utf8)))
            #expect(worker.exitStatus(timeout: 5) == 0)
            #expect(try client.inspect(id).attempts == 1)
            #expect(!events.all.contains { $0.event == "stalled" })
            #expect(try client.inspect(later).state == "waiting")
        }
    }

    @Test func aLostConnectionAndADeadJobExitDifferently() throws {
        try withServer { server in
            // The job dies: 1.
            let worker = try DocketConnection(server.address)
            defer { worker.close() }
            let waiting = try CLIRun(["enq", "doomed", "y", "--attempts", "1", "--wait"], server: server)
            let job = try #require(try worker.reserve("doomed", timeout: .seconds(5)))
            _ = try worker.fail(job.id, attempt: job.attempt, reason: "boom")
            #expect(waiting.exitStatus(timeout: 10) == 1)
            #expect(waiting.stderr.contains("is dead: boom"))
            // The server goes away while a wait is in flight: 3, not the dead job's 1.
            let lost = try CLIRun(["enq", "never", "z", "--wait"], server: server)
            #expect(eventually { (try? worker.inspect(job.id + 1)) != nil })
            // Let the WAIT that follows the ENQ reach the server. (If it has not, the tool waits
            // for a reconnect, up to its 30 s, and then exits 3 as well.)
            usleep(300_000)
            server.crash()
            #expect(lost.exitStatus(timeout: 40) == 3)
            #expect(lost.stderr.contains("docket:"))
        }
    }

    @Test func workRefusesACommandThatCannotRun() throws {
        try withServer { server in
            let (status, _, err) = try docket("work", "q", "--", "/nonexistent/program", server: server)
            #expect(status == 64)
            #expect(err.contains("Cannot run /nonexistent/program"))
            let (onPath, _, _) = try docket("work", "q", "--", "no-such-program-on-path", server: server)
            #expect(onPath == 64)
            // A size whose unit would overflow is refused, not wrapped to another size.
            let (huge, _, hugeErr) = try docket("work", "q", "--max-result", "9000000000000000000M", "--", "/bin/true", server: server)
            #expect(huge == 64 && hugeErr.contains("--max-result is too large"), "\(hugeErr)")
        }
    }

    /// `docket enq --key … --key-ttl … --replace`: a debounce, the waiting job taking the new payload.
    @Test func enqKeyTTLAndReplace() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            // Debounce: the second ENQ with the key gives the waiting job its payload.
            var (status, out, err) = try docket("enq", "sync", "v1", "--key", "user-7", "--key-ttl", "1h", "--replace", server: server)
            #expect(status == 0, "\(err)")
            let id = try #require(UInt64(out.dropLast()))
            (status, out, err) = try docket("enq", "sync", "v2", "--key", "user-7", "--replace", server: server)
            #expect(status == 0 && out == "\(id) replaced\n", "\(out)\(err)")
            let job = try #require(try client.reserve("sync", timeout: 5))
            #expect(job.id == id && job.text == "v2")
            #expect(try client.inspect(id)["key_until"]?.numberValue != nil)
            // Once started, the same ENQ is an ordinary duplicate.
            (status, out, _) = try docket("enq", "sync", "v3", "--key", "user-7", "--replace", server: server)
            #expect(status == 0 && out == "\(id) duplicate\n", "\(out)")
            (status, _, err) = try docket("enq", "sync", "x", "--replace", server: server)
            #expect(status == 64 && err.contains("--key"), "\(err)")
            (status, _, _) = try docket("enq", "sync", "x", "--key", "k", "--key-ttl", "soon", server: server)
            #expect(status == 64)
        }
    }

    @Test func enqAfterAndParents() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let first = try client.enqueue("resize", "a").id
            let second = try client.enqueue("resize", "b").id
            var (status, out, err) = try docket("enq", "report", "r", "--after", "\(first),\(second)", server: server)
            #expect(status == 0, "\(err)")
            let report = try #require(UInt64(out.dropLast()))
            let runs = try #require(
                UInt64(try docket("enq", "report", "s", "--after", "\(first)", "--on-parent-dead", "run", server: server).1.dropLast()))
            let info = try client.inspect(report)
            #expect(info.state == "blocked" && info.parents == [first, second] && info.onParentDead == .fail)
            #expect(try client.inspect(runs).onParentDead == .run)
            (status, out, _) = try docket("jobs", "report", "--state", "blocked", server: server)
            #expect(status == 0 && out.hasPrefix("\(report)\tblocked\t") && out.contains("\tafter \(first),\(second)"), "\(out)")
            (status, out, _) = try docket("queues", server: server)
            #expect(out.split(separator: "\n").first?.contains("BLOCKED") == true)

            // The parents' outcomes, readable and as JSON.
            let job = try #require(try client.reserve("resize", timeout: 5))
            try client.ack(job.id, attempt: job.attempt, result: "small a")
            try client.delete(second)
            (status, out, err) = try docket("parents", "\(runs)", server: server)
            #expect(status == 0 && out == "\(first)\tresize\tcompleted\tresult: small a\n", "\(out)\(err)")
            (status, out, _) = try docket("parents", "\(report)", server: server)
            #expect(status == 0 && out == "\(first)\tresize\tcompleted\tresult: small a\n\(second)\t-\tdeleted\n", "\(out)")
            (status, out, _) = try docket("parents", "\(report)", "--json", server: server)
            let array = try #require(parseJSON(out))
            #expect(array == parseJSON("[{\"id\":\(first),\"queue\":\"resize\",\"state\":\"completed\",\"result\":\"small a\",\"error\":null},{\"id\":\(second),\"state\":\"deleted\"}]"))
            (status, out, err) = try docket("parents", "\(first)", server: server)
            #expect(status == 0 && out.isEmpty && err.contains("no parents"))
            #expect(try client.inspect(report).lastError == "parent \(second) deleted")

            // A wrong command line exits 64; a parent the server does not know, 4.
            (status, _, err) = try docket("enq", "report", "x", "--after", "1,abc", server: server)
            #expect(status == 64 && err.contains("not a job id"))
            (status, _, _) = try docket("enq", "report", "x", "--after", "1,1", server: server)
            #expect(status == 64)
            (status, _, _) = try docket("enq", "report", "x", "--on-parent-dead", "run", server: server)
            #expect(status == 64)
            (status, _, _) = try docket("enq", "report", "x", "--after", "1", "--on-parent-dead", "maybe", server: server)
            #expect(status == 64)
            (status, _, err) = try docket("enq", "report", "x", "--after", "999999", server: server)
            #expect(status == 4 && err.contains("NOT_FOUND"))
            (status, _, err) = try docket("parents", "999999", server: server)
            #expect(status == 4 && err.contains("NOT_FOUND"))
        }
    }

    @Test func jobsPurgePromoteAndSchedules() throws {
        try withServer { server in
            for index in 1...5 { _ = try docket("enq", "browse", "job \(index)", "--priority", "\(5 - index)", server: server) }
            _ = try docket("enq", "browse", "later", "--delay", "1h", server: server)
            // Waiting jobs in the order workers take them: lowest priority value first.
            var (status, out, err) = try docket("jobs", "browse", "--limit", "2", server: server)
            #expect(status == 0, "\(err)")
            #expect(out.split(separator: "\n").map { $0.split(separator: "\t")[0] } == ["5", "4"])
            #expect(err.contains("More: docket jobs browse --state waiting --limit 2 --after "))
            (status, out, err) = try docket("jobs", "browse", "--limit", "2", "--all", server: server)
            #expect(status == 0 && out.split(separator: "\n").count == 5 && !err.contains("More"), "\(out)\(err)")
            (status, out, _) = try docket("jobs", "browse", "--state", "delayed", "--json", server: server)
            #expect(status == 0 && parseJSON(out)?["id"]?.int == 6)

            (status, out, err) = try docket("promote", "6", server: server)
            #expect(status == 0 && out == "Job 6 is waiting.\n", "\(err)")
            (status, _, err) = try docket("promote", "6", server: server)
            #expect(status == 4 && err.contains("NOT_DELAYED"))
            (status, out, _) = try docket("purge", "browse", "--state", "waiting", server: server)
            #expect(status == 0 && out == "6 waiting jobs of browse deleted.\n")
            (status, _, _) = try docket("purge", "browse", "--state", "active", server: server)
            #expect(status == 64)

            (status, out, err) = try docket("schedule", "pulse", "beat", "--every", "1s", "--priority", "2", "tick", server: server)
            #expect(status == 0 && out.hasPrefix("Schedule pulse saved; next tick 20"), "\(out)\(err)")
            (status, out, err) = try docket(
                "schedule", "nightly", "reports", "--cron", "0 3 * * *", "--tz", "Europe/Berlin", "--catchup", "none", server: server)
            #expect(status == 0, "\(err)")
            (status, out, _) = try docket("schedules", server: server)
            let lines = out.split(separator: "\n")
            #expect(lines.count == 2 && lines[0].hasPrefix("nightly\treports\tcron \"0 3 * * *\" Europe/Berlin\tnext "), "\(out)")
            #expect(lines[1].hasPrefix("pulse\tbeat\tevery 1000ms\tnext "))
            (status, out, _) = try docket("schedule", "pulse", "--pause", server: server)
            #expect(status == 0 && out == "Schedule pulse paused.\n")
            (status, out, _) = try docket("schedules", "--json", server: server)
            #expect(out.contains("\"paused\": true"))
            (status, _, _) = try docket("schedule", "x", "q", "--cron", "* * * * *", "--every", "1m", server: server)
            #expect(status == 64)
            (status, out, _) = try docket("unschedule", "pulse", server: server)
            #expect(status == 0 && out == "Schedule pulse removed.\n")
            (status, _, err) = try docket("unschedule", "pulse", server: server)
            #expect(status == 4 && err.contains("NOT_FOUND"))
        }
    }
}
