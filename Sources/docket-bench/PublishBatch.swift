/// A buffer of identical publish commands (NATS `PUB`, or Redis `PUBLISH`), built once and written over and over, so the
/// publisher's only per-message cost is its share of a large write(2).
struct PublishBatch {
    /// Roughly how much one write hands the kernel: large enough that system calls are rare,
    /// small enough to sit in cache and let the server start routing early.
    static let targetBytes = 64 << 10

    /// One command, such as `PUB <subject> <size>\r\n<payload>\r\n`, repeated `commandCount` times.
    let bytes: [UInt8]
    /// Bytes of one command.
    let commandSize: Int
    /// Commands in `bytes`; at least one, even when one command exceeds `targetBytes`.
    let commandCount: Int

    init(subject: String, payloadSize: Int) {
        var command = Array("PUB \(subject) \(payloadSize)\r\n".utf8)
        // Fixed, printable payload bytes: what they are does not matter, only how many.
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        command += (0..<payloadSize).map { alphabet[$0 % alphabet.count] }
        command += Array("\r\n".utf8)
        self.init(command: command)
    }

    /// A batch of copies of any one complete command (Redis's PUBLISH, say).
    init(command: [UInt8]) {
        commandSize = command.count
        commandCount = max(1, Self.targetBytes / command.count)
        var batch: [UInt8] = []
        batch.reserveCapacity(commandSize * commandCount)
        for _ in 0..<commandCount { batch += command }
        bytes = batch
    }

    /// Writes the first `count` commands (all commands are identical, so any prefix will do).
    /// - Returns: false if `shouldStop` ended the write early.
    func write(_ count: Int, to connection: Connection, shouldStop: () -> Bool) throws -> Bool {
        precondition(count > 0 && count <= commandCount)
        return try bytes.withUnsafeBytes {
            try connection.write(UnsafeRawBufferPointer(rebasing: $0[..<(count * commandSize)]), shouldStop: shouldStop)
        }
    }
}
