import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// The `docket` tool as a new user meets it: options where they are typed, usage errors,
/// help that offers only what works, `top`, and bulk enqueue from a file.
@Suite struct FirstContactCLITests {
    /// Runs `docket` with DOCKET_SERVER pointing nowhere, so only the options reach `server`.
    static func docketAnywhere(_ arguments: [String], server: DocketdProcess, environment: [String: String] = [:], stdin: String? = nil)
        throws -> (Int32?, String, String)
    {
        var environment = environment
        if environment["DOCKET_SERVER"] == nil { environment["DOCKET_SERVER"] = "127.0.0.1:1" }
        let run = try CLIRun(arguments, server: server, stdin: stdin, environment: environment)
        let status = run.exitStatus(timeout: 20)
        return (status, run.stdout, "\(run.stderr)")
    }

    /// A temporary file with `text`; its path.
    static func file(_ text: String, name: String = "jobs.ndjson") throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func number(_ value: JSONValue?) -> Int? { value?.numberValue.map { Int($0) } }

    // MARK: Global options

    @Test func connectionOptionsGoBeforeOrAfterTheCommand() throws {
        try withServer { server in
            var (status, out, err) = try Self.docketAnywhere(["--server", server.address, "stats"], server: server)
            #expect(status == 0, "\(err)")
            #expect(parseJSON(out)?["version"] != nil)
            (status, out, err) = try Self.docketAnywhere(["stats", "--server", server.address], server: server)
            #expect(status == 0, "\(err)")
            (status, out, err) = try Self.docketAnywhere(["--server", server.address, "enq", "q", "x", "--attempts", "2"], server: server)
            #expect(status == 0 && out == "1\n", "\(err)")
            (status, out, err) = try Self.docketAnywhere(["enq", "--server", server.address, "q", "y"], server: server)
            #expect(status == 0 && out == "2\n", "\(err)")
            // The environment's server when no option names one; unreachable: 3.
            (status, _, err) = try Self.docketAnywhere(["stats"], server: server)
            #expect(status == 3 && err.contains("127.0.0.1:1"))
            // Words after -- belong to the command docket work runs, not to docket.
            let path = try CLITests.script("cat > /dev/null\necho \"$@\"\n")
            let worker = try CLIRun(
                ["--server", server.address, "work", "q", "--quiet", "--", path, "--server", "elsewhere:1"], server: server,
                environment: ["DOCKET_SERVER": "127.0.0.1:1"])
            defer { _ = worker.exitStatus(timeout: 0) }
            let client = try DocketConnection(server.address)
            defer { client.close() }
            #expect(try client.wait(1, timeout: 10) == .completed(result: Array("--server elsewhere:1".utf8)))
            worker.signal(SIGTERM)
            #expect(worker.exitStatus(timeout: 5) == 0)
        }
    }

    @Test func credentialsAsOptionsOnEitherSide() throws {
        try withServer(["--auth", "s3cret"]) { server in
            var (status, _, err) = try Self.docketAnywhere(["--token", "s3cret", "stats"], server: server, environment: ["DOCKET_SERVER": server.address])
            #expect(status == 0, "\(err)")
            (status, _, err) = try Self.docketAnywhere(["queues", "--token", "s3cret"], server: server, environment: ["DOCKET_SERVER": server.address])
            #expect(status == 0, "\(err)")
            // Wrong or missing credentials: refused, 4.
            (status, _, err) = try Self.docketAnywhere(["stats", "--token", "wrong"], server: server, environment: ["DOCKET_SERVER": server.address])
            #expect(status == 4 && err.contains("not authorized"))
            (status, _, _) = try Self.docketAnywhere(["stats"], server: server, environment: ["DOCKET_SERVER": server.address])
            #expect(status == 4)
            (status, _, err) = try Self.docketAnywhere(["stats", "--token", "a", "--user", "b"], server: server)
            #expect(status == 64 && err.contains("Give one of --token, --user (with --pass), --nkey and --creds"))

            // docket work hands the credentials to the commands it runs, for a docket they run.
            let path = try CLITests.script("cat > /dev/null\n'\(DocketdProcess.docketBinary.path)' queues --json\n")
            let client = try DocketConnection(server.address, options: .init(credentials: .token("s3cret")))
            defer { client.close() }
            let id = try client.enqueue("creds", "x").id
            let worker = try CLIRun(
                ["work", "creds", "--quiet", "--token", "s3cret", "--", path], server: server, environment: ["DOCKET_TOKEN": ""])
            defer { _ = worker.exitStatus(timeout: 0) }
            guard case .completed(let result) = try client.wait(id, timeout: 10) else {
                Issue.record("the job did not complete: \(worker.stderr)")
                return
            }
            #expect(String(decoding: result, as: UTF8.self).contains("\"queue\":\"creds\""))
            worker.signal(SIGTERM)
            #expect(worker.exitStatus(timeout: 5) == 0)
        }
        try withServer(["--user", "alice", "--pass", "wonder land"]) { server in
            let here = ["DOCKET_SERVER": server.address]
            var (status, _, err) = try Self.docketAnywhere(["--user", "alice", "--pass", "wonder land", "stats"], server: server, environment: here)
            #expect(status == 0, "\(err)")
            (status, _, err) = try Self.docketAnywhere(
                ["stats", "--user", "alice"], server: server, environment: here.merging(["DOCKET_PASS": "wonder land"]) { $1 })
            #expect(status == 0, "\(err)")
            // No password anywhere and no terminal to ask on: a usage error, not a hang.
            (status, _, err) = try Self.docketAnywhere(["stats", "--user", "alice"], server: server, environment: here.merging(["DOCKET_PASS": ""]) { $1 })
            #expect(status == 64 && err.contains("needs a password"), "\(err)")
        }
    }

