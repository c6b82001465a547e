import DocketTestSupport
import Foundation
import Testing

/// The server's resident set holds its own memory, not data.mdb: pages read through LMDB's map
/// (a recovery's walk, a writer's appends and, by the kernel's fault-around, their neighbours)
/// are given back, to stay in the page cache only.
@Suite(.serialized) struct MappedMemoryTests {
    /// 60,000 jobs of 500 bytes: a data file of about 40 MB, far above what is left mapped.
    static let jobs = 60_000
    static let payload = String(repeating: "p", count: 500)

    @Test func aRecoveryDoesNotKeepTheFileItWalkedMapped() throws {
        let empty = try DocketdProcess(["--sync", "none"])
        let baseline = try Self.fileBackedBytes(empty.pid)
        try Self.fill(empty)
        #expect(empty.stop() == 0)
        let restarted = try empty.restart()
        #expect(restarted.log.text.contains("Recovered \(Self.jobs) jobs"))
        try Self.expectLittleMapped(restarted, baseline: baseline, after: "recovery")
        // What was given back is still there to be read.
        try Self.expectNextJob(restarted, id: 1)
    }

    @Test(arguments: ["always", "none"])
    func aFilledServerDoesNotKeepTheFileItWroteMapped(sync: String) throws {
        let server = try DocketdProcess(["--sync", sync])
        let baseline = try Self.fileBackedBytes(server.pid)
        try Self.fill(server)
        try Self.complete(server, jobs: 20_000)
        // Checkpoints (and, with --sync none, the release) come every tenth of a second.
        usleep(500_000)
        try Self.expectLittleMapped(server, baseline: baseline, after: "the fill")
        try Self.expectNextJob(server, id: 20_001)
    }

    /// Under a fifth of a data file of over 30 MB is mapped beyond what the empty server had.
    static func expectLittleMapped(_ server: DocketdProcess, baseline: Int, after: String) throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: server.dataDirectory.appendingPathComponent("data.mdb").path)
        let dataFile = try #require(attributes[.size] as? Int)
        #expect(dataFile > 30_000_000)
        let mapped = try fileBackedBytes(server.pid) - baseline
        #expect(mapped < dataFile / 5, "\(mapped) bytes of a \(dataFile)-byte data file left mapped after \(after)")
    }

    static func expectNextJob(_ server: DocketdProcess, id: Int) throws {
        let client = try server.client()
        _ = try client.handshake()
        try client.line("RESERVE fill timeout=0")
        let (line, body) = try client.readMessage()
        #expect(line.hasPrefix("JOB \(id) fill ") && body == Array(payload.utf8))
    }

    /// Runs the first `jobs` jobs: RESERVE and ACK pipelined, so that records all over the
    /// file are rewritten and payloads read and deleted.
    static func complete(_ server: DocketdProcess, jobs: Int) throws {
        let client = try server.client()
        _ = try client.handshake()
        for start in stride(from: 1, to: jobs + 1, by: 1000) {
            try client.send(String(repeating: "RESERVE fill timeout=0\r\n", count: 1000))
            var ids: [Int] = []
            for _ in 0..<1000 {
                let (line, _) = try client.readMessage()
                ids.append(try #require(Int(line.split(separator: " ")[1])))
            }
            #expect(ids.first == start)
            try client.send(ids.map { "ACK \($0)\r\n" }.joined())
            for _ in 0..<1000 {
                let reply = try client.readLine()
                guard reply == "+OK" else { throw HarnessError("ACK answered \(reply)") }
            }
        }
    }

    /// Pipelined ENQs, a thousand at a time.
    static func fill(_ server: DocketdProcess) throws {
        let client = try server.client()
        _ = try client.handshake()
        let command = "ENQ fill \(payload.utf8.count)\r\n\(payload)\r\n"
        let chunk = String(repeating: command, count: 1000)
        for _ in 0..<(jobs / 1000) {
            try client.send(chunk)
            for _ in 0..<1000 {
                let reply = try client.readLine()
                guard reply.hasPrefix("+OK ") else { throw HarnessError("ENQ answered \(reply)") }
            }
        }
    }

    static func fileBackedBytes(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssFile:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])) * 1024
    }
}
