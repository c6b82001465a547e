import DocketServer
import DocketStore
import DocketWire

/// Applies a configuration file (nats-server's format, see `ConfigFile`) to the settings the
/// command line already made. A setting given on the command line wins over the file; the file
/// wins over environment variables and defaults.
struct ConfigFileSettings {
    let file: ConfigValue
    /// Top-level keys used as `$NAME` variables: definitions, not settings.
    let variables: Set<String>
    let path: String
    /// Where each key was first written (`docketd.conf:3:1`), for errors.
    let places: [String: String]
    /// Whether a flag (any of its spellings) is on the command line.
    let given: (String...) -> Bool
    /// Keys of the file that docketd knows but does not act on, for the log.
    private(set) var ignored: [String] = []
    /// `allow_non_tls`, applied once the TLS settings are known.
    private var allowsPlainText = false
    /// `docket { websocket_max_header }`, applied once the websocket block is read.
    private var webSocketMaxHeadBytes: Int?

    init(path: String, given: @escaping (String...) -> Bool) throws {
        self.path = path
        (self.file, self.variables, self.places) = try ConfigFile.loadDocument(path)
        self.given = given
    }

    /// A setting docketd does not know (`name` its whole dotted path), at the line its key was
    /// written on: a misspelt key in a long file is found by its line, not by a search.
    private func unknownSetting(_ name: String, _ hint: String = "") -> ConfigError {
        let key = name.split(separator: ".").last.map(String.init) ?? name
        return ConfigError("\(places[key] ?? path): unknown setting '\(name)'\(hint)")
    }

    /// nats-server keys that change nothing a client sees, read and left alone.
    static let harmless: Set<String> = [
        "logtime", "ports_file", "syslog", "remote_syslog", "max_traced_msg_len",
        "server_tags", "connect_error_reports", "reconnect_error_reports",
        "disable_sublist_cache", "prof_port", "system_account", "no_system_account",
    ]

    mutating func apply(to config: inout ServerConfig) throws {
        guard case .map(let entries) = file else { return }
        for (key, value) in entries where !variables.contains(key) {
            switch key {
            case "port":
                if !given("-p", "--port") { config.port = try port(value, key) }
            case "host", "net":
                if !given("-a", "--addr") { config.host = try string(value, key) }
            case "listen":
                let (host, port) = try hostPort(value, key)
                if let host, !given("-a", "--addr") { config.host = host }
                if let port, !given("-p", "--port") { config.port = port }
            case "server_name":
                if !given("--name") { config.serverName = try string(value, key) }
            case "client_advertise":
                if !given("--client-advertise") { config.clientAdvertise = try string(value, key) }
            case "debug", "trace":
                // As nats-server's: either one on turns that level on (trace is the more verbose).
                if !given("-D", "--debug", "-V", "--trace", "-DV", "-VD", "--log-level"), try bool(value, key) {
                    let level: LogLevel = key == "trace" ? .trace : .debug
                    if level < config.logLevel { config.logLevel = level }
                }
            case "log_file":
                if !given("-l", "--log") {
                    let file = try string(value, key)
                    guard !file.isEmpty else { throw ConfigError("\(path): log_file must name a file") }
                    config.logFile = file
                }
            case "pid_file", "pidfile":
                if !given("-P", "--pid") {
                    let file = try string(value, key)
                    guard !file.isEmpty else { throw ConfigError("\(path): \(key) must name a file") }
                    config.pidFile = file
                }
            case "ports_file_dir":
                if !given("--ports-file-dir") {
                    let directory = try string(value, key)
                    guard !directory.isEmpty else { throw ConfigError("\(path): ports_file_dir must name a directory") }
                    config.portsFileDirectory = directory
                }
            case "http_port", "monitor_port":
                if !given("-m", "--http-port") { config.httpPort = try port(value, key) }
            case "http":
                if let port = try hostPort(value, key).1, !given("-m", "--http-port") { config.httpPort = port }
            case "max_payload":
                if !given("--max-payload") { config.maxPayload = try size(value, key, "--max-payload") }
            case "max_control_line":
                if !given("--max-control-line") { config.maxControlLine = try size(value, key, "--max-control-line") }
            case "max_pending":
                if !given("--max-pending") { config.maxPending = try size(value, key, "--max-pending") }
            case "max_connections", "max_conn":
                if !given("--max-connections") { config.maxConnections = try int(value, key, DocketdCommand.countBounds("--max-connections")) }
            case "max_subscriptions", "max_subs":
                if !given("--max-subscriptions") { config.maxSubscriptions = try int(value, key, DocketdCommand.countBounds("--max-subscriptions")) }
            case "ping_interval":
                if !given("--ping-interval") { config.pingIntervalMilliseconds = try duration(value, key) }
            case "ping_max":
                if !given("--max-pings-out") { config.maxPingsOutstanding = try int(value, key, DocketdCommand.countBounds("--max-pings-out")) }
            case "write_deadline":
                if !given("--write-deadline") { config.writeDeadlineMilliseconds = try duration(value, key) }
            case "lame_duck_duration":
                if !given("--lame-duck-duration") { config.lameDuckDurationMilliseconds = try duration(value, key) }
            case "lame_duck_grace_period":
                if !given("--lame-duck-grace-period") { config.lameDuckGraceMilliseconds = try duration(value, key) }
            case "authorization":
                try applyAuthorization(value, to: &config)
            case "docket":
                try applyDocket(value, to: &config)
            case "no_auth_user":
                noAuthUser = try string(value, key)
            case "tls":
                if !given("--tls", "--tlscert", "--tlskey", "--tlscacert", "--tlsverify", "--tls-handshake-first") {
                    config.tls = try tlsSettings(value, "tls")
                }
            case "websocket":
                try applyWebSocket(value, to: &config)
            case "allow_non_tls":
                allowsPlainText = try bool(value, key)
            case "accounts":
                try applyAccounts(value)
            case "operator", "operators":
                operatorJWTs += try jwts(value, key)
            case "resolver":
                guard value.text?.uppercased() == "MEMORY" else {
                    throw ConfigError("\(path): resolver: docketd has the MEMORY resolver only (accounts from resolver_preload)")
                }
                hasMemoryResolver = true
            case "resolver_preload":
                guard case .map(let entries) = value else { throw ConfigError("\(path): resolver_preload must be a block { ACCOUNT_KEY: JWT }") }
                preload = try entries.map { key, item in (key, try string(item, "resolver_preload.\(key)")) }
            case "trusted_keys", "trusted", "resolver_tls", "resolver_pinned_accounts":
                throw ConfigError("\(path): '\(key)' is not supported by docketd yet (operator mode takes operator JWTs and resolver: MEMORY)")
            case "cluster":
                try applyCluster(value, to: &config)
            case "leafnodes":
                // Where leaf nodes would connect in (nats.js's test harness gives every server
                // one): no client sees it missing, so it is logged, not refused. Remotes would
                // join this server's subjects to another's: that is refused below.
                guard case .map(let block) = value else { throw ConfigError("\(path): leafnodes must be a block { listen: … }") }
                guard !block.contains(where: { $0.0 == "remotes" }) else {
                    throw ConfigError("\(path): 'leafnodes' with remotes is not supported by docketd yet; remove it, or use nats-server for it")
                }
                ignored.append("leafnodes (docketd opens no leaf node port: leaf nodes cannot connect to it)")
            case "gateway", "jetstream", "mqtt":
                // Refused rather than skipped: starting without TLS, users or a cluster the file
                // asks for would be worse than not starting.
                throw ConfigError("\(path): '\(key)' is not supported by docketd yet; remove it, or use nats-server for it")
            default:
                guard Self.harmless.contains(key) else { throw unknownSetting(key) }
                ignored.append(key)
            }
        }
        if !operatorJWTs.isEmpty || hasMemoryResolver || !preload.isEmpty {
            try finishOperatorMode(&config)
        } else if !given("--auth", "--user", "--pass") {
            try finishUsers(&config)
        }
        if let webSocketMaxHeadBytes {
            guard config.webSocket != nil else { throw ConfigError("\(path): docket.websocket_max_header needs a websocket block") }
            config.webSocket!.maxHeadBytes = webSocketMaxHeadBytes
        }
        // After the loop: the key may come before the tls block, or go with TLS set by flags.
        if allowsPlainText, config.tls != nil {
            guard !config.tls!.handshakeFirst else {
                throw ConfigError("\(path): allow_non_tls does not go with tls.handshake_first (a client that speaks first in plain text would be taken for a broken handshake)")
            }
            config.tls!.allowsPlainText = true
        }
    }

