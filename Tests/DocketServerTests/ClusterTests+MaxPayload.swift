import DocketTestSupport
import Foundation
import Testing

extension ClusterTests {
    /// nats-servers with a `max_payload` far below docketd's, joined in a cluster of two.
    func smallPayloadCluster(_ maxPayload: Int) throws -> NATSCluster? {
        guard NATSCluster.binary != nil else {
            print("ClusterTests skipped: nats-server is not installed")
            return nil
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nats-max-payload-\(getpid())-\(maxPayload).conf")
        try "max_payload: \(maxPayload)\n".write(to: file, atomically: true, encoding: .utf8)
        return try NATSCluster(count: 2, arguments: ["-c", file.path])
    }

    /// A PUB that docketd accepts but the nats-server would refuse (`Maximum Payload
    /// Violation`, and the connection closed) stays on its node: the link stays up, the
    /// messages around it cross, and the refusal is counted. Before, each such PUB dropped the
    /// link and what was in flight on it.
    @Test func aMessageOverTheClusterMaxPayloadStaysOnItsNodeAndTheLinkStaysUp() throws {
        guard let cluster = try smallPayloadCluster(1024) else { return }
        let servers = try cluster.nodes.map { try DocketdProcess(["--cluster-nats", $0.url]) }
        let a = try client(servers[0])
        let b = try client(servers[1])
        for node in [a, b] {
            try node.line("SUB news 1")
            try node.sync()
        }
        try awaitFlow(a, b, subject: "news", sid: "1")
        _ = drain(a)

        let large = String(repeating: "x", count: 2000)
        for index in 0..<3 {
            try a.send("PUB news 2000\r\n\(large)\r\n")
            try a.send("PUB news 6\r\nsmall\(index)\r\n")
        }
        #expect(drain(b) == ["small0", "small1", "small2"], "the cluster's subscribers get every message that fits")
        let local = drain(a)
        #expect(local.count == 6 && local.filter { $0 == large }.count == 3, "this node's subscribers get all of them")

        let stats = try a.object("STATS")
        let link = try #require(stats["cluster"] as? [String: Any])
        #expect(link["connected"] as? Bool == true)
        #expect(link["reconnects"] as? Int == 0, "the link was never dropped: \(link)")
        #expect(link["max_payload"] as? Int == 1024 && link["oversized_msgs"] as? Int == 3, "\(link)")
        let warning = servers[0].log.lines.filter { $0.contains("over the server's max_payload of 1024") }
        #expect(warning.count == 1, "one log line for the three (throttled): \(warning)")
        for server in servers { #expect(server.stop() == 0) }
    }
}