    // MARK: Usage errors and help

    @Test func usageErrorsShowTheCommandsOwnUsage() throws {
        try withServer { server in
            let cases: [([String], String)] = [
                (["enq", "q", "x", "--delay", "soon"], "docket enq"),
                (["enq", "q"], "docket enq"),
                (["enq", "q", "x", "--timeout", "1s"], "docket enq"),
                (["job", "abc"], "docket job"),
                (["wait", "1", "--timeout", "later"], "docket wait"),
                (["work", "q", "--timeout", "x", "--", "/bin/true"], "docket work"),
                (["retry"], "docket retry"),
                (["top", "--interval", "0"], "docket top"),
                // Connection options are checked as the command's, wherever they stand.
                (["stats", "--tls-key", "key.pem"], "docket stats"),
                (["--tls-ca", "/nonexistent/ca.pem", "queues"], "docket queues"),
            ]
            for (arguments, usage) in cases {
                let (status, _, err) = try docketArguments(arguments, server: server)
                #expect(status == 64, "\(arguments): \(err)")
                #expect(err.contains("Usage: \(usage)"), "\(arguments): \(err)")
                #expect(err.contains("See '\(usage) --help'"), "\(arguments): \(err)")
                #expect(!err.contains("docket <subcommand>"), "\(arguments): \(err)")
            }
        }
    }

    @Test func routeOffersOnlyTheOptionsTheServerTakes() throws {
        try withServer { server in
            var (status, out, err) = try docketArguments(["route", "--help"], server: server)
            #expect(status == 0)
            #expect(!out.contains("--key") && !out.contains("--at "), "\(out)")
            #expect(out.contains("--attempts") && out.contains("--delay") && out.contains("--group"))
            (status, out, _) = try docketArguments(["enq", "--help"], server: server)
            #expect(out.contains("--key") && out.contains("--at "))
            (status, _, err) = try docketArguments(["route", "orders.*", "invoices", "--key", "k"], server: server)
            #expect(status == 64 && err.contains("--key"))
            (status, out, err) = try docketArguments(["route", "orders.*", "invoices", "--attempts", "5", "--delay", "2s"], server: server)
            #expect(status == 0, "\(err)")
            #expect(out == "1\n")
            (status, out, _) = try docketArguments(["routes"], server: server)
            #expect(out.contains("attempts=5") && out.contains("delay=2s"), "\(out)")
        }
    }

    // MARK: enq --wait

