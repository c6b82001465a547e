@testable import DocketStore
import Testing

/// The write-ahead log's checksum, against published vectors and a bit-at-a-time reference.
@Suite struct CRC32CTests {
    /// The definition, one bit at a time (reflected polynomial 0x82F63B78).
    func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }

    @Test func publishedVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        // RFC 3720 (iSCSI), appendix B.4.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func everyLengthAndAlignmentMatchesTheDefinition() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<80).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<8 {
            for end in start...bytes.count {
                let slice = Array(bytes[start..<end])
                let sum = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
                #expect(sum == reference(slice), "bytes \(start)..<\(end)")
                #expect(CRC32C.checksum(slice) == sum)
                // The table version (other architectures) agrees wherever the instruction is used.
                let tables = bytes.withUnsafeBytes { CRC32C.tables(UnsafeRawBufferPointer(rebasing: $0[start..<end]), continuing: 0) }
                #expect(tables == sum, "tables, bytes \(start)..<\(end)")
            }
        }
    }

    /// A key and its value are summed as one run (`SealedValue`): continuing a checksum is the
    /// checksum of the two runs joined, split anywhere.
    @Test func continuingIsTheChecksumOfTheJoinedRuns() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<70).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for split in 0...bytes.count {
            let joined = bytes.withUnsafeBytes { raw in
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[split...]), continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<split])))
            }
            #expect(joined == reference(bytes), "split at \(split)")
            let joinedByTables = bytes.withUnsafeBytes { raw in
                CRC32C.tables(UnsafeRawBufferPointer(rebasing: raw[split...]), continuing: CRC32C.tables(UnsafeRawBufferPointer(rebasing: raw[..<split]), continuing: 0))
            }
            #expect(joinedByTables == joined)
        }
    }
}
