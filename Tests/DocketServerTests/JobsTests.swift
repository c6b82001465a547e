import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// Durable jobs over real TCP: many workers, restarts, crashes.
@Suite struct JobsTests {
    @Test func jobsSurviveARestart() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        try client.send("ENQ mail 3\r\none\r\nENQ mail delay=1h 3\r\ntwo\r\nENQ mail pri=-1 5\r\nthree\r\n")
        #expect(try [client.readLine(), client.readLine(), client.readLine()] == ["+OK 1", "+OK 2", "+OK 3"])
        try client.line("RESERVE mail timeout=0")
        let (job, body) = try client.readMessage()
        #expect(plainJobLine(job) == "JOB 3 mail 1 5" && body == Array("three".utf8))
        try client.line("ACK 3")
        #expect(try client.readLine() == "+OK")
        #expect(first.stop() == 0)

        let second = try DocketdProcess(dataDirectory: first.dataDirectory)
        #expect(second.log.text.contains("Recovered 3 jobs"))
        #expect(second.log.text.contains("(1 waiting, 1 delayed, 0 blocked, 1 completed, 0 dead;"))
        let again = try second.client()
        _ = try again.handshake()
        try again.line("RESERVE mail timeout=0")
        let (line, payload) = try again.readMessage()
        #expect(plainJobLine(line) == "JOB 1 mail 1 3" && payload == Array("one".utf8))
        try again.line("RESERVE mail timeout=0")
        #expect(try again.readLine() == "NOJOB")  // job 2 is still delayed
        try again.line("INSPECT 3")
        let (_, document) = try again.readMessage()
        // Its payload was dropped from the store when it completed; its size is in the record.
        #expect(String(decoding: document, as: UTF8.self).contains(#""state":"completed""#))
        #expect(String(decoding: document, as: UTF8.self).contains(#""payload_bytes":5"#))
        // Ids keep growing after a restart.
        try again.send("ENQ mail 1\r\nx\r\n")
        #expect(try again.readLine() == "+OK 4")
    }

    @Test func aJobReservedBeforeItsFirstCommitComesWithItsPayload() throws {
        // The payload is with the server until the commit completes, then only in the store;
        // a RESERVE in the same pass as the ENQ, or while the commit runs, must find it too.
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        var batch = ""
        for number in 0..<50 { batch += "ENQ fresh 6\r\nbody\(String(format: "%02d", number))\r\nRESERVE fresh timeout=0\r\n" }
        try client.send(batch)
        var seen: [String] = []
        for _ in 0..<50 {
            #expect(try client.readLine().hasPrefix("+OK "))
            let (line, payload) = try client.readMessage()
            #expect(line.hasPrefix("JOB ") && plainJobLine(line).hasSuffix(" fresh 1 6"))
            seen.append(String(decoding: payload, as: UTF8.self))
        }
        #expect(seen == (0..<50).map { "body" + String(format: "%02d", $0) })
    }

    @Test func jobsReservedWhileSeveralCommitsAreInFlightComeWithTheirPayloads() throws {
        // Each ENQ arrives in a pass of its own, so its batch goes to the store while earlier
        // ones are still being flushed; a RESERVE a pass later must find the payload in
        // whichever of the batches in flight holds it (the store has none of them yet).
        let server = try DocketdProcess()
        let producer = try server.client()
        _ = try producer.handshake()
        let worker = try server.client()
        _ = try worker.handshake()
        let count = 80
        for number in 0..<count {
            try producer.send("ENQ flight 6\r\nbody\(String(format: "%02d", number))\r\n")
            usleep(30)
            try worker.line("RESERVE flight timeout=0")
        }
        var delivered: [UInt64: String] = [:]
        func take(_ line: String) throws {
            guard line != "NOJOB" else { return }
            let fields = plainJobLine(line).split(separator: " ")
            #expect(fields.count == 5 && fields[0] == "JOB" && fields[2] == "flight")
            let payload = try worker.readBytes(Int(fields[4])! + 2)
            delivered[UInt64(fields[1])!] = String(decoding: payload.dropLast(2), as: UTF8.self)
        }
        for _ in 0..<count { try take(worker.readLine()) }
        for _ in 0..<count { #expect(try producer.readLine().hasPrefix("+OK ")) }
        while delivered.count < count {
            try worker.line("RESERVE flight timeout=1s")
            try take(worker.readLine())
        }
        #expect(delivered == Dictionary(uniqueKeysWithValues: (0..<count).map { (UInt64($0 + 1), "body" + String(format: "%02d", $0)) }))
        #expect(server.stop() == 0)
    }

    /// A job goes out only once its ENQ is on disk. Handed out before, a crash took it back
    /// while a worker ran it, and the restarted server gave its id to the next ENQ: the first
    /// worker's ACK then completed a job it never saw.
    @Test func aJobIsNotHandedOutBeforeItsEnqueueIsDurable() throws {
        let server = try DocketdProcess(shell: try SlowFlush.shell(milliseconds: 1500))
        let worker = try server.client()
        _ = try worker.handshake()
        try worker.line("RESERVE ghost timeout=10s")
        let producer = try server.client()
        _ = try producer.handshake()
        usleep(100_000)
        try producer.send("ENQ ghost 5\r\nfirst\r\n")
        // The ENQ's flush takes 1.5 s: the job must not reach the worker meanwhile.
        #expect(!(try worker.hasData(within: 0.7)), "a job went out before its ENQ was durable")
        server.crash()
        #expect(try worker.readUntilClosed().isEmpty)
        // The killed process's write may have reached the kernel (it survives a process
        // crash, not a power cut): the first job is then there, under its own id.
        let restarted = try server.restart()
        let client = try restarted.client()
        _ = try client.handshake()
        try client.send("ENQ ghost 6\r\nsecond\r\nRESERVE ghost timeout=0\r\nRESERVE ghost timeout=0\r\n")
        let enqueued = try client.readLine()
        #expect(enqueued.hasPrefix("+OK "))
        var delivered: [String: String] = [:]
        for _ in 0..<2 {
            let (line, payload) = try client.readMessage()
            delivered[String(decoding: payload, as: UTF8.self)] = String(line.split(separator: " ")[1])
            if delivered["second"] != nil { break }
        }
        #expect(delivered["second"] == String(enqueued.dropFirst(4)))
        #expect(Set(delivered.values).count == delivered.count)
        #expect(restarted.stop() == 0)
    }

    /// Payloads rewritten by replace=true in commits that are all still being flushed: a
    /// RESERVE after them gets the newest, which its ENQ's +OK ... replaced promised.
    @Test func aReplacedPayloadIsTheOneDeliveredWhileOlderOnesAreStillBeingFlushed() throws {
        let server = try DocketdProcess(shell: try SlowFlush.shell(milliseconds: 300))
        let client = try server.client()
        _ = try client.handshake()
        for version in 0..<3 {
            try client.send("ENQ debounce key=k replace=true 2\r\nv\(version)\r\n")
            usleep(60_000)  // a loop pass, and a commit, of its own
        }
        try client.line("RESERVE debounce timeout=0")
        #expect(try client.readLine() == "+OK 1")
        #expect(try client.readLine() == "+OK 1 replaced")
        #expect(try client.readLine() == "+OK 1 replaced")
        let (line, payload) = try client.readMessage()
        #expect(line.hasPrefix("JOB 1 debounce 1 "))
        #expect(payload == Array("v2".utf8))
        #expect(server.stop() == 0)
    }

    @Test func theStoreKeepsPayloadsOnlyForJobsThatMayStillRun() throws {
        let server = try DocketdProcess(["--keep-completed", "2", "--keep-dead", "5"])
        let client = try server.client()
        _ = try client.handshake()
        var batch = ""
        for number in 1...6 { batch += "ENQ kept attempts=1 2\r\nj\(number)\r\n" }
        try client.send(batch)
        for _ in 1...6 { #expect(try client.readLine().hasPrefix("+OK ")) }
        // Jobs 1-4 complete (the oldest two are then forgotten), 5 dies, 6 waits.
        for id in 1...5 {
            try client.line("RESERVE kept timeout=0")
            #expect(try client.readMessage().0.hasPrefix("JOB \(id) "))
            try client.line(id == 5 ? "FAIL \(id)" : "ACK \(id)")
            #expect(try client.readLine().hasPrefix("+OK"))
        }
        #expect(server.stop() == 0)
        let store = try DataDirectory(path: server.dataDirectory.path)
        let loaded = try store.loadJobs()
        #expect(loaded.records.map(\.id) == [3, 4, 5, 6])
        #expect(loaded.records.map(\.payloadSize) == [nil, nil, 2, 2])
        #expect(try store.storedPayloadCount() == 2)
    }

    @Test func payloadsOfCompletedJobsAreDeletedInBulkAndAfterACrash() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        let total = 600
        var batch = ""
        for number in 1...total { batch += "ENQ bulk 3\r\n\(String(format: "%03d", number % 1000))\r\n" }
        try client.send(batch)
        for _ in 1...total { #expect(try client.readLine().hasPrefix("+OK ")) }
        batch = ""
        for id in 1...total { batch += "RESERVE bulk timeout=0\r\nACK \(id)\r\n" }
        try client.send(batch)
        for id in 1...total {
            #expect(try client.readMessage().0.hasPrefix("JOB \(id) "))
            #expect(try client.readLine() == "+OK")
        }
        // Deletes go out at least 512 at a time, so the crash finds some done.
        first.crash()
        #expect(try DataDirectory(path: first.dataDirectory.path).storedPayloadCount() < total)
        // Ten more complete: too few for a bulk delete, so a crash leaves their payloads...
        let second = try DocketdProcess(dataDirectory: first.dataDirectory)
        let again = try second.client()
        _ = try again.handshake()
        batch = ""
        for _ in 1...10 { batch += "ENQ bulk 1\r\nx\r\n" }
        try again.send(batch)
        var ids: [String] = []
        for _ in 1...10 { ids.append(String(try again.readLine().dropFirst(4))) }
        for id in ids {
            try again.line("RESERVE bulk timeout=0")
            _ = try again.readMessage()
            try again.line("ACK \(id)")
            #expect(try again.readLine() == "+OK")
        }
        second.crash()
        #expect(try DataDirectory(path: first.dataDirectory.path).storedPayloadCount() >= 10)
        // ...which recovery finds (completed jobs with a payload) and deletes.
        let third = try DocketdProcess(dataDirectory: first.dataDirectory)
        #expect(third.stop() == 0)
        #expect(try DataDirectory(path: first.dataDirectory.path).storedPayloadCount() == 0)
    }

    @Test func idsAreNeverHandedOutTwiceEvenAfterTheNewestJobsAreDeleted() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        try client.send("ENQ ids 1\r\na\r\nENQ ids 1\r\nb\r\nENQ ids 1\r\nc\r\n")
        #expect(try [client.readLine(), client.readLine(), client.readLine()] == ["+OK 1", "+OK 2", "+OK 3"])
        try client.line("DEL 3")
        #expect(try client.readLine() == "+OK")
        try client.line("DEL 2")
        #expect(try client.readLine() == "+OK")
        #expect(first.stop() == 0)
        let second = try DocketdProcess(dataDirectory: first.dataDirectory)
        let again = try second.client()
        _ = try again.handshake()
        try again.send("ENQ ids 1\r\nd\r\n")
        #expect(try again.readLine() == "+OK 4")
    }

    @Test func relaxedSyncStillSurvivesAProcessCrash() throws {
        // --sync none skips fsync, but the data is in the page cache: only an OS crash could
        // lose it, never a docketd crash.
        let first = try DocketdProcess(["--sync", "none"])
        let client = try first.client()
        _ = try client.handshake()
        var batch = ""
        for number in 0..<100 { batch += "ENQ relaxed \(String(number).utf8.count)\r\n\(number)\r\n" }
        try client.send(batch)
        for _ in 0..<100 { #expect(try client.readLine().hasPrefix("+OK ")) }
        first.crash()
        let second = try DocketdProcess(["--sync", "none"], dataDirectory: first.dataDirectory)
        #expect(second.log.text.contains("Recovered 100 jobs"))
    }

    @Test func waitingWorkersAreWokenAndServedInOrder() throws {
        let server = try DocketdProcess()
        let workers = try (0..<3).map { _ in try server.client() }
        for worker in workers { _ = try worker.handshake() }
        // Three workers wait, in a known order: a RESERVE that waits sends nothing back, so a
        // pause is the only way to be sure one arrived before the next is sent.
        for worker in workers {
            try worker.line("RESERVE work")
            usleep(50_000)
        }
        let producer = try server.client()
        _ = try producer.handshake()
        for number in 1...3 { try producer.send("ENQ work 1\r\n\(number)\r\n") }
        #expect(try [producer.readLine(), producer.readLine(), producer.readLine()] == ["+OK 1", "+OK 2", "+OK 3"])
        for (index, worker) in workers.enumerated() {
            let (control, body) = try worker.readMessage()
            #expect(plainJobLine(control) == "JOB \(index + 1) work 1 1")
            #expect(body == Array("\(index + 1)".utf8))
        }
    }

    @Test func commandsAfterAWaitingReserveWaitTheirTurn() throws {
        let server = try DocketdProcess()
        let worker = try server.client()
        _ = try worker.handshake()
        try worker.send("RESERVE q timeout=300ms\r\nPING\r\n")
        #expect(try worker.readLine() == "NOJOB")
        #expect(try worker.readLine() == "PONG")
    }

    @Test func aWorkerThatDisconnectsGivesItsJobBack() throws {
        let server = try DocketdProcess()
        let producer = try server.client()
        _ = try producer.handshake()
        try producer.send("ENQ q backoff=fixed:0s 4\r\ndata\r\n")
        #expect(try producer.readLine() == "+OK 1")
        var worker: LineClient? = try server.client()
        _ = try worker!.handshake()
        try worker!.line("RESERVE q")
        #expect(plainJobLine(try worker!.readMessage().0) == "JOB 1 q 1 4")
        worker = nil
        let other = try server.client()
        _ = try other.handshake()
        try other.line("RESERVE q timeout=5s")
        #expect(plainJobLine(try other.readMessage().0) == "JOB 1 q 2 4")
        try other.line("INSPECT 1")
        let (_, document) = try other.readMessage()
        #expect(String(decoding: document, as: UTF8.self).contains(#""last_error":"worker lost: connection closed""#))
    }

    @Test func manyWorkersCompleteEveryJobExactlyOnce() throws {
        let server = try DocketdProcess()
        let producer = try server.client()
        _ = try producer.handshake()
        let total = 400
        var batch = ""
        for number in 0..<total { batch += "ENQ batch \(String(number).utf8.count)\r\n\(number)\r\n" }
        try producer.send(batch)
        for _ in 0..<total { #expect(try producer.readLine().hasPrefix("+OK ")) }
        let record = Record()
        let port = server.port
        let threads = (0..<4).map { _ in
            Thread {
                do {
                    let worker = try LineClient(port: port)
                    _ = try worker.handshake()
                    while true {
                        try worker.line("RESERVE batch timeout=0")
                        let line = try worker.readLine()
                        if line == "NOJOB" { break }
                        let id = Int(line.split(separator: " ")[1])!
                        // Job n carries the number n - 1; its payload comes back from the store.
                        let payload = try worker.readBytes(Int(line.split(separator: " ").last!)! + 2)
                        guard payload == Array("\(id - 1)\r\n".utf8) else { throw HarnessError("job \(id) came with the wrong payload") }
                        try worker.line("ACK \(id)")
                        guard try worker.readLine() == "+OK" else { throw HarnessError("ACK refused") }
                        record.add(id)
                    }
                } catch {
                    record.fail("\(error)")
                }
                record.finish()
            }
        }
        for thread in threads { thread.start() }
        #expect(record.waitForFinish(count: 4, timeout: 30))
        #expect(record.failures.isEmpty)
        #expect(record.ids.count == total)
        #expect(Set(record.ids).count == total)
    }

    /// Producers and workers under load, `kill -9` at a random moment, restart on the same data,
    /// and check every promise with exact counts: each answered ENQ exists, no ACKed job runs
    /// again, and every other job is still delivered.
    @Test(arguments: 0..<3)
    func crashLosesNothingThatWasAcknowledged(round: Int) throws {
        let first = try DocketdProcess()
        let port = first.port
        let enqueued = Record()
        let acked = Record()
        let producers = (0..<2).map { producer in
            Thread {
                guard let client = try? LineClient(port: port), (try? client.handshake()) != nil else { return enqueued.finish() }
                var sequence = 0
                while true {
                    // A window of 16 pipelined ENQs, then their replies.
                    var batch = ""
                    for _ in 0..<16 {
                        let payload = "p\(producer)-\(sequence)"
                        sequence += 1
                        batch += "ENQ crash \(payload.utf8.count)\r\n\(payload)\r\n"
                    }
                    guard (try? client.send(batch)) != nil else { break }
                    var failed = false
                    for _ in 0..<16 {
                        guard let line = try? client.readLine(), line.hasPrefix("+OK ") else { failed = true; break }
                        enqueued.add(Int(line.dropFirst(4))!)
                    }
                    if failed { break }
                }
                enqueued.finish()
            }
        }
        let workers = (0..<2).map { _ in
            Thread {
                guard let client = try? LineClient(port: port), (try? client.handshake()) != nil else { return acked.finish() }
                while true {
                    guard (try? client.line("RESERVE crash timeout=50ms")) != nil, let line = try? client.readLine() else { break }
                    if line == "NOJOB" { continue }
                    let fields = line.split(separator: " ")
                    guard fields.count == 7, let id = Int(fields[1]), let size = Int(fields[6]),
                        (try? client.readBytes(size + 2)) != nil, (try? client.line("ACK \(id)")) != nil,
                        let reply = try? client.readLine(), reply == "+OK"
                    else { break }
                    acked.add(id)
                }
                acked.finish()
            }
        }
        for thread in producers + workers { thread.start() }
        usleep(UInt32.random(in: 200_000...700_000))
        first.crash()
        #expect(enqueued.waitForFinish(count: 2, timeout: 10))
        #expect(acked.waitForFinish(count: 2, timeout: 10))
        let enqueuedIDs = Set(enqueued.ids)
        let ackedIDs = Set(acked.ids)
        #expect(enqueuedIDs.count > 0, "round \(round): the producers got nothing done before the crash")

        let second = try DocketdProcess(dataDirectory: first.dataDirectory)
        let client = try second.client()
        _ = try client.handshake()
        // Drain everything left: nothing ACKed may come back, nothing comes twice.
        var redelivered: [Int] = []
        while true {
            try client.line("RESERVE crash timeout=0")
            let line = try client.readLine()
            if line == "NOJOB" { break }
            let fields = line.split(separator: " ")
            redelivered.append(Int(fields[1])!)
            _ = try client.readBytes(Int(fields.last!)! + 2)
        }
        #expect(Set(redelivered).isDisjoint(with: ackedIDs), "round \(round): an ACKed job ran again")
        #expect(Set(redelivered).count == redelivered.count, "round \(round): a job came twice")
        // Every answered ENQ is accounted for: ACKed before the crash, delivered again now, or
        // completed by an ACK that reached the disk while its +OK was lost in the crash.
        var unaccounted: [String] = []
        for id in enqueuedIDs.subtracting(ackedIDs).subtracting(redelivered) {
            try client.line("INSPECT \(id)")
            let line = try client.readLine()
            if line.hasPrefix("JSON ") {
                let document = String(decoding: try client.readBytes(Int(line.dropFirst(5))! + 2), as: UTF8.self)
                if document.contains(#""state":"completed""#) { continue }
                unaccounted.append("\(id): \(document)")
            } else {
                unaccounted.append("\(id): \(line)")
            }
        }
        #expect(unaccounted.isEmpty, "round \(round): \(unaccounted.count) of \(enqueuedIDs.count) answered jobs unaccounted for, e.g. \(unaccounted.prefix(3))")
        #expect(second.stop() == 0)
    }
}

/// Ids collected from several threads.
final class Record: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [Int] = []
    private var problems: [String] = []
    private var finished = 0

    func add(_ id: Int) { lock.withLock { collected.append(id) } }
    func fail(_ problem: String) { lock.withLock { problems.append(problem) } }
    func finish() { lock.withLock { finished += 1 } }

    var ids: [Int] { lock.withLock { collected } }
    var failures: [String] { lock.withLock { problems } }

    func waitForFinish(count: Int, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if lock.withLock({ finished >= count }) { return true }
            usleep(5_000)
        }
        return false
    }
}
