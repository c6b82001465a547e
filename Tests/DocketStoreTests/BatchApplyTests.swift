@testable import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// Batches are applied to LMDB through one cursor per database with the keys sorted; whatever
/// order a batch lists its changes in, the store must end as if each were applied in turn.
@Suite struct BatchApplyTests {
    struct Model {
        var records: [UInt64: [UInt8]] = [:]
        var payloads: [UInt64: [UInt8]] = [:]
    }

    /// Random batches over a growing range of ids: records written in shuffled order, written
    /// again, deleted (some that were never there), payloads written and deleted.
    static func batches(count: Int, seed: UInt64) -> (batches: [StoreBatch], model: Model) {
        var random = SeededGenerator(seed: seed)
        var model = Model()
        var batches: [StoreBatch] = []
        var highest: UInt64 = 0
        for number in 0..<count {
            var batch = StoreBatch()
            var ids = Set<UInt64>()
            let fresh = UInt64.random(in: 0...40, using: &random)
            for id in highest + 1 ..< highest + 1 + fresh { ids.insert(id) }
            highest += fresh
            for _ in 0..<Int.random(in: 0...30, using: &random) where highest > 0 { ids.insert(UInt64.random(in: 1...highest, using: &random)) }
            for id in ids.shuffled(using: &random) {
                let record = (0..<Int.random(in: 1...90, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                batch.put(id: id, bytes: record)
                model.records[id] = record
            }
            // Payloads go in id order, as the server stages them.
            for id in ids.sorted() where id > highest - fresh || Bool.random(using: &random) {
                let payload = Array("payload \(id) of batch \(number)".utf8)
                batch.payloads.append((id: id, bytes: payload))
                model.payloads[id] = payload
            }
            for _ in 0..<Int.random(in: 0...12, using: &random) where highest > 0 {
                let id = UInt64.random(in: 1...highest + 5, using: &random)
                batch.payloadDeletes.append(id)
                model.payloads[id] = nil
            }
            for _ in 0..<Int.random(in: 0...8, using: &random) where highest > 0 {
                let id = UInt64.random(in: 1...highest + 5, using: &random)
                batch.deletes.append(id)
                model.records[id] = nil
            }
            batch.deletes.shuffle(using: &random)
            batch.payloadDeletes.shuffle(using: &random)
            batches.append(batch)
        }
        return (batches, model)
    }

    func expectStore(at path: String, equals model: Model) throws {
        let store = try DataDirectory(path: path)
        defer { store.close() }
        let loaded = try store.loadJobs()
        #expect(loaded.records.count == model.records.count)
        for record in loaded.records {
            #expect(model.records[record.id] == record.record, "record \(record.id)")
        }
        #expect(try store.storedPayloadCount() == model.payloads.count)
        for (id, payload) in model.payloads {
            var read: [UInt8]?
            store.readPayload(id) { read = try? $0.get() }
            #expect(read == payload, "payload \(id)")
            var borrowed: [UInt8]?
            #expect((try? store.withPayloadAtOnce(id, { borrowed = Array($0) })?.get()) != nil)
            #expect(borrowed == payload, "payload \(id), borrowed")
        }
    }

    @Test(arguments: [SyncMode.none, .always])
    func batchesInAnyOrderLeaveTheStoreAsTheModel(sync: SyncMode) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (batches, model) = Self.batches(count: 300, seed: 18)
        do {
            // Without background commits each batch is applied on its own (with `.always`,
            // logged and checkpointed before `commit` returns).
            let store = try DataDirectory(path: path, syncMode: sync)
            for batch in batches {
                var outcome: Result<Void, StoreError>?
                store.commit(batch) { outcome = $0 }
                try #require(outcome != nil)
                try outcome!.get()
            }
            store.close()
        }
        try expectStore(at: path, equals: model)
    }

    /// A checkpoint applies every batch logged since the last one in a single transaction.
    @Test func manyBatchesInOneCheckpointLeaveTheStoreAsTheModel() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (batches, model) = Self.batches(count: 300, seed: 1804)
        do {
            let store = try DataDirectory(path: path)
            // No checkpoints until `close`, which moves all 300 batches into LMDB at once.
            try store.startBackgroundCommits(checkpoints: false)
            commitAll(store, batches)
            store.close()
        }
        try expectStore(at: path, equals: model)
    }

    /// A checkpoint writes only each key's last change, and skips deleting keys above the
    /// highest in LMDB: the second checkpoint here rewrites and deletes keys the first one
    /// stored, alongside keys that come and go within it, and ids deleted that were never there.
    @Test func aCheckpointOverStoredKeysLeavesTheStoreAsTheModel() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (batches, model) = Self.batches(count: 400, seed: 2112)
        for range in [0..<150, 150..<400] {
            let store = try DataDirectory(path: path)
            try store.startBackgroundCommits(checkpoints: false)
            commitAll(store, Array(batches[range]))
            store.close()
        }
        try expectStore(at: path, equals: model)
        // The same batches one at a time: the same store.
        let single = path + "-single"
        defer { try? FileManager.default.removeItem(atPath: single) }
        let store = try DataDirectory(path: single, syncMode: .none)
        for batch in batches {
            var outcome: Result<Void, StoreError>?
            store.commit(batch) { outcome = $0 }
            try outcome!.get()
        }
        store.close()
        try expectStore(at: single, equals: model)
    }
}

