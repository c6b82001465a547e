/// A job error code from the server (PROTOCOL.md, "Job error codes"). Codes this client does
/// not know yet pass through unchanged.
public struct ServerErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// The queue name is missing or not valid.
    public static let badQueue = ServerErrorCode("BAD_QUEUE")
    /// An option is unknown, repeated, or out of range.
    public static let badOption = ServerErrorCode("BAD_OPTION")
    /// The job id is not a number.
    public static let badID = ServerErrorCode("BAD_ID")
    /// No job (or route) has this id.
    public static let notFound = ServerErrorCode("NOT_FOUND")
    /// The job is not active under a lease this connection holds.
    public static let notHeld = ServerErrorCode("NOT_HELD")
    /// RETRY of a job that is not dead.
    public static let notDead = ServerErrorCode("NOT_DEAD")
    /// PROMOTE of a job that is not delayed.
    public static let notDelayed = ServerErrorCode("NOT_DELAYED")
    /// The server's job store (PostgreSQL) cannot be reached; nothing was promised, so the
    /// command can be sent again.
    public static let unavailable = ServerErrorCode("UNAVAILABLE")
    /// The store is too full to take new jobs.
    public static let storeFull = ServerErrorCode("STORE_FULL")
    /// A configured limit was reached (`--max-queues`, `--max-waiting-requests`).
    public static let limit = ServerErrorCode("LIMIT")
    /// The connection's user may not do this (a later server's permissions).
    public static let forbidden = ServerErrorCode("FORBIDDEN")

    public var description: String { rawValue }
}

/// Everything the client throws.
public enum DocketError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A job command was refused by the server: `-ERR '<CODE> <message>'`.
    case server(code: ServerErrorCode, message: String)
    /// A job command was answered with an `-ERR` that has no job error code (and is not one
    /// of NATS's own texts, which answer no command): the command failed with that text.
    case commandFailed(String)
    /// The call's arguments cannot make a valid command; nothing was sent.
    case badArgument(String)
    /// The server sent bytes that break the protocol; the connection was closed.
    case protocolViolation(String)
    /// The connection is closed for good: by `close()`, or it broke and reconnecting is off or
    /// gave up. Commands that were waiting may or may not have been carried out. The text says
    /// why, with the server's last `-ERR` if there was one.
    case connectionClosed(String)
    /// The connection broke while the command waited for its reply (it may or may not have been
    /// carried out: retry it if that is safe, as ENQ with a `key` is), or no connection came
    /// back within the command's timeout (then it was not sent). The connection itself
    /// reconnects, unless `reconnect` is off.
    case connectionLost(String)
    /// Connecting (or the handshake) failed.
    case connectFailed(String)
    /// The server refused the credentials (`Authorization Violation`, or no CONNECT in time):
    /// trying again with the same ones will not help.
    case notAuthorized(String)
    /// The TLS settings cannot be used: a CA file, certificate or key that cannot be read, or
    /// a key that does not match its certificate. Nothing was sent.
    case tlsConfiguration(String)
    /// The client asked for TLS (a `tls://` address, or `Options.tls`) and the server does not
    /// offer it: its INFO has no `tls_required`. Nothing was sent, not even CONNECT.
    case tlsNotOffered(String)
    /// The TLS handshake failed, or the server ended the session right after it: the server's
    /// certificate did not verify (not signed by a trusted CA, or not for this host), the
    /// server wanted a client certificate or refused the one given, or it does not speak TLS
    /// where it was expected to (handshake first). The text says which, and what to change.
    /// Credentials, if any, were not sent in clear.
    case tlsFailed(String)
    /// No reply (or message) came within the time allowed.
    case timeout
    /// A request reached no subscriber (the server's 503 status).
    case noResponders
    /// The subscription ended (unsubscribed, its message limit reached, or the connection closed).
    case subscriptionClosed
    /// The task awaiting an async call was cancelled. The command may or may not have been
    /// carried out (as after `connectionLost`); a RESERVE or WAIT the server was still holding
    /// was withdrawn by dropping the connection.
    case cancelled

    /// The server's code, for `.server` errors.
    public var code: ServerErrorCode? {
        if case .server(let code, _) = self { return code }
        return nil
    }

    /// Whether this is one of the TLS errors (`tlsConfiguration`, `tlsNotOffered`, `tlsFailed`).
    public var isTLS: Bool {
        switch self {
        case .tlsConfiguration, .tlsNotOffered, .tlsFailed: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .server(let code, let message): return message.isEmpty ? code.rawValue : "\(code.rawValue) \(message)"
        case .commandFailed(let text): return "command failed: \(text)"
        case .badArgument(let text): return "bad argument: \(text)"
        case .protocolViolation(let text): return "protocol violation: \(text)"
        case .connectionClosed(let text): return "connection closed: \(text)"
        case .connectionLost(let text): return "connection lost: \(text)"
        case .connectFailed(let text): return "cannot connect: \(text)"
        case .notAuthorized(let text): return "not authorized: \(text)"
        case .tlsConfiguration(let text): return "TLS settings: \(text)"
        case .tlsNotOffered(let text): return "TLS not offered: \(text)"
        case .tlsFailed(let text): return "TLS failed: \(text)"
        case .timeout: return "timed out"
        case .noResponders: return "no responders"
        case .subscriptionClosed: return "subscription closed"
        case .cancelled: return "cancelled"
        }
    }
}
