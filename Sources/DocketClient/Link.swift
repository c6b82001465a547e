#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DocketTLS
import DocketWire

/// One connection's byte stream: a connected socket, plain or TLS. Every read, write and
/// close of the client goes through it.
///
/// **Plain.** A blocking socket: reads are recv(2) (after a poll when there is a deadline),
/// writes are send(2) until every byte is out, exactly as before TLS existed; the lock is not
/// used.
///
/// **TLS.** An OpenSSL session must not be used by two threads at once, and the client reads
/// on its reader thread while callers write on theirs. So the socket is non-blocking and every
/// call into the session happens under `lock`, which is never held while waiting: a read
/// polls for readability (unless OpenSSL already holds input), then calls SSL_read under the
/// lock; a write calls SSL_write under the lock, and when the socket is full releases it to
/// poll for POLLOUT, so the reader goes on meanwhile. Writers are serialized by the
/// connection's write lock, so at most one write is in progress.
///
/// **Closing.** `shutdown()` may be called from any thread while the socket is open: it wakes
/// a reader or writer blocked on it. `close()` is called once, by the owner, after which the
/// descriptor number is no longer ours.
final class Link: @unchecked Sendable {
    let fd: Int32
    /// Set once by `startTLS`, before the link is shared between threads.
    private(set) var tls: TLSSession?
    /// Serializes calls into `tls`.
    private let lock = PosixLock()
    /// The last TLS read stopped because OpenSSL needs more from the socket (reader thread
    /// only): the next read polls first instead of asking OpenSSL again for nothing.
    private var needsInput = false

    init(_ fd: Int32) { self.fd = fd }

    /// Whether the bytes go over TLS.
    var isSecure: Bool { tls != nil }

    /// The negotiated TLS version (`TLSv1.3`), nil for plain TCP.
    var tlsVersion: String? { tls.map { session in lock.withLock { session.version } } }

    // MARK: TLS handshake

    /// Makes the socket non-blocking and runs the client side of a TLS handshake on it, until
    /// `deadline`. Only while the link is not shared yet. Returns nil once established, or why
    /// it failed (OpenSSL's words, with the certificate check's verdict when there is one).
    func startTLS(_ context: TLSContext, serverName: String, deadline: Deadline) -> String? {
        let session: TLSSession
        do {
            session = try context.session(fd: fd, serverName: serverName)
        } catch {
            return error.description
        }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        while true {
            switch session.handshake() {
            case .done:
                tls = session
                return nil
            case .wantRead:
                if let why = Socket.waitReady(fd, Int16(POLLIN), deadline: deadline).failure { return why }
            case .wantWrite:
                if let why = Socket.waitReady(fd, Int16(POLLOUT), deadline: deadline).failure { return why }
            case .closed:
                return "the server closed the connection during the TLS handshake"
            case .failed(let why):
                return why
            }
        }
    }

    // MARK: Reading

    /// Reads what is available (at least one byte) into `buffer`, waiting until `deadline`
    /// (nil: forever). Reader side only: one thread reads at a time.
    func read(into buffer: ByteBuffer, deadline: Deadline?) -> Socket.ReadResult {
        guard let tls else { return Socket.read(fd, into: buffer, deadline: deadline) }
        while true {
            if needsInput {
                switch Socket.waitReady(fd, Int16(POLLIN), deadline: deadline) {
                case .ready: needsInput = false
                case .timeout: return .timeout
                case .failed(let why): return .failed(why)
                }
            }
            let space = buffer.writableSpace(atLeast: 64 * 1024)
            var total = 0
            var last = TLSSession.Outcome.done(0)
            lock.lock()
            // Every record already here, while there is room: one wake-up, many records.
            while total < space.count {
                last = tls.read(into: UnsafeMutableRawBufferPointer(rebasing: space[total...]))
                guard case .done(let count) = last else { break }
                total += count
            }
            lock.unlock()
            if total > 0 {
                buffer.commitWrite(total)
                if case .wantRead = last { needsInput = true }
                return .data
            }
            switch last {
            case .done, .wantRead:
                needsInput = true
            case .wantWrite:
                // OpenSSL must send something first (an alert, a key update) and the socket is full.
                switch Socket.waitReady(fd, Int16(POLLOUT), deadline: deadline) {
                case .ready: continue
                case .timeout: return .timeout
                case .failed(let why): return .failed(why)
                }
            case .closed:
                return .closed
            case .failed(let why):
                return .failed(why)
            }
        }
    }

    // MARK: Writing

    /// Writes every byte, until `deadline` (nil: for as long as it takes); nil once all are
    /// out, else why not (the connection is then broken: part of the bytes may be out).
    /// Callers serialize their writes (the connection's write lock).
    func send(_ bytes: [UInt8], deadline: Deadline? = nil) -> String? {
        guard let tls else { return Socket.writeAll(fd, bytes, deadline: deadline) }
        return bytes.withUnsafeBytes { raw -> String? in
            var offset = 0
            lock.lock()
            defer { lock.unlock() }
            while offset < raw.count {
                switch tls.write(UnsafeRawBufferPointer(rebasing: raw[offset...])) {
                case .done(let count):
                    offset += count
                case .wantWrite:
                    // The socket is full: wait for room without the lock, so the reader reads on
                    // (a server blocked writing to us frees room only once we read).
                    lock.unlock()
                    let waited = Socket.waitReady(fd, Int16(POLLOUT), deadline: deadline)
                    lock.lock()
                    if case .timeout = waited { return "the server read nothing for too long" }
                    if let why = waited.failure { return why }
                case .wantRead:
                    // The session must read first (TLS 1.2 renegotiation): the reader will, soon.
                    lock.unlock()
                    _ = Socket.waitReady(fd, Int16(POLLIN), deadline: Deadline.after(milliseconds: 10))
                    lock.lock()
                case .closed:
                    return "the server ended the TLS session"
                case .failed(let why):
                    return why
                }
            }
            return nil
        }
    }

    // MARK: Closing

    /// Breaks the connection off (from any thread, while the descriptor is open): a reader or
    /// writer waiting on it wakes up and fails.
    func shutdown() {
        #if canImport(Darwin)
        _ = Darwin.shutdown(fd, Int32(SHUT_RDWR))
        #elseif canImport(Musl)
        _ = Musl.shutdown(fd, Int32(SHUT_RDWR))
        #else
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
        #endif
    }

    /// Sends TLS's close_notify, if the socket has room for it now (nothing for plain TCP).
    /// Only when no write is in progress.
    func sayGoodbye() {
        guard let tls else { return }
        lock.withLock { tls.shutdown() }
    }

    /// Closes the descriptor (once, by the owner).
    func close() {
        Socket.closeDescriptor(fd)
    }
}
