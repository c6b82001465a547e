import DocketEngine
import Testing

/// Stands in for a connection: the index only needs an object to hang subscriptions on.
final class Owner {}

@Suite struct SubscriptionIndexTests {
    func sids(_ index: SubscriptionIndex, _ subject: String) -> Set<String> {
        let match = index.match(Array(subject.utf8))
        return Set(match.plain.map { String(decoding: $0.sid, as: UTF8.self) })
    }

    func make(_ index: SubscriptionIndex, _ subject: String, sid: String, queue: String? = nil, owner: Owner = Owner())
        -> Subscription
    {
        let subscription = Subscription(
            owner: owner, subject: Array(subject.utf8), queue: queue.map { Array($0.utf8) }, sid: Array(sid.utf8))
        #expect(index.insert(subscription))
        return subscription
    }

    static let wildcardCases: [(String, [String])] = [
        ("foo", ["literal", "star", "gt-all"]),
        ("foo.bar", ["foo-star", "foo-gt", "star-bar", "gt-all", "exact", "star-star"]),
        ("foo.bar.baz", ["foo-gt", "gt-all", "foo-star-baz"]),
        ("foo.baz", ["foo-star", "foo-gt", "gt-all", "star-star"]),
        ("x.bar", ["star-bar", "gt-all", "star-star"]),
        ("a*b", ["gt-all", "star", "odd-literal"]),
    ]

    @Test(arguments: wildcardCases)
    func wildcardsMatchByToken(_ subject: String, _ expected: [String]) {
        let index = SubscriptionIndex()
        _ = make(index, "foo", sid: "literal")
        _ = make(index, "*", sid: "star")
        _ = make(index, ">", sid: "gt-all")
        _ = make(index, "foo.*", sid: "foo-star")
        _ = make(index, "foo.>", sid: "foo-gt")
        _ = make(index, "*.bar", sid: "star-bar")
        _ = make(index, "*.*", sid: "star-star")
        _ = make(index, "foo.bar", sid: "exact")
        _ = make(index, "foo.*.baz", sid: "foo-star-baz")
        _ = make(index, "a*b", sid: "odd-literal")
        #expect(sids(index, subject) == Set(expected))
    }

    @Test func tailWildcardNeedsAtLeastOneToken() {
        let index = SubscriptionIndex()
        _ = make(index, "foo.>", sid: "1")
        #expect(sids(index, "foo").isEmpty)
        #expect(sids(index, "foo.a") == ["1"])
    }

    @Test func refusesInvalidFilters() {
        let index = SubscriptionIndex()
        let bad = Subscription(owner: Owner(), subject: Array("foo..bar".utf8), queue: nil, sid: [49])
        #expect(!index.insert(bad))
        #expect(index.count == 0)
    }

    /// A subject may have as many tokens as a control line allows: matching it must not take
    /// one stack frame per token (the recursive walk overflowed the stack).
    @Test func aSubjectOfManyTokensMatchesWithoutDeepRecursion() {
        let index = SubscriptionIndex()
        let count = 100_000
        let literal = Array(repeating: "a", count: count).joined(separator: ".")
        let stars = Array(repeating: "*", count: count).joined(separator: ".") + ".>"
        let exact = make(index, literal, sid: "exact")
        let wild = make(index, stars, sid: "wild")
        let tail = make(index, "a.>", sid: "tail")
        // Literal first, then `*`, as a message's subscribers have always been ordered.
        #expect(index.match(Array(literal.utf8)).plain.map { String(decoding: $0.sid, as: UTF8.self) } == ["tail", "exact"])
        #expect(sids(index, literal + ".a") == ["tail", "wild"])
        // Removed one by one, so the deep trie is pruned leaf first (freeing it whole would
        // recurse as deep as it is).
        for subscription in [exact, wild, tail] { index.remove(subscription) }
        #expect(index.count == 0)
    }

    @Test func removalStopsMatchesAndInvalidatesTheCache() {
        let index = SubscriptionIndex()
        let first = make(index, "foo.*", sid: "1")
        let second = make(index, "foo.bar", sid: "2")
        #expect(sids(index, "foo.bar") == ["1", "2"])  // now cached
        index.remove(first)
        #expect(sids(index, "foo.bar") == ["2"])
        index.remove(second)
        #expect(sids(index, "foo.bar").isEmpty)
        #expect(index.count == 0)
        // Removing twice is harmless.
        index.remove(second)
        #expect(index.count == 0)
        // And the same subject can be subscribed again after pruning.
        _ = make(index, "foo.bar", sid: "3")
        #expect(sids(index, "foo.bar") == ["3"])
    }

    @Test func queueGroupsAreGroupedByNameAcrossFilters() {
        let index = SubscriptionIndex()
        _ = make(index, "orders.*", sid: "a", queue: "workers")
        _ = make(index, "orders.new", sid: "b", queue: "workers")
        _ = make(index, "orders.>", sid: "c", queue: "audit")
        _ = make(index, "orders.new", sid: "plain")
        let match = index.match(Array("orders.new".utf8))
        #expect(match.plain.map { String(decoding: $0.sid, as: UTF8.self) } == ["plain"])
        let groups = Dictionary(uniqueKeysWithValues: match.groups.map {
            (String(decoding: $0.name, as: UTF8.self), Set($0.members.map { String(decoding: $0.sid, as: UTF8.self) }))
        })
        #expect(groups == ["workers": ["a", "b"], "audit": ["c"]])
    }

    @Test func queueGroupMembersTakeTurns() {
        let index = SubscriptionIndex()
        for sid in ["1", "2", "3"] { _ = make(index, "jobs", sid: sid, queue: "q") }
        var counts: [String: Int] = [:]
        for _ in 0..<300 {
            let group = index.match(Array("jobs".utf8)).groups[0]
            let member = group.nextMember { _ in false }!
            counts[String(decoding: member.sid, as: UTF8.self), default: 0] += 1
        }
        #expect(counts == ["1": 100, "2": 100, "3": 100])
    }

    @Test func excludedMembersArePassedOver() {
        let index = SubscriptionIndex()
        let me = Owner()
        _ = make(index, "jobs", sid: "mine", queue: "q", owner: me)
        _ = make(index, "jobs", sid: "other", queue: "q")
        let group = index.match(Array("jobs".utf8)).groups[0]
        for _ in 0..<10 {
            #expect(group.nextMember { $0.owner === me }.map { String(decoding: $0.sid, as: UTF8.self) } == "other")
        }
        #expect(group.nextMember { _ in true } == nil)
    }

    @Test func manySubscriptionsStayIndexed() {
        // 20k subscriptions on distinct subjects: a publish must find exactly its own.
        let index = SubscriptionIndex()
        for number in 0..<20_000 { _ = make(index, "user.\(number).events", sid: "\(number)") }
        _ = make(index, "user.*.events", sid: "all")
        #expect(index.count == 20_001)
        #expect(sids(index, "user.12345.events") == ["12345", "all"])
        #expect(sids(index, "user.20000.events") == ["all"])
    }

    @Test func cacheStaysBoundedAcrossManySubjects() {
        let index = SubscriptionIndex(cacheLimit: 16)
        _ = make(index, ">", sid: "all")
        for number in 0..<1000 { #expect(sids(index, "s.\(number)") == ["all"]) }
    }
}
