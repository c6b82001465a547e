import DocketPostgres
import DocketWire
import Foundation
import XCTest

/// How a job's end settles the rest of its flow (schema version 24), and what listings read of it.
final class FlowSettlingTests: JobStoreTestCase {
    /// A root with `width` children under it, each with one child of its own (a tree that
    /// `--max-flow-depth` does not bound); its id and the children's ids, child before grandchild.
    func wideTree(width: Int) throws -> (root: Int64, descendants: [Int64]) {
        let root = try enqueue("root")
        var jobs: [PostgresNewJob] = []
        for index in 0..<width {
            var child = PostgresNewJob(queue: "child", payload: [])
            child.parents = [String(root)]
            var grandchild = PostgresNewJob(queue: "grandchild", payload: [])
            grandchild.parents = ["@\(2 * index + 1)"]
            jobs += [child, grandchild]
        }
        return (root, try enqueue(jobs).map(\.id))
    }

    /// A death settles the tree one generation at a time, each with a few statements, not
    /// a round of them for every job that has children (version 19's loop, 0.5 ms a job:
    /// 7.3 s for 10,000 children with a child each). Counted by the calls of
    /// `docket.tell_watchers`, which each round makes once, in the death's own transaction.
    func testADeathSettlesItsTreeOneGenerationAtATime() throws {
        let width = 200
        let tree = try wideTree(width: width)
        let root = try XCTUnwrap(try reserve(["root"]))
        let rounds: Result<PostgresResult, PostgresError> = try loop.wait { done in
            db.execute("SET LOCAL track_functions = 'pl'") { _ in }
            store.fail(root.hold(), choice: .never, reason: nil, on: db) { _ in }
            db.execute("SELECT pg_stat_get_xact_function_calls('docket.tell_watchers(bigint[])'::regprocedure)", completion: done)
            db.commit()
        }
        // The FAIL's own call for the root, then a round for the root's children and one for
        // theirs; the grandchildren have none.
        XCTAssertEqual(try rounds.get().rows.first?.int(0), 3)
        for (index, id) in tree.descendants.enumerated() {
            let record = try XCTUnwrap(try inspect(id))
            XCTAssertEqual(record.state, "dead")
            let parent = index % 2 == 0 ? tree.root : tree.descendants[index - 1]
            XCTAssertEqual(record.lastError, Array("parent \(parent) dead".utf8))
        }
    }

    /// A child whose parents die in the same generation dies once, named after the oldest of
    /// them; one under `on_parent_dead=run` counts them all off at once and is released.
    func testAChildOfSeveralDyingParentsSettlesOnce() throws {
        let root = try enqueue("root")
        var first = PostgresNewJob(queue: "mid", payload: [])
        first.parents = [String(root)]
        var second = first
        second.parents = [String(root)]
        var dies = PostgresNewJob(queue: "leaf", payload: [])
        dies.parents = ["@2", "@1"]
        var runs = dies
        runs.runsIfParentDies = true
        let made = try enqueue([first, second, dies, runs])
        let held = try XCTUnwrap(try reserve(["root"]))
        XCTAssertEqual(try fail(held.hold(), .never).get(), .dead)
        XCTAssertEqual(try inspect(made[2].id)?.lastError, Array("parent \(made[0].id) dead".utf8))
        XCTAssertEqual(try inspect(made[3].id)?.state, "waiting")
        let settled = try db.run("SELECT pending_parents FROM docket.jobs WHERE id = $1::bigint", [.int(Int(made[3].id))], on: loop)
        XCTAssertEqual(settled.rows.first?.int(0), 0)
    }

    /// LIST and DEAD show no children (INSPECT does), so their pages do not look them up: the
    /// records come without them.
    func testListingsDoNotLookUpChildren() throws {
        let tree = try wideTree(width: 3)
        let children = stride(from: 0, to: tree.descendants.count, by: 2).map { tree.descendants[$0] }
        typealias Page = (records: [PostgresJobRecord], cursors: [JobListCursor], more: Bool)
        let page: Page = try transaction { connection, done in
            store.list(queue: "child", state: .blocked, after: nil, limit: 10, on: connection, completion: done)
        }.get()
        XCTAssertEqual(page.records.map(\.id), children)
        XCTAssertTrue(page.records.allSatisfy { $0.view.children == nil })
        XCTAssertNotNil(try inspect(children[0])?.view.children, "INSPECT still shows them")

        let root = try XCTUnwrap(try reserve(["root"]))
        XCTAssertEqual(try fail(root.hold(), .never).get(), .dead)
        let dead: [PostgresJobRecord] = try transaction { connection, done in
            store.deadJobs(queue: "child", on: connection, completion: done)
        }.get()
        XCTAssertEqual(dead.map(\.id), children)
        XCTAssertTrue(dead.allSatisfy { $0.view.children == nil })
    }
}
