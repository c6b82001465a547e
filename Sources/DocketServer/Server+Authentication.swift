import DocketPasswords
import DocketWire

/// Settling credentials: at once for tokens and plain passwords, on the password checker's
/// thread for bcrypt hashes (a check takes tens to hundreds of milliseconds, which the loop
/// must not spend while others wait).
extension Server {
    /// Calls `done` with the principal the verdict proves (nil: refused), now or in a later pass.
    func settle(_ verdict: Authenticator.Verdict, _ done: @escaping (Principal?) -> Void) {
        switch verdict {
        case .proved(let principal): done(principal)
        case .refused: done(nil)
        case .check(let password, let hash, let principal):
            guard let checker = passwordChecker else { return done(nil) }
            let id = nextPasswordCheckID
            nextPasswordCheckID += 1
            guard checker.submit(id: id, password: password, hash: hash) else {
                log.warn("Password check refused: \(checker.capacity) checks are already waiting")
                return done(nil)
            }
            pendingPasswordChecks[id] = { matches in done(matches ? principal : nil) }
        }
    }

    /// The checker's thread finished some checks.
    func passwordChecksFinished() {
        guard let checker = passwordChecker else { return }
        for result in checker.takeResults() {
            pendingPasswordChecks.removeValue(forKey: result.id)?(result.matches)
        }
    }

    /// Whether the configured credentials need the checker (a bcrypt hash among them).
    var needsPasswordChecker: Bool {
        switch config.authenticator?.credentials {
        case .users(let users)?: return users.contains { $0.isHashed }
        case .token(let token)?: return PasswordHash.isHash(token)
        case nil: return false
        }
    }
}
