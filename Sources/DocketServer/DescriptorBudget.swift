import Glibc

/// The process's descriptors, and how many of them connections that have not logged in yet may
/// not take (`--descriptor-reserve`).
///
/// A connection waiting to log in is closed to make room only when descriptors are short, not
/// when some count per port is passed: a herd of honest clients reconnecting at once (3000 from
/// one process, each sending its CONNECT a moment after its accept) all wait together, and any
/// bound below the herd closes clients that were about to log in. What a flood of connections
/// that never log in must not do is take the last descriptors, which every port, every new
/// login and the monitoring port need; so once fewer than `reserve` are free, each connection
/// accepted closes one that waits (see `LoginWaitlist.connectionToClose`).
struct DescriptorBudget {
    /// The open file limit; `Int.max` when there is none.
    let limit: Int
    let reserve: Int
    /// Descriptors open besides the sockets the server counts (`tracked` below): the store's
    /// files, the listeners, the loop's, the log's, the store's connections.
    let baseline: Int

    /// Descriptors are short when `tracked` sockets and the baseline, or the descriptor just
    /// accepted (`accepted`), come within `reserve` of the limit. The kernel hands out the lowest
    /// free descriptor, so every descriptor below `accepted` is open: that catches descriptors
    /// the baseline missed (opened since), while the count catches those below it that closed.
    func isShort(tracked: Int, accepted: Int32) -> Bool {
        guard limit != .max else { return false }
        return max(baseline + tracked, Int(accepted) + 1) > limit - reserve
    }

    /// Descriptors the process has open now; nil where `/proc/self/fd` cannot say.
    static func countOpen() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        // Entries besides "." and "..", less the directory's own descriptor.
        var entries = -1
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] == UInt8(ascii: ".") }
            if !isDot { entries += 1 }
        }
        return max(0, entries)
    }
}
