import DocketPostgres
import XCTest

/// Nodes sharing one database (`docket.node_heartbeat`), on the database clock the test moves.
final class NodeTests: JobStoreTestCase {
    func heartbeat(_ node: String, timeout: Int = 10_000) throws -> [PostgresEndedAttempt] {
        try transaction { connection, done in
            store.heartbeat(node: node, timeoutMilliseconds: timeout, on: connection, completion: done)
        }.get()
    }

    func liveNodes(timeout: Int = 10_000) throws -> [String] {
        try transaction { connection, done in
            store.liveNodes(timeoutMilliseconds: timeout, on: connection, completion: done)
        }.get().map(\.id)
    }

    func testASilentNodesJobsAreTakenBackAsLost() throws {
        try setNow(20_000_000)
        XCTAssertEqual(try heartbeat("NA"), [])
        XCTAssertEqual(try heartbeat("NB"), [])
        XCTAssertEqual(try liveNodes(), ["NA", "NB"])
        let held = try enqueue("work") {
            $0.leaseMilliseconds = 3_600_000
            $0.backoff = .fixed(milliseconds: 0)
        }
        let other = try enqueue("work") { $0.leaseMilliseconds = 3_600_000 }
        _ = try XCTUnwrap(try reserve(["work"], owner: "NB:7"))
        let kept = try XCTUnwrap(try reserve(["work"], owner: "NA:3"))
        XCTAssertEqual(kept.id, other)

        // NB says nothing more; NA goes on. Within the timeout, nothing happens.
        try setNow(20_009_000)
        XCTAssertEqual(try heartbeat("NA"), [])
        XCTAssertEqual(try inspect(held)?.state, "active")
        // Past it, NA takes back what NB held (not its own job), once.
        try setNow(20_010_500)
        XCTAssertEqual(
            try heartbeat("NA"),
            [PostgresEndedAttempt(id: held, queue: "work", outcome: .retry(afterMilliseconds: 0), attempt: 1, maxAttempts: 3, lostNode: "NB")])
        XCTAssertEqual(try heartbeat("NA"), [])
        XCTAssertEqual(try liveNodes(), ["NA"])
        XCTAssertEqual(try inspect(held)?.state, "waiting")
        // No connection of NB's closed: the job says its node stopped answering.
        XCTAssertEqual(try inspect(held)?.lastError, Array("worker lost: its node NB stopped answering".utf8))
        XCTAssertEqual(try inspect(other)?.state, "active")
        // The dead node's late ACK is refused: the job is no longer its.
        XCTAssertEqual(try ack(PostgresHold(id: held, owner: "NB:7", attempt: 1)).failure, .notHeld(held))
        let again = try XCTUnwrap(try reserve(["work"], owner: "NA:4"))
        XCTAssertEqual(again.id, held)
        XCTAssertEqual(again.attempt, 2)
    }

    /// After a database outage every node was silent: the first one back must not take the
    /// others for dead before they have had a whole timeout to come back.
    func testANodeJustBackJudgesNoOne() throws {
        try setNow(30_000_000)
        XCTAssertEqual(try heartbeat("NA"), [])
        XCTAssertEqual(try heartbeat("NB"), [])
        let job = try enqueue("work") { $0.leaseMilliseconds = 3_600_000 }
        _ = try XCTUnwrap(try reserve(["work"], owner: "NB:1"))
        // An outage of a minute; NA is back first.
        try setNow(30_060_000)
        XCTAssertEqual(try heartbeat("NA"), [])
        try setNow(30_061_000)
        XCTAssertEqual(try heartbeat("NB"), [])
        try setNow(30_071_000)
        XCTAssertEqual(try heartbeat("NA"), [], "NB is back: it keeps its job")
        XCTAssertEqual(try inspect(job)?.state, "active")
        XCTAssertEqual(try liveNodes(), ["NA", "NB"])
    }

    func testATimeoutOfZeroOnlySaysAlive() throws {
        try setNow(40_000_000)
        XCTAssertEqual(try heartbeat("NA", timeout: 0), [])
        XCTAssertEqual(try heartbeat("NB", timeout: 0), [])
        let job = try enqueue("work") { $0.leaseMilliseconds = 3_600_000 }
        _ = try XCTUnwrap(try reserve(["work"], owner: "NB:1"))
        try setNow(40_600_000)
        XCTAssertEqual(try heartbeat("NA", timeout: 0), [])
        XCTAssertEqual(try inspect(job)?.state, "active")
        try transaction { connection, done in store.leave(node: "NA", on: connection, completion: done) }.get()
        XCTAssertEqual(try liveNodes(timeout: 3_600_000), ["NB"])
    }
}
