import ArgumentParser
import DocketClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `docket`: the command line for a Docket server.
struct DocketCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docket",
        abstract: "Publish and follow events, and enqueue, run and inspect jobs on a Docket server.",
        usage: "docket [<connection options>] <subcommand> [<options>]",
        discussion: """
            Every command connects to the server given with --server (host:port), or in the \
            DOCKET_SERVER environment variable, or to 127.0.0.1:4222 without either. \
            tls://host:port, or any of --tls-ca, --tls-cert, --tls-key and --tls-handshake-first \
            (or DOCKET_TLS_CA, DOCKET_TLS_CERT, DOCKET_TLS_KEY, DOCKET_TLS_HANDSHAKE_FIRST=1), asks \
            for TLS, and a server that does not offer it is refused. A server that requires TLS \
            gets it even without them, its certificate checked against the system's CA store. \
            A server that requires credentials gets --token, or --user with --pass, or an NKEY \
            user's seed (--nkey), or an nsc .creds file in operator mode (--creds); or \
            DOCKET_TOKEN, DOCKET_USER and DOCKET_PASS, DOCKET_NKEY_SEED_FILE or DOCKET_CREDS, or \
            user:pass@ in the address. These \
            options go before or after the command: 'docket --server h:4222 stats' and \
            'docket stats --server h:4222' are the same. Durations \
            read like 250ms, 30s, 5m or 2h. Errors go to standard error. Exit status: 0 done; \
            1 the job is dead (wait, enq --wait); 2 the job was still pending when --timeout \
            passed; 3 the server could not be reached (TLS failures included) or the connection \
            was lost, so the outcome is unknown (an enq is safe to repeat only with --key); 4 the \
            server refused the command, or the tool a value the server would refuse (bad argument), \
            or some lines of enq --from; 64 the command line is wrong.
            """,
        version: DocketConnection.version,
        subcommands: [
            Pub.self, Sub.self, Enq.self, JobCommand.self, Parents.self, WaitCommand.self, Retry.self, Dead.self, Del.self,
            Jobs.self, Purge.self, Promote.self, QueueCommand.self, Queues.self, Stats.self, Events.self, Work.self,
            RouteCommand.self, Unroute.self, Routes.self, ScheduleCommand.self, Unschedule.self, Schedules.self, Top.self,
        ])

    /// The connection options given before the command; each command's own group takes them
    /// over (the parser hands the same value down), so they work on either side of it.
    @OptionGroup(title: "Connection options") var connection: ServerOptions
}

/// The `--server` and TLS options every command shares.
struct ServerOptions: ParsableArguments {
    @Option(
        name: .long,
        help: """
            The server to talk to, as host:port (tls://host:port for TLS). Without it, DOCKET_SERVER \
            is used, or 127.0.0.1:4222.
            """)
    var server: String?

    @Option(
        name: .customLong("tls-ca"),
        help: ArgumentHelp(
            """
            TLS: a PEM file of the CA certificates the server's certificate must chain to (default: \
            DOCKET_TLS_CA, else the system's CA store). Asks for TLS.
            """, valueName: "file"))
    var tlsCA: String?

    @Option(
        name: .customLong("tls-cert"),
        help: ArgumentHelp(
            """
            TLS: this client's certificate (PEM), for a server that verifies clients (docketd \
            --tlsverify). Default: DOCKET_TLS_CERT. Asks for TLS.
            """, valueName: "file"))
    var tlsCert: String?

    @Option(
        name: .customLong("tls-key"),
        help: ArgumentHelp(
            "TLS: the key of --tls-cert (PEM; default: DOCKET_TLS_KEY, else the certificate file holds it).", valueName: "file"))
    var tlsKey: String?

    @Flag(
        name: .customLong("tls-handshake-first"),
        help: """
            TLS: start the handshake at once, before the server's INFO, for a server started with \
            --tls-handshake-first (or DOCKET_TLS_HANDSHAKE_FIRST=1). Asks for TLS.
            """)
    var tlsHandshakeFirstFlag = false

