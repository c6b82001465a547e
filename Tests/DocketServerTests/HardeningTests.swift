import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// What a hostile or careless client must not be able to do: lose replies it is owed, exhaust
/// memory, freeze the loop, or change state with a command that was refused.
@Suite struct HardeningTests {
    @Test func repliesOwedGoOutBeforeAFatalErrorCloses() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        // The ENQ's +OK waits for the commit; the junk right behind it must not swallow it.
        try client.send("ENQ q 1\r\nx\r\nBOGUS\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))
        #expect(try client.readLine() == "-ERR 'Unknown Protocol Operation'")
        _ = try client.readUntilClosed()
    }

    @Test func repliesOwedGoOutAfterTheClientHalfCloses() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ q 1\r\nx\r\nPING\r\nENQ q 1\r\ny\r\n")
        shutdown(client.fd, Int32(SHUT_WR))
        let first = try client.readLine()
        #expect(first.hasPrefix("+OK "))
        #expect(try client.readLine() == "PONG")
        let second = try client.readLine()
        #expect(second.hasPrefix("+OK ") && second != first)
        #expect(try client.readUntilClosed().isEmpty)
        // Both jobs are really there.
        let checker = try server.client()
        _ = try checker.handshake()
        let jobs = try checker.object("QUEUE q")["jobs"] as? [String: Any]
        #expect(jobs?["waiting"] as? Int == 2)
    }
}

/// Limits that keep one client from exhausting or freezing the server.
@Suite struct HostileClientTests {
    @Test func repliesCountTowardsMaxPending() throws {
        let server = try DocketdProcess(["--max-pending", "256KiB"])
        let bystander = try server.client()
        _ = try bystander.handshake()
        let flooder = try server.client()
        _ = try flooder.handshake()
        // HELP answers ~1.5 KB for 9 bytes: 2,000 of them owe ~3 MB that are never read.
        let burst = String(repeating: "HELP\r\n", count: 2000)
        for _ in 0..<20 { try? flooder.send(burst) }
        let started = Date()
        #expect(try bystander.sync() == [])
        #expect(Date().timeIntervalSince(started) < 2)
        let stats = try bystander.object("STATS")
        #expect(stats["slow_consumers"] as? Int == 1)
        #expect(server.log.waitForLine(containing: "Slow Consumer Detected: pending output over", timeout: 5) != nil)
    }

    @Test func waitingAPIRequestsAreBoundedAndCheapToClose() throws {
        let server = try DocketdProcess(["--max-waiting-requests", "100"])
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ q 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK 1")
        try client.line("SUB _INBOX.w 1")
        // 20,000 WAITs on one job, then the connection goes: closing must not freeze the loop.
        try client.send(String(repeating: "PUB $DOCKET.API.WAIT.1 _INBOX.w 0\r\n\r\n", count: 20_000))
        let (_, refusal) = try client.readMessage()
        #expect(String(decoding: refusal, as: UTF8.self).contains(#""code":"LIMIT""#))
        let bystander = try server.client()
        _ = try bystander.handshake()
        let started = Date()
        shutdown(client.fd, Int32(SHUT_RDWR))
        #expect(try bystander.sync() == [])
        #expect(Date().timeIntervalSince(started) < 1)
    }

    @Test func readsNeverCreateQueuesAndNewOnesAreCapped() throws {
        let server = try DocketdProcess(["--max-queues", "3"])
        let client = try server.client()
        _ = try client.handshake()
        for index in 0..<50 {
            #expect((try client.object("QUEUE probe\(index)"))["queue"] as? String == "probe\(index)")
            try client.line("RESERVE probe\(index) timeout=0")
            #expect(try client.readLine() == "NOJOB")
        }
        // A RESERVE that waits makes its queue, which goes again when the wait ends.
        try client.line("RESERVE waited timeout=10ms")
        #expect(try client.readLine() == "NOJOB")
        #expect(try client.object("STATS")["queues"] as? Int == 0)
        for name in ["a", "b", "c"] {
            try client.send("ENQ \(name) 1\r\nx\r\n")
            #expect(try client.readLine().hasPrefix("+OK "))
        }
        try client.send("ENQ d 1\r\nx\r\n")
        #expect(try client.readLine() == "-ERR 'LIMIT there are 3 queues already (--max-queues)'")
        try client.line("QUEUE d rate=1/s")
        #expect(try client.readLine().hasPrefix("-ERR 'LIMIT "))
        try client.send("ENQ a 1\r\nx\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))
        // Emptied, a queue is forgotten and its place is free again.
        try client.line("DEL 3")
        #expect(try client.readLine() == "+OK")
        try client.send("ENQ d 1\r\nx\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))
    }

    /// A queue whose settings go back to the defaults, with no jobs and nobody waiting, is
    /// forgotten as an emptied one is: a soak that set and cleared settings on 5,000 queues
    /// left all 5,000 (50 /metrics series each, 1.3 KB of memory each) until the next restart,
    /// and each held a place of `--max-queues`.
    @Test(.enabled(if: DocketdProcess.storeUnderTest == "lmdb", "PostgreSQL keeps every queue's row"))
    func settingsBackToTheDefaultsForgetTheQueue() throws {
        let server = try DocketdProcess(["--max-queues", "1"])
        let client = try server.client()
        _ = try client.handshake()
        try client.line("QUEUE a rate=10/1s concurrency=3")
        #expect(try client.readLine() == "+OK")
        try client.line("QUEUE a rate=none concurrency=none")
        #expect(try client.readLine() == "+OK")
        #expect(try client.object("STATS")["queues"] as? Int == 0)
        // Its place is free again, and a pause undone frees it too.
        try client.line("PAUSE b")
        #expect(try client.readLine() == "+OK")
        try client.line("RESUME b")
        #expect(try client.readLine() == "+OK")
        #expect(try client.object("STATS")["queues"] as? Int == 0)
        // A queue with a stored record loses the record: a restart does not bring it back.
        try client.line("QUEUE c attempts=5")
        #expect(try client.readLine() == "+OK")
        #expect(try client.object("STATS")["queues"] as? Int == 1)
        try client.line("QUEUE c attempts=none")
        #expect(try client.readLine() == "+OK")
        #expect(try client.object("STATS")["queues"] as? Int == 0)
        #expect(server.stop() == 0)
        let restarted = try server.restart()
        let after = try restarted.client()
        _ = try after.handshake()
        #expect(try after.object("STATS")["queues"] as? Int == 0)
        // A queue with jobs keeps what it holds when its settings go.
        try after.send("QUEUE d rate=1/s\r\nENQ d 1\r\nx\r\nQUEUE d rate=none\r\n")
        #expect(try after.readLine() == "+OK")
        #expect(try after.readLine() == "+OK 1")
        #expect(try after.readLine() == "+OK")
        #expect(try after.object("STATS")["queues"] as? Int == 1)
    }

    @Test func aRefusedFailChangesNothing() throws {
        let server = try DocketdProcess()
        var worker: LineClient? = try server.client()
        _ = try worker!.handshake()
        try worker!.send("ENQ q lease=1h backoff=fixed:0s 1\r\nx\r\nRESERVE q\r\n")
        #expect(try worker!.readLine() == "+OK 1")
        _ = try worker!.readMessage()
        try worker!.line("FAIL 1 throttle=1s scope=group")
        #expect(try worker!.readLine().hasPrefix("-ERR 'BAD_OPTION "))
        worker = nil
        // Still held by the closed connection, so it came back as a lost attempt at once,
        // not after the hour-long lease.
        let checker = try server.client()
        _ = try checker.handshake()
        try checker.line("RESERVE q timeout=5s")
        #expect(plainJobLine(try checker.readMessage().0) == "JOB 1 q 2 1")
    }

    @Test func anAPIReserveWithNobodyListeningHandsOutNothing() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ q 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK 1")
        try client.send("PUB $DOCKET.API.RESERVE.q 0\r\n\r\nPUB $DOCKET.API.RESERVE.q _INBOX.nobody 0\r\n\r\n")
        let job = try client.object("INSPECT 1")
        #expect(job["state"] as? String == "waiting")
        #expect(job["attempts"] as? Int == 0)
    }

    /// A request with two `Docket-Options` lines (nats.go's `Header.Add` makes them) had the
    /// first line's options dropped without a word, its `key=` among them, so a retried request
    /// made a second job. It is refused as the wire refuses an option given twice.
    @Test func anAPIRequestWithTwoOptionLinesIsRefused() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake(#"{"verbose":false,"headers":true}"#)
        let twice = "NATS/1.0\r\nDocket-Options: key=order-17\r\nDocket-Options: pri=2\r\n\r\n"
        try client.send("SUB _INBOX.a 1\r\nHPUB $DOCKET.API.ENQ.q _INBOX.a \(twice.utf8.count) \(twice.utf8.count + 1)\r\n\(twice)x\r\n")
        let (control, body) = try client.readMessage()
        #expect(control.hasPrefix("MSG _INBOX.a 1 "), "\(control)")
        #expect(String(decoding: body, as: UTF8.self).contains(#""code":"BAD_OPTION""#), "\(String(decoding: body, as: UTF8.self))")
        let queue = try client.object("QUEUE q")
        #expect((queue["jobs"] as? [String: Any])?["waiting"] as? Int == 0)

        // One line with both is taken, and the connection serves on.
        let once = "NATS/1.0\r\nDocket-Options: key=order-17 pri=2\r\n\r\n"
        try client.send("HPUB $DOCKET.API.ENQ.q _INBOX.a \(once.utf8.count) \(once.utf8.count + 1)\r\n\(once)x\r\n")
        #expect(String(decoding: try client.readMessage().1, as: UTF8.self) == #"{"id":1,"duplicate":false}"#)
        let job = try client.object("INSPECT 1")
        #expect(job["key"] as? String == "order-17")
        #expect(job["priority"] as? Int == 2)
    }
}

/// Start-up mistakes end in one clear line and exit status 1, never a trap.
@Suite struct StartupTests {
    @Test func portInUseExitsWithOneLine() throws {
        let running = try DocketdProcess()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-port-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (status, output) = try DocketdProcess.runToExit(["--port", String(running.port), "--data-dir", directory.path])
        #expect(status == 1)
        #expect(output.contains("Cannot start"))
        #expect(!output.contains("Fatal error"))
        let (httpStatus, httpOutput) = try DocketdProcess.runToExit(
            ["--port", "0", "--http-port", String(running.port), "--data-dir", directory.path])
        #expect(httpStatus == 1)
        #expect(httpOutput.contains("monitoring"))
        #expect(!httpOutput.contains("Fatal error"))
        // An address this machine does not have (a documentation range: nothing is sent).
        let (addressStatus, addressOutput) = try DocketdProcess.runToExit(
            ["--addr", "192.0.2.1", "--port", "0", "--data-dir", directory.path])
        #expect(addressStatus == 1)
        #expect(addressOutput.contains("Cannot start") && addressOutput.contains("192.0.2.1"))
        #expect(!addressOutput.contains("Fatal error"))
    }
}

/// The data directory is never shared and never trusted silently.
@Suite struct DataDirectoryGuardTests {
    @Test func removingTheLockFilesDoesNotLetASecondServerIn() throws {
        let running = try DocketdProcess()
        for name in ["LOCK", "lock.mdb"] {
            try? FileManager.default.removeItem(at: running.dataDirectory.appendingPathComponent(name))
        }
        let (status, output) = try DocketdProcess.runToExit(["--port", "0", "--data-dir", running.dataDirectory.path])
        #expect(status == 1)
        #expect(output.contains("in use by another docketd"))
        // The first one still serves.
        let client = try running.client()
        _ = try client.handshake()
        #expect(try client.sync() == [])
    }

