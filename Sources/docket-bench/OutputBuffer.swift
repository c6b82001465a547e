/// Commands waiting to go out on one non-blocking connection.
///
/// Sessions append whole commands while they handle a read's worth of replies, and the loop
/// writes them with one write(2) afterwards: pipelining is what lets a few client threads keep
/// dozens of connections busy. Whatever the socket does not take stays for the next write.
struct OutputBuffer {
    private var bytes: [UInt8] = []
    /// Bytes at the front already handed to the kernel.
    private var written = 0

    init() { bytes.reserveCapacity(64 << 10) }

    var isEmpty: Bool { written == bytes.count }

    /// The bytes not yet written, for tests and diagnostics.
    var pendingBytes: ArraySlice<UInt8> { bytes[written...] }

    mutating func append(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    mutating func append(_ data: UnsafeRawBufferPointer) { bytes.append(contentsOf: data) }

    /// Appends `value` as exactly 16 lower-case hexadecimal digits.
    mutating func appendHex(_ value: UInt64) {
        let digits: StaticString = "0123456789abcdef"
        for shift in stride(from: 60, through: 0, by: -4) {
            bytes.append(digits.utf8Start[Int((value >> UInt64(shift)) & 0xF)])
        }
    }

    /// Appends a non-negative integer in decimal, as RESP length prefixes need.
    mutating func appendDecimal(_ value: Int) {
        precondition(value >= 0)
        if value >= 10 { appendDecimal(value / 10) }
        bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    /// Appends `count` copies of `byte`, the filler that brings a payload to its size.
    mutating func append(repeating byte: UInt8, count: Int) {
        bytes.append(contentsOf: repeatElement(byte, count: count))
    }

    /// Writes as much as the socket takes now.
    /// - Returns: true when nothing is left to write.
    mutating func flush(to connection: Connection) throws -> Bool {
        while written < bytes.count {
            let count = try bytes.withUnsafeBytes {
                try connection.writeAvailable(UnsafeRawBufferPointer(rebasing: $0[written...]))
            }
            if count == 0 { return false }
            written += count
        }
        // Everything went out: start again at the front, keeping the allocation.
        bytes.removeAll(keepingCapacity: true)
        written = 0
        return true
    }
}
