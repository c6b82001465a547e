import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL cluster for the suite: `initdb` into a temporary directory, started with
/// `pg_ctl` on a free loopback port (never a system service), stopped and removed when the test
/// process exits. Started once, on first use. PostgreSQL refuses to run as root, so under root
/// it runs as the `postgres` user (`runuser`), in a directory that user owns.
public final class TestPostgres: @unchecked Sendable {
    public let directory: String
    public let port: Int
    private let binaries: String
    private let runAs: String?

    /// The superuser `initdb` creates.
    public static let user = "docket"

    /// The shared cluster, or why there is none (every test then skips with that reason).
    public static let shared: Result<TestPostgres, TestPostgresUnavailable> = {
        let result = Result { try TestPostgres() }.mapError { $0 as? TestPostgresUnavailable ?? TestPostgresUnavailable(reason: "\($0)") }
        if case .success(let server) = result {
            running = server
            atexit { TestPostgres.running?.stop() }
        }
        return result
    }()

    nonisolated(unsafe) private static var running: TestPostgres?

    /// A libpq connection string for `database` over loopback TCP.
    public func conninfo(database: String = "postgres") -> String {
        "host=127.0.0.1 port=\(port) user=\(Self.user) dbname=\(database) connect_timeout=10"
    }

    /// A new, empty database; its name.
    public func createDatabase(prefix: String = "docket") throws -> String {
        let name = "\(prefix)_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        try run("psql", ["-X", "-q", "-h", "127.0.0.1", "-p", String(port), "-U", Self.user, "-d", "postgres", "-c", "CREATE DATABASE \(name)"])
        return name
    }

    /// Runs `sql` (one or more statements) in `database`, as the test user; what it printed
    /// (unaligned, tuples only: one row a line).
    @discardableResult
    public func psql(_ database: String, _ sql: String) throws -> String {
        try run("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", Self.user, "-d", database, "-c", sql])
    }

    /// Stops the server (as a crash would, `immediate`), keeping its data: `start` brings it back
    /// on the same port.
    public func stopServer() throws {
        try run("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "-t", "20", "stop"])
    }

    /// Sends `signal` to the server and every process it started (SIGSTOP to make it stop
    /// answering without closing a socket, as a hung machine does; SIGCONT to resume it).
    public func signalServer(_ signal: Int32) {
        guard let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8),
            let postmaster = Int32(text.split(separator: "\n").first ?? "")
        else { return }
        var processes = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // pid (comm) state ppid …
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == postmaster { processes.append(pid) }
        }
        for pid in processes { kill(pid, signal) }
    }

    public func startServer() throws {
        try run("pg_ctl", ["-D", directory + "/data", "-l", directory + "/log", "-w", "-t", "30", "-o", options, "start"])
    }

    /// fsync is off either way: the tests crash the server, never the machine. Room for 300
    /// connections: the client suites run their tests in parallel, each server with its pool.
    private var options: String {
        "-k \(directory) -p \(port) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=\(synchronousCommit ? "on" : "off") "
            + "-c full_page_writes=off -c max_connections=300"
    }

    private let synchronousCommit: Bool

    /// A cluster of the caller's own (for a test that stops and starts it), stopped and
    /// removed by `remove()`. Its commits are on disk (in the operating system's hands, at
    /// least) when they are answered, so a crash of the cluster loses nothing acknowledged.
    public static func makePrivate() throws -> TestPostgres { try TestPostgres(synchronousCommit: true) }

    /// Stops the cluster for good and deletes its directory.
    public func remove() { stop() }

    private init(synchronousCommit: Bool = false) throws {
        self.synchronousCommit = synchronousCommit
        guard let binaries = Self.findBinaries() else {
            throw TestPostgresUnavailable(
                reason: "no PostgreSQL server binaries (initdb, pg_ctl) in $DOCKET_PG_BIN or else /usr/lib/postgresql/*/bin; "
                    + "install Debian's postgresql (scripts/setup.sh --test)")
        }
        self.binaries = binaries
        if geteuid() == 0 {
            guard getpwnam("postgres") != nil, FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else {
                throw TestPostgresUnavailable(reason: "running as root, and there is no `postgres` user or no runuser to run PostgreSQL as")
            }
            runAs = "postgres"
        } else {
            runAs = nil
        }
        directory = NSTemporaryDirectory() + "docket-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let runAs, let entry = getpwnam(runAs) {
            chown(directory, entry.pointee.pw_uid, entry.pointee.pw_gid)
        }
        port = try freeLoopbackPort()
        let data = directory + "/data"
        try run("initdb", ["-D", data, "-U", Self.user, "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        try startServer()
    }

    func stop() {
        try? run("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "-t", "20", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs one of the server's programs (as `postgres` under root) and waits for it.
    ///
    /// The child keeps only stdin (/dev/null) and stdout/stderr (a file): the server pg_ctl
    /// leaves running must not inherit anything of the test process (`ChildProcess` closes the
    /// rest in the child; marking the test process's own descriptors close-on-exec, as this once
    /// did, raced with spawns on other threads).
    @discardableResult
    private func run(_ program: String, _ arguments: [String]) throws -> String {
        let path = binaries + "/" + program
        let argv = runAs.map { ["/usr/sbin/runuser", "-u", $0, "--", path] } ?? [path]
        // A file of its own per call: tests running at once share a cluster, and a second psql
        // emptied the first one's output before it was read (a query's answer read as "").
        let outputPath = directory + "/\(program)-\(UUID().uuidString).out"
        guard FileManager.default.createFile(atPath: outputPath, contents: nil), let output = FileHandle(forWritingAtPath: outputPath) else {
            throw TestPostgresUnavailable(reason: "cannot write \(outputPath)")
        }
        defer {
            try? output.close()
            unlink(outputPath)
        }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst()) + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            throw TestPostgresUnavailable(reason: "\(error)")
        }
        process.waitUntilExit()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            let log = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
            throw TestPostgresUnavailable(reason: "\(program) failed (status \(process.terminationStatus)): \(text)\n\(log)")
        }
        return text
    }

    /// `$DOCKET_PG_BIN` when set (and only there), else the newest /usr/lib/postgresql/<n>/bin.
    private static func findBinaries() -> String? {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["DOCKET_PG_BIN"] {
            candidates.append(configured)
        } else {
            let root = "/usr/lib/postgresql"
            let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
                .compactMap { Int($0) }.sorted(by: >)
            candidates += versions.map { "\(root)/\($0)/bin" }
        }
        return candidates.first { directory in
            ["initdb", "pg_ctl", "postgres"].allSatisfy { FileManager.default.isExecutableFile(atPath: directory + "/" + $0) }
        }
    }
}

public struct TestPostgresUnavailable: Error {
    public let reason: String
}
