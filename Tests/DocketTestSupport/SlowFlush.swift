import Foundation

/// A disk whose flushes of the write-ahead log are slow, for the tests of what may and may not
/// happen while a commit is under way: a small library, loaded into docketd with `LD_PRELOAD`,
/// that makes every `fdatasync` of a file whose path contains `/wal-` sleep first.
///
/// Built once per test run from the C below (see `PreloadLibrary`).
public enum SlowFlush {
    static let source = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>

        int fdatasync(int fd) {
            static int (*real)(int);
            if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
            char link[64], path[4096];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t length = readlink(link, path, sizeof path - 1);
            const char *milliseconds = getenv("DOCKET_TEST_SLOW_FLUSH_MS");
            if (length > 0 && milliseconds) {
                path[length] = 0;
                if (strstr(path, "/wal-")) usleep((useconds_t)atoi(milliseconds) * 1000);
            }
            return real(fd);
        }
        """

    private static let built = PreloadLibrary.build("slow-flush", source: source)

    /// The `shell` prefix for `DocketdProcess` that gives docketd flushes of the log slowed by
    /// `milliseconds` each.
    public static func shell(milliseconds: Int) throws -> String {
        let library = try built.get()
        return "export LD_PRELOAD='\(library)' DOCKET_TEST_SLOW_FLUSH_MS=\(milliseconds);"
    }
}
