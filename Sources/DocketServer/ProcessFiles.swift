import DocketWire
import Glibc

/// The files nats-server writes for supervisors and test harnesses, once every listener is
/// bound: the pid file (`-P`, `pid_file`: the process id in decimal) and the ports file
/// (`--ports_file_dir`: the URLs of every listener, for a harness that started the server on
/// port 0). Each is written whole under a temporary name and renamed, so a reader polling for it
/// never reads half of one; both are removed at a clean exit.
struct ProcessFiles {
    /// One listener, as the ports file names it.
    struct Endpoint {
        /// The ports file's key: `nats`, `monitoring`, `cluster` or `websocket`.
        let kind: String
        let scheme: String
        let host: String
        let port: Int
    }

    /// The files written and what each holds, to remove at exit.
    private(set) var written: [(path: String, text: String)] = []

    /// The ports file's name in `directory`: nats-server's `<executable>_<pid>.ports`.
    static func portsFileNames(in directory: String, executable: String, pid: Int32) -> [String] {
        let name = executable.split(separator: "/").last.map(String.init) ?? "docketd"
        // NATS clients' test harnesses start "nats-server" and look for that name; started
        // through a wrapper script, this process's own name is another. The file then has both.
        let names = name == "nats-server" ? [name] : [name, "nats-server"]
        let folder = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        return names.map { "\(folder)/\($0)_\(pid).ports" }
    }

    /// The ports file's document: `{"nats":["nats://127.0.0.1:4222"],"monitoring":[…],…}`, an
    /// address that listens on every interface given as each of the interfaces' addresses.
    static func portsDocument(_ endpoints: [Endpoint], interfaceAddresses: (_ family: Int32?) -> [String]) -> String {
        var writer = JSONObjectWriter()
        for kind in ["nats", "monitoring", "cluster", "websocket"] {
            let urls = endpoints.filter { $0.kind == kind }.flatMap { endpoint in
                let hosts: [String] = switch endpoint.host {
                case "0.0.0.0": interfaceAddresses(AF_INET)
                case "::": interfaceAddresses(nil)
                default: [endpoint.host]
                }
                return hosts.map { host in "\(endpoint.scheme)://\(host.contains(":") ? "[\(host)]" : host):\(endpoint.port)" }
            }
            if !urls.isEmpty { writer.add(kind, json: "[" + urls.map { JSONObjectWriter.quote($0) }.joined(separator: ",") + "]") }
        }
        return writer.result
    }

    /// The numeric addresses of the machine's interfaces that are up, of one family (nil: IPv4 and
    /// IPv6), IPv6 link-local ones left out (they need a zone to be reached).
    static func interfaceAddresses(family: Int32?, loopback: Bool = true) -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [String] = []
        var next = list
        while let entry = next {
            next = entry.pointee.ifa_next
            guard let address = entry.pointee.ifa_addr, entry.pointee.ifa_flags & UInt32(IFF_UP) != 0,
                loopback || entry.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0
            else { continue }
            let addressFamily = Int32(address.pointee.sa_family)
            guard addressFamily == AF_INET || addressFamily == AF_INET6, family == nil || family == addressFamily else { continue }
            let length = socklen_t(addressFamily == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.lowercased().hasPrefix("fe80:") || text.contains("%") { continue }
            if !addresses.contains(text) { addresses.append(text) }
        }
        return addresses
    }

    /// The pid the pid file at `path` names when that process still runs this program (by its
    /// name in `/proc`), nil when the file is missing, unreadable, names this process or one
    /// that is gone (a crash's leftover, written over as nats-server does). A second docketd
    /// started by mistake with the first's `-P` (on a data directory of its own) wrote over
    /// the first's pid file and removed it at its exit, leaving `--signal …=<pid file>` and a
    /// supervisor no way to the server still running.
    static func runningOwner(ofPidFile path: String) -> Int32? {
        guard let text = readSmallFile(path), let pid = Int32(text.filter { !$0.isWhitespace }), pid > 0, pid != getpid(),
            kill(pid, 0) == 0 || errno == EPERM,
            let theirs = readSmallFile("/proc/\(pid)/comm"), theirs == readSmallFile("/proc/self/comm")
        else { return nil }
        return pid
    }

    /// A file's first `limit` bytes as text (a pid file, `/proc/<pid>/comm`), nil if it cannot be read.
    private static func readSmallFile(_ path: String, limit: Int = 64) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        let count = read(fd, &bytes, bytes.count)
        guard count >= 0 else { return nil }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }

    /// Writes `text` to `path` whole: under a temporary name in the same directory, then renamed.
    mutating func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ServerError("cannot write \(path): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        // A write may take fewer bytes than asked without failing (a disk filling up); the rest
        // is written on, so that a failure is the call's own, with its errno, not a stale one.
        var sent = 0
        var error: Int32 = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + sent, $0.count - sent) }
            if count < 0 && errno == EINTR { continue }
            // A write that takes none of the bytes sets no errno, so what errno holds is some
            // earlier call's; taking nothing from a regular file means it has no room (as
            // coreutils' full_write reads it).
            guard count > 0 else {
                error = count == 0 ? ENOSPC : errno
                break
            }
            sent += count
        }
        let done = sent == bytes.count
        Glibc.close(fd)
        guard done, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(done ? errno : error))
            unlink(temporary)
            throw ServerError("cannot write \(path): \(reason)")
        }
        written.append((path, text))
    }

    /// Removes what `write` wrote, each file only while it still holds what was written: one
    /// that another process wrote since (a supervisor's pid file of its next server) is theirs.
    mutating func removeAll() {
        for file in written where Self.readSmallFile(file.path, limit: file.text.utf8.count + 1) == file.text {
            unlink(file.path)
        }
        written.removeAll()
    }
}
