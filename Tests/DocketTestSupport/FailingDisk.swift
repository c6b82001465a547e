import Foundation

/// A disk that fails, for the tests of what docketd does when a write or a flush does: a small
/// library, loaded into docketd with `LD_PRELOAD`, that makes chosen calls on files whose path
/// contains a given text fail with a given `errno`, as a dying disk (EIO) or a full one
/// (ENOSPC) would. Built once per test run from the C below (see `PreloadLibrary`).
public enum FailingDisk {
    static let source = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <errno.h>
        #include <pthread.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/types.h>
        #include <sys/uio.h>
        #include <unistd.h>

        /* Whether this call of `call` on `fd` fails: the call is listed, the file's path contains
           the text, the arming file (if one is named) exists, and the calls let through first
           have been. */
        static int fails(const char *call, int fd) {
            const char *calls = getenv("DOCKET_TEST_FAIL_CALLS"), *text = getenv("DOCKET_TEST_FAIL_PATH");
            const char *armed = getenv("DOCKET_TEST_FAIL_ARMED"), *after = getenv("DOCKET_TEST_FAIL_AFTER");
            if (!calls || !text || fd < 0) return 0;
            char listed[256], wanted[64];
            snprintf(listed, sizeof listed, ",%s,", calls);
            snprintf(wanted, sizeof wanted, ",%s,", call);
            if (!strstr(listed, wanted)) return 0;
            char link[64], path[4096];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t length = readlink(link, path, sizeof path - 1);
            if (length <= 0) return 0;
            path[length] = 0;
            if (!strstr(path, text) || (armed && access(armed, F_OK) != 0)) return 0;
            static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
            static long seen;
            pthread_mutex_lock(&lock);
            long number = ++seen;
            pthread_mutex_unlock(&lock);
            if (after && number <= atol(after)) return 0;
            errno = getenv("DOCKET_TEST_FAIL_ERRNO") ? atoi(getenv("DOCKET_TEST_FAIL_ERRNO")) : EIO;
            return 1;
        }

        #define REAL(name) static __typeof__(&name) real; if (!real) real = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

        int fdatasync(int fd) {
            REAL(fdatasync);
            return fails("fdatasync", fd) ? -1 : real(fd);
        }

        int fsync(int fd) {
            REAL(fsync);
            return fails("fsync", fd) ? -1 : real(fd);
        }

        ssize_t pwrite64(int fd, const void *bytes, size_t count, off_t offset) {
            REAL(pwrite64);
            return fails("pwrite", fd) ? -1 : real(fd, bytes, count, offset);
        }

        ssize_t pwrite(int fd, const void *bytes, size_t count, off_t offset) {
            return pwrite64(fd, bytes, count, offset);
        }

        ssize_t pread64(int fd, void *bytes, size_t count, off_t offset) {
            REAL(pread64);
            return fails("pread", fd) ? -1 : real(fd, bytes, count, offset);
        }

        ssize_t pread(int fd, void *bytes, size_t count, off_t offset) {
            return pread64(fd, bytes, count, offset);
        }

        ssize_t writev(int fd, const struct iovec *vector, int count) {
            REAL(writev);
            return fails("writev", fd) ? -1 : real(fd, vector, count);
        }
        """

    private static let built = PreloadLibrary.build("failing-disk", source: source)

    /// Whether the library could be built (a C compiler is there); tests that need it are
    /// skipped without one.
    public static var isAvailable: Bool { (try? built.get()) != nil }

    /// The `shell` prefix for `DocketdProcess` that makes `calls` (`fdatasync`, `fsync`,
    /// `pwrite`, `pread`, `writev`) on files whose path contains `path` fail with `errno`, once
    /// `armedBy` exists (at once without it) and `after` such calls have gone through.
    public static func shell(calls: [String], path: String, errno: Int32 = EIO, armedBy: URL? = nil, after: Int = 0) throws -> String {
        let library = try built.get()
        var exports = [
            "LD_PRELOAD='\(library)'", "DOCKET_TEST_FAIL_CALLS='\(calls.joined(separator: ","))'",
            "DOCKET_TEST_FAIL_PATH='\(path)'", "DOCKET_TEST_FAIL_ERRNO=\(errno)", "DOCKET_TEST_FAIL_AFTER=\(after)",
        ]
        if let armedBy { exports.append("DOCKET_TEST_FAIL_ARMED='\(armedBy.path)'") }
        return "export \(exports.joined(separator: " "));"
    }
}