    /// `tls { cert_file, key_file, ca_file, verify, timeout, handshake_first }` (`name` is where
    /// the block is, for messages: `tls`, `websocket.tls`); TLS flags on the command line replace
    /// the client port's whole block.
    private func tlsSettings(_ value: ConfigValue, _ name: String) throws -> TLSSettings {
        guard case .map(let entries) = value else { throw ConfigError("\(path): \(name) must be a block { … }") }
        var certificate: String?, key: String?, caFile: String?
        var verify = false, handshakeFirst = false, mapsUsers = false
        var timeout: Int?
        for (key_, item) in entries {
            switch key_ {
            case "cert_file": certificate = try string(item, "\(name).cert_file")
            case "key_file": key = try string(item, "\(name).key_file")
            case "ca_file": caFile = try string(item, "\(name).ca_file")
            case "verify": verify = try bool(item, "\(name).verify")
            case "handshake_first", "first": handshakeFirst = try bool(item, "\(name).handshake_first")
            case "timeout":
                timeout = try duration(item, "\(name).timeout")
            case "verify_and_map":
                mapsUsers = try bool(item, "\(name).verify_and_map")
                if mapsUsers { verify = true }
            case "verify_cert_and_check_known_urls", "pinned_certs", "ocsp_peer", "cert_store", "cert_match":
                throw ConfigError("\(path): \(name).\(key_) is not supported by docketd yet")
            case "cipher_suites", "curve_preferences", "min_version", "insecure":
                throw ConfigError("\(path): \(name).\(key_) is not supported by docketd (it uses OpenSSL's defaults, TLS 1.2 and later)")
            default:
                throw unknownSetting("\(name).\(key_)")
            }
        }
        guard let certificate, let key else { throw ConfigError("\(path): \(name) needs cert_file and key_file") }
        if verify && caFile == nil { throw ConfigError("\(path): \(name).verify needs \(name).ca_file") }
        var settings = TLSSettings(certificateFile: certificate, keyFile: key)
        settings.caFile = caFile
        settings.verifyClients = verify
        settings.handshakeFirst = handshakeFirst
        settings.mapsUsers = mapsUsers
        if let timeout, name != "tls" || !given("--tls-timeout") { settings.timeoutMilliseconds = timeout }
        return settings
    }

