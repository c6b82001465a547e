import Glibc

/// Which process holds the `flock` on a file, as Linux lists it in `/proc/locks`: the data
/// directory's lock refuses a second server, and the refusal names the first one's pid so
/// that an operator stops the right process (two on one host run under one name).
enum LockHolder {
    /// The process holding an exclusive `flock` on the file open at `descriptor`, if
    /// `/proc/locks` names one (it does not where /proc is not mounted, or the holder is in a
    /// pid namespace this process cannot see, where it lists pid 0).
    static func of(_ descriptor: Int32) -> Int32? {
        var status = stat()
        guard fstat(descriptor, &status) == 0, let locks = fopen("/proc/locks", "r") else { return nil }
        defer { fclose(locks) }
        let place = place(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        // A line per lock held on the machine, each read on its own.
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), locks) != nil {
            if let pid = holder(in: String(cString: line), place: place) { return pid }
        }
        return nil
    }

    /// `08:01:1234567` for a device and inode, as `/proc/locks` names a file (major and minor
    /// numbers in hex).
    static func place(device: UInt64, inode: UInt64) -> String {
        "\(String(major(device), radix: 16)):\(String(minor(device), radix: 16)):\(inode)"
    }

    /// The pid a line of `/proc/locks` gives as the holder of the `flock` on `place`. A line
    /// reads `1: FLOCK  ADVISORY  WRITE 21512 08:01:1234567 0 EOF`; one a waiter adds reads
    /// `1: -> FLOCK …` and is no holder.
    static func holder(in line: String, place: String) -> Int32? {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 6, fields[1] == "FLOCK", fields[3] == "WRITE", let pid = Int32(fields[4]), pid > 0,
            samePlace(fields[5], place)
        else { return nil }
        return pid
    }

    /// Whether `/proc/locks`'s `08:01:1234567` names `place`: the kernel pads the major and
    /// minor numbers to two hex digits, `place` does not.
    private static func samePlace(_ field: Substring, _ place: String) -> Bool {
        let listed = field.split(separator: ":").map { $0.drop { $0 == "0" } }
        let wanted = place.split(separator: ":").map { $0.drop { $0 == "0" } }
        return listed == wanted
    }

    // Linux's encoding of a device number (glibc's `gnu_dev_major`/`gnu_dev_minor`, macros
    // Swift does not import).
    static func major(_ device: UInt64) -> UInt64 { ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff) }
    static func minor(_ device: UInt64) -> UInt64 { (device & 0xff) | ((device >> 12) & ~0xff) }
}
