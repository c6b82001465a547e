import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// TLS over a non-blocking socket, with OpenSSL: the only module that sees OpenSSL. It knows
/// nothing of the protocol or the event loop; callers ask it to make progress when their socket
/// is ready and it says what it needs next (a readable or a writable socket).
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }

    /// The message at hand, followed by what OpenSSL queued (which it then forgets).
    static func openSSL(_ what: String) -> TLSError {
        TLSError(what + (TLSContext.drainErrors().map { ": " + $0 } ?? ""))
    }
}

/// Certificates, keys and the verification rules shared by every connection of one side.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    /// Whether the peer must present a certificate that verifies.
    public let verifiesPeer: Bool

    private init(_ context: OpaquePointer, verifiesPeer: Bool) {
        self.context = context
        self.verifiesPeer = verifiesPeer
        // Output buffers move as they grow: OpenSSL must accept a retried write from a new
        // address, and take what fits instead of all or nothing.
        _ = docket_ssl_ctx_set_mode(
            context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE) | Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) | Int(SSL_MODE_RELEASE_BUFFERS))
        _ = docket_ssl_ctx_set_min_tls12(context)
    }

    deinit { SSL_CTX_free(context) }

    /// A server's context: its certificate chain and key (PEM files), and with `verifyClients`
    /// a CA file every client certificate must chain to (mutual TLS).
    public static func server(certificate: String, key: String, caFile: String?, verifyClients: Bool) throws(TLSError) -> TLSContext {
        guard let raw = SSL_CTX_new(TLS_server_method()) else { throw TLSError.openSSL("cannot create a TLS context") }
        let context = TLSContext(raw, verifiesPeer: verifyClients)
        docket_ssl_ctx_refuse_renegotiation(raw)
        guard SSL_CTX_use_certificate_chain_file(raw, certificate) == 1 else {
            throw TLSError.openSSL("cannot load the certificate \(certificate)")
        }
        guard SSL_CTX_use_PrivateKey_file(raw, key, SSL_FILETYPE_PEM) == 1 else { throw TLSError.openSSL("cannot load the key \(key)") }
        guard SSL_CTX_check_private_key(raw) == 1 else { throw TLSError.openSSL("the key \(key) does not match the certificate \(certificate)") }
        if let caFile {
            guard SSL_CTX_load_verify_locations(raw, caFile, nil) == 1 else { throw TLSError.openSSL("cannot load the CA file \(caFile)") }
            if let names = SSL_load_client_CA_file(caFile) { SSL_CTX_set_client_CA_list(raw, names) }
        }
        if verifyClients {
            guard caFile != nil else { throw TLSError("verifying client certificates needs a CA file") }
            SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        return context
    }

    /// A client's context: the CA file that server certificates must chain to (the system's
    /// store when nil), and its own certificate and key when the server asks for one.
    public static func client(caFile: String?, certificate: String?, key: String?, verifyServer: Bool = true) throws(TLSError) -> TLSContext {
        guard let raw = SSL_CTX_new(TLS_client_method()) else { throw TLSError.openSSL("cannot create a TLS context") }
        let context = TLSContext(raw, verifiesPeer: verifyServer)
        if let caFile {
            guard SSL_CTX_load_verify_locations(raw, caFile, nil) == 1 else { throw TLSError.openSSL("cannot load the CA file \(caFile)") }
        } else {
            _ = SSL_CTX_set_default_verify_paths(raw)
        }
        if let certificate {
            guard SSL_CTX_use_certificate_chain_file(raw, certificate) == 1 else {
                throw TLSError.openSSL("cannot load the certificate \(certificate)")
            }
            guard SSL_CTX_use_PrivateKey_file(raw, key ?? certificate, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError.openSSL("cannot load the key \(key ?? certificate)")
            }
        }
        SSL_CTX_set_verify(raw, verifyServer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        return context
    }

    /// A session on a connected socket. `serverName` (clients) is sent as SNI and checked
    /// against the server's certificate.
    /// A client session's writes never raise SIGPIPE (see `QuietSocket`): a library must not
    /// kill its process when the server goes away in the middle of a write.
    public func session(fd: Int32, serverName: String? = nil) throws(TLSError) -> TLSSession {
        guard let ssl = SSL_new(context) else { throw TLSError.openSSL("cannot create a TLS session") }
        if serverName != nil, let bio = QuietSocket.bio(fd) {
            SSL_set_bio(ssl, bio, bio)  // the session owns the BIO from now on
        } else {
            guard SSL_set_fd(ssl, fd) == 1 else {
                SSL_free(ssl)
                throw TLSError.openSSL("cannot attach TLS to the socket")
            }
        }
        if let serverName {
            _ = docket_ssl_set_host_name(ssl, serverName)
            // Fail closed: a name OpenSSL could not take would leave only the chain checked, and
            // any certificate a trusted CA issued for anything would do.
            if verifiesPeer {
                let named: Int32
                if let address = Self.addressText(serverName) {
                    named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address)
                } else {
                    named = SSL_set1_host(ssl, serverName)
                }
                guard named == 1 else {
                    SSL_free(ssl)
                    throw TLSError.openSSL("cannot check the server's certificate against \(serverName)")
                }
            }
            SSL_set_connect_state(ssl)
        } else {
            SSL_set_accept_state(ssl)
        }
        return TLSSession(ssl)
    }

    /// The address a numeric host name stands for, in the form OpenSSL parses: IPv6 as given,
    /// IPv4 in any form the resolver takes (`127.1`, `2130706433`, `0x7f.1`) as a dotted quad,
    /// since that is where the connection goes; nil for a name.
    static func addressText(_ host: String) -> String? {
        if host.contains(":") { return host }
        guard host.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == "." || $0 == "x" || $0 == "X") }),
            host.first?.isNumber == true
        else { return nil }
        var address = in_addr()
        guard inet_aton(host, &address) != 0 else { return nil }
        let value = UInt32(bigEndian: address.s_addr)
        return "\(value >> 24).\((value >> 16) & 255).\((value >> 8) & 255).\(value & 255)"
    }

    /// OpenSSL's queued errors as one line, emptying its queue.
    static func drainErrors() -> String? {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? nil : messages.joined(separator: "; ")
    }
}

