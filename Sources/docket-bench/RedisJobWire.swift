/// The Redis "reliable queue" pattern: `LPUSH <queue>` to enqueue, `BLMOVE <queue>
/// <queue>:processing RIGHT LEFT 1` to reserve (the job moves atomically to a processing list,
/// where a recovery process could find it if the worker died), and `LREM <queue>:processing 1
/// <payload>` to ack. Whether an ack is durable depends on the server's `appendfsync`.
struct RedisJobWire: JobWire {
    private let pushPrefix: [UInt8]
    private let move: [UInt8]
    private let removePrefix: [UInt8]
    private let payloadSize: Int

    init(queue: String, payloadSize: Int) {
        let processing = "\(queue):processing"
        // The arguments up to the last one, whose bulk header and bytes are added per job.
        let push = RESP.command(["LPUSH", queue])
        pushPrefix = Array("*3".utf8) + push.drop(while: { $0 != 0x0D })
        move = RESP.command(["BLMOVE", queue, processing, "RIGHT", "LEFT", "1"])
        let remove = RESP.command(["LREM", processing, "1"])
        removePrefix = Array("*4".utf8) + remove.drop(while: { $0 != 0x0D })
        self.payloadSize = payloadSize
    }

    /// PING first, so a wrong port fails here with a clear message rather than mid-run.
    private func ping(_ connection: Connection, shouldStop: () -> Bool) throws {
        try connection.write("*1\r\n$4\r\nPING\r\n", shouldStop: shouldStop)
        try expectLine("+PONG", on: connection, after: "PING", shouldStop: shouldStop)
    }

    func prepareProducer(_ connection: Connection, shouldStop: () -> Bool) throws {
        try ping(connection, shouldStop: shouldStop)
    }

    func prepareWorker(_ connection: Connection, shouldStop: () -> Bool) throws {
        try ping(connection, shouldStop: shouldStop)
    }

    func appendEnqueue(timestamp: UInt64, sequence: UInt64, to output: inout OutputBuffer) {
        output.append(pushPrefix)
        RESP.appendBulkHeader(length: payloadSize, to: &output)
        JobPayload.append(timestamp: timestamp, sequence: sequence, size: payloadSize, to: &output)
        output.append(RESP.crlf)
    }

    func appendReserve(to output: inout OutputBuffer) { output.append(move) }

    /// The handle of a Redis job is its payload.
    func appendAck(handle: UnsafeRawBufferPointer, to output: inout OutputBuffer) {
        output.append(removePrefix)
        RESP.appendBulkHeader(length: handle.count, to: &output)
        output.append(handle)
        output.append(RESP.crlf)
    }

    /// Redis does not ping clients.
    func appendPong(to output: inout OutputBuffer) {}

    func parse(_ bytes: UnsafeRawBufferPointer) throws -> ParsedReply? {
        guard let (value, length) = try RESP.parse(bytes) else { return nil }
        switch value {
        // LPUSH answers the list's new length, at least 1; LREM answers how many it removed,
        // and 0 means the job was not in the processing list: an ack of nothing.
        case .integer(let count) where count > 0: return ParsedReply(reply: .done, length: length)
        case .integer: return ParsedReply(reply: .error("LREM removed nothing: the job was not in the processing list"), length: length)
        case .bulk(let payload): return ParsedReply(reply: .job(handle: payload, payload: payload), length: length)
        case .null: return ParsedReply(reply: .noJob, length: length)
        case .error(let text): return ParsedReply(reply: .error("-" + RawText.text(text)), length: length)
        case .simple(let text): throw BenchError("unexpected from Redis: +\(RawText.text(text))")
        case .array(let count): throw BenchError("unexpected from Redis: an array of \(count)")
        }
    }
}