    /// A lock.mdb another user made (or a directory the server may not write) refused the start
    /// with `mdb_env_open failed in <directory>: Permission denied`, naming neither. Run as
    /// `nobody`, which root can do.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && DataDirectoryGuardTests.othersCanRunDocketd,
        "needs root, setpriv and a docketd other users can run"))
    func aFileTheServerMayNotWriteIsNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-perm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Everything writable but lock.mdb, as root left it.
        for name in ["LOCK", "data.mdb", "lock.mdb"] { FileManager.default.createFile(atPath: directory.appendingPathComponent(name).path, contents: nil) }
        for (name, mode) in [("", 0o777), ("LOCK", 0o666), ("data.mdb", 0o666), ("lock.mdb", 0o644)] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: directory.appendingPathComponent(name).path)
        }
        let (status, output) = try DocketdProcess.runToExit(
            ["--reuid=65534", "--regid=65534", "--clear-groups", DocketdProcess.binary.path, "--port", "0", "--data-dir", directory.path],
            executable: URL(fileURLWithPath: "/usr/bin/setpriv"))
        #expect(status == 1)
        #expect(output.contains("Permission denied (docketd runs as user 65534, which cannot write \(directory.path)/lock.mdb)"), "\(output)")
    }

    /// Whether every directory above docketd, and docketd itself, lets other users in.
    static var othersCanRunDocketd: Bool {
        var path = DocketdProcess.binary.resolvingSymlinksInPath().path
        while !path.isEmpty && path != "/" {
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & 0o001 != 0 else { return false }
            path = (path as NSString).deletingLastPathComponent
        }
        return true
    }

    /// A data.mdb deleted or emptied beside log files that hold none of its jobs (checkpointed,
    /// then a clean stop) started as a new directory: "Recovered 0 jobs" after five acknowledged ENQs.
    @Test(arguments: ["deleted", "emptied"])
    func aLostDataFileBesideItsLogRefusesTheStart(_ damage: String) throws {
        let first = try DocketdProcess(["--sync", "none"])
        let client = try first.client()
        _ = try client.handshake()
        for index in 1...5 {
            try client.send("ENQ q 1\r\n\(index)\r\n")
            #expect(try client.readLine() == "+OK \(index)")
        }
        #expect(first.stop() == 0)
        let file = first.dataDirectory.appendingPathComponent("data.mdb")
        if damage == "deleted" {
            try FileManager.default.removeItem(at: file)
        } else {
            try FileHandle(forWritingTo: file).truncate(atOffset: 0)
        }
        for sync in ["none", "always"] {
            let (status, output) = try DocketdProcess.runToExit(["--port", "0", "--data-dir", first.dataDirectory.path, "--sync", sync])
            #expect(status == 1, "\(output)")
            #expect(output.contains("\(first.dataDirectory.path)/data.mdb is missing or empty"), "\(output)")
        }
        // The ways out the refusal names: --salvage keeps what the log holds (whatever rounds of
        // it were not written over since), or the log files removed too, which starts with no jobs.
        if damage == "deleted" {
            for name in ["wal-a.log", "wal-b.log"] {
                try FileManager.default.removeItem(at: first.dataDirectory.appendingPathComponent(name))
            }
        }
        let fresh = try DocketdProcess(["--sync", "none"] + (damage == "deleted" ? [] : ["--salvage"]), dataDirectory: first.dataDirectory)
        #expect(damage == "deleted" || fresh.log.text.contains("Recovery: salvage: \(first.dataDirectory.path)/data.mdb is missing or empty"))
        let again = try fresh.client()
        _ = try again.handshake()
        guard damage == "deleted" else { return }
        try again.send("INSPECT 1\r\n")
        #expect(try again.readLine().hasPrefix("-ERR 'NOT_FOUND"))
    }

    @Test func aDamagedLogRefusesTheStartAndSalvageStarts() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        for index in 1...5 {
            try client.send("ENQ q 1\r\n\(index)\r\n")
            #expect(try client.readLine() == "+OK \(index)")
        }
        first.crash()
        // Cut wal-a.log: whatever it held beyond the last checkpoint may be lost.
        let log = first.dataDirectory.appendingPathComponent("wal-a.log")
        try FileHandle(forWritingTo: log).truncate(atOffset: 100)
        let (status, output) = try DocketdProcess.runToExit(["--port", "0", "--data-dir", first.dataDirectory.path])
        #expect(status == 1)
        #expect(output.contains("wal-a.log") && output.contains("--salvage"))
        #expect(!output.contains("Fatal error"))
        let salvaged = try DocketdProcess(["--salvage"], dataDirectory: first.dataDirectory)
        #expect(salvaged.log.text.contains("Recovery:"))
        let again = try salvaged.client()
        _ = try again.handshake()
        #expect(try again.sync() == [])
        // "Start once with --salvage": after it, a plain start works again.
        #expect(salvaged.stop() == 0)
        let plain = try salvaged.restart()
        let third = try plain.client()
        _ = try third.handshake()
        #expect(try third.sync() == [])
    }
}

/// No sequence of client commands fills the store into a corner: admission counts the real use
/// from the first command, every writer is admitted, and the directory always starts again.
@Suite struct StoreFullTests {
    static let tenKB = String(repeating: "x", count: 10_000)

    /// ENQs of 10 KB until the first STORE_FULL; returns how many went in.
    func fill(_ client: LineClient, queue: String = "q") throws -> Int {
        var accepted = 0
        while accepted < 1000 {
            try client.send("ENQ \(queue) 10000\r\n\(Self.tenKB)\r\n")
            let reply = try client.readLine()
            if reply.hasPrefix("-ERR 'STORE_FULL") { return accepted }
            #expect(reply.hasPrefix("+OK "))
            accepted += 1
        }
        Issue.record("the store never filled")
        return accepted
    }

    /// A payload larger than a page takes its own overflow pages, about its size; admission
    /// counted it twice, so pipelined 1 MB ENQs were refused as 89 % full while the store held
    /// 14 %, until a checkpoint measured the truth. Forty of them fit a 64 MiB store at once.
    @Test func largePayloadsAreCountedAtTheirSize() throws {
        let server = try DocketdProcess(["--max-store", "64MiB"])
        let client = try server.client()
        _ = try client.handshake()
        let megabyte = String(repeating: "m", count: 1_000_000)
        try client.send(String(repeating: "ENQ big 1000000\r\n\(megabyte)\r\n", count: 40))
        let replies = try (0..<40).map { _ in try client.readLine() }
        #expect(replies.filter { $0.hasPrefix("+OK ") }.count == 40, "\(Set(replies))")
        // Past the real 90 % it is refused, and the directory starts again.
        var accepted = 40
        while accepted < 100 {
            try client.send("ENQ big 1000000\r\n\(megabyte)\r\n")
            guard try client.readLine().hasPrefix("+OK ") else { break }
            accepted += 1
        }
        #expect((41..<64).contains(accepted), "\(accepted) MB accepted")
        #expect(server.stop() == 0)
        #expect(try server.restart(["--max-store", "64MiB"]).stop() == 0)
    }

