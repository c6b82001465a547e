import DocketWire

/// All subscriptions, indexed by subject in a token trie, with a per-subject cache of matches.
///
/// Publishing walks one path per literal token plus the `*` branches, never every
/// subscription, and a repeated subject costs one hash lookup thanks to the cache. Any change
/// to the set of subscriptions drops the cache (changes are rare next to publishes).
public final class SubscriptionIndex {
    private let root = TrieNode()
    private var cache = ByteKeyedTable<SubjectMatch>()
    /// Subscriptions added and removed since the start (`/subsz`'s `num_inserts`, `num_removes`).
    public private(set) var insertions = 0
    public private(set) var removals = 0
    /// Subjects whose matches are remembered now (`/subsz`'s `num_cache`).
    public var cachedSubjects: Int { cache.count }
    private let cacheLimit: Int
    private let empty = SubjectMatch(plain: [], groups: [])

    /// Number of subscriptions held.
    public private(set) var count = 0
    /// Trie nodes the matches have visited since the start beyond the one path of a subject's
    /// own tokens: those `*` branches led to. A match costs a step per node whose path fits the
    /// subject, not per subscription it finds, so subscriptions on every mix of a literal and
    /// `*` over 12 tokens (4,096 of them, none matching) make each new subject 8,191 steps,
    /// 1.6 ms here. The server counts these as a turn's work.
    public private(set) var branchNodesWalked = 0

    /// - Parameter cacheLimit: distinct subjects whose matches are remembered; when full, the
    ///   cache starts over, which bounds its memory however many subjects are published.
    public init(cacheLimit: Int = 4096) {
        self.cacheLimit = cacheLimit
    }

    /// Adds a subscription; false (and nothing changes) if its subject is not a valid filter.
    @discardableResult
    public func insert(_ subscription: Subscription) -> Bool {
        guard !subscription.isIndexed, Subject.isValidFilter(subscription.subject) else { return false }
        let tokens = Self.tokens(of: subscription.subject)
        var node = root
        for (position, token) in tokens.enumerated() {
            if position == tokens.count - 1 && token == [Byte.greater] {
                node.tail.append(subscription)
                finishInsert(subscription)
                return true
            }
            node = node.child(for: token)
        }
        node.exact.append(subscription)
        finishInsert(subscription)
        return true
    }

    private func finishInsert(_ subscription: Subscription) {
        subscription.isIndexed = true
        count += 1
        insertions += 1
        invalidateCache()
    }

    /// Removes a subscription; does nothing if the index does not hold it.
    public func remove(_ subscription: Subscription) {
        guard subscription.isIndexed else { return }
        let tokens = Self.tokens(of: subscription.subject)
        var path: [(node: TrieNode, token: [UInt8])] = []
        var node = root
        let endsInTail = tokens.last == [Byte.greater]
        for token in endsInTail ? Array(tokens.dropLast()) : tokens {
            guard let next = node.existingChild(for: token) else { return }
            path.append((node, token))
            node = next
        }
        if endsInTail { node.tail.remove(subscription) } else { node.exact.remove(subscription) }
        subscription.isIndexed = false
        count -= 1
        removals += 1
        // Prune nodes left empty, from the leaf up, so churn does not leave a growing trie.
        while let (parent, token) = path.last, node.isEmpty {
            parent.removeChild(for: token)
            node = parent
            path.removeLast()
        }
        invalidateCache()
    }

    /// What a message published on `subject` reaches. `subject` must be a valid literal subject.
    public func match(_ subject: UnsafeRawBufferPointer) -> SubjectMatch {
        if count == 0 { return empty }
        if let cached = cache.find(subject) { return cached }
        var found: [Subscription] = []
        var tokens: [Range<Int>] = []
        var start = 0
        for index in 0...subject.count where index == subject.count || subject[index] == Byte.dot {
            tokens.append(start..<index)
            start = index + 1
        }
        collect(root, subject, tokens, 0, &found)
        let result = Self.group(found)
        if cache.count >= cacheLimit { cache.removeAll() }
        cache.set(Array(subject), result)
        return result
    }

