#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A hash table keyed by byte strings that can be looked up with bytes borrowed from a buffer.
///
/// Swift's `Dictionary` needs a key value to look up, and building a `[UInt8]` key from a
/// subject in the input buffer allocates once per publish. This table hashes the borrowed
/// bytes (FNV-1a) and compares them with `memcmp`, so a lookup allocates nothing.
/// Open addressing with linear probing; removals leave tombstones, swept on the next resize.
final class ByteKeyedTable<Value> {
    // A slot's hash is 0 when it never held a key and 1 when its key was removed;
    // real hashes are forced to be at least 2.
    private var hashes: [UInt64]
    private var keys: [[UInt8]]
    private var values: [Value?]
    private(set) var count = 0
    private var tombstones = 0

    init(capacity: Int = 8) {
        var size = 8
        while size < capacity * 2 { size *= 2 }
        hashes = Array(repeating: 0, count: size)
        keys = Array(repeating: [], count: size)
        values = Array(repeating: nil, count: size)
    }

    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash < 2 ? hash + 2 : hash
    }

    func find(_ key: UnsafeRawBufferPointer) -> Value? {
        let hash = Self.hash(key)
        let mask = hashes.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let stored = hashes[slot]
            if stored == 0 { return nil }
            if stored == hash && sameBytes(keys[slot], key) { return values[slot] }
            slot = (slot + 1) & mask
        }
    }

    func find(_ key: [UInt8]) -> Value? { key.withUnsafeBytes { find($0) } }

    /// Inserts or replaces the value for `key`.
    func set(_ key: [UInt8], _ value: Value) {
        if (count + tombstones + 1) * 10 > hashes.count * 7 { resize() }
        let hash = key.withUnsafeBytes { Self.hash($0) }
        let mask = hashes.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        var firstFree = -1
        while true {
            let stored = hashes[slot]
            if stored == 0 { break }
            if stored == 1 {
                if firstFree < 0 { firstFree = slot }
            } else if stored == hash && keys[slot] == key {
                values[slot] = value
                return
            }
            slot = (slot + 1) & mask
        }
        if firstFree >= 0 {
            slot = firstFree
            tombstones -= 1
        }
        hashes[slot] = hash
        keys[slot] = key
        values[slot] = value
        count += 1
    }

    @discardableResult
    func remove(_ key: [UInt8]) -> Value? {
        let hash = key.withUnsafeBytes { Self.hash($0) }
        let mask = hashes.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let stored = hashes[slot]
            if stored == 0 { return nil }
            if stored == hash && keys[slot] == key {
                let value = values[slot]
                hashes[slot] = 1
                keys[slot] = []
                values[slot] = nil
                count -= 1
                tombstones += 1
                return value
            }
            slot = (slot + 1) & mask
        }
    }

    func removeAll() {
        guard count > 0 || tombstones > 0 else { return }
        for index in hashes.indices {
            hashes[index] = 0
            keys[index] = []
            values[index] = nil
        }
        count = 0
        tombstones = 0
    }

    private func resize() {
        let oldHashes = hashes
        let oldKeys = keys
        let oldValues = values
        let size = count * 4 > hashes.count ? hashes.count * 2 : hashes.count
        hashes = Array(repeating: 0, count: size)
        keys = Array(repeating: [], count: size)
        values = Array(repeating: nil, count: size)
        count = 0
        tombstones = 0
        for index in oldHashes.indices where oldHashes[index] >= 2 {
            set(oldKeys[index], oldValues[index]!)
        }
    }
}

/// Whether a stored name and a name on the wire (or in a record) are the same bytes.
func sameBytes(_ stored: [UInt8], _ key: UnsafeRawBufferPointer) -> Bool {
    guard stored.count == key.count else { return false }
    guard key.count > 0 else { return true }
    return stored.withUnsafeBytes { memcmp($0.baseAddress!, key.baseAddress!, key.count) == 0 }
}