/// One connection's TLS state. Not thread-safe: one owner drives it.
public final class TLSSession {
    private let ssl: OpaquePointer
    public private(set) var isEstablished = false

    init(_ ssl: OpaquePointer) { self.ssl = ssl }

    deinit { SSL_free(ssl) }

    /// What an operation needs to go on.
    public enum Outcome: Equatable {
        /// Done (the handshake), or this many bytes read or written.
        case done(Int)
        case wantRead
        case wantWrite
        /// The peer closed the TLS session cleanly.
        case closed
        case failed(String)
    }

    /// Advances the handshake; `.done(0)` once it is complete.
    public func handshake() -> Outcome {
        ERR_clear_error()
        errno = 0
        let status = SSL_do_handshake(ssl)
        if status == 1 {
            isEstablished = true
            return .done(0)
        }
        return outcome(status, "TLS handshake failed")
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        ERR_clear_error()
        errno = 0
        let count = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return count > 0 ? .done(Int(count)) : outcome(count, "TLS read failed")
    }

    public func write(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        ERR_clear_error()
        errno = 0
        let count = SSL_write(ssl, bytes.baseAddress, Int32(min(bytes.count, Int(Int32.max))))
        return count > 0 ? .done(Int(count)) : outcome(count, "TLS write failed")
    }

    /// Decrypted bytes OpenSSL holds that a socket's readiness will not announce.
    public var bufferedBytes: Int { Int(SSL_pending(ssl)) }

    /// Sends close_notify, without waiting for the peer's.
    public func shutdown() {
        ERR_clear_error()
        if isEstablished { _ = SSL_shutdown(ssl) }
    }