    public func match(_ subject: [UInt8]) -> SubjectMatch {
        subject.withUnsafeBytes { match($0) }
    }

    /// Depth first, as a recursion would go (a node's `>` subscriptions, then its literal
    /// child's, then its `*` child's), but on a stack of its own: a subject may have as many
    /// tokens as a control line allows, and one stack frame per token overflowed the thread's
    /// stack near 17,500 of them.
    private func collect(
        _ root: TrieNode, _ subject: UnsafeRawBufferPointer, _ tokens: [Range<Int>], _ start: Int,
        _ found: inout [Subscription]
    ) {
        var pending: [(node: TrieNode, position: Int)] = [(root, start)]
        var visited = 0
        defer { branchNodesWalked &+= max(0, visited - (tokens.count - start + 1)) }
        while let (node, position) = pending.popLast() {
            visited += 1
            if position == tokens.count {
                found.append(contentsOf: node.exact.members)
                continue
            }
            // `>` needs at least one more token, which position < tokens.count guarantees.
            found.append(contentsOf: node.tail.members)
            // Pushed in reverse of the order they are visited in.
            if let star = node.star { pending.append((star, position + 1)) }
            if let literal = node.literals?.find(UnsafeRawBufferPointer(rebasing: subject[tokens[position]])) {
                pending.append((literal, position + 1))
            }
        }
    }

    private static func group(_ found: [Subscription]) -> SubjectMatch {
        var plain: [Subscription] = []
        var groupNames: [[UInt8]] = []
        var groups: [[UInt8]: [Subscription]] = [:]
        for subscription in found {
            if let queue = subscription.queue {
                if groups[queue] == nil { groupNames.append(queue) }
                groups[queue, default: []].append(subscription)
            } else {
                plain.append(subscription)
            }
        }
        return SubjectMatch(
            plain: plain, groups: groupNames.map { QueueGroupMatch(name: $0, members: groups[$0]!) })
    }

    private func invalidateCache() { cache.removeAll() }

    static func tokens(of subject: [UInt8]) -> [[UInt8]] {
        subject.split(separator: Byte.dot, omittingEmptySubsequences: false).map(Array.init)
    }
}

/// One level of the subject trie.
final class TrieNode {
    /// Children by literal token; created on first use since most leaves have none.
    var literals: ByteKeyedTable<TrieNode>?
    /// The child for a `*` token.
    var star: TrieNode?
    /// Subscriptions whose filter ends exactly here.
    var exact = SubscriptionList()
    /// Subscriptions whose filter ends with `>` right after this node.
    var tail = SubscriptionList()

    var isEmpty: Bool {
        exact.members.isEmpty && tail.members.isEmpty && star == nil && (literals?.count ?? 0) == 0
    }

    func child(for token: [UInt8]) -> TrieNode {
        if token == [Byte.star] {
            if let star { return star }
            let node = TrieNode()
            star = node
            return node
        }
        if literals == nil { literals = ByteKeyedTable() }
        if let node = literals!.find(token) { return node }
        let node = TrieNode()
        literals!.set(token, node)
        return node
    }

    func existingChild(for token: [UInt8]) -> TrieNode? {
        token == [Byte.star] ? star : literals?.find(token)
    }

    func removeChild(for token: [UInt8]) {
        if token == [Byte.star] { star = nil } else { literals?.remove(token) }
    }
}

/// Subscriptions at one trie position, removable in O(1) through each one's slot.
struct SubscriptionList {
    private(set) var members: [Subscription] = []

    mutating func append(_ subscription: Subscription) {
        subscription.slot = members.count
        members.append(subscription)
    }

    mutating func remove(_ subscription: Subscription) {
        let slot = subscription.slot
        guard slot >= 0, slot < members.count, members[slot] === subscription else { return }
        let last = members.removeLast()
        if slot < members.count {
            members[slot] = last
            last.slot = slot
        }
        subscription.slot = -1
    }
}
