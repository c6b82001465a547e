/* A recorder of everything docketd does to its data directory that a power loss could undo, for
   the power-loss simulator (powerloss.py builds this with cc and loads it with LD_PRELOAD).

   For files under DOCKET_RECORD_DIR (and that directory's own creation and its parent's fsync)
   it appends one record per call to DOCKET_RECORD_LOG, in the order the calls completed:

     mkdir, create (an open with O_CREAT of a name that was not there), rename, unlink,
     write (write, pwrite, writev, pwritev: the bytes and the offset they went to; a write on a
     descriptor opened with O_SYNC or O_DSYNC is marked durable, as LMDB's meta-page writes are),
     truncate (ftruncate, an open with O_TRUNC), extend (fallocate, posix_fallocate),
     sync-begin and sync-end (fsync, fdatasync: a flush covers the writes recorded before its
     begin; of a directory descriptor, the names in it), range-sync (sync_file_range, which
     makes nothing durable: it flushes no metadata and no disk cache) and map (a shared writable
     mapping of a recorded file, whose stores no record can see: the simulator refuses those
     files, lock.mdb aside).

   Each record is a fixed header (op, thread id, sequence number, two numbers, CLOCK_MONOTONIC
   nanoseconds, the lengths of a path, a second path and the data) followed by those bytes. It
   is written with one raw write(2) to a file opened O_APPEND, under a lock, so its position in
   the log is its order; a client that reads the log's size when a reply arrives knows which
   calls happened before that reply. Calls made before main (the dynamic loader's) are not seen.
   The data directory must be given as an absolute path, as docketd passes its files' paths. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

enum op {
    OP_MKDIR = 1, OP_CREATE, OP_RENAME, OP_UNLINK, OP_WRITE, OP_TRUNCATE, OP_EXTEND,
    OP_SYNC_BEGIN, OP_SYNC_END, OP_RANGE_SYNC, OP_MAP,
};

struct header {
    uint32_t op, tid;
    uint64_t sequence;
    int64_t a, b;          /* write: offset, durable; truncate: size; extend: offset, length;
                              sync-end: the sequence of its begin; sync-*: 1 for a directory */
    uint64_t nanoseconds;
    uint32_t path_length, second_length;
    uint64_t data_length;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_sequence = 1;
static int log_fd = -1;

#define REAL(name) static __typeof__(&name) real; if (!real) real = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

/* Whether `path` is the recorded directory or under it (or, with `parent`, its parent). */
static int recorded(const char *path, int parent) {
    const char *directory = getenv("DOCKET_RECORD_DIR");
    if (!directory || !path) return 0;
    size_t prefix = strlen(directory);
    if (!strncmp(path, directory, prefix) && (path[prefix] == '/' || path[prefix] == 0)) return 1;
    if (!parent) return 0;
    const char *slash = strrchr(directory, '/');
    size_t up = slash ? (size_t)(slash - directory) : 0;
    return up > 0 && strlen(path) == up && !strncmp(path, directory, up);
}

static int is_directory(int fd) {
    struct stat info;
    return fstat(fd, &info) == 0 && S_ISDIR(info.st_mode);
}

