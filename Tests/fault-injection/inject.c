/* A system call that fails once, at a chosen point, for docketd's fault-injection sweep
   (test_injected_faults.py builds this with cc and loads it with LD_PRELOAD).

   The Nth call of one function on a file under a directory fails with a chosen errno, or (for
   the writes) is cut short; every other call goes through untouched. Controlled by:

     DOCKET_INJECT_DIR    absolute directory; only calls on files under it count
     DOCKET_INJECT_CALL   write, writev, pwrite, pwritev, fdatasync, fsync, msync, ftruncate,
                          fallocate (posix_fallocate too), rename or openat (open, open64, openat and openat64 alike);
                          "all" fails nothing and traces every one of them, each numbered as
                          its own call
     DOCKET_INJECT_NTH    which matching call fails, from 1; 0 counts only (see TRACE)
     DOCKET_INJECT_ERRNO  EIO, ENOSPC, EDQUOT, EINTR, or SHORT: a write of half its bytes (EIO
                          for the calls that write nothing), or NOTHING: a write or pwrite that
                          takes no bytes and returns 0, errno left as it was (EIO elsewhere)
     DOCKET_INJECT_TIMES  how many calls fail from the Nth on; 0 for every one (a dead disk);
                          1 if unset
     DOCKET_INJECT_DELAY_MS  how long a failing call takes first, as a dying disk's do: time
                          for the server to hand the store more work behind it
     DOCKET_INJECT_TRACE  a file that gets a line per matching call: "<number> <call> <path>",
                          and "injected" at the end of those that were made to fail

   msync names memory, not a file: every msync counts. The paths of rename and open are taken as
   given (docketd passes absolute ones). Calls the process makes before main (the dynamic
   loader's) are not seen. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"

enum outcome { PASS, FAIL, SHORTEN, NOTHING };

static const char *const call_names[] = {
    "write", "writev", "pwrite", "pwritev", "fdatasync", "fsync", "msync", "ftruncate", "fallocate", "rename", "openat",
};
#define CALLS (sizeof call_names / sizeof call_names[0])
static long calls_seen[CALLS];

/* Whether `call` is the one chosen, or all are traced. */
static int watched(const char *call) {
    const char *wanted = getenv("DOCKET_INJECT_CALL");
    return wanted && (!strcmp(wanted, call) || !strcmp(wanted, "all"));
}

static int named_errno(const char *name) {
    if (!name || !strcmp(name, "EIO")) return EIO;
    if (!strcmp(name, "ENOSPC")) return ENOSPC;
    if (!strcmp(name, "EDQUOT")) return EDQUOT;
    if (!strcmp(name, "EINTR")) return EINTR;
    return atoi(name) > 0 ? atoi(name) : EIO;
}

