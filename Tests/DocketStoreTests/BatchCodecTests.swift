@testable import DocketStore
import Testing

/// The log's batch encoding is what every log already on disk holds: a change to how it is
/// written must leave the bytes as they were, field for field.
@Suite struct BatchCodecTests {
    func everyField() -> StoreBatch {
        var batch = StoreBatch()
        batch.put(id: 7, bytes: [0xAA, 0xBB])
        batch.put(id: 0x0102_0304_0506_0708, bytes: [])
        batch.payloads = [(9, [1, 2, 3]), (10, [])]
        batch.payloadDeletes = [11]
        batch.deletes = [12, 13]
        batch.queues = [("é", [0x55]), ("q", [])]
        batch.routes = [(14, [0x66]), (15, nil)]
        batch.nextID = 16
        batch.nextRouteID = nil
        return batch
    }

    @Test func writesTheLayoutLogsOnDiskHold() {
        func u32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        func u64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
        var expected: [UInt8] = []
        expected += u32(2) + u64(7) + u32(2) + [0xAA, 0xBB] + u64(0x0102_0304_0506_0708) + u32(0)
        expected += u32(2) + u64(9) + u32(3) + [1, 2, 3] + u64(10) + u32(0)
        expected += u32(1) + u64(11)
        expected += u32(2) + u64(12) + u64(13)
        expected += u32(2) + u32(2) + [0xC3, 0xA9] + u32(1) + [0x55] + u32(1) + [0x71] + u32(0)
        expected += u32(2) + u64(14) + [1] + u32(1) + [0x66] + u64(15) + [0]
        expected += [1] + u64(16) + [0]
        var out: [UInt8] = [0xFE]  // appended after what is there
        BatchCodec.encode(everyField(), into: &out)
        #expect(out == [0xFE] + expected)
        #expect(BatchCodec.encodedSize(everyField()) == expected.count)
    }

    @Test func readsBackWhatItWrote() throws {
        var empty = StoreBatch()
        empty.nextRouteID = 3
        var out: [UInt8] = []
        for batch in [everyField(), empty, everyField()] { BatchCodec.encode(batch, into: &out) }
        let batches = try #require(BatchCodec.decodeAll(out))
        #expect(batches.count == 3)
        let first = batches[0]
        #expect(first.puts.map(\.id) == [7, 0x0102_0304_0506_0708])
        #expect(first.puts.map { Array(first.records[$0.bytes]) } == [[0xAA, 0xBB], []])
        #expect(first.payloads.map(\.id) == [9, 10] && first.payloads.map(\.bytes) == [[1, 2, 3], []])
        #expect(first.payloadDeletes == [11] && first.deletes == [12, 13])
        #expect(first.queues.map(\.name) == ["é", "q"] && first.queues.map(\.bytes) == [[0x55], []])
        #expect(first.routes.map(\.0) == [14, 15] && first.routes.map(\.1) == [[0x66], nil])
        #expect(first.nextID == 16 && first.nextRouteID == nil)
        #expect(batches[1].isEmpty && batches[1].nextRouteID == 3 && batches[1].nextID == nil)
    }
}