/* Appends one record; returns its sequence number. The bytes of `iov` are the data. */
static uint64_t emit(uint32_t op, int64_t a, int64_t b, const char *path, const char *second,
                     const struct iovec *iov, int iovcnt, size_t data_length) {
    struct header h = {0};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    h.op = op;
    h.tid = (uint32_t)syscall(SYS_gettid);
    h.a = a;
    h.b = b;
    h.nanoseconds = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    h.path_length = path ? (uint32_t)strlen(path) : 0;
    h.second_length = second ? (uint32_t)strlen(second) : 0;
    h.data_length = data_length;
    struct iovec parts[1027];
    int count = 0;
    parts[count++] = (struct iovec){&h, sizeof h};
    if (h.path_length) parts[count++] = (struct iovec){(void *)path, h.path_length};
    if (h.second_length) parts[count++] = (struct iovec){(void *)second, h.second_length};
    size_t left = data_length;
    for (int i = 0; i < iovcnt && left > 0 && count < 1027; i++) {
        size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
        parts[count++] = (struct iovec){iov[i].iov_base, take};
        left -= take;
    }
    pthread_mutex_lock(&lock);
    if (log_fd < 0) {
        const char *file = getenv("DOCKET_RECORD_LOG");
        if (file) log_fd = (int)syscall(SYS_openat, AT_FDCWD, file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    }
    h.sequence = next_sequence++;
    size_t total = 0;
    for (int i = 0; i < count; i++) total += parts[i].iov_len;
    /* One call, so the record lands whole; a log this big is never written short here, but a
       short one is finished rather than left torn. */
    size_t done = 0;
    while (log_fd >= 0 && done < total) {
        ssize_t n = syscall(SYS_writev, log_fd, parts, count);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
        while (count > 0 && (size_t)n >= parts[0].iov_len) { n -= parts[0].iov_len; memmove(parts, parts + 1, --count * sizeof *parts); }
        if (count > 0) { parts[0].iov_base = (char *)parts[0].iov_base + n; parts[0].iov_len -= n; }
    }
    uint64_t sequence = h.sequence;
    pthread_mutex_unlock(&lock);
    return sequence;
}

static void emit_write(int fd, off_t offset, const struct iovec *iov, int iovcnt, ssize_t written) {
    if (written <= 0) return;
    char path[4096];
    if (!recorded(path_of(fd, path, sizeof path), 0)) return;
    int flags = fcntl(fd, F_GETFL);
    int durable = flags >= 0 && (flags & (O_SYNC | O_DSYNC)) != 0;
    emit(OP_WRITE, offset, durable, path, NULL, iov, iovcnt, (size_t)written);
}

ssize_t write(int fd, const void *bytes, size_t count) {
    REAL(write);
    off_t offset = lseek(fd, 0, SEEK_CUR);
    ssize_t n = real(fd, bytes, count);
    int saved = errno;
    if (offset >= 0) { struct iovec v = {(void *)bytes, count}; emit_write(fd, offset, &v, 1, n); }
    errno = saved;
    return n;
}

ssize_t pwrite64(int fd, const void *bytes, size_t count, off_t offset) {
    REAL(pwrite64);
    ssize_t n = real(fd, bytes, count, offset);
    int saved = errno;
    struct iovec v = {(void *)bytes, count};
    emit_write(fd, offset, &v, 1, n);
    errno = saved;
    return n;
}

ssize_t pwrite(int fd, const void *bytes, size_t count, off_t offset) { return pwrite64(fd, bytes, count, offset); }

ssize_t writev(int fd, const struct iovec *vector, int count) {
    REAL(writev);
    off_t offset = lseek(fd, 0, SEEK_CUR);
    ssize_t n = real(fd, vector, count);
    int saved = errno;
    if (offset >= 0) emit_write(fd, offset, vector, count, n);
    errno = saved;
    return n;
}

ssize_t pwritev64(int fd, const struct iovec *vector, int count, off_t offset) {
    REAL(pwritev64);
    ssize_t n = real(fd, vector, count, offset);
    int saved = errno;
    emit_write(fd, offset, vector, count, n);
    errno = saved;
    return n;
}

ssize_t pwritev(int fd, const struct iovec *vector, int count, off_t offset) { return pwritev64(fd, vector, count, offset); }

/* A flush: its begin before the call, its end (naming the begin) once it succeeded. */
static int flush(int fd, int (*call)(int)) {
    char path[4096];
    int watched = recorded(path_of(fd, path, sizeof path), 1);
    int directory = watched && is_directory(fd);
    uint64_t begin = watched ? emit(OP_SYNC_BEGIN, directory, 0, path, NULL, NULL, 0, 0) : 0;
    int status = call(fd);
    int saved = errno;
    if (watched && status == 0) emit(OP_SYNC_END, directory, (int64_t)begin, path, NULL, NULL, 0, 0);
    errno = saved;
    return status;
}

int fdatasync(int fd) { REAL(fdatasync); return flush(fd, real); }
int fsync(int fd) { REAL(fsync); return flush(fd, real); }

int sync_file_range(int fd, off64_t offset, off64_t length, unsigned int flags) {
    REAL(sync_file_range);
    int status = real(fd, offset, length, flags);
    int saved = errno;
    char path[4096];
    if (status == 0 && recorded(path_of(fd, path, sizeof path), 0)) emit(OP_RANGE_SYNC, offset, length, path, NULL, NULL, 0, 0);
    errno = saved;
    return status;
}

void *mmap64(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    REAL(mmap64);
    void *mapped = real(address, length, protection, flags, fd, offset);
    int saved = errno;
    char path[4096];
    if (mapped != MAP_FAILED && fd >= 0 && (protection & PROT_WRITE) && (flags & MAP_SHARED)
        && recorded(path_of(fd, path, sizeof path), 0))
        emit(OP_MAP, offset, (int64_t)length, path, NULL, NULL, 0, 0);
    errno = saved;
    return mapped;
}

void *mmap(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    return mmap64(address, length, protection, flags, fd, offset);
}

int ftruncate64(int fd, off_t length) {
    REAL(ftruncate64);
    int status = real(fd, length);
    int saved = errno;
    char path[4096];
    if (status == 0 && recorded(path_of(fd, path, sizeof path), 0)) emit(OP_TRUNCATE, length, 0, path, NULL, NULL, 0, 0);
    errno = saved;
    return status;
}

int ftruncate(int fd, off_t length) { return ftruncate64(fd, length); }

int fallocate64(int fd, int mode, off_t offset, off_t length) {
    REAL(fallocate64);
    int status = real(fd, mode, offset, length);
    int saved = errno;
    char path[4096];
    if (status == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && recorded(path_of(fd, path, sizeof path), 0))
        emit(OP_EXTEND, offset, length, path, NULL, NULL, 0, 0);
    errno = saved;
    return status;
}

int fallocate(int fd, int mode, off_t offset, off_t length) { return fallocate64(fd, mode, offset, length); }

int posix_fallocate64(int fd, off_t offset, off_t length) {
    REAL(posix_fallocate64);
    int status = real(fd, offset, length);
    char path[4096];
    if (status == 0 && recorded(path_of(fd, path, sizeof path), 0)) emit(OP_EXTEND, offset, length, path, NULL, NULL, 0, 0);
    return status;
}

int posix_fallocate(int fd, off_t offset, off_t length) { return posix_fallocate64(fd, offset, length); }

int rename(const char *from, const char *to) {
    REAL(rename);
    int status = real(from, to);
    int saved = errno;
    if (status == 0 && (recorded(from, 0) || recorded(to, 0))) emit(OP_RENAME, 0, 0, from, to, NULL, 0, 0);
    errno = saved;
    return status;
}

int unlink(const char *path) {
    REAL(unlink);
    int status = real(path);
    int saved = errno;
    if (status == 0 && recorded(path, 0)) emit(OP_UNLINK, 0, 0, path, NULL, NULL, 0, 0);
    errno = saved;
    return status;
}

int mkdir(const char *path, mode_t mode) {
    REAL(mkdir);
    int status = real(path, mode);
    int saved = errno;
    if (status == 0 && recorded(path, 0)) emit(OP_MKDIR, 0, 0, path, NULL, NULL, 0, 0);
    errno = saved;
    return status;
}

int openat64(int directory, const char *path, int flags, ...) {
    REAL(openat64);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list list; va_start(list, flags); mode = va_arg(list, mode_t); va_end(list); }
    int watched = path[0] == '/' && recorded(path, 0);
    int existed = watched && access(path, F_OK) == 0;
    int fd = real(directory, path, flags, mode);
    int saved = errno;
    if (fd >= 0 && watched) {
        if ((flags & O_CREAT) && !existed) emit(OP_CREATE, 0, 0, path, NULL, NULL, 0, 0);
        else if ((flags & O_TRUNC) && existed) emit(OP_TRUNCATE, 0, 0, path, NULL, NULL, 0, 0);
    }
    errno = saved;
    return fd;
}


int creat(const char *path, mode_t mode) { return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode); }
