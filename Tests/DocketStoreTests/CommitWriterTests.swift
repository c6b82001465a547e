@testable import DocketStore
import Foundation
import Glibc
import Testing

/// The commit thread writes everything submitted while it was busy in its next write, and
/// completes every batch in the order it was submitted.
@Suite struct CommitWriterTests {
    /// Batches that name themselves by their one job id.
    static func batch(_ id: UInt64) -> StoreBatch {
        var batch = StoreBatch()
        batch.deletes = [id]
        return batch
    }

    /// Runs completions as the thread reports them, the way the event loop does, until `done`.
    static func runCompletions(of writer: CommitWriter, until done: () -> Bool) {
        while !done() {
            var poller = pollfd(fd: writer.readDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, 1000)
            writer.runFinished()
        }
    }

    @Test func batchesSubmittedDuringAWriteGoTogetherInTheNext() throws {
        let firstWriteStarted = DispatchSemaphore(value: 0)
        let releaseFirstWrite = DispatchSemaphore(value: 0)
        let lock = NSLock()
        var writes: [[UInt64]] = []
        let writer = try CommitWriter { batches in
            let ids = batches.flatMap(\.deletes)
            lock.withLock { writes.append(ids) }
            if ids == [1] {
                firstWriteStarted.signal()
                releaseFirstWrite.wait()
            }
            return .success(())
        }
        var completed: [UInt64] = []
        writer.submit(Self.batch(1)) { _ in completed.append(1) }
        firstWriteStarted.wait()
        // The thread is inside the first write: these queue behind it.
        for id in UInt64(2)...30 { writer.submit(Self.batch(id)) { _ in completed.append(id) } }
        releaseFirstWrite.signal()
        Self.runCompletions(of: writer) { completed.count == 30 }
        writer.stop()
        #expect(lock.withLock { writes } == [[1], Array(2...30)])
        #expect(completed == Array(1...30))
    }

    @Test func aFailedWriteFailsEveryBatchInIt() throws {
        let firstWriteStarted = DispatchSemaphore(value: 0)
        let releaseFirstWrite = DispatchSemaphore(value: 0)
        let writer = try CommitWriter { batches in
            if batches.first?.deletes == [1] {
                firstWriteStarted.signal()
                releaseFirstWrite.wait()
                return .success(())
            }
            return .failure(StoreError("disk gone"))
        }
        var results: [(UInt64, Bool)] = []
        writer.submit(Self.batch(1)) { results.append((1, (try? $0.get()) != nil)) }
        firstWriteStarted.wait()
        for id in UInt64(2)...4 { writer.submit(Self.batch(id)) { results.append((id, (try? $0.get()) != nil)) } }
        releaseFirstWrite.signal()
        Self.runCompletions(of: writer) { results.count == 4 }
        writer.stop()
        #expect(results.map(\.0) == [1, 2, 3, 4])
        #expect(results.map(\.1) == [true, false, false, false])
    }
}
