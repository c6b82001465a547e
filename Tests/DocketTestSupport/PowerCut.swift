import Foundation

/// A power cut at the moment LMDB writes one of data.mdb's two meta pages, for the tests of
/// what a start makes of the pages it leaves: a small library, loaded into docketd with
/// `LD_PRELOAD`, that kills the process (SIGKILL) at the first write to either of the file's
/// first two pages once an arming file exists. `tear` writes zeros over the whole page first,
/// as a write the disk did not finish. Otherwise the write never happens, and the thread
/// making it waits 300 ms before the kill while the others go on (the commit thread
/// acknowledging batches in the log), so that the kill finds them well under way.
///
/// Built once per test run from the C below (see `PreloadLibrary`).
public enum PowerCut {
    static let source = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/types.h>
        #include <unistd.h>

        /* Whether a write of `fd` at `offset` is to a meta page of data.mdb, once armed. */
        static int cuts(int fd, off_t offset) {
            const char *armed = getenv("DOCKET_TEST_CUT_ARMED");
            long page = sysconf(_SC_PAGESIZE);
            if (!armed || fd < 0 || offset >= 2 * page) return 0;
            char link[64], path[4096];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t length = readlink(link, path, sizeof path - 1);
            if (length <= 0) return 0;
            path[length] = 0;
            size_t name = strlen("/data.mdb");
            return (size_t)length >= name && strcmp(path + length - name, "/data.mdb") == 0 && access(armed, F_OK) == 0;
        }

        ssize_t pwrite64(int fd, const void *bytes, size_t count, off_t offset) {
            static __typeof__(&pwrite64) real;
            if (!real) real = (__typeof__(&pwrite64))dlsym(RTLD_NEXT, "pwrite64");
            if (cuts(fd, offset)) {
                if (getenv("DOCKET_TEST_CUT_TEAR")) {
                    long page = sysconf(_SC_PAGESIZE);
                    char *zeros = calloc(1, page);
                    if (zeros) real(fd, zeros, page, offset - offset % page);
                    fdatasync(fd);
                } else {
                    usleep(300000);
                }
                kill(getpid(), SIGKILL);
            }
            return real(fd, bytes, count, offset);
        }

        ssize_t pwrite(int fd, const void *bytes, size_t count, off_t offset) {
            return pwrite64(fd, bytes, count, offset);
        }
        """

    private static let built = PreloadLibrary.build("power-cut", source: source)

    /// Whether the library could be built (a C compiler is there).
    public static var isAvailable: Bool { (try? built.get()) != nil }

    /// The `shell` prefix for `DocketdProcess` that kills docketd at its first write of a meta
    /// page of data.mdb once `armedBy` exists, after zeroing that page if `tear`.
    public static func shell(armedBy: URL, tear: Bool) throws -> String {
        let library = try built.get()
        return "export LD_PRELOAD='\(library)' DOCKET_TEST_CUT_ARMED='\(armedBy.path)'\(tear ? " DOCKET_TEST_CUT_TEAR=1" : "");"
    }
}
