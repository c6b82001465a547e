import Glibc

/// `docketd --signal <command>[=<pid or pid file>]`, as nats-server's `--signal` (`-sl`): sends a
/// running docketd the signal for `command` and exits, so that service scripts written for
/// nats-server (`nats-server --signal reload=/run/nats.pid`) work unchanged. Without a pid, the
/// one docketd process running is the target; with several, none is guessed.
public struct SignalCommand: Equatable {
    /// nats-server's command names and the signal each sends (docketd handles every one of
    /// them as nats-server does; `stop` cannot be handled: it is SIGKILL).
    public static let commands: [(name: String, signal: Int32)] = [
        ("stop", SIGKILL), ("quit", SIGINT), ("term", SIGTERM), ("reopen", SIGUSR1), ("reload", SIGHUP), ("ldm", SIGUSR2),
    ]

    public enum Target: Equatable {
        case pid(pid_t)
        case pidFile(String)
        /// The only running process of this program.
        case onlyRunning
    }

    public let name: String
    public let signal: Int32
    public let target: Target

    /// Reads `command[=pid]`, where pid is a process id or the path of a pid file (`-P`).
    public static func parse(_ text: String) throws -> SignalCommand {
        let name = String(text.prefix { $0 != "=" })
        guard let command = commands.first(where: { $0.name == name }) else {
            throw SignalError("unknown signal \"\(name)\": use one of \(commands.map(\.name).joined(separator: ", ")), as in --signal reload=<pid or pid file>")
        }
        guard name.count < text.count else { return SignalCommand(name: name, signal: command.signal, target: .onlyRunning) }
        let value = String(text.dropFirst(name.count + 1))
        guard !value.isEmpty else { throw SignalError("--signal \(name)= names no process: give a pid or a pid file after the =") }
        if value.allSatisfy(\.isASCII), let pid = pid_t(value) {
            guard pid > 0 else { throw SignalError("--signal \(name)=\(value): a process id is a positive number") }
            return SignalCommand(name: name, signal: command.signal, target: .pid(pid))
        }
        return SignalCommand(name: name, signal: command.signal, target: .pidFile(value))
    }

    /// A pid file's process id: its first line, as `-P` writes it.
    public static func pid(inPidFileText text: String, path: String) throws -> pid_t {
        let line = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: " \t\r") } ?? ""
        guard let pid = pid_t(line), pid > 0 else { throw SignalError("the pid file \(path) holds no process id") }
        return pid
    }

    /// The process this command goes to. `running` lists the processes of this program other
    /// than the caller (`runningProcesses(named:)`).
    public func resolve(
        readFile: (String) throws -> String = { try ConfigFile.readText($0, what: "the pid file") }, running: () -> [pid_t]
    ) throws -> pid_t {
        switch target {
        case .pid(let pid): return pid
        case .pidFile(let path): return try Self.pid(inPidFileText: readFile(path), path: path)
        case .onlyRunning:
            let pids = running()
            guard let only = pids.first else { throw SignalError("no docketd process is running") }
            guard pids.count == 1 else {
                throw SignalError("several docketd processes are running (\(pids.map(String.init).joined(separator: ", "))): name one, as in --signal \(name)=<pid or pid file>")
            }
            return only
        }
    }

    /// Sends the signal; the error says why it could not be.
    public func send(to pid: pid_t) throws {
        guard kill(pid, signal) == 0 else {
            throw SignalError("cannot send \(name) to process \(pid): \(String(cString: strerror(errno)))")
        }
    }

    /// The ids of the processes whose command name (`/proc/<pid>/comm`) is `name`, this one left out.
    public static func runningProcesses(named name: String) -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        let own = getpid()
        var found: [pid_t] = []
        while let entry = readdir(directory) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(entryName), pid != own, let comm = try? ConfigFile.readText("/proc/\(entryName)/comm", what: "")
            else { continue }
            if comm.trimmingCharacters(in: "\n") == name { found.append(pid) }
        }
        return found.sorted()
    }
}

public struct SignalError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