    @Option(
        help: ArgumentHelp(
            """
            The token of a server started with --auth (default: DOCKET_TOKEN). Prefer the \
            environment: other users of the machine can read command lines.
            """, valueName: "token"))
    var token: String?

    @Option(
        help: ArgumentHelp(
            """
            The user, for a server with users (default: DOCKET_USER). The password is --pass, \
            else DOCKET_PASS, else asked for on the terminal.
            """, valueName: "name"))
    var user: String?

    @Option(
        name: .customLong("pass"),
        help: ArgumentHelp(
            "The password of --user (default: DOCKET_PASS). Prefer the environment, or the prompt.", valueName: "password"))
    var password: String?

    @Option(
        name: .customLong("nkey"),
        help: ArgumentHelp(
            """
            A file holding an NKEY user's seed (SU…, as nk -gen user writes it), for a server whose \
            users include that NKEY (default: DOCKET_NKEY_SEED_FILE). The seed signs the server's \
            nonce; it is never sent.
            """, valueName: "file"))
    var nkeySeedFile: String?

    @Option(
        name: .customLong("creds"),
        help: ArgumentHelp(
            """
            An nsc .creds file (a user JWT and its seed), for a server in operator mode (default: \
            DOCKET_CREDS).
            """, valueName: "file"))
    var credsFile: String?

    var tlsHandshakeFirst: Bool {
        tlsHandshakeFirstFlag || ["1", "true", "yes"].contains(environment("DOCKET_TLS_HANDSHAKE_FIRST")?.lowercased() ?? "")
    }

    var address: String {
        if let server { return server }
        return environment("DOCKET_SERVER") ?? "127.0.0.1:4222"
    }

    /// The CA file, certificate and key, from the options or else the environment.
    var tlsFiles: (ca: String?, certificate: String?, key: String?) {
        (tlsCA ?? environment("DOCKET_TLS_CA"), tlsCert ?? environment("DOCKET_TLS_CERT"), tlsKey ?? environment("DOCKET_TLS_KEY"))
    }

    /// The TLS settings; nil when none were given (then only a server that requires TLS gets it).
    var tls: DocketConnection.TLSOptions? {
        let files = tlsFiles
        guard files.ca != nil || files.certificate != nil || files.key != nil || tlsHandshakeFirst else { return nil }
        return DocketConnection.TLSOptions(
            caFile: files.ca, certificateFile: files.certificate, keyFile: files.key, handshakeFirst: tlsHandshakeFirst)
    }

    /// The credentials the options give; nil leaves them to the address, then to DOCKET_USER
    /// with DOCKET_PASS, DOCKET_TOKEN, DOCKET_NKEY_SEED_FILE or DOCKET_CREDS. A user without a password is asked for it on the
    /// terminal, once.
    func credentials() throws -> Credentials? {
        if let token { return .token(token) }
        do {
            if let nkeySeedFile { return .nkey(try NKeySeed(file: nkeySeedFile)) }
            if let credsFile { return .userCredentials(try UserCredentials(file: credsFile)) }
        } catch {
            throw ValidationError(error.description)
        }
        guard user != nil || password != nil else { return nil }
        guard let name = user ?? environment("DOCKET_USER") else {
            throw ValidationError("--pass goes with --user (or DOCKET_USER): the user it is the password of.")
        }
        if let password = password ?? environment("DOCKET_PASS") { return .user(name, password: password) }
        if let typed = PasswordPrompt.cached { return .user(name, password: typed) }
        guard let typed = PasswordPrompt.ask("Password for \(name): ") else {
            throw ValidationError("--user \(name) needs a password: give --pass or DOCKET_PASS (no terminal to ask on).")
        }
        PasswordPrompt.cached = typed
        return .user(name, password: typed)
    }

