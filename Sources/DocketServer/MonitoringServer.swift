import CLibevent
import Glibc

/// The monitoring endpoint: HTTP on its own port, served by libevent's evhttp on the same loop
/// as the protocol, so a scrape sees the same state the loop does and needs no locks.
final class MonitoringServer {
    private let http: OpaquePointer
    let boundPort: Int
    private let routes: [String: (contentType: String, body: () -> String)]

    init(base: OpaquePointer, host: String, port: Int, routes: [String: (contentType: String, body: () -> String)]) throws {
        guard let http = evhttp_new(base) else { throw ServerError("evhttp_new failed") }
        self.http = http
        self.routes = routes
        guard let handle = evhttp_bind_socket_with_handle(http, host, UInt16(port)) else {
            evhttp_free(http)
            throw ServerError("cannot listen for monitoring on \(host):\(port)")
        }
        let fd = evhttp_bound_socket_get_fd(handle)
        boundPort = Listener.address(of: fd, peer: false)?.1 ?? port
        evhttp_set_allowed_methods(http, UInt16(EVHTTP_REQ_GET.rawValue | EVHTTP_REQ_HEAD.rawValue))
        evhttp_set_gencb(http, monitoringCallback, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { evhttp_free(http) }

    fileprivate func handle(_ request: OpaquePointer) {
        let uri = String(cString: evhttp_request_get_uri(request))
        let path = String(uri.prefix { $0 != "?" })
        let output = evbuffer_new()
        defer { evbuffer_free(output) }
        let headers = evhttp_request_get_output_headers(request)
        guard let route = routes[path] else {
            let body = "not found; try " + routes.keys.sorted().joined(separator: " ") + "\n"
            evbuffer_add(output, body, body.utf8.count)
            evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8")
            evhttp_send_reply(request, 404, "Not Found", output)
            return
        }
        var body = route.body()
        body.withUTF8 { _ = evbuffer_add(output, $0.baseAddress, $0.count) }
        evhttp_add_header(headers, "Content-Type", route.contentType)
        evhttp_add_header(headers, "Cache-Control", "no-store")
        evhttp_send_reply(request, 200, "OK", output)
    }
}

private func monitoringCallback(_ request: OpaquePointer?, _ context: UnsafeMutableRawPointer?) {
    guard let request else { return }
    Unmanaged<MonitoringServer>.fromOpaque(context!).takeUnretainedValue().handle(request)
}
