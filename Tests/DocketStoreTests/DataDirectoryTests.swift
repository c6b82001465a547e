import CLMDB
@testable import DocketStore
import Foundation
import Glibc
import Testing

@Suite struct DataDirectoryTests {
    func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(UUID().uuidString)").path
    }

    func commit(_ store: DataDirectory, _ batch: StoreBatch) throws {
        var outcome: Result<Void, StoreError>?
        store.commit(batch) { outcome = $0 }
        try #require(outcome != nil)
        try outcome!.get()
    }

    @Test func writeCloseReopenCompare() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var batch = StoreBatch()
        let records: [(UInt64, [UInt8])] = (1...500).map { ($0, Array("job-\($0)".utf8) + [UInt8](repeating: UInt8($0 % 251), count: Int($0))) }
        for (id, bytes) in records { batch.put(id: id, bytes: bytes) }
        batch.payloads = records.map { (id: $0.0, bytes: Array("payload-\($0.0)".utf8)) }
        batch.nextID = 501
        do {
            let store = try DataDirectory(path: path)
            try commit(store, batch)
            var second = StoreBatch()
            second.deletes = [7, 8, 9]
            second.payloadDeletes = [7, 8, 9]
            second.put(id: 10, bytes: Array("rewritten".utf8))
            second.nextID = 600
            try commit(store, second)
            store.close()
        }
        let reopened = try DataDirectory(path: path)
        let loaded = try reopened.loadJobs()
        #expect(loaded.state.nextID == 600)
        var expected = Dictionary(uniqueKeysWithValues: records)
        expected[7] = nil
        expected[8] = nil
        expected[9] = nil
        expected[10] = Array("rewritten".utf8)
        #expect(loaded.records.count == expected.count)
        #expect(loaded.records.map(\.id) == loaded.records.map(\.id).sorted())
        for record in loaded.records {
            #expect(expected[record.id] == record.record)
            #expect(record.payloadSize == "payload-\(record.id)".utf8.count)
            var read: [UInt8]?
            reopened.readPayload(record.id) { read = try? $0.get() }
            #expect(read == Array("payload-\(record.id)".utf8))
        }
    }

    /// ENQ `replace=true` writes a job's payload again; when that happens while a checkpoint is
    /// moving the batch with the old payload into LMDB, reads must still see the new one (the
    /// checkpoint used to forget it, and a RESERVE then handed out the old payload).
    /// The pages the store gives back are those of the mapping around an address LMDB handed
    /// out, and only if it is a shared mapping of the map's size: a private one (whose written
    /// pages would be lost) never qualifies.
    @Test func onlyASharedMappingOfTheMapsSizeIsFoundForGivingBack() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let size = 1 << 20
        let descriptor = open(path, O_RDWR | O_CREAT, 0o644)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try #require(ftruncate(descriptor, off_t(size)) == 0)
        let privateMap = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, 0))
        try #require(privateMap != MAP_FAILED)
        defer { munmap(privateMap, size) }
        #expect(DataDirectory.findMapping(containing: privateMap + 100, size: size) == nil)
        let sharedMap = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0))
        try #require(sharedMap != MAP_FAILED)
        defer { munmap(sharedMap, size) }
        #expect(DataDirectory.findMapping(containing: sharedMap + 100, size: size)?.base == sharedMap)
        #expect(DataDirectory.findMapping(containing: sharedMap + size - 1, size: size)?.base == sharedMap)
        #expect(DataDirectory.findMapping(containing: sharedMap + 100, size: size / 2) == nil)
        var onTheStack = 0
        #expect(withUnsafePointer(to: &onTheStack) { DataDirectory.findMapping(containing: $0, size: size) } == nil)
    }

    @Test func aPayloadWrittenAgainDuringACheckpointIsTheOneRead() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try DataDirectory(path: path)
        defer { store.close() }
        var first = StoreBatch()
        first.put(id: 1, bytes: Array("job".utf8))
        first.payloads = [(id: 1, bytes: Array("v1".utf8))]
        first.nextID = 2
        var again = StoreBatch()
        again.payloads = [(id: 1, bytes: Array("v2".utf8))]
        var nested: Result<Void, StoreError>?
        // Without a background writer a commit checkpoints at once: the second batch is logged
        // while the first one's checkpoint is finishing (it cannot checkpoint itself then).
        store.checkpointApplied = {
            store.checkpointApplied = nil
            store.commit(again) { nested = $0 }
        }
        try commit(store, first)
        try #require(nested != nil)
        try nested!.get()
        var read: [UInt8]?
        store.readPayload(1) { read = try? $0.get() }
        #expect(read == Array("v2".utf8))
    }

    @Test func aPayloadDeleteKeepsTheRecord() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try DataDirectory(path: path)
        var batch = StoreBatch()
        for id in UInt64(1)...3 {
            batch.put(id: id, bytes: [UInt8(id)])
            batch.payloads.append((id, Array("p\(id)".utf8)))
        }
        batch.nextID = 4
        try commit(store, batch)
        var second = StoreBatch()
        second.payloadDeletes = [2]
        second.nextID = 4
        try commit(store, second)
        let loaded = try store.loadJobs()
        #expect(loaded.records.map(\.id) == [1, 2, 3])
        #expect(loaded.records.map(\.payloadSize) == [2, nil, 2])
        var read: Result<[UInt8], StoreError>?
        store.readPayload(2) { read = $0 }
        guard case .failure = read else {
            Issue.record("a deleted payload was read back")
            return
        }
    }

    @Test func aSecondOpenOfTheSameDirectoryIsRefused() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try DataDirectory(path: path)
        #expect(throws: StoreError.self) { _ = try DataDirectory(path: path) }
        first.close()
        _ = try DataDirectory(path: path)
    }

    /// The refusal of a second server names the first's pid, read from `/proc/locks`.
    @Test func theLockHoldersPidIsReadFromProcLocks() throws {
        let place = LockHolder.place(device: 0x801, inode: 1_234_567)
        #expect(place == "8:1:1234567")
        #expect(LockHolder.holder(in: "1: FLOCK  ADVISORY  WRITE 21512 08:01:1234567 0 EOF\n", place: place) == 21512)
        // A waiter for the lock, a lock on another file, a read lease: none holds this one.
        #expect(LockHolder.holder(in: "1: -> FLOCK  ADVISORY  WRITE 777 08:01:1234567 0 EOF\n", place: place) == nil)
        #expect(LockHolder.holder(in: "2: FLOCK  ADVISORY  WRITE 21512 08:01:1234568 0 EOF\n", place: place) == nil)
        #expect(LockHolder.holder(in: "3: POSIX  ADVISORY  READ 21512 08:01:1234567 0 EOF\n", place: place) == nil)
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let held = open(path, O_RDWR | O_CREAT, 0o644)
        let other = open(path, O_RDWR)
        defer { Glibc.close(held); Glibc.close(other) }
        try #require(held >= 0 && other >= 0 && flock(held, LOCK_EX | LOCK_NB) == 0)
        #expect(LockHolder.of(other) == getpid())
    }

    @Test func aLockReleasedAMomentLaterIsTaken() throws {
        // As when a restarted server starts while the old one is still exiting, or a forked
        // child has not exec'd yet and still shares the lock.
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try DataDirectory(path: path).close()
        let holder = open(path + "/LOCK", O_RDWR)
        try #require(holder >= 0 && flock(holder, LOCK_EX | LOCK_NB) == 0)
        Thread {
            usleep(100_000)
            Glibc.close(holder)
        }.start()
        let store = try DataDirectory(path: path)
        store.close()
    }

    @Test func aFullMapFailsTheCommitAndKeepsWhatWasStored() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try DataDirectory(path: path, mapSize: 1 << 20)
        var small = StoreBatch()
        small.put(id: 1, bytes: Array("keep me".utf8))
        small.payloads = [(id: 1, bytes: [])]
        small.nextID = 2
        try commit(store, small)
        #expect(store.usedBytes > 0 && store.usedBytes < store.capacityBytes)
        var huge = StoreBatch()
        for id in 2...400 { huge.put(id: UInt64(id), bytes: [1]) }
        huge.payloads = (2...400).map { (id: UInt64($0), bytes: [UInt8](repeating: 1, count: 8000)) }
        huge.nextID = 401
        var outcome: Result<Void, StoreError>?
        store.commit(huge) { outcome = $0 }
        guard case .failure(let error) = outcome else {
            Issue.record("a 3 MB batch fit in a 1 MiB map")
            return
        }
        #expect(error.description.contains("MDB_MAP_FULL"))
        // The failed batch left nothing behind, and the store still takes what fits.
        var after = StoreBatch()
        after.put(id: 2, bytes: Array("still works".utf8))
        after.payloads = [(id: 2, bytes: [])]
        after.nextID = 3
        try commit(store, after)
        store.close()
        let loaded = try DataDirectory(path: path, mapSize: 1 << 20).loadJobs()
        #expect(loaded.records.map(\.id) == [1, 2])
        #expect(loaded.records.first?.record == Array("keep me".utf8))
    }

    @Test func anUnknownLayoutVersionIsRefused() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        // A directory written by a future docketd: its layout record says version 99.
        do {
            let store = try DataDirectory(path: path)
            store.close()
        }
        try DataDirectory.overwriteLayoutVersionForTesting(path: path, version: 99)
        #expect(throws: StoreError.self) { _ = try DataDirectory(path: path) }
    }
}

