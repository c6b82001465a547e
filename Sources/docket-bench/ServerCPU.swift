import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// CPU time a local process has used, from `/proc/PID/stat`, to show what a run cost the server.
enum ServerCPU {
    /// User plus system CPU seconds `pid` has consumed so far; nil if the process is gone
    /// or the file does not parse.
    static func seconds(pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else {
            return nil
        }
        // Field 2 is the command name in parentheses and may itself contain spaces or ')',
        // so count fields from the last ')'. After it come field 3 (state) onwards;
        // utime and stime are fields 14 and 15, in clock ticks.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            return nil
        }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) / ticksPerSecond
    }
}
