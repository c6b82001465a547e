#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The IANA time zone database as installed (`/usr/share/zoneinfo`, Debian's `tzdata`), plus
/// zones that need no files: `UTC` and fixed offsets.
///
/// Names accepted by ``rules(for:)``:
/// - `UTC`, always, even without the database.
/// - A fixed offset east of UTC, ISO 8601 style: `+05:30`, `-08:00`, `+0530`, `+5`, optionally
///   after `UTC` (`UTC+05:30`). Note that this is the opposite sign of the database's
///   `Etc/GMT+5`, which (POSIX style) is five hours *west*.
/// - An IANA name such as `Europe/Berlin`: ASCII letters, digits and `/ _ - + .`, at most 255
///   bytes, not starting with `/`, no empty component and no component starting with `.` (so
///   no `..`): the name cannot reach outside the database directory.
///
/// Nothing is cached; ``ZoneRules`` is a value the caller can keep (loading one reads a file
/// of a few kilobytes).
public struct TimeZoneDatabase: Sendable {
    public static let defaultDirectory = "/usr/share/zoneinfo"

    /// Where the TZif files are.
    public let directory: String

    public init(directory: String = TimeZoneDatabase.defaultDirectory) {
        self.directory = directory
    }

    /// Whether the directory exists (without it, only UTC and fixed offsets work).
    public var isInstalled: Bool {
        var status = stat()
        return stat(directory, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// The rules of a zone by name (see the type's documentation for the forms).
    public func rules(for name: String) throws(ScheduleError) -> ZoneRules {
        if name == "UTC" { return .utc }
        if let offset = Self.fixedOffset(name) {
            guard let seconds = offset else {
                throw ScheduleError("the fixed offset \"\(name.prefix(32))\" is not valid: expected +HH:MM or -HH:MM, under 24 hours")
            }
            return try .fixed(offsetSeconds: seconds)
        }
        try Self.checkName(name)
        let path = directory + "/" + name
        guard let bytes = try contents(of: path, name: name) else {
            if !isInstalled {
                throw ScheduleError(
                    "unknown time zone \"\(name)\": no time zone database at \(directory) (install tzdata); UTC and offsets such as +05:30 work without it"
                )
            }
            throw ScheduleError("unknown time zone \"\(name)\"")
        }
        do {
            return try ZoneRules(identifier: name, tzif: bytes)
        } catch {
            throw ScheduleError("time zone \"\(name)\": \(error.message)")
        }
    }

    /// Refuses names that are not IANA-shaped or could leave the database directory.
    public static func checkName(_ name: String) throws(ScheduleError) {
        let shown = "\"\(name.prefix(64))\""
        guard !name.isEmpty, name.utf8.count <= 255 else {
            throw ScheduleError("time zone \(shown): expected an IANA name such as Europe/Berlin, UTC, or an offset such as +05:30")
        }
        guard !name.hasPrefix("/"), !name.contains("..") else {
            throw ScheduleError("time zone \(shown): a zone name may not start with / or contain ..")
        }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "/_-+.".utf8.contains(byte)
        }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        guard allowed, !components.contains(where: { $0.isEmpty || $0.hasPrefix(".") }) else {
            throw ScheduleError("time zone \(shown): expected an IANA name such as Europe/Berlin, UTC, or an offset such as +05:30")
        }
    }

    /// Nil if `name` is not written as an offset at all; .some(nil) if it is but is invalid.
    static func fixedOffset(_ name: String) -> Int?? {
        var text = Substring(name)
        if text.hasPrefix("UTC+") || text.hasPrefix("UTC-") { text = text.dropFirst(3) }
        guard let sign = text.first, sign == "+" || sign == "-" else { return nil }
        text = text.dropFirst()
        let digits = text.filter { $0 != ":" }
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), !digits.isEmpty, text.count - digits.count <= 1 else {
            return .some(nil)
        }
        let hours: Int
        var minutes = 0
        switch (digits.count, text.firstIndex(of: ":").map { text.distance(from: text.startIndex, to: $0) }) {
        case (1, nil), (2, nil): hours = Int(digits)!
        case (4, nil), (4, 2), (3, 1):
            let hourDigits = digits.count - 2
            hours = Int(digits.prefix(hourDigits))!
            minutes = Int(digits.suffix(2))!
        default: return .some(nil)
        }
        guard hours < 24, minutes < 60 else { return .some(nil) }
        return .some((sign == "-" ? -1 : 1) * (hours * 3600 + minutes * 60))
    }

    /// A regular file's bytes; nil if there is no such file (or it is a directory).
    private func contents(of path: String, name: String) throws(ScheduleError) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT || errno == ENOTDIR || errno == EISDIR { return nil }
            throw ScheduleError("time zone \"\(name)\": cannot read \(path) (errno \(errno))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        // Zone files are a few kilobytes; anything far larger is not one.
        guard status.st_size <= 1 << 20 else { throw ScheduleError("time zone \"\(name)\": not a zone file (too large)") }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer in
                read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
            }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            filled += count
        }
        return Array(bytes.prefix(filled))
    }
}
