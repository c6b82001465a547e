#if canImport(Glibc)
import Glibc
#endif

/// Why a benchmark run could not go on; its text is what the user reads.
struct BenchError: Error, CustomStringConvertible, Sendable, Equatable {
    let description: String

    init(_ description: String) { self.description = description }

    /// The peer closed the connection (read(2) returned 0).
    static let connectionClosed = BenchError("the server closed the connection")

    /// The failed system call with the text of the current `errno`.
    static func system(_ call: String) -> BenchError {
        let code = errno
        return BenchError("\(call): \(String(cString: strerror(code))) (errno \(code))")
    }
}
