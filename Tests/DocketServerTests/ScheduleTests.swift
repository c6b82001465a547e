import DocketTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Schedules across a crash: no tick fires twice, and the ticks missed while docketd was down
/// follow `catchup=`, on both job stores.
@Suite(.serialized) struct ScheduleTests {
    struct Case: CustomStringConvertible, Sendable {
        let catchup: String
        let postgres: Bool
        var description: String { "catchup=\(catchup) on \(postgres ? "postgres" : "lmdb")" }
    }

    /// The ticks of every job the schedule made, ascending (from their keys).
    func ticks(_ client: LineClient) throws -> [Int64] {
        var ticks: [Int64] = []
        for state in ["waiting", "completed"] {
            let page = try client.object("LIST q state=\(state) limit=1000")
            for job in page["jobs"] as? [[String: Any]] ?? [] {
                guard let key = job["key"] as? String, let tick = key.split(separator: "@").last.flatMap({ Int64($0) }) else { continue }
                ticks.append(tick)
            }
        }
        return ticks.sorted()
    }

    /// A tick's job that was done and removed no longer answers for its key, so only the
    /// schedule's stored last tick keeps a restart from making it again. That tick is written
    /// apart from the schedule's record (which holds the payload and is not rewritten per tick):
    /// after a crash the later of the two must count.
    @Test func aCrashNeverRepeatsTicksWhoseJobsAreGone() async throws {
        // Under a full parallel run this test has taken over two minutes, and the server's PING
        // (every 2 min) then came where a reply was read: pings are not what it tests.
        let first = try DocketdProcess(["--ping-interval", "1h"])
        let client = try first.client()
        _ = try client.handshake()
        try client.line("QUEUE q keep_completed=0")
        #expect(try client.readLine() == "+OK")
        try client.send("SCHEDULE s q every=1s catchup=all 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK")
        var done: [Int64] = []
        for _ in 0..<3 {
            try client.line("RESERVE q timeout=5s")
            let header = try client.readLine()
            #expect(header.hasPrefix("JOB "), "\(header)")
            _ = try client.readLine()
            let id = header.split(separator: " ")[1]
            let key = try client.object("INSPECT \(id)")["key"] as? String ?? ""
            done.append(Int64(key.split(separator: "@").last ?? "") ?? 0)
            try client.line("ACK \(id)")
            #expect(try client.readLine() == "+OK")
        }
        first.crash()
        let second = try DocketdProcess(["--ping-interval", "1h"], dataDirectory: first.dataDirectory)
        let again = try second.client()
        _ = try again.handshake()
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let made = try ticks(again)
        #expect(!made.isEmpty)
        #expect(made.allSatisfy { $0 > done.max()! }, "ticks \(done) were done, yet the restart made \(made)")
        #expect(second.stop() == 0)
    }

