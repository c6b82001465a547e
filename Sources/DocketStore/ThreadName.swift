import Glibc

/// Names a thread as `top -H`, `ps -L`, `perf` and /proc/PID/task/*/comm show it, so that the
/// store's threads can be told from the loop when their CPU or stalls are looked at. Called by
/// the thread that made it, right after `pthread_create`: named from inside, a thread looked
/// at before it first ran (a busy machine) still had the process's name. Linux keeps 15 bytes
/// of it. Swift's Glibc module leaves out `pthread_setname_np` (a GNU extension), so it is
/// found at run time; where it is missing the thread stays unnamed.
public func nameThread(_ thread: pthread_t, _ name: String) {
    typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pthread_setname_np") else { return }
    _ = unsafeBitCast(symbol, to: SetName.self)(thread, String(name.utf8.prefix(15))!)
}
