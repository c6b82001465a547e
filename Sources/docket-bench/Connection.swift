import DocketTLS
#if canImport(Glibc)
import Glibc
#endif

/// One blocking TCP connection to a loopback server, with the receive buffer its reader
/// parses in place.
///
/// Reads and writes time out every `pollInterval` (`SO_RCVTIMEO` / `SO_SNDTIMEO`) so that a
/// thread blocked on a quiet or stalled socket wakes regularly to check the run's deadline
/// and stop flag, without poll(2) or another thread having to interrupt it.
///
/// Not thread-safe: each connection is created, used and closed by the one thread that owns it.
final class Connection {
    /// How often a blocked read or write gives up waiting to let its thread look around.
    static let pollInterval = timeval(tv_sec: 0, tv_usec: 50_000)

    private let descriptor: Int32
    private let storage: UnsafeMutableRawBufferPointer
    /// Received bytes not yet consumed are `storage[start..<end]`.
    private var start = 0
    private var end = 0
    /// TLS once `startTLS` has run; nil for plain TCP.
    private var tls: TLSSession?

    /// Connects to `address:port` with `TCP_NODELAY` set, so small handshake commands and the
    /// final PING are not held back by Nagle's algorithm.
    init(to address: LoopbackAddress, port: Int, receiveBufferSize: Int) throws {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw BenchError.system("socket") }
        descriptor = socketDescriptor
        storage = .allocate(byteCount: receiveBufferSize, alignment: 16)
        // From here on deinit closes the socket and frees the buffer if a step below throws.

        try Self.setOption(socketDescriptor, Int32(IPPROTO_TCP), TCP_NODELAY, Int32(1), "TCP_NODELAY")
        try Self.setOption(socketDescriptor, SOL_SOCKET, SO_RCVTIMEO, Self.pollInterval, "SO_RCVTIMEO")
        try Self.setOption(socketDescriptor, SOL_SOCKET, SO_SNDTIMEO, Self.pollInterval, "SO_SNDTIMEO")

