import DocketTestSupport
import Foundation
import Testing

extension ClusterTests {
    /// `/healthz` of `node`: the status code and the body as JSON.
    func health(_ node: DocketdProcess, _ query: String = "") throws -> (status: Int, document: [String: Any]) {
        let (status, body) = try node.httpGet("/healthz" + query)
        let document = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return (status, try #require(document, "not a JSON object: \(body)"))
    }

    /// What `found` finds in `node`'s `/healthz` (polled for 20 s at most), which must answer
    /// 200 all along: a node that serves its own clients is healthy, whatever its peers.
    func awaitHealth<Found>(of node: DocketdProcess, _ what: String, _ found: ([String: Any]) -> Found?) throws -> Found {
        let deadline = Date().addingTimeInterval(20)
        var last: [String: Any] = [:]
        while Date() < deadline {
            let (status, document) = try health(node)
            #expect(status == 200, "\(document)")
            if let result = found(document) { return result }
            last = document
            usleep(100_000)
        }
        throw HarnessError("\(what) not within 20 s: \(last)")
    }

    /// `node`'s only configured route once it is in `state`, and `/healthz?cluster=true`'s
    /// status code then.
    func routeHealth(of node: DocketdProcess, once state: String) throws -> (route: [String: Any], strictStatus: Int) {
        let route = try awaitHealth(of: node, "the route \(state)") { document in
            (document["routes"] as? [[String: Any]]).flatMap { $0.count == 1 && $0[0]["state"] as? String == state ? $0[0] : nil }
        }
        return (route, try health(node, "?cluster=true").status)
    }

    /// A node routed to a peer: `/healthz` lists the route up, with the peer's name and since
    /// when; the peer killed, the route down (200 still: the node serves its own clients;
    /// 503 with `?cluster=true`); the peer back, up again. Before, `/healthz` said only "ok".
    @Test func healthzTellsEachConfiguredRouteAndSinceWhen() throws {
        let routePort = try freeLoopbackPort()
        let peerFlags = ["--cluster", "nats://127.0.0.1:\(routePort)", "--name", "peer"]
        var peer = try DocketdProcess(peerFlags)
        let node = try DocketdProcess(["--routes", "nats://127.0.0.1:\(routePort)", "-m", "0"])
        defer { _ = node.stop() }

        let up = try routeHealth(of: node, once: "up")
        #expect(up.route["url"] as? String == "127.0.0.1:\(routePort)" && up.route["remote_name"] as? String == "peer", "\(up.route)")
        #expect(up.strictStatus == 200)
        let upSince = try #require(up.route["since"] as? String)

        peer.crash()
        let down = try routeHealth(of: node, once: "down")
        #expect(down.strictStatus == 503, "?cluster=true: a route down is a 503")
        let downSince = try #require(down.route["since"] as? String)
        #expect(downSince >= upSince, "since when it is down, not since it was up: \(upSince), \(downSince)")
        let strict = try health(node, "?cluster=true").document
        #expect(strict["status"] as? String == "unavailable" && (strict["error"] as? String)?.contains("\(routePort)") == true, "\(strict)")

        peer = try DocketdProcess(peerFlags)
        defer { _ = peer.stop() }
        let back = try routeHealth(of: node, once: "up")
        #expect(back.strictStatus == 200)
        #expect(try #require(back.route["since"] as? String) >= downSince)

        let (badStatus, badBody) = try node.httpGet("/healthz?cluster=maybe")
        #expect(badStatus == 400 && badBody.contains("invalid cluster: maybe"), "\(badBody)")
    }

    /// The nats-server cluster link (`--cluster-nats`) in `/healthz`: up, with since when; its
    /// server killed, down (503 only with `?cluster=true`).
    @Test func healthzTellsTheClusterLinkAndSinceWhen() throws {
        guard NATSCluster.binary != nil else {
            print("ClusterTests skipped: nats-server is not installed")
            return
        }
        let cluster = try NATSCluster(count: 2)
        let node = try DocketdProcess(["--cluster-nats", cluster.nodes[0].url, "-m", "0"])
        defer { _ = node.stop() }
        func link(once state: String) throws -> [String: Any] {
            try awaitHealth(of: node, "the link \(state)") { ($0["cluster"] as? [String: Any]).flatMap { $0["state"] as? String == state ? $0 : nil } }
        }
        let up = try link(once: "up")
        #expect(up["since"] is String && up["connected"] as? Bool == true, "\(up)")
        #expect(try health(node, "?cluster=true").status == 200)
        cluster.kill(0)
        let down = try link(once: "down")
        #expect((down["since"] as? String ?? "") >= (up["since"] as? String ?? "~"), "\(down)")
        #expect(try health(node, "?cluster=true").status == 503)
    }
}