    /// `cluster { name, listen | host + port, routes [ … ], authorization { user, password },
    /// advertise, no_advertise }`:
    /// routes between docketd nodes, in nats-server's words. The `--cluster`, `--routes` and
    /// `--cluster-name` flags win over it.
    private func applyCluster(_ value: ConfigValue, to config: inout ServerConfig) throws {
        guard case .map(let entries) = value else { throw ConfigError("\(path): cluster must be a block { … }") }
        var host: String?
        var port: Int?
        for (key, item) in entries {
            switch key {
            case "name":
                if !given("--cluster-name") { config.clusterName = try string(item, "cluster.name") }
            case "host": host = try string(item, "cluster.host")
            case "port": port = try self.port(item, "cluster.port")
            case "listen":
                let (listenHost, listenPort) = try hostPort(item, "cluster.listen")
                if let listenHost { host = listenHost }
                if let listenPort { port = listenPort }
            case "routes":
                let items: [ConfigValue]
                if case .array(let list) = item { items = list } else { items = [item] }
                let texts = try items.map { try string($0, "cluster.routes") }
                // `routes: []` is no routes, as in nats-server (a seed's file lists none).
                guard let urls = texts.isEmpty ? [] : RouteURL.list(texts.joined(separator: ",")) else {
                    throw ConfigError("\(path): cluster.routes must be nats://[user:pass@]host:port addresses")
                }
                if !given("--routes") { config.routes = urls }
            case "authorization":
                guard case .map(let fields) = item else { throw ConfigError("\(path): cluster.authorization must be a block { user, password }") }
                var user: String?
                var password: String?
                for (field, fieldValue) in fields {
                    switch field {
                    case "user": user = try string(fieldValue, "cluster.authorization.user")
                    case "password", "pass": password = try string(fieldValue, "cluster.authorization.password")
                    case "timeout": _ = try duration(fieldValue, "cluster.authorization.timeout")
                    default: throw ConfigError("\(path): cluster.authorization.\(field) is not supported by docketd; routes log in with user and password")
                    }
                }
                guard let user, let password else { throw ConfigError("\(path): cluster.authorization needs user and password") }
                config.routeCredentials = RouteCredentials(user: user, password: password)
            case "advertise", "cluster_advertise":
                if !given("--cluster-advertise") { config.clusterAdvertise = try string(item, "cluster.\(key)") }
            case "no_advertise":
                if !given("--no-advertise") { config.noAdvertise = try bool(item, "cluster.no_advertise") }
            case "ping_interval":
                if !given("--route-ping-interval") { config.routePingIntervalMilliseconds = try duration(item, "cluster.ping_interval") }
            case "ping_max":
                if !given("--route-max-pings-out") { config.routeMaxPingsOutstanding = try int(item, "cluster.ping_max", DocketdCommand.countBounds("--route-max-pings-out")) }
            case "connect_retries", "pool_size", "compression":
                break  // nats-server's tuning of its own routes: nothing to do here
            case "tls":
                var settings = try tlsSettings(item, "cluster.tls")
                guard settings.caFile != nil else {
                    throw ConfigError("\(path): cluster.tls needs ca_file: each node verifies the other's certificate against it")
                }
                settings.verifyClients = true
                config.routeTLS = settings
            case "permissions", "accounts":
                throw ConfigError("\(path): cluster.\(key) is not supported by docketd yet; routes carry every account")
            default:
                throw unknownSetting("cluster.\(key)")
            }
        }
        if (host != nil || port != nil), !given("--cluster") {
            // Without a host, the client port's (loopback unless told otherwise), not nats-server's 0.0.0.0.
            let listenHost = host ?? config.host
            config.routeListen = RouteURL("\(listenHost.contains(":") ? "[\(listenHost)]" : listenHost):\(port ?? 6222)")
        }
    }

    /// `websocket { port, host | listen, no_tls, tls { … }, compression, handshake_timeout,
    /// same_origin, allowed_origins }`, as nats-server reads it: TLS is required unless
    /// `no_tls: true`. The `--websocket-*` flags win over it, key by key.
    private mutating func applyWebSocket(_ value: ConfigValue, to config: inout ServerConfig) throws {
        guard case .map(let entries) = value else { throw ConfigError("\(path): websocket must be a block { … }") }
        var settings = config.webSocket ?? WebSocketSettings(port: 0)
        var port: Int?
        var noTLS = false
        var tls: TLSSettings?
        for (key, item) in entries {
            switch key {
            case "port": port = try self.port(item, "websocket.port")
            case "host": settings.host = try string(item, "websocket.host")
            case "listen":
                let (host, listenPort) = try hostPort(item, "websocket.listen")
                if let host { settings.host = host }
                if let listenPort { port = listenPort }
            case "no_tls": noTLS = try bool(item, "websocket.no_tls")
            case "tls": tls = try tlsSettings(item, "websocket.tls")
            case "compression":
                let compression = try bool(item, "websocket.compression")
                if !given("--websocket-compression") { settings.compression = compression }
            case "handshake_timeout":
                let timeout = try duration(item, "websocket.handshake_timeout")
                if !given("--websocket-handshake-timeout") { settings.handshakeTimeoutMilliseconds = timeout }
            case "same_origin": settings.sameOrigin = try bool(item, "websocket.same_origin")
            case "allowed_origins":
                let items: [ConfigValue]
                if case .array(let list) = item { items = list } else { items = [item] }
                settings.allowedOrigins = try items.map { try string($0, "websocket.allowed_origins") }
                for origin in settings.allowedOrigins where !WebSocketSettings.isOrigin(origin) {
                    throw ConfigError("\(path): websocket.allowed_origins: '\(origin)' is not scheme://host[:port]")
                }
            case "advertise":
                // Where a cluster tells clients to reach this port: docketd has no such cluster.
                ignored.append("websocket.advertise")
            case "authorization", "no_auth_user", "jwt_cookie", "user_cookie", "pass_cookie", "token_cookie", "headers":
                throw ConfigError("\(path): websocket.\(key) is not supported by docketd yet; WebSocket clients authenticate as TCP ones do")
            default:
                throw unknownSetting("websocket.\(key)")
            }
        }
        guard tls != nil || noTLS else {
            throw ConfigError("\(path): websocket needs a tls { cert_file, key_file } block, or no_tls: true for plain ws:// (as nats-server)")
        }
        if !given("--websocket-port"), let port { settings.port = port }
        settings.tls = tls
        config.webSocket = settings
    }

