# With concurrency=1, a second job waits until the first is acked.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> QUEUE pdf concurrency=1
a< +OK
a> ENQ pdf 1
a> a
a< +OK 1
a> ENQ pdf 1
a> b
a< +OK 2
a> RESERVE pdf timeout=0
a~ JOB 1 pdf 1 lease=\d+ delivery=\d+ 1
a< a
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> RESERVE pdf timeout=0
b< NOJOB
b> RESERVE pdf timeout=5s
a> ACK 1
a< +OK
b~ JOB 2 pdf 1 lease=\d+ delivery=\d+ 1
b< b
