import DocketWire
import Testing

/// Replies that list jobs stop at the reply budget; see `ReplyBudget`.
@Suite struct ReplyBudgetTests {
    /// How many times `part` occurs in `text`.
    func occurrences(_ part: String, in text: String) -> Int { text.split(separator: part, omittingEmptySubsequences: false).count - 1 }

    @Test func anArrayTakesItemsWhileTheyFitAndAlwaysTheFirst() {
        let items = ["\"aaaa\"", "\"bbbb\"", "\"cccc\""]  // six bytes each
        let budget = { (bytes: Int) in ReplyBudget(bytes: bytes).array(count: items.count) { items[$0] } }
        #expect(budget(1000) == ("[\"aaaa\",\"bbbb\",\"cccc\"]", 3))
        #expect(budget(22) == ("[\"aaaa\",\"bbbb\",\"cccc\"]", 3))  // exactly full
        #expect(budget(21) == ("[\"aaaa\",\"bbbb\"]", 2))
        #expect(budget(1) == ("[\"aaaa\"]", 1))  // over on its own, yet the first goes in
        #expect(ReplyBudget(bytes: 10).array(count: 0) { _ in "x" } == ("[]", 0))
    }

    @Test func aPageCutShortNamesItsLastJobAsNext() throws {
        let view = { (id: Int) in
            JobView(
                id: UInt64(id), queue: "q", state: "dead", priority: 0, attempts: 1, maxAttempts: 1, backoff: .fixed(milliseconds: 1000), jitter: 0,
                leaseMilliseconds: 30_000, key: nil, group: nil, enqueuedAt: 0, runAt: 0, startedAt: nil, finishedAt: nil, progress: 0,
                progressNote: nil, lastError: Array(repeating: 0x72, count: 300), result: nil, payloadBytes: 1)
        }
        let cursor = { (index: Int) in JobListCursor(0, 0, Int64(index + 1)) }
        func page(budget: Int, more: Bool) -> String {
            JobPageView.json(queue: "q", state: .dead, count: 3, more: more, budget: ReplyBudget(bytes: budget), job: { view($0 + 1) }, cursor: cursor)
        }
        #expect(page(budget: 100_000, more: false).hasSuffix("\"next\":null}"))
        #expect(page(budget: 100_000, more: true).hasSuffix("\"next\":\"0.0.3\"}"))
        let cut = page(budget: view(1).json.utf8.count + 10, more: false)
        #expect(cut.hasSuffix("\"next\":\"0.0.1\"}"))
        #expect(occurrences("\"id\":", in: cut) == 1)  // one job
    }

    /// DEAD on PostgreSQL asks the database for no more jobs than this (a `limit=` of
    /// 9,999,999,999 read and sized every dead job of the queue): no reply within the budget
    /// can hold more, even of the shortest documents a job can have.
    @Test(arguments: [1, 2, 300, 4096, 65_536, 1 << 20])
    func noReplyHoldsMoreJobsThanMostFitting(bytes: Int) {
        let budget = ReplyBudget(bytes: bytes)
        let shortest = JobView(
            id: 0, queue: "", state: "", priority: 0, attempts: 0, maxAttempts: 0, backoff: .fixed(milliseconds: 0), jitter: 0,
            leaseMilliseconds: 0, key: nil, group: nil, enqueuedAt: 0, runAt: 0, startedAt: nil, finishedAt: nil, progress: 0,
            progressNote: nil, lastError: nil, result: nil, payloadBytes: 0)
        let held = budget.array(count: 100_000) { _ in shortest.json }.count
        #expect(held <= JobView.mostFitting(budget))
        #expect(JobView.mostFitting(budget) <= bytes / 200 + 1)  // a few thousand for the default 1 MiB
    }

    @Test func parentsPastTheBudgetComeWithoutTheirOutcome() {
        let result = Array(repeating: UInt8(0x01), count: 100)  // 600 bytes as JSON
        let parents = (1...4).map { ParentView(id: UInt64($0), queue: "q", state: "completed", result: result, lastError: nil) }
            + [ParentView(id: 5, queue: nil, state: nil, result: nil, lastError: nil)]
        let json = ParentView.array(parents, budget: ReplyBudget(bytes: 1500))
        #expect(occurrences("\\u0001", in: json) == 200)  // two outcomes fit
        #expect(occurrences("\"truncated\":true", in: json) == 2)
        #expect(json.hasSuffix("{\"id\":5,\"state\":\"deleted\"}]"))
        #expect(occurrences("\"truncated\":true", in: ParentView.array(parents, budget: ReplyBudget(bytes: 1))) == 3)
    }
}

/// The dashboard reads CHILDREN's page back to follow each child with its document.
@Suite struct ChildrenPageTests {
    @Test(arguments: [
        ([], nil),
        ([7], nil),
        ([7, 8, UInt64.max], UInt64.max),
    ] as [([UInt64], UInt64?)])
    func aPageReadsBackAsWritten(children: [UInt64], next: UInt64?) throws {
        let text = ChildrenPage.json(parent: 3, children: children, next: next, budget: ReplyBudget(bytes: 1 << 20))
        let read = try #require(ChildrenPage.parse(text))
        #expect(read.children == children && read.next == next)
    }

    @Test func textItDidNotWriteIsNotAPage() {
        #expect(ChildrenPage.parse("[]") == nil)
        #expect(ChildrenPage.parse(#"{"id":3}"#) == nil)
    }
}