    private func bool(_ value: ConfigValue, _ key: String) throws -> Bool {
        if case .bool(let flag) = value { return flag }
        throw ConfigError("\(path): \(key) must be true or false")
    }

    /// Users read from `authorization`, finished once the `docket` block (their job rights)
    /// and `no_auth_user` are read too, whatever their order in the file.
    private var users: [ParsedUser]?
    private var defaultSubjectPermissions: Permissions?
    private var jobPermissions: [(user: String, rights: [JobRight: SubjectRule])] = []
    private var defaultJobPermissions: [JobRight: SubjectRule]?
    private var noAuthUser: String?
    /// Operator mode: the operators' JWTs, `resolver: MEMORY`, and the accounts' JWTs by key.
    private var operatorJWTs: [String] = []
    private var hasMemoryResolver = false
    private var preload: [(key: String, jwt: String)] = []
    /// Users declared in `accounts { NAME { users = [...] } }`, by account.
    private var accountUsers: [(account: String, users: [ParsedUser])] = []

    /// One entry of a `users` list. An NKEY user is named by its printed public key.
    private typealias ParsedUser = (name: String, password: String?, subjects: Permissions?, publicKey: [UInt8]?)

    /// nats-server's `accounts { NAME { users = [ … ] } }`: each account a subject space of its
    /// own. Imports, exports and the rest of what accounts can do are refused.
    private mutating func applyAccounts(_ value: ConfigValue) throws {
        guard case .map(let entries) = value else { throw ConfigError("\(path): accounts must be a block { NAME { users = [...] } }") }
        for (name, block) in entries {
            guard case .map(let fields) = block else { throw ConfigError("\(path): accounts.\(name) must be a block { users = [...] }") }
            guard name != "$G", name != "$SYS" else { throw ConfigError("\(path): accounts.\(name) is a name nats-server keeps for itself") }
            var users: [ParsedUser] = []
            for (key, item) in fields {
                switch key {
                case "users": users = try parseUsers(item)
                default:
                    throw ConfigError("\(path): accounts.\(name).\(key) is not supported by docketd (accounts hold users only; no imports, exports or JetStream)")
                }
            }
            accountUsers.append((name, users))
        }
    }

    private mutating func applyAuthorization(_ value: ConfigValue, to config: inout ServerConfig) throws {
        guard case .map(let entries) = value else { throw ConfigError("\(path): authorization must be a block { … }") }
        var token: String?, user: String?, password: String?
        for (key, item) in entries {
            switch key {
            case "token": token = try string(item, "authorization.token")
            case "user", "username": user = try string(item, "authorization.user")
            case "password", "pass": password = try string(item, "authorization.password")
            case "timeout":
                // nats-server: seconds, a number; a duration string works too. 0 is nats-server's
                // "the default"; below it every client would be timed out at once, so refused.
                if !given("--auth-timeout"), !Self.isZero(item) {
                    config.authTimeoutMilliseconds = try duration(item, "authorization.timeout")
                }
            case "users":
                users = try parseUsers(item)
            case "default_permissions":
                defaultSubjectPermissions = try subjectPermissions(item, "authorization.default_permissions")
            case "permissions":
                throw ConfigError("\(path): authorization.permissions: give permissions to each of authorization.users instead")
            default:
                throw unknownSetting("authorization.\(key)")
            }
        }
        if given("--auth", "--user", "--pass") {
            users = nil
            return
        }
        if users != nil {
            guard token == nil, user == nil, password == nil else {
                throw ConfigError("\(path): authorization takes users, or a token, or one user with a password; not several")
            }
            return
        }
        switch (token, user, password) {
        case (nil, nil, nil): break
        case (let token?, nil, nil): config.requireToken(token)
        case (nil, let user?, let password?): config.requireUser(user, password: password)
        default: throw ConfigError("\(path): authorization takes a token, or a user with a password")
        }
    }

    /// nats-server's operator mode: its users are JWTs, so the file may not also name users.
    private func finishOperatorMode(_ config: inout ServerConfig) throws {
        guard !operatorJWTs.isEmpty else { throw ConfigError("\(path): resolver and resolver_preload need an operator JWT (operator: …)") }
        guard hasMemoryResolver else { throw ConfigError("\(path): operator mode needs resolver: MEMORY, with its accounts in resolver_preload") }
        guard users == nil, accountUsers.isEmpty, noAuthUser == nil, jobPermissions.isEmpty, !config.requiresAuthentication,
            !given("--auth", "--user", "--pass")
        else {
            throw ConfigError("\(path): operator mode takes its users from JWTs; it does not go with authorization users, a token, accounts, no_auth_user or per-user docket.permissions")
        }
        do {
            try config.requireOperatorJWTs(operators: operatorJWTs, preload: preload, jobRights: defaultJobPermissions)
        } catch {
            throw ConfigError("\(path): \(error)")
        }
    }