    @Test func enqWaitPrintsOnlyTheResultOnStandardOutput() throws {
        try withServer { server in
            let worker = try DocketConnection(server.address)
            defer { worker.close() }
            let waiting = try CLIRun(["enq", "convert", "{\"n\":1}", "--wait"], server: server)
            let job = try #require(try worker.reserve("convert", timeout: .seconds(10)))
            try worker.ack(job.id, attempt: job.attempt, result: "{\"ok\":true}")
            #expect(waiting.exitStatus(timeout: 10) == 0)
            #expect(waiting.stdout == "{\"ok\":true}\n")
            #expect(waiting.stderr == "\(job.id)\n")

            // It composes: the result alone goes down the pipe.
            let shell = ChildProcess()
            shell.executableURL = URL(fileURLWithPath: "/bin/sh")
            let binary = DocketdProcess.docketBinary.path
            shell.arguments = ["-c", "'\(binary)' enq convert hello --wait 2>/dev/null | tr a-z A-Z"]
            shell.environment = ["DOCKET_SERVER": server.address, "PATH": "/usr/bin:/bin"]
            let output = Pipe()
            shell.standardOutput = output
            try shell.run()
            let next = try #require(try worker.reserve("convert", timeout: .seconds(10)))
            try worker.ack(next.id, attempt: next.attempt, result: "converted \(next.text)")
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            shell.waitUntilExit()
            #expect(text == "CONVERTED HELLO\n")

            // Without --wait the id is the output, as ever.
            let (status, out, _) = try docketArguments(["enq", "convert", "later"], server: server)
            #expect(status == 0 && out == "\(next.id + 1)\n")
        }
    }

    // MARK: work

