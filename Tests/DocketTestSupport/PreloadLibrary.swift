import Foundation

/// A small C library built at test time, for loading into docketd with `LD_PRELOAD`: the way
/// tests give the server a disk that is slow (`SlowFlush`) or failing (`FailingDisk`).
enum PreloadLibrary {
    /// Builds `source` with the toolchain's `clang` (or `cc`) into a temporary directory and
    /// returns the library's path.
    static func build(_ name: String, source: String) -> Result<String, HarnessError> {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-\(name)-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let file = directory.appendingPathComponent("\(name).c")
            let library = directory.appendingPathComponent("\(name).so")
            try source.write(to: file, atomically: true, encoding: .utf8)
            for compiler in ["clang", "cc"] {
                let process = ChildProcess()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = [compiler, "-shared", "-fPIC", "-O2", "-o", library.path, file.path, "-ldl"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                process.waitUntilExit()
                if process.terminationStatus == 0 { return .success(library.path) }
            }
            return .failure(HarnessError("neither clang nor cc could build \(file.path)"))
        } catch {
            return .failure(HarnessError("cannot build the \(name) library: \(error)"))
        }
    }
}