    /// An operator JWT given inline, or the file holding it (as nsc writes it, decorated or not),
    /// or a list of these.
    private func jwts(_ value: ConfigValue, _ key: String) throws -> [String] {
        if case .array(let items) = value { return try items.flatMap { try jwts($0, key) } }
        let text = try string(value, key)
        if text.hasPrefix("eyJ") { return [text] }
        let contents: String
        do { contents = try ConfigFile.readText(text, what: "the operator JWT") } catch { throw ConfigError("\(path): \(key): \(error)") }
        let words = contents.split(whereSeparator: { $0.isWhitespace })
        guard let jwt = words.first(where: { $0.hasPrefix("eyJ") }) else { throw ConfigError("\(path): \(key): \(text) holds no JWT") }
        return [String(jwt)]
    }

    /// Gives every user of `authorization.users` its subject permissions (its own or the
    /// default ones) and job rights (from `docket.permissions`, or `docket.default_permissions`).
    private func finishUsers(_ config: inout ServerConfig) throws {
        var users = self.users
        var accounts: [String: String] = [:]
        for (account, members) in accountUsers {
            for member in members {
                guard accounts[member.name] == nil, users?.contains(where: { $0.name == member.name }) != true else {
                    throw ConfigError("\(path): user '\(member.name)' is declared twice")
                }
                accounts[member.name] = account
                users = (users ?? []) + [member]
            }
        }
        guard let users else {
            if !jobPermissions.isEmpty || defaultJobPermissions != nil {
                throw ConfigError("\(path): docket.permissions needs users (authorization { users = [...] })")
            }
            if noAuthUser != nil { throw ConfigError("\(path): no_auth_user needs users (authorization { users = [...] })") }
            return
        }
        for (name, _) in jobPermissions where !users.contains(where: { $0.name == name }) {
            throw ConfigError("\(path): docket.permissions names '\(name)', who is not one of authorization.users")
        }
        if let noAuthUser, !users.contains(where: { $0.name == noAuthUser }) {
            throw ConfigError("\(path): no_auth_user '\(noAuthUser)' is not one of authorization.users")
        }
        // nats-server looks no_auth_user up among the password users only: an NKEY user is never
        // admitted without its signature.
        if let noAuthUser, users.contains(where: { $0.name == noAuthUser && $0.publicKey != nil }) {
            throw ConfigError("\(path): no_auth_user '\(noAuthUser)' is an NKEY user; it must name a user with a password")
        }
        if config.tls?.mapsUsers != true, let user = users.first(where: { $0.password == nil && $0.publicKey == nil }) {
            throw ConfigError("\(path): authorization.users '\(user.name)' has no password; only users identified by their TLS certificate (tls { verify_and_map: true }) may go without")
        }
        let finished = users.map { user -> (name: String, password: String?, permissions: Permissions?) in
            let subjects = user.subjects ?? defaultSubjectPermissions
            let jobs = jobPermissions.last { $0.user == user.name }?.rights ?? defaultJobPermissions
            guard subjects != nil || jobs != nil else { return (user.name, user.password, nil) }
            var permissions = subjects ?? Permissions()
            permissions.jobs = jobs ?? [:]
            return (user.name, user.password, permissions)
        }
        let publicKeys = Dictionary(users.compactMap { user in user.publicKey.map { (user.name, $0) } }, uniquingKeysWith: { first, _ in first })
        config.requireUsers(finished, noAuthUser: noAuthUser, accounts: accounts, publicKeys: publicKeys)
    }

    /// `users = [ { user: alice, password: secret, permissions: { … } }, { nkey: "U…" }, … ]`.
    private func parseUsers(_ value: ConfigValue) throws -> [ParsedUser] {
        guard case .array(let entries) = value, !entries.isEmpty else {
            throw ConfigError("\(path): authorization.users must be a list of { user, password }")
        }
        var names: Set<String> = []
        return try entries.map { entry in
            guard case .map(let fields) = entry else { throw ConfigError("\(path): each of authorization.users is { user, password }") }
            var name: String?, password: String?, subjects: Permissions?, nkey: String?
            for (key, item) in fields {
                switch key {
                case "user", "username": name = try string(item, "authorization.users.user")
                case "password", "pass": password = try string(item, "authorization.users.password")
                case "nkey": nkey = try string(item, "authorization.users.nkey")
                case "permissions": subjects = try subjectPermissions(item, "authorization.users.permissions")
                default:
                    throw unknownSetting("authorization.users.\(key)")
                }
            }
            var publicKey: [UInt8]?
            if let nkey {
                guard name == nil, password == nil else {
                    throw ConfigError("\(path): authorization.users nkey '\(nkey)': NKEY users do not take usernames or passwords")
                }
                guard let key = NKey.userPublicKey(nkey) else {
                    throw ConfigError("\(path): authorization.users nkey '\(nkey)' is not a valid public NKEY for a user (U…, 56 characters)")
                }
                (name, publicKey) = (nkey, key)
            }
            guard let name, !name.isEmpty, password?.isEmpty != true else {
                throw ConfigError("\(path): each of authorization.users needs a user, and a password unless its TLS certificate names it, or an nkey")
            }
            guard names.insert(name).inserted else { throw ConfigError("\(path): authorization.users has '\(name)' twice") }
            return (name, password, subjects, publicKey)
        }
    }

    /// nats-server's `permissions { publish: …, subscribe: … }`, each a subject, a list of
    /// subjects (allowed), or `{ allow: …, deny: … }`.
    private func subjectPermissions(_ value: ConfigValue, _ key: String) throws -> Permissions {
        guard case .map(let entries) = value else { throw ConfigError("\(path): \(key) must be a block { publish, subscribe }") }
        var permissions = Permissions()
        for (name, item) in entries {
            switch name {
            case "publish", "pub": permissions.publish = try rule(item, "\(key).\(name)", queues: false)
            case "subscribe", "sub":
                (permissions.subscribe, permissions.queueAllow, permissions.queueDeny) = try subscribeRule(item, "\(key).\(name)")
            case "allow_responses", "responses":
                throw ConfigError("\(path): \(key).\(name) is not supported by docketd yet")
            default:
                throw unknownSetting("\(key).\(name)", "; expected publish or subscribe")
            }
        }
        return permissions
    }