    /// The client's connection settings: name, TLS and credentials. Without `reconnect`, a
    /// lost connection fails what is under way at once rather than waiting for a new one.
    /// `follows`: a command that runs until interrupted (sub, events, top) keeps reconnecting
    /// however long the server is away, as `docket work` does (the client's default too; said
    /// here so that a change of that default cannot make them give up).
    func connectionOptions(name: String, reconnect: Bool = true, requestTimeout: DocketDuration? = 30, follows: Bool = false) throws
        -> DocketConnection.Options
    {
        try check()
        var options = DocketConnection.Options(
            name: name, requestTimeout: requestTimeout, reconnect: reconnect, credentials: try credentials(), tls: tls)
        if follows { options.reconnectTimeout = nil }
        return options
    }

    /// The environment for programs `docket work` runs, so that a `docket` they run reaches
    /// the same server the same way.
    func childEnvironment(_ credentials: Credentials?) -> [String: String] {
        var values = ["DOCKET_SERVER": address]
        // Credentials from the command line replace any the child would inherit: an empty
        // variable counts as unset, so none of another kind can win over them.
        if credentials != nil {
            for name in Credentials.environmentVariables { values[name] = "" }
        }
        switch credentials {
        case .token(let token)?: values["DOCKET_TOKEN"] = token
        case .user(let name, let password)?:
            values["DOCKET_USER"] = name
            values["DOCKET_PASS"] = password
        case .nkey?: values["DOCKET_NKEY_SEED_FILE"] = nkeySeedFile
        case .userCredentials?: values["DOCKET_CREDS"] = credsFile
        case nil: break
        }
        let files = tlsFiles
        if let ca = files.ca { values["DOCKET_TLS_CA"] = ca }
        if let certificate = files.certificate { values["DOCKET_TLS_CERT"] = certificate }
        if let key = files.key { values["DOCKET_TLS_KEY"] = key }
        if tlsHandshakeFirst { values["DOCKET_TLS_HANDSHAKE_FIRST"] = "1" }
        return values
    }

    /// Checked when connecting rather than in `validate()`: the command line's root parses
    /// these options too, and a parse-time error there would show the tool's usage instead of
    /// the command's.
    func check() throws {
        let logins = [token != nil, user != nil || password != nil, nkeySeedFile != nil, credsFile != nil].filter { $0 }.count
        if logins > 1 {
            throw ValidationError("Give one of --token, --user (with --pass), --nkey and --creds.")
        }
        let files = tlsFiles
        if files.key != nil, files.certificate == nil {
            throw ValidationError("--tls-key (DOCKET_TLS_KEY) needs --tls-cert (DOCKET_TLS_CERT): the certificate it is the key of.")
        }
        for (option, path) in [("--tls-ca", files.ca), ("--tls-cert", files.certificate), ("--tls-key", files.key)] {
            if let path, access(path, R_OK) != 0 {
                throw ValidationError("\(option) \(path): \(String(cString: strerror(errno))).")
            }
        }
    }

    /// Connects, runs `body`, and closes; Docket errors are printed and become their exit status.
    func with<T>(
        reconnect: Bool = true, requestTimeout: DocketDuration? = 30, follows: Bool = false, _ body: (DocketConnection) throws -> T
    ) throws -> T {
        let connection: DocketConnection
        let options = try connectionOptions(name: "docket-cli", reconnect: reconnect, requestTimeout: requestTimeout, follows: follows)
        do {
            connection = try DocketConnection(address, options: options)
        } catch {
            throw fail(error)
        }
        defer { connection.close() }
        do {
            return try body(connection)
        } catch let error as DocketError {
            throw fail(error)
        }
    }
}

/// A non-empty environment variable.
func environment(_ name: String) -> String? {
    guard let value = getenv(name), let text = String(validatingCString: value), !text.isEmpty else { return nil }
    return text
}

/// The tool's exit statuses (see the command's discussion).
enum ExitStatus {
    static let dead: Int32 = 1
    static let pending: Int32 = 2
    static let unreachable: Int32 = 3
    static let refused: Int32 = 4
}

/// Prints a Docket error the way the tool reports every error, and gives the exit code: a
/// connection that failed (the outcome is unknown) and a refusal are told apart.
func fail(_ error: DocketError) -> ExitCode {
    writeStderr("docket: \(error)\n")
    switch error {
    case .connectFailed, .connectionLost, .connectionClosed, .timeout, .protocolViolation, .tlsConfiguration, .tlsNotOffered,
        .tlsFailed:
        return ExitCode(ExitStatus.unreachable)
    default:
        return ExitCode(ExitStatus.refused)
    }
}

