import CLMDB

/// A value in `data.mdb` with its checksum: four bytes of CRC-32C (little-endian) over the key
/// and the value, then the value. LMDB checksums nothing, so a flipped bit on disk was read
/// back as a different job, payload or setting; sealed, it is found (at start, or when a
/// payload is read) instead. The key is summed too, so a value found under another key (a
/// garbled key, a page from elsewhere) fails as well.
enum SealedValue {
    static let overhead = 4

    /// Writes `value` under `key` sealed, through `reserve`, which makes room for the given
    /// number of bytes (an `MDB_RESERVE` put) and returns where they go: the value is copied
    /// once, as a plain put would.
    static func put(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, reserve: (Int) throws -> UnsafeMutableRawPointer
    ) rethrows {
        let room = try reserve(overhead + value.count)
        let checksum = CRC32C.checksum(value, continuing: CRC32C.checksum(key))
        room.storeBytes(of: checksum.littleEndian, toByteOffset: 0, as: UInt32.self)
        if let base = value.baseAddress, value.count > 0 { (room + overhead).copyMemory(from: base, byteCount: value.count) }
    }

    /// The value stored under `key` without its seal; nil when the checksum does not match.
    static func open(key: UnsafeRawBufferPointer, stored: MDB_val) -> UnsafeRawBufferPointer? {
        guard stored.mv_size >= overhead, let base = stored.mv_data else { return nil }
        let value = UnsafeRawBufferPointer(start: base + overhead, count: stored.mv_size - overhead)
        let expected = UInt32(littleEndian: base.loadUnaligned(as: UInt32.self))
        return CRC32C.checksum(value, continuing: CRC32C.checksum(key)) == expected ? value : nil
    }

    /// The size of the value a sealed entry of `storedSize` bytes holds, without reading it.
    static func valueSize(_ storedSize: Int) -> Int { max(0, storedSize - overhead) }
}
