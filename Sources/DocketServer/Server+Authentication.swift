#if canImport(Glibc)
import Glibc
#endif
import DocketPasswords
import DocketWire

/// Settling credentials: at once for tokens and plain passwords, on the password checker's
/// thread for bcrypt hashes (a check takes tens to hundreds of milliseconds, which the loop
/// must not spend while others wait).
extension Server {
    /// How long a password that matched its hash is remembered: the same login again (a client
    /// reconnecting, a dashboard polling with Basic credentials) then costs no bcrypt, and gets
    /// in even while a flood of bad logins keeps the checker busy.
    static let verifiedPasswordMilliseconds: Int64 = 10 * 60_000
    static let verifiedPasswordMemory = 1024

    /// Calls `done` with the principal the verdict proves (nil: refused), now or in a later pass.
    /// Returns the check's id while one is queued (to `cancelPasswordCheck` if the asker goes).
    /// `source`: the host that asks; hosts take turns at the password checker.
    @discardableResult
    func settle(_ verdict: Authenticator.Verdict, from source: String, _ done: @escaping (Principal?) -> Void) -> UInt64? {
        switch verdict {
        case .proved(let principal): done(principal)
        case .refused, .refusedJWT: done(nil)
        case .check(let password, let hash, let principal):
            guard let checker = passwordChecker else {
                done(nil)
                return nil
            }
            let key = Self.verifiedKey(password: password, hash: hash)
            let now = Int64(monotonicMilliseconds())
            if principal != nil, let until = verifiedPasswords[key], until > now {
                done(principal)
                return nil
            }
            let id = nextPasswordCheckID
            nextPasswordCheckID += 1
            guard checker.submit(id: id, password: password, hash: hash, source: source) else {
                if let count = passwordRefusals.occurred(at: Int(monotonicMilliseconds())) {
                    log.warn("Password check refused: \(checker.capacity) checks are already waiting (\(count) refused since the last such line)")
                }
                done(nil)
                return nil
            }
            pendingPasswordChecks[id] = { [unowned self] matches in
                if matches && principal != nil { rememberVerified(key, now: Int64(monotonicMilliseconds())) }
                done(matches ? principal : nil)
            }
            return id
        }
        return nil
    }

    /// Logs a failed login, on either port, once per interval with a count: a guesser must not
    /// flood the log.
    func warnFailedLogin(_ line: @autoclosure () -> String) {
        guard let count = failedLogins.occurred(at: Int(monotonicMilliseconds())) else { return }
        log.warn(line() + (count > 1 ? " (\(count) failed logins since the last such line)" : ""))
    }

    /// What a client is refused for before it has logged in, besides wrong credentials.
    enum RefusalBeforeLogin: Hashable {
        case commandBeforeConnect, authenticationTimeout, plainTextOnTLS, handshakeFailed, handshakeTimeout, maximumConnections
        case webSocketUpgradeRefused, webSocketHandshakeTimeout, webSocketProtocolError
        /// On the route port: wrong or missing credentials, or no INFO within the auth timeout.
        case routeRefused
        /// Past `--max-connecting` connections waiting to log in on one port.
        case tooManyConnecting
        /// Fewer than `--descriptor-reserve` descriptors free while connections wait to log in.
        case descriptorsShort
    }

    /// Counts `connection`, just accepted, among those waiting to log in on `waitlist`'s port,
    /// and makes room for it: past `--max-connecting` on that port, the one there that has
    /// waited longest is closed; when descriptors are short (`--descriptor-reserve`), the one
    /// that has waited longest on the port with the most waiting.
    func waitToLogIn(_ connection: Connection, on waitlist: LoginWaitlist) {
        connection.loginWaitlist = waitlist
        if let oldest = waitlist.admit(connection.id), let crowded = connections[oldest] ?? routeTable?.links[oldest] {
            warnRefusedBeforeLogin(
                .tooManyConnecting,
                "\(crowded.label) - Closed before its login: \(waitlist.limit) connections wait to log in on its port (--max-connecting), and it waited longest")
            close(crowded, reason: "Too Many Connections Logging In")
        }
        guard descriptorBudget.isShort(tracked: socketsHeld, accepted: connection.fd),
            let id = LoginWaitlist.connectionToClose(among: [clientLogins, webSocketLogins, routeLogins], sparing: connection.id),
            let crowded = connections[id] ?? routeTable?.links[id]
        else { return }
        warnRefusedBeforeLogin(
            .descriptorsShort,
            "\(crowded.label) - Closed before its login: fewer than \(descriptorBudget.reserve) descriptors are free (--descriptor-reserve), and it waited longest on the port with the most connections waiting to log in")
        close(crowded, reason: "Too Many Connections Logging In")
    }