/// Runs `body`; a Docket error is printed and becomes its exit status.
func reportingFailure<T>(_ body: () throws(DocketError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw fail(error)
    }
}

/// Reads all of standard input.
func readStandardInput() -> [UInt8] {
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        data += chunk[..<count]
    }
    return data
}

/// A queue name as the server takes it: 1 to 128 letters, digits, _ or -.
func isQueueName(_ name: String) -> Bool {
    (1...128).contains(name.utf8.count)
        && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x5F || $0 == 0x2D }
}

/// A payload argument: its text, or standard input for `-`.
func payloadBytes(_ argument: String) -> [UInt8] {
    argument == "-" ? readStandardInput() : Array(argument.utf8)
}

/// A job id argument.
func parseJobID(_ text: String) throws -> UInt64 {
    guard let id = UInt64(text), id > 0 else { throw ValidationError("\"\(text)\" is not a job id: job ids are positive numbers.") }
    return id
}

/// A size such as 4096, 64KiB or 1MiB.
func parseSize(_ text: String, _ what: String) throws -> Int {
    let (digits, unit) = (text.prefix { $0.isNumber }, text.drop { $0.isNumber }.lowercased())
    guard let value = Int(digits) else { throw ValidationError("\(what) must be a size such as 4096, 64KiB or 1MiB.") }
    let shift: Int
    switch unit {
    case "", "b": shift = 0
    case "k", "kb", "kib": shift = 10
    case "m", "mb", "mib": shift = 20
    default: throw ValidationError("\(what) must be a size such as 4096, 64KiB or 1MiB.")
    }
    // A shift past Int's bits would wrap to a wrong size, silently.
    guard value <= Int.max >> shift else { throw ValidationError("\(what) is too large: \(text).") }
    return value << shift
}

/// A duration option, checked.
func parseDuration(_ text: String, _ what: String) throws -> DocketDuration {
    let duration = DocketDuration(text)
    guard duration.milliseconds != nil else { throw ValidationError("\(what) must be a duration such as 250ms, 30s or 5m.") }
    return duration
}

/// Wall-clock time of day `HH:MM:SS.mmm` for unix milliseconds.
func timeOfDay(_ unixMilliseconds: Int64) -> String {
    var seconds = time_t(unixMilliseconds / 1000)
    var parts = tm()
    localtime_r(&seconds, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let millis = Int(unixMilliseconds % 1000)
    let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
    return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)"
}

/// A payload for the terminal: UTF-8 text, with undecodable bytes replaced.
func printable(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Asks for a password on the terminal, without echo.
enum PasswordPrompt {
    /// The password typed, so that it is asked for once per run.
    nonisolated(unsafe) static var cached: String?

    /// The line typed on /dev/tty after `prompt`; nil without a terminal.
    static func ask(_ prompt: String) -> String? {
        let tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard tty >= 0 else { return nil }
        defer { close(tty) }
        var saved = termios()
        guard tcgetattr(tty, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        _ = tcsetattr(tty, TCSAFLUSH, &quiet)
        defer {
            _ = tcsetattr(tty, TCSAFLUSH, &saved)
            _ = write(tty, "\n", 1)
        }
        _ = prompt.withCString { write(tty, $0, strlen($0)) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(tty, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 || byte == 10 || byte == 13 { break }
            line.append(byte)
        }
        return String(decoding: line, as: UTF8.self)
    }
}

/// A usage error as the argument parser prints one: the message, the command's usage, and
/// where its help is.
func usageError(_ message: String, for command: ParsableCommand.Type) -> String {
    let path = command == DocketCLI.self ? "docket" : "docket \(command._commandName)"
    return "Error: \(message)\nUsage: \(DocketCLI.usageString(for: command))\n  See '\(path) --help' for more information.\n"
}