    /// A subscribe rule as nats-server reads it: as `rule`, but an entry may be `"<subject>
    /// <queue>"`, which is about queue subscriptions in the groups `queue` names.
    private func subscribeRule(_ value: ConfigValue, _ key: String) throws -> (SubjectRule, [QueueGrant], [QueueGrant]) {
        func split(_ entries: [[UInt8]], _ key: String) throws -> (plain: [[UInt8]], queues: [QueueGrant]) {
            var plain: [[UInt8]] = [], queues: [QueueGrant] = []
            for entry in entries {
                let fields = entry.split(whereSeparator: { [0x20, 0x09, 0x0A, 0x0D, 0x0C, 0x0B].contains($0) })
                let shown = "'\(String(decoding: entry, as: UTF8.self))'"
                switch fields.count {
                case 1: plain.append(Array(fields[0]))
                case 2:
                    guard Subject.isValidFilter(Array(fields[1])) else {
                        throw ConfigError("\(path): \(key): \(shown) names a queue group that is not a valid subject")
                    }
                    queues.append(QueueGrant(subject: Array(fields[0]), queue: Array(fields[1])))
                default:
                    throw ConfigError("\(path): \(key): \(shown) is not a subject, or a subject and a queue group")
                }
                guard Subject.isValidFilter(Array(fields[0])) else {
                    throw ConfigError("\(path): \(key): \(shown) is not a valid subject")
                }
            }
            return (plain, queues)
        }
        let raw = try rule(value, key, queues: false)
        let allow = try raw.allow.map { try split($0, "\(key).allow") }
        let deny = try split(raw.deny, "\(key).deny")
        return (SubjectRule(allow: allow?.plain, deny: deny.plain), allow?.queues ?? [], deny.queues)
    }

    /// `docket { permissions { <user>: { enqueue: …, work: …, read: …, admin: … } } }`.
    private mutating func applyJobPermissions(_ value: ConfigValue) throws {
        guard case .map(let entries) = value else { throw ConfigError("\(path): docket.permissions must be a block { <user>: { … } }") }
        for (user, item) in entries {
            jobPermissions.append((user, try jobRights(item, "docket.permissions.\(user)")))
        }
    }

    private func jobRights(_ value: ConfigValue, _ key: String) throws -> [JobRight: SubjectRule] {
        guard case .map(let entries) = value else { throw ConfigError("\(path): \(key) must be a block { enqueue, work, read, admin }") }
        var rights: [JobRight: SubjectRule] = [:]
        for (name, item) in entries {
            guard let right = JobRight(rawValue: name) else {
                throw unknownSetting("\(key).\(name)", "; expected enqueue, work, read or admin")
            }
            rights[right] = try rule(item, "\(key).\(name)", queues: true)
        }
        return rights
    }

    /// A subject (or queue pattern), a list of them (all allowed), or `{ allow: …, deny: … }`.
    private func rule(_ value: ConfigValue, _ key: String, queues: Bool) throws -> SubjectRule {
        func patterns(_ value: ConfigValue, _ key: String) throws -> [[UInt8]] {
            let items: [ConfigValue]
            if case .array(let list) = value { items = list } else { items = [value] }
            return try items.map { item in
                let pattern = Array(try string(item, key).utf8)
                let valid = queues
                    ? (pattern == [Byte.star] || pattern == [Byte.greater] || pattern.withUnsafeBytes { QueueName.isValid($0, 0..<$0.count) })
                    : Subject.isValidFilter(pattern)
                guard valid else {
                    throw ConfigError(
                        "\(path): \(key): '\(String(decoding: pattern, as: UTF8.self))' is not "
                            + (queues ? "a queue name, * or >" : "a valid subject"))
                }
                return pattern
            }
        }
        guard case .map(let entries) = value else { return SubjectRule(allow: try patterns(value, key)) }
        var rule = SubjectRule.everything
        for (name, item) in entries {
            switch name {
            case "allow": rule.allow = try patterns(item, "\(key).allow")
            case "deny": rule.deny = try patterns(item, "\(key).deny")
            default: throw unknownSetting("\(key).\(name)", "; expected allow or deny")
            }
        }
        return rule
    }

    /// `docket { cluster_tls { ca_file, cert_file, key_file } }`, the keys of nats-server's `tls`.
    private func clusterTLS(_ value: ConfigValue) throws -> ClusterTLSSettings {
        guard case .map(let entries) = value else { throw ConfigError("\(path): docket.cluster_tls must be a block { … }") }
        var settings = ClusterTLSSettings()
        for (key, item) in entries {
            switch key {
            case "ca_file": settings.caFile = try string(item, "docket.cluster_tls.ca_file")
            case "cert_file": settings.certificateFile = try string(item, "docket.cluster_tls.cert_file")
            case "key_file": settings.keyFile = try string(item, "docket.cluster_tls.key_file")
            default: throw unknownSetting("docket.cluster_tls.\(key)", "; expected ca_file, cert_file or key_file")
            }
        }
        guard (settings.certificateFile == nil) == (settings.keyFile == nil) else {
            throw ConfigError("\(path): docket.cluster_tls needs cert_file and key_file together")
        }
        return settings
    }