@Suite struct WriteAheadLogTests {
    func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("docket-wal-\(UUID().uuidString)").path
    }

    func batch(_ id: UInt64, next: UInt64? = nil) -> StoreBatch {
        var batch = StoreBatch()
        batch.put(id: id, bytes: Array("record \(id)".utf8))
        batch.payloads = [(id, Array("payload \(id)".utf8))]
        batch.nextID = next
        return batch
    }

    /// Where each record of a log file starts, in its current round (length, checksum, body).
    func recordOffsets(_ file: String) throws -> [Int] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        var offsets: [Int] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
            guard length > 0 else { break }
            offsets.append(offset)
            offset += 8 + length
        }
        offsets.append(offset)  // where the next would go
        return offsets
    }

    func overwrite(_ file: String, at offset: Int, with bytes: [UInt8]) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }

    @Test func batchesOnlyInTheLogAreReplayedOnOpen() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path)
            try store.startBackgroundCommits(checkpoints: false)
            commitAll(store, (1...50).map { batch(UInt64($0)) })
            // Committed, so readable, though no checkpoint may have put them in LMDB yet.
            var read: [UInt8]?
            store.readPayload(7) { read = try? $0.get() }
            #expect(read == Array("payload 7".utf8))
            store.abandonForTesting()
        }
        // The log files are written over, never grown.
        for file in ["wal-a.log", "wal-b.log"] {
            #expect(try FileManager.default.attributesOfItem(atPath: path + "/" + file)[.size] as? Int == 2 << 20)
        }
        for _ in 0..<2 {
            // Replayed on the first open; the second finds the same (the log restarts after replay).
            let reopened = try DataDirectory(path: path)
            let loaded = try reopened.loadJobs()
            #expect(loaded.records.map(\.id) == Array(1...50))
            #expect(loaded.records.allSatisfy { $0.record == Array("record \($0.id)".utf8) && $0.payloadSize == "payload \($0.id)".utf8.count })
            reopened.abandonForTesting()
        }
    }

    @Test func batchesFlushedTogetherAreOneRecordAndReplayTogether() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path)
            store.abandonForTesting()
        }
        // What the commit thread writes when batches queue up during a flush: one record, one
        // sequence number, several batches.
        let log = try WriteAheadLog(path: path + "/wal-a.log")
        try log.append(sequence: 1, batches: [batch(1)])
        try log.append(sequence: 2, batches: (2...4).map { batch(UInt64($0)) })
        try log.append(sequence: 3, batches: [batch(5, next: 6)])
        #expect(try recordOffsets(path + "/wal-a.log").count == 4)
        let reopened = try DataDirectory(path: path)
        let loaded = try reopened.loadJobs()
        #expect(loaded.records.map(\.id) == Array(1...5))
        #expect(loaded.records.allSatisfy { $0.record == Array("record \($0.id)".utf8) })
        reopened.abandonForTesting()
    }

    @Test func aTornRecordEndsTheLogAndLaterRecordsStillReplay() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path)
            commitAll(store, (1...3).map { batch(UInt64($0)) })  // no threads: each is checkpointed at once
            try store.startBackgroundCommits(checkpoints: false)
            commitEach(store, (4...6).map { batch(UInt64($0)) })
            store.abandonForTesting()
        }
        // A crash in the middle of the next record: a header promising more than was written.
        // Three checkpoints switched files three times: 4-6 went to the second file.
        let file = path + "/wal-b.log"
        #expect(try recordOffsets(file).count == 4)
        let end = try recordOffsets(file).last!
        try overwrite(file, at: end, with: [200, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9])
        do {
            let store = try DataDirectory(path: path)
            #expect(try store.loadJobs().records.map(\.id) == Array(1...6))
            try store.startBackgroundCommits(checkpoints: false)
            commitAll(store, [batch(7)])
            store.abandonForTesting()
        }
        #expect(try DataDirectory(path: path).loadJobs().records.map(\.id) == Array(1...7))
    }

    @Test func aGarbageLengthAfterTheLastRecordIsNotBelieved() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path)
            try store.startBackgroundCommits(checkpoints: false)
            commitAll(store, [batch(1), batch(2)])
            store.abandonForTesting()
        }
        // Old bytes where the next record would go, read as a length of almost 2 GiB.
        let file = path + "/wal-a.log"
        try overwrite(file, at: try recordOffsets(file).last!, with: [0xF0, 0xFF, 0xFF, 0x7F, 1, 2, 3, 4, 5])
        let started = Date()
        #expect(try DataDirectory(path: path).loadJobs().records.map(\.id) == [1, 2])
        #expect(Date().timeIntervalSince(started) < 2)
    }

    @Test func aRecordWithAWrongChecksumIsNotReplayed() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path)
            try store.startBackgroundCommits(checkpoints: false)
            commitEach(store, [batch(1), batch(2)])
            store.abandonForTesting()
        }
        let file = path + "/wal-a.log"
        let offsets = try recordOffsets(file)
        #expect(offsets.count == 3)
        try overwrite(file, at: offsets[2] - 3, with: [0xEE])  // inside the second record's body
        let reopened = try DataDirectory(path: path)
        #expect(try reopened.loadJobs().records.map(\.id) == [1])
        // It reads as a write a crash cut short, but the operator hears of it: it may be damage.
        #expect(reopened.recoveryNotes.contains { $0.contains("wal-a.log ends with a record cut short or failing its checksum (batch 2") })
        reopened.close()
        // A log whose round simply ends (zeros after the last record) says nothing.
        try overwrite(file, at: offsets[1], with: [UInt8](repeating: 0, count: offsets[2] - offsets[1]))
        #expect(try DataDirectory(path: path).recoveryNotes.isEmpty)
    }

    @Test func aDamagedRecordWithValidOnesAfterItRefusesTheStart() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path)
            try store.startBackgroundCommits(checkpoints: false)
            commitEach(store, (1...7).map { batch(UInt64($0)) })
            store.abandonForTesting()
        }
        // One flipped bit in batch 2; batches 3-7 after it are whole and were acknowledged.
        let file = path + "/wal-a.log"
        let offsets = try recordOffsets(file)
        try overwrite(file, at: offsets[1] + 20, with: [0x5A])
        #expect {
            _ = try DataDirectory(path: path)
        } throws: { error in
            let text = "\(error)"
            return text.contains("wal-a.log") && text.contains("offset \(offsets[1])") && text.contains("5 valid newer batch")
                && text.contains("2") && text.contains("--salvage")
        }
        // Still refused on the next try: nothing was changed by the refusal.
        #expect(throws: StoreError.self) { _ = try DataDirectory(path: path) }
        // Salvage keeps every valid batch and says what it dropped.
        let salvaged = try DataDirectory(path: path, salvage: true)
        #expect(try salvaged.loadJobs().records.map(\.id) == [1, 3, 4, 5, 6, 7])
        #expect(salvaged.recoveryNotes.contains { $0.contains("cannot be read from the log: 2 ") })
        salvaged.close()
        // After a salvage the directory starts normally.
        #expect(try DataDirectory(path: path).loadJobs().records.map(\.id) == [1, 3, 4, 5, 6, 7])
    }

    /// `--sync none` logs without flushes, so a power loss can keep whole records after a torn
    /// one: the start takes the log up to the tear and drops the rest, saying so, and that
    /// rest never comes back (the files are cleared: a later round must not read it as its own).
    @Test func aSyncNoneLogTornAfterItsLastCheckpointStartsFromTheBatchBeforeTheTear() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try DataDirectory(path: path, syncMode: .none).close()
        do {
            let store = try DataDirectory(path: path, syncMode: .none)
            try store.startBackgroundCommits(checkpoints: false)
            commitEach(store, (1...7).map { batch(UInt64($0)) })
            store.abandonForTesting()
        }
        let file = path + "/wal-a.log"
        let offsets = try recordOffsets(file)
        try overwrite(file, at: offsets[1] + 20, with: [0x5A])  // batch 2 torn; 3-7 whole after it
        let reopened = try DataDirectory(path: path, syncMode: .none)
        #expect(try reopened.loadJobs().records.map(\.id) == [1])
        #expect(reopened.recoveryNotes.contains { $0.contains("batches 2-7") && $0.contains("5 of them whole after the gap") },
                "\(reopened.recoveryNotes)")
        try reopened.startBackgroundCommits(checkpoints: false)
        commitEach(reopened, [batch(8)])
        reopened.abandonForTesting()
        // The next start replays batch 8 and nothing of what was dropped.
        let again = try DataDirectory(path: path, syncMode: .always)
        #expect(try again.loadJobs().records.map(\.id) == [1, 8])
        again.close()
        // A log written with flushes keeps its promise: the same tear refuses the start.
        do {
            let store = try DataDirectory(path: path, syncMode: .always)
            try store.startBackgroundCommits(checkpoints: false)
            commitEach(store, (9...11).map { batch(UInt64($0)) })
            store.abandonForTesting()
        }
        try overwrite(file, at: try recordOffsets(file)[1] + 20, with: [0x5A])
        #expect(throws: StoreError.self) { _ = try DataDirectory(path: path, syncMode: .none) }
    }

    /// The scan for valid records after a damaged one passes over runs of zeros a page at a time:
    /// a record right after such a run is still found, whatever its offset's alignment.
    @Test(arguments: [0, 1, 2, 3, 4097])
    func aValidRecordAfterALongRunOfZerosIsStillFound(_ extra: Int) throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path)
            try store.startBackgroundCommits(checkpoints: false)
            var large = batch(2)
            large.payloads = [(2, [UInt8](repeating: 0x41, count: 9000 + extra))]
            commitEach(store, [batch(1), large, batch(3)])
            store.abandonForTesting()
        }
        // Batch 2's record zeroed whole: the round seems to end there, and batch 3 follows
        // more than two pages of zeros.
        let file = path + "/wal-a.log"
        let offsets = try recordOffsets(file)
        try overwrite(file, at: offsets[1], with: [UInt8](repeating: 0, count: offsets[2] - offsets[1]))
        #expect {
            _ = try DataDirectory(path: path)
        } throws: { error in
            "\(error)".contains("1 valid newer batch(es) after it (from batch 3 at offset \(offsets[2]))")
        }
    }

    /// The same, at the edge of the runs the scan passes over: a record that starts anywhere
    /// around the end of the first or second run of `zeroRun` zeros is found at its offset.
    @Test func aRecordRightAfterRunsOfZerosIsFoundAtItsOffset() throws {
        let path = temporaryPath()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = try WriteAheadLog(path: path + "/source.log")
        try source.append(sequence: 5, batches: [batch(1)])
        let record = Array(try [UInt8](Data(contentsOf: URL(fileURLWithPath: source.path)))[..<source.position])
        let run = WriteAheadLog.zeroRun
        for start in Array((run - 6)...(run + 6)) + Array((2 * run - 12)...(2 * run + 2)) {
            let probe = path + "/probe-\(start).log"
            let bytes = [UInt8](repeating: 0, count: start) + record + [UInt8](repeating: 0, count: 64)
            try Data(bytes).write(to: URL(fileURLWithPath: probe))
            let found = try WriteAheadLog(path: probe).strayRecords(from: 0, after: 4)
            #expect(found.map(\.offset) == [start] && found.map(\.sequence) == [5], "a record at \(start)")
        }
    }

    @Test func aReplayThatDoesNotFitTheMapGrowsIt() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path, mapSize: 16 << 20)
            try store.startBackgroundCommits(checkpoints: false)
            commitAll(store, (1...30).map { id in
                var batch = StoreBatch()
                batch.put(id: UInt64(id), bytes: Array("record \(id)".utf8))
                batch.payloads = [(UInt64(id), [UInt8](repeating: 7, count: 100_000))]
                return batch
            })
            store.abandonForTesting()
        }
        // 3 MB acknowledged in the log; a 1 MiB store cannot hold it, and must still start.
        let reopened = try DataDirectory(path: path, mapSize: 1 << 20)
        #expect(try reopened.loadJobs().records.count == 30)
        #expect(reopened.recoveryNotes.contains { $0.contains("the map grew") })
        #expect(reopened.usedBytes > 1 << 20)
    }

    /// A directory filled under a 16 MiB store and opened with a 1 MiB one: it starts
    /// (LMDB maps the whole file), and the commits that finish its jobs must still fit, now
    /// and after every later start. The map was left at the smaller size, so the first commit
    /// failed with MDB_MAP_FULL and ended docketd, at every start.
    @Test func aDirectoryFullerThanItsMapStillFinishesItsJobs() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let jobs = UInt64(1)...UInt64(1200)
        do {
            let store = try DataDirectory(path: path, mapSize: 16 << 20)
            commitAll(store, jobs.map { id in
                var batch = StoreBatch()
                batch.put(id: id, bytes: Array("record \(id)".utf8))
                batch.payloads = [(id, [UInt8](repeating: 7, count: 2000))]
                return batch
            })
            store.close()
        }
        for round in 0..<2 {
            let store = try DataDirectory(path: path, mapSize: 1 << 20)
            #expect(store.usedBytes > 1 << 20)
            #expect(store.recoveryNotes.contains { $0.contains("new jobs are refused until") })
            // Finishing: each job's record rewritten and its payload deleted, 100 at a time.
            commitAll(store, stride(from: jobs.lowerBound + UInt64(round * 600), to: jobs.lowerBound + UInt64(round * 600 + 600), by: 100).map { first in
                var batch = StoreBatch()
                for id in first..<(first + 100) {
                    batch.put(id: id, bytes: Array("done \(id)".utf8))
                    batch.payloadDeletes.append(id)
                }
                return batch
            })
            store.close()
        }
        #expect(try DataDirectory(path: path, mapSize: 1 << 20).loadJobs().records.allSatisfy { $0.payloadSize == nil })
    }

    /// A directory whose data went in with one transaction (a burst's checkpoint, right after
    /// the first start) and opened with a smaller map: LMDB maps exactly what it holds, its free
    /// list has two pages to reuse, and the first write of the open (the boot count) found no
    /// room: every start ended in `MDB_MAP_FULL` until --max-store was raised again.
    @Test func aDirectoryFilledByOneTransactionOpensWithASmallerMap() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path, mapSize: 64 << 20)
            store.transactionBytes = 1 << 30
            var batch = StoreBatch()
            for id in UInt64(1)...UInt64(1600) {
                batch.put(id: id, bytes: Array("record \(id)".utf8))
                batch.payloads.append((id, [UInt8](repeating: 7, count: 3000)))
            }
            commitAll(store, [batch])
            store.close()
        }
        let reopened = try DataDirectory(path: path, mapSize: 1 << 20)
        #expect(reopened.recoveryNotes.contains { $0.contains("new jobs are refused until") })
        #expect(try reopened.loadJobs().records.count == 1600)
    }

    @Test func aMissingOrCutLogFileRefusesTheStart() throws {
        for damage in ["delete", "truncate"] {
            let path = temporaryPath()
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                let store = try DataDirectory(path: path)
                commitAll(store, [batch(1)])  // no threads: checkpointed at once
                store.close()
            }
            let file = path + "/wal-b.log"
            if damage == "delete" {
                try FileManager.default.removeItem(atPath: file)
            } else {
                try FileHandle(forWritingTo: URL(fileURLWithPath: file)).truncate(atOffset: 4096)
            }
            #expect("\(damage)") {
                _ = try DataDirectory(path: path)
            } throws: { error in
                "\(error)".contains("wal-b.log") && "\(error)".contains(damage == "delete" ? "missing" : "cut")
            }
            let salvaged = try DataDirectory(path: path, salvage: true)
            #expect(try salvaged.loadJobs().records.map(\.id) == [1])
            salvaged.close()
            // "Start once with --salvage": the next start is an ordinary one.
            let reopened = try DataDirectory(path: path)
            #expect(try reopened.loadJobs().records.map(\.id) == [1])
            reopened.close()
        }
    }

    /// Before its first checkpoint a directory's acknowledged batches are in the log alone:
    /// a log file gone then is refused as after one (it was taken for a new directory's).
    @Test func aLogFileMissingBeforeTheFirstCheckpointRefusesTheStart() throws {
        for name in ["wal-a.log", "wal-b.log"] {
            let path = temporaryPath()
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                let store = try DataDirectory(path: path)
                try store.startBackgroundCommits(checkpoints: false)
                commitEach(store, [batch(1), batch(2)])
                store.abandonForTesting()
            }
            try FileManager.default.removeItem(atPath: path + "/" + name)
            #expect("\(name)") {
                _ = try DataDirectory(path: path)
            } throws: { error in
                "\(error)".contains(name) && "\(error)".contains("missing")
            }
        }
    }

    /// A log file gone after a start that logged is refused, whichever `--sync` the next start
    /// has: `--sync none` logs too (without flushes), so the file may have held acknowledged
    /// batches. (A directory last started by a docketd whose `--sync none` wrote no log takes
    /// a missing file for an empty one.)
    @Test func aLogFileMissingAfterAStartThatLoggedIsRefused() throws {
        for first in [SyncMode.none, .always] {
            let path = temporaryPath()
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                _ = try DataDirectory(path: path, syncMode: .always).close()  // checkpointed, then
                let store = try DataDirectory(path: path, syncMode: first)
                try store.startBackgroundCommits(checkpoints: false)
                commitEach(store, [batch(1), batch(2)])
                store.abandonForTesting()
            }
            try FileManager.default.removeItem(atPath: path + "/wal-b.log")
            #expect(throws: StoreError.self, "\(first)") { _ = try DataDirectory(path: path, syncMode: .none) }
        }
    }

    /// A log file grows past its first 2 MiB for a burst and keeps that size; cut back to the
    /// first size it used to pass for whole, and the batches past the cut were lost unseen.
    @Test func aLogFileCutBelowTheSizeItGrewToRefusesTheStart() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path, mapSize: 64 << 20)
            var big = StoreBatch()
            big.put(id: 1, bytes: Array("record 1".utf8))
            big.payloads = [(1, [UInt8](repeating: 0x61, count: 3 << 20))]
            commitAll(store, [big, batch(2)])  // no threads: each is checkpointed at once
            store.close()
        }
        let file = path + "/wal-a.log"
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int > 3 << 20)
        try FileHandle(forWritingTo: URL(fileURLWithPath: file)).truncate(atOffset: UInt64(WriteAheadLog.preallocatedBytes))
        #expect {
            _ = try DataDirectory(path: path, mapSize: 64 << 20)
        } throws: { error in
            "\(error)".contains("wal-a.log") && "\(error)".contains("had grown to")
        }
        try DataDirectory(path: path, mapSize: 64 << 20, salvage: true).close()
        // After the salvage the directory starts normally.
        #expect(try DataDirectory(path: path, mapSize: 64 << 20).loadJobs().records.map(\.id) == [1, 2])
    }

    /// A payload key garbled in data.mdb threw the side-by-side walk off its order, and every
    /// later job counted as having lost its payload (what --salvage then marks dead): a job
    /// the walk misses has its payload looked up before it counts as lost.
    @Test func aGarbledPayloadKeyDoesNotHideTheOtherPayloads() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path)
            commitAll(store, [(UInt64(1)...40).reduce(into: StoreBatch()) { batch, id in
                batch.put(id: id, bytes: Array("record \(id)".utf8))
                batch.payloads.append((id, Array("payload-\(id)-".utf8) + [UInt8](repeating: 0x70, count: 40)))
            }])
            store.close()
        }
        // Job 3's payload key (8 bytes, big-endian, before its payload) becomes 0xFF...: the
        // walk, which expects keys in order, finds it above every later job's id.
        let file = URL(fileURLWithPath: path + "/data.mdb")
        var bytes = try [UInt8](Data(contentsOf: file))
        let marker = Array("payload-3-".utf8)
        let at = try #require((0...(bytes.count - marker.count)).first { bytes[$0..<($0 + marker.count)].elementsEqual(marker) })
        for index in (at - 8)..<at { bytes[index] = 0xFF }
        try Data(bytes).write(to: file)
        let loaded = try DataDirectory(path: path).loadJobs().records
        let lost = loaded.filter { $0.payloadSize == nil }.map(\.id)
        #expect(lost.contains(3))
        #expect(lost.count <= 3, "jobs counted as without a payload: \(lost)")
    }

    /// LMDB says EIO for a short write, which a full disk writes: the message says so, with
    /// the free space, so that an operator does not go looking for a broken disk.
    @Test func anIOErrorFromLMDBNamesTheFreeSpace() {
        let hint = DataDirectory.hint(EIO, FileManager.default.temporaryDirectory.path)
        #expect(hint.contains("short write") && hint.contains("bytes are free"))
        #expect(DataDirectory.hint(ENOSPC, "/").isEmpty && DataDirectory.hint(0, "/").isEmpty)
    }

    @Test func afterACheckpointTheLogIsNotNeeded() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try DataDirectory(path: path)
        try store.startBackgroundCommits()
        commitAll(store, [batch(1, next: 2), batch(2, next: 3)])
        // Wait for the checkpoint thread, then commit once more into the other file.
        Thread.sleep(forTimeInterval: Double(DataDirectory.checkpointMilliseconds) / 1000 * 3)
        var read: [UInt8]?
        store.readPayload(2) { read = try? $0.get() }
        #expect(read == Array("payload 2".utf8))
        store.abandonForTesting()
        // Zeros over both files: everything must come from LMDB now.
        for file in ["wal-a.log", "wal-b.log"] {
            try overwrite(path + "/" + file, at: 0, with: [UInt8](repeating: 0, count: 4096))
        }
        let loaded = try DataDirectory(path: path).loadJobs()
        #expect(loaded.records.map(\.id) == [1, 2] && loaded.state.nextID == 3)
    }

    /// Writes a directory as docketd of layout `version` (1 or 2) did: the same databases, values
    /// without checksums.
    func writeUnsealedDirectory(_ path: String, version: UInt32, _ values: [String: [([UInt8], [UInt8])]]) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var env: OpaquePointer?
        mdb_env_create(&env)
        mdb_env_set_maxdbs(env, 16)
        mdb_env_set_mapsize(env, 256 << 20)
        defer { mdb_env_close(env) }
        try #require(mdb_env_open(env, path, UInt32(MDB_NOTLS), 0o644) == 0)
        var txn: OpaquePointer?
        try #require(mdb_txn_begin(env, nil, 0, &txn) == 0)
        var versionBytes = withUnsafeBytes(of: version.bigEndian) { Array($0) }
        var all = values
        all["meta", default: []].append((Array("layout_version".utf8), versionBytes))
        for name in ["meta", "jobs", "payloads", "queues", "routes"] {
            var dbi: MDB_dbi = 0
            try #require(mdb_dbi_open(txn, name, UInt32(MDB_CREATE), &dbi) == 0)
            for (key, value) in all[name] ?? [] {
                var key = key
                var value = value
                let status = key.withUnsafeMutableBytes { keyRaw in
                    value.withUnsafeMutableBytes { valueRaw -> Int32 in
                        var keyVal = MDB_val(mv_size: keyRaw.count, mv_data: keyRaw.baseAddress)
                        var valueVal = MDB_val(mv_size: valueRaw.count, mv_data: valueRaw.baseAddress)
                        return mdb_put(txn, dbi, &keyVal, &valueVal, 0)
                    }
                }
                try #require(status == 0)
            }
        }
        versionBytes.removeAll()
        try #require(mdb_txn_commit(txn) == 0)
    }

    func idKey(_ id: UInt64) -> [UInt8] { withUnsafeBytes(of: id.bigEndian) { Array($0) } }

    /// Layout 3 seals every value with a checksum; a directory of layouts 1 and 2 is upgraded on
    /// open, once, and reads back as it was written.
    @Test(arguments: [UInt32(1), 2])
    func anOlderLayoutIsUpgradedOnceAndReadsTheSame(version: UInt32) throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let big = [UInt8](repeating: 0x5A, count: 20_000)  // on overflow pages of its own
        try writeUnsealedDirectory(path, version: version, [
            // Past the 1,024 entries the upgrade seals at a time.
            "jobs": (UInt64(1)...2500).map { (idKey($0), Array("record \($0)".utf8)) },
            // Jobs 10-18 carry 2.5 MiB each: past the 16 MiB of values sealed at a time.
            "payloads": [(idKey(1), Array("payload 1".utf8)), (idKey(2), big), (idKey(3), [])]
                + (UInt64(10)...18).map { (idKey($0), [UInt8](repeating: UInt8($0), count: 5 << 19)) },
            "queues": [(Array("emails".utf8), Array("settings".utf8))],
            "routes": [(idKey(7), Array("route 7".utf8))],
        ])
        do {
            let store = try DataDirectory(path: path)
            #expect(store.openNotes.contains { $0.contains("from layout version \(version) to 3") }, "\(store.openNotes)")
            #expect(store.recoveryNotes.isEmpty, "\(store.recoveryNotes)")
            let loaded = try store.loadJobs()
            #expect(loaded.records.map(\.record) == (1...2500).map { Array("record \($0)".utf8) })
            #expect(loaded.records.prefix(4).map(\.payloadSize) == [9, 20_000, 0, nil])
            #expect(loaded.records[9..<18].allSatisfy { $0.payloadSize == 5 << 19 })
            var last: [UInt8]?
            store.readPayload(18) { last = try? $0.get() }
            #expect(last == [UInt8](repeating: 18, count: 5 << 19))
            #expect(loaded.state.queues.map(\.bytes) == [Array("settings".utf8)])
            #expect(loaded.state.routes.map(\.bytes) == [Array("route 7".utf8)])
            var payload: [UInt8]?
            store.readPayload(2) { payload = try? $0.get() }
            #expect(payload == big)
            store.close()
        }
        let again = try DataDirectory(path: path)
        #expect(again.recoveryNotes.isEmpty && again.openNotes.isEmpty, "\(again.openNotes)")
        #expect(try again.loadJobs().records.map(\.record) == (1...2500).map { Array("record \($0)".utf8) })
    }

    /// A value damaged on disk is found by its checksum: the job, payload, queue record or
    /// route named in the error, the start refused; `salvage` drops it (a job with a damaged
    /// record with its payload) and keeps the rest, and the next open is clean.
    @Test(arguments: ["job", "payload", "queue record", "route"])
    func aDamagedValueIsRefusedThenSalvaged(kind: String) throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try DataDirectory(path: path)
            var batch = StoreBatch()
            for id in UInt64(1)...3 {
                batch.put(id: id, bytes: Array("record-\(id)-marker".utf8))
                batch.payloads.append((id, Array("payload-\(id)-marker".utf8)))
            }
            batch.queues = [("queue-2-marker", Array("settings-2-marker".utf8)), ("other", Array("settings".utf8))]
            batch.routes = [(2, Array("route-2-marker".utf8)), (3, Array("route".utf8))]
            commitAll(store, [batch])
            store.close()
        }
        let marker = ["job": "record-2-marker", "payload": "payload-2-marker", "queue record": "settings-2-marker", "route": "route-2-marker"][kind]!
        let file = path + "/data.mdb"
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let pattern = Array(marker.utf8)
        let at = try #require((0...(bytes.count - pattern.count)).first { bytes[$0..<($0 + pattern.count)].elementsEqual(pattern) })
        try overwrite(file, at: at + 3, with: [bytes[at + 3] ^ 0x20])
        let named = ["job": "job 2 fails", "payload": "payload of job 2 fails", "queue record": "queue record queue-2-marker fails", "route": "route 2 fails"][kind]!
        if kind == "payload" {
            // The owner decides (a completed job's payload is only waiting to go): it is told.
            var damaged: [Bool] = []
            _ = try DataDirectory(path: path).load { damaged.append($0.payloadDamaged) }
            #expect(damaged == [false, true, false])
            #expect(DataDirectory.damagedPayloadMessage(path, job: 2).contains(named))
        } else {
            #expect {
                _ = try DataDirectory(path: path).loadJobs()
            } throws: { error in
                "\(error)".contains(named) && "\(error)".contains("--salvage")
            }
        }
        let salvaged = try DataDirectory(path: path, salvage: true)
        #expect(salvaged.recoveryNotes.count == 1 && salvaged.recoveryNotes[0].contains("failed its checksum"), "\(salvaged.recoveryNotes)")
        salvaged.close()
        let loaded = try DataDirectory(path: path).loadJobs()
        #expect(loaded.records.map(\.id) == (kind == "job" ? [1, 3] : [1, 2, 3]))
        #expect(loaded.records.map(\.payloadSize) == (kind == "job" ? [16, 16] : kind == "payload" ? [16, nil, 16] : [16, 16, 16]))
        #expect(loaded.state.queues.map(\.name) == (kind == "queue record" ? ["other"] : ["other", "queue-2-marker"]))
        #expect(loaded.state.routes.map(\.id) == (kind == "route" ? [3] : [2, 3]))
    }

    /// Damage that appears under a running server is found when the payload is read.
    @Test func aPayloadDamagedAfterTheStartFailsItsRead() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try DataDirectory(path: path)
        var batch = StoreBatch()
        batch.put(id: 1, bytes: [1])
        batch.payloads = [(1, Array("payload-1-marker".utf8))]
        commitAll(store, [batch])
        let file = path + "/data.mdb"
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let pattern = Array("payload-1-marker".utf8)
        let at = try #require((0...(bytes.count - pattern.count)).first { bytes[$0..<($0 + pattern.count)].elementsEqual(pattern) })
        try overwrite(file, at: at, with: Array("P".utf8))
        var read: Result<[UInt8], StoreError>?
        store.readPayload(1) { read = $0 }
        #expect(throws: StoreError.self) { try read?.get() }
        #expect("\(String(describing: read))".contains("payload of job 1 fails its checksum"))
        store.close()
    }
}