    /// The negotiated protocol version (`TLSv1.3`), for logs.
    public var version: String { String(cString: SSL_get_version(ssl)) }

    /// The peer certificate's subject, RFC 2253 style, when it sent one that verified.
    public var peerSubject: String? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, X509_get_subject_name(certificate), 0, docket_xn_flag_rfc2253()) >= 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: 1024)
        let count = BIO_read(bio, &buffer, Int32(buffer.count - 1))
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The names a verified peer certificate identifies its holder by, in the order nats-server's
    /// `verify_and_map` tries them: email and DNS subject alternative names, then the subject
    /// (RFC 2253). Empty without a certificate.
    public var peerIdentities: [String] {
        var buffer = [CChar](repeating: 0, count: 4096)
        _ = docket_peer_alt_names(ssl, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var names = text.split(separator: "\n").map(String.init)
        if let subject = peerSubject { names.append(subject) }
        return names
    }

    private func outcome(_ status: Int32, _ what: String) -> Outcome {
        switch SSL_get_error(ssl, status) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL:
            let detail = TLSContext.drainErrors()
            if detail == nil && errno == 0 { return .closed }  // the peer went without close_notify
            return .failed(what + ": " + (detail ?? String(cString: strerror(errno))))
        default:
            var detail = TLSContext.drainErrors() ?? "error \(SSL_get_error(ssl, status))"
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK { detail += " (certificate: " + String(cString: X509_verify_cert_error_string(verify)) + ")" }
            return .failed(what + ": " + detail)
        }
    }
}

/// A socket BIO whose writes use `send` with MSG_NOSIGNAL: OpenSSL's own socket BIO uses
/// write(2), which raises SIGPIPE on a connection the peer has reset, and a client library
/// cannot ask its process to ignore SIGPIPE. Everything but writing is the socket BIO's.
enum QuietSocket {
    /// The method, made once; nil where it cannot be (then sessions use the plain socket BIO).
    nonisolated(unsafe) static let method: OpaquePointer? = {
        #if canImport(Glibc) || canImport(Musl)
        guard let socketMethod = BIO_s_socket(),
            let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "docket quiet socket")
        else { return nil }
        guard BIO_meth_set_write(method, quietWrite) == 1,
            BIO_meth_set_read(method, BIO_meth_get_read(socketMethod)) == 1,
            BIO_meth_set_puts(method, BIO_meth_get_puts(socketMethod)) == 1,
            BIO_meth_set_ctrl(method, BIO_meth_get_ctrl(socketMethod)) == 1,
            BIO_meth_set_create(method, BIO_meth_get_create(socketMethod)) == 1,
            BIO_meth_set_destroy(method, BIO_meth_get_destroy(socketMethod)) == 1
        else {
            BIO_meth_free(method)
            return nil
        }
        return method
        #else
        return nil  // Darwin: the socket has SO_NOSIGPIPE instead
        #endif
    }()

    /// A BIO on `fd` (which it does not close), or nil.
    static func bio(_ fd: Int32) -> OpaquePointer? {
        guard let method, let bio = BIO_new(method) else { return nil }
        _ = BIO_int_ctrl(bio, BIO_C_SET_FD, Int(BIO_NOCLOSE), fd)
        return bio
    }

    #if canImport(Glibc) || canImport(Musl)
    /// The socket BIO's write, with send(2) and MSG_NOSIGNAL: EPIPE comes back as an error.
    private static let quietWrite: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = { bio, data, count in
        let fd = Int32(truncatingIfNeeded: BIO_ctrl(bio, BIO_C_GET_FD, 0, nil))
        errno = 0
        let written = send(fd, data, Int(count), Int32(MSG_NOSIGNAL))
        BIO_clear_flags(bio, Int32(BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY))
        if written <= 0, BIO_sock_should_retry(Int32(written)) != 0 {
            BIO_set_flags(bio, Int32(BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY))
        }
        return Int32(written)
    }
    #endif
}