    @Test func workRefusesAMissingOrNonExecutableCommandBeforeTakingAJob() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let id = try client.enqueue("guarded", "x", options: JobOptions(attempts: 1)).id
            let notExecutable = try Self.file("#!/bin/sh\necho hi\n", name: "job.sh")
            let directory = URL(fileURLWithPath: notExecutable).deletingLastPathComponent().path
            for command in ["/nonexistent/program", "no-such-program-on-path", notExecutable, directory] {
                let (status, _, err) = try docketArguments(["work", "guarded", "--", command], server: server)
                #expect(status == 64, "\(command): \(err)")
                #expect(err.contains("Cannot run \(command)"), "\(command): \(err)")
            }
            // An executable script whose #! interpreter is missing would fail every job too.
            for (line, missing) in [("#!/nonexistent/sh", "/nonexistent/sh"), ("#!/usr/bin/env -S no-such-interpreter -u", "no-such-interpreter")] {
                let script = try CLITests.script("")
                try (line + "\necho hi\n").write(toFile: script, atomically: false, encoding: .utf8)
                let (status, _, err) = try docketArguments(["work", "guarded", "--", script], server: server)
                #expect(status == 64, "\(line): \(err)")
                #expect(err.contains("its interpreter \(missing)"), "\(line): \(err)")
            }
            // Nothing was taken: the job waits, its attempts untouched.
            let info = try client.inspect(id)
            #expect(info.state == "waiting" && info.attempts == 0)
        }
    }

    // MARK: top

    @Test func topPrintsQueuesAsPlainTextWhenNotOnATerminal() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            // alpha: 2 waiting, 1 delayed, paused. beta: throttled. gamma: a rate, one active, an idle worker.
            try client.enqueue("alpha", "a")
            try client.enqueue("alpha", "b")
            try client.enqueue("alpha", "c", options: JobOptions(delay: .hours(1)))
            try client.pause("alpha")
            try client.enqueue("beta", "x")
            let held = try #require(try client.reserve("beta", timeout: .seconds(5)))
            _ = try client.throttle(held.id, attempt: held.attempt, for: .seconds(60))
            try client.setQueue("gamma", [QueueSetting("rate", "100/1s")])
            try client.enqueue("gamma", "g")
            _ = try #require(try client.reserve("gamma", timeout: .seconds(5)))
            let idle = try DocketConnection(server.address)
            defer { idle.close() }
            background { _ = try? idle.reserve("gamma", timeout: .seconds(30)) }
            #expect(eventually { Self.number((try? client.queue("gamma"))?["waiting_workers"]) == 1 })

            var (status, out, err) = try docketArguments(["top"], server: server)
            #expect(status == 0, "\(err)")
            let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.first?.hasPrefix("docket top  \(server.address)  docketd ") == true, "\(out)")
            #expect(lines.contains { $0.hasPrefix("connections ") && $0.contains("jobs 5") && $0.contains("queues 3") }, "\(out)")
            #expect(!out.contains("\u{1B}"), "no terminal codes in plain text")
            let header = try #require(lines.first { $0.hasPrefix("QUEUE") })
            #expect(header.split(separator: " ", omittingEmptySubsequences: true) == [
                "QUEUE", "WAITING", "DELAYED", "ACTIVE", "IDLE", "DEAD", "DONE", "START/s", "DONE/s", "FAIL/s", "STATUS",
            ])
            func row(_ queue: String, in lines: [String]) -> [String] {
                lines.first { $0.hasPrefix(queue + " ") }?.split(separator: " ", omittingEmptySubsequences: true).map(String.init) ?? []
            }
            #expect(Array(row("alpha", in: lines).prefix(7)) == ["alpha", "2", "1", "0", "0", "0", "0"])
            #expect(row("alpha", in: lines).last == "paused")
            #expect(Array(row("beta", in: lines).prefix(4)) == ["beta", "1", "0", "0"])
            #expect(row("beta", in: lines).contains("throttled"), "\(row("beta", in: lines))")
            #expect(Array(row("gamma", in: lines).prefix(5)) == ["gamma", "0", "0", "1", "1"])
            // The first screen's rates are the server's over the last minute: one start is not 0.
            #expect(row("gamma", in: lines)[7] != "0", "\(row("gamma", in: lines))")
            #expect(out.contains("rates: per second over the last minute"))
            #expect(lines.filter { $0.hasPrefix("QUEUE") }.count == 1, "one screen")

            // --queue filters (a queue not known yet shows empty); --count screens, rates since the last.
            let top = try CLIRun(["top", "--queue", "gamma,nosuch", "--count", "2", "--interval", "1s"], server: server)
            #expect(eventually { top.stdout.contains("nosuch") })
            for index in 0..<4 { try client.enqueue("gamma", "more \(index)") }
            for _ in 0..<3 { _ = try client.reserve("gamma", timeout: .seconds(5)) }
            #expect(top.exitStatus(timeout: 10) == 0)
            let screens = top.stdout.components(separatedBy: "\n\n")
            #expect(top.stdout.components(separatedBy: "QUEUE ").count == 3, "\(top.stdout)")
            #expect(!top.stdout.contains("alpha") && !top.stdout.contains("beta"))
            let second = top.stdout.split(separator: "\n").map(String.init).drop { !$0.contains("over the last ") || $0.contains("minute") }
            #expect(second.first?.hasPrefix("rates: per second over the last ") == true, "\(screens)")
            let gamma = row("gamma", in: Array(second))
            // Four starts (the idle worker's and three more) in about a second.
            #expect(gamma.count > 7 && Double(gamma[7]) ?? 0 >= 1, "\(gamma)")
            #expect(row("nosuch", in: Array(second)).prefix(2) == ["nosuch", "0"])

            (status, _, err) = try docketArguments(["top", "--queue", "bad.name"], server: server)
            #expect(status == 64 && err.contains("not a queue name"))
        }
    }

    // MARK: Bulk enqueue

    /// 10,000 lines, four kinds: a raw line, a job object with an object payload and options,
    /// one with a string payload, one delayed.
    static func tenThousandLines() -> String {
        var text = ""
        for index in 0..<10_000 {
            switch index % 4 {
            case 0: text += "plain \(index)\n"
            case 1: text += "{\"payload\": {\"n\": \(index), \"tags\": [\"a\", \"}\"]}, \"key\": \"k\(index)\", \"priority\": -1}\n"
            case 2: text += "{\"payload\": \"text \(index)\", \"attempts\": 7}\n"
            default: text += "{\"payload\": \"later \(index)\", \"delay\": \"1h\"}\n"
            }
        }
        return text
    }

    @Test func bulkEnqueueOfTenThousandLinesIsPipelined() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let path = try Self.file(Self.tenThousandLines())
            let commitsBefore = try #require(Self.number(try client.stats()["commits"]))
            let started = Date()
            let run = try CLIRun(["enq", "bulk", "--from", path, "--ids", "--progress"], server: server)
            #expect(run.exitStatus(timeout: 60) == 0, "\(run.stderr.suffix(2000))")
            let elapsed = Date().timeIntervalSince(started)
            #expect(elapsed < 60)

            // One '<line> <id>' per line, in order, ids increasing.
            let rows = run.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(rows.count == 10_000)
            #expect(rows.map { Int($0[0]) ?? 0 } == Array(1...10_000))
            let ids = rows.map { UInt64($0[1]) ?? 0 }
            #expect(ids == ids.sorted() && Set(ids).count == 10_000)
            #expect(run.stderr.contains("docket: 10,000 jobs enqueued on bulk from \(path)"), "\(run.stderr.suffix(500))")
            #expect(run.stderr.contains("100%"), "the forced progress bar reaches the end")

            let queue = try client.queue("bulk")
            #expect(Self.number(queue["jobs"]?["waiting"]) == 7_500)
            #expect(Self.number(queue["jobs"]?["delayed"]) == 2_500)
            // Pipelined: the server committed them in batches, not once per job.
            let commits = try #require(Self.number(try client.stats()["commits"])) - commitsBefore
            #expect(commits < 2_000, "\(commits) commits for 10,000 jobs")

            let raw = try client.inspect(ids[0])
            #expect(raw.payloadBytes == "plain 0".utf8.count && raw.maxAttempts == 3 && raw.key == nil)
            let object = try client.inspect(ids[1])
            #expect(object.key == "k1" && object.priority == -1)
            let text = try client.inspect(ids[2])
            #expect(text.maxAttempts == 7 && text.payloadBytes == "text 2".utf8.count)
            #expect(try client.inspect(ids[3]).state == "delayed")
            // An object payload is enqueued as written; the priority -1 jobs come first.
            let first = try #require(try client.reserve("bulk", timeout: 0))
            #expect(first.id == ids[1])
            #expect(first.text == "{\"n\": 1, \"tags\": [\"a\", \"}\"]}")
            let second = try #require(try client.reserve("bulk", timeout: 0))
            #expect(second.text == "{\"n\": 5, \"tags\": [\"a\", \"}\"]}")

            // Again: the keyed quarter are duplicates, nothing created for them.
            let again = try CLIRun(["enq", "bulk", "--from", path], server: server)
            #expect(again.exitStatus(timeout: 60) == 0, "\(again.stderr.suffix(2000))")
            #expect(again.stdout.isEmpty, "ids only with --ids")
            #expect(again.stderr.contains("10,000 jobs enqueued on bulk") && again.stderr.contains("2,500 duplicates"), "\(again.stderr)")
            #expect(!again.stderr.contains("\r"), "no progress bar when standard error is not a terminal")
            #expect(Self.number(try client.stats()["jobs"]) == 17_500)
        }
    }

    @Test func bulkEnqueueReportsBadLinesAndGoesOn() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let input = [
                "hello",
                #"{"payload": "ok", "attempts": 0}"#,
                #"{"payload": "x", "atempts": 3}"#,
                "",
                #"{"payload": {"a": 1}, "group": "acme", "lease": 90}"#,
                #"{"not": "a job"}"#,
                #"{"payload": "y", "delay": "soon"}"#,
                "{\"payload\": \"crlf\", \"key\": \"c-1\"}\r",
            ].joined(separator: "\n") + "\n"
            // Standard input, and options that every line takes unless it has its own.
            var (status, out, err) = try docketArguments(
                ["enq", "mixed", "--from", "-", "--ids", "--attempts", "4"], server: server, stdin: input)
            #expect(status == 4, "\(err)")
            #expect(out.split(separator: "\n").map { $0.split(separator: " ")[0] } == ["1", "5", "6", "8"], "\(out)")
            for line in [2, 3, 7] { #expect(err.contains("docket: line \(line): "), "\(err)") }
            #expect(err.contains("unknown member \"atempts\""))
            #expect(err.contains("4 jobs enqueued on mixed from standard input") && err.contains("3 lines refused"), "\(err)")
            let ids = out.split(separator: "\n").map { UInt64($0.split(separator: " ")[1])! }
            let grouped = try client.inspect(ids[1])
            #expect(grouped.group == "acme" && grouped.leaseMilliseconds == 90_000 && grouped.maxAttempts == 4)
            #expect(grouped.payloadBytes == #"{"a": 1}"#.utf8.count)
            #expect(try client.inspect(ids[2]).payloadBytes == #"{"not": "a job"}"#.utf8.count, "a JSON line without payload is a payload")
            #expect(try client.inspect(ids[3]).key == "c-1", "the CR of a CR LF is dropped")

            // --raw: every line as it is.
            (status, out, err) = try docketArguments(["enq", "rawq", "--from", "-", "--raw"], server: server, stdin: #"{"payload": "p"}"# + "\n")
            #expect(status == 0, "\(err)")
            let job = try #require(try client.reserve("rawq", timeout: 0))
            #expect(job.text == #"{"payload": "p"}"#)

            // Usage errors: 64, with enq's usage.
            for arguments in [
                ["enq", "q", "x", "--from", "-"], ["enq", "q", "--from", "-", "--key", "k"], ["enq", "q", "--from", "-", "--wait"],
                ["enq", "q", "--from", "/nonexistent/jobs.ndjson"], ["enq", "q", "x", "--ids"], ["enq", "bad.queue", "--from", "-"],
            ] {
                (status, _, err) = try docketArguments(arguments, server: server, stdin: "")
                #expect(status == 64, "\(arguments): \(err)")
                #expect(err.contains("Usage: docket enq"), "\(arguments): \(err)")
            }
        }
    }

    @Test func bulkEnqueueExitsThreeWhenTheConnectionIsLost() throws {
        let server = try DocketdProcess()
        defer { server.stop(timeout: 5) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("jobs").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let run = try CLIRun(["enq", "lost", "--from", fifo, "--ids"], server: server)
        defer { _ = run.exitStatus(timeout: 0) }
        // Open the writing end once the tool has opened the reading end (bounded: no hang).
        var writer: Int32 = -1
        #expect(eventually {
            writer = open(fifo, O_WRONLY | O_NONBLOCK)
            return writer >= 0
        })
        guard writer >= 0 else { return }
        // A reader gone (the tool ended early) must fail the test, not kill it.
        signal(SIGPIPE, SIG_IGN)
        func send(_ text: String) {
            var bytes = Array(text.utf8)[...]
            let deadline = Date().addingTimeInterval(10)
            while !bytes.isEmpty, Date() < deadline {
                let count = bytes.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
                if count > 0 {
                    bytes = bytes.dropFirst(count)
                } else if errno == EAGAIN || errno == EINTR {
                    usleep(1_000)
                } else {
                    Issue.record("writing to the tool: \(String(cString: strerror(errno))); \(run.stderr)")
                    return
                }
            }
        }
        send((1...1_500).map { "job \($0)\n" }.joined())
        // The first batch of 1,000 is on disk and the tool has their ids; the next 500 wait
        // for more input.
        #expect(eventually { run.stdout.split(separator: "\n").count == 1_000 })
        server.crash()
        send((1_501...1_510).map { "job \($0)\n" }.joined())
        close(writer)
        #expect(run.exitStatus(timeout: 20) == 3)
        #expect(run.stderr.contains("1,000 jobs enqueued on lost"), "\(run.stderr)")
        #expect(run.stderr.contains("the outcome of 510 jobs (lines 1001 to 1510) is unknown"), "\(run.stderr)")
    }

    // MARK: retry --queue

    @Test func retryAQueueShowsHowManyWhileTheServerWorks() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            for index in 0..<5 { try client.enqueue("broken", "job \(index)", options: JobOptions(attempts: 1)) }
            for _ in 0..<5 {
                let job = try #require(try client.reserve("broken", timeout: 0))
                _ = try client.fail(job.id, attempt: job.attempt, reason: "no")
            }
            let (status, out, err) = try docketArguments(["retry", "--queue", "broken", "--progress"], server: server)
            #expect(status == 0, "\(err)")
            #expect(out == "5 dead jobs of broken will run again.\n")
            #expect(err.contains("retrying 5 dead jobs of broken"), "\(err)")
            #expect(Self.number(try client.queue("broken")["jobs"]?["waiting"]) == 5)
            // Not on a terminal and not asked for: nothing on standard error.
            let quiet = try docketArguments(["retry", "--queue", "broken"], server: server)
            #expect(quiet.0 == 0 && quiet.1 == "0 dead jobs of broken will run again.\n" && quiet.2.isEmpty)
        }
    }
}

/// Runs `docket <arguments>` to the end: (exit status, stdout, stderr).
func docketArguments(_ arguments: [String], server: DocketdProcess, stdin: String? = nil) throws -> (Int32?, String, String) {
    let run = try CLIRun(arguments, server: server, stdin: stdin)
    let status = run.exitStatus(timeout: 20)
    return (status, run.stdout, "\(run.stderr)")
}