/// A checkpoint (or a replay) applies a burst in transactions of bounded size, because LMDB keeps
/// every page a write transaction dirtied for as long as the environment is open.
@Suite struct SplitCheckpointTests {
    func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(UUID().uuidString)").path
    }

    @Test func partsCoverEveryChangeInOrderAndStayUnderTheLimit() {
        let payloads = [100, 300, 50, 900, 10]
        let records = [40, 40, 2_000, 40, 40, 40]
        let plan = DataDirectory.splitIntoTransactions(payloads: payloads, records: records, limit: 500)
        #expect(plan.weight == payloads.reduce(0, +) + records.reduce(0, +))
        // Contiguous, in order, from the first change to the last of each list.
        var nextPayload = 0
        var nextRecord = 0
        for part in plan.parts {
            #expect(part.payloads.lowerBound == nextPayload && part.records.lowerBound == nextRecord)
            nextPayload = part.payloads.upperBound
            nextRecord = part.records.upperBound
            let weight = part.payloads.map { payloads[$0] }.reduce(0, +) + part.records.map { records[$0] }.reduce(0, +)
            #expect(weight == part.weight)
            // Over the limit only as a single change heavier than it.
            #expect(weight <= 500 || part.payloads.count + part.records.count == 1, "\(part)")
            #expect(weight > 0)
        }
        #expect(nextPayload == payloads.count && nextRecord == records.count)
        // 100+300+50 | 900 | 10+40+40 | 2000 | 40+40+40
        #expect(plan.parts.count == 5)
    }

    @Test func nothingToApplyIsStillOneTransaction() {
        let plan = DataDirectory.splitIntoTransactions(payloads: [], records: [], limit: 500)
        #expect(plan.parts.count == 1 && plan.parts[0].weight == 0)
        let small = DataDirectory.splitIntoTransactions(payloads: [10], records: [20], limit: 500)
        #expect(small.parts.count == 1 && small.parts[0].payloads == 0..<1 && small.parts[0].records == 0..<1)
    }

    /// The same random batches as `BatchApplyTests`, over keys an earlier checkpoint stored, in
    /// transactions of about 2 KB: the store ends as the model.
    @Test func aCheckpointInManyTransactionsLeavesTheStoreAsTheModel() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (batches, model) = BatchApplyTests.batches(count: 400, seed: 2112)
        for range in [0..<150, 150..<400] {
            let store = try DataDirectory(path: path)
            store.transactionBytes = 2_000
            try store.startBackgroundCommits(checkpoints: false)
            commitAll(store, Array(batches[range]))
            store.close()
            #expect(store.transactionsOfLastApply > 20)
        }
        try BatchApplyTests().expectStore(at: path, equals: model)
    }

    /// LMDB keeps the dirty pages of values that fit a page, and frees the overflow pages of
    /// larger ones: only the first count towards a transaction's size, so large payloads never
    /// split a checkpoint into more flushes for nothing.
    @Test(arguments: [(payload: 1_000, split: true), (payload: 5_000, split: false)])
    func onlyValuesThatFitAPageSplitACheckpoint(payload: Int, split: Bool) throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try DataDirectory(path: path)
        store.transactionBytes = 64 << 10
        try store.startBackgroundCommits(checkpoints: false)
        commitAll(store, (1...200).map { id in
            var batch = StoreBatch()
            batch.put(id: UInt64(id), bytes: Array("record \(id)".utf8))
            batch.payloads.append((UInt64(id), [UInt8](repeating: UInt8(id % 251), count: payload)))
            return batch
        })
        store.close()
        // 200 payloads: 213 KB counted at 1,000 bytes, 13 KB (their entries only) at 5,000.
        #expect((store.transactionsOfLastApply > 1) == split, "\(store.transactionsOfLastApply) transactions")
        let reopened = try DataDirectory(path: path)
        defer { reopened.close() }
        #expect(try reopened.storedPayloadCount() == 200)
    }

    /// A crash after some transactions of a checkpoint leaves their changes in LMDB with the
    /// checkpoint's sequence not yet recorded: the next start replays the same batches over
    /// them, and the store ends as the model.
    @Test func aCheckpointCutBetweenTransactionsIsRedoneByTheReplay() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (batches, model) = BatchApplyTests.batches(count: 400, seed: 7)
        struct Crash: Error {}
        var committed = 0
        do {
            // A first checkpoint stores keys that the cut one rewrites and deletes.
            let store = try DataDirectory(path: path)
            try store.startBackgroundCommits(checkpoints: false)
            commitAll(store, Array(batches[0..<150]))
            store.close()
        }
        do {
            let store = try DataDirectory(path: path)
            store.transactionBytes = 2_000
            store.partCommitted = { count in
                committed = count
                if count == 3 { throw Crash() }
            }
            try store.startBackgroundCommits(checkpoints: false)
            commitAll(store, Array(batches[150..<400]))
            store.close()  // its checkpoint stops after three transactions
        }
        #expect(committed == 3)
        let reopened = try DataDirectory(path: path)
        #expect(reopened.transactionsOfLastApply == 1)  // the replay, in one part of the default size
        reopened.close()
        try BatchApplyTests().expectStore(at: path, equals: model)
    }
}

@Suite struct HeapMemoryTests {
    /// Swift's Glibc module has no malloc.h, so `malloc_trim` is looked up at run time; a lookup
    /// that stopped working would leave a burst's free pages in the server's memory without a word.
    @Test func glibcsMallocTrimIsFound() {
        #expect(HeapMemory.trim())
    }
}
