import Glibc

/// Flushes the directory that holds `path`, so that a name made, renamed or removed in it
/// survives a power loss: an fsync of a file makes its data durable, not the entry naming it
/// (POSIX; ext4 usually commits it along, but no program should rely on that).
///
/// `required: false` is for a flush that only repeats one an earlier start may not have
/// finished: a directory that cannot be opened for reading (a parent the server's user may only
/// pass through) is then left as it is rather than refusing the start.
func syncDirectory(containing path: String, required: Bool = true) throws {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    let parent: String
    if let slash = trimmed.lastIndex(of: "/") {
        parent = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    } else {
        parent = "."
    }
    let directory = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard directory >= 0 else {
        if !required { return }
        throw StoreError("cannot make \(path) durable: cannot open \(parent): \(String(cString: strerror(errno)))")
    }
    defer { Glibc.close(directory) }
    guard fsync(directory) == 0 || !required else {
        throw StoreError("cannot make \(path) durable: fsync of \(parent) failed: \(String(cString: strerror(errno)))")
    }
}
