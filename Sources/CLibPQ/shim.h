// libpq, PostgreSQL's client library (Debian: libpq-dev). Only DocketPostgres imports it.
#include <libpq-fe.h>