    /// Schedules hold their payload in their record and make a job per tick: both bypassed
    /// admission, so a schedule could run the store out of map, which ended docketd, and again
    /// at every restart. SCHEDULE is admitted like an ENQ, and ticks with no room are skipped.
    @Test func schedulesAreAdmittedAndTheirTicksSkippedWhenTheStoreIsFull() throws {
        let server = try DocketdProcess(["--max-store", "2MiB"])
        let client = try server.client()
        _ = try client.handshake()
        let big = String(repeating: "s", count: 1_000_000)
        try client.send("SCHEDULE big q every=1s 1000000\r\n\(big)\r\n")
        #expect(try client.readLine() == "+OK")
        try client.send("SCHEDULE bigger q every=1s 1000000\r\n\(big)\r\n")
        #expect(try client.readLine().hasPrefix("-ERR 'STORE_FULL "))
        // Three ticks come and go: no room for their jobs, and docketd goes on.
        #expect(server.log.waitForLine(containing: "Schedule big: 1 tick(s)", timeout: 5) != nil, "\(server.log.text)")
        usleep(1_500_000)
        #expect(try client.sync() == [])
        #expect(!server.log.text.contains("Store commit failed"))
        #expect(server.stop() == 0)
        #expect(try server.restart(["--max-store", "2MiB"]).stop() == 0)
    }

