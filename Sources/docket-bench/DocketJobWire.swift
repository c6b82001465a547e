import DocketTLS

/// Docket's job verbs (PROTOCOL.md section 4b): `ENQ`, `RESERVE`, `ACK`, on a connection that
/// first says CONNECT like any NATS client. Replies to ENQ and ACK come only after an fsync
/// (unless the server runs `--sync none`); that is what the job benchmarks measure.
struct DocketJobWire: JobWire {
    private let enqueuePrefix: [UInt8]
    private let reserve: [UInt8]
    private let payloadSize: Int
    private let tls: TLSContext?

    init(queue: String, payloadSize: Int, tls: TLSContext? = nil) {
        enqueuePrefix = Array("ENQ \(queue) \(payloadSize)\r\n".utf8)
        reserve = Array("RESERVE \(queue) timeout=1s\r\n".utf8)
        self.payloadSize = payloadSize
        self.tls = tls
    }

    func prepareProducer(_ connection: Connection, shouldStop: () -> Bool) throws {
        try greet(connection, shouldStop: shouldStop)
    }

    func prepareWorker(_ connection: Connection, shouldStop: () -> Bool) throws {
        try greet(connection, shouldStop: shouldStop)
    }

    /// Reads INFO and sends the same CONNECT as the pub/sub benchmark; job verbs are answered
    /// whatever CONNECT says, and it keeps the connection from being verbose for anything else.
    private func greet(_ connection: Connection, shouldStop: () -> Bool) throws {
        let info = try connection.readLine(shouldStop: shouldStop)
        guard info.hasPrefix("INFO ") else { throw BenchError("expected INFO after connecting, got: \(info.prefix(120))") }
        if info.contains("\"tls_required\":true") {
            guard let tls else { throw BenchError("the server requires TLS: give --tls-ca") }
            try connection.startTLS(tls, serverName: "127.0.0.1", shouldStop: shouldStop)
        }
        try connection.write(Handshake.connectCommand, shouldStop: shouldStop)
    }

    func appendEnqueue(timestamp: UInt64, sequence: UInt64, to output: inout OutputBuffer) {
        output.append(enqueuePrefix)
        JobPayload.append(timestamp: timestamp, sequence: sequence, size: payloadSize, to: &output)
        output.append(RESP.crlf)
    }

    func appendReserve(to output: inout OutputBuffer) { output.append(reserve) }

    func appendAck(handle: UnsafeRawBufferPointer, to output: inout OutputBuffer) {
        output.append(Self.ackPrefix)
        output.append(handle)
        output.append(RESP.crlf)
    }

    func appendPong(to output: inout OutputBuffer) { output.append(Self.pong) }

    private static let ackPrefix = Array("ACK ".utf8)
    private static let pong = Array("PONG\r\n".utf8)

    func parse(_ bytes: UnsafeRawBufferPointer) throws -> ParsedReply? {
        guard let (line, lineLength) = RawText.line(in: bytes) else { return nil }
        if RawText.hasPrefix(line, "+OK") { return ParsedReply(reply: .done, length: lineLength) }
        if RawText.hasPrefix(line, "JOB ") {
            // JOB <id> <queue> <attempt> [name=value ...] <#bytes>
            guard let id = RawText.field(1, of: line), let sizeField = RawText.lastField(of: line),
                  let size = RawText.integer(sizeField), size >= 0 else {
                throw BenchError("malformed JOB line: \(RawText.text(line))")
            }
            guard let (payload, length) = try payload(after: lineLength, size: size, in: bytes) else { return nil }
            return ParsedReply(reply: .job(handle: id, payload: payload), length: length)
        }
        if RawText.equals(line, "NOJOB") { return ParsedReply(reply: .noJob, length: lineLength) }
        if RawText.hasPrefix(line, "-ERR") { return ParsedReply(reply: .error(RawText.text(line)), length: lineLength) }
        if RawText.equals(line, "PING") { return ParsedReply(reply: .ping, length: lineLength) }
        if line.isEmpty || RawText.equals(line, "PONG") || RawText.hasPrefix(line, "INFO ") {
            return ParsedReply(reply: .ignored, length: lineLength)
        }
        throw BenchError("unexpected from docketd: \(RawText.text(line))")
    }
}
