#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DocketWire

/// Blocking TCP sockets.
enum Socket {
    enum ReadResult {
        case data
        /// The peer closed the connection (or reset it).
        case closed
        case timeout
        /// The TLS session broke, or the socket failed: why.
        case failed(String)
    }

    enum PollResult {
        /// Ready, or in error: the next read or write will say which.
        case ready
        case timeout
        case failed(String)

        /// Why it is not ready (nil when it is).
        var failure: String? {
            switch self {
            case .ready: return nil
            case .timeout: return "timed out"
            case .failed(let why): return why
            }
        }
    }

    /// Waits until `fd` is ready for `events` (POLLIN, POLLOUT), or `deadline` (nil: forever).
    static func waitReady(_ fd: Int32, _ events: Int16, deadline: Deadline?) -> PollResult {
        var poller = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let timeout = deadline.map { Int32(min($0.remainingMilliseconds, Int(Int32.max))) } ?? -1
            #if canImport(Darwin)
            let ready = Darwin.poll(&poller, 1, timeout)
            #elseif canImport(Musl)
            let ready = Musl.poll(&poller, 1, timeout)
            #else
            let ready = Glibc.poll(&poller, 1, timeout)
            #endif
            if ready > 0 { return .ready }
            if ready == 0 { return .timeout }
            if errno == EINTR { continue }
            return .failed(String(cString: strerror(errno)))
        }
    }

    /// Connects to `host:port` (IPv4 or IPv6), giving up after the timeout.
    static func connect(host: String, port: Int, timeoutMilliseconds: Int) throws(DocketError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            throw .connectFailed("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let current = entry {
            entry = current.pointee.ai_next
            // Close-on-exec: a worker's child processes must not keep its connection open.
            #if canImport(Glibc) || canImport(Musl)
            let type = current.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue)
            #else
            let type = current.pointee.ai_socktype
            #endif
            let fd = socket(current.pointee.ai_family, type, current.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            if let error = connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen, timeoutMilliseconds) {
                lastError = error
                closeDescriptor(fd)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            Self.keepAlive(fd)
            #if canImport(Darwin)
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
            #endif
            return fd
        }
        throw .connectFailed("\(host):\(port): \(lastError)")
    }

    /// A non-blocking connect waited for with poll; nil on success, else the reason.
    private static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t, _ timeout: Int) -> String? {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        #if canImport(Darwin)
        let started = Darwin.connect(fd, address, length)
        #elseif canImport(Musl)
        let started = Musl.connect(fd, address, length)
        #else
        let started = Glibc.connect(fd, address, length)
        #endif
        if started == 0 { return nil }
        guard errno == EINPROGRESS else { return String(cString: strerror(errno)) }
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let deadline = Deadline.after(milliseconds: timeout)
        while true {
            // A connect timeout may be up to 366 days, more milliseconds than poll(2) takes.
            let ready = poll(&poller, 1, Int32(min(deadline.remainingMilliseconds, Int(Int32.max))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return "timed out after \(timeout) ms" }
            break
        }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
        return error == 0 ? nil : String(cString: strerror(error))
    }

    /// Reads what is available (at least one byte) into `buffer`, waiting until `deadline`
    /// (nil: forever).
    static func read(_ fd: Int32, into buffer: ByteBuffer, deadline: Deadline?) -> ReadResult {
        if let deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while true {
                let ready = poll(&poller, 1, Int32(min(deadline.remainingMilliseconds, Int(Int32.max))))
                if ready < 0 && errno == EINTR { continue }
                if ready == 0 { return .timeout }
                break
            }
        }
        let space = buffer.writableSpace(atLeast: 64 * 1024)
        while true {
            let count = recv(fd, space.baseAddress, space.count, 0)
            if count > 0 {
                buffer.commitWrite(count)
                return .data
            }
            if count < 0 && errno == EINTR { continue }
            return .closed
        }
    }

    /// Writes every byte, giving up at `deadline` (nil: never); nil once all are out, else why
    /// not (the socket broke, or the peer read too little in time: some bytes may be out).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], deadline: Deadline? = nil) -> String? {
        bytes.withUnsafeBytes { raw -> String? in
            var offset = 0
            // With a deadline, each send takes what fits now, and poll waits for room.
            #if canImport(Darwin)
            let flags: Int32 = deadline == nil ? 0 : MSG_DONTWAIT
            #else
            let flags = Int32(MSG_NOSIGNAL) | (deadline == nil ? 0 : Int32(MSG_DONTWAIT))
            #endif
            while offset < raw.count {
                let written = send(fd, raw.baseAddress! + offset, raw.count - offset, flags)
                if written < 0 && errno == EINTR { continue }
                if written < 0, errno == EAGAIN || errno == EWOULDBLOCK, let deadline {
                    switch waitReady(fd, Int16(POLLOUT), deadline: deadline) {
                    case .ready: continue
                    case .timeout: return "the server read nothing for too long (\(offset) of \(raw.count) bytes written)"
                    case .failed(let why): return why
                    }
                }
                guard written > 0 else { return String(cString: strerror(errno)) }
                offset += written
            }
            return nil
        }
    }

    /// TCP keepalive: probes after 30 s of silence, every 10 s, the connection lost after 3
    /// unanswered. A connection whose server vanished (a partition, a host gone, a close whose
    /// FIN was lost) would otherwise look open for ever to a client that only listens, such as
    /// a subscriber or a worker waiting in RESERVE; this way it errors within about a minute and
    /// reconnects.
    static func keepAlive(_ fd: Int32) {
        var on: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        #if os(Linux)
        var idle: Int32 = 30, interval: Int32 = 10, probes: Int32 = 3
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &probes, size)
        #endif
    }

    static func closeDescriptor(_ fd: Int32) {
        #if canImport(Darwin)
        _ = Darwin.close(fd)
        #elseif canImport(Musl)
        _ = Musl.close(fd)
        #else
        _ = Glibc.close(fd)
        #endif
    }
}

/// Carries a non-Sendable value to another thread that alone uses it from then on.
final class Handoff<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
