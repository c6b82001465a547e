import DocketStore
import Glibc
import Synchronization

/// Answers the monitoring port while docketd starts, on a thread of its own: every request gets
/// 503 and `{"status":"recovering"}` (with `jobs_read`, the jobs recovered so far, on the
/// embedded store), `/healthz` and every other path alike, as Redis answers `-LOADING`.
///
/// The store opens and every job is recovered on the loop's thread before the loop serves anyone:
/// seconds for a million jobs, and as long as PostgreSQL takes to answer. Unanswered, a probe
/// cannot tell that from a hang. A thread rather than recovery in slices between loop passes: the
/// walk over the store is one read transaction and one closure per job, and making it resumable
/// would cost every job. The thread shares only the listening socket (the loop's monitoring server
/// takes it once this one has stopped) and the count of jobs read (an atomic the recovery writes
/// every `progressStride` jobs). The documents themselves describe a server that does not exist yet,
/// so no path reads anything of the server's, and none needs credentials.
final class StartupResponder: @unchecked Sendable {
    /// Jobs recovered so far, for the answer; not counted (`countsJobs` false) on PostgreSQL, which
    /// keeps its jobs: there the start is connecting to it.
    final class Progress: Sendable {
        let countsJobs: Bool
        private let jobsRead = Atomic<Int>(0)

        init(countsJobs: Bool) { self.countsJobs = countsJobs }

        /// Stored every `progressStride` jobs: a shared cache line written per job would cost
        /// the recovery more than the figure is worth.
        func record(jobsRead count: Int) { jobsRead.store(count, ordering: .relaxed) }

        var document: String {
            countsJobs ? #"{"status":"recovering","jobs_read":\#(jobsRead.load(ordering: .relaxed))}"# : #"{"status":"recovering"}"#
        }
    }

    /// How often, in jobs, the recovery tells `Progress` how far it is (a power of two: a mask).
    static let progressStride = 4096

    let progress: Progress
    private let listenFD: Int32
    private let limits: MonitoringServer.Limits
    private let isTLSPort: Bool
    /// Written to wake the thread for `stop`.
    private var wakePipe: (read: Int32, write: Int32) = (-1, -1)
    private var thread = pthread_t()
    private var running = false

    /// One connection whose request has not been read whole yet.
    private struct Client {
        let fd: Int32
        let acceptedAt: Int
        var head: [UInt8] = []
    }

    /// Starts answering on `listenFD` (bound and listening, non-blocking). `limits` are the
    /// monitoring port's own: connections at once, request head size and how long a request may
    /// take. On a TLS port plain requests are answered and TLS handshakes closed: the certificate's
    /// session is the loop's to make.
    init(listenFD: Int32, limits: MonitoringServer.Limits, isTLSPort: Bool, progress: Progress) throws {
        self.listenFD = listenFD
        self.limits = limits
        self.isTLSPort = isTLSPort
        self.progress = progress
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw ServerError("cannot answer the monitoring port during the start: pipe: \(String(cString: strerror(errno)))")
        }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        wakePipe = (fds[0], fds[1])
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            let responder = Unmanaged<StartupResponder>.fromOpaque(context!).takeRetainedValue()
            nameThread(pthread_self(), "startup-http")
            responder.serve()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<StartupResponder>.fromOpaque(context).release()
            Glibc.close(fds[0])
            Glibc.close(fds[1])
            throw ServerError("cannot answer the monitoring port during the start: \(String(cString: strerror(status)))")
        }
        running = true
    }

    /// Answers the requests it has begun to read, and waits for the thread: the listening socket
    /// is the loop's from here on (connections not yet accepted wait in its backlog).
    func stop() {
        guard running else { return }
        running = false
        var byte: UInt8 = 1
        _ = Glibc.write(wakePipe.write, &byte, 1)
        pthread_join(thread, nil)
        Glibc.close(wakePipe.read)
        Glibc.close(wakePipe.write)
    }

    private func serve() {
        var clients: [Client] = []
        // Out of descriptors, `accept` leaves the connection in the backlog and the listener stays
        // readable: polled again at once it would spin this thread at 100% for the whole recovery.
        // It is left alone for `AcceptBackoff.pauseMilliseconds` instead, as the loop's listeners are.
        var acceptPausedUntil: Int?
        while true {
            var polled = [pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)]
            let now = monotonicMilliseconds()
            if let until = acceptPausedUntil, now >= until { acceptPausedUntil = nil }
            // At the connection limit the listener is not polled: the rest wait in its backlog.
            let accepting = clients.count < limits.maxConnections && acceptPausedUntil == nil
            polled.append(pollfd(fd: accepting ? listenFD : -1, events: Int16(POLLIN), revents: 0))
            polled += clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let firstDeadline = (clients.map { $0.acceptedAt + limits.idleMilliseconds } + [acceptPausedUntil].compactMap { $0 }).min()
            let timeout = firstDeadline.map { Int32(clamping: max(0, $0 - now)) } ?? -1
            guard poll(&polled, nfds_t(polled.count), timeout) >= 0 || errno == EINTR else { break }
            if polled[0].revents != 0 { break }
            var kept: [Client] = []
            for (index, var client) in clients.enumerated() {
                let ready = polled[index + 2].revents != 0
                if ready, !read(&client) { continue }
                if monotonicMilliseconds() - client.acceptedAt >= limits.idleMilliseconds {
                    Glibc.close(client.fd)
                    continue
                }
                kept.append(client)
            }
            clients = kept
            if polled[1].revents != 0, !acceptWaiting(into: &clients) {
                acceptPausedUntil = monotonicMilliseconds() + AcceptBackoff.pauseMilliseconds
            }
        }
        // Asked already: answered as it stands, rather than cut off at the hand-over.
        for client in clients { answer(client) }
    }

    /// Accepts the connections waiting, up to the limit; false when the process ran out of
    /// descriptors for one.
    private func acceptWaiting(into clients: inout [Client]) -> Bool {
        while clients.count < limits.maxConnections {
            let fd = Glibc.accept(listenFD, nil, nil)
            guard fd >= 0 else { return errno != EMFILE && errno != ENFILE }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            clients.append(Client(fd: fd, acceptedAt: monotonicMilliseconds()))
        }
        return true
    }

    /// Reads what `client` sent; false once it is answered or gone (its socket closed).
    private func read(_ client: inout Client) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(client.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return true }
        guard count > 0 else {
            Glibc.close(client.fd)
            return false
        }
        if client.head.isEmpty && isTLSPort && buffer[0] == MonitoringServer.tlsHandshakeRecord {
            Glibc.close(client.fd)
            return false
        }
        client.head += buffer[..<count]
        guard HTTPHead.endOfHead(client.head) != nil || client.head.count >= limits.maxHeadBytes else { return true }
        answer(client)
        return false
    }

    /// 503 with the progress, to whatever was asked (a HEAD gets the head alone), and closes.
    private func answer(_ client: Client) {
        let isHead = client.head.starts(with: Array("HEAD ".utf8))
        let response = MonitoringServer.response(
            503, "Service Unavailable", "application/json", progress.document, head: isHead, extra: "Retry-After: 1\r\n")
        _ = response.withUnsafeBytes { send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        shutdown(client.fd, Int32(SHUT_WR))
        Glibc.close(client.fd)
    }
}
