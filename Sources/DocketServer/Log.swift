import Glibc

/// Log severities, least severe first.
public enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    case trace, debug, info, warn, error

    public init?(name: String) {
        switch name.lowercased() {
        case "trace": self = .trace
        case "debug": self = .debug
        case "info": self = .info
        case "warn", "warning": self = .warn
        case "error": self = .error
        default: return nil
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    var tag: String {
        switch self {
        case .trace: return "[TRC]"
        case .debug: return "[DBG]"
        case .info: return "[INF]"
        case .warn: return "[WRN]"
        case .error: return "[ERR]"
        }
    }
}

/// One line per event on stderr, in nats-server's shape: `[pid] date time [LVL] message`.
public struct Log: Sendable {
    public var level: LogLevel

    public init(level: LogLevel) { self.level = level }

    public func trace(_ message: @autoclosure () -> String) { write(.trace, message) }
    public func debug(_ message: @autoclosure () -> String) { write(.debug, message) }
    public func info(_ message: @autoclosure () -> String) { write(.info, message) }
    public func warn(_ message: @autoclosure () -> String) { write(.warn, message) }
    public func error(_ message: @autoclosure () -> String) { write(.error, message) }

    private func write(_ severity: LogLevel, _ message: () -> String) {
        guard severity >= level else { return }
        var line = "[\(getpid())] \(Self.timestamp()) \(severity.tag) \(message())\n"
        // One write(2) per line keeps lines whole when several processes share the terminal.
        line.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))/\(pad(parts.tm_mon + 1, 2))/\(pad(parts.tm_mday, 2)) "
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + pad(Int32(now.tv_nsec / 1000), 6)
    }

    /// Bytes as a quoted, printable snippet for logs: at most `limit` bytes, with anything
    /// outside printable ASCII shown as `\xHH`, so hostile input cannot forge log lines.
    public static func snippet(_ bytes: UnsafeRawBufferPointer, limit: Int = 64) -> String {
        var text = "'"
        for byte in bytes.prefix(limit) {
            switch byte {
            case 0x20...0x7E where byte != 0x27 && byte != 0x5C: text.unicodeScalars.append(Unicode.Scalar(byte))
            case 0x0D: text += "\\r"
            case 0x0A: text += "\\n"
            case 0x09: text += "\\t"
            default:
                let hex = String(byte, radix: 16)
                text += "\\x" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return text + (bytes.count > limit ? "'..." : "'")
    }
}

/// Milliseconds on a clock that never jumps, for deadlines and ages.
func monotonicMicroseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1_000_000 + now.tv_nsec / 1000
}

func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}

/// nats-server's `-l FILE`: the log (and anything else written to standard error, a crash's last
/// words included) goes to a file, appended to, and SIGUSR1 opens it again once a log rotator
/// has moved it away.
public enum LogFile {
    public static func redirectStandardError(to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ServerError("cannot open the log file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        // dup2 replaces descriptor 2 in one step: no line is ever written to a closed one.
        guard dup2(descriptor, 2) >= 0 else {
            throw ServerError("cannot log to \(path): \(String(cString: strerror(errno)))")
        }
    }
}