/* The trace is written with the raw system calls, so that it never counts itself. */
static void trace(long number, const char *call, const char *path, int injected) {
    const char *file = getenv("DOCKET_INJECT_TRACE");
    if (!file) return;
    char line[4200];
    int length = snprintf(line, sizeof line, "%ld %s %s%s\n", number, call, path, injected ? " injected" : "");
    int fd = (int)syscall(SYS_openat, AT_FDCWD, file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    syscall(SYS_write, fd, line, (size_t)(length < (int)sizeof line ? length : (int)sizeof line - 1));
    syscall(SYS_close, fd);
}

/* What this call of `call` on `path` does: pass, fail (errno set) or write short. */
static enum outcome decide(const char *call, const char *path) {
    const char *directory = getenv("DOCKET_INJECT_DIR");
    if (!watched(call) || !directory) return PASS;
    size_t prefix = strlen(directory);
    if (path && (strncmp(path, directory, prefix) != 0 || (path[prefix] != '/' && path[prefix] != 0))) return PASS;
    size_t index = 0;
    while (index < CALLS - 1 && strcmp(call_names[index], call) != 0) index++;
    long number = __atomic_add_fetch(&calls_seen[index], 1, __ATOMIC_SEQ_CST);
    long nth = strcmp(getenv("DOCKET_INJECT_CALL"), "all") && getenv("DOCKET_INJECT_NTH") ? atol(getenv("DOCKET_INJECT_NTH")) : 0;
    long times = getenv("DOCKET_INJECT_TIMES") ? atol(getenv("DOCKET_INJECT_TIMES")) : 1;
    int injected = nth > 0 && number >= nth && (times == 0 || number < nth + times);
    trace(number, call, path ? path : "(memory)", injected);
    if (!injected) return PASS;
    if (getenv("DOCKET_INJECT_DELAY_MS")) usleep((useconds_t)atoi(getenv("DOCKET_INJECT_DELAY_MS")) * 1000);
    const char *kind = getenv("DOCKET_INJECT_ERRNO");
    /* A return of 0 sets no errno: the caller sees what an earlier call left. */
    if (kind && !strcmp(kind, "NOTHING") && (!strcmp(call, "write") || !strcmp(call, "pwrite"))) return NOTHING;
    /* A call that writes nothing has no short form: it fails with EIO instead. */
    int cut = kind && (!strcmp(kind, "SHORT") || !strcmp(kind, "NOTHING"));
    errno = cut ? EIO : named_errno(kind);
    return cut && strcmp(kind, "NOTHING") ? SHORTEN : FAIL;
}

static enum outcome decide_fd(const char *call, int fd) {
    if (!watched(call)) return PASS;
    char path[4096];
    return decide(call, path_of(fd, path, sizeof path));
}

#define REAL(name) static __typeof__(&name) real; if (!real) real = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

/* A short write writes half the bytes (at least one less than asked) and says so. */
static size_t shortened(size_t count) { return count > 1 ? count / 2 : 0; }

ssize_t write(int fd, const void *bytes, size_t count) {
    REAL(write);
    switch (decide_fd("write", fd)) {
    case FAIL: return -1;
    case NOTHING: return 0;
    case SHORTEN: return real(fd, bytes, shortened(count));
    default: return real(fd, bytes, count);
    }
}

ssize_t pwrite64(int fd, const void *bytes, size_t count, off_t offset) {
    REAL(pwrite64);
    switch (decide_fd("pwrite", fd)) {
    case FAIL: return -1;
    case NOTHING: return 0;
    case SHORTEN: return real(fd, bytes, shortened(count), offset);
    default: return real(fd, bytes, count, offset);
    }
}

ssize_t pwrite(int fd, const void *bytes, size_t count, off_t offset) { return pwrite64(fd, bytes, count, offset); }

/* A vector cut short keeps its first half of bytes. */
static int shortened_vector(const struct iovec *vector, int count, struct iovec *copy) {
    size_t total = 0;
    for (int i = 0; i < count; i++) total += vector[i].iov_len;
    size_t keep = shortened(total);
    int used = 0;
    for (int i = 0; i < count && keep > 0; i++, used++) {
        copy[i] = vector[i];
        if (copy[i].iov_len > keep) copy[i].iov_len = keep;
        keep -= copy[i].iov_len;
    }
    return used;
}

ssize_t writev(int fd, const struct iovec *vector, int count) {
    REAL(writev);
    struct iovec copy[1024];
    switch (decide_fd("writev", fd)) {
    case FAIL: return -1;
    case SHORTEN: return count <= 1024 ? real(fd, copy, shortened_vector(vector, count, copy)) : real(fd, vector, count);
    default: return real(fd, vector, count);
    }
}

ssize_t pwritev64(int fd, const struct iovec *vector, int count, off_t offset) {
    REAL(pwritev64);
    struct iovec copy[1024];
    switch (decide_fd("pwritev", fd)) {
    case FAIL: return -1;
    case SHORTEN: return count <= 1024 ? real(fd, copy, shortened_vector(vector, count, copy), offset) : real(fd, vector, count, offset);
    default: return real(fd, vector, count, offset);
    }
}

ssize_t pwritev(int fd, const struct iovec *vector, int count, off_t offset) { return pwritev64(fd, vector, count, offset); }

int fdatasync(int fd) {
    REAL(fdatasync);
    return decide_fd("fdatasync", fd) == PASS ? real(fd) : -1;
}

int fsync(int fd) {
    REAL(fsync);
    return decide_fd("fsync", fd) == PASS ? real(fd) : -1;
}

int msync(void *address, size_t length, int flags) {
    REAL(msync);
    return decide("msync", NULL) == PASS ? real(address, length, flags) : -1;
}

int ftruncate64(int fd, off_t length) {
    REAL(ftruncate64);
    return decide_fd("ftruncate", fd) == PASS ? real(fd, length) : -1;
}

int ftruncate(int fd, off_t length) { return ftruncate64(fd, length); }

int fallocate64(int fd, int mode, off_t offset, off_t length) {
    REAL(fallocate64);
    return decide_fd("fallocate", fd) == PASS ? real(fd, mode, offset, length) : -1;
}

int fallocate(int fd, int mode, off_t offset, off_t length) { return fallocate64(fd, mode, offset, length); }

/* Counted as fallocate; it returns its error instead of setting errno. */
int posix_fallocate64(int fd, off_t offset, off_t length) {
    REAL(posix_fallocate64);
    return decide_fd("fallocate", fd) == PASS ? real(fd, offset, length) : errno;
}

int posix_fallocate(int fd, off_t offset, off_t length) { return posix_fallocate64(fd, offset, length); }

int rename(const char *from, const char *to) {
    REAL(rename);
    return decide("rename", to) == PASS ? real(from, to) : -1;
}

int openat64(int directory, const char *path, int flags, ...) {
    REAL(openat64);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list list; va_start(list, flags); mode = va_arg(list, mode_t); va_end(list); }
    return decide("openat", path) == PASS ? real(directory, path, flags, mode) : -1;
}

