#include <sys/types.h>
#include <lmdb.h>
