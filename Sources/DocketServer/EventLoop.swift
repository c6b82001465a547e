import CLibevent
import Glibc

/// A thin owner of a libevent base: one thread, no locks.
///
/// The server drives it one pass at a time (`runOnce`), so work that must happen once per
/// pass (flushing every connection's output, and later the group commit) runs right after
/// the callbacks of that pass, like Redis's `beforeSleep`.
final class EventLoop {
    let base: OpaquePointer

    /// libevent's resolver, made on first use.
    private var dnsBase: OpaquePointer?

    init() throws {
        guard let base = event_base_new() else { throw ServerError("event_base_new failed") }
        self.base = base
    }

    deinit {
        // Requests still waiting are answered (with an error) before the base goes.
        if let dnsBase { evdns_base_free(dnsBase, 1) }
        event_base_free(base)
    }

    /// Waits for events and runs every callback that became active, then returns.
    func runOnce() {
        event_base_loop(base, Int32(EVLOOP_ONCE))
    }

    /// A new, not yet added event. `context` is handed to `callback` unretained: its owner keeps
    /// it alive for as long as the event exists.
    func makeEvent(
        fd: Int32, flags: Int32, context: AnyObject,
        callback: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void
    ) -> OpaquePointer {
        event_new(base, fd, Int16(flags), callback, Unmanaged.passUnretained(context).toOpaque())!
    }

    static func add(_ event: OpaquePointer, timeoutMilliseconds: Int? = nil) {
        if let timeoutMilliseconds {
            var time = timeval(
                tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
            event_add(event, &time)
        } else {
            event_add(event, nil)
        }
    }

    static func remove(_ event: OpaquePointer) { event_del(event) }

    static func free(_ event: OpaquePointer) { event_free(event) }

    /// Runs the event's callback in this pass as if `flags` had happened (TLS bytes already
    /// read from the socket wake nobody by themselves).
    static func activate(_ event: OpaquePointer, _ flags: Int32) { event_active(event, flags, 0) }

    /// The addresses of `host` for a TCP connection to `port`, to `completion` on this loop; an
    /// address literal or an /etc/hosts name answers at once, other names ask the name servers
    /// of /etc/resolv.conf (libevent's evdns). getaddrinfo(3) would stop every client of the
    /// server for as long as a name server takes to answer.
    func resolve(_ host: String, port: Int, _ completion: @escaping (Result<[SocketAddress], ResolutionError>) -> Void) {
        if dnsBase == nil {
            dnsBase = evdns_base_new(base, Int32(EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE))
        }
        guard let dnsBase else { return completion(.failure(ResolutionError(description: "cannot start the resolver"))) }
        var hints = addrinfo.anyStreamSocket
        let request = Unmanaged.passRetained(PendingResolution(completion)).toOpaque()
        _ = evdns_getaddrinfo(dnsBase, host, String(port), &hints, resolvedCallback, request)
    }

    static let read = Int32(EV_READ)
    static let write = Int32(EV_WRITE)
    static let timeout = Int32(EV_TIMEOUT)
    static let persist = Int32(EV_PERSIST)
    static let signal = Int32(EV_SIGNAL)
}

/// One address `EventLoop.resolve` found, ready for connect(2).
struct SocketAddress {
    var storage = sockaddr_storage()
    var length: socklen_t = 0
    var family: Int32 { Int32(storage.ss_family) }

    /// The address as text (`127.0.0.1`, `::1`), for libraries that take it so.
    var numericHost: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout<sockaddr_storage>.size) { bytes in
                if family == AF_INET6 {
                    bytes.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                        var raw = address.pointee.sin6_addr
                        _ = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
                    }
                } else {
                    bytes.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                        var raw = address.pointee.sin_addr
                        _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                    }
                }
            }
        }
        return String(cString: text)
    }

    /// Calls connect(2) on `fd` with this address.
    func connect(_ fd: Int32) -> Int32 {
        withUnsafePointer(to: storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
    }
}

struct ResolutionError: Error, CustomStringConvertible {
    let description: String
}

private final class PendingResolution {
    let completion: (Result<[SocketAddress], ResolutionError>) -> Void
    init(_ completion: @escaping (Result<[SocketAddress], ResolutionError>) -> Void) { self.completion = completion }
}

private func resolvedCallback(_ status: Int32, _ list: UnsafeMutablePointer<addrinfo>?, _ context: UnsafeMutableRawPointer?) {
    let pending = Unmanaged<PendingResolution>.fromOpaque(context!).takeRetainedValue()
    defer { if let list { evutil_freeaddrinfo(list) } }
    guard status == 0 else {
        return pending.completion(.failure(ResolutionError(description: String(cString: evutil_gai_strerror(status)))))
    }
    var addresses: [SocketAddress] = []
    var next = list
    while let item = next {
        if let source = item.pointee.ai_addr, Int(item.pointee.ai_addrlen) <= MemoryLayout<sockaddr_storage>.size {
            var address = SocketAddress()
            address.length = item.pointee.ai_addrlen
            withUnsafeMutableBytes(of: &address.storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: source, count: Int(item.pointee.ai_addrlen))) }
            addresses.append(address)
        }
        next = item.pointee.ai_next
    }
    pending.completion(addresses.isEmpty ? .failure(ResolutionError(description: "no address")) : .success(addresses))
}

/// A failure that stops the server from starting, with a message fit for the log.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