    private mutating func applyDocket(_ value: ConfigValue, to config: inout ServerConfig) throws {
        guard case .map(let entries) = value else { throw ConfigError("\(path): docket must be a block { … }") }
        for (key, item) in entries {
            switch key {
            case "data_dir":
                if !given("-d", "--data-dir") { config.dataDirectory = try string(item, "docket.data_dir") }
            case "store":
                if !given("--store") {
                    let text = try string(item, "docket.store")
                    guard let store = DocketdCommand.postgresStore(text) else {
                        throw ConfigError("\(path): docket.store must be lmdb or a PostgreSQL connection string, not \(text)")
                    }
                    config.postgresStore = store.isEmpty ? nil : store
                }
            case "cluster_nats":
                if !given("--cluster-nats") {
                    let text: String
                    if case .array(let items) = item {
                        text = try items.map { try string($0, "docket.cluster_nats") }.joined(separator: ",")
                    } else {
                        text = try string(item, "docket.cluster_nats")
                    }
                    guard let addresses = ClusterLink.addresses(text) else {
                        throw ConfigError("\(path): docket.cluster_nats must be nats://[user:pass@]host[:port] or tls://… addresses")
                    }
                    config.clusterNATS = addresses
                }
            case "cluster_tls":
                if !given("--cluster-tlscacert", "--cluster-tlscert", "--cluster-tlskey") { config.clusterTLS = try clusterTLS(item) }
            case "cluster_max_pending":
                if !given("--cluster-max-pending") { config.clusterMaxPending = try size(item, "docket.cluster_max_pending", "--cluster-max-pending") }
            case "cluster_ping_interval":
                if !given("--cluster-ping-interval") {
                    config.clusterPingIntervalMilliseconds = try duration(
                        item, "docket.cluster_ping_interval", DocketdCommand.clusterPingInterval, DocketdCommand.clusterPingIntervalRule)
                }
            case "node_timeout":
                if !given("--node-timeout") {
                    config.nodeTimeoutMilliseconds = try duration(
                        item, "docket.node_timeout", DocketdCommand.nodeTimeout, DocketdCommand.nodeTimeoutRule)
                }
            case "store_timeout":
                if !given("--store-timeout") {
                    config.storeTimeoutMilliseconds = try duration(
                        item, "docket.store_timeout", DocketdCommand.storeTimeout, DocketdCommand.storeTimeoutRule)
                }
            case "sync":
                guard let mode = SyncMode(rawValue: try string(item, "docket.sync")) else {
                    throw ConfigError("\(path): docket.sync must be always or none")
                }
                if !given("--sync") { config.syncMode = mode }
            case "max_store":
                if !given("--max-store") { config.maxStoreBytes = try size(item, "docket.max_store", "--max-store") }
            case "min_disk_free":
                if !given("--min-disk-free") { config.minDiskFreeBytes = Self.isZero(item) ? 0 : try size(item, "docket.min_disk_free", "--min-disk-free") }
            case "keep_completed":
                // A 32-bit count, as --keep-completed and QUEUE's keep_completed= take it.
                if !given("--keep-completed") { config.keepCompleted = try int(item, "docket.keep_completed", 0...QueueSettings.maxKept) }
            case "keep_dead":
                if !given("--keep-dead") { config.keepDead = try int(item, "docket.keep_dead", 0...QueueSettings.maxKept) }
            case "max_queues":
                if !given("--max-queues") { config.maxQueues = try int(item, "docket.max_queues", 1...Int.max) }
            case "max_schedules":
                if !given("--max-schedules") { config.maxSchedules = try int(item, "docket.max_schedules", 1...Int.max) }
            case "max_route_subscriptions":
                if !given("--max-route-subscriptions") {
                    config.maxRouteSubscriptions = try int(item, "docket.max_route_subscriptions", 0...Int.max)
                }
            case "max_routes":
                if !given("--max-routes") { config.maxRoutes = try int(item, "docket.max_routes", 1...Int.max) }
            case "max_flow_depth":
                if !given("--max-flow-depth") { config.maxFlowDepth = try int(item, "docket.max_flow_depth", 1...Int.max) }
            case "max_batch":
                if !given("--max-batch") { config.maxBatch = try int(item, "docket.max_batch", 1...Int.max) }
            case "max_checkpoint_backlog":
                if !given("--max-checkpoint-backlog") {
                    config.maxCheckpointBacklog = try size(item, "docket.max_checkpoint_backlog", "--max-checkpoint-backlog")
                }
            case "max_batch_bytes":
                if !given("--max-batch-bytes") { config.maxBatchBytes = try size(item, "docket.max_batch_bytes", "--max-batch-bytes") }
            case "permissions":
                try applyJobPermissions(item)
            case "default_permissions":
                defaultJobPermissions = try jobRights(item, "docket.default_permissions")
            case "websocket_max_header":
                if !given("--websocket-max-header") { webSocketMaxHeadBytes = try size(item, "docket.websocket_max_header", "--websocket-max-header") }
            case "max_waiting_requests":
                if !given("--max-waiting-requests") { config.maxWaitingRequests = try int(item, "docket.max_waiting_requests", 1...Int.max) }
            case "max_connecting":
                if !given("--max-connecting") { config.maxConnecting = try int(item, "docket.max_connecting", 1...Int.max) }
            case "max_pending_total":
                if !given("--max-pending-total") { config.maxPendingTotal = try size(item, "docket.max_pending_total", "--max-pending-total") }
            case "max_subscription_memory":
                if !given("--max-subscription-memory") { config.maxSubscriptionMemory = try size(item, "docket.max_subscription_memory", "--max-subscription-memory") }
            case "descriptor_reserve":
                if !given("--descriptor-reserve") { config.descriptorReserve = try int(item, "docket.descriptor_reserve", 1...Int.max) }
            case "max_route_peers":
                if !given("--max-route-peers") { config.maxRoutePeers = try int(item, "docket.max_route_peers", 1...Int.max) }
            case "max_refusals_lingering":
                if !given("--max-refusals-lingering") {
                    config.maxRefusalsLingering = try int(item, "docket.max_refusals_lingering", 0...Int.max)
                }
            case "refusal_linger":
                if !given("--refusal-linger") { config.refusalLingerMilliseconds = Self.isZero(item) ? 0 : try duration(item, "docket.refusal_linger") }
            case "refusal_drain":
                if !given("--refusal-drain") { config.refusalDrainBytes = try size(item, "docket.refusal_drain", "--refusal-drain") }
            case "shutdown_grace":
                if !given("--shutdown-grace") { config.shutdownGraceMilliseconds = try duration(item, "docket.shutdown_grace") }
            case "http_max_header":
                if !given("--http-max-header") { config.httpMaxHeadBytes = try size(item, "docket.http_max_header", "--http-max-header") }
            case "http_idle_timeout":
                if !given("--http-idle-timeout") { config.httpIdleMilliseconds = try duration(item, "docket.http_idle_timeout") }
            case "http_max_connections":
                if !given("--http-max-connections") { config.httpMaxConnections = try int(item, "docket.http_max_connections", 1...Int.max) }
            case "metrics_max_queues":
                if !given("--metrics-max-queues") { config.metricsMaxQueues = try int(item, "docket.metrics_max_queues", 0...Int.max) }
            case "http_max_body":
                if !given("--http-max-body") { config.httpMaxBodyBytes = try size(item, "docket.http_max_body", "--http-max-body") }
            case "http_max_stream_backlog":
                if !given("--http-max-stream-backlog") {
                    config.httpMaxStreamBacklogBytes = try size(item, "docket.http_max_stream_backlog", "--http-max-stream-backlog")
                }
            default:
                throw unknownSetting("docket.\(key)")
            }
        }
    }

