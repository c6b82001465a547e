import DocketTestSupport
import Foundation
import Testing

/// The store's threads carry names, so that `top -H`, `ps -L` and the benchmarks' per-thread CPU
/// tell the commit and checkpoint threads from the loop (unnamed, each showed as "docketd").
@Suite struct ThreadNameTests {
    private func threadNames(of server: DocketdProcess) throws -> [String] {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/task")
        return try tasks.map { task in
            try String(contentsOfFile: "/proc/\(server.pid)/task/\(task)/comm", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test(arguments: [("always", ["commit", "checkpoint"]), ("none", ["checkpoint"])])
    func theStoresThreadsAreNamed(sync: String, expected: [String]) throws {
        let server = try DocketdProcess(["--sync", sync])
        defer { _ = server.stop() }
        let names = try threadNames(of: server)
        for name in expected { #expect(names.contains(name), "threads: \(names)") }
        #expect(names.contains("docketd"), "the loop keeps the process's name: \(names)")
    }
}