        var server = sockaddr_in()
        server.sin_family = sa_family_t(AF_INET)
        server.sin_port = in_port_t(UInt16(port)).bigEndian
        server.sin_addr = in_addr(s_addr: address.networkOrder)
        let result = withUnsafePointer(to: &server) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw BenchError.system("connect to \(address):\(port)") }
    }

    /// Upgrades to TLS (after the server's INFO), blocking until the handshake completes.
    func startTLS(_ context: TLSContext, serverName: String, shouldStop: () -> Bool) throws {
        let session: TLSSession
        do { session = try context.session(fd: descriptor, serverName: serverName) } catch { throw BenchError("TLS: \(error)") }
        while true {
            switch session.handshake() {
            case .done:
                tls = session
                return
            case .wantRead, .wantWrite:
                if shouldStop() { throw BenchError("timed out in the TLS handshake") }
            case .closed:
                throw BenchError.connectionClosed
            case .failed(let why):
                throw BenchError(why)
            }
        }
    }

    /// Decrypted bytes waiting inside TLS, which poll(2) cannot see: read them without waiting.
    var hasBufferedInput: Bool { (tls?.bufferedBytes ?? 0) > 0 }

    /// The socket, for poll(2). Reading and writing still go through this object.
    var fileDescriptor: Int32 { descriptor }

    /// Makes reads and writes return at once instead of waiting up to `pollInterval`: for
    /// connections that one thread multiplexes with poll(2), after a blocking handshake.
    /// `fill()` then returns false when nothing is there.
    func makeNonBlocking() throws {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw BenchError.system("fcntl O_NONBLOCK")
        }
    }

    deinit {
        close(descriptor)
        storage.deallocate()
    }

    private static func setOption<Value: BitwiseCopyable>(
        _ socket: Int32, _ level: Int32, _ name: Int32, _ value: Value, _ label: String
    ) throws {
        let result = withUnsafeBytes(of: value) {
            setsockopt(socket, level, name, $0.baseAddress, socklen_t($0.count))
        }
        guard result == 0 else {
            throw BenchError.system("setsockopt \(label)")
        }
    }

    // MARK: Reading

    /// Bytes received and not yet consumed.
    var unread: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[start..<end])
    }

    /// Marks the first `count` unread bytes as dealt with.
    func consume(_ count: Int) {
        precondition(count >= 0 && count <= end - start)
        start += count
    }

    /// Reads whatever the socket has into the free part of the buffer, first moving any
    /// unconsumed bytes to the front. Readers consume everything but an incomplete control
    /// line, so that move is at most a few bytes and the buffer never fills with stale data.
    /// - Returns: false if nothing arrived within the poll interval.
    /// - Throws: if the server closed the connection or the read failed.
    func fill() throws -> Bool {
        if start == end {
            start = 0
            end = 0
        } else if start > 0 {
            let base = storage.baseAddress!
            memmove(base, base + start, end - start)
            end -= start
            start = 0
        }
        guard end < storage.count else {
            throw BenchError("the server sent a control line longer than \(storage.count) bytes")
        }
        if let tls { return try fillTLS(tls) }
        while true {
            let count = read(descriptor, storage.baseAddress! + end, storage.count - end)
            if count > 0 {
                end += count
                return true
            }
            if count == 0 { throw BenchError.connectionClosed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return false
            default: throw BenchError.system("read")
            }
        }
    }

    /// Reads every decrypted byte that fits: bytes OpenSSL holds would not wake a reader.
    private func fillTLS(_ tls: TLSSession) throws -> Bool {
        var got = false
        repeat {
            switch tls.read(into: UnsafeMutableRawBufferPointer(rebasing: storage[end...])) {
            case .done(let count):
                end += count
                got = true
            case .wantRead, .wantWrite:
                return got
            case .closed:
                if got { return true }
                throw BenchError.connectionClosed
            case .failed(let why):
                throw BenchError(why)
            }
        } while tls.bufferedBytes > 0 && end < storage.count
        return got
    }

    /// The next CRLF-terminated line, without its line ending. Only for the handshake and the
    /// final flush, where a `String` per line costs nothing that matters.
    /// - Parameter shouldStop: asked every poll interval while no line is complete.
    func readLine(shouldStop: () -> Bool) throws -> String {
        while true {
            let bytes = unread
            if !bytes.isEmpty, let newline = memchr(bytes.baseAddress!, 0x0A, bytes.count) {
                let length = bytes.baseAddress!.distance(to: UnsafeRawPointer(newline))
                let lineLength = length > 0 && bytes[length - 1] == 0x0D ? length - 1 : length
                let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<lineLength]), as: UTF8.self)
                consume(length + 1)
                return line
            }
            if try !fill() && shouldStop() {
                throw BenchError("timed out waiting for the server to answer")
            }
        }
    }

    // MARK: Writing

    /// Writes all of `bytes`, however many write(2) calls that takes.
    /// - Parameter shouldStop: asked every poll interval while the socket accepts nothing.
    /// - Returns: false if `shouldStop` said to give up before everything was written.
    @discardableResult
    func write(_ bytes: UnsafeRawBufferPointer, shouldStop: () -> Bool) throws -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = try send(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            if count > 0 {
                offset += count
                continue
            }
            // write(2) on a socket returns 0 only for an empty request, which the loop never makes.
            guard count < 0 else { throw BenchError("write accepted no bytes") }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: if shouldStop() { return false }
            default: throw BenchError.system("write")
            }
        }
        return true
    }

    /// Writes what the socket takes now, without waiting; for connections switched to
    /// non-blocking mode, whose owner polls for writability.
    /// - Returns: the bytes written, 0 if the socket's send buffer is full.
    func writeAvailable(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        while true {
            let count = try send(bytes)
            if count >= 0 { return count }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return 0
            default: throw BenchError.system("write")
            }
        }
    }

    /// One write(2), or one TLS write reported the same way (-1 with errno EAGAIN to wait).
    private func send(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        guard let tls else { return Glibc.write(descriptor, bytes.baseAddress!, bytes.count) }
        switch tls.write(bytes) {
        case .done(let count): return count
        case .wantRead, .wantWrite:
            errno = EAGAIN
            return -1
        case .closed: throw BenchError.connectionClosed
        case .failed(let why): throw BenchError(why)
        }
    }

    /// Writes a short command such as `PING\r\n`.
    @discardableResult
    func write(_ text: String, shouldStop: () -> Bool) throws -> Bool {
        var text = text
        return try text.withUTF8 { try write(UnsafeRawBufferPointer($0), shouldStop: shouldStop) }
    }
}