@Suite struct BackgroundCommitTests {
    @Test func commitsCompleteInOrderOnTheCallersThreadAndSurviveReopen() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try DataDirectory(path: path)
        try store.startBackgroundCommits()
        #expect(store.completionDescriptor >= 0)
        var completed: [Int] = []
        for number in 1...20 {
            var batch = StoreBatch()
            batch.put(id: UInt64(number), bytes: Array("record \(number)".utf8))
            batch.payloads = [(id: UInt64(number), bytes: [])]
            batch.nextID = UInt64(number + 1)
            store.commit(batch) { result in
                #expect((try? result.get()) != nil)
                completed.append(number)
            }
        }
        // Completions never run behind the caller's back: only when it asks.
        while completed.count < 20 { store.waitForCommits() }
        #expect(completed == Array(1...20))
        store.close()
        let loaded = try DataDirectory(path: path).loadJobs()
        #expect(loaded.records.count == 20 && loaded.state.nextID == 21)
    }

    /// The payloads of a burst wait in memory until a checkpoint moves them into LMDB; once it
    /// has, their table gives its room up instead of keeping it for good.
    @Test func theTableOfPayloadsAwaitingACheckpointShrinksOnceEmpty() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Without background commits, each commit is checkpointed before it completes.
        let store = try DataDirectory(path: path)
        var batch = StoreBatch()
        for id in UInt64(1)...20_000 {
            batch.put(id: id, bytes: [1, 2, 3])
            batch.payloads.append((id: id, bytes: [4, 5, 6]))
        }
        var outcome: Result<Void, StoreError>?
        store.commit(batch) { outcome = $0 }
        try outcome!.get()
        #expect(store.unappliedPayloadCapacity < 100)
        var read: [UInt8]?
        store.readPayload(20_000) { read = try? $0.get() }
        #expect(read == [4, 5, 6])
        store.close()
    }

    /// `--sync none` commits on the caller's thread and checkpoints on a thread of its own: the
    /// checkpoints go on while the caller commits, and stop with `close`.
    @Test func syncNoneCheckpointsPeriodicallyOnItsOwnThread() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try DataDirectory(path: path, syncMode: .none)
        try store.startCheckpoints(intervalMilliseconds: 10)
        var number: UInt64 = 0
        let deadline = Date().addingTimeInterval(10)
        while store.checkpoints < 3 && Date() < deadline {
            number += 1
            var batch = StoreBatch()
            batch.put(id: number, bytes: Array("record \(number)".utf8))
            batch.payloads = [(id: number, bytes: Array("payload".utf8))]
            batch.nextID = number + 1
            var outcome: Result<Void, StoreError>?
            store.commit(batch) { outcome = $0 }
            // No thread is handed the commit: it is done when `commit` returns.
            try #require(outcome != nil)
            try outcome!.get()
            usleep(2_000)
        }
        #expect(store.checkpoints >= 3)
        store.close()
        let closed = store.checkpoints
        usleep(50_000)
        #expect(store.checkpoints == closed)
        let loaded = try DataDirectory(path: path).loadJobs()
        #expect(loaded.records.count == Int(number) && loaded.state.nextID == number + 1)
    }
}

/// Commits `batches` and waits until every one has completed (with or without background
/// commits), expecting each to succeed.
/// Commits each batch on its own, waiting for it before the next: one log record each (a
/// background writer puts batches submitted together in one record).
func commitEach(_ store: DataDirectory, _ batches: [StoreBatch]) {
    for batch in batches { commitAll(store, [batch]) }
}

func commitAll(_ store: DataDirectory, _ batches: [StoreBatch]) {
    var completed = 0
    for batch in batches {
        store.commit(batch) { result in
            #expect((try? result.get()) != nil)
            completed += 1
        }
    }
    while completed < batches.count { store.waitForCommits() }
}