    private func string(_ value: ConfigValue, _ key: String) throws -> String {
        guard let text = value.text else { throw ConfigError("\(path): \(key) must be a string") }
        return text
    }

    private func int(_ value: ConfigValue, _ key: String, _ range: ClosedRange<Int>) throws -> Int {
        // Int(exactly:): a number past Int's range (1e20) is refused, not a trap.
        guard case .number(let number, let unit) = value, unit.isEmpty, let whole = Int(exactly: number), range.contains(whole) else {
            throw ConfigError("\(path): \(key) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return whole
    }

    /// A port; -1 is nats-server's "any free port", 0 here.
    private func port(_ value: ConfigValue, _ key: String) throws -> Int {
        if case .number(-1, let unit) = value, unit.isEmpty { return 0 }
        return try int(value, key, 0...65535)
    }

    /// A size within the bounds of `flag`, the option the key stands for: a file cannot set what
    /// the command line would refuse.
    private func size(_ value: ConfigValue, _ key: String, _ flag: String) throws -> Int {
        let bounds = DocketdCommand.sizeBounds(flag)
        guard let text = value.text, let bytes = Units.bytes(text), bounds.contains(bytes) else {
            throw ConfigError("\(path): \(key) \(bounds.rule)")
        }
        return bytes
    }

    /// A duration string (`2m`, `10s`), or a number of seconds as nats-server reads them.
    private static func isZero(_ value: ConfigValue) -> Bool {
        if case .number(let number, let unit) = value { return number == 0 && unit.isEmpty }
        return false
    }

    /// A duration with a flag's own bounds (`parse`, which says nil outside them, and `rule`,
    /// which says what they are): a bare number is seconds, as for the other durations.
    private func duration(_ value: ConfigValue, _ key: String, _ parse: (String) -> Int?, _ rule: String) throws -> Int {
        let text: String?
        if case .number(let seconds, let unit) = value, unit.isEmpty {
            text = Self.milliseconds(seconds: seconds).map { "\($0)ms" }
        } else {
            text = value.text
        }
        guard let text, let milliseconds = parse(text) else { throw ConfigError("\(path): \(key) \(rule)") }
        return milliseconds
    }

    private func duration(_ value: ConfigValue, _ key: String) throws -> Int {
        if case .number(let seconds, let unit) = value, unit.isEmpty, seconds > 0 {
            guard let milliseconds = Self.milliseconds(seconds: seconds), milliseconds > 0 else {
                throw ConfigError("\(path): \(key) must be a duration, like \"2m\" or 10s")
            }
            return milliseconds
        }
        guard let text = value.text, let milliseconds = Units.milliseconds(text), milliseconds > 0 else {
            throw ConfigError("\(path): \(key) must be a duration, like \"2m\" or 10s")
        }
        return milliseconds
    }

    /// A number of seconds (as nats-server writes timeouts) in whole milliseconds; nil when it
    /// is too large for an Int, rather than a trap.
    private static func milliseconds(seconds: Double) -> Int? {
        Int(exactly: (seconds * 1000).rounded(.towardZero))
    }

    /// `host:port`, `host`, or a port number.
    private func hostPort(_ value: ConfigValue, _ key: String) throws -> (String?, Int?) {
        if case .number = value { return (nil, try port(value, key)) }
        let text = try string(value, key)
        guard let colon = text.lastIndex(of: ":") else { return (text, nil) }
        guard var port = Int(text[text.index(after: colon)...]), (-1...65535).contains(port) else {
            throw ConfigError("\(path): \(key) must be host:port")
        }
        if port == -1 { port = 0 }
        let host = String(text[..<colon])
        return (host.isEmpty ? nil : host, port)
    }
}