    @Test(arguments: [Case(catchup: "none", postgres: false), Case(catchup: "all", postgres: false), Case(catchup: "one", postgres: true)])
    func missedTicksFollowCatchupAndNoneRepeats(_ scenario: Case) async throws {
        var flags: [String] = []
        if scenario.postgres {
            guard case .success(let cluster) = TestPostgres.shared else { return }
            flags = ["--store", "postgres://\(TestPostgres.user)@127.0.0.1:\(cluster.port)/\(try cluster.createDatabase())"]
        }
        let first = try DocketdProcess(flags)
        let client = try first.client()
        _ = try client.handshake()
        try client.send("SCHEDULE s q every=1s catchup=\(scenario.catchup) 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK")
        // Two ticks, then a crash, and three seconds down.
        let deadline = Date().addingTimeInterval(10)
        while try ticks(client).count < 2 && Date() < deadline { try await Task.sleep(nanoseconds: 100_000_000) }
        let before = try ticks(client)
        first.crash()
        try await Task.sleep(nanoseconds: 3_300_000_000)

        // Taken before the start: the restarted server fires at this time or later, so its
        // on-time ticks (at most 1 s old when it fires) all come after `restartedAt - 1000`.
        let restartedAt = Int64(Date().timeIntervalSince1970 * 1000)
        let second = scenario.postgres ? try DocketdProcess(flags) : try DocketdProcess(flags, dataDirectory: first.dataDirectory)
        let again = try second.client()
        _ = try again.handshake()
        // Wait for the first on-time tick after the restart.
        let until = Date().addingTimeInterval(10)
        var after = try ticks(again)
        while (after.last ?? 0) < restartedAt && Date() < until {
            try await Task.sleep(nanoseconds: 100_000_000)
            after = try ticks(again)
        }
        #expect(Set(after).count == after.count, "a tick made two jobs")
        #expect(after.starts(with: before.filter { $0 <= before.last! }), "jobs made before the crash are all there")
        let lastBefore = try #require(before.last)
        let missed = after.filter { $0 > lastBefore && $0 < restartedAt - 1000 }
        switch scenario.catchup {
        case "none": #expect(missed.isEmpty, "\(missed)")
        case "one":
            // The one catch-up job is at the latest missed tick, which a slow start can push
            // past `restartedAt - 1000`; either way there is at most one, and a job came.
            #expect(missed.count <= 1, "\(missed)")
            #expect(after.contains { $0 > lastBefore && $0 <= restartedAt + 1000 }, "\(after)")
        default:
            // Every tick of the downtime, one second apart.
            #expect(missed.count >= 2, "\(missed)")
            let gaps = zip(after.dropFirst(), after).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 == 1000 }, "\(after)")
        }
        #expect(second.stop() == 0)
    }

    /// Two docketd on one PostgreSQL database both fire every schedule. The key `<name>@<tick>`
    /// stopped the second job only while the first was kept: once it was deleted (or worked and
    /// trimmed by retention) before the other docketd fired the same tick, that one made it
    /// again. Now the docketd that claims a schedule's ticks second makes nothing.
    @Test func twoServersOnOneDatabaseMakeOneJobPerTick() async throws {
        guard case .success(let cluster) = TestPostgres.shared else { return }
        let store = "postgres://\(TestPostgres.user)@127.0.0.1:\(cluster.port)/\(try cluster.createDatabase())"
        let first = try DocketdProcess(["--store", store, "--ping-interval", "1h"])
        defer { _ = first.stop() }
        let second = try DocketdProcess(["--store", store, "--ping-interval", "1h"])
        defer { _ = second.stop() }
        let client = try first.client()
        _ = try client.handshake()
        for index in 0..<20 {
            try client.send("SCHEDULE s\(index) q every=1s 1\r\nx\r\n")
            #expect(try client.readLine() == "+OK")
        }
        // Each job deleted as soon as it is seen (its key with it): the job ids each tick made.
        var made: [String: Set<Int>] = [:]
        let until = Date().addingTimeInterval(6)
        while Date() < until {
            let page = try client.object("LIST q state=waiting limit=1000")
            for job in page["jobs"] as? [[String: Any]] ?? [] {
                guard let id = job["id"] as? Int, let key = job["key"] as? String else { continue }
                made[key, default: []].insert(id)
                try client.line("DEL \(id)")
                #expect(try client.readLine() == "+OK")
            }
        }
        #expect(made.count >= 20 * 3, "\(made.count) ticks made jobs")
        let twice = made.filter { $0.value.count > 1 }
        #expect(twice.isEmpty, "ticks that made two jobs: \(twice)")
    }

    /// Every SCHEDULE (and every tick) had the timer work out the next tick of each schedule
    /// anew: making the default `--max-schedules` of 10,000 took over three minutes, the loop
    /// stalling for 20 s per pass of pipelined SCHEDULEs. A schedule's next tick is now worked
    /// out once per tick it handles, and a new one only arms the timer earlier. 5,000 took 50 to 95 s
    /// before; they take about one second now. The earliest still fires on time.
    @Test func thousandsOfSchedulesAreMadeWithoutStallingTheLoop() async throws {
        let server = try DocketdProcess(["--ping-interval", "1h"])
        defer { _ = server.stop() }
        let client = try server.client()
        client.timeout = 60
        _ = try client.handshake()
        let zones = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]
        let started = Date()
        for batch in stride(from: 0, to: 5000, by: 500) {
            var commands = ""
            for index in batch..<batch + 500 {
                commands += "SCHEDULE s\(index) q cron=\"\(index % 60) \(index % 24) * * *\" tz=\(zones[index % zones.count]) 1\r\nx\r\n"
            }
            try client.send(commands)
            for _ in 0..<500 { #expect(try client.readLine() == "+OK") }
        }
        let took = Date().timeIntervalSince(started)
        #expect(took < 20, "5,000 SCHEDULEs took \(took) s")
        // A schedule made after them, due first, fires on time.
        try client.send("SCHEDULE fast now every=1s 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK")
        try client.line("RESERVE now timeout=5s")
        #expect(try client.readMessage().0.hasPrefix("JOB "), "the earliest schedule made no job")
    }

    /// SCHEDULES answered every schedule in one reply: 100,000 of them made 28 MB and held the
    /// loop for 2 s, past max_payload through `$DOCKET.API`. It answers a page now: 100 by
    /// default, and fewer when the next would take the reply past max_payload; `after=` the
    /// last name goes on, and every schedule comes once.
    @Test(arguments: [[], ["--max-payload", "2048"]])
    func schedulesComeInPages(_ flags: [String]) throws {
        let server = try DocketdProcess(flags)
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.handshake()
        let names = (0..<150).map { "s" + String(1000 + $0) }
        try client.send(names.shuffled().map { "SCHEDULE \($0) q every=1h 0\r\n\r\n" }.joined())
        for _ in names { #expect(try client.readLine() == "+OK") }
        var seen: [String] = []
        var pages: [Int] = []
        while true {
            try client.line("SCHEDULES" + (seen.last.map { " after=\($0)" } ?? ""))
            let (control, body) = try client.readMessage()
            #expect(body.count <= (flags.isEmpty ? 1 << 20 : 2048), "\(control)")
            let page = try JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]] ?? []
            if page.isEmpty { break }
            pages.append(page.count)
            seen += page.compactMap { $0["name"] as? String }
        }
        #expect(seen == names)
        if flags.isEmpty { #expect(pages == [100, 50]) } else { #expect(pages.count > 2 && pages.allSatisfy { $0 < 100 }, "\(pages)") }
    }

    static let fakeTime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

    /// The schedule timer counts on the loop's monotonic clock, ticks are wall-clock times. A
    /// timer armed an hour ahead once slept the whole hour: a wall clock set forward meanwhile
    /// (an NTP step, a VM resumed) made the tick fire late by the jump, past its grace, and
    /// `catchup=none` skipped it. libfaketime moves docketd's wall clock alone.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: fakeTime), "libfaketime is not installed (apt-get install faketime)"))
    func aWallClockSetForwardStillFiresTheTickOnTime() async throws {
        let clock = try FakeClockServer()
        defer { clock.stop() }
        let client = try clock.server.client()
        _ = try client.handshake()
        try client.send("SCHEDULE hourly q every=1h catchup=none 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK")
        // Two seconds before the first tick, on docketd's wall clock.
        try clock.set(3598)
        try client.line("RESERVE q timeout=8s")
        #expect(try client.readMessage().0.hasPrefix("JOB "), "the tick made no job")
    }

    /// A wall clock set back (an NTP step) makes no tick fire twice: nothing fires until the
    /// clock passes the last tick handled again, and the ticks after it then follow `catchup`.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: fakeTime), "libfaketime is not installed (apt-get install faketime)"))
    func aWallClockSetBackFiresNoTickTwice() async throws {
        let clock = try FakeClockServer()
        defer { clock.stop() }
        let client = try clock.server.client()
        _ = try client.handshake()
        try client.send("SCHEDULE s q every=1s catchup=all 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK")
        let deadline = Date().addingTimeInterval(10)
        while try ticks(client).count < 2 && Date() < deadline { try await Task.sleep(nanoseconds: 100_000_000) }
        try clock.set(-30)
        let before = try ticks(client)
        try await Task.sleep(nanoseconds: 3_000_000_000)
        #expect(try ticks(client) == before, "ticks fired while the clock was behind the last one handled")
        try clock.set(0)
        let until = Date().addingTimeInterval(10)
        var after = try ticks(client)
        while after.count < before.count + 3 && Date() < until {
            try await Task.sleep(nanoseconds: 100_000_000)
            after = try ticks(client)
        }
        #expect(Set(after).count == after.count, "a tick made two jobs: \(after)")
        #expect(zip(after.dropFirst(), after).allSatisfy { $0 - $1 == 1000 }, "\(after)")
        #expect(after.count >= before.count + 3, "\(after)")
    }
}

