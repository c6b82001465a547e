import DocketTestSupport
import Foundation
import Testing

/// Queue policies over TCP, with several workers competing.
@Suite struct QueuePolicyTests {
    /// Runs `workers` threads that each RESERVE and ACK until the queue stays empty, and
    /// returns the start time (unix ms, from INSPECT) of every job.
    func drain(_ server: DocketdProcess, queue: String, workers: Int, jobs: Int) throws -> [Int] {
        let record = Record()
        let port = server.port
        for _ in 0..<workers {
            Thread {
                do {
                    let worker = try LineClient(port: port)
                    _ = try worker.handshake()
                    while true {
                        try worker.line("RESERVE \(queue) timeout=1500ms")
                        let line = try worker.readLine()
                        if line == "NOJOB" { break }
                        let fields = line.split(separator: " ")
                        _ = try worker.readBytes(Int(fields.last!)! + 2)
                        try worker.line("ACK \(fields[1])")
                        guard try worker.readLine() == "+OK" else { throw HarnessError("ACK refused") }
                        record.add(Int(fields[1])!)
                    }
                } catch {
                    record.fail("\(error)")
                }
                record.finish()
            }.start()
        }
        #expect(record.waitForFinish(count: workers, timeout: 60))
        #expect(record.failures.isEmpty, "\(record.failures)")
        #expect(Set(record.ids).count == jobs)
        let inspector = try server.client()
        _ = try inspector.handshake()
        return try record.ids.map { id in
            try inspector.line("INSPECT \(id)")
            let (_, body) = try inspector.readMessage()
            let json = try JSONSerialization.jsonObject(with: Data(body)) as! [String: Any]
            return json["started_at"] as! Int
        }
    }

    @Test func rateLimitHoldsAcrossWorkersAndStillDelivers() throws {
        let server = try DocketdProcess()
        let producer = try server.client()
        _ = try producer.handshake()
        try producer.line("QUEUE limited rate=20/500ms")
        #expect(try producer.readLine() == "+OK")
        var batch = ""
        for number in 0..<60 { batch += "ENQ limited \(String(number).utf8.count)\r\n\(number)\r\n" }
        try producer.send(batch)
        for _ in 0..<60 { #expect(try producer.readLine().hasPrefix("+OK")) }
        let starts = try drain(server, queue: "limited", workers: 10, jobs: 60).sorted()
        // Never more than 20 starts in any 500 ms window...
        for (index, start) in starts.enumerated() {
            #expect(starts[index...].prefix { $0 < start + 500 }.count <= 20)
        }
        // ...and close to 20 per 500 ms when there is enough work: 60 jobs take two windows.
        let span = starts.last! - starts.first!
        #expect(span >= 1000 && span < 2000, "60 starts took \(span) ms")
    }

    @Test func concurrencyCapHoldsAcrossWorkers() throws {
        let server = try DocketdProcess()
        let control = try server.client()
        _ = try control.handshake()
        try control.line("QUEUE capped concurrency=3")
        #expect(try control.readLine() == "+OK")
        for number in 0..<6 {
            try control.send("ENQ capped 1\r\n\(number)\r\n")
            _ = try control.readLine()
        }
        let workers = try (0..<6).map { _ in try server.client() }
        for worker in workers {
            _ = try worker.handshake()
            try worker.line("RESERVE capped timeout=0")
        }
        let got = try workers.map { try $0.readLine() }
        #expect(got.filter { $0.hasPrefix("JOB") }.count == 3)
        #expect(got.filter { $0 == "NOJOB" }.count == 3)
        try control.line("QUEUE capped")
        let (_, body) = try control.readMessage()
        #expect(String(decoding: body, as: UTF8.self).contains(#""active":3"#))
    }

    @Test func settingsSurviveARestart() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        try client.line("QUEUE kept rate=5/1s concurrency=2")
        #expect(try client.readLine() == "+OK")
        try client.line("PAUSE kept")
        #expect(try client.readLine() == "+OK")
        #expect(first.stop() == 0)
        let second = try DocketdProcess(dataDirectory: first.dataDirectory)
        let again = try second.client()
        _ = try again.handshake()
        try again.line("QUEUE kept")
        let (_, body) = try again.readMessage()
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.contains(#""paused":true"#))
        #expect(text.contains(#""rate":"5/1000ms""#))
        #expect(text.contains(#""concurrency":2"#))
    }
}