    /// A schedule on a full store skips every tick; one warning per tick would flood the log
    /// (ten thousand every-second schedules: ten thousand lines a second). The first skip is
    /// logged, the rest counted, and the count logged when there is room again.
    @Test func aSkippingScheduleIsLoggedOnceAndWhenItMakesJobsAgain() throws {
        let server = try DocketdProcess(["--max-store", "2MiB"])
        let client = try server.client()
        _ = try client.handshake()
        try client.send("SCHEDULE tick q every=1s 10000\r\n\(Self.tenKB)\r\n")
        #expect(try client.readLine() == "+OK")
        // Admission is conservative until a checkpoint counts the real use: fill until an ENQ
        // finds no room even after that, and a tick (its job and its record) has none either.
        var rounds = 0
        while try fill(client, queue: "filler") > 0, rounds < 20 {
            rounds += 1
            usleep(300_000)
        }
        #expect(server.log.waitForLine(containing: "Schedule tick: ", timeout: 5) != nil, "\(server.log.text)")
        usleep(2_200_000)
        #expect(try client.object("STATS")["skipped_ticks"] as? Int ?? 0 >= 3)
        #expect(server.log.text.components(separatedBy: "Schedule tick: ").count == 2, "\(server.log.text)")
        try client.send("PURGE filler state=waiting\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))
        let resumed = server.log.waitForLine(containing: "Schedule tick makes jobs again", timeout: 5)
        #expect(resumed?.contains("tick(s) were skipped") == true, "\(server.log.text)")
        #expect((try client.object("QUEUE q")["jobs"] as? [String: Any])?["waiting"] as? Int ?? 0 >= 1)
        #expect(server.stop() == 0)
    }

    @Test func admissionSeesTheRealUseRightAfterARestart() throws {
        let first = try DocketdProcess(["--max-store", "2MiB"])
        let client = try first.client()
        _ = try client.handshake()
        #expect(try fill(client) > 10)
        #expect(first.stop() == 0)
        let second = try first.restart(["--max-store", "2MiB"])
        let again = try second.client()
        _ = try again.handshake()
        // The real use from the first command on (it read 0 until the first commit, so a burst
        // was admitted, the checkpoint ran out of map and every later start failed).
        let used = try again.object("STATS")["store_used_bytes"] as? Int ?? 0
        #expect(used > 512 << 10)
        // A pipelined burst: whatever fits goes in, the rest is refused, and nothing exits.
        try again.send(String(repeating: "ENQ q 10000\r\n\(Self.tenKB)\r\n", count: 100))
        var accepted = 0
        for _ in 0..<100 where try again.readLine().hasPrefix("+OK") { accepted += 1 }
        #expect(accepted < 100 - 10)
        #expect(try again.sync() == [])
        let after = try again.object("STATS")
        #expect(after["store_used_bytes"] as? Int ?? .max <= after["store_capacity_bytes"] as? Int ?? 0)
        #expect(second.stop() == 0)
        // The same flags start it again.
        let third = try second.restart(["--max-store", "2MiB"])
        #expect(third.stop() == 0)
    }

    @Test func routedJobsAreAdmittedLikeEnqueues() throws {
        let server = try DocketdProcess(["--max-store", "2MiB"])
        let client = try server.client()
        _ = try client.handshake(#"{"verbose":true}"#)
        #expect(try client.readLine() == "+OK")
        try client.line("ROUTE orders.* routed")
        #expect(try client.readLine().hasPrefix("+OK "))
        try client.line("SUB _INBOX.r 1")
        #expect(try client.readLine() == "+OK")
        var refused = false
        for _ in 0..<400 {
            try client.send("PUB orders.new _INBOX.r 10000\r\n\(Self.tenKB)\r\n")
            let line = try client.readLine()
            if line.hasPrefix("-ERR 'STORE_FULL") {
                refused = true
                let (_, answer) = try client.readMessage()
                #expect(String(decoding: answer, as: UTF8.self).contains(#""code":"STORE_FULL""#))
                break
            }
            #expect(line == "+OK")
            _ = try client.readMessage()  // {"jobs":[…]}
        }
        #expect(refused)
        #expect(try client.object("STATS")["route_refusals"] as? Int == 1)
        // A busy publisher on a full store: every refusal is counted, one line is logged. (A
        // checkpoint finishing meanwhile can make room for a job or two on a slow machine, as
        // CI saw: those are admitted, and not counted.)
        var refusals = 1
        for _ in 0..<50 {
            try client.send("PUB orders.new _INBOX.r 10000\r\n\(Self.tenKB)\r\n")
            let line = try client.readLine()
            if line.hasPrefix("-ERR 'STORE_FULL") { refusals += 1 } else { #expect(line == "+OK") }
            _ = try client.readMessage()
        }
        #expect(refusals > 40)
        #expect(try client.object("STATS")["route_refusals"] as? Int == refusals)
        // (The log arrives through a pipe: wait for the line. A slow run may log a second one
        // an interval later, never one per refusal.)
        #expect(server.log.waitForLine(containing: "Routed jobs for orders.new refused", timeout: 5) != nil)
        let lines = server.log.text.components(separatedBy: "Routed jobs for orders.new refused").count - 1
        #expect((1...2).contains(lines), "\(server.log.text)")
        #expect(server.stop() == 0)
        #expect(try server.restart(["--max-store", "2MiB"]).stop() == 0)
    }

    @Test func aLargeResultAtStoreFullIsRefusedAndTheAckWithoutOneWorks() throws {
        let server = try DocketdProcess(["--max-store", "2MiB"])
        do { try largeResult(server) } catch {
            Issue.record("\(error); the server's log:\n\(server.log.text.suffix(3000))")
        }
    }

    func largeResult(_ server: DocketdProcess) throws {
        let client = try server.client()
        _ = try client.handshake()
        #expect(try fill(client) > 10)
        try client.line("RESERVE q timeout=0")
        let (job, _) = try client.readMessage()
        let id = job.split(separator: " ")[1]
        let big = String(repeating: "r", count: 1 << 20)
        try client.send("ACK \(id) \(big.utf8.count)\r\n\(big)\r\n")
        #expect(try client.readLine().hasPrefix("-ERR 'STORE_FULL "))
        try client.send("FAIL \(id) \(big.utf8.count)\r\n\(big)\r\n")
        #expect(try client.readLine().hasPrefix("-ERR 'STORE_FULL "))
        // Still held, and finishing it without a body always works.
        try client.line("ACK \(id)")
        #expect(try client.readLine() == "+OK")
        #expect(try client.sync() == [])
        #expect(server.stop() == 0)
        #expect(try server.restart(["--max-store", "2MiB"]).stop() == 0)
    }
}

/// A damaged data file or a full disk ends the start with one clear line and exit 1, never a
/// signal or a trap.
@Suite struct DamagedStoreTests {
    /// A stopped server's directory holding some jobs (checkpointed into data.mdb).
    func directoryWithJobs() throws -> URL {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        for index in 1...200 {
            try client.send("ENQ q 100\r\n\(String(repeating: "p", count: 100))\r\n")
            #expect(try client.readLine() == "+OK \(index)")
        }
        #expect(server.stop() == 0)
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("docket-damaged-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: server.dataDirectory, to: copy)
        return copy
    }

    func expectCleanRefusal(_ directory: URL, _ prefix: [String] = [], mentioning words: [String]) throws {
        let docketd = DocketdProcess.binary.path
        let (status, output) = prefix.isEmpty
            ? try DocketdProcess.runToExit(["--port", "0", "--data-dir", directory.path])
            : try DocketdProcess.runToExit(
                ["-c", prefix.joined(separator: " ") + " exec '\(docketd)' --port 0 --data-dir '\(directory.path)'"],
                executable: URL(fileURLWithPath: "/bin/sh"))
        #expect(status == 1, "\(output)")
        for word in words { #expect(output.contains(word), "\(output)") }
        for trap in ["Fatal error", "double free", "Backtrace", "Segmentation", "Bus error"] {
            #expect(!output.contains(trap), "\(output)")
        }
    }

    /// Expects `directory` refused as damaged, starts it once with `--salvage`, then plainly:
    /// the plain server and a client of it. `naming`: how the salvage's note names what it
    /// dropped.
    func refusedThenSalvaged(_ directory: URL, naming damage: String? = nil) throws -> (DocketdProcess, LineClient) {
        try expectCleanRefusal(directory, mentioning: ["data.mdb is damaged", "--salvage"])
        let salvaged = try DocketdProcess(["--salvage"], dataDirectory: directory)
        if let damage { #expect(salvaged.log.text.contains("Recovery: salvage: \(damage) in "), "\(salvaged.log.text)") }
        #expect(salvaged.stop() == 0)
        let plain = try salvaged.restart()
        let client = try plain.client()
        _ = try client.handshake()
        return (plain, client)
    }

    /// Where `marker` is in a server's data.mdb, once a checkpoint has put it there.
    func offset(of marker: String, in directory: URL) throws -> Int {
        try offsets(of: marker, in: directory)[0]
    }

    /// Every place `marker` is in data.mdb: besides the live page, LMDB's copy-on-write can
    /// leave earlier copies of it in freed pages (a checkpoint in several transactions, as
    /// a loaded machine makes them), and damage to such a copy damages nothing.
    func offsets(of marker: String, in directory: URL) throws -> [Int] {
        let file = directory.appendingPathComponent("data.mdb")
        let pattern = Array(marker.utf8)
        for _ in 0..<50 {
            let bytes = try [UInt8](Data(contentsOf: file))
            let found = (0...max(0, bytes.count - pattern.count)).filter { bytes[$0..<($0 + pattern.count)].elementsEqual(pattern) }
            if !found.isEmpty { return found }
            usleep(100_000)
        }
        throw HarnessError("\(marker) never reached \(file.path)")
    }

    /// Overwrites bytes of a (running) server's data.mdb in place: the server's map shows them.
    func overwrite(_ directory: URL, at offset: Int, with bytes: [UInt8]) throws {
        let handle = try FileHandle(forWritingTo: directory.appendingPathComponent("data.mdb"))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }

    /// A damaged branch page is not a record, so no checksum sees it: a child pointer that
    /// names the page next door shows that subtree twice and hides its own, and a start
    /// recovered the rest and dropped acknowledged jobs without a word (80 of 6,000 in one
    /// probe); others made LMDB abort. Each one-bit change of each child pointer in data.mdb
    /// must now refuse the start cleanly (exit 1, one line) or change nothing.
    @Test func aDamagedBranchPageRefusesTheStartInsteadOfHidingJobs() throws {
        let count = 3000
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        for first in stride(from: 1, through: count, by: 500) {
            try client.send((first..<(first + 500)).map { "ENQ q 60\r\n\(String(repeating: "p", count: 50))\(String(1_000_000_000 + $0))\r\n" }.joined())
            for id in first..<(first + 500) { #expect(try client.readLine() == "+OK \(id)") }
        }
        #expect(server.stop() == 0)
        let pristine = FileManager.default.temporaryDirectory.appendingPathComponent("docket-branch-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: server.dataDirectory, to: pristine)
        defer { try? FileManager.default.removeItem(at: pristine) }
        let original = try [UInt8](Data(contentsOf: pristine.appendingPathComponent("data.mdb")))
        let pageSize = 4096
        func uint16(_ at: Int) -> Int { Int(original[at]) | Int(original[at + 1]) << 8 }
        // LMDB's page header: number (8 bytes), padding (2), flags (2; 0x01 a branch page),
        // lower (2), upper (2), then the offsets of its nodes; a branch node starts with the
        // low bits of its child's page number.
        var pointers: [Int] = []
        for page in stride(from: 2 * pageSize, to: original.count, by: pageSize) where uint16(page + 10) & 0x01 != 0 {
            pointers += (0..<((uint16(page + 12) - 16) / 2)).map { page + uint16(page + 16 + 2 * $0) }
        }
        try #require(pointers.count > 30, "branch nodes found: \(pointers.count)")
        var refused = 0
        for pointer in pointers {
            try? FileManager.default.removeItem(at: server.dataDirectory)
            try FileManager.default.copyItem(at: pristine, to: server.dataDirectory)
            var damaged = original
            damaged[pointer] ^= 0x01
            try Data(damaged).write(to: server.dataDirectory.appendingPathComponent("data.mdb"))
            guard let restarted = try? DocketdProcess(dataDirectory: server.dataDirectory) else {
                refused += 1
                try expectCleanRefusal(server.dataDirectory, mentioning: ["data.mdb", "damaged"])
                continue
            }
            let reader = try restarted.client()
            _ = try reader.handshake()
            var listed: [Int] = []
            var after = ""
            repeat {
                let page = try reader.object("LIST q limit=1000" + after)
                listed += (page["jobs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
                after = (page["next"] as? String).map { " after=\($0)" } ?? ""
            } while !after.isEmpty
            let complete = listed == Array(1...count)
            #expect(complete, "byte \(pointer) flipped: \(listed.count) jobs listed, \(Set(1...count).subtracting(listed).count) missing")
            #expect(restarted.stop() == 0)
        }
        #expect(refused > 0)
        try? FileManager.default.removeItem(at: server.dataDirectory)
    }

    /// A page of data.mdb's trees zeroed (a lost write, a bad block read back as zeros) made
    /// LMDB's cursor report a page "of the wrong type", and the start ended with `Cannot start:
    /// mdb_cursor_get last payload failed in <directory>: MDB_CORRUPTED: …`: neither the file nor
    /// the word damaged, nor what to do; either of the two meta pages zeroed, `mdb_env_open failed
    /// in <directory>: MDB_INVALID: File is not an LMDB file`. Every tree page zeroed in turn
    /// must now refuse the start with the line that names data.mdb as damaged, or change
    /// nothing; a meta page zeroed is rebuilt from the other (see `MetaPageTests`), and the start
    /// finds every job.
    @Test func aZeroedPageOfDataMdbIsNamedAsDamage() throws {
        let pristine = try directoryWithJobs()
        defer { try? FileManager.default.removeItem(at: pristine) }
        let original = try [UInt8](Data(contentsOf: pristine.appendingPathComponent("data.mdb")))
        let pageSize = 4096
        // LMDB's page header: number (8 bytes), padding (2), flags (2): 0x01 branch, 0x02 leaf.
        let treePages = stride(from: 2 * pageSize, to: original.count, by: pageSize).filter { original[$0 + 10] & 0x03 != 0 }
        try #require(treePages.count > 3, "tree pages found: \(treePages.count)")
        let metaPages = [0, pageSize]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-zeroed-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var refused = 0
        for page in metaPages + treePages {
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.copyItem(at: pristine, to: directory)
            var damaged = original
            damaged.replaceSubrange(page..<(page + pageSize), with: repeatElement(0, count: pageSize))
            try Data(damaged).write(to: directory.appendingPathComponent("data.mdb"))
            guard let restarted = try? DocketdProcess(dataDirectory: directory) else {
                refused += 1
                #expect(!metaPages.contains(page), "meta page at \(page) zeroed, and the start was refused")
                // Run again to its end, for its exit status and every line it wrote.
                try expectCleanRefusal(directory, mentioning: ["data.mdb is damaged", "Restore the"])
                continue
            }
            if metaPages.contains(page) {
                #expect(restarted.log.text.contains("header page \(page / pageSize) was damaged"), "\(restarted.log.text)")
            }
            let reader = try restarted.client()
            _ = try reader.handshake()
            let listed = try reader.object("LIST q limit=1000")
            #expect((listed["jobs"] as? [[String: Any]])?.count == 200, "page at \(page) zeroed, yet the start went on")
            #expect(restarted.stop() == 0)
        }
        #expect(refused > 0)
    }

    /// Payloads are read when their jobs are delivered, long after start-up: a payload whose
    /// stored size is garbled under a running server makes the read run off the end of the
    /// file, and that fault ends docketd with one line naming the job, not a SIGBUS.
    @Test func aPayloadThatFaultsWhenDeliveredEndsWithAClearLine() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ q 18\r\nPAYLOAD-MARKER-XYZ\r\n")
        #expect(try client.readLine() == "+OK 1")
        let at = try offset(of: "PAYLOAD-MARKER-XYZ", in: server.dataDirectory)
        // The LMDB node before the value (a 4-byte checksum, then the payload): data size (low,
        // high 16 bits), flags, key size, the 8-byte key. A high half of 0x0400 makes the size
        // 64 MiB and some, past the file's end.
        try overwrite(server.dataDirectory, at: at - 4 - 16 + 3, with: [0x04])
        try client.line("RESERVE q timeout=0")
        _ = try? client.readUntilClosed()
        #expect(server.waitForExit(timeout: 10) == 1)
        #expect(server.log.waitForLine(containing: "reading the payload of job 1 from its data.mdb faulted", timeout: 5) != nil, "\(server.log.text)")
        for trap in ["Fatal error", "Backtrace", "Segmentation", "Bus error"] { #expect(!server.log.text.contains(trap)) }
        // At rest the same damage is found at start.
        try expectCleanRefusal(server.dataDirectory, mentioning: ["data.mdb", "damaged"])
    }

    /// LMDB keeps no checksums: a flipped bit in a payload was delivered as if it were the
    /// job's. Sealed values are checked: under a running server the delivery ends docketd with
    /// a line naming the job (the store is the truth, and a worker must not run garbage); at
    /// rest the start is refused, and `--salvage` makes the job dead, once.
    @Test func aPayloadGarbledOnDiskIsNeverDelivered() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        for (index, payload) in ["GARBLE-ME-PAYLOAD-1", "INTACT-PAYLOAD-222"].enumerated() {
            try client.send("ENQ q \(payload.utf8.count)\r\n\(payload)\r\n")
            #expect(try client.readLine() == "+OK \(index + 1)")
        }
        let at = try offset(of: "GARBLE-ME-PAYLOAD-1", in: server.dataDirectory)
        try overwrite(server.dataDirectory, at: at + 7, with: Array("m".utf8))
        try client.line("RESERVE q timeout=0")
        let delivered = try? client.readUntilClosed()
        #expect(delivered.map { !String(decoding: $0, as: UTF8.self).contains("GARBLE-me") } ?? true)
        #expect(server.waitForExit(timeout: 10) == 1)
        #expect(server.log.waitForLine(containing: "the payload of job 1 fails its checksum", timeout: 5) != nil, "\(server.log.text)")
        try expectCleanRefusal(server.dataDirectory, mentioning: ["payload of job 1 fails its checksum", "--salvage"])
        let salvaged = try DocketdProcess(["--salvage"], dataDirectory: server.dataDirectory)
        #expect(salvaged.log.text.contains("the payload of job 1 in"), "\(salvaged.log.text)")
        #expect(salvaged.stop() == 0)
        let plain = try salvaged.restart()
        let again = try plain.client()
        _ = try again.handshake()
        let job = try again.object("INSPECT 1")
        #expect(job["state"] as? String == "dead" && (job["last_error"] as? String)?.hasPrefix("salvaged: ") == true)
        try again.line("RESERVE q timeout=0")
        #expect(try again.readLine().hasPrefix("JOB 2 q "))
        #expect(try again.readLine() == "INTACT-PAYLOAD-222")
        #expect(plain.stop() == 0)
    }

    /// A completed job's payload waits in data.mdb to be deleted with others (they go in runs);
    /// damage to it loses nothing, and must not refuse the start.
    @Test func aCompletedJobsDamagedPayloadIsDroppedNotRefused() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ q 20\r\nSTALE-PAYLOAD-MARKER\r\n")
        #expect(try client.readLine() == "+OK 1")
        let at = try offset(of: "STALE-PAYLOAD-MARKER", in: server.dataDirectory)
        try client.line("RESERVE q timeout=0")
        #expect(try client.readLine().hasPrefix("JOB 1 q "))
        #expect(try client.readLine() == "STALE-PAYLOAD-MARKER")
        try client.line("ACK 1")
        #expect(try client.readLine() == "+OK")
        try overwrite(server.dataDirectory, at: at, with: Array("s".utf8))
        server.crash()
        let restarted = try server.restart()
        let again = try restarted.client()
        _ = try again.handshake()
        #expect(try again.object("INSPECT 1")["state"] as? String == "completed")
        #expect(restarted.stop() == 0)
    }

    /// A flipped bit in a job's record read as another job (a different state, attempt or
    /// queue); now the start is refused, and `--salvage` drops that job and keeps the rest.
    @Test func aJobRecordGarbledOnDiskRefusesTheStartAndSalvageDropsIt() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        for (index, key) in ["", " key=RECORD-MARKER-KEY", ""].enumerated() {
            try client.send("ENQ q\(key) 2\r\nhi\r\n")
            #expect(try client.readLine() == "+OK \(index + 1)")
        }
        #expect(server.stop() == 0)
        // The idempotency key is in job 2's record and nowhere else in the file.
        let at = try offset(of: "RECORD-MARKER-KEY", in: server.dataDirectory)
        try overwrite(server.dataDirectory, at: at, with: Array("r".utf8))
        try expectCleanRefusal(server.dataDirectory, mentioning: ["job 2 fails its checksum", "--salvage"])
        let salvaged = try DocketdProcess(["--salvage"], dataDirectory: server.dataDirectory)
        #expect(salvaged.log.text.contains("job 2 in"), "\(salvaged.log.text)")
        #expect(salvaged.stop() == 0)
        let plain = try salvaged.restart()
        let again = try plain.client()
        _ = try again.handshake()
        try again.line("INSPECT 2")
        #expect(try again.readLine().hasPrefix("-ERR 'NOT_FOUND"))
        #expect(try again.object("INSPECT 3")["state"] as? String == "waiting")
        #expect(plain.stop() == 0)
    }

    /// A payload whose key is garbled sits out of order in its tree, where `--salvage`'s delete
    /// by key could not find it: the salvage refused the start with `mdb_del (salvage) failed
    /// …: MDB_NOTFOUND` (key 0xFF…, no such job), or, the key garbled into another job's id,
    /// deleted that job's sound payload and kept the damaged one, and refused again. The
    /// damaged entry is now deleted where it stands: job 3 is dead, every other job as it was.
    @Test(arguments: [[UInt8](repeating: 0xFF, count: 8), [0, 0, 0, 0, 0, 0, 0, 30]])
    func aSalvageDropsAPayloadWhoseKeyIsGarbled(key: [UInt8]) throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        for id in 1...40 {
            let payload = "PAYLOAD-\(id)-" + String(repeating: "p", count: 40)
            try client.send("ENQ q \(payload.utf8.count)\r\n\(payload)\r\n")
            #expect(try client.readLine() == "+OK \(id)")
        }
        #expect(server.stop() == 0)
        // The LMDB node before a payload: sizes, flags, the 8-byte key, then the value (a
        // 4-byte checksum, then the payload).
        for at in try offsets(of: "PAYLOAD-3-", in: server.dataDirectory) {
            try overwrite(server.dataDirectory, at: at - 4 - 8, with: key)
        }
        // Not "the payload of job 30" (a sound job) or "of job 18446744073709551615" (none).
        let bytes = key.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
        let (plain, again) = try refusedThenSalvaged(server.dataDirectory, naming: "a payload whose key is damaged (key bytes \(bytes))")
        #expect(try again.object("INSPECT 3")["state"] as? String == "dead")
        for id in [1, 2] + Array(4...40) {
            #expect(try again.object("INSPECT \(id)")["state"] as? String == "waiting", "job \(id)")
        }
        #expect(plain.stop() == 0)
    }

    /// The same for a job record whose key is garbled into the next job's id: the salvage
    /// deleted by key, so the sound job 3 (record or payload) went in the damaged one's place.
    /// Now job 2, whose record is damaged, goes, and job 3 stays whole.
    @Test func aSalvageDropsAJobRecordWhoseKeyIsGarbled() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        for (index, key) in ["", " key=RECORD-MARKER-KEY", "", ""].enumerated() {
            try client.send("ENQ q\(key) 5\r\nhello\r\n")
            #expect(try client.readLine() == "+OK \(index + 1)")
        }
        #expect(server.stop() == 0)
        // Job 2's key (8 bytes, big-endian) is in its node a little before its record's text.
        let marker = try offset(of: "RECORD-MARKER-KEY", in: server.dataDirectory)
        let bytes = try [UInt8](Data(contentsOf: server.dataDirectory.appendingPathComponent("data.mdb")))
        let key: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 2]
        let at = try #require(stride(from: marker - 8, to: max(0, marker - 400), by: -1).first { bytes[$0..<($0 + 8)].elementsEqual(key) })
        try overwrite(server.dataDirectory, at: at + 7, with: [3])
        // Not "job 3", which is sound.
        let (plain, again) = try refusedThenSalvaged(server.dataDirectory, naming: "a job record whose key is damaged (key bytes 00 00 00 00 00 00 00 03)")
        try again.line("INSPECT 2")
        #expect(try again.readLine().hasPrefix("-ERR 'NOT_FOUND"))
        for id in [1, 3, 4] {
            #expect(try again.object("INSPECT \(id)")["state"] as? String == "waiting", "job \(id)")
        }
        var reserved: [String] = []
        for _ in 0..<3 {
            try again.line("RESERVE q timeout=0")
            reserved.append(try again.readLine())
            #expect(try again.readLine() == "hello")
        }
        #expect(reserved.map { $0.split(separator: " ")[1] } == ["1", "3", "4"], "\(reserved)")
        #expect(plain.stop() == 0)
    }

    /// A job whose payload is gone is refused, `--salvage` makes it dead, and from then on
    /// the directory starts without `--salvage` ("start once with --salvage").
    @Test func aJobWithoutItsPayloadIsRefusedThenSalvagedOnce() throws {
        let directory = try directoryWithJobs()
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let store = try DataDirectory(path: directory.path)
            var batch = StoreBatch()
            batch.payloadDeletes = [7]
            var outcome: Result<Void, StoreError>?
            store.commit(batch) { outcome = $0 }
            try outcome?.get()
            store.close()
        }
        try expectCleanRefusal(directory, mentioning: ["job 7", "--salvage"])
        let salvaged = try DocketdProcess(["--salvage"], dataDirectory: directory)
        let client = try salvaged.client()
        _ = try client.handshake()
        #expect(try client.object("INSPECT 7")["state"] as? String == "dead")
        #expect(salvaged.stop() == 0)
        let plain = try salvaged.restart()
        let again = try plain.client()
        _ = try again.handshake()
        let salvagedJob = try again.object("INSPECT 7")
        #expect(salvagedJob["state"] as? String == "dead" && salvagedJob["payload_bytes"] as? Int == 0)
        #expect((salvagedJob["last_error"] as? String)?.hasPrefix("salvaged: ") == true)
        #expect(try again.object("INSPECT 8")["state"] as? String == "waiting")
        #expect(plain.stop() == 0)
    }

    /// A data.mdb the disk cannot read (EIO) was refused as `… is damaged: neither of its
    /// header pages is an LMDB header`, sending an operator to restore a backup of a file that
    /// may be whole. The refusal now says the read failed, and why.
    @Test(.enabled(if: FailingDisk.isAvailable, "needs clang or cc to build the failing-disk library"))
    func anUnreadableDataFileIsRefusedAsARead() throws {
        let directory = try directoryWithJobs()
        defer { try? FileManager.default.removeItem(at: directory) }
        let shell = try FailingDisk.shell(calls: ["pread"], path: "/data.mdb")
        try expectCleanRefusal(directory, [shell], mentioning: ["cannot read", "data.mdb: Input/output error"])
        let (_, output) = try DocketdProcess.runToExit(
            ["-c", shell + " exec '\(DocketdProcess.binary.path)' --port 0 --data-dir '\(directory.path)'"], executable: URL(fileURLWithPath: "/bin/sh"))
        #expect(!output.contains("is damaged"), "\(output)")
    }

    @Test func aCutDataFileIsRefused() throws {
        let directory = try directoryWithJobs()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("data.mdb")
        let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as! Int
        try FileHandle(forWritingTo: file).truncate(atOffset: UInt64(size / 2))
        try expectCleanRefusal(directory, mentioning: ["data.mdb", "damaged"])
    }

    @Test func aGarbledDataFileIsRefused() throws {
        let directory = try directoryWithJobs()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("data.mdb")
        let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as! Int
        // Garbage over every page but the two headers.
        var generator = SystemRandomNumberGenerator()
        let garbage = (0..<(size - 8192)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let handle = try FileHandle(forWritingTo: file)
        try handle.seek(toOffset: 8192)
        try handle.write(contentsOf: Data(garbage))
        try handle.close()
        try expectCleanRefusal(directory, mentioning: ["damaged"])
    }

    /// A page number garbled in LMDB's free list made the start's first commit write far past
    /// the file's end and refuse with `mdb_txn_commit failed …: File too large`, as if a file
    /// size limit were the trouble. Found by flipping bits in data.mdb at random.
    @Test func aGarbledFreeListIsNamedAsDamage() throws {
        let directory = try directoryWithJobs()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("data.mdb")
        var bytes = [UInt8](try Data(contentsOf: file))
        func uint(_ offset: Int, _ size: Int) -> Int { (0..<size).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) } }
        // The newer meta page's free list (its first database: root at 40 + 40), a leaf here;
        // its first record's list of free pages, in descending order, whose last one LMDB
        // takes first: that page number gets bit 42, 16 TiB into the file.
        let meta = uint(144, 8) > uint(4096 + 144, 8) ? 0 : 4096
        #expect(uint(meta + 40 + 6, 2) == 1, "the free list is one leaf page")
        let leaf = uint(meta + 40 + 40, 8) * 4096
        let node = leaf + uint(leaf + 16, 2)
        let list = node + 8 + uint(node + 6, 2)
        let last = list + 8 * uint(list, 8)
        bytes[last + 5] ^= 0x04
        try Data(bytes).write(to: file)
        try expectCleanRefusal(directory, mentioning: ["data.mdb is damaged", "File too large"])
    }

    @Test func aFullDiskAtStartIsRefused() throws {
        let directory = try directoryWithJobs()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Writes past 8 KiB fail (EFBIG), as on a full disk.
        try expectCleanRefusal(directory, ["ulimit -f 16;"], mentioning: ["Cannot start"])
        // Fresh, with no room for the log either.
        let fresh = FileManager.default.temporaryDirectory.appendingPathComponent("docket-full-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: fresh) }
        try expectCleanRefusal(fresh, ["ulimit -f 16;"], mentioning: ["Cannot start"])
    }
}

/// The monitoring port and running out of descriptors: bounded, polite, and quiet.
@Suite struct MonitoringPortTests {
    /// Sends `request` to the monitoring port and reads until the server closes.
    func exchange(_ port: Int, _ request: [UInt8]) throws -> String {
        let client = try LineClient(port: port)
        try? client.send(request)
        return String(decoding: try client.readUntilClosed(), as: UTF8.self)
    }

    @Test func oversizedHeadsGet431AndOtherMethods405() throws {
        let server = try DocketdProcess(["-m", "0", "--http-max-header", "4KiB"])
        let port = try #require(server.httpPort)
        let ok = try exchange(port, Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(ok.hasPrefix("HTTP/1.1 200 OK\r\n") && ok.hasSuffix(#"{"status":"ok"}"#))
        let huge = "GET /varz HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 64 << 10) + "\r\n\r\n"
        #expect(try exchange(port, Array(huge.utf8)).hasPrefix("HTTP/1.1 431 "))
        let post = try exchange(port, Array("POST /varz HTTP/1.1\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(post.hasPrefix("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD\r\n"))
        let head = try exchange(port, Array("HEAD /varz HTTP/1.1\r\n\r\n".utf8))
        #expect(head.hasPrefix("HTTP/1.1 200 ") && head.hasSuffix("\r\n\r\n"))
    }

    /// Past the limit, the oldest connection still sending its request makes room; when every
    /// place is taken by a request being answered or a stream, the newcomer gets 503.
    @Test func monitoringConnectionsPastTheLimitGet503() throws {
        let server = try DocketdProcess(["-m", "0", "--http-max-connections", "1"])
        let port = try #require(server.httpPort)
        let idle = try LineClient(port: port)
        try idle.send("GET /healthz HTTP/1.1\r\n")
        usleep(100_000)
        let ok = try exchange(port, Array("GET /healthz HTTP/1.1\r\n\r\n".utf8))
        #expect(ok.hasPrefix("HTTP/1.1 200 "), "\(ok)")
        #expect(try idle.readUntilClosed().isEmpty)
        let stream = try LineClient(port: port)
        try stream.send("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(try stream.readLine().hasPrefix("HTTP/1.1 200 "))
        let answer = try exchange(port, Array("GET /healthz HTTP/1.1\r\n\r\n".utf8))
        #expect(answer.hasPrefix("HTTP/1.1 503 "), "\(answer)")
        withExtendedLifetime(stream) {}
    }

    @Test func idleMonitoringConnectionsAreClosed() throws {
        let server = try DocketdProcess(["-m", "0", "--http-idle-timeout", "300ms"])
        let port = try #require(server.httpPort)
        let idle = try LineClient(port: port)
        try idle.send("GET /varz HTTP/1.1\r\n")  // never finishes its head
        let started = Date()
        #expect(try idle.readUntilClosed().isEmpty)
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test func runningOutOfDescriptorsRefusesPolitelyWithoutSpinning() throws {
        let server = try DocketdProcess(["-m", "0"], shell: "ulimit -n 64;")
        let port = try #require(server.httpPort)
        // Logged-in clients until accept runs out of descriptors (connections that do not log
        // in could not: --descriptor-reserve and --http-max-connections keep them to a share).
        var held: [LineClient] = []
        while held.count < 80, let client = try? LineClient(port: server.port), (try? client.handshake()) != nil,
            (try? client.sync()) == []
        {
            held.append(client)
        }
        _ = port
        usleep(300_000)
        // A new protocol client is told why instead of hanging.
        let refused = try LineClient(port: server.port)
        let answer = String(decoding: try refused.readUntilClosed(), as: UTF8.self)
        #expect(answer.contains("-ERR 'maximum connections exceeded'"))
        // The loop does not spin: well under half a core over a second.
        func cpuTicks() throws -> Int {
            let stat = try String(contentsOfFile: "/proc/\(server.pid)/stat", encoding: .utf8)
            let fields = stat.split(separator: ")").last!.split(separator: " ")
            return Int(fields[11])! + Int(fields[12])!
        }
        let before = try cpuTicks()
        sleep(1)
        #expect(try cpuTicks() - before < 50)
        #expect(server.log.lines.filter { $0.contains("Out of file descriptors") }.count <= 2)
        // Once descriptors are free again, clients are served.
        held.removeAll()
        usleep(300_000)
        let client = try server.client()
        _ = try client.handshake()
        #expect(try client.sync() == [])
    }
}

@Suite struct CountersTests {
    @Test func inAndOutBytesCountPayloadsAsNatsServerDoes() throws {
        let server = try DocketdProcess(["-m", "0"])
        let client = try server.client()
        _ = try client.handshake()
        try client.send("SUB foo 1\r\nSUB foo 2\r\nPUB foo 5\r\nhello\r\n")
        _ = try client.readMessage()
        _ = try client.readMessage()
        let stats = try client.object("STATS")
        #expect(stats["in_msgs"] as? Int == 1 && stats["in_bytes"] as? Int == 5)
        #expect(stats["out_msgs"] as? Int == 2 && stats["out_bytes"] as? Int == 10)
        let connz = try LineClient(port: try #require(server.httpPort))
        try connz.send("GET /connz HTTP/1.1\r\n\r\n")
        let body = String(decoding: try connz.readUntilClosed(), as: UTF8.self)
        #expect(body.contains(#""in_bytes":5"#) && body.contains(#""out_bytes":10"#))
    }
}

/// Rate windows and throttles are promises about time: a restart does not lift them.
@Suite struct PoliciesAcrossRestartsTests {
    @Test func aRateWindowSurvivesARestart() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        try client.line("QUEUE slow rate=1/1h")
        #expect(try client.readLine() == "+OK")
        try client.send("ENQ slow 1\r\na\r\nENQ slow 1\r\nb\r\nRESERVE slow timeout=0\r\n")
        #expect(try client.readLine() == "+OK 1")
        #expect(try client.readLine() == "+OK 2")
        _ = try client.readMessage()
        try client.line("ACK 1")
        #expect(try client.readLine() == "+OK")
        #expect(first.stop() == 0)
        let second = try first.restart()
        let again = try second.client()
        _ = try again.handshake()
        try again.line("RESERVE slow timeout=0")
        #expect(try again.readLine() == "NOJOB")
        let next = try again.object("QUEUE slow")["next_start_at"] as? Double ?? 0
        #expect(next > Date().timeIntervalSince1970 * 1000 + 3_000_000)
    }

    @Test func throttlesSurviveARestart() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        try client.send("ENQ held 1\r\na\r\nENQ held 1\r\nb\r\nRESERVE held timeout=0\r\n")
        #expect(try client.readLine() == "+OK 1")
        #expect(try client.readLine() == "+OK 2")
        _ = try client.readMessage()
        try client.line("FAIL 1 throttle=1h")
        #expect(try client.readLine() == "+OK throttled 3600000")
        try client.send("ENQ tenants group=a 1\r\na\r\nENQ tenants group=b 1\r\nb\r\nRESERVE tenants timeout=0\r\n")
        #expect(try client.readLine() == "+OK 3")
        #expect(try client.readLine() == "+OK 4")
        _ = try client.readMessage()
        try client.line("FAIL 3 throttle=1h scope=group")
        #expect(try client.readLine() == "+OK throttled 3600000")
        first.crash()  // not even a clean stop
        let second = try first.restart()
        let again = try second.client()
        _ = try again.handshake()
        try again.line("RESERVE held timeout=0")
        #expect(try again.readLine() == "NOJOB")
        #expect(try again.object("QUEUE held")["held_until"] as? Double ?? 0 > Date().timeIntervalSince1970 * 1000)
        // Group a is held; group b is not.
        try again.line("RESERVE tenants timeout=0")
        #expect(plainJobLine(try again.readMessage().0) == "JOB 4 tenants 1 1")
        try again.line("RESERVE tenants timeout=0")
        #expect(try again.readLine() == "NOJOB")
    }
}

/// With credentials required, the monitoring port asks for them too (all but /healthz).
@Suite struct MonitoringAuthTests {
    func get(_ port: Int, _ path: String, _ authorization: String? = nil) throws -> String {
        let client = try LineClient(port: port)
        try client.send("GET \(path) HTTP/1.1\r\n" + (authorization.map { "Authorization: \($0)\r\n" } ?? "") + "\r\n")
        return String(decoding: try client.readUntilClosed(), as: UTF8.self)
    }

    @Test func userAndPassword() throws {
        let server = try DocketdProcess(["-m", "0", "--user", "alice", "--pass", "wonder"])
        let port = try #require(server.httpPort)
        #expect(try get(port, "/healthz").hasPrefix("HTTP/1.1 200 "))
        #expect(try get(port, "/healthz", "Basic " + Data("alice:wrong".utf8).base64EncodedString()).hasPrefix("HTTP/1.1 200 "))
        let refused = try get(port, "/connz")
        #expect(refused.hasPrefix("HTTP/1.1 401 ") && refused.contains("WWW-Authenticate: Basic"))
        #expect(try get(port, "/connz", "Basic " + Data("alice:wrong".utf8).base64EncodedString()).hasPrefix("HTTP/1.1 401 "))
        #expect(try get(port, "/connz", "Basic " + Data("alice:wonder".utf8).base64EncodedString()).hasPrefix("HTTP/1.1 200 "))
        // /varz answers anyone, as nats-server's does (test harnesses poll it until it says 200),
        // but without credentials only with what INFO tells every client.
        let open = try get(port, "/varz")
        #expect(open.hasPrefix("HTTP/1.1 200 ") && open.contains(#""auth_required":true"#) && !open.contains("in_msgs"))
        let full = try get(port, "/varz", "Basic " + Data("alice:wonder".utf8).base64EncodedString())
        #expect(full.hasPrefix("HTTP/1.1 200 ") && full.contains("in_msgs"))
        #expect(try get(port, "/varz", "Basic " + Data("alice:wrong".utf8).base64EncodedString()).hasPrefix("HTTP/1.1 401 "))
    }

    /// Guesses on the monitoring port are failed logins too: logged (with the client's address,
    /// never the password), once per interval with a count.
    @Test func wrongCredentialsAreLoggedAsFailedLogins() throws {
        let server = try DocketdProcess(["-m", "0", "--user", "alice", "--pass", "wonder"])
        let port = try #require(server.httpPort)
        for guess in 0..<20 {
            #expect(try get(port, "/connz", "Basic " + Data("alice:guess-\(guess)".utf8).base64EncodedString()).hasPrefix("HTTP/1.1 401 "))
        }
        let line = server.log.waitForLine(containing: "monitoring - Authorization Violation", timeout: 5)
        #expect(line?.contains("127.0.0.1:") == true, "\(line ?? "no line")")
        #expect(server.log.text.split(separator: "\n").filter { $0.contains("Authorization Violation") }.count <= 2)
        #expect(!server.log.text.contains("guess-"))
    }

    @Test func token() throws {
        let server = try DocketdProcess(["-m", "0", "--auth", "s3cret"])
        let port = try #require(server.httpPort)
        #expect(try get(port, "/metrics").hasPrefix("HTTP/1.1 401 "))
        #expect(try get(port, "/metrics", "Bearer s3cret").hasPrefix("HTTP/1.1 200 "))
        #expect(try get(port, "/metrics", "Bearer s3cre").hasPrefix("HTTP/1.1 401 "))
        // The client port: the same token.
        let client = try server.client()
        #expect(try client.readLine().contains(#""auth_required":true"#))
        try client.line(#"CONNECT {"verbose":false,"auth_token":"s3cret"}"#)
        #expect(try client.sync() == [])
    }
}

/// Queue statistics that tell the truth (issue #19): rates count only their own event, totals
/// survive restarts, and every job ever enqueued is accounted for.
@Suite struct QueueStatisticsTests {
    func totals(_ document: [String: Any]) -> [String: Int] { document["totals"] as? [String: Int] ?? [:] }
    func jobs(_ document: [String: Any]) -> [String: Int] { document["jobs"] as? [String: Int] ?? [:] }

    /// enqueued = waiting + delayed + active + completed + dead + removed + deleted.
    func identityHolds(_ document: [String: Any]) -> Bool {
        let t = totals(document), j = jobs(document)
        let kept = ["waiting", "delayed", "active", "completed", "dead"].reduce(0) { $0 + (j[$1] ?? 0) }
        return t["enqueued"] == kept + (t["removed"] ?? -1) + (t["deleted"] ?? -1)
    }

    @Test func totalsAddUpAndSurviveARestart() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        try client.line("QUEUE stats keep_completed=3 keep_dead=2")
        #expect(try client.readLine() == "+OK")
        // 12 jobs: 6 complete, 2 fail once then complete, 3 die, 1 is deleted while waiting.
        for index in 0..<12 {
            try client.send("ENQ stats attempts=2 backoff=fixed:0s 1\r\n\(index % 10)\r\n")
            #expect(try client.readLine().hasPrefix("+OK "))
        }
        try client.line("DEL 12")
        #expect(try client.readLine() == "+OK")
        var runs = 0
        while true {
            try client.line("RESERVE stats timeout=0")
            let line = try client.readLine()
            if line == "NOJOB" { break }
            let fields = line.split(separator: " ")
            _ = try client.readBytes(Int(fields.last!)! + 2)
            let id = Int(fields[1])!
            let attempt = Int(fields[3])!
            runs += 1
            if id <= 6 || (id <= 8 && attempt == 2) {
                try client.line("ACK \(id)")
            } else {
                try client.line("FAIL \(id) retry=\(id >= 9 ? "no" : "0s")")
            }
            #expect(try client.readLine().hasPrefix("+OK"))
            if runs == 6 {
                // A restart in the middle: the totals carry on from where they were.
                #expect(first.stop() == 0)
                break
            }
        }
        let second = try first.restart()
        let again = try second.client()
        _ = try again.handshake()
        var (starts, acks, fails, deaths) = (0, 0, 0, 0)
        while true {
            try again.line("RESERVE stats timeout=0")
            let line = try again.readLine()
            if line == "NOJOB" { break }
            let fields = line.split(separator: " ")
            _ = try again.readBytes(Int(fields.last!)! + 2)
            let id = Int(fields[1])!
            let attempt = Int(fields[3])!
            starts += 1
            if id <= 6 || (id <= 8 && attempt == 2) {
                try again.line("ACK \(id)")
                acks += 1
            } else {
                try again.line("FAIL \(id) retry=\(id >= 9 ? "no" : "0s")")
                fails += 1
                if id >= 9 { deaths += 1 }
            }
            #expect(try again.readLine().hasPrefix("+OK"))
        }
        let document = try again.object("QUEUE stats")
        let t = totals(document)
        #expect(t["enqueued"] == 12 && t["completed"] == 8 && t["dead"] == 3 && t["deleted"] == 1)
        #expect(t["failed"] == 5 && t["started"] == 13)
        #expect(t["removed"] == (8 - 3) + (3 - 2))
        #expect(identityHolds(document), "\(document)")
        // Rates (over the last minute since this start) count their own event only.
        let rates = document["rates"] as? [String: Double] ?? [:]
        for (name, count) in [("started_per_s", starts), ("completed_per_s", acks), ("failed_per_s", fails), ("dead_per_s", deaths)] {
            #expect(abs((rates[name] ?? -1) * 60 - Double(count)) < 0.001, "\(name): \(rates[name] ?? -1) for \(count)")
        }
        #expect(acks > 0 && fails > 0 && acks != starts)
    }

    /// Jobs running when the server died count a failed attempt at the next start (a death when
    /// it was the last); those counts go to disk with the jobs they changed, so the start after
    /// that one still has them.
    @Test func failuresCountedAtARestartSurviveTheNextStart() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        try client.send("ENQ lost 1\r\na\r\nENQ lost attempts=1 1\r\nb\r\n")
        #expect(try [client.readLine(), client.readLine()] == ["+OK 1", "+OK 2"])
        for _ in 0..<2 {
            try client.line("RESERVE lost timeout=0")
            _ = try client.readMessage()
        }
        // A reservation is written with the next commit: an ENQ's reply says it has been.
        try client.send("ENQ other 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK 3")
        // Killed: a clean stop would end the running jobs itself, before any restart.
        first.crash()
        _ = first.waitForExit(timeout: 10)
        let restarted = try first.restart()
        // Stopped with no command in between: only what the start committed reaches the next one.
        #expect(restarted.stop() == 0)
        let server = try restarted.restart()
        let again = try server.client()
        _ = try again.handshake()
        let document = try again.object("QUEUE lost")
        #expect(totals(document)["started"] == 2 && totals(document)["failed"] == 2 && totals(document)["dead"] == 1, "\(totals(document))")
        #expect(jobs(document)["dead"] == 1 && jobs(document)["waiting"]! + jobs(document)["delayed"]! == 1, "\(jobs(document))")
        #expect(identityHolds(document), "\(document)")
    }

    @Test func aPausedQueueSaysSoInsteadOfAFarFutureTime() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ held 1\r\nx\r\nPAUSE held\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))
        #expect(try client.readLine() == "+OK")
        let document = try client.object("QUEUE held")
        #expect(document["next_start_at"] is NSNull)
        #expect(document["blocked_by"] as? String == "paused")
        try client.line("RESUME held")
        #expect(try client.readLine() == "+OK")
        #expect(try client.object("QUEUE held")["blocked_by"] is NSNull)
    }
}

/// Lame duck mode (SIGUSR2), as nats-server: clients told to move, no new ones, closes spread
/// over the duration, then a clean stop.
@Suite struct LameDuckModeTests {
    @Test func clientsAreToldThenClosedThenTheServerStops() throws {
        let server = try DocketdProcess(["--lame-duck-grace-period", "300ms", "--lame-duck-duration", "400ms"])
        var clients: [LineClient] = []
        var firstInfos: [[String: Any]] = []
        func fields(_ info: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(info.dropFirst(5).utf8)) as? [String: Any] ?? [:]
        }
        for _ in 0..<3 {
            let client = try server.client()
            firstInfos.append(try fields(client.handshake()))
            #expect(try client.sync() == [])
            clients.append(client)
        }
        let job = try server.client()
        _ = try job.handshake()
        try job.send("ENQ q 1\r\nx\r\n")
        #expect(try job.readLine() == "+OK 1")
        kill(server.pid, SIGUSR2)
        for (client, first) in zip(clients, firstInfos) {
            let info = try client.readLine()
            #expect(info.hasPrefix("INFO ") && info.contains(#""ldm":true"#), "\(info)")
            // As nats-server's: the whole INFO again, this connection's fields too (nats.go
            // replaces what it knows of the server with it; without client_id its
            // GetClientID() fails from then on).
            let update = try fields(info)
            #expect(update["client_id"] as? Int == first["client_id"] as? Int && update["client_id"] != nil, "\(info)")
            #expect(update["client_ip"] as? String == first["client_ip"] as? String && update["client_ip"] != nil, "\(info)")
        }
        #expect(server.log.waitForLine(containing: "Entering lame duck mode", timeout: 5) != nil)
        #expect(throws: (any Error).self) {
            let late = try server.client()
            _ = try late.readLine()
        }
        // Until the grace period ends, the clients are still served.
        try clients[0].line("PING")
        #expect(try clients[0].readLine() == "PONG")
        for client in clients { #expect(try client.readUntilClosed().isEmpty) }
        #expect(server.waitForExit(timeout: 10) == 0)
        // Its last lines may still be in the pipe when the process is gone.
        #expect(server.log.waitForLine(containing: "shutting down", timeout: 5) != nil, "\(server.log.text)")
        // Nothing acknowledged was lost on the way out.
        let again = try server.restart()
        let check = try again.client()
        _ = try check.handshake()
        try check.line("INSPECT 1")
        #expect(try check.readLine().hasPrefix("JSON "))
    }
}

/// A disk that fills while the server runs: the server stops, and nothing it acknowledged is lost.
@Suite struct FullDiskAtRunTimeTests {
    /// A fill of 2 KB jobs into a server whose files may not grow past a limit (`ulimit -f`:
    /// EFBIG, as on a full disk), then a start without the limit, which must hold every job that
    /// was acknowledged.
    /// - Unpaced, the write-ahead log outgrows the limit first (its file grows to hold a
    ///   checkpoint's window of batches).
    /// - Paced at 25 MB a tenth of a second at most, the log stays under the limit and data.mdb
    ///   reaches it during a checkpoint, which applies its window in LMDB transactions of about
    ///   4 MiB: the one that fails can follow others of the same checkpoint that were committed,
    ///   and the replay must redo them (a fault that writes the checkpoint's sequence with its
    ///   first transaction failed here in one run of four or five; `SplitCheckpointTests` cuts
    ///   a checkpoint at a chosen transaction).
    @Test(arguments: [(limitKiB: 10_240, chunkMilliseconds: 0), (limitKiB: 49_152, chunkMilliseconds: 2)])
    func aDiskFillingDuringABurstLosesNothingAcknowledged(limitKiB: Int, chunkMilliseconds: Int) throws {
        let server = try DocketdProcess(["--sync", "always"], shell: "ulimit -f \(limitKiB);")
        let payload = String(repeating: "d", count: 2000)
        var acknowledged: [Int] = []
        var ending = "a reply that was not +OK"
        do {
            let client = try server.client()
            // Under a full parallel test run a chunk's replies (each after an fsync) can take
            // seconds; a read that timed out would end the fill before the disk is full.
            client.timeout = 60
            _ = try client.handshake()
            let chunk = String(repeating: "ENQ fill \(payload.utf8.count)\r\n\(payload)\r\n", count: 250)
            let chunks = 2 * limitKiB * 1024 / (250 * 2000)  // twice what fits
            let start = Date()
            filling: for number in 0..<chunks {
                let due = start.addingTimeInterval(Double(number * chunkMilliseconds) / 1000)
                if due > Date() { usleep(UInt32(due.timeIntervalSinceNow * 1_000_000)) }
                try client.send(chunk)
                for _ in 0..<250 {
                    let reply = try client.readLine()
                    guard reply.hasPrefix("+OK "), let id = Int(reply.dropFirst(4)) else { break filling }
                    acknowledged.append(id)
                }
            }
        } catch {
            // The connection went with the server (or, if this says so, a read timed out).
            ending = "\(error)"
        }
        #expect(server.waitForExit(timeout: 20) != 0)
        // Its last lines may still be in the pipe when the process is gone.
        #expect(server.log.waitForLine(containing: "Store commit failed", timeout: 5) != nil, "the fill ended with \(ending); \(server.log.text)")
        #expect(acknowledged.count > 1000, "\(acknowledged.count) acknowledged")

        let restarted = try server.restart()
        defer { restarted.stop() }
        let client = try restarted.client()
        client.timeout = 60
        _ = try client.handshake()
        try client.send(String(repeating: "RESERVE fill timeout=0\r\n", count: acknowledged.count + 1))
        var found = Set<Int>()
        for _ in 0...acknowledged.count {
            let line = try client.readLine()
            if line == "NOJOB" { break }
            let fields = line.split(separator: " ")
            let size = try #require(Int(fields.last ?? ""))
            let body = try client.readBytes(size + 2)
            #expect(body.count == payload.utf8.count + 2)
            found.insert(try #require(Int(fields[1])))
        }
        let lost = Set(acknowledged).subtracting(found)
        #expect(lost.isEmpty, "\(lost.count) of \(acknowledged.count) acknowledged jobs lost, e.g. \(lost.sorted().prefix(5))")
    }
}
