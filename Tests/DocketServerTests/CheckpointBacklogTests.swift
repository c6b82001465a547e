import DocketTestSupport
import Foundation
import Testing

/// A producer faster than the checkpoints waits for them (`--max-checkpoint-backlog`): every
/// ENQ is still answered, in order, and everyone else is served meanwhile.
@Suite(.serialized) struct CheckpointBacklogTests {
    /// 20,000 ENQs of 1 KB pipelined under `--sync none` log 20 MB, twenty times the 1 MiB
    /// allowed ahead of the checkpoints: the producer waits (STATS counts it), gets every
    /// answer, and another client's PINGs are answered while it waits.
    @Test(arguments: ["none", "always"])
    func aProducerWaitsForTheCheckpointsAndOthersGoOn(_ sync: String) throws {
        let server = try DocketdProcess(["--sync", sync, "--max-checkpoint-backlog", "1MiB", "--max-pending", "64MiB"])
        defer { _ = server.stop() }
        let producer = try server.client()
        producer.timeout = 120
        _ = try producer.handshake()
        let other = try server.client()
        other.timeout = 60
        _ = try other.handshake()

        let count = 20_000
        let payload = String(repeating: "x", count: 1024)
        // Written while this thread reads the answers: the server stops reading the producer
        // while it waits, and a send of all 20 MB first would never end.
        nonisolated(unsafe) let writer = producer
        let sending = Thread {
            var pipeline = ""
            for _ in 0..<count { pipeline += "ENQ q 1024\r\n\(payload)\r\n" }
            try? writer.send(pipeline)
        }
        sending.start()
        var pings = 0
        var ids: [UInt64] = []
        while ids.count < count {
            let line = try producer.readLine()
            guard line.hasPrefix("+OK ") else {
                Issue.record("ENQ \(ids.count + 1) answered \(line)")
                return
            }
            ids.append(UInt64(line.dropFirst(4)) ?? 0)
            if ids.count % 2_000 == 0 {
                try other.line("PING")
                #expect(try other.readLine() == "PONG")
                pings += 1
            }
        }
        #expect(ids == ids.sorted() && Set(ids).count == count, "every ENQ answered once, in order")
        #expect(pings == 10)
        let stats = try other.object("STATS")
        #expect(stats["jobs"] as? Int == count)
        #expect((stats["checkpoint_waits"] as? Int ?? 0) > 0, "the producer never waited: \(stats["checkpoint_waits"] ?? "no such field")")
        #expect(server.stop() == 0)
    }
}
