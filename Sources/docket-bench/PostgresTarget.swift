/// The PostgreSQL cluster a `jobs` run uses (`--postgres`), given as libpq takes it: a URI
/// (`postgres://docket@127.0.0.1:5432/postgres`) or key=value words (`host=127.0.0.1 port=5432
/// user=docket`). docket-bench makes a new database there for every run, so what it keeps is
/// the way to reach the cluster, and it can name any database of it.
///
/// Like `--host`, only the local machine is accepted: every host the string names (`host`,
/// `hostaddr`, a URI's host list, or PGHOST/PGHOSTADDR when it names none) must be a loopback
/// address, `localhost`, or a Unix-socket directory (an absolute path). Names other than
/// `localhost` are refused, not resolved.
struct PostgresTarget: Sendable, Equatable, CustomStringConvertible {
    /// What was given.
    let conninfo: String
    private let form: Form

    private enum Form: Equatable {
        /// A URI: everything before its database name, and its parameters (`dbname` removed).
        case uri(prefix: String, parameters: [String])
        case keywords
    }

    var description: String { conninfo }

    /// Parses and checks `conninfo`; `environment` stands in for PGHOST and PGHOSTADDR.
    init(_ conninfo: String, environment: [String: String] = [:]) throws {
        let text = conninfo.trimmingSpaces
        guard !text.isEmpty else { throw BenchError("--postgres is empty") }
        self.conninfo = text
        var hosts: [String] = []
        if let scheme = ["postgresql://", "postgres://"].first(where: text.hasPrefix) {
            let rest = text.dropFirst(scheme.count)
            let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
            let beforeQuery = rest[..<queryStart]
            let authorityEnd = beforeQuery.firstIndex(of: "/") ?? beforeQuery.endIndex
            let authority = beforeQuery[..<authorityEnd]
            // The host list comes after any user[:password]@.
            let hostList = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
            for entry in hostList.split(separator: ",", omittingEmptySubsequences: false) {
                let host = Self.hostOfURIEntry(entry)
                if !host.isEmpty { hosts.append(try Self.percentDecoded(host)) }
            }
            var parameters: [String] = []
            if queryStart < rest.endIndex {
                for parameter in rest[rest.index(after: queryStart)...].split(separator: "&") {
                    let key = parameter.prefix { $0 != "=" }
                    let value = parameter.dropFirst(key.count + 1)
                    if key == "dbname" { continue }
                    if key == "host" || key == "hostaddr" {
                        hosts += try Self.percentDecoded(value).split(separator: ",").map(String.init)
                    }
                    parameters.append(String(parameter))
                }
            }
            form = .uri(prefix: scheme + authority, parameters: parameters)
        } else {
            let words = try Self.keywords(text)
            for (key, value) in words where key == "host" || key == "hostaddr" {
                hosts += value.split(separator: ",").map(String.init)
            }
            form = .keywords
        }
        if hosts.isEmpty {
            // libpq falls back to the environment, then to its Unix socket.
            for key in ["PGHOST", "PGHOSTADDR"] {
                if let value = environment[key], !value.isEmpty { hosts += value.split(separator: ",").map(String.init) }
            }
        }
        for host in hosts where !Self.isLocal(host) {
            throw BenchError("--postgres must name this machine (127.0.0.0/8, ::1, localhost or a socket directory), not \(host)")
        }
    }

    /// The same cluster and credentials, database `name` (letters, digits and `_` only).
    func conninfo(database name: String) -> String {
        precondition(!name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
        switch form {
        case .uri(let prefix, let parameters):
            return prefix + "/" + name + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
        case .keywords:
            // libpq keeps the last value of a keyword given twice.
            return conninfo + " dbname=" + name
        }
    }

    /// A new database name for one run: `<prefix>_<pid>_<random>`, unlikely to meet another.
    static func freshDatabaseName(prefix: String, pid: Int32, random: UInt32) -> String {
        "\(prefix)_\(pid)_\(random)"
    }

    // MARK: Parsing

    /// `host`, `host:port` or `[v6]:port` of one entry of a URI's host list.
    private static func hostOfURIEntry(_ entry: Substring) -> String {
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            return String(entry[entry.index(after: entry.startIndex)..<close])
        }
        return String(entry.prefix { $0 != ":" })
    }

    /// The `key = value` pairs of a libpq keyword string: values may be single-quoted, with
    /// `\'` and `\\` inside.
    static func keywords(_ text: String) throws -> [(String, String)] {
        var pairs: [(String, String)] = []
        var characters = Substring(text)
        func skipSpaces() { characters = characters.drop { $0 == " " || $0 == "\t" || $0 == "\n" } }
        while true {
            skipSpaces()
            guard !characters.isEmpty else { return pairs }
            let key = characters.prefix { $0 != "=" && $0 != " " && $0 != "\t" }
            characters = characters.dropFirst(key.count)
            skipSpaces()
            guard !key.isEmpty, characters.first == "=" else {
                throw BenchError("--postgres: expected key=value, got '\(key)' (or give a postgres:// URI)")
            }
            characters = characters.dropFirst()
            skipSpaces()
            var value = ""
            if characters.first == "'" {
                characters = characters.dropFirst()
                var closed = false
                while let character = characters.first {
                    characters = characters.dropFirst()
                    if character == "\\", let next = characters.first {
                        value.append(next)
                        characters = characters.dropFirst()
                    } else if character == "'" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { throw BenchError("--postgres: unterminated quoted value for \(key)") }
            } else {
                while let character = characters.first, character != " ", character != "\t", character != "\n" {
                    characters = characters.dropFirst()
                    if character == "\\", let next = characters.first {
                        value.append(next)
                        characters = characters.dropFirst()
                    } else {
                        value.append(character)
                    }
                }
            }
            pairs.append((String(key), value))
        }
    }

    private static func percentDecoded<S: StringProtocol>(_ text: S) throws -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.first {
            utf8 = utf8.dropFirst()
            if byte == UInt8(ascii: "%") {
                guard utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) else {
                    throw BenchError("--postgres: bad percent-encoding in \(text)")
                }
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Loopback addresses, `localhost` and socket directories.
    static func isLocal(_ host: String) -> Bool {
        if host.hasPrefix("/") || host == "localhost" || host == "::1" { return true }
        return LoopbackAddress(host) != nil
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\n" || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\n" || $0 == "\t" }.reversed())
    }
}
