# A queue that keeps 0 finished jobs deletes each one right after the
# command that finished it. (On PostgreSQL retention keeps at least one.)
! docket-only
! store: lmdb
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> QUEUE z keep_completed=0
a< +OK
a> ENQ z 1
a> c
a< +OK 1
a> RESERVE z timeout=0
a~ JOB 1 z 1 lease=\d+ delivery=\d+ 1
a< c
a> ACK 1
a< +OK
a> INSPECT 1
a~ -ERR 'NOT_FOUND .*'
