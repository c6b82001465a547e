/// One reply to a job command, reduced to what a benchmark needs. Its buffers point into the
/// connection's receive buffer and are valid only until the reply is consumed.
enum JobReply {
    /// An enqueue or an ack is confirmed (`+OK`, `INSERTED`, `DELETED`, `:1`).
    case done
    /// A reserved job: the bytes that name it in the ack, and its payload.
    case job(handle: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer)
    /// A reserve timed out without a job.
    case noJob
    /// A keep-alive from the server that must be answered; it belongs to no command.
    case ping
    /// Server chatter that belongs to no command (an INFO update, a PONG).
    case ignored
    /// An error reply, as text for the report.
    case error(String)
}

/// A reply and the bytes it took in the stream.
struct ParsedReply {
    let reply: JobReply
    let length: Int
}

/// How one kind of server spells the three verbs of a job cycle (enqueue, reserve, ack) and
/// what its replies mean. Each protocol gets one implementation; the producer and worker
/// sessions above it are the same for all, so every server is measured by the same client.
///
/// Commands are appended to an `OutputBuffer` from bytes prepared once per run, so the hot
/// path copies bytes and never formats text.
protocol JobWire: Sendable {
    /// Greets the server and selects the queue on a new producer connection, still blocking.
    func prepareProducer(_ connection: Connection, shouldStop: () -> Bool) throws
    /// The same for a worker connection.
    func prepareWorker(_ connection: Connection, shouldStop: () -> Bool) throws
    /// One enqueue whose payload is stamped with `timestamp` and `sequence`.
    func appendEnqueue(timestamp: UInt64, sequence: UInt64, to output: inout OutputBuffer)
    /// One reserve that waits at most a second, so that a stalled run still notices its deadline.
    func appendReserve(to output: inout OutputBuffer)
    /// The ack of the job that a `.job` reply named with `handle`.
    func appendAck(handle: UnsafeRawBufferPointer, to output: inout OutputBuffer)
    /// The answer to a `.ping`.
    func appendPong(to output: inout OutputBuffer)
    /// The first complete reply in `bytes`, or nil if it is not all there yet.
    /// - Throws: if the bytes are not a reply this protocol can send.
    func parse(_ bytes: UnsafeRawBufferPointer) throws -> ParsedReply?
}

extension JobWire {
    /// Reads one reply line during preparation and checks that it starts with `expected`.
    func expectLine(_ expected: String, on connection: Connection, after command: String, shouldStop: () -> Bool) throws {
        let line = try connection.readLine(shouldStop: shouldStop)
        guard line.hasPrefix(expected) else {
            throw BenchError("expected \(expected) in answer to \(command), got: \(line.prefix(120))")
        }
    }

    /// The payload that a `<verb> ... <#bytes>` line announces, once it and its CRLF are all in
    /// `bytes`; nil while some of it is still to come.
    /// - Parameters:
    ///   - lineLength: the bytes the control line took, line ending included.
    func payload(after lineLength: Int, size: Int, in bytes: UnsafeRawBufferPointer) throws
        -> (payload: UnsafeRawBufferPointer, length: Int)?
    {
        let length = lineLength + size + 2
        guard bytes.count >= length else { return nil }
        guard bytes[length - 2] == 0x0D, bytes[length - 1] == 0x0A else {
            throw BenchError("a payload of \(size) bytes is not followed by CRLF")
        }
        return (UnsafeRawBufferPointer(rebasing: bytes[lineLength..<(length - 2)]), length)
    }
}
