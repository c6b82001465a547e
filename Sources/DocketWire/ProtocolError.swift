/// A protocol error, with the exact text the server sends in `-ERR '<text>'`.
///
/// The texts of errors that NATS defines are NATS's own, byte for byte, because stock NATS
/// clients match on them (nats-py keeps a connection open only on "permissions violation").
public struct ProtocolError: Error, Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// An op name the server does not know, or junk where an op should be. Fatal.
        case unknownOperation
        /// A PUB/HPUB announcing more than the maximum payload. Fatal, before any payload is read.
        case maxPayload
        /// A control line longer than the maximum. Fatal.
        case maxControlLine
        /// A known op with arguments that do not parse, or a payload not followed by CRLF. Fatal.
        case invalidProtocol
        /// SUB with a subject that is not a valid subscription subject. Not fatal.
        case invalidSubject
        /// PUB to a subject that is not a valid literal subject, in pedantic mode. Not fatal.
        case invalidPublishSubject
        /// CONNECT asking for a protocol version above 1. Fatal.
        case invalidClientProtocol
        /// CONNECT with no_responders but without headers. Fatal.
        case noRespondersRequiresHeaders
        /// HPUB from a connection that did not negotiate headers. Fatal.
        case headersNotNegotiated
        /// More subscriptions on one connection than allowed. Not fatal.
        case maxSubscriptions
        /// More connections than allowed. Fatal; sent instead of INFO.
        case maxConnections
        /// Two server PINGs went unanswered. Fatal.
        case staleConnection
        /// Authentication is required and the first command was not a CONNECT with valid
        /// credentials. Fatal.
        case authorizationViolation
        /// Authentication is required and no CONNECT came within the auth timeout. Fatal.
        case authenticationTimeout
        /// The credentials a client logged in with ran out (a user JWT's expiry). Fatal.
        case authenticationExpired
        /// Its account (a JWT's `conn` limit) has as many clients as it may. Fatal.
        case maxAccountConnections
        /// A PUB or SUB the user's permissions do not grant; `detail` says which, in
        /// nats-server's words (`Publish to "a.b"`). Not fatal.
        case permissionsViolation
        /// TLS is required and the client spoke plain text after INFO. Fatal.
        case tlsRequired
    }

    public let kind: Kind
    /// Extra words for `invalidProtocol`, saying what was wrong.
    public let detail: String

    public init(_ kind: Kind, _ detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    /// Whether the server closes the connection after sending this error.
    public var isFatal: Bool {
        switch kind {
        case .invalidSubject, .invalidPublishSubject, .maxSubscriptions, .permissionsViolation: return false
        default: return true
        }
    }

    /// The text between the quotes of `-ERR '…'`.
    public var text: String {
        switch kind {
        case .unknownOperation: return "Unknown Protocol Operation"
        case .maxPayload: return "Maximum Payload Violation"
        case .maxControlLine: return "maximum control line exceeded"
        case .invalidProtocol: return detail.isEmpty ? "Invalid Protocol" : "Invalid Protocol: \(detail)"
        case .invalidSubject: return "Invalid Subject"
        case .invalidPublishSubject: return "Invalid Publish Subject"
        case .invalidClientProtocol: return "invalid client protocol"
        case .noRespondersRequiresHeaders: return "no responders requires headers support"
        case .headersNotNegotiated: return "Headers Not Negotiated"
        case .maxSubscriptions: return "maximum subscriptions exceeded"
        case .maxConnections: return "maximum connections exceeded"
        case .staleConnection: return "Stale Connection"
        case .authorizationViolation: return "Authorization Violation"
        case .authenticationTimeout: return "Authentication Timeout"
        case .authenticationExpired: return "User Authentication Expired"
        case .maxAccountConnections: return "maximum account active connections exceeded"
        case .permissionsViolation: return "Permissions Violation for \(detail)"
        case .tlsRequired: return "Secure Connection - TLS Required"
        }
    }

    /// The whole wire line, `-ERR '<text>'\r\n`.
    public var line: [UInt8] { Array("-ERR '\(text)'\r\n".utf8) }
}
