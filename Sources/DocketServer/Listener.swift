import Glibc

/// A non-blocking listening TCP socket.
struct Listener {
    let fd: Int32
    /// The address and port actually bound (the port differs from the requested one for port 0).
    let boundHost: String
    let boundPort: Int

    init(host: String, port: Int, backlog: Int32 = 1024) throws {
        var hints = addrinfo.anyStreamSocket
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let info = result else {
            throw ServerError("cannot resolve listen address \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }

        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw ServerError("cannot listen on port \(port) of \(host): \(message)")
        }
        guard listen(fd, backlog) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw ServerError("listen: \(message)")
        }
        self.fd = fd
        (boundHost, boundPort) = Self.address(of: fd, peer: false) ?? (host, port)
    }

    /// The numeric host and port of a socket's local or peer address.
    static func address(of fd: Int32, peer: Bool) -> (String, Int)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
            }
        }
        guard status == 0 else { return nil }
        var hostBuffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var portBuffer = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let resolved = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo(
                    $0, length, &hostBuffer, socklen_t(hostBuffer.count), &portBuffer,
                    socklen_t(portBuffer.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard resolved == 0 else { return nil }
        let host = String(decoding: hostBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let port = Int(String(decoding: portBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) ?? 0
        return (host, port)
    }

    enum AcceptOutcome {
        case accepted(Int32)
        /// None waiting, or a transient error the next readiness event retries.
        case none
        /// EMFILE or ENFILE: a client waits, but there is no descriptor for it.
        case outOfDescriptors
    }

    /// Accepts one pending connection as a non-blocking socket with Nagle off.
    func acceptOne() -> AcceptOutcome {
        // accept4 is hidden behind _GNU_SOURCE in Glibc's module; two fcntls do the same.
        let client = Glibc.accept(fd, nil, nil)
        guard client >= 0 else { return errno == EMFILE || errno == ENFILE ? .outOfDescriptors : .none }
        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        // Replies are already batched per loop pass; Nagle would only add latency on top.
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return .accepted(client)
    }

    func close() { Glibc.close(fd) }

    /// Turns on TCP keepalive for an accepted socket: after `idleSeconds` of silence the kernel
    /// probes the peer every `intervalSeconds`, and gives up (the socket reports an error)
    /// after `probes` unanswered. A host that vanishes without closing (power lost, cable cut)
    /// is otherwise never noticed on a connection the server does not ping.
    static func keepAlive(_ fd: Int32, idleSeconds: Int, intervalSeconds: Int, probes: Int) {
        var on: Int32 = 1
        var idle = Int32(clamping: max(1, idleSeconds))
        var interval = Int32(clamping: max(1, intervalSeconds))
        var count = Int32(clamping: max(1, probes))
        let size = socklen_t(MemoryLayout<Int32>.size)
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
    }
}

extension SocketAddress {
    /// A non-blocking TCP socket (Nagle off) whose connect to this address is under way, or why
    /// there is none. The connect has completed when the socket turns writable (SO_ERROR says how).
    func startConnect() -> Result<Int32, ConnectFailure> {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(ConnectFailure(description: "socket: \(String(cString: strerror(errno)))")) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if connect(fd) != 0 && errno != EINPROGRESS {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            return .failure(ConnectFailure(description: why))
        }
        return .success(fd)
    }
}

struct ConnectFailure: Error, CustomStringConvertible {
    let description: String
}

extension addrinfo {
    /// Hints for TCP on IPv4 or IPv6. Here, in a file that imports no C library but Glibc: a
    /// reference to SOCK_STREAM from a file that also imports CLibevent makes the constant
    /// invisible to the module's other files in a clean build (a Swift/Clang module lookup bug).
    static var anyStreamSocket: addrinfo {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        return hints
    }
}
