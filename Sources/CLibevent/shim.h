// libevent's headers define _GNU_SOURCE; the libc headers must come first so that
// fd_set and friends are defined once, the way Glibc's module defines them.
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <pthread.h>
#include <event2/event.h>
#include <event2/util.h>
#include <event2/dns.h>
