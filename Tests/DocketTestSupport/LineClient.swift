import Foundation

/// A blocking TCP client for tests: send bytes, read CRLF lines or counted bodies, with a
/// deadline on every read so a missing reply fails the test instead of hanging it.
public final class LineClient {
    public let fd: Int32
    private var buffer: [UInt8] = []
    public var timeout: TimeInterval = 5

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else {
            Foundation.close(fd)
            throw HarnessError("connect to port \(port) failed: errno \(errno)")
        }
        // Tests pipeline a command and then PING; Nagle would hold the PING back for an ACK.
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { Foundation.close(fd) }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw HarnessError("send failed: errno \(errno)") }
            offset += written
        }
    }

    /// Sends `text` followed by CRLF.
    public func line(_ text: String) throws { try send(text + "\r\n") }

    /// The next line without its CRLF. Fails if the line does not end in CRLF.
    public func readLine() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                guard line.last == 13 else {
                    throw HarnessError("line not terminated by CRLF: \(String(decoding: line, as: UTF8.self))")
                }
                return String(decoding: line.dropLast(), as: UTF8.self)
            }
            guard try fill() else { throw HarnessError("connection closed; partial: \(String(decoding: buffer, as: UTF8.self))") }
        }
    }

    /// Exactly `count` bytes.
    public func readBytes(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw HarnessError("connection closed before \(count) bytes") }
        }
        let bytes = Array(buffer[..<count])
        buffer.removeFirst(count)
        return bytes
    }

    /// Reads a `MSG`/`HMSG` line and its payload: (control line, payload).
    public func readMessage() throws -> (String, [UInt8]) {
        let control = try readLine()
        guard let count = Int(control.split(separator: " ").last ?? "") else {
            throw HarnessError("expected a message, got: \(control)")
        }
        let body = try readBytes(count + 2)
        guard body.suffix(2) == [13, 10] else { throw HarnessError("payload not followed by CRLF") }
        return (control, Array(body.dropLast(2)))
    }

    /// Sends a command answered by `JSON <n>` and returns the document, parsed.
    public func document(_ command: String) throws -> Any {
        try line(command)
        let (control, body) = try readMessage()
        guard control.hasPrefix("JSON ") else { throw HarnessError("expected JSON, got: \(control)") }
        return try JSONSerialization.jsonObject(with: Data(body))
    }

    /// `document` for commands whose answer is a JSON object.
    public func object(_ command: String) throws -> [String: Any] {
        guard let object = try document(command) as? [String: Any] else { throw HarnessError("\(command): not an object") }
        return object
    }

    /// Whether the server closes the connection (EOF or reset) within the timeout; any bytes
    /// before the close are returned.
    public func readUntilClosed() throws -> [UInt8] {
        while try fill() {}
        defer { buffer.removeAll() }
        return buffer
    }

    /// Sends PING and reads until PONG: proof the server has handled everything sent before.
    /// Returns the lines that came before the PONG.
    @discardableResult
    public func sync() throws -> [String] {
        try line("PING")
        var before: [String] = []
        while true {
            let line = try readLine()
            if line == "PONG" { return before }
            before.append(line)
        }
    }

    /// Reads INFO and turns verbose mode off, the way a real client starts.
    public func handshake(_ options: String = #"{"verbose":false}"#) throws -> String {
        let info = try readLine()
        try line("CONNECT \(options)")
        return info
    }

    /// Whether any byte (or the close) arrives within `seconds`; what arrived stays to be read.
    public func hasData(within seconds: TimeInterval) throws -> Bool {
        if !buffer.isEmpty { return true }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, Int32(seconds * 1000)) > 0
    }

    private func fill() throws -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(timeout * 1000))
        guard ready > 0 else { throw HarnessError("timed out after \(timeout)s; have: \(String(decoding: buffer, as: UTF8.self).prefix(200))") }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { return false }
        buffer += chunk[..<count]
        return true
    }
}

/// A `JOB` line without its `name=value` fields (`lease=`, `delivery=`), for tests that
/// compare the id, queue, attempt and size: `JOB 1 q 1 lease=30000 delivery=7 4` -> `JOB 1 q 1 4`.
public func plainJobLine(_ line: String) -> String {
    line.split(separator: " ").filter { !$0.contains("=") }.joined(separator: " ")
}