/// A docketd whose wall clock alone libfaketime moves (`set`); its monotonic clock is left alone.
struct FakeClockServer {
    let server: DocketdProcess
    let offset = FileManager.default.temporaryDirectory.appendingPathComponent("docket-faketime-\(UUID().uuidString)")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-test-\(UUID().uuidString)")

    init() throws {
        try "+0\n".write(to: offset, atomically: true, encoding: .utf8)
        // Under libfaketime docketd does not see its arguments; the environment carries them.
        server = try DocketdProcess(
            dataDirectory: directory,
            shell: "export LD_PRELOAD='\(ScheduleTests.fakeTime)' FAKETIME_TIMESTAMP_FILE='\(offset.path)' FAKETIME_NO_CACHE=1 "
                + "DONT_FAKE_MONOTONIC=1 DOCKET_PORT=0 DOCKET_DATA_DIR='\(directory.path)' DOCKET_PING_INTERVAL=1h;")
    }

    /// docketd's wall clock from now on: `seconds` ahead of the real one (behind if negative).
    func set(_ seconds: Int) throws {
        try "\(seconds < 0 ? "" : "+")\(seconds)\n".write(to: offset, atomically: true, encoding: .utf8)
    }

    func stop() {
        _ = server.stop()
        try? FileManager.default.removeItem(at: offset)
        try? FileManager.default.removeItem(at: directory)
    }
}
