import Foundation

/// Memory a local process holds, from the `Vm*` and `Rss*` lines of `/proc/PID/status`.
///
/// `VmRSS` is what the targets speak of; it is the sum of `RssAnon` (the heap: jobs, tables,
/// buffers) and `RssFile` plus `RssShmem` (mapped files: for docketd, the pages of the LMDB
/// data file it has touched, which the kernel can drop and read again).
struct ProcessMemory: Sendable, Equatable, Encodable {
    /// Resident set, in bytes.
    var residentBytes: Int
    /// Of which anonymous memory (malloc, stacks).
    var anonymousBytes: Int?
    /// Of which file-backed pages (the mapped executable, libraries, the LMDB data file).
    var fileBytes: Int?
    /// The largest resident set since the process started (`VmHWM`).
    var peakResidentBytes: Int?

    /// Reads `/proc/<pid>/status`; nil if the process is gone or the file has no `VmRSS`.
    static func of(pid: Int32) -> ProcessMemory? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return parse(status: text)
    }

    /// The figures in the text of a `/proc/PID/status` file; nil without a `VmRSS` line.
    static func parse(status text: String) -> ProcessMemory? {
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            // "VmRSS:\t  123456 kB"
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            guard name.hasPrefix("Vm") || name.hasPrefix("Rss") else { continue }
            let fields = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
                .flatMap { $0.split(separator: "\t") }
            guard let number = fields.first.flatMap({ Int($0) }) else { continue }
            let unit = fields.count > 1 ? fields[1].lowercased() : ""
            values[name] = unit == "kb" ? number * 1024 : number
        }
        guard let resident = values["VmRSS"] else { return nil }
        var file = values["RssFile"]
        if let shared = values["RssShmem"], let mapped = file { file = mapped + shared }
        return ProcessMemory(
            residentBytes: resident, anonymousBytes: values["RssAnon"], fileBytes: file,
            peakResidentBytes: values["VmHWM"])
    }

    /// `412.3 MB (anon 380.1 MB, file 32.2 MB; peak 512.0 MB)`, in 10^6 bytes.
    var text: String {
        func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
        var parts: [String] = []
        if let anonymousBytes { parts.append("anon \(megabytes(anonymousBytes))") }
        if let fileBytes { parts.append("file \(megabytes(fileBytes))") }
        var text = megabytes(residentBytes)
        if !parts.isEmpty { text += " (" + parts.joined(separator: ", ") }
        if let peakResidentBytes { text += (parts.isEmpty ? " (" : "; ") + "peak \(megabytes(peakResidentBytes))" }
        if !parts.isEmpty || peakResidentBytes != nil { text += ")" }
        return text
    }

    private enum CodingKeys: String, CodingKey {
        case residentBytes = "rss_bytes", anonymousBytes = "rss_anon_bytes", fileBytes = "rss_file_bytes"
        case peakResidentBytes = "peak_rss_bytes"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(residentBytes, forKey: .residentBytes)
        try container.encode(anonymousBytes, forKey: .anonymousBytes)
        try container.encode(fileBytes, forKey: .fileBytes)
        try container.encode(peakResidentBytes, forKey: .peakResidentBytes)
    }
}