    /// The sockets the server holds for its peers: clients, routes, monitoring connections,
    /// refused ones lingering. With `DescriptorBudget.baseline`, every descriptor it has open.
    var socketsHeld: Int {
        connections.count + (routeTable?.links.count ?? 0) + (monitoring?.openConnections ?? 0) + (refusedSockets?.count ?? 0)
    }

    /// `connection` has logged in: it no longer counts toward its port's `--max-connecting`.
    func loggedIn(_ connection: Connection) {
        connection.loginWaitlist?.remove(connection.id)
        connection.loginWaitlist = nil
    }

    /// `limit` (the value of `flag`), or an `parts`th of the open file limit if that is less,
    /// logged: a bound on descriptors held by connections that have not logged in must leave
    /// room for the ones that have.
    func descriptorShare(_ limit: Int, _ flag: String, per scope: String, parts: Int) -> Int {
        guard let descriptors = AcceptBackoff.descriptorLimit(), descriptors / parts < limit else { return limit }
        let share = max(1, descriptors / parts)
        log.info("\(flag) is \(share) per \(scope), not \(limit): 1/\(parts) of the open file limit (\(descriptors))")
        return share
    }

    /// Logs a refusal before login once per interval for each kind, with a count, as failed
    /// logins are: anyone who reaches the port can cause one per connection, thousands a
    /// second, and a line each would let a stranger fill the log's disk.
    func warnRefusedBeforeLogin(_ kind: RefusalBeforeLogin, _ line: @autoclosure () -> String) {
        guard let count = refusalsBeforeLogin[kind, default: LogThrottle()].occurred(at: Int(monotonicMilliseconds())) else { return }
        log.warn(line() + (count > 1 ? " (\(count) such refusals since the last such line)" : ""))
    }

    /// Drops a queued check whose asker went away: a flood of logins that hang up must not
    /// keep the checker busy for the ones that stay.
    func cancelPasswordCheck(_ id: UInt64) {
        guard pendingPasswordChecks.removeValue(forKey: id) != nil else { return }
        passwordChecker?.cancel(id: id)
    }

    /// The checker's threads finished some checks.
    func passwordChecksFinished() {
        guard let checker = passwordChecker else { return }
        for result in checker.takeResults() {
            pendingPasswordChecks.removeValue(forKey: result.id)?(result.matches)
        }
    }

    private func rememberVerified(_ key: Int, now: Int64) {
        if verifiedPasswords.count >= Self.verifiedPasswordMemory {
            verifiedPasswords = verifiedPasswords.filter { $0.value > now }
            if verifiedPasswords.count >= Self.verifiedPasswordMemory { verifiedPasswords.removeAll() }
        }
        verifiedPasswords[key] = now + Self.verifiedPasswordMilliseconds
    }

    /// A password and the hash it matched, as a keyed 64-bit digest (the process's random
    /// SipHash key): the password itself is not kept.
    private static func verifiedKey(password: String, hash: String) -> Int {
        var hasher = Hasher()
        hasher.combine(hash)
        hasher.combine(password)
        return hasher.finalize()
    }

    /// A fresh NKEY challenge, as nats-server makes one: 11 random bytes (the system's
    /// cryptographic generator) in unpadded URL-safe base64, 15 characters. Unpredictable and
    /// per connection, so that a signature seen on one connection proves nothing on another.
    static func makeNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<11).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Array(Base64.encode(random, .url, padded: false).utf8)
    }

    /// Arms the connection's login timer again, for when the credentials it logged in with
    /// expire (a user JWT's `exp`); nothing for credentials that do not. Armed for at most a
    /// day at a time: a later expiry is armed again when that day is over.
    func scheduleExpiry(_ connection: Connection) {
        guard let expiresAt = connection.principal?.expiresAt, let timer = connection.authTimer else { return }
        let seconds = min(max(0, expiresAt - Int(time(nil))), 86_400)
        EventLoop.add(timer, timeoutMilliseconds: seconds * 1000)
    }

    /// Whether the configured credentials need the checker (a bcrypt hash among them).
    var needsPasswordChecker: Bool {
        switch config.authenticator?.credentials {
        case .users(let users)?: return users.contains { $0.isHashed }
        case .token(let token)?: return PasswordHash.isHash(token)
        case .operatorMode?, nil: return false
        }
    }
}
