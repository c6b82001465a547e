/* What the two LD_PRELOAD libraries (inject.c, record.c) share: the path a descriptor is open
   on, and open, open64 and openat as calls of the library's own openat64, so that it sees every
   open in one place. Included after the system headers. */

/* The path `fd` is open on, or "" (sockets and pipes never match a directory). */
static const char *path_of(int fd, char *path, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = fd < 0 ? -1 : readlink(link, path, size - 1);
    path[length > 0 ? length : 0] = 0;
    return path;
}

/* The mode argument is there only with O_CREAT or O_TMPFILE. */
#define OPEN_MODE(flags, mode) \
    mode_t mode = 0; \
    if ((flags) & (O_CREAT | O_TMPFILE)) { va_list list; va_start(list, flags); mode = va_arg(list, mode_t); va_end(list); }

int openat(int directory, const char *path, int flags, ...) {
    OPEN_MODE(flags, mode)
    return openat64(directory, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    OPEN_MODE(flags, mode)
    return openat64(AT_FDCWD, path, flags, mode);
}

int open(const char *path, int flags, ...) {
    OPEN_MODE(flags, mode)
    return openat64(AT_FDCWD, path, flags, mode);
}
