/// A growable byte buffer with a reader and a writer index, used for both socket input and
/// socket output.
///
/// It is a class because it owns raw memory, and raw memory is what the hot path wants:
/// the parser reads `readableBytes` in place and the server appends replies and messages with
/// `memcpy`, with no per-message allocation. Bytes between `readerIndex` and `writerIndex` are
/// the content; `discardReadBytes()` moves them to the front when the space behind them is
/// worth reclaiming.
public final class ByteBuffer {
    @usableFromInline var storage: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    @usableFromInline var readerIndex = 0
    @usableFromInline var writerIndex = 0

    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 16)
        self.storage = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Number of bytes written and not yet consumed.
    @inlinable public var readableCount: Int { writerIndex - readerIndex }

    /// Whether there is nothing left to read.
    @inlinable public var isEmpty: Bool { writerIndex == readerIndex }

    /// Total bytes the buffer can hold without growing.
    public var allocatedCapacity: Int { capacity }

    /// The unread bytes, valid until the next mutation of the buffer.
    @inlinable public var readableBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage + readerIndex, count: writerIndex - readerIndex)
    }

    /// Marks `count` bytes at the front as consumed.
    @inlinable public func consume(_ count: Int) {
        readerIndex += count
        if readerIndex == writerIndex {
            // Empty: start again at the front so the next append never needs a move.
            readerIndex = 0
            writerIndex = 0
        }
    }

    /// Drops all content.
    public func clear() {
        readerIndex = 0
        writerIndex = 0
    }

    /// Moves unread bytes to the front of the storage.
    public func discardReadBytes() {
        guard readerIndex > 0 else { return }
        let count = readableCount
        if count > 0 { (storage).copyMemory(from: storage + readerIndex, byteCount: count) }
        readerIndex = 0
        writerIndex = count
    }

    /// Free space after the written bytes, for a `read(2)` straight into the buffer.
    /// Call `commitWrite(_:)` with the number of bytes actually stored.
    public func writableSpace(atLeast minimum: Int) -> UnsafeMutableRawBufferPointer {
        ensureWritable(minimum)
        return UnsafeMutableRawBufferPointer(start: storage + writerIndex, count: capacity - writerIndex)
    }

    /// Records that `count` bytes were stored into the space from `writableSpace(atLeast:)`.
    public func commitWrite(_ count: Int) { writerIndex += count }

    /// Makes room for `count` more bytes, first by reclaiming consumed space, then by growing.
    @inlinable public func ensureWritable(_ count: Int) {
        if capacity - writerIndex >= count { return }
        makeRoom(count)
    }

    @usableFromInline func makeRoom(_ count: Int) {
        let live = readableCount
        if readerIndex > 0 && capacity - live >= count && live <= capacity / 2 {
            discardReadBytes()
            return
        }
        var newCapacity = capacity
        while newCapacity - live < count { newCapacity *= 2 }
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if live > 0 { newStorage.copyMemory(from: storage + readerIndex, byteCount: live) }
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
        readerIndex = 0
        writerIndex = live
    }

    /// Gives back memory after a burst: shrinks to `capacity` bytes when the content fits.
    public func shrink(to target: Int) {
        guard capacity > target, readableCount <= target / 2 else { return }
        let live = readableCount
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: target, alignment: 16)
        if live > 0 { newStorage.copyMemory(from: storage + readerIndex, byteCount: live) }
        storage.deallocate()
        storage = newStorage
        capacity = target
        readerIndex = 0
        writerIndex = live
    }

    // MARK: Appending

    @inlinable public func append(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        guard count > 0 else { return }
        ensureWritable(count)
        (storage + writerIndex).copyMemory(from: bytes.baseAddress!, byteCount: count)
        writerIndex += count
    }

    @inlinable public func append(_ byte: UInt8) {
        ensureWritable(1)
        storage.storeBytes(of: byte, toByteOffset: writerIndex, as: UInt8.self)
        writerIndex += 1
    }

    @inlinable public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Appends a compile-time ASCII constant such as `"+OK\r\n"`.
    @inlinable public func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends the UTF-8 bytes of a string. Not for the hot path.
    public func append(string: String) {
        var copy = string
        copy.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends a non-negative integer in decimal, without allocating.
    @inlinable public func appendDecimal(_ value: Int) {
        precondition(value >= 0)
        ensureWritable(20)
        if value < 10 {
            storage.storeBytes(of: UInt8(48 + value), toByteOffset: writerIndex, as: UInt8.self)
            writerIndex += 1
            return
        }
        // Every reply carries a few numbers (ids, sizes, counts): digits are counted by
        // comparison and written two per division, not one.
        var digits = 2
        var bound = 100
        while digits < 19 && value >= bound {
            digits += 1
            bound &*= 10
        }
        var rest = value
        var position = writerIndex + digits
        while rest >= 100 {
            let pair = rest % 100
            rest /= 100
            position -= 2
            storage.storeBytes(of: UInt8(truncatingIfNeeded: 48 + pair / 10), toByteOffset: position, as: UInt8.self)
            storage.storeBytes(of: UInt8(truncatingIfNeeded: 48 + pair % 10), toByteOffset: position + 1, as: UInt8.self)
        }
        if rest >= 10 {
            storage.storeBytes(of: UInt8(truncatingIfNeeded: 48 + rest / 10), toByteOffset: position - 2, as: UInt8.self)
            storage.storeBytes(of: UInt8(truncatingIfNeeded: 48 + rest % 10), toByteOffset: position - 1, as: UInt8.self)
        } else {
            storage.storeBytes(of: UInt8(truncatingIfNeeded: 48 + rest), toByteOffset: position - 1, as: UInt8.self)
        }
        writerIndex += digits
    }

    /// A copy of the unread bytes; for tests and logs.
    public var bytes: [UInt8] { Array(readableBytes) }
}
