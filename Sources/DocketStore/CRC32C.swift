#if arch(x86_64)
    import _Builtin_intrinsics.intel
#endif

/// CRC-32C (Castagnoli), the checksum of write-ahead log records and of every value in
/// `data.mdb` (`SealedValue`). Every durable commit sums its whole batch, and a start sums
/// every stored job and payload. On x86-64 it is SSE 4.2's `crc32` instruction, eight bytes a
/// step (about 11 GB/s here, against 1.5 for the tables: a sixth of a million-job recovery
/// went to the tables); elsewhere eight tables, eight bytes a step ("slicing-by-8": a byte at
/// a time it was a quarter of the commit thread's time in the 16x8 job cycle).
enum CRC32C {
    /// Table k maps a byte to the CRC of that byte followed by k zero bytes.
    private static let table: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[index] = crc
        }
        for table in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(table - 1) * 256 + index]
                tables[table * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// The checksum of `bytes`, or with `previous` (the checksum of what came before them)
    /// the checksum of the two runs of bytes one after the other.
    static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        #if arch(x86_64)
            return instruction(bytes, continuing: previous)
        #else
            return tables(bytes, continuing: previous)
        #endif
    }

    #if arch(x86_64)
        static func instruction(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32) -> UInt32 {
            var wide = UInt64(previous ^ 0xFFFF_FFFF)
            var offset = 0
            while offset + 8 <= bytes.count {
                wide = _mm_crc32_u64(wide, bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                offset += 8
            }
            var crc = UInt32(truncatingIfNeeded: wide)
            while offset < bytes.count {
                crc = _mm_crc32_u8(crc, bytes[offset])
                offset += 1
            }
            return crc ^ 0xFFFF_FFFF
        }
    #endif

    static func tables(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32) -> UInt32 {
        var crc: UInt32 = previous ^ 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            var offset = 0
            while offset + 8 <= bytes.count {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ crc
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                offset += 8
            }
            while offset < bytes.count {
                crc = t[Int((crc ^ UInt32(bytes[offset])) & 0xFF)] ^ (crc >> 8)
                offset += 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
