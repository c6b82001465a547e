/// beanstalkd's protocol: `put` into a tube, `reserve-with-timeout`, `delete` as the ack.
/// Producers `use` the tube; workers `watch` it and ignore `default`, so a benchmark never
/// takes jobs that are not its own (unless the tube is `default`).
struct BeanstalkWire: JobWire {
    private let tube: String
    private let putPrefix: [UInt8]
    private let payloadSize: Int

    /// Priority 1024 (the conventional middle), no delay, and a time-to-run long enough that
    /// no job is handed out twice during a run.
    init(queue: String, payloadSize: Int) {
        tube = queue
        putPrefix = Array("put 1024 0 60 \(payloadSize)\r\n".utf8)
        self.payloadSize = payloadSize
    }

    func prepareProducer(_ connection: Connection, shouldStop: () -> Bool) throws {
        guard tube != "default" else { return }
        try connection.write("use \(tube)\r\n", shouldStop: shouldStop)
        try expectLine("USING ", on: connection, after: "use", shouldStop: shouldStop)
    }

    func prepareWorker(_ connection: Connection, shouldStop: () -> Bool) throws {
        guard tube != "default" else { return }
        try connection.write("watch \(tube)\r\nignore default\r\n", shouldStop: shouldStop)
        try expectLine("WATCHING ", on: connection, after: "watch", shouldStop: shouldStop)
        try expectLine("WATCHING ", on: connection, after: "ignore default", shouldStop: shouldStop)
    }

    func appendEnqueue(timestamp: UInt64, sequence: UInt64, to output: inout OutputBuffer) {
        output.append(putPrefix)
        JobPayload.append(timestamp: timestamp, sequence: sequence, size: payloadSize, to: &output)
        output.append(RESP.crlf)
    }

    func appendReserve(to output: inout OutputBuffer) { output.append(Self.reserve) }

    func appendAck(handle: UnsafeRawBufferPointer, to output: inout OutputBuffer) {
        output.append(Self.deletePrefix)
        output.append(handle)
        output.append(RESP.crlf)
    }

    /// beanstalkd never pings.
    func appendPong(to output: inout OutputBuffer) {}

    private static let reserve = Array("reserve-with-timeout 1\r\n".utf8)
    private static let deletePrefix = Array("delete ".utf8)

    func parse(_ bytes: UnsafeRawBufferPointer) throws -> ParsedReply? {
        guard let (line, lineLength) = RawText.line(in: bytes) else { return nil }
        if RawText.hasPrefix(line, "INSERTED ") || RawText.equals(line, "DELETED") {
            return ParsedReply(reply: .done, length: lineLength)
        }
        if RawText.hasPrefix(line, "RESERVED ") {
            // RESERVED <id> <#bytes>
            guard let id = RawText.field(1, of: line), let sizeField = RawText.field(2, of: line),
                  let size = RawText.integer(sizeField), size >= 0 else {
                throw BenchError("malformed RESERVED line: \(RawText.text(line))")
            }
            guard let (payload, length) = try payload(after: lineLength, size: size, in: bytes) else { return nil }
            return ParsedReply(reply: .job(handle: id, payload: payload), length: length)
        }
        // DEADLINE_SOON says a job this connection holds is about to time out; like a timeout,
        // the reserve got nothing and is simply sent again.
        if RawText.equals(line, "TIMED_OUT") || RawText.equals(line, "DEADLINE_SOON") {
            return ParsedReply(reply: .noJob, length: lineLength)
        }
        // Everything else beanstalkd says is an error: BURIED, JOB_TOO_BIG, OUT_OF_MEMORY, ...
        return ParsedReply(reply: .error(RawText.text(line)), length: lineLength)
    }
}
