import Glibc

/// Tells systemd (a `Type=notify` unit) when the server is ready and when it is stopping, over
/// the datagram socket named by `NOTIFY_SOCKET`. Without that variable it does nothing. Start-up
/// can take a while (replaying the log, loading every job), so readiness is the real moment
/// the port serves, not the moment the process exists.
enum SystemdNotifier {
    /// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=…`); false if there is no socket or the
    /// send failed.
    @discardableResult
    static func notify(_ state: String) -> Bool {
        guard let raw = getenv("NOTIFY_SOCKET") else { return false }
        var path = Array(String(cString: raw).utf8)
        guard !path.isEmpty, path.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return false }
        // An abstract socket is written with a leading '@', sent with a leading NUL.
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.enumerated() { buffer[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        return sent == message.count
    }
}
