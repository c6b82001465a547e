/// An nsc `.creds` file: a user JWT and the seed that signs for it, each between BEGIN and END
/// lines. What is between the lines must be exactly one JWT and one user seed; the lines
/// themselves are read leniently (nsc writes five dashes before and six after, other tools
/// other counts, and files pass through editors that add blanks).
public struct UserCredentials: Sendable, Equatable, CustomStringConvertible {
    /// The user JWT, sent as CONNECT's `jwt`.
    public let jwt: String
    /// The user's seed, which signs the nonce.
    public let seed: NKeySeed

    /// Reads the text of a `.creds` file; throws `badArgument` saying what is missing or wrong.
    public init(_ text: String) throws(DocketError) {
        let blocks = Self.blocks(text)
        guard let jwt = blocks["NATS USER JWT"] else { throw .badArgument("no user JWT (no -----BEGIN NATS USER JWT----- block)") }
        guard let seedText = blocks["USER NKEY SEED"] else {
            throw .badArgument("no user seed (no -----BEGIN USER NKEY SEED----- block)")
        }
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(Self.isBase64URL) }) else {
            throw .badArgument("the user JWT block does not hold one JWT (three base64url parts joined by dots)")
        }
        self.jwt = jwt
        self.seed = try NKeySeed(seedText)
    }

    /// Reads a `.creds` file.
    public init(file path: String) throws(DocketError) {
        self = try parseSecretFile(path, what: "creds file") { text throws(DocketError) in try UserCredentials(text) }
    }

    public var description: String { "the user JWT of \(seed.publicKey), with its seed" }

    /// Each `BEGIN <name>`…`END <name>` block's content, blanks around it trimmed, by name. A
    /// marker line is dashes, the words and dashes again; a block whose content spans several
    /// lines keeps them, and is then no JWT or seed.
    static func blocks(_ text: String) -> [String: String] {
        var found: [String: String] = [:]
        var open: (name: String, lines: [Substring])? = nil
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let trimmed = String(line).trimmingBlanks
            if let marker = marker(trimmed) {
                if marker.begin {
                    open = (marker.name, [])
                } else if let block = open, block.name == marker.name {
                    if found[block.name] == nil {
                        found[block.name] = block.lines.map { String($0).trimmingBlanks }.filter { !$0.isEmpty }.joined(separator: "\n")
                    }
                    open = nil
                }
            } else if open != nil {
                open!.lines.append(Substring(trimmed))
            }
        }
        return found
    }

    /// `-----BEGIN NAME-----` or `------END NAME------`, any number (3 or more) of dashes.
    static func marker(_ line: String) -> (begin: Bool, name: String)? {
        let inner = line.drop(while: { $0 == "-" })
        guard line.count - inner.count >= 3 else { return nil }
        var words = inner
        while words.last == "-" { words.removeLast() }
        guard inner.count - words.count >= 3 else { return nil }
        if words.hasPrefix("BEGIN ") { return (true, String(words.dropFirst(6)).trimmingBlanks) }
        if words.hasPrefix("END ") { return (false, String(words.dropFirst(4)).trimmingBlanks) }
        return nil
    }

    static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default: return false
        }
    }
}
