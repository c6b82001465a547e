#if canImport(Glibc)
import Glibc
#endif

/// The publishing side of a Redis pub/sub run. Unlike NATS, Redis answers every PUBLISH (with
/// the number of receivers), so the publisher reads those answers while it writes, on a
/// non-blocking socket, and is flushed once it has one answer per message: by then Redis has
/// routed every message, as a NATS PONG would prove.
enum RedisPublisher {
    static func publish(plan: PubSubPlan, control: RunControl, outcome: inout PublisherOutcome) throws {
        let connection = try Connection(to: plan.address, port: plan.port, receiveBufferSize: Publisher.receiveBufferSize)
        let shouldStop = { control.shouldStop }
        try connection.write("*1\r\n$4\r\nPING\r\n", shouldStop: shouldStop)
        let answer = try connection.readLine(shouldStop: shouldStop)
        guard answer == "+PONG" else { throw BenchError("expected +PONG from Redis, got: \(answer.prefix(120))") }
        try connection.makeNonBlocking()

        let batch = PublishBatch(command: redisCommand(channel: plan.publishSubject, payloadSize: plan.size))
        var answered = 0
        let startedAt = MonotonicClock.now()
        outcome.startedAt = startedAt
        control.markPublishStarted(at: startedAt)
        while outcome.published < plan.messages {
            guard !control.shouldStop else { return }
            let count = min(plan.messages - outcome.published, batch.commandCount)
            let complete = try batch.bytes.withUnsafeBytes { all in
                var pending = UnsafeRawBufferPointer(rebasing: all[..<(count * batch.commandSize)])
                while !pending.isEmpty {
                    let written = try connection.writeAvailable(pending)
                    pending = UnsafeRawBufferPointer(rebasing: pending[written...])
                    // Reading as we go keeps Redis from piling up answers for us.
                    answered += try readAnswers(connection)
                    if written == 0 {
                        guard !control.shouldStop else { return false }
                        try wait(for: connection)
                    }
                }
                return true
            }
            guard complete else { return }
            outcome.published += count
        }
        outcome.writtenAt = MonotonicClock.now()
        while answered < outcome.published {
            guard !control.shouldStop else { return }
            try wait(for: connection)
            answered += try readAnswers(connection)
        }
        outcome.flushedAt = MonotonicClock.now()
        control.markPublisherFlushed()
    }

    /// `PUBLISH <channel> <payload>` in RESP, with the same filler payload as NATS runs.
    private static func redisCommand(channel: String, payloadSize: Int) -> [UInt8] {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        var command = RESP.command(["PUBLISH", channel])
        command.replaceSubrange(0..<2, with: Array("*3".utf8))
        command += Array("$\(payloadSize)\r\n".utf8)
        command += (0..<payloadSize).map { alphabet[$0 % alphabet.count] }
        command += RESP.crlf
        return command
    }

    /// Counts the answers read so far; each is one line, `:<receivers>`.
    private static func readAnswers(_ connection: Connection) throws -> Int {
        guard try connection.fill() else { return 0 }
        var answers = 0
        while let (line, length) = RawText.line(in: connection.unread) {
            guard line.first == UInt8(ascii: ":") else {
                throw BenchError("Redis answered a PUBLISH with: \(RawText.text(line))")
            }
            answers += 1
            connection.consume(length)
        }
        return answers
    }

    /// Waits up to one poll interval for the socket to take more or to have answers to read.
    private static func wait(for connection: Connection) throws {
        var descriptor = pollfd(fd: connection.fileDescriptor, events: Int16(POLLIN | POLLOUT), revents: 0)
        if poll(&descriptor, 1, 50) < 0 && errno != EINTR { throw BenchError.system("poll") }
    }
}
