import Foundation

/// CPU time of a server that works in several processes, as PostgreSQL does (one process per
/// connection, plus the WAL writer, checkpointer and the rest, all children of the postmaster).
enum ProcessTreeCPU {
    /// Seconds of CPU `root` and its children have used: the root's own time and what it
    /// collected from children that exited (cutime, cstime), plus the own and collected time
    /// of each child still running. Two readings a run apart give the tree's CPU over the run,
    /// whichever connections came and went meanwhile, as long as the root reaps its children
    /// promptly (the postmaster does). Nil if `root` cannot be read.
    static func seconds(root: Int32) -> Double? {
        guard let rootFields = fields(pid: root) else { return nil }
        var ticks = total(rootFields, includingChildren: true)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), pid != root, let fields = fields(pid: pid) else { continue }
            // Field 4 (parent pid) is the second after the command name.
            guard fields.count > 1, Int32(fields[1]) == root else { continue }
            ticks += total(fields, includingChildren: true)
        }
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The parent of `pid`, from /proc.
    static func parent(of pid: Int32) -> Int32? {
        guard let fields = fields(pid: pid), fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// The fields of /proc/PID/stat after the command name: field 3 (state) first.
    private static func fields(pid: Int32) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// utime + stime (fields 14, 15), and cutime + cstime (16, 17), in clock ticks.
    private static func total(_ fields: [Substring], includingChildren: Bool) -> Double {
        guard fields.count > 14 else { return 0 }
        var ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        if includingChildren { ticks += (Double(fields[13]) ?? 0) + (Double(fields[14]) ?? 0) }
        return ticks
    }
}
